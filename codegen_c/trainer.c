/*
 * trainer.c: the standalone trainer a train block with predict compiles to (its main, behind
 * TGC_NO_MAIN): the blitz's training loop with its log lines, options (--data, --epochs, --lr,
 * --limit, --csv, --grid, ...), checkpoints that resume bit for bit, and the blitz's evaluation.
 * It is host code for every backend; a device's start and copies are the backend's hooks.
 */
#include "emit.h"

#include <stdlib.h>
#include <string.h>

/* What the trainer's code is written from. */
typedef struct {
    const TrainConfig *c; /* the train block's settings: data, epochs, classes, ... */
    const char *name;     /* the train block's */
    const char *prefix;
    int64_t B, C, H, W;   /* a batch of images (B, C, H, W) */
    int64_t K;            /* classes: predict's output is (B, K) */
} Trainer;

/* write_checkpoint / read_checkpoint of the generated trainer: every tensor of PREFIX_tensors
   (parameters, optimizer state, the step count) plus the position and generator in metadata. */
static void emit_checkpoint_helpers(const char *pf) {
    P("/* A checkpoint holds everything a bit-identical resume needs: the tensors (parameters under\n"
      "   PyTorch's state_dict names, optimizer state, the step count) and, as metadata, the epoch,\n"
      "   the next batch, the batches done, the running loss and the shuffle generator's state at the\n"
      "   start of the epoch. */\n");
    P("static int write_checkpoint(const char *path, void *arena, const TgRng *rng, long long epoch, long long batch,\n"
      "                            long long done, double running) {\n");
    P("    TgNamedTensor t[%s_ntensors_max];\n", cg_upper(pf));
    P("    for (int i = 0; i < %s_ntensors; i++)\n", pf);
    P("        t[i] = (TgNamedTensor){%s_tensors[i].name, %s_tensors[i].dtype, %s_tensors[i].rank, %s_tensors[i].shape,\n"
      "                               (unsigned char *)arena + %s_tensors[i].offset};\n", pf, pf, pf, pf, pf);
    P("    static char rngtext[624 * 8 + 64];\n    int o = 0;\n");
    P("    for (int i = 0; i < 624; i++)\n        o += snprintf(rngtext + o, sizeof rngtext - (size_t)o, \"%%08x\", (unsigned)rng->state[i]);\n");
    P("    snprintf(rngtext + o, sizeof rngtext - (size_t)o, \" %%d %%d %%a\", rng->next, rng->has_normal, rng->normal);\n");
    P("    char e[32], b[32], d[32], r[64];\n");
    P("    snprintf(e, sizeof e, \"%%lld\", epoch);\n    snprintf(b, sizeof b, \"%%lld\", batch);\n");
    P("    snprintf(d, sizeof d, \"%%lld\", done);\n    snprintf(r, sizeof r, \"%%a\", running);\n");
    P("    const char *keys[] = {\"format\", \"epoch\", \"batch\", \"done\", \"running_loss\", \"shuffle_rng\"};\n");
    P("    const char *values[] = {\"tgc-trainer-1\", e, b, d, r, rngtext};\n");
    P("    char err[1024];\n");
    P("    if (tg_save_safetensors(path, t, %s_ntensors, keys, values, 6, err, sizeof err)) {\n", pf);
    P("        fprintf(stderr, \"%s: %%s\\n\", err);\n        return 1;\n    }\n    return 0;\n}\n\n", pf);
    P("static int read_checkpoint(const char *path, void *arena, int params_only, TgRng *rng, long long *epoch,\n"
      "                           long long *batch, long long *done, double *running) {\n");
    P("    TgNamedTensor t[%s_ntensors_max];\n    int n = 0;\n", cg_upper(pf));
    P("    for (int i = 0; i < %s_ntensors; i++)\n        if (!params_only || %s_tensors[i].model)\n", pf, pf);
    P("            t[n++] = (TgNamedTensor){%s_tensors[i].name, %s_tensors[i].dtype, %s_tensors[i].rank,\n"
      "                                     %s_tensors[i].shape, (unsigned char *)arena + %s_tensors[i].offset};\n", pf, pf, pf, pf, pf);
    P("    static char v[6][624 * 8 + 64];\n    char *values[6] = {v[0], v[1], v[2], v[3], v[4], v[5]};\n");
    P("    const char *keys[] = {\"format\", \"epoch\", \"batch\", \"done\", \"running_loss\", \"shuffle_rng\"};\n");
    P("    char err[1024];\n");
    P("    if (tg_load_safetensors(path, t, n, keys, values, 6, sizeof v[0], err, sizeof err)) {\n");
    P("        fprintf(stderr, \"%s: %%s\\n\", err);\n        return 1;\n    }\n", pf);
    P("    if (params_only)\n        return 0;\n");
    P("    if (strcmp(v[0], \"tgc-trainer-1\") || strlen(v[5]) < 624 * 8) {\n");
    P("        fprintf(stderr, \"%s: %%s: not a checkpoint of this trainer (no position or generator state)\\n\", path);\n        return 1;\n    }\n", pf);
    P("    for (int i = 0; i < 624; i++) {\n        char word[9];\n        memcpy(word, v[5] + 8 * i, 8);\n        word[8] = 0;\n");
    P("        rng->state[i] = (uint32_t)strtoul(word, NULL, 16);\n    }\n");
    P("    char *rest = v[5] + 624 * 8;\n    rng->next = (int)strtol(rest, &rest, 10);\n");
    P("    rng->has_normal = (int)strtol(rest, &rest, 10);\n    rng->normal = strtod(rest, NULL);\n");
    P("    *epoch = atoll(v[1]);\n    *batch = atoll(v[2]);\n    *done = atoll(v[3]);\n    *running = strtod(v[4], NULL);\n");
    P("    return 0;\n}\n\n");
}

