/*
 * fuzz_runtime.c: fuzz targets for what a generated program or trainer reads from the outside,
 * through libtgrt: a checkpoint (.safetensors), the data sets (IDX image and label files, and
 * .npy arrays), and the command line's options. Each reads its input as the file or the argv it
 * stands for; a clear error is fine, a crash, a sanitizer report, a leak or a hang is a finding.
 *
 *   fuzz_safetensors(data, size)  the input as a checkpoint: tg_load_safetensors (two tensors and
 *                                 the trainer's metadata keys), tg_load_exact_safetensors and
 *                                 tg_load_state_safetensors (a model's strict load)
 *   fuzz_data(data, size)         the first byte picks where the input splits into an images
 *                                 file and a labels file (tg_load_idx), and the whole input is
 *                                 also read as a .npy of f32 [2, 3] and of i64 [4]
 *   fuzz_options(data, size)      the input split at NUL bytes is an argv for tg_parse_options
 *                                 over an int, a float, a bool and a string option
 *
 * scripts/fuzz.sh builds each with libFuzzer (-DTGC_FUZZ_TARGET=fuzz_safetensors, ...);
 * tests/fuzz/replay_runtime.c replays the kept inputs in the suite without it.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tgrt.h"

/* The input as a file of its own (one per process, rewritten each time); its path. */
static const char *as_file(const char *tag, const uint8_t *data, size_t size) {
    static char path[3][128];
    int k = tag[0] == 'i' ? 0 : tag[0] == 'l' ? 1 : 2;
    snprintf(path[k], sizeof path[k], "/tmp/tgc-fuzz-%ld-%s", (long)getpid(), tag);
    FILE *f = fopen(path[k], "wb");
    if (!f)
        abort(); /* the fuzzer's own machine, not the input: stop loudly */
    if (size)
        fwrite(data, 1, size, f);
    fclose(f);
    return path[k];
}

int fuzz_safetensors(const uint8_t *data, size_t size) {
    const char *p = as_file("st", data, size);
    float a[2 * 3];
    int64_t b[4];
    const int64_t sa[] = {2, 3}, sb[] = {4};
    TgNamedTensor t[2] = {{"a", TG_F32, 2, sa, a}, {"b", TG_I64, 1, sb, b}};
    static char v[6][5000];
    char *values[6] = {v[0], v[1], v[2], v[3], v[4], v[5]};
    const char *keys[] = {"format", "epoch", "batch", "done", "running_loss", "shuffle_rng"};
    char err[1024];
    tg_load_safetensors(p, t, 2, keys, values, 6, sizeof v[0], err, sizeof err);
    tg_load_exact_safetensors(p, t, 2, keys, values, 6, sizeof v[0], err, sizeof err);
    tg_load_state_safetensors(p, t, 2, err, sizeof err);
    const char *model[] = {"a", "b"};
    tg_load_one_safetensors(p, "m.", "m.a", TG_F32, 2, sa, a, model, 2, err, sizeof err);
    unlink(p);
    return 0;
}

int fuzz_data(const uint8_t *data, size_t size) {
    size_t cut = size ? data[0] * size / 256 : 0;
    if (cut < 1 && size)
        cut = 1;
    const char *img = as_file("images", data + (size ? 1 : 0), cut > 0 ? cut - 1 : 0);
    const char *lab = as_file("labels", data + cut, size - cut);
    TgDataset d = {0};
    char err[1024];
    if (tg_load_idx(img, lab, 10, &d, err, sizeof err) == 0)
        tg_dataset_free(&d);
    const char *npy = as_file("npy", data, size);
    float f[6];
    int64_t l[4];
    const int64_t s1[] = {2, 3}, s2[] = {4};
    tg_npy_load(npy, TG_F32, 2, s1, f, err, sizeof err);
    tg_npy_load(npy, TG_I64, 1, s2, l, err, sizeof err);
    unlink(img);
    unlink(lab);
    unlink(npy);
    return 0;
}

int fuzz_options(const uint8_t *data, size_t size) {
    if (size > 4096)
        return 0;
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = 0;
    char *argv[65] = {"prog"};
    int argc = 1;
    for (size_t i = 0; i < size && argc < 64;) { /* NUL-separated arguments */
        argv[argc++] = text + i;
        i += strlen(text + i) + 1;
    }
    argv[argc] = NULL;
    int64_t epochs = 2;
    double lr = 0.001;
    uint8_t verbose = 0;
    const char *root = "data";
    TgOption opts[] = {{"epochs", TG_OPT_INT, &epochs, "2"},
                       {"lr", TG_OPT_FLOAT, &lr, "0.001"},
                       {"verbose", TG_OPT_BOOL, &verbose, "False"},
                       {"data", TG_OPT_STR, &root, "'data'"}};
    tg_parse_options(argc, argv, opts, 4);
    free(text);
    return 0;
}

#ifdef TGC_FUZZ_TARGET /* scripts/fuzz.sh: the libFuzzer entry point is the target it names */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return TGC_FUZZ_TARGET(data, size); }
#endif
