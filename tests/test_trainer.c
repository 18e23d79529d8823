/*
 * test_trainer.c: the standalone trainer of samples/lenet_trainer.tg (a train block), end to end
 * on the real Fashion-MNIST from Debian's dataset-fashion-mnist (exit 77, a skip, where it is
 * not installed).
 *
 * 3,000 batches of 4 must reach at least 60% on the first 1,000 test images (PyTorch 1.13 on the
 * same setting: 68.5% to 76.6% over seeds 0 to 4), the output must have the blitz's log and report
 * lines, and the losses of 1 and 2 OpenMP threads must be identical to the last bit.
 *
 * Environment (set by meson): TGC, TGC_SOURCE_ROOT, TGC_TEST_CFLAGS.
 */
#include <check.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DATA "/usr/share/datasets/fashion-mnist"

static char tmp[64], bin[128];

static int run(char *const argv[], const char *outfile) {
    pid_t pid = fork();
    if (pid == 0) {
        if (!freopen(outfile ? outfile : "/dev/null", "w", stdout) || !freopen("/dev/null", "w", stderr))
            _exit(126);
        execvp(argv[0], argv);
        _exit(127);
    }
    int st;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    return strdup(buf);
}

START_TEST(test_learns_fashion_mnist) {
    char out[128], png[128];
    snprintf(out, sizeof out, "%s/train.txt", tmp);
    snprintf(png, sizeof png, "%s/grid.png", tmp);
    char *argv[] = {bin, "--limit", "3000", "--test-limit", "1000", "--seed", "0", "--grid", png, NULL};
    ck_assert_int_eq(run(argv, out), 0);
    char *text = slurp(out);
    ck_assert_ptr_nonnull(text);
    ck_assert_msg(strstr(text, "[1,  2000] loss: "), "no blitz log line:\n%s", text);
    ck_assert_msg(strstr(text, "Finished Training\n"), "%s", text);
    char *acc = strstr(text, "Accuracy of the network on the 1000 test images: ");
    ck_assert_msg(acc, "no accuracy line:\n%s", text);
    int pct = atoi(acc + strlen("Accuracy of the network on the 1000 test images: "));
    ck_assert_msg(pct >= 60, "accuracy %d %% after 3000 batches (PyTorch: 68.5%% to 76.6%%)\n%s", pct, text);
    ck_assert_msg(strstr(text, "Accuracy for class: Ankle boot is ") && strstr(text, "Accuracy for class: Bag   is "),
                  "per-class lines are not in the blitz's format:\n%s", text);
    /* --grid: the first test batch (Ankle boot, Pullover, Trouser, Trouser) and the blitz's two lines */
    ck_assert_msg(strstr(text, "GroundTruth:  Ankle boot Pullover Trouser Trouser\nPredicted:  "), "%s", text);
    FILE *f = fopen(png, "rb");
    ck_assert_ptr_nonnull(f);
    unsigned char head[24];
    ck_assert_int_eq(fread(head, 1, 24, f), 24);
    fclose(f);
    ck_assert(!memcmp(head, "\x89PNG\r\n\x1a\n", 8) && !memcmp(head + 12, "IHDR", 4));
    ck_assert_int_eq((head[16] << 24 | head[17] << 16 | head[18] << 8 | head[19]), 4 * 34 + 2); /* width */
    ck_assert_int_eq((head[20] << 24 | head[21] << 16 | head[22] << 8 | head[23]), 32 + 4);     /* height */
    free(text);
}
END_TEST

