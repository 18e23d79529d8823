/*
 * replay_runtime.c: replays the kept inputs of the runtime's fuzz targets (fuzz_runtime.c)
 * without libFuzzer, so the suite (and its sanitized pass) keeps every finding of scripts/fuzz.sh
 * fixed: each file of tests/fuzz/regressions/TARGET through fuzz_TARGET, each input in its own process
 * (Check's fork), where a crash, an abort or a sanitizer report fails it.
 *
 *   test_fuzz_runtime REGRESSIONS_DIR
 */
#include <check.h>
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int fuzz_safetensors(const uint8_t *data, size_t size);
int fuzz_data(const uint8_t *data, size_t size);
int fuzz_options(const uint8_t *data, size_t size);

static const struct {
    const char *name;
    int (*fn)(const uint8_t *, size_t);
} targets[] = {{"safetensors", fuzz_safetensors}, {"data", fuzz_data}, {"options", fuzz_options}};
enum { NTARGETS = sizeof targets / sizeof targets[0] };

static char *inputs[4096];
static int target_of[4096], ninputs;

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

START_TEST(replay_one) {
    FILE *f = fopen(inputs[_i], "rb");
    ck_assert_msg(f != NULL, "cannot read %s", inputs[_i]);
    size_t cap = 1 << 16, n = 0, got;
    uint8_t *buf = malloc(cap);
    while ((got = fread(buf + n, 1, cap - n, f)) > 0)
        if ((n += got) == cap)
            buf = realloc(buf, cap *= 2);
    fclose(f);
    targets[target_of[_i]].fn(buf, n);
    free(buf);
}
END_TEST

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: test_fuzz_runtime REGRESSIONS_DIR\n");
        return 2;
    }
    for (int t = 0; t < NTARGETS; t++) {
        char dir[1024];
        snprintf(dir, sizeof dir, "%s/%s", argv[1], targets[t].name);
        DIR *d = opendir(dir);
        if (!d) {
            fprintf(stderr, "test_fuzz_runtime: no folder %s\n", dir);
            return 1;
        }
        int first = ninputs;
        for (struct dirent *e; (e = readdir(d)) && ninputs < 4096;)
            if (e->d_name[0] != '.') {
                size_t len = strlen(dir) + strlen(e->d_name) + 2;
                inputs[ninputs] = malloc(len);
                snprintf(inputs[ninputs], len, "%s/%s", dir, e->d_name);
                target_of[ninputs++] = t;
            }
        closedir(d);
        qsort(inputs + first, (size_t)(ninputs - first), sizeof *inputs, by_name);
        if (ninputs == first) {
            fprintf(stderr, "test_fuzz_runtime: %s is empty\n", dir);
            return 1;
        }
    }
    Suite *s = suite_create("fuzz-runtime");
    TCase *tc = tcase_create("replay");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, replay_one, 0, ninputs);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    for (int i = 0; i < ninputs; i++)
        free(inputs[i]);
    return failed ? 1 : 0;
}
