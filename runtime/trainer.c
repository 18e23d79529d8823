/*
 * trainer.c: the standalone trainer of a train block, model-independent. The generated file
 * describes its model (TgTrainer: the batch and image shape, the classes, the data set, the
 * defaults, the step and predict functions, the tensor table) and its main calls
 * tg_trainer_main. Here: the options (--data, --epochs, --lr, --limit, --csv, --grid, --save,
 * --resume, --load, ...), the epochs with the blitz's log lines, checkpoints that resume bit for
 * bit (the tensors, the position and the shuffle generator), and the blitz's evaluation.
 *
 * This is the part of a trainer that may allocate and print; the step and predict it calls do
 * neither. A device (CUDA) is the description's start, push and pull.
 */
#define _POSIX_C_SOURCE 200809L /* fseeko, ftello, isatty, fileno, sysconf */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tgrt.h"

/* the "format" metadata of a trainer's checkpoint */
#define CHECKPOINT_FORMAT "tgc-trainer-1"
enum { RNG_TEXT = 624 * 8 + 64 }; /* the generator's 624 words in hex, its position and normal */

static void usage(const TgTrainer *t, const char *argv0) {
    printf("usage: %s [options]\n"
           "Trains %s as its .tg train block says, then reports test accuracy.\n",
           argv0, t->name);
    printf("  --data DIR     where the %s files are (default %s)\n", t->data_kind, t->data_dir);
    printf("  --epochs N     passes over the training set (default %lld)\n", t->epochs);
    printf("  --seed N       seed of initialization and shuffling (default %lld)\n", t->seed);
    printf("  --lr X         the optimizer's learning rate (default: the .tg file's)\n"
           "  --threads N    OpenMP threads (default: OMP_NUM_THREADS or all cores: on an idle machine\n"
           "                 all cores were fastest for LeNet at every batch size, bench/RESULTS.md)\n"
           "  --limit N      stop after N batches (a quick check)\n"
           "  --test-limit N evaluate on the first N test images only\n"
           "  --csv FILE     write every batch's loss as CSV (epoch,batch,loss); appended to on --resume\n"
           "  --grid FILE    write the first test batch as a PNG image grid, and print its\n"
           "                 GroundTruth and Predicted lines as the blitz does\n"
           "  --save FILE    checkpoint (.safetensors) every --save-every batches (default: log_every)\n"
           "                 and at the end of each epoch, written atomically\n"
           "  --resume FILE  continue from a checkpoint exactly where it was taken\n"
           "  --allow-nan    go on when a batch's loss is nan or inf (by default the run stops there)\n"
           "  --load FILE    start from the model's tensors in a checkpoint or an exported state_dict\n"
           "                 (.safetensors; parameters and batch-norm statistics; optimizer state and\n"
           "                 position start afresh)\n");
    printf("The batch size (%d), the input shape (%dx%dx%d), the loss and the optimizer are\n"
           "compiled in; change them in the .tg file and compile again.\n",
           t->batch, t->c, t->h, t->w);
}

/* An option's non-negative whole number, or a message and exit status 2. */
static long long number(const TgTrainer *t, const char *flag, const char *v) {
    char *end;
    errno = 0;
    long long n = strtoll(v ? v : "", &end, 10);
    if (!v || !*v || *end || n < 0 || errno == ERANGE) {
        fprintf(stderr, "%s: %s needs a non-negative number%s\n", t->prog, flag, errno == ERANGE ? " (that one is too large)" : "");
        exit(2);
    }
    return n;
}

/* How many threads this machine runs at once. */
static long cpus(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? n : 1;
}

/* The arena's tensors as a checkpoint names them (params_only: the model's alone); their count. */
static int named(const TgTrainer *t, void *arena, int params_only, TgNamedTensor *out) {
    int n = 0;
    for (int i = 0; i < t->ntensors; i++)
        if (!params_only || t->tensors[i].model)
            out[n++] = (TgNamedTensor){t->tensors[i].name, t->tensors[i].dtype, t->tensors[i].rank,
                                       t->tensors[i].shape, (unsigned char *)arena + t->tensors[i].offset};
    return n;
}

static const char *const checkpoint_keys[] = {"format", "epoch", "batch", "done", "running_loss", "shuffle_rng"};