/* --lr 0.001 is the file's own rate (identical losses); --lr 0.01 trains differently. */
START_TEST(test_lr_flag) {
    char c0[128], c1[128], c2[128];
    snprintf(c0, sizeof c0, "%s/lr0.csv", tmp);
    snprintf(c1, sizeof c1, "%s/lr1.csv", tmp);
    snprintf(c2, sizeof c2, "%s/lr2.csv", tmp);
    char *a0[] = {bin, "--limit", "60", "--test-limit", "4", "--csv", c0, NULL};
    char *a1[] = {bin, "--limit", "60", "--test-limit", "4", "--csv", c1, "--lr", "0.001", NULL};
    char *a2[] = {bin, "--limit", "60", "--test-limit", "4", "--csv", c2, "--lr", "0.01", NULL};
    ck_assert_int_eq(run(a0, NULL), 0);
    ck_assert_int_eq(run(a1, NULL), 0);
    ck_assert_int_eq(run(a2, NULL), 0);
    char *t0 = slurp(c0), *t1 = slurp(c1), *t2 = slurp(c2);
    ck_assert(t0 && t1 && t2);
    ck_assert_msg(!strcmp(t0, t1), "--lr 0.001 differs from the file's lr=0.001");
    ck_assert_msg(strcmp(t0, t2), "--lr 0.01 changed nothing");
    free(t0), free(t1), free(t2);
}
END_TEST

START_TEST(test_threads_give_identical_losses) {
    char csv1[128], csv2[128];
    snprintf(csv1, sizeof csv1, "%s/t1.csv", tmp);
    snprintf(csv2, sizeof csv2, "%s/t2.csv", tmp);
    char *a1[] = {bin, "--limit", "300", "--test-limit", "4", "--threads", "1", "--csv", csv1, NULL};
    char *a2[] = {bin, "--limit", "300", "--test-limit", "4", "--threads", "2", "--csv", csv2, NULL};
    ck_assert_int_eq(run(a1, NULL), 0);
    ck_assert_int_eq(run(a2, NULL), 0);
    char *t1 = slurp(csv1), *t2 = slurp(csv2);
    ck_assert(t1 && t2);
    ck_assert_msg(strlen(t1) > 300 * 8, "too few losses:\n%.500s", t1);
    ck_assert_msg(!strcmp(t1, t2), "losses differ between 1 and 2 threads");
    free(t1);
    free(t2);
}
END_TEST

