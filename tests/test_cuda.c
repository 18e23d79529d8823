/*
 * test_cuda.c: the CUDA backend (tgc --target cuda), on a machine without a GPU and on one with.
 *
 * Without a GPU:
 *   - the kernels of every graph of every .tg in samples/, samples/blitz/, tests/programs/ and
 *     bench/ compile with NVRTC (libtgrt_cuda's tg_nvrtc_compile) with no error and no warning;
 *   - run on the CPU (tests/cuda_emu: g++ compiles the same kernel source, libtgrt_cuda's API is
 *     emulated), the generated step trains as the C backend's does: every loss and every
 *     parameter within 1e-4, for LeNet (SGD momentum), the stride-2 network of bench/ and the
 *     AdamW network;
 *   - the generated CUDA trainer on Fashion-MNIST (emulated) prints what the C trainer prints and
 *     writes checkpoints that the C trainer resumes from, and the other way round;
 *   - a real CUDA program on a machine without a driver or GPU says so and exits 1;
 *   - tgc's errors for --target and --emit=cuda misuse.
 * With the argument "gpu" (meson test cuda-gpu-train): 100 steps of LeNet on the GPU against the
 * C backend, within 1e-4; exit 77 (skipped) where there is no GPU.
 */
#include <check.h>
#include <stdbool.h>
#include <dirent.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>

#include "harness.h"
#include "tgrt_cuda.h"

static const char *tgc, *root, *incdir, *libdir, *shim;
static char tmp[] = "/tmp/tgc-cuda-XXXXXX";

static const char *sanitizers(void) {
    const char *e = getenv("TGC_TEST_CFLAGS");
    return e && *e ? e : NULL;
}

/* ---- NVRTC over every sample ---- */

static int nfiles, nkernels;

/* Under the sanitizers (CI's second run) tgc writes every file's kernels, but NVRTC, not our code
 * and four times slower there, compiles only those of samples/ and bench/ under 300 kernels (the
 * ResNets' are left to the plain run, which compiles them all). The ResNet test programs of
 * tests/programs are left out in both: samples/resnet18*.tg have the same kernels. */
static void nvrtc_file(const char *tg, bool compile) {
    char *cu = fmt("%s/k.cu", tmp), *err = fmt("%s/err.txt", tmp);
    char *gen[] = {(char *)tgc, "compile", (char *)tg, "--emit=cuda", "-o", cu, NULL};
    ck_assert_msg(run(NULL, NULL, err, gen) == 0, "%s: %s", tg, slurp(err, NULL));
    char *src = slurp(cu, NULL), *log = NULL, msg[512];
    int k = 0;
    for (const char *p = src; (p = strstr(p, "extern \"C\" __global__")); p++)
        k++;
    if (!compile || (sanitizers() && k > 300))
        return;
    nkernels += k;
    int rc = tg_nvrtc_compile(src, "compute_80", NULL, &log, msg, sizeof msg);
    ck_assert_msg(rc != -1, "NVRTC cannot be loaded: %s", msg);
    ck_assert_msg(rc == 0, "%s: NVRTC rejects the kernels:\n%s", tg, log);
    ck_assert_msg(!strstr(log, "warning"), "%s: NVRTC warns:\n%s", tg, log);
    free(log);
    nfiles++;
}

START_TEST(test_nvrtc_compiles_every_sample) {
    const char *dirs[] = {"samples", "samples/blitz", "tests/programs", "tests/programs/passes", "bench"};
    for (size_t d = 0; d < sizeof dirs / sizeof dirs[0]; d++) {
        char *path = fmt("%s/%s", root, dirs[d]);
        DIR *dp = opendir(path);
        ck_assert_msg(dp, "cannot open %s", path);
        struct dirent *e;
        char *names[256];
        int n = 0;
        while ((e = readdir(dp)) && n < 256)
            if (strlen(e->d_name) > 3 && !strcmp(e->d_name + strlen(e->d_name) - 3, ".tg") &&
                !(strcmp(dirs[d], "samples") && !strncmp(e->d_name, "resnet", 6)))
                names[n++] = fmt("%s/%s", path, e->d_name);
        closedir(dp);
        for (int i = 0; i < n; i++)
            nvrtc_file(names[i], !sanitizers() || !strcmp(dirs[d], "samples") || !strcmp(dirs[d], "bench"));
    }
    printf("NVRTC: %d files, %d kernels, no error or warning\n", nfiles, nkernels);
    ck_assert_int_ge(nfiles, sanitizers() ? 3 : 40);
    ck_assert_int_ge(nkernels, sanitizers() ? 100 : 500);
}
END_TEST