/* A checkpoint holds everything a bit-identical resume needs: the tensors (parameters under
   PyTorch's state_dict names, optimizer state, the step count) and, as metadata, the epoch, the
   next batch, the batches done, the running loss and the shuffle generator's state at the start
   of the epoch. */
static int write_checkpoint(const TgTrainer *t, const char *path, void *arena, TgNamedTensor *tensors,
                            const TgRng *rng, long long epoch, long long batch, long long done, double running) {
    int n = named(t, arena, 0, tensors);
    char rngtext[RNG_TEXT];
    int o = 0;
    for (int i = 0; i < 624; i++)
        o += snprintf(rngtext + o, sizeof rngtext - (size_t)o, "%08x", (unsigned)rng->state[i]);
    snprintf(rngtext + o, sizeof rngtext - (size_t)o, " %d %d %a", rng->next, rng->has_normal, rng->normal);
    char e[32], b[32], d[32], r[64];
    snprintf(e, sizeof e, "%lld", epoch);
    snprintf(b, sizeof b, "%lld", batch);
    snprintf(d, sizeof d, "%lld", done);
    snprintf(r, sizeof r, "%a", running);
    const char *values[] = {CHECKPOINT_FORMAT, e, b, d, r, rngtext};
    char err[1024];
    if (tg_save_safetensors(path, tensors, n, checkpoint_keys, values, 6, err, sizeof err)) {
        fprintf(stderr, "%s: %s\n", t->prog, err);
        return 1;
    }
    return 0;
}