/* argv's exit status, its stdout in *out and its stderr in *err (malloc'ed). */
static int run_capture(char *const argv[], char **out, char **err) {
    char o[128], e[128];
    snprintf(o, sizeof o, "%s/stdout.txt", tmp);
    snprintf(e, sizeof e, "%s/stderr.txt", tmp);
    pid_t pid = fork();
    if (pid == 0) {
        if (!freopen(o, "w", stdout) || !freopen(e, "w", stderr))
            _exit(126);
        execv(argv[0], argv);
        _exit(127);
    }
    int st;
    waitpid(pid, &st, 0);
    *out = slurp(o);
    *err = slurp(e);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* --help shows the train block's defaults; bad options are exit status 2 with a message. */
START_TEST(test_options) {
    char *out, *err;
    char *help[] = {bin, "--help", NULL};
    ck_assert_int_eq(run_capture(help, &out, &err), 0);
    ck_assert_msg(strstr(out, "Trains train_Net as its .tg train block says") &&
                      strstr(out, "--data DIR     where the fashion_mnist files are (default " DATA ")") &&
                      strstr(out, "(default 2)") && strstr(out, "--resume FILE") &&
                      strstr(out, "The batch size (4), the input shape (1x32x32)"),
                  "%s", out);
    free(out), free(err);
    struct { const char *a, *v, *msg; } bad[] = {
        {"--frobnicate", NULL, "unknown option '--frobnicate' (see --help)"},
        {"--epochs", "two", "--epochs needs a non-negative number"},
        {"--limit", "-3", "--limit needs a non-negative number"},
        {"--seed", NULL, "--seed needs a value"},
        {"--lr", "-0.1", "--lr needs a positive finite number"},
        {"--lr", "nan", "--lr needs a positive finite number"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *argv[] = {bin, (char *)bad[i].a, (char *)bad[i].v, NULL};
        ck_assert_int_eq(run_capture(argv, &out, &err), 2);
        ck_assert_msg(strstr(err, bad[i].msg), "%s %s: %s", bad[i].a, bad[i].v ? bad[i].v : "", err);
        free(out), free(err);
    }
}
END_TEST

static char root_dir[512], tgc_path[512];
static char *csv_rows(const char *text, int from, int to);

/*
 * Dropout in a train block: the step draws its masks from a generator seeded by the run's seed and
 * the steps taken, so a run resumed from a checkpoint gives the uninterrupted run's losses bit for
 * bit, 1 and 2 threads agree, another seed draws other masks, and the net still learns.
 */
START_TEST(test_dropout_train_block) {
    char src[600], drop[256], a[256], b1[256], b2[256], c[256], d[256], ck[256], out[256];
    snprintf(src, sizeof src, "%s/samples/lenet_trainer.tg", root_dir);
    snprintf(drop, sizeof drop, "%s/drop.tg", tmp);
    char *text = slurp(src);
    ck_assert_ptr_nonnull(text);
    FILE *f = fopen(drop, "w");
    ck_assert_ptr_nonnull(f);
    /* the sample with nn.Dropout(0.25) after fc2's relu */
    char *at = strstr(text, "    x = relu(fc2(x))\n"), *fc3 = strstr(text, "    fc3 = Linear(84, 10)\n");
    ck_assert(at && fc3 && fc3 < at);
    fprintf(f, "%.*s    drop = nn.Dropout(0.25)\n%.*s    x = drop(relu(fc2(x)))\n%s", (int)(fc3 - text + 25), text,
            (int)(at - fc3 - 25), fc3 + 25, at + strlen("    x = relu(fc2(x))\n"));
    fclose(f);
    free(text);
    char dbin[256];
    snprintf(dbin, sizeof dbin, "%s/drop", tmp);
    char *build[] = {tgc_path, "build", drop, "-o", dbin, NULL};
    ck_assert_msg(run(build, NULL) == 0, "a train block with dropout does not build");
    snprintf(a, sizeof a, "%s/da.csv", tmp);
    snprintf(b1, sizeof b1, "%s/db1.csv", tmp);
    snprintf(b2, sizeof b2, "%s/db2.csv", tmp);
    snprintf(c, sizeof c, "%s/dc.csv", tmp);
    snprintf(d, sizeof d, "%s/dd.csv", tmp);
    snprintf(ck, sizeof ck, "%s/dck.safetensors", tmp);
    snprintf(out, sizeof out, "%s/dout.txt", tmp);
    char *whole[] = {dbin, "--limit", "1500", "--test-limit", "500", "--seed", "3", "--csv", a, NULL};
    char *first[] = {dbin, "--limit", "700", "--test-limit", "4", "--seed", "3", "--csv", b1, "--save", ck, NULL};
    char *second[] = {dbin, "--limit", "1500", "--test-limit", "4", "--resume", ck, "--csv", b2, NULL};
    char *other[] = {dbin, "--limit", "200", "--test-limit", "4", "--seed", "4", "--csv", d, NULL};
    ck_assert_int_eq(run(whole, out), 0);
    ck_assert_int_eq(run(first, NULL), 0);
    ck_assert_int_eq(run(second, NULL), 0);
    ck_assert_int_eq(run(other, NULL), 0);
    setenv("OMP_NUM_THREADS", "1", 1);
    char *one[] = {dbin, "--limit", "200", "--test-limit", "4", "--seed", "3", "--csv", c, NULL};
    ck_assert_int_eq(run(one, NULL), 0);
    unsetenv("OMP_NUM_THREADS");
    char *ta = slurp(a), *t2 = slurp(b2), *tc = slurp(c), *td = slurp(d), *to = slurp(out);
    ck_assert(ta && t2 && tc && td && to);
    char *a2 = csv_rows(ta, 701, 1500), *r2 = csv_rows(t2, 1, 800), *a0 = csv_rows(ta, 1, 200), *c0 = csv_rows(tc, 1, 200),
         *d0 = csv_rows(td, 1, 200);
    ck_assert_msg(!strcmp(a2, r2), "with dropout, the resumed losses differ:\n%.300s\n---\n%.300s", a2, r2);
    ck_assert_msg(!strcmp(a0, c0), "with dropout, 1 and 2 threads give different losses");
    ck_assert_msg(strcmp(a0, d0), "seeds 3 and 4 give the same losses: the masks do not depend on the seed");
    char *acc = strstr(to, "Accuracy of the network on the 500 test images: ");
    ck_assert_msg(acc && atoi(acc + strlen("Accuracy of the network on the 500 test images: ")) >= 40,
                  "with dropout, 1500 batches do not learn:\n%s", to);
    free(ta), free(t2), free(tc), free(td), free(to), free(a2), free(r2), free(a0), free(c0), free(d0);
}
END_TEST

/* The sample's text with `batch = 4` replaced by `with`, written to path. */
static void sample_with(const char *path, const char *with) {
    char src[600];
    snprintf(src, sizeof src, "%s/samples/lenet_trainer.tg", root_dir);
    char *text = slurp(src), *at = text ? strstr(text, "    batch     = 4\n") : NULL;
    ck_assert(at);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "%.*s%s%s", (int)(at - text), text, with, at + strlen("    batch     = 4\n"));
    fclose(f);
    free(text);
}

/* The largest relative difference between the losses of two CSVs of the same run's rows. */
static double max_rel_diff(const char *a, const char *b) {
    double worst = 0;
    const char *p = strchr(a, '\n'), *q = strchr(b, '\n'); /* past the header */
    int rows = 0;
    while (p && q && p[1] && q[1]) {
        long long e1, b1, e2, b2;
        double x, y;
        ck_assert(sscanf(p + 1, "%lld,%lld,%lf", &e1, &b1, &x) == 3 && sscanf(q + 1, "%lld,%lld,%lf", &e2, &b2, &y) == 3);
        ck_assert(e1 == e2 && b1 == b2);
        double d = (x > y ? x - y : y - x) / (y > 0 ? y : 1);
        worst = d > worst ? d : worst;
        rows++;
        p = strchr(p + 1, '\n');
        q = strchr(q + 1, '\n');
    }
    ck_assert_int_ge(rows, 300);
    return worst;
}

/*
 * The batch in slices: a batch of 16 with `slice = 8` runs as 2 slices of 8, its gradients summed;
 * the losses are the whole batch's step's up to the order of float sums (1e-4 relative over 300
 * steps), and bit-identical for 1 and 2 threads.
 */
START_TEST(test_sliced_batch) {
    char s[256], w[256], sbin[256], wbin[256], a[256], b[256], c[256];
    snprintf(s, sizeof s, "%s/b16.tg", tmp);
    snprintf(w, sizeof w, "%s/b16w.tg", tmp);
    snprintf(sbin, sizeof sbin, "%s/b16", tmp);
    snprintf(wbin, sizeof wbin, "%s/b16w", tmp);
    sample_with(s, "    batch     = 16\n    slice     = 8\n");
    sample_with(w, "    batch     = 16\n");
    char *b1[] = {tgc_path, "build", s, "-o", sbin, NULL}, *b2[] = {tgc_path, "build", w, "-o", wbin, NULL};
    ck_assert_int_eq(run(b1, NULL), 0);
    ck_assert_int_eq(run(b2, NULL), 0);
    char csrc[256];
    snprintf(csrc, sizeof csrc, "%s/b16.c", tmp);
    char *cc[] = {tgc_path, "compile", s, "-o", csrc, NULL};
    ck_assert_int_eq(run(cc, NULL), 0);
    char *ctext = slurp(csrc);
    ck_assert_msg(ctext && strstr(ctext, "the batch in 2 slices of 8 images"), "the step is not in slices");
    free(ctext);
    snprintf(a, sizeof a, "%s/sa.csv", tmp);
    snprintf(b, sizeof b, "%s/sb.csv", tmp);
    snprintf(c, sizeof c, "%s/sc.csv", tmp);
    char *ra[] = {sbin, "--limit", "300", "--test-limit", "4", "--seed", "1", "--csv", a, NULL};
    char *rb[] = {wbin, "--limit", "300", "--test-limit", "4", "--seed", "1", "--csv", b, NULL};
    char *rc[] = {sbin, "--limit", "300", "--test-limit", "4", "--seed", "1", "--csv", c, NULL};
    ck_assert_int_eq(run(ra, NULL), 0);
    ck_assert_int_eq(run(rb, NULL), 0);
    setenv("OMP_NUM_THREADS", "1", 1);
    ck_assert_int_eq(run(rc, NULL), 0);
    unsetenv("OMP_NUM_THREADS");
    char *ta = slurp(a), *tb = slurp(b), *tc = slurp(c);
    ck_assert(ta && tb && tc);
    ck_assert_msg(!strcmp(ta, tc), "the sliced step's losses differ between 1 and 2 threads");
    double d = max_rel_diff(ta, tb);
    ck_assert_msg(d <= 1e-4, "sliced and whole-batch losses differ by %g relative", d);
    free(ta), free(tb), free(tc);
}
END_TEST

/* Lines from..to (1-based, header excluded) of a CSV of losses. */
static char *csv_rows(const char *text, int from, int to) {
    const char *p = strchr(text, '\n');
    ck_assert_ptr_nonnull(p);
    p++;
    for (int row = 1; row < from && p; row++)
        p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL;
    ck_assert_ptr_nonnull(p);
    const char *end = p;
    for (int row = from; row <= to && end; row++)
        end = strchr(end, '\n') ? strchr(end, '\n') + 1 : NULL;
    ck_assert_ptr_nonnull(end);
    return strndup(p, (size_t)(end - p));
}

/*
 * A run stopped after 300 batches and resumed from its checkpoint (mid-epoch) prints the same
 * losses, bit for bit, as one that ran 600 batches without stopping.
 */
START_TEST(test_resume_is_bit_identical) {
    char a[128], b1[128], b2[128], ck[128];
    snprintf(a, sizeof a, "%s/a.csv", tmp);
    snprintf(b1, sizeof b1, "%s/b1.csv", tmp);
    snprintf(b2, sizeof b2, "%s/b2.csv", tmp);
    snprintf(ck, sizeof ck, "%s/ck.safetensors", tmp);
    char *whole[] = {bin, "--limit", "600", "--test-limit", "4", "--seed", "3", "--csv", a, NULL};
    char *first[] = {bin, "--limit", "300", "--test-limit", "4", "--seed", "3", "--csv", b1, "--save", ck,
                     "--save-every", "100", NULL};
    char *second[] = {bin, "--limit", "600", "--test-limit", "4", "--resume", ck, "--csv", b2, NULL};
    ck_assert_int_eq(run(whole, NULL), 0);
    ck_assert_int_eq(run(first, NULL), 0);
    ck_assert_int_eq(run(second, NULL), 0);
    char *ta = slurp(a), *t1 = slurp(b1), *t2 = slurp(b2);
    ck_assert(ta && t1 && t2);
    char *a1 = csv_rows(ta, 1, 300), *a2 = csv_rows(ta, 301, 600), *r1 = csv_rows(t1, 1, 300), *r2 = csv_rows(t2, 1, 300);
    ck_assert_msg(!strcmp(a1, r1), "the first 300 losses differ");
    ck_assert_msg(!strcmp(a2, r2), "the resumed losses differ from the uninterrupted run:\n%.300s\n---\n%.300s", a2, r2);
    free(ta), free(t1), free(t2), free(a1), free(a2), free(r1), free(r2);
}
END_TEST

/*
 * SIGKILL at 20 moments of a run that checkpoints every 5 batches (so many kills land inside a
 * checkpoint write): whatever checkpoint is on disk afterwards always loads.
 */
START_TEST(test_sigkill_leaves_loadable_checkpoints) {
    char ck[128];
    snprintf(ck, sizeof ck, "%s/kill.safetensors", tmp);
    int loaded = 0;
    for (int i = 0; i < 20; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            if (!freopen("/dev/null", "w", stdout) || !freopen("/dev/null", "w", stderr))
                _exit(126);
            execl(bin, bin, "--limit", "100000", "--test-limit", "4", "--save", ck, "--save-every", "5", (char *)NULL);
            _exit(127);
        }
        long ms = 900 + i * 37; /* after the data are loaded, at varying points */
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        int st;
        waitpid(pid, &st, 0);
        if (access(ck, F_OK))
            continue;
        char *check[] = {bin, "--load", ck, "--epochs", "0", "--test-limit", "4", NULL};
        ck_assert_msg(run(check, NULL) == 0, "the checkpoint left by kill %d does not load", i);
        char *again[] = {bin, "--resume", ck, "--limit", "0", "--test-limit", "4", NULL};
        ck_assert_msg(run(again, NULL) == 0, "the checkpoint left by kill %d does not resume", i);
        loaded++;
    }
    ck_assert_int_ge(loaded, 15);
}
END_TEST

