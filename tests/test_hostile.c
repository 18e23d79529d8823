/*
 * test_hostile.c: hostile input to a generated trainer and to tgc's writes, small enough for the
 * sanitized suite (a 1x8x8 model on 16 images it writes itself): every case ends by itself (each
 * run under a 60 s alarm), with a message and a non-zero status where the input is bad, and
 * nothing is replaced that should not be.
 *
 *   - data: test images of another size than the training images (read past a buffer before),
 *     a training set smaller than one batch;
 *   - checkpoints: crafted metadata (epoch, batch, done, running loss, generator state), data
 *     that overlap or trail, an extra tensor, a folder given as a checkpoint;
 *   - options: a missing value, --lr inf, --threads past the machine, one file as two options;
 *   - lost writes: the CSV and the output past a file-size limit (RLIMIT_FSIZE, as a full disk
 *     fails a write), a failed --resume that must leave the CSV alone;
 *   - a diverging run stops at its first nan loss (--allow-nan goes on);
 *   - strings: a data path and class names with printf directives, quotes and trigraphs;
 *   - writes: tgc's -o never replaces a source file, follows a symlink, writes a pipe in place;
 *   - train blocks: a layer declared twice, an input that is not images.
 *
 * Environment (set by meson): TGC, TGC_SOURCE_ROOT.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char tmp[64];
static const char *tgc;

/* Every string and file the tests hold comes from one static pool: nothing to free, nothing
 * for LeakSanitizer to report in the sanitized pass. */
static char pool[16 << 20];
static size_t used;

static char *grab(size_t n) {
    if (used + n > sizeof pool) {
        fprintf(stderr, "test_hostile: the pool is exhausted\n");
        abort();
    }
    char *p = pool + used;
    used += (n + 15) / 16 * 16;
    return p;
}

static char *fmt(const char *f, const char *a) {
    size_t n = strlen(f) + strlen(a ? a : "") + 1;
    char *s = grab(n);
    snprintf(s, n, f, a);
    return s;
}

static char *path(const char *name) {
    size_t n = strlen(tmp) + strlen(name) + 2;
    char *s = grab(n);
    snprintf(s, n, "%s/%s", tmp, name);
    return s;
}

static char *slurp(const char *p, size_t *len) {
    FILE *f = fopen(p, "rb");
    if (!f)
        return NULL;
    struct stat st;
    size_t cap = fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) ? (size_t)st.st_size : 1 << 16;
    char *b = grab(cap + 1);
    size_t n = fread(b, 1, cap, f);
    b[n] = 0;
    fclose(f);
    if (len)
        *len = n;
    return b;
}

/* argv's exit status (128 + signal when killed: a crash or the alarm); its stderr in *err. With
 * fsize, its files (stdout to out.txt) may not grow past fsize bytes: writes fail as on a full disk. */
static int run_limited(char *const argv[], char **err, long fsize) {
    char *e = path("stderr.txt");
    int fd[2] = {-1, -1}; /* with a limit, stderr comes through a pipe: the limit is on files */
    if (fsize && pipe(fd) != 0)
        return 126;
    pid_t pid = fork();
    if (pid == 0) {
        alarm(60); /* kept across exec: a hang ends as SIGALRM */
        if (!freopen(fsize ? path("out.txt") : "/dev/null", "w", stdout) || !freopen(e, "w", stderr))
            _exit(126);
        if (fsize) {
            dup2(fd[1], 2);
            close(fd[0]);
            close(fd[1]);
            struct rlimit r = {(rlim_t)fsize, (rlim_t)fsize};
            signal(SIGXFSZ, SIG_IGN); /* ignored across exec: the write returns EFBIG */
            setrlimit(RLIMIT_FSIZE, &r);
        }
        execv(argv[0], argv);
        _exit(127);
    }
    char *piped = NULL;
    if (fsize) {
        close(fd[1]);
        piped = grab(1 << 16);
        size_t n = 0;
        for (ssize_t r; n < (1 << 16) - 1 && (r = read(fd[0], piped + n, (1 << 16) - 1 - n)) > 0;)
            n += (size_t)r;
        piped[n] = 0;
        close(fd[0]);
    }
    int st;
    waitpid(pid, &st, 0);
    if (err)
        *err = fsize ? piped : slurp(e, NULL);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int run(char *const argv[], char **err) { return run_limited(argv, err, 0); }

/* ---- the data and the trainer ---- */

static void put32(FILE *f, uint32_t v) {
    unsigned char b[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16), (unsigned char)(v >> 8), (unsigned char)v};
    fwrite(b, 1, 4, f);
}