/* A whole number that is all of text, in [lo, hi]. */
static bool whole(const char *text, long long lo, long long hi, long long *out) {
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (end == text || *end || errno == ERANGE || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

/* The generator's state as write_checkpoint wrote it: 624 words of 8 hex digits, then its
 * position (0 to 624), whether a normal is kept (0 or 1) and that normal (finite). */
static bool parse_rng(const char *text, TgRng *rng) {
    if (strlen(text) < 624 * 8)
        return false;
    for (int i = 0; i < 624; i++) {
        uint32_t w = 0;
        for (int k = 0; k < 8; k++) {
            char c = text[8 * i + k];
            int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
            if (d < 0)
                return false;
            w = w << 4 | (uint32_t)d;
        }
        rng->state[i] = w;
    }
    char word[3][32];
    if (sscanf(text + 624 * 8, " %31s %31s %31s", word[0], word[1], word[2]) != 3)
        return false;
    long long next, has;
    char *end;
    double normal = strtod(word[2], &end);
    if (!whole(word[0], 0, 624, &next) || !whole(word[1], 0, 1, &has) || *end || !isfinite(normal))
        return false;
    rng->next = (int)next;
    rng->has_normal = (int)has;
    rng->normal = normal;
    return true;
}

/* The checkpoint's tensors into the arena; with its position and generator unless params_only.
 * Every field is checked before it is used: a crafted file is an error, never a crash. */
static int read_checkpoint(const TgTrainer *t, const char *path, void *arena, TgNamedTensor *tensors,
                           int params_only, int64_t batches, TgRng *rng, long long *epoch, long long *batch,
                           long long *done, double *running) {
    int n = named(t, arena, params_only, tensors);
    static char v[6][RNG_TEXT];
    char *values[6] = {v[0], v[1], v[2], v[3], v[4], v[5]};
    char err[1024];
    /* --resume: exactly this trainer's tensors; --load: the model's, from a checkpoint or a state_dict */
    if (params_only ? tg_load_safetensors(path, tensors, n, checkpoint_keys, values, 6, sizeof v[0], err, sizeof err)
                    : tg_load_exact_safetensors(path, tensors, n, checkpoint_keys, values, 6, sizeof v[0], err,
                                                sizeof err)) {
        fprintf(stderr, "%s: %s\n", t->prog, err);
        return 1;
    }
    if (params_only)
        return 0;
    if (strcmp(v[0], CHECKPOINT_FORMAT)) {
        fprintf(stderr, "%s: %s: not a checkpoint of this trainer (no position or generator state)\n", t->prog, path);
        return 1;
    }
    static const char *const field[6] = {"format", "epoch", "batch", "done", "running_loss", "shuffle_rng"};
    int bad = 0;
    char *end;
    TgRng r;
    if (!whole(v[1], 0, LLONG_MAX / 2, epoch))
        bad = 1;
    else if (!whole(v[2], 0, batches - 1, batch))
        bad = 2;
    else if (!whole(v[3], 0, LLONG_MAX / 2, done))
        bad = 3;
    else if ((*running = strtod(v[4], &end), end == v[4] || *end || !isfinite(*running)))
        bad = 4;
    else if (!parse_rng(v[5], &r))
        bad = 5;
    if (bad) {
        fprintf(stderr, "%s: %s: the checkpoint's %s is not valid for this trainer ('%.40s%s')\n", t->prog, path,
                field[bad], v[bad], strlen(v[bad]) > 40 ? "..." : "");
        return 1;
    }
    *rng = r;
    return 0;
}

/* The class predict scores highest for image i of a batch of logits. */
static int best_class(const TgTrainer *t, const float *logits, int64_t i) {
    int best = 0;
    for (int k = 1; k < t->classes; k++)
        if (logits[i * t->classes + k] > logits[i * t->classes + best])
            best = k;
    return best;
}

/* The blitz's imshow(make_grid(images)): the first test batch in a row, 2 pixels apart, and its
   GroundTruth and Predicted lines. */
static int write_grid(const TgTrainer *t, const char *path, const TgDataset *d, const int64_t *y,
                      const float *logits) {
    const int pad = t->pad, s = d->h + 2 * pad, n = t->batch < 8 ? t->batch : 8, W = n * (s + 2) + 2, H = s + 4;
    unsigned char *rgb = calloc((size_t)W * (size_t)H, 3);
    char err[512];
    if (!rgb)
        return 1;
    for (int i = 0; i < n; i++)
        for (int r = 0; r < s; r++)
            for (int q = 0; q < s; q++)
                for (int ch = 0; ch < 3; ch++) {
                    int sr = r - pad, sq = q - pad, sc = d->c == 3 ? ch : 0;
                    unsigned char p = sr < 0 || sq < 0 || sr >= d->h || sq >= d->w ? 0 :
                        d->images[(((size_t)i * (size_t)d->c + (size_t)sc) * (size_t)d->h + (size_t)sr) * (size_t)d->w + (size_t)sq];
                    rgb[(((size_t)r + 2) * (size_t)W + (size_t)(i * (s + 2) + 2 + q)) * 3 + (size_t)ch] = p;
                }
    int rc = tg_write_png(path, rgb, W, H, err, sizeof err);
    free(rgb);
    if (rc) {
        fprintf(stderr, "%s: %s\n", t->prog, err);
        return 1;
    }
    printf("GroundTruth: ");
    for (int i = 0; i < t->batch; i++)
        printf(" %-5s", t->class_names[y[i]]);
    printf("\nPredicted: ");
    for (int i = 0; i < t->batch; i++)
        printf(" %-5s", t->class_names[best_class(t, logits, i)]);
    printf("\n");
    return 0;
}

/* What main holds: the options, then the data and memory. */
typedef struct {
    const char *data, *csv, *grid, *save, *resume, *load;
    long long epochs, seed, limit, test_limit, save_every;
    double lr; /* 0: the optimizer's own (compiled in, or from a resumed checkpoint) */
    bool allow_nan;
} Options;

/* The options that take a value (a path or a number): said when the value is missing. */
static const char *const with_value[] = {"--data", "--csv", "--grid", "--save", "--resume", "--load", "--lr",
                                         "--epochs", "--seed", "--limit", "--test-limit", "--save-every",
                                         "--threads"};

/* The options of argv over the compiled-in defaults: 0, or the exit status (after --help: 0 by -1). */
static int parse(const TgTrainer *t, int argc, char **argv, Options *o) {
    *o = (Options){t->data_dir, NULL, NULL, t->save, NULL, NULL, t->epochs, t->seed, -1, -1, t->log_every, 0, false};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        for (size_t k = 0; !v && k < sizeof with_value / sizeof with_value[0]; k++)
            if (!strcmp(a, with_value[k])) {
                fprintf(stderr, "%s: %s needs a value (see --help)\n", t->prog, a);
                return 2;
            }
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(t, argv[0]);
            return -1;
        } else if (!strcmp(a, "--data") && v)
            o->data = argv[++i];
        else if (!strcmp(a, "--csv") && v)
            o->csv = argv[++i];
        else if (!strcmp(a, "--grid") && v)
            o->grid = argv[++i];
        else if (!strcmp(a, "--save") && v)
            o->save = argv[++i];
        else if (!strcmp(a, "--resume") && v)
            o->resume = argv[++i];
        else if (!strcmp(a, "--load") && v)
            o->load = argv[++i];
        else if (!strcmp(a, "--save-every"))
            o->save_every = number(t, a, v), i++;
        else if (!strcmp(a, "--lr") && v) {
            char *end;
            o->lr = strtod(argv[++i], &end);
            if (*end || !(o->lr > 0) || !isfinite(o->lr)) {
                fprintf(stderr, "%s: --lr needs a positive finite number\n", t->prog);
                return 2;
            }
        } else if (!strcmp(a, "--allow-nan"))
            o->allow_nan = true;
        else if (!strcmp(a, "--epochs"))
            o->epochs = number(t, a, v), i++;
        else if (!strcmp(a, "--seed"))
            o->seed = number(t, a, v), i++;
        else if (!strcmp(a, "--limit"))
            o->limit = number(t, a, v), i++;
        else if (!strcmp(a, "--test-limit"))
            o->test_limit = number(t, a, v), i++;
        else if (!strcmp(a, "--threads")) {
            long long n = number(t, a, v);
            i++;
            if (n > cpus()) {
                fprintf(stderr, "%s: --threads %lld: this machine runs %ld threads at once; using %ld\n", t->prog, n,
                        cpus(), cpus());
                n = cpus();
            }
            if (n > 0 && t->threads)
                t->threads((int)n);
        } else {
            fprintf(stderr, "%s: unknown option '%s' (see --help)\n", t->prog, a);
            return 2;
        }
    }
    /* one file given as two of them: the CSV would be written into a checkpoint, a checkpoint
     * renamed over the picture */
    const char *files[5] = {o->csv, o->grid, o->save, o->resume, o->load};
    static const char *const flag[5] = {"--csv", "--grid", "--save", "--resume", "--load"};
    for (int i = 0; i < 2; i++)
        for (int j = i + 1; j < 5; j++)
            if (files[i] && files[j] && (!strcmp(files[i], files[j]) || tg_same_file(files[i], files[j]))) {
                fprintf(stderr, "%s: %s and %s name one file (%s)\n", t->prog, flag[i], flag[j], files[i]);
                return 2;
            }
    return 0;
}