/* samples/lenet.tg end to end on a small CIFAR-10 written here in the real binary format. */
START_TEST(test_cifar10_sample_runs) {
    char dir[128], lenet[160], out[160], sample[512];
    snprintf(dir, sizeof dir, "%s/cifar", tmp);
    ck_assert_int_eq(mkdir(dir, 0755), 0);
    const char *files[] = {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin",
                           "data_batch_5.bin", "test_batch.bin"};
    unsigned char rec[3073];
    for (int f = 0; f < 6; f++) {
        char path[256];
        snprintf(path, sizeof path, "%s/%s", dir, files[f]);
        FILE *fp = fopen(path, "wb");
        for (int r = 0; r < 8; r++) {
            rec[0] = (unsigned char)((f * 8 + r) % 10);
            for (int i = 1; i < 3073; i++)
                rec[i] = (unsigned char)((i * 7 + r * 13 + rec[0] * 29) & 255);
            fwrite(rec, 1, sizeof rec, fp);
        }
        fclose(fp);
    }
    snprintf(lenet, sizeof lenet, "%s/lenet", tmp);
    snprintf(sample, sizeof sample, "%s/samples/lenet.tg", getenv("TGC_SOURCE_ROOT"));
    char *build[] = {(char *)getenv("TGC"), "build", sample, "-o", lenet, NULL};
    ck_assert_int_eq(run(build, NULL), 0);
    snprintf(out, sizeof out, "%s/cifar.txt", tmp);
    char *argv[] = {lenet, "--data", dir, "--epochs", "1", NULL};
    ck_assert_int_eq(run(argv, out), 0);
    char *text = slurp(out);
    ck_assert_msg(strstr(text, "Finished Training\nAccuracy of the network on the 8 test images: "), "%s", text);
    ck_assert_msg(strstr(text, "Accuracy for class: plane is ") && strstr(text, "Accuracy for class: horse is "), "%s", text);
    free(text);
}
END_TEST