/* A C string literal for text that came from the user. */
static const char *cstr(const char *s) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    FILE *saved = cg.out;
    cg.out = f;
    cg_c_string(s, strlen(s));
    cg.out = saved;
    fclose(f);
    char *r = ir_strndup(buf, len);
    free(buf);
    return r;
}

/* The trainer's includes, and the names of the classes, as the data set has them. */
static void emit_class_names(const Trainer *tr) {
    const TrainConfig *c = tr->c;
    P("\n/* ---- the trainer ---- */\n\n#ifndef TGC_NO_MAIN\n#include <stdbool.h>\n#include <stdlib.h>\n#include <unistd.h>\n#ifdef _OPENMP\n#include <omp.h>\n#endif\n\n");
    P("/* a batch of the training step, and the classes predict scores */\nenum { BATCH = %s_BATCH, CLASSES = %lld };\n\n",
      cg_upper(tr->prefix), (long long)tr->K);
    P("static const char *const class_names[] = {");
    for (int i = 0; i < tr->K; i++)
        P("%s%s", i ? ", " : "", i < c->nclasses ? cstr(c->classes[i]) : cstr(ir_fmt("%d", i)));
    P("};\n\n");
}

/* usage(), with the compiled-in defaults, and number(), which reads an option's value. */
static void emit_usage(const Trainer *tr) {
    const TrainConfig *c = tr->c;
    const char *prefix = tr->prefix;
    P("static void usage(const char *argv0) {\n");
    P("    printf(\"usage: %%s [options]\\n\"\n");
    P("           \"Trains %s as its .tg train block says, then reports test accuracy.\\n\"\n", cg_comment_safe(tr->name));
    P("           \"  --data DIR     where the %s files are (default %s)\\n\"\n", c->data_kind, cg_comment_safe(c->data_dir));
    P("           \"  --epochs N     passes over the training set (default %lld)\\n\"\n", (long long)c->epochs);
    P("           \"  --seed N       seed of initialization and shuffling (default %lld)\\n\"\n", (long long)c->seed);
    P("           \"  --lr X         the optimizer's learning rate (default: the .tg file's)\\n\"\n");
    P("           \"  --threads N    OpenMP threads (default: OMP_NUM_THREADS or all cores: on an idle machine\\n\"\n");
    P("           \"                 all cores were fastest for LeNet at every batch size, bench/RESULTS.md)\\n\"\n");
    P("           \"  --limit N      stop after N batches (a quick check)\\n\"\n");
    P("           \"  --test-limit N evaluate on the first N test images only\\n\"\n");
    P("           \"  --csv FILE     write every batch's loss as CSV (epoch,batch,loss)\\n\"\n");
    P("           \"  --grid FILE    write the first test batch as a PNG image grid, and print its\\n\"\n"
      "           \"                 GroundTruth and Predicted lines as the blitz does\\n\"\n");
    P("           \"  --save FILE    checkpoint (.safetensors) every --save-every batches (default: log_every)\\n\"\n"
      "           \"                 and at the end of each epoch, written atomically\\n\"\n"
      "           \"  --resume FILE  continue from a checkpoint exactly where it was taken\\n\"\n"
      "           \"  --load FILE    start from the model's tensors in a checkpoint or an exported state_dict\\n\"\n"
      "           \"                 (.safetensors; parameters and batch-norm statistics; optimizer state and\\n\"\n"
      "           \"                 position start afresh)\\n\"\n");
    P("           \"The batch size (%lld), the input shape (%lldx%lldx%lld), the loss and the optimizer are\\n\"\n",
      (long long)tr->B, (long long)tr->C, (long long)tr->H, (long long)tr->W);
    P("           \"compiled in; change them in the .tg file and compile again.\\n\", argv0);\n}\n\n");
    P("static long long number(const char *flag, const char *v) {\n    char *end;\n    long long n = strtoll(v ? v : \"\", &end, 10);\n");
    P("    if (!v || *end || n < 0) {\n        fprintf(stderr, \"%s: %%s needs a non-negative number\\n\", flag);\n        exit(2);\n    }\n    return n;\n}\n\n", prefix);
}