/* An IDX pair of n images of h x w under dir, with the MNIST file names of the split. */
static void write_split(const char *dir, const char *split, int n, int h, int w) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s-images-idx3-ubyte", dir, split);
    FILE *f = fopen(p, "wb");
    put32(f, 0x803), put32(f, (uint32_t)n), put32(f, (uint32_t)h), put32(f, (uint32_t)w);
    for (int i = 0; i < n * h * w; i++)
        fputc((i * 37 + i / 7) & 0xff, f);
    fclose(f);
    snprintf(p, sizeof p, "%s/%s-labels-idx1-ubyte", dir, split);
    f = fopen(p, "wb");
    put32(f, 0x801), put32(f, (uint32_t)n);
    for (int i = 0; i < n; i++)
        fputc(i % 10, f);
    fclose(f);
}

static char *data_dir(const char *name, int ntrain, int htest) {
    char *d = path(name);
    mkdir(d, 0755);
    write_split(d, "train", ntrain, 8, 8);
    write_split(d, "t10k", 8, htest, htest);
    return d;
}

static char *bin, *good, *ck;

/* Builds the trainer: data path and class names with printf directives, a quote, trigraphs. */
static void build_trainer(void) {
    char *tg = path("tiny.tg");
    FILE *f = fopen(tg, "w");
    fprintf(f, "model Tiny(x: f32[B, 1, 8, 8]) {\n    fc = Linear(64, 10)\n    return fc(flatten(x, 1))\n}\n"
               "train Tiny {\n    data = mnist(\"%s\")\n"
               "    classes = [\"zero%%s%%n\", \"one\\\"q\", \"?\?=two?\?/\", \"3\", \"4\", \"5\", \"6\", \"7\", \"8\", \"9\"]\n"
               "    batch = 4\n    loss = cross_entropy\n    optimizer = SGD(lr=0.01, momentum=0.9)\n"
               "    epochs = 2\n    log_every = 2\n}\n", good);
    fclose(f);
    bin = path("tiny");
    char *err;
    char *argv[] = {(char *)tgc, "build", tg, "-o", bin, NULL};
    if (run(argv, &err) != 0) {
        fprintf(stderr, "test_hostile: tgc build failed:\n%s", err);
        exit(1);
    }
}

/* ---- crafting checkpoints ---- */

/* ck with the first `from` of its header replaced by `to`, and `extra` bytes appended. */
static char *craft(const char *name, const char *from, const char *to, int extra) {
    size_t len;
    unsigned char *b = (unsigned char *)slurp(ck, &len);
    uint64_t h = 0;
    for (int i = 7; i >= 0; i--)
        h = h << 8 | b[i];
    char *header = grab(h + 1);
    memcpy(header, b + 8, h);
    header[h] = 0;
    char *at = strstr(header, from);
    ck_assert_msg(at != NULL, "no '%s' in the checkpoint's header", from);
    size_t nh = h - strlen(from) + strlen(to);
    char *out = path(name);
    FILE *f = fopen(out, "wb");
    for (int i = 0; i < 8; i++)
        fputc((int)((nh >> (8 * i)) & 0xff), f);
    fwrite(header, 1, (size_t)(at - header), f);
    fputs(to, f);
    fputs(at + strlen(from), f);
    fwrite(b + 8 + h, 1, len - 8 - h, f);
    for (int i = 0; i < extra; i++)
        fputc(0, f);
    fclose(f);
    return out;
}