/* ---- training: the CUDA step (emulated, or on the GPU) against the C step ---- */

typedef enum { C, EMU, GPU } Target;

/* Appends to cc (from its n-th slot, NULL-terminated) what a program for target t links: the CPU
 * emulation of libtgrt_cuda, or the library itself for a GPU; libtgrt; the sanitizers of this build. */
static void link_for(Target t, char **cc, int n) {
    if (t == EMU)
        cc[n++] = fmt("%s/tests/cuda_emu/emu.c", root);
    if (t == GPU)
        cc[n++] = "-ltgrt_cuda";
    cc[n++] = "-ltgrt";
    cc[n++] = "-lz";
    cc[n++] = "-lm";
    cc[n++] = "-ldl";
    if (sanitizers())
        cc[n++] = (char *)sanitizers();
    cc[n] = NULL;
}

/* Builds tests/steps_driver.c with tg's step for target, `steps` steps, parameters printed at the
 * end; returns its output. */
static char *steps_with(const char *tg, Target t, int steps, const char *name, const char *flag) {
    char *dir = fmt("%s/%s", tmp, name);
    mkdir(dir, 0755);
    char *src = fmt("%s/net.c", dir), *err = fmt("%s/err.txt", dir), *bin = fmt("%s/steps", dir);
    char *gen[] = {(char *)tgc, "compile", (char *)tg, "-o", src, "--no-main", "--prefix", "net", "--target",
                   t == C ? "c" : "cuda", (char *)flag, NULL};
    ck_assert_msg(run(NULL, NULL, err, gen) == 0, "%s", slurp(err, NULL));
    char *cc[24] = {"gcc", "-std=c99", "-O2", fmt("-DSTEPS=%d", steps), "-DPARAMS", fmt("-I%s", dir),
                    fmt("-I%s", incdir), src, fmt("%s/tests/steps_driver.c", root), "-o", bin, fmt("-L%s", libdir)};
    link_for(t, cc, 12);
    ck_assert_msg(run(NULL, NULL, err, cc) == 0, "the step does not build:\n%s", slurp(err, NULL));
    char *out = fmt("%s/out.txt", dir);
    char *argv[] = {bin, NULL};
    ck_assert_msg(run(dir, out, err, argv) == 0, "%s", slurp(err, NULL));
    return slurp(out, NULL);
}

static char *steps(const char *tg, Target t, int n, const char *name) { return steps_with(tg, t, n, name, NULL); }

/* Line by line: losses within 1e-4 relative; per tensor, the sum within 1e-4 of the magnitudes'
 * sum (a sum near zero has no relative precision) and the magnitudes' sum within 1e-4. */