/* write_grid(), which --grid calls. */
static void emit_write_grid(const Trainer *tr) {
    const char *prefix = tr->prefix;
    P("/* The blitz's imshow(make_grid(images)): the first test batch in a row, 2 pixels apart, and its\n"
      "   GroundTruth and Predicted lines. */\n");
    P("static int write_grid(const char *path, const TgDataset *d, int pad, const int64_t *y, const float *logits) {\n");
    P("    const int s = d->h + 2 * pad, n = BATCH < 8 ? BATCH : 8, W = n * (s + 2) + 2, H = s + 4;\n");
    P("    unsigned char *rgb = calloc((size_t)W * (size_t)H, 3);\n    char err[512];\n");
    P("    if (!rgb)\n        return 1;\n");
    P("    for (int i = 0; i < n; i++)\n        for (int r = 0; r < s; r++)\n            for (int q = 0; q < s; q++)\n");
    P("                for (int ch = 0; ch < 3; ch++) {\n");
    P("                    int sr = r - pad, sq = q - pad, sc = d->c == 3 ? ch : 0;\n");
    P("                    unsigned char p = sr < 0 || sq < 0 || sr >= d->h || sq >= d->w ? 0 :\n");
    P("                        d->images[(((size_t)i * (size_t)d->c + (size_t)sc) * (size_t)d->h + (size_t)sr) * (size_t)d->w + (size_t)sq];\n");
    P("                    rgb[(((size_t)r + 2) * (size_t)W + (size_t)(i * (s + 2) + 2 + q)) * 3 + (size_t)ch] = p;\n                }\n");
    P("    int rc = tg_write_png(path, rgb, W, H, err, sizeof err);\n    free(rgb);\n");
    P("    if (rc) {\n        fprintf(stderr, \"%s: %%s\\n\", err);\n        return 1;\n    }\n", prefix);
    P("    printf(\"GroundTruth: \");\n    for (int i = 0; i < BATCH; i++)\n        printf(\" %%-5s\", class_names[y[i]]);\n");
    P("    printf(\"\\nPredicted: \");\n    for (int i = 0; i < BATCH; i++) {\n        int best = 0;\n");
    P("        for (int k = 1; k < CLASSES; k++)\n            if (logits[i * CLASSES + k] > logits[i * CLASSES + best])\n                best = k;\n");
    P("        printf(\" %%-5s\", class_names[best]);\n    }\n    printf(\"\\n\");\n    return 0;\n}\n\n");
}