/* The evaluation, as the blitz's: total and per-class accuracy on the first n test images. */
static int evaluate(const TgTrainer *t, const Options *o, const TgDataset *test, void *arena, float *x,
                    int64_t *y, float *logits, int64_t *order) {
    long long correct = 0, total = 0;
    long long *class_correct = calloc((size_t)t->classes, sizeof *class_correct);
    long long *class_total = calloc((size_t)t->classes, sizeof *class_total);
    if (!class_correct || !class_total) {
        fprintf(stderr, "%s: out of memory\n", t->prog);
        free(class_correct);
        free(class_total);
        return 1;
    }
    const int64_t n = o->test_limit >= 0 && o->test_limit < test->n ? o->test_limit : test->n;
    for (int64_t i = 0; i < test->n; i++)
        order[i] = i;
    int rc = 0;
    for (int64_t first = 0; first < n && !rc; first += t->batch) {
        tg_dataset_batch(test, order, first, t->batch, t->pad, t->mean, t->stdev, x, y);
        t->predict(arena, x, logits);
        if (o->grid && first == 0 && write_grid(t, o->grid, test, y, logits)) {
            rc = 1;
            break;
        }
        for (int64_t j = 0; j < t->batch && first + j < n; j++) {
            int best = best_class(t, logits, j);
            total++;
            class_total[y[j]]++;
            if (best == y[j]) {
                correct++;
                class_correct[y[j]]++;
            }
        }
    }
    if (!rc) {
        printf("Accuracy of the network on the %lld test images: %lld %%\n", total, total ? 100 * correct / total : 0);
        for (int k = 0; k < t->classes; k++)
            if (class_total[k])
                printf("Accuracy for class: %-5s is %.1f %%\n", t->class_names[k],
                       100 * (double)class_correct[k] / (double)class_total[k]);
    }
    free(class_correct);
    free(class_total);
    return rc;
}

/* Both splits must be what the model takes: a test set of other images would be read past its
 * end (or give a wrong accuracy), and labels past the classes would index past the counts. */