static void same_training(const char *what, const char *want, const char *got, int nloss) {
    int line = 0, losses = 0;
    const char *a = want, *b = got;
    while (*a && *b) {
        line++;
        char na[256] = "", nb[256] = "", la[512], lb[512];
        double x[2], y[2];
        snprintf(la, sizeof la, "%.*s", (int)strcspn(a, "\n"), a); /* one line: sscanf would read on */
        snprintf(lb, sizeof lb, "%.*s", (int)strcspn(b, "\n"), b);
        int ka = sscanf(la, "%255s %la %la", na, &x[0], &x[1]), kb = sscanf(lb, "%255s %la %la", nb, &y[0], &y[1]);
        if (ka == 1) { /* a loss */
            double l = strtod(a, NULL), m = strtod(b, NULL);
            ck_assert_msg(kb == 1 && fabs(l - m) <= 1e-4 * fabs(l), "%s: loss %d: C %.9g, CUDA %.9g", what, line, l, m);
            losses++;
        } else {
            ck_assert_msg(ka == 3 && kb == 3 && !strcmp(na, nb), "%s: line %d differs in form", what, line);
            ck_assert_msg(fabs(x[0] - y[0]) <= 1e-4 * x[1] && fabs(x[1] - y[1]) <= 1e-4 * x[1],
                          "%s: %s: C sum %.9g |sum| %.9g, CUDA %.9g %.9g", what, na, x[0], x[1], y[0], y[1]);
        }
        a = strchr(a, '\n') ? strchr(a, '\n') + 1 : "";
        b = strchr(b, '\n') ? strchr(b, '\n') + 1 : "";
    }
    ck_assert_msg(!*a && !*b, "%s: the outputs have different lengths", what);
    ck_assert_int_eq(losses, nloss);
    ck_assert_int_ge(line - losses, 2); /* the parameters were compared */
}

/* -O0: every value its own buffer, so the optimizer's state is copied (tg_copy); pool16: a
 * 16x16 max-pool, whose backward reads x (too many taps for argmax codes), in place over x */
static const char *nets[] = {"samples/lenet.tg", "bench/net2.tg", "tests/programs/step_net4_adamw.tg",
                             "tests/programs/step_net4_adamw.tg", "tests/programs/step_pool16.tg",
                             "tests/programs/step_int_ops.tg"};

START_TEST(test_emulated_step_trains_as_c) {
    char *tg = fmt("%s/%s", root, nets[_i]);
    int n = _i == 1 || _i == 3 ? 8 : 30;
    const char *flag = _i == 3 ? "-O0" : NULL;
    char *want = steps_with(tg, C, n, fmt("c%d", _i), flag);
    char *got = steps_with(tg, EMU, n, fmt("emu%d", _i), flag);
    if (_i == 3)
        ck_assert_msg(strstr(slurp(fmt("%s/emu3/net.c", tmp), NULL), "tg_copy: "), "-O0 launches no copy");
    if (_i == 4) /* max_pool2d's backward from x, in place over x: a window per thread */
        ck_assert_msg(strstr(slurp(fmt("%s/emu4/net.c", tmp), NULL), "the output overwrites"), "not in place");
    same_training(nets[_i], want, got, n);
}
END_TEST

/* ---- the trainer ---- */

static char *trainer(const char *tg, Target t, const char *name) {
    char *src = fmt("%s/%s.c", tmp, name), *err = fmt("%s/%s.err", tmp, name), *bin = fmt("%s/%s", tmp, name);
    char *gen[] = {(char *)tgc, "compile", (char *)tg, "-o", src, "--target", t == C ? "c" : "cuda", NULL};
    ck_assert_msg(run(NULL, NULL, err, gen) == 0, "%s", slurp(err, NULL));
    char *cc[20] = {"gcc", "-std=c99", "-O2", "-fopenmp", "-Wall", "-Wextra", "-Wpedantic", "-Werror", fmt("-I%s", incdir),
                    src, "-o", bin, fmt("-L%s", libdir)};
    link_for(t, cc, 13);
    ck_assert_msg(run(NULL, NULL, err, cc) == 0, "the trainer does not build:\n%s", slurp(err, NULL));
    return bin;
}

/* Runs a trainer with args; returns stdout, the CSV's loss column. */
static char *train(const char *bin, const char *csv, char **args) {
    char *argv[16] = {(char *)bin, "--csv", (char *)csv, "--test-limit", "200"};
    int n = 5;
    for (; *args; args++)
        argv[n++] = *args;
    argv[n] = NULL;
    char *out = fmt("%s.out", csv), *err = fmt("%s.err", csv);
    ck_assert_msg(run(NULL, out, err, argv) == 0, "%s: %s", bin, slurp(err, NULL));
    return slurp(out, NULL);
}