/* Bad data: an error naming the file, exit status 1, and a good checkpoint left untouched. */
START_TEST(test_bad_data_dir) {
    char out[128], ck[128], bad[128], images[200];
    snprintf(out, sizeof out, "%s/bad.txt", tmp);
    snprintf(ck, sizeof ck, "%s/good.safetensors", tmp);
    snprintf(bad, sizeof bad, "%s/baddata", tmp);
    char *make[] = {bin, "--limit", "10", "--test-limit", "4", "--save", ck, "--save-every", "10", NULL};
    ck_assert_int_eq(run(make, NULL), 0);
    char copy[160];
    snprintf(copy, sizeof copy, "%s.copy", ck);
    char *cp[] = {"cp", ck, copy, NULL};
    ck_assert_int_eq(run(cp, NULL), 0);
    /* a truncated images file beside good labels */
    ck_assert_int_eq(mkdir(bad, 0755), 0);
    snprintf(images, sizeof images, "%s/train-images-idx3-ubyte", bad);
    FILE *f = fopen(images, "wb");
    fwrite("\0\0\x08\x03\0\0\0\x02\0\0\0\x1c\0\0\0\x1c\1\2\3", 1, 19, f);
    fclose(f);
    snprintf(images, sizeof images, "%s/train-labels-idx1-ubyte", bad);
    f = fopen(images, "wb");
    fwrite("\0\0\x08\x01\0\0\0\x02\1\2", 1, 10, f);
    fclose(f);
    char *argv[] = {bin, "--data", bad, "--save", ck, NULL};
    pid_t pid = fork();
    if (pid == 0) {
        if (!freopen("/dev/null", "w", stdout) || !freopen(out, "w", stderr))
            _exit(126);
        execv(bin, argv);
        _exit(127);
    }
    int st;
    waitpid(pid, &st, 0);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 1);
    char *msg = slurp(out);
    ck_assert_msg(msg && strstr(msg, "train-images-idx3-ubyte: file ends after"), "the error does not name the file and "
                  "the problem: %s", msg);
    char *cmp[] = {"cmp", "-s", ck, copy, NULL};
    ck_assert_msg(run(cmp, NULL) == 0, "the good checkpoint changed");
    char *missing[] = {bin, "--data", "/nonexistent", NULL};
    ck_assert_int_eq(run(missing, NULL), 1);
    free(msg);
}
END_TEST