/* main's first lines: the defaults, then the options. */
static void emit_main_options(const Trainer *tr) {
    const TrainConfig *c = tr->c;
    const char *prefix = tr->prefix;
    P("int main(int argc, char **argv) {\n");
    P("    const char *data = %s, *csv = NULL, *grid = NULL, *save = %s, *resume = NULL, *load = NULL;\n",
      cstr(c->data_dir), c->checkpoint ? cstr(c->checkpoint) : "NULL");
    P("    long long epochs = %lld, seed = %lld, limit = -1, test_limit = -1, save_every = %lld;\n", (long long)c->epochs,
      (long long)c->seed, (long long)c->log_every);
    P("    double lr = 0; /* 0: the optimizer's own (compiled in, or from a resumed checkpoint) */\n");
    P("    for (int i = 1; i < argc; i++) {\n");
    P("        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;\n");
    P("        if (!strcmp(a, \"--help\") || !strcmp(a, \"-h\")) {\n            usage(argv[0]);\n            return 0;\n        }\n");
    P("        else if (!strcmp(a, \"--data\") && v) data = argv[++i];\n");
    P("        else if (!strcmp(a, \"--csv\") && v) csv = argv[++i];\n");
    P("        else if (!strcmp(a, \"--grid\") && v) grid = argv[++i];\n");
    P("        else if (!strcmp(a, \"--save\") && v) save = argv[++i];\n");
    P("        else if (!strcmp(a, \"--resume\") && v) resume = argv[++i];\n");
    P("        else if (!strcmp(a, \"--load\") && v) load = argv[++i];\n");
    P("        else if (!strcmp(a, \"--save-every\")) save_every = number(a, v), i++;\n");
    P("        else if (!strcmp(a, \"--lr\") && v) {\n            char *end;\n            lr = strtod(argv[++i], &end);\n");
    P("            if (*end || !(lr > 0)) {\n                fprintf(stderr, \"%s: --lr needs a positive number\\n\");\n"
      "                return 2;\n            }\n        }\n", prefix);
    P("        else if (!strcmp(a, \"--epochs\")) epochs = number(a, v), i++;\n");
    P("        else if (!strcmp(a, \"--seed\")) seed = number(a, v), i++;\n");
    P("        else if (!strcmp(a, \"--limit\")) limit = number(a, v), i++;\n");
    P("        else if (!strcmp(a, \"--test-limit\")) test_limit = number(a, v), i++;\n");
    P("        else if (!strcmp(a, \"--threads\")) {\n            long long t = number(a, v);\n            i++;\n");
    P("#ifdef _OPENMP\n            if (t > 0)\n                omp_set_num_threads((int)t);\n#else\n            (void)t;\n#endif\n        }\n");
    P("        else {\n            fprintf(stderr, \"%s: unknown option '%%s' (see --help)\\n\", a);\n            return 2;\n        }\n    }\n", prefix);
}

/* Starts the device (if any), reads the data and checks its shape, allocates, and initializes
 * the arena or resumes; the parameters go to the device. */