static void same_csv(const char *what, const char *a, const char *b, int rows) {
    char *x = slurp(a, NULL), *y = slurp(b, NULL);
    ck_assert(x && y);
    int n = 0;
    x = strchr(x, '\n') + 1; /* the header */
    y = strchr(y, '\n') + 1;
    while (*x && *y) {
        long long e1, b1, e2, b2;
        double l1, l2;
        ck_assert(sscanf(x, "%lld,%lld,%lf", &e1, &b1, &l1) == 3 && sscanf(y, "%lld,%lld,%lf", &e2, &b2, &l2) == 3);
        ck_assert_msg(e1 == e2 && b1 == b2 && fabs(l1 - l2) <= 1e-4 * fabs(l1), "%s: batch %lld: %.9g against %.9g", what,
                      b1, l1, l2);
        n++;
        x = strchr(x, '\n') + 1;
        y = strchr(y, '\n') + 1;
    }
    ck_assert_msg(!*x && !*y, "%s: different numbers of batches", what);
    ck_assert_int_eq(n, rows);
}

START_TEST(test_emulated_trainer_as_c) {
    struct stat st;
    if (stat("/usr/share/datasets/fashion-mnist", &st)) {
        ck_abort_msg("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist; scripts/setup.sh does)");
    }
    char *tg = fmt("%s/samples/lenet_trainer.tg", root);
    char *cbin = trainer(tg, C, "fm_c"), *gbin = trainer(tg, EMU, "fm_cuda");
    char *ck_c = fmt("%s/c.safetensors", tmp), *ck_g = fmt("%s/g.safetensors", tmp);
    char *a[] = {"--limit", "240", "--save", ck_c, "--save-every", "120", NULL};
    char *b[] = {"--limit", "240", "--save", ck_g, "--save-every", "120", NULL};
    char *out_c = train(cbin, fmt("%s/c.csv", tmp), a), *out_g = train(gbin, fmt("%s/g.csv", tmp), b);
    ck_assert_msg(!strcmp(out_c, out_g), "the trainers print differently:\nC:\n%s\nCUDA:\n%s", out_c, out_g);
    ck_assert(strstr(out_g, "Accuracy of the network on the 200 test images"));
    same_csv("240 batches", fmt("%s/c.csv", tmp), fmt("%s/g.csv", tmp), 240);
    /* checkpoints interchange: each resumes from the other's */
    char *r1[] = {"--resume", ck_g, "--limit", "360", NULL}, *r2[] = {"--resume", ck_c, "--limit", "360", NULL};
    train(cbin, fmt("%s/c2.csv", tmp), r1);
    train(gbin, fmt("%s/g2.csv", tmp), r2);
    same_csv("resumed from each other's checkpoint", fmt("%s/c2.csv", tmp), fmt("%s/g2.csv", tmp), 120);
}
END_TEST

/* A program with loops (tests/programs/cuda_loop.tg) built for target t runs as the C build does:
 * the same lines, with its default options and with others. Its training step, running loss and
 * counts run on the GPU, its prints on the CPU, and the host code reads conditions and bounds
 * back, so a copy left out between the arena and the device's would change what it prints. */
static void program_as_c(Target t, const char *name) {
    char *tg = fmt("%s/tests/programs/cuda_loop.tg", root);
    char *cbin = trainer(tg, C, fmt("%s_c", name)), *gbin = trainer(tg, t, name);
    char *src = slurp(fmt("%s/%s.c", tmp, name), NULL);
    ck_assert_msg(strstr(src, ", on the device ----") && strstr(src, ", on the CPU ----") && strstr(src, "to_host("),
                  "the program's segments are not split between the GPU and the CPU");
    char *opts[][5] = {{NULL}, {"--epochs", "2", "--lr", "0.05", NULL}};
    for (int i = 0; i < 2; i++) {
        char *argv[2][8];
        char *out[2];
        for (int k = 0; k < 2; k++) {
            argv[k][0] = k ? gbin : cbin;
            int n = 1;
            for (char **o = opts[i]; *o; o++)
                argv[k][n++] = *o;
            argv[k][n] = NULL;
            out[k] = fmt("%s/%s_%d_%d.out", tmp, name, i, k);
            char *err = fmt("%s.err", out[k]);
            ck_assert_msg(run(NULL, out[k], err, argv[k]) == 0, "%s: %s", argv[k][0], slurp(err, NULL));
        }
        char *want = slurp(out[0], NULL), *got = slurp(out[1], NULL);
        ck_assert_msg(strstr(want, "epoch 1 loss"), "%s", want);
        ck_assert_msg(!strcmp(want, got), "the program prints differently on the GPU:\nC:\n%s\nCUDA:\n%s", want, got);
    }
}