/* The shuffle generator's position (the word after its 624 hex words) replaced by `to`. */
static char *craft_rng_next(const char *name, const char *to) {
    char *text = slurp(ck, NULL);
    char *v = strstr(text + 8, "\"shuffle_rng\":\"") + strlen("\"shuffle_rng\":\"") + 624 * 8;
    char *end = strchr(v + 1, ' ');
    char from[64];
    snprintf(from, sizeof from, "%.*s", (int)(end - v), v);
    size_t nk = strlen(from) + 16, nr = strlen(to) + 16;
    char *key = grab(nk), *rep = grab(nr);
    snprintf(key, nk, "%.8s%s", v - 8, from); /* with the last hex word: unique in the header */
    snprintf(rep, nr, "%.8s %s", v - 8, to);
    return craft(name, key, rep, 0);
}

START_TEST(test_bad_data) {
    char *err, *small = data_dir("smalltest", 16, 6), *tiny = data_dir("tinytrain", 2, 8);
    char *a1[] = {bin, "--data", small, NULL};
    ck_assert_int_eq(run(a1, &err), 1);
    ck_assert_msg(strstr(err, "the test images are 1x6x6"), "%s", err);
    char *a2[] = {bin, "--data", tiny, NULL};
    ck_assert_int_eq(run(a2, &err), 1);
    ck_assert_msg(strstr(err, "has 2 images, fewer than one batch of 4: nothing to train"), "%s", err);
}
END_TEST