static void emit_main_setup(const Trainer *tr, const TrainCode *t, const Backend *be) {
    const TrainConfig *c = tr->c;
    const char *prefix = tr->prefix;
    P("    char err[1024];\n    TgDataset train, test;\n");
    if (be->start)
        be->start(t);
    P("    if (tg_load_dataset(\"%s\", data, 1, &train, err, sizeof err) || tg_load_dataset(\"%s\", data, 0, &test, err, sizeof err)) {\n", c->data_kind, c->data_kind);
    P("        fprintf(stderr, \"%s: %%s\\n\", err);\n        return 1;\n    }\n", prefix);
    const char *pad = c->pad ? ir_fmt(" + %d", 2 * c->pad) : ""; /* the padding transforms.Pad adds */
    P("    if (train.c != %lld || train.h%s != %lld || train.w%s != %lld || train.nclasses > %lld) {\n",
      (long long)tr->C, pad, (long long)tr->H, pad, (long long)tr->W, (long long)tr->K);
    P("        fprintf(stderr, \"%s: the data are %%dx%%dx%%d images (+%d padding) of %%d classes; the model takes %lldx%lldx%lld and %lld classes\\n\",\n"
      "                train.c, train.h, train.w, train.nclasses);\n        return 1;\n    }\n",
      prefix, 2 * c->pad, (long long)tr->C, (long long)tr->H, (long long)tr->W, (long long)tr->K);
    P("    unsigned char *raw = malloc(%s_ARENA_BYTES + 64);\n", cg_upper(prefix));
    P("    float *x = malloc(sizeof(float) * %lld), *logits = malloc(sizeof(float) * %lld);\n", (long long)(tr->B * tr->C * tr->H * tr->W), (long long)(tr->B * tr->K));
    P("    int64_t *y = malloc(sizeof(int64_t) * BATCH), *order = malloc(sizeof(int64_t) * (size_t)(train.n + test.n));\n");
    P("    if (!raw || !x || !logits || !y || !order) {\n        fprintf(stderr, \"%s: out of memory\\n\");\n        return 1;\n    }\n", prefix);
    P("    void *arena = raw + (64 - (size_t)((uintptr_t)raw %% 64));\n");
    P("    const float mean[%lld] = {", (long long)tr->C);
    for (int i = 0; i < tr->C; i++)
        P("%s%s", i ? ", " : "", cg_literal(c->nnorm ? c->mean[i] : 0, DT_F32));
    P("}, stdev[%lld] = {", (long long)tr->C);
    for (int i = 0; i < tr->C; i++)
        P("%s%s", i ? ", " : "", cg_literal(c->nnorm ? c->std[i] : 1, DT_F32));
    P("};\n");
    P("    FILE *csvf = csv ? fopen(csv, \"w\") : NULL;\n");
    P("    if (csv && !csvf) {\n        fprintf(stderr, \"%s: cannot write %%s\\n\", csv);\n        return 1;\n    }\n", prefix);
    P("    if (csvf)\n        fprintf(csvf, \"epoch,batch,loss\\n\");\n");
    P("    %s_init(arena, (uint64_t)seed);\n", prefix);
    P("    TgRng shuffle_rng, epoch_rng;\n    tg_rng_seed(&shuffle_rng, (uint64_t)seed + 1);\n");
    P("    const int64_t batches = train.n / BATCH; /* the last partial batch is dropped: the batch size is compiled in */\n");
    P("    long long done = 0, first_epoch = 0, first_batch = 0;\n    double running = 0;\n");
    P("    const int tty = isatty(fileno(stdout));\n");
    P("    if ((resume || load) && read_checkpoint(resume ? resume : load, arena, !resume, &shuffle_rng, &first_epoch, &first_batch, &done, &running))\n"
      "        return 1;\n");
    P("    for (int i = 0; lr > 0 && i < %s_ntensors; i++)\n        if (!strcmp(%s_tensors[i].name, \"lr\"))\n"
      "            *(double *)((unsigned char *)arena + %s_tensors[i].offset) = lr;\n", prefix, prefix, prefix);
    if (be->push)
        be->push(t);
}

/* The epochs: shuffle, step, log, checkpoint. */
static void emit_main_epochs(const Trainer *tr, const TrainCode *t, const Backend *be) {
    const TrainConfig *c = tr->c;
    const char *prefix = tr->prefix;
    P("    for (long long epoch = first_epoch; epoch < epochs && (limit < 0 || done < limit); epoch++) {\n");
    P("        for (int64_t i = 0; i < train.n; i++)\n            order[i] = i;\n");
    P("        epoch_rng = shuffle_rng; /* a checkpoint keeps the state that made this epoch's order */\n");
    if (c->shuffle)
        P("        tg_shuffle(&shuffle_rng, order, train.n);\n");
    P("        for (int64_t b = epoch == first_epoch ? first_batch : 0; b < batches && (limit < 0 || done < limit); b++) {\n");
    P("            tg_dataset_batch(&train, order, b * BATCH, BATCH, %d, mean, stdev, x, y);\n", c->pad);
    P("            float loss = %s_train_step(arena, x, y);\n", prefix);
    P("            running += loss;\n            done++;\n");
    P("            if (csvf)\n                fprintf(csvf, \"%%lld,%%lld,%%.9g\\n\", epoch + 1, (long long)b + 1, (double)loss);\n");
    P("            if (tty && (b + 1) %% 50 == 0) { /* a progress line on terminals, overwritten in place */\n");
    P("                printf(\"\\r[%%lld, %%5lld/%%lld]\", epoch + 1, (long long)b + 1, (long long)batches);\n");
    P("                fflush(stdout);\n            }\n");
    P("            if ((b + 1) %% %lld == 0) {\n", (long long)c->log_every);
    P("                printf(\"%%s[%%lld, %%5lld] loss: %%.3f\\n\", tty ? \"\\r\\033[K\" : \"\", epoch + 1, (long long)b + 1,\n"
      "                       running / %lld);\n", (long long)c->log_every);
    P("                fflush(stdout);\n                running = 0;\n            }\n");
    P("            bool last = b + 1 == batches;\n");
    P("            if (save && (last || (save_every > 0 && (b + 1) %% save_every == 0))) {\n");
    P("                /* where the next batch is: the start of the next epoch after the last one */\n");
    P("                if (csvf)\n                    fflush(csvf);\n");
    if (be->pull)
        be->pull(t);
    P("                if (write_checkpoint(save, arena, last ? &shuffle_rng : &epoch_rng, last ? epoch + 1 : epoch,\n"
      "                                     last ? 0 : b + 1, done, last ? 0 : running))\n                    return 1;\n");
    P("            }\n        }\n        running = 0;\n    }\n");
}