START_TEST(test_emulated_program_as_c) { program_as_c(EMU, "prog_emu"); }
END_TEST

/* The blitz's cell 4-6: compiled for a GPU, torch.cuda.is_available() is True and the device is
 * cuda:0; for the CPU, cpu. .to(device) moves nothing on either. */
START_TEST(test_program_device) {
    char *tg = fmt("%s/device.tg", tmp);
    FILE *f = fopen(tg, "w");
    ck_assert_ptr_nonnull(f);
    fputs("program device {\n    device = torch.device('cuda:0' if torch.cuda.is_available() else 'cpu')\n"
          "    x = torch.ones(2).to(device)\n    for i in range(2) {\n        x = x * 3\n    }\n"
          "    print(device, x.to(device))\n}\n", f);
    fclose(f);
    const char *want[] = {"cpu tensor([9., 9.])\n", "cuda:0 tensor([9., 9.])\n"};
    for (int k = 0; k < 2; k++) {
        char *bin = trainer(tg, k ? EMU : C, k ? "device_emu" : "device_c"), *out = fmt("%s.out", bin);
        char *argv[] = {bin, NULL};
        ck_assert_int_eq(run(NULL, out, NULL, argv), 0);
        ck_assert_str_eq(slurp(out, NULL), want[k]);
    }
}
END_TEST

START_TEST(test_gpu_program_as_c) { program_as_c(GPU, "prog_gpu"); }
END_TEST

/* A real CUDA program (libtgrt_cuda) on a machine without a GPU says so and stops. */
START_TEST(test_no_gpu_is_said) {
    char msg[512];
    TgCuda *cu = tg_cuda_open(msg, sizeof msg);
    if (cu) { /* this machine has a GPU: the cuda-gpu-train test covers it */
        tg_cuda_close(cu);
        return;
    }
    char *bin = trainer(fmt("%s/samples/lenet_trainer.tg", root), GPU, "fm_gpu");
    char *out = fmt("%s/nogpu.out", tmp), *err = fmt("%s/nogpu.err", tmp);
    char *argv[] = {bin, "--limit", "1", NULL};
    ck_assert_int_eq(run(NULL, out, err, argv), 1);
    char *e = slurp(err, NULL);
    ck_assert_msg(strstr(e, "no CUDA driver") || strstr(e, "no CUDA GPU"), "stderr: %s", e);
    ck_assert_msg(!strstr(slurp(out, NULL), "loss"), "it trained without a GPU");
}
END_TEST

/* ---- tgc's own errors ---- */

static char *tgc_fails(char **args) {
    char *argv[12] = {(char *)tgc};
    int n = 1;
    for (; *args; args++)
        argv[n++] = *args;
    argv[n] = NULL;
    char *err = fmt("%s/tgc.err", tmp);
    ck_assert_int_eq(run(NULL, NULL, err, argv), 1);
    return slurp(err, NULL);
}