START_TEST(test_crafted_checkpoints) {
    struct {
        const char *name;
        char *file;
        const char *error;
    } cases[] = {
        {"epoch", craft("c1", "\"epoch\":\"0\"", "\"epoch\":\"-1\"", 0), "the checkpoint's epoch is not valid"},
        {"batch past", craft("c2", "\"batch\":\"3\"", "\"batch\":\"4\"", 0), "the checkpoint's batch is not valid"},
        {"batch negative", craft("c3", "\"batch\":\"3\"", "\"batch\":\"-5\"", 0), "batch is not valid for this trainer ('-5')"},
        {"done", craft("c4", "\"done\":\"3\"", "\"done\":\"3x\"", 0), "the checkpoint's done is not valid"},
        {"running", craft("c5", "\"running_loss\":\"", "\"running_loss\":\"nan", 0), "running_loss is not valid"},
        {"rng hex", craft("c6", "\"shuffle_rng\":\"", "\"shuffle_rng\":\"g", 0), "shuffle_rng is not valid"},
        {"rng short", craft("c7", "\"shuffle_rng\":\"", "\"shuffle_rng\":\"0 0 0x0p+0\",\"x\":\"", 0),
         "shuffle_rng is not valid"},
        {"rng position", craft_rng_next("c8", "9999"), "shuffle_rng is not valid"},
        {"rng position negative", craft_rng_next("c9", "-1"), "shuffle_rng is not valid"},
        {"format", craft("c10", "tgc-trainer-1", "tgc-trainer-0", 0), "not a checkpoint of this trainer"},
        {"trailing", craft("c11", "\"epoch\"", "\"epoch\"", 16), "16 bytes at the end belong to no tensor"},
        {"extra tensor", craft("c12", "{\"__metadata__\"", "{\"extra\":{\"dtype\":\"F32\",\"shape\":[0],"
                               "\"data_offsets\":[0,0]},\"__metadata__\"", 0), "extra is not a tensor of the model"},
        {"folder", path("."), "a directory, not a file"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *err, *argv[] = {bin, "--resume", cases[i].file, "--test-limit", "4", NULL};
        int rc = run(argv, &err);
        ck_assert_msg(rc == 1 && strstr(err, cases[i].error), "%s: exit %d, expected 1 and '%s':\n%s", cases[i].name, rc,
                      cases[i].error, err);
    }
    /* --load takes the model's tensors from any file that has them: an extra tensor is fine */
    char *err, *load[] = {bin, "--load", cases[11].file, "--limit", "1", "--test-limit", "4", NULL};
    ck_assert_msg(run(load, &err) == 0, "%s", err);
}
END_TEST

START_TEST(test_options) {
    char *err;
    struct {
        const char *a, *b, *error;
        int rc;
    } cases[] = {
        {"--data", NULL, "--data needs a value", 2},
        {"--resume", NULL, "--resume needs a value", 2},
        {"--lr", "inf", "--lr needs a positive finite number", 2},
        {"--lr", "nan", "--lr needs a positive finite number", 2},
        {"--epochs", "99999999999999999999", "--epochs needs a non-negative number (that one is too large)", 2},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *argv[] = {bin, (char *)cases[i].a, (char *)cases[i].b, NULL};
        int rc = run(argv, &err);
        ck_assert_msg(rc == cases[i].rc && strstr(err, cases[i].error), "%s %s: exit %d:\n%s", cases[i].a,
                      cases[i].b ? cases[i].b : "", rc, err);
    }
    char *threads[] = {bin, "--threads", "100000", "--limit", "1", "--test-limit", "4", NULL};
    ck_assert_int_eq(run(threads, &err), 0);
    ck_assert_msg(strstr(err, "--threads 100000: this machine runs"), "%s", err);
    char *same[] = {bin, "--csv", ck, "--resume", ck, NULL};
    ck_assert_int_eq(run(same, &err), 2);
    ck_assert_msg(strstr(err, "--csv and --resume name one file"), "%s", err);
    char *zero[] = {bin, "--epochs", "0", "--test-limit", "4", NULL};
    ck_assert_int_eq(run(zero, &err), 0);
    ck_assert_msg(strstr(err, "trained no step: --epochs is 0"), "%s", err);
}
END_TEST

START_TEST(test_lost_writes) {
    char *err;
    /* the CSV past a file-size limit, as on a full disk */
    char *csvfull = path("full.csv");
    char *full[] = {bin, "--limit", "8", "--test-limit", "4", "--csv", csvfull, NULL};
    ck_assert_int_eq(run_limited(full, &err, 64), 1);
    ck_assert_msg(strstr(err, fmt("cannot write %s: File too large", csvfull)), "%s", err);
    /* the log and the report, the same */
    char *report[] = {bin, "--limit", "2", "--test-limit", "4", NULL};
    ck_assert_int_eq(run_limited(report, &err, 16), 1);
    ck_assert_msg(strstr(err, "tiny: cannot write the output: File too large"), "%s", err);
    /* a program's output, the same */
    char *tg = path("hello.tg"), *hello = path("hello");
    FILE *g = fopen(tg, "w");
    fputs("program p {\n    for i in range(100) {\n        print(f\"hello {i}\")\n    }\n}\n", g);
    fclose(g);
    char *b[] = {(char *)tgc, "build", tg, "-o", hello, NULL};
    ck_assert_msg(run(b, &err) == 0, "%s", err);
    char *h[] = {hello, NULL};
    ck_assert_int_eq(run_limited(h, &err, 64), 1);
    ck_assert_msg(strstr(err, "hello: cannot write the output"), "%s", err);
    ck_assert_int_eq(run(h, &err), 0);
    /* a thread stack too small for the kernels: said before anything runs (libgomp would crash) */
    setenv("OMP_STACKSIZE", "16k", 1);
    int rc = run(h, &err), rt = run(report, NULL);
    unsetenv("OMP_STACKSIZE");
    ck_assert_msg(rc == 2 && strstr(err, "OMP_STACKSIZE=16k is less than the 2048 KiB"), "%d: %s", rc, err);
    ck_assert_int_eq(rt, 2);
    /* --save through a symlink: the link stays, its target is the checkpoint */
    char *target = path("saved_target.safetensors"), *link = path("saved_link.safetensors");
    ck_assert_int_eq(symlink(target, link), 0);
    char *save[] = {bin, "--limit", "1", "--test-limit", "4", "--save", link, NULL};
    ck_assert_msg(run(save, &err) == 0, "%s", err);
    struct stat st;
    ck_assert(lstat(link, &st) == 0 && S_ISLNK(st.st_mode));
    ck_assert(stat(target, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0);
    /* two runs saving to one file at once: each writes a temporary of its own, and the file is
     * one run's whole checkpoint */
    char *both = path("both.safetensors");
    char *two[] = {bin, "--limit", "6", "--save-every", "1", "--test-limit", "4", "--save", both, NULL};
    pid_t p1 = fork();
    if (p1 == 0)
        _exit(run(two, NULL));
    int r2 = run(two, &err), s1;
    waitpid(p1, &s1, 0);
    ck_assert_msg(r2 == 0 && WIFEXITED(s1) && WEXITSTATUS(s1) == 0, "%s", err);
    char *again[] = {bin, "--resume", both, "--test-limit", "4", NULL};
    ck_assert_msg(run(again, &err) == 0, "%s", err);
    /* a --resume that fails leaves the CSV as it was */
    char *csv = path("kept.csv");
    FILE *f = fopen(csv, "w");
    fputs("epoch,batch,loss\n1,1,2.5\n", f);
    fclose(f);
    char *bad = craft("c20", "\"epoch\":\"0\"", "\"epoch\":\"x\"", 0);
    char *resume[] = {bin, "--resume", bad, "--csv", csv, NULL};
    ck_assert_int_eq(run(resume, &err), 1);
    ck_assert_str_eq(slurp(csv, NULL), "epoch,batch,loss\n1,1,2.5\n");
    /* a good one appends to it */
    char *good_resume[] = {bin, "--resume", ck, "--csv", csv, "--limit", "5", "--test-limit", "4", NULL};
    ck_assert_msg(run(good_resume, &err) == 0, "%s", err);
    char *log = slurp(csv, NULL);
    ck_assert_msg(!strncmp(log, "epoch,batch,loss\n1,1,2.5\n1,4,", 29) && strstr(log, "\n2,1,"), "%s", log);
}
END_TEST

START_TEST(test_diverging_run_stops) {
    char *err, *argv[] = {bin, "--lr", "1e38", "--test-limit", "4", NULL};
    ck_assert_int_eq(run(argv, &err), 1);
    ck_assert_msg(strstr(err, "training diverged") && strstr(err, "at epoch 1, batch "), "%s", err);
    char *on[] = {bin, "--lr", "1e38", "--test-limit", "4", "--allow-nan", NULL};
    ck_assert_msg(run(on, &err) == 0, "%s", err);
}
END_TEST

START_TEST(test_hostile_strings) {
    char *err, *argv[] = {bin, "--help", NULL};
    char *out = path("help.txt");
    pid_t pid = fork();
    if (pid == 0) {
        alarm(60);
        if (!freopen(out, "w", stdout))
            _exit(126);
        execv(bin, argv);
        _exit(127);
    }
    int st;
    waitpid(pid, &st, 0);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    char *help = slurp(out, NULL);
    ck_assert_msg(strstr(help, fmt("(default %s)", good)), "the data path is not shown as it is:\n%s", help);
    /* the class names reach the report as written */
    char *grid = path("grid.png");
    char *run_argv[] = {bin, "--limit", "1", "--test-limit", "8", "--grid", grid, NULL};
    pid = fork();
    if (pid == 0) {
        alarm(60);
        if (!freopen(out, "w", stdout))
            _exit(126);
        execv(bin, run_argv);
        _exit(127);
    }
    waitpid(pid, &st, 0);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    char *text = slurp(out, NULL);
    ck_assert_msg(strstr(text, "GroundTruth:  zero%s%n one\"q ?\?=two?\?/ 3"), "%s", text);
    (void)err;
}
END_TEST

/* tgc's -o: never over a source file, through a symlink to its target, into a pipe in place */
START_TEST(test_safe_writes) {
    char *err, *src = path("w.tg");
    FILE *f = fopen(src, "w");
    fputs("program p {\n    print(\"?\?= hello\")\n}\n", f);
    fclose(f);
    char *before = slurp(src, NULL);
    char *link = path("w_link.c");
    ck_assert_int_eq(symlink(src, link), 0);
    const char *outs[] = {src, link};
    for (int i = 0; i < 2; i++) {
        char *argv[] = {(char *)tgc, "compile", src, "-o", (char *)outs[i], NULL};
        ck_assert_int_eq(run(argv, &err), 1);
        ck_assert_msg(strstr(err, "tgc does not overwrite its input"), "%s", err);
        char *ir[] = {(char *)tgc, "compile", src, "-o", (char *)outs[i], "--emit=ir", NULL};
        ck_assert_int_eq(run(ir, &err), 1);
        char *b[] = {(char *)tgc, "build", src, "-o", (char *)outs[i], NULL};
        ck_assert_int_eq(run(b, &err), 1);
    }
    ck_assert_str_eq(slurp(src, NULL), before);
    /* a symlink to a new file: the link stays, its target is written */
    char *target = path("real_out.c"), *l2 = path("l2.c");
    ck_assert_int_eq(symlink(target, l2), 0);
    char *viaLink[] = {(char *)tgc, "compile", src, "-o", l2, NULL};
    ck_assert_msg(run(viaLink, &err) == 0, "%s", err);
    struct stat st;
    ck_assert(lstat(l2, &st) == 0 && S_ISLNK(st.st_mode));
    ck_assert(stat(target, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0);
    /* a pipe is written in place, header first; no pipe.h is made beside it */
    char *pipe = path("pipe.c");
    ck_assert_int_eq(mkfifo(pipe, 0600), 0);
    pid_t reader = fork();
    if (reader == 0) {
        alarm(60);
        char *r = slurp(pipe, NULL);
        _exit(r && strstr(r, "#ifndef PIPE_H") && strstr(r, "\\?\\?= hello") ? 0 : 1);
    }
    char *toPipe[] = {(char *)tgc, "compile", src, "-o", pipe, NULL};
    ck_assert_msg(run(toPipe, &err) == 0, "%s", err);
    int rs;
    waitpid(reader, &rs, 0);
    ck_assert_msg(WIFEXITED(rs) && WEXITSTATUS(rs) == 0, "the pipe did not get the program");
    ck_assert(lstat(pipe, &st) == 0 && S_ISFIFO(st.st_mode));
    ck_assert_int_eq(access(path("pipe.h"), F_OK), -1);
    /* no temporary is left behind by any of it */
    char *ls[] = {"/bin/sh", "-c", fmt("ls %s | grep -q tmp- && exit 1; exit 0", tmp), NULL};
    ck_assert_int_eq(run(ls, &err), 0);
}
END_TEST

/* Train blocks tgc used to crash on or compile wrong: a layer declared twice (the first one's
 * tensors are made, as in PyTorch, but are no longer the model's), an input that is not images. */
START_TEST(test_train_block_shapes) {
    char *err, *tg = path("dup.tg"), *out = path("dup");
    FILE *f = fopen(tg, "w");
    fprintf(f, "model Net(x: f32[B, 1, 8, 8]) {\n    fc = Linear(64, 10)\n    fc = Linear(64, 10)\n"
               "    return fc(flatten(x, 1))\n}\ntrain Net {\n    data = mnist(\"%s\")\n    batch = 4\n"
               "    loss = cross_entropy\n    optimizer = SGD(lr=0.01)\n    epochs = 1\n}\n", good);
    fclose(f);
    char *b[] = {(char *)tgc, "build", tg, "-o", out, NULL};
    ck_assert_msg(run(b, &err) == 0, "%s", err);
    char *ck2 = path("dup.safetensors");
    char *r[] = {out, "--limit", "2", "--test-limit", "4", "--save", ck2, NULL};
    ck_assert_msg(run(r, &err) == 0, "%s", err);
    char *again[] = {out, "--resume", ck2, "--limit", "3", "--test-limit", "4", NULL};
    ck_assert_msg(run(again, &err) == 0, "%s", err);
    f = fopen(tg, "w");
    fprintf(f, "model Net(x: f32[B, 64]) {\n    fc = Linear(64, 10)\n    return fc(x)\n}\n"
               "train Net {\n    data = mnist(\"%s\")\n    batch = 4\n    loss = cross_entropy\n"
               "    optimizer = SGD(lr=0.01)\n    epochs = 1\n}\n", good);
    fclose(f);
    ck_assert_int_eq(run(b, &err), 1);
    ck_assert_msg(strstr(err, "dup.tg:1:11: error: the standalone trainer feeds the model images, (B, C, H, W); "
                              "this input is f32[4, 64]"), "%s", err);
}
END_TEST

/* A file that would take more memory than the ceiling: a clear error, not a machine swapping.
 * (Not under the sanitizers, which reserve their shadow memory up front: tgc sets no ceiling.) */
START_TEST(test_memory_ceiling) {
    const char *san = getenv("TGC_SANITIZED");
    if (san && *san && strcmp(san, "none"))
        return;
    char *err, *tg = path("big.tg");
    FILE *f = fopen(tg, "w");
    fputs("program p {\n    x = torch.tensor([", f);
    for (int i = 0; i < 400000; i++)
        fputs("1.5, ", f);
    fputs("2.5])\n    print(x.sum())\n}\n", f);
    fclose(f);
    char *argv[] = {(char *)tgc, "compile", tg, "-o", path("big.c"), "--max-memory", "0.3", NULL};
    ck_assert_int_eq(run(argv, &err), 1);
    ck_assert_msg(strstr(err, "tgc: error: out of memory: the compile needs more than 0.3 GiB (--max-memory raises "
                              "the limit)"), "%s", err);
    ck_assert_int_eq(access(path("big.c"), F_OK), -1);
}
END_TEST

int main(void) {
    tgc = getenv("TGC");
    if (!tgc) {
        fprintf(stderr, "test_hostile: run through meson test\n");
        return 1;
    }
    strcpy(tmp, "/tmp/tgc-hostile-XXXXXX");
    if (!mkdtemp(tmp))
        return 1;
    good = data_dir("data%s%n", 16, 8);
    build_trainer();
    ck = path("ck.safetensors");
    char *err, *argv[] = {bin, "--limit", "3", "--test-limit", "4", "--save", ck, NULL};
    if (run(argv, &err) != 0) {
        fprintf(stderr, "test_hostile: the good run failed:\n%s", err);
        return 1;
    }
    Suite *s = suite_create("hostile");
    TCase *tc = tcase_create("hostile");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_bad_data);
    tcase_add_test(tc, test_crafted_checkpoints);
    tcase_add_test(tc, test_options);
    tcase_add_test(tc, test_lost_writes);
    tcase_add_test(tc, test_diverging_run_stops);
    tcase_add_test(tc, test_hostile_strings);
    tcase_add_test(tc, test_safe_writes);
    tcase_add_test(tc, test_train_block_shapes);
    tcase_add_test(tc, test_memory_ceiling);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    if (!failed) {
        char *rm[] = {"/bin/rm", "-rf", tmp, NULL};
        run(rm, NULL);
    }
    return failed ? 1 : 0;
}