/* The evaluation, as the blitz's: total and per-class accuracy on the test set; then the end. */
static void emit_main_evaluate(const Trainer *tr) {
    const TrainConfig *c = tr->c;
    const char *prefix = tr->prefix;
    P("    printf(\"%%sFinished Training\\n\", tty ? \"\\r\\033[K\" : \"\");\n");
    P("    /* evaluation, as the blitz's: total and per-class accuracy on the test set */\n");
    P("    long long correct = 0, total = 0, class_correct[CLASSES] = {0}, class_total[CLASSES] = {0};\n");
    P("    const int64_t n = test_limit >= 0 && test_limit < test.n ? test_limit : test.n;\n");
    P("    for (int64_t i = 0; i < test.n; i++)\n        order[i] = i;\n");
    P("    for (int64_t first = 0; first < n; first += BATCH) {\n");
    P("        tg_dataset_batch(&test, order, first, BATCH, %d, mean, stdev, x, y);\n", c->pad);
    P("        %s_predict(arena, x, logits);\n", prefix);
    P("        if (grid && first == 0 && write_grid(grid, &test, %d, y, logits))\n            return 1;\n", c->pad);
    P("        for (int64_t j = 0; j < BATCH && first + j < n; j++) {\n");
    P("            int64_t best = 0;\n            for (int64_t k = 1; k < CLASSES; k++)\n");
    P("                if (logits[j * CLASSES + k] > logits[j * CLASSES + best])\n                    best = k;\n");
    P("            total++;\n            class_total[y[j]]++;\n            if (best == y[j]) {\n                correct++;\n                class_correct[y[j]]++;\n            }\n        }\n    }\n");
    P("    printf(\"Accuracy of the network on the %%lld test images: %%lld %%%%\\n\", total, total ? 100 * correct / total : 0);\n");
    P("    for (int k = 0; k < CLASSES; k++)\n");
    P("        if (class_total[k])\n            printf(\"Accuracy for class: %%-5s is %%.1f %%%%\\n\", class_names[k], 100 * (double)class_correct[k] / (double)class_total[k]);\n");
    P("    if (csvf)\n        fclose(csvf);\n");
    P("    tg_dataset_free(&train);\n    tg_dataset_free(&test);\n    free(raw);\n    free(x);\n    free(logits);\n    free(y);\n    free(order);\n    return 0;\n}\n#endif\n");
}

/*
 * The standalone trainer: reads the data through the runtime, runs the epochs with the blitz's
 * log lines, then evaluates as the blitz does. Everything here may allocate and print; the step
 * and predict functions it calls do neither.
 */
void emit_trainer_main(const TrainCode *t, const Backend *be) {
    Graph *train = t->train, *pred = t->pred;
    const Node *x = NULL, *o = NULL; /* the second input holds class indices: a trainer is for cross_entropy */
    for (int i = 0; i < train->nnode && !x; i++)
        if (train->nodes[i].op == OP_INPUT)
            x = &train->nodes[i];
    for (int i = 0; i < pred->nnode; i++)
        if (pred->nodes[i].flags & NF_OUTPUT)
            o = &pred->nodes[i];
    Trainer tr = {train->train, train->name, t->prefix, x->shape.d[0], x->shape.d[1], x->shape.d[2], x->shape.d[3],
                  o->shape.d[1]};
    emit_class_names(&tr);
    emit_usage(&tr);
    emit_write_grid(&tr);
    emit_checkpoint_helpers(t->prefix);
    emit_main_options(&tr);
    emit_main_setup(&tr, t, be);
    emit_main_epochs(&tr, t, be);
    emit_main_evaluate(&tr);
}