START_TEST(test_tgc_errors) {
    char *blitz = fmt("%s/samples/blitz/tensor_sum.tg", root), *lenet = fmt("%s/samples/lenet.tg", root);
    char *o = fmt("%s/x.c", tmp);
    char *a[] = {"compile", blitz, "--target", "cuda", "-o", o, NULL};
    ck_assert(strstr(tgc_fails(a), "has neither (a straight-line program runs on the CPU"));
    char *b[] = {"compile", lenet, "--target", "tpu", "-o", o, NULL};
    ck_assert(strstr(tgc_fails(b), "unknown --target 'tpu' (expected c or cuda)"));
    char *c[] = {"build", lenet, "--emit=cuda", "-o", o, NULL};
    ck_assert(strstr(tgc_fails(c), "--emit=cuda goes with compile, not build"));
    char *d[] = {"compile", lenet, "-o", o, "--target", NULL};
    ck_assert(strstr(tgc_fails(d), "--target needs an argument"));
    /* a train block whose step draws (dropout): the CPU's for now, said at the dropout */
    char *drop = fmt("%s/drop.tg", tmp);
    FILE *f = fopen(drop, "w");
    fputs("model Net(x: f32[B, 1, 28, 28]) {\n    fc = Linear(784, 10)\n    drop = nn.Dropout(0.5)\n"
          "    return drop(fc(flatten(x, 1)))\n}\ntrain Net {\n    data = mnist(\"d\")\n    batch = 4\n"
          "    loss = cross_entropy\n    optimizer = SGD(lr=0.1)\n    epochs = 1\n}\n", f);
    fclose(f);
    char *e[] = {"compile", drop, "--target", "cuda", "-o", o, NULL};
    ck_assert(strstr(tgc_fails(e), "drop.tg:4:16: error: a train block's step that draws random numbers (dropout) runs "
                                   "on the CPU only for now: build it with --target c"));
}
END_TEST

/* ---- on a GPU ---- */

START_TEST(test_gpu_steps_as_c) {
    char *tg = fmt("%s/samples/lenet.tg", root);
    char *want = steps(tg, C, 100, "gpu_c"), *got = steps(tg, GPU, 100, "gpu");
    same_training("LeNet, 100 steps on the GPU", want, got, 100);
}
END_TEST

int main(int argc, char **argv) {
    tgc = getenv("TGC");
    root = getenv("TGC_SOURCE_ROOT");
    incdir = getenv("TGRT_INCDIR");
    libdir = getenv("TGRT_LIBDIR");
    shim = getenv("TGC_EMU_SHIM");
    if (!tgc || !root || !incdir || !libdir || !shim) {
        fprintf(stderr, "test_cuda: run it through meson test (TGC, TGC_SOURCE_ROOT, TGRT_INCDIR, TGRT_LIBDIR, "
                        "TGC_EMU_SHIM)\n");
        return 1;
    }
    if (!mkdtemp(tmp))
        return 1;
    bool gpu = argc > 1 && !strcmp(argv[1], "gpu");
    if (gpu) {
        char msg[512];
        TgCuda *cu = tg_cuda_open(msg, sizeof msg);
        if (!cu) {
            printf("skipped: %s\n", msg);
            return 77;
        }
        printf("GPU: %s\n", tg_cuda_describe(cu));
        tg_cuda_close(cu);
    }
    Suite *s = suite_create(gpu ? "cuda-gpu" : "cuda");
    const char *names[] = {"gpu", "nvrtc", "emulated", "trainer", "errors"};
    TCase *tc[5] = {0};
    for (int i = gpu ? 0 : 1; i < (gpu ? 1 : 5); i++) { /* a case made and not added would leak */
        tc[i] = tcase_create(names[i]);
        tcase_set_timeout(tc[i], 600);
    }
    if (gpu) {
        tcase_add_test(tc[0], test_gpu_steps_as_c);
        tcase_add_test(tc[0], test_gpu_program_as_c);
    } else {
        tcase_add_test(tc[1], test_nvrtc_compiles_every_sample);
        tcase_add_loop_test(tc[2], test_emulated_step_trains_as_c, 0, 6);
        tcase_add_test(tc[3], test_emulated_trainer_as_c);
        tcase_add_test(tc[3], test_emulated_program_as_c);
        tcase_add_test(tc[3], test_program_device);
        tcase_add_test(tc[4], test_no_gpu_is_said);
        tcase_add_test(tc[4], test_tgc_errors);
    }
    for (int i = gpu ? 0 : 1; i < (gpu ? 1 : 5); i++)
        suite_add_tcase(s, tc[i]);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    char *rm[] = {"rm", "-rf", tmp, NULL};
    if (!failed && !getenv("TGC_KEEP"))
        run(NULL, NULL, NULL, rm);
    return failed ? 1 : 0;
}