static int check_split(const TgTrainer *t, const TgDataset *d, const char *split, const char *dir) {
    if (d->c == t->c && d->h + 2 * t->pad == t->h && d->w + 2 * t->pad == t->w && d->nclasses <= t->classes)
        return 0;
    fprintf(stderr, "%s: %s: the %s images are %dx%dx%d (+%d padding) of %d classes; the model takes %dx%dx%d and %d "
            "classes\n", t->prog, dir, split, d->c, d->h, d->w, 2 * t->pad, d->nclasses, t->c, t->h, t->w, t->classes);
    return 1;
}

/* A lost line of the CSV is an error, not a short file. */
static int csv_check(const TgTrainer *t, FILE *f, const char *path) {
    if (f && (fflush(f) != 0 || ferror(f))) {
        fprintf(stderr, "%s: cannot write %s: %s\n", t->prog, path, strerror(errno));
        return 1;
    }
    return 0;
}

int tg_trainer_main(const TgTrainer *t, int argc, char **argv) {
    Options o;
    int rc = parse(t, argc, argv, &o);
    if (rc)
        return rc < 0 ? 0 : rc;
    if (tg_check_omp_stacksize(t->prog))
        return 2;
    char err[1024];
    if (t->start && t->start(err, sizeof err)) { /* before the data: a machine without a GPU says so at once */
        fprintf(stderr, "%s: %s\n", t->prog, err);
        return 1;
    }
    TgDataset train = {0}, test = {0};
    if (tg_load_dataset(t->data_kind, o.data, 1, &train, err, sizeof err) ||
        tg_load_dataset(t->data_kind, o.data, 0, &test, err, sizeof err)) {
        fprintf(stderr, "%s: %s\n", t->prog, err);
        tg_dataset_free(&train);
        return 1;
    }
    const int64_t batches = train.n / t->batch; /* the last partial batch is dropped: the batch size is compiled in */
    if (check_split(t, &train, "training", o.data) || check_split(t, &test, "test", o.data)) {
        rc = 1;
        goto data;
    }
    if (batches == 0) {
        fprintf(stderr, "%s: %s: the training set has %lld images, fewer than one batch of %d: nothing to train\n",
                t->prog, o.data, (long long)train.n, t->batch);
        rc = 1;
        goto data;
    }
    size_t xn = (size_t)t->batch * (size_t)t->c * (size_t)t->h * (size_t)t->w;
    unsigned char *raw = malloc(t->arena_bytes + 64);
    float *x = malloc(sizeof(float) * xn), *logits = malloc(sizeof(float) * (size_t)t->batch * (size_t)t->classes);
    int64_t *y = malloc(sizeof(int64_t) * (size_t)t->batch), *order = malloc(sizeof(int64_t) * (size_t)(train.n + test.n));
    TgNamedTensor *tensors = malloc(sizeof(TgNamedTensor) * (size_t)(t->ntensors ? t->ntensors : 1));
    FILE *csvf = NULL;
    if (!raw || !x || !logits || !y || !order || !tensors) {
        fprintf(stderr, "%s: out of memory\n", t->prog);
        rc = 1;
        goto done;
    }
    void *arena = raw + (64 - (size_t)((uintptr_t)raw % 64));
    t->init(arena, (uint64_t)o.seed);
    TgRng shuffle_rng, epoch_rng;
    tg_rng_seed(&shuffle_rng, (uint64_t)o.seed + 1);
    long long done = 0, first_epoch = 0, first_batch = 0;
    double running = 0;
    const int tty = isatty(fileno(stdout));
    if ((o.resume || o.load) && read_checkpoint(t, o.resume ? o.resume : o.load, arena, tensors, !o.resume, batches,
                                                &shuffle_rng, &first_epoch, &first_batch, &done, &running)) {
        rc = 1;
        goto done;
    }
    /* the CSV only once the checkpoint is read: a failed --resume leaves it as it was; a resumed
     * run appends to it */
    csvf = o.csv ? fopen(o.csv, o.resume ? "a" : "w") : NULL;
    if (o.csv && !csvf) {
        fprintf(stderr, "%s: cannot write %s: %s\n", t->prog, o.csv, strerror(errno));
        rc = 1;
        goto done;
    }
    if (csvf && fseeko(csvf, 0, SEEK_END) == 0 && ftello(csvf) == 0)
        fprintf(csvf, "epoch,batch,loss\n");
    for (int i = 0; o.lr > 0 && i < t->ntensors; i++)
        if (!strcmp(t->tensors[i].name, "lr"))
            *(double *)((unsigned char *)arena + t->tensors[i].offset) = o.lr;
    if (t->push)
        t->push(arena); /* parameters and optimizer state to the device */
    long long steps = 0; /* in this run */
    for (long long epoch = first_epoch; epoch < o.epochs && (o.limit < 0 || done < o.limit); epoch++) {
        for (int64_t i = 0; i < train.n; i++)
            order[i] = i;
        epoch_rng = shuffle_rng; /* a checkpoint keeps the state that made this epoch's order */
        if (t->shuffle)
            tg_shuffle(&shuffle_rng, order, train.n);
        for (int64_t b = epoch == first_epoch ? first_batch : 0; b < batches && (o.limit < 0 || done < o.limit); b++) {
            tg_dataset_batch(&train, order, b * t->batch, t->batch, t->pad, t->mean, t->stdev, x, y);
            float loss = t->train_step(arena, x, y);
            if (!isfinite(loss) && !o.allow_nan) {
                fprintf(stderr, "%s: the loss is %s at epoch %lld, batch %lld (step %lld): training diverged; lower "
                        "--lr, or pass --allow-nan to go on\n", t->prog, isnan(loss) ? "nan" : "inf", epoch + 1,
                        (long long)b + 1, done + 1);
                rc = 1;
                goto done;
            }
            running += loss;
            done++;
            steps++;
            if (csvf)
                fprintf(csvf, "%lld,%lld,%.9g\n", epoch + 1, (long long)b + 1, (double)loss);
            if (tty && (b + 1) % 50 == 0) { /* a progress line on terminals, overwritten in place */
                printf("\r[%lld, %5lld/%lld]", epoch + 1, (long long)b + 1, (long long)batches);
                fflush(stdout);
            }
            if ((b + 1) % t->log_every == 0) {
                printf("%s[%lld, %5lld] loss: %.3f\n", tty ? "\r\033[K" : "", epoch + 1, (long long)b + 1,
                       running / (double)t->log_every);
                fflush(stdout);
                running = 0;
            }
            bool last = b + 1 == batches, stop = o.limit >= 0 && done >= o.limit;
            /* where the next batch is: the start of the next epoch after the last one; a run that
             * --limit ends saves where it stopped */
            if (o.save && (last || stop || (o.save_every > 0 && (b + 1) % o.save_every == 0))) {
                if (csv_check(t, csvf, o.csv)) {
                    rc = 1;
                    goto done;
                }
                if (t->pull)
                    t->pull(arena); /* the device's parameters and state, for the checkpoint */
                if (write_checkpoint(t, o.save, arena, tensors, last ? &shuffle_rng : &epoch_rng,
                                     last ? epoch + 1 : epoch, last ? 0 : b + 1, done, last ? 0 : running)) {
                    rc = 1;
                    goto done;
                }
            }
        }
        running = 0;
    }
    printf("%sFinished Training\n", tty ? "\r\033[K" : "");
    if (!steps)
        fprintf(stderr, "%s: trained no step: %s\n", t->prog,
                o.limit == 0 ? "--limit is 0" : o.epochs == 0 ? "--epochs is 0"
                : o.limit >= 0 && done >= o.limit ? "the checkpoint has done --limit batches already"
                : "the checkpoint is at the end of the last epoch (raise --epochs)");
    rc = evaluate(t, &o, &test, arena, x, y, logits, order);
done:
    if (csvf) {
        if (csv_check(t, csvf, o.csv))
            rc = 1;
        if (fclose(csvf) != 0 && !rc) {
            fprintf(stderr, "%s: cannot write %s: %s\n", t->prog, o.csv, strerror(errno));
            rc = 1;
        }
    }
    free(raw);
    free(x);
    free(logits);
    free(y);
    free(order);
    free(tensors);
data:
    tg_dataset_free(&train);
    tg_dataset_free(&test);
    if (fflush(stdout) != 0 || ferror(stdout)) { /* the log and the report were lost: not a success */
        fprintf(stderr, "%s: cannot write the output: %s\n", t->prog, strerror(errno));
        rc = rc ? rc : 1;
    }
    return rc;
}