int main(void) {
    const char *tgc = getenv("TGC"), *root = getenv("TGC_SOURCE_ROOT");
    if (!tgc || !root) {
        fprintf(stderr, "test_trainer: run through meson test\n");
        return 1;
    }
    const char *san = getenv("TGC_SANITIZED");
    if (san && *san && strcmp(san, "none")) {
        /* 3,000 training steps under AddressSanitizer take many minutes; the same step and data code
           runs sanitized in the codegen and data suites */
        printf("SKIP: the training run is not repeated in a sanitized build\n");
        return 77;
    }
    if (access(DATA "/train-images-idx3-ubyte.gz", R_OK)) {
        printf("SKIP: %s is not installed (apt-get install dataset-fashion-mnist)\n", DATA);
        return 77;
    }
    snprintf(root_dir, sizeof root_dir, "%s", root);
    snprintf(tgc_path, sizeof tgc_path, "%s", tgc);
    strcpy(tmp, "/tmp/tgc-trainer-XXXXXX");
    if (!mkdtemp(tmp))
        return 1;
    snprintf(bin, sizeof bin, "%s/lenet_fashion", tmp);
    char sample[512];
    snprintf(sample, sizeof sample, "%s/samples/lenet_trainer.tg", root);
    char *argv[] = {(char *)tgc, "build", sample, "-o", bin, NULL};
    if (run(argv, NULL)) {
        fprintf(stderr, "test_trainer: tgc build %s failed\n", sample);
        return 1;
    }
    Suite *s = suite_create("trainer");
    TCase *tc = tcase_create("trainer");
    tcase_set_timeout(tc, 900);
    tcase_add_test(tc, test_options);
    tcase_add_test(tc, test_learns_fashion_mnist);
    tcase_add_test(tc, test_threads_give_identical_losses);
    tcase_add_test(tc, test_lr_flag);
    tcase_add_test(tc, test_cifar10_sample_runs);
    tcase_add_test(tc, test_resume_is_bit_identical);
    tcase_add_test(tc, test_dropout_train_block);
    tcase_add_test(tc, test_sliced_batch);
    tcase_add_test(tc, test_sigkill_leaves_loadable_checkpoints);
    tcase_add_test(tc, test_bad_data_dir);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    char *rm[] = {"rm", "-rf", tmp, NULL};
    if (!failed)
        run(rm, NULL);
    return failed ? 1 : 0;
}
