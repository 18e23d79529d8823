/*
 * trainer.c: the standalone trainer a train block with predict compiles to (its main, behind
 * TGC_NO_MAIN). What is model-independent (the options, the epochs with the blitz's log lines,
 * checkpoints that resume bit for bit, the blitz's evaluation) is the runtime's tg_trainer_main
 * (runtime/trainer.c); the generated file describes its model to it: the shapes, the classes, the
 * data set and the defaults of the train block, the step and predict functions, the tensor table,
 * and a device's start, push and pull.
 */
#include "emit.h"

#include <stdlib.h>
#include <string.h>

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

/*
 * The trainer's main: the train block's description (TgTrainer) and the runtime's main over it.
 * A train block whose step takes a batch of images and class labels (cross_entropy) has one.
 */
void emit_trainer_main(const TrainCode *t, const Backend *be) {
    Graph *train = t->train, *pred = t->pred;
    const TrainConfig *c = train->train;
    const char *pf = t->prefix;
    const Node *x = NULL, *o = NULL; /* the second input holds class indices: a trainer is for cross_entropy */
    for (int i = 0; i < train->nnode && !x; i++)
        if (train->nodes[i].op == OP_INPUT)
            x = &train->nodes[i];
    for (int i = 0; i < pred->nnode; i++)
        if (pred->nodes[i].flags & NF_OUTPUT)
            o = &pred->nodes[i];
    int64_t C = x->shape.d[1], K = o->shape.d[1];
    P("\n/* ---- the trainer: runtime/trainer.c's main over this train block ---- */\n\n#ifndef TGC_NO_MAIN\n");
    P("#ifdef _OPENMP\n#include <omp.h>\nstatic void threads(int n) { omp_set_num_threads(n); }\n#endif\n\n");
    P("static const char *const class_names[] = {");
    for (int i = 0; i < K; i++)
        P("%s%s", i ? ", " : "", i < c->nclasses ? cstr(c->classes[i]) : cstr(ir_fmt("%d", i)));
    P("};\n");
    P("/* transforms.Normalize's mean and std per channel */\nstatic const float mean[%lld] = {", (long long)C);
    for (int i = 0; i < C; i++)
        P("%s%s", i ? ", " : "", cg_literal(c->nnorm ? c->mean[i] : 0, DT_F32));
    P("}, stdev[%lld] = {", (long long)C);
    for (int i = 0; i < C; i++)
        P("%s%s", i ? ", " : "", cg_literal(c->nnorm ? c->std[i] : 1, DT_F32));
    P("};\n\n");
    P("/* %s as its train block says; --help lists what the command line changes */\n", cg_comment_safe(train->name));
    P("static const TgTrainer trainer = {\n");
    P("    .name = %s,\n    .prog = %s,\n", cstr(train->name), cstr(pf));
    P("    .data_kind = %s,\n    .data_dir = %s,\n    .save = %s,\n", cstr(c->data_kind), cstr(c->data_dir),
      c->checkpoint ? cstr(c->checkpoint) : "NULL");
    P("    .epochs = %lld,\n    .seed = %lld,\n    .log_every = %lld,\n", (long long)c->epochs, (long long)c->seed,
      (long long)c->log_every);
    P("    .shuffle = %d,\n    .pad = %d,\n", c->shuffle ? 1 : 0, c->pad);
    P("    .batch = %s_BATCH,\n    .c = %lld,\n    .h = %lld,\n    .w = %lld,\n    .classes = %lld,\n", cg_upper(pf),
      (long long)C, (long long)x->shape.d[2], (long long)x->shape.d[3], (long long)K);
    P("    .class_names = class_names,\n    .mean = mean,\n    .stdev = stdev,\n");
    P("    .arena_bytes = %s_ARENA_BYTES,\n    .tensors = %s_tensors,\n    .ntensors = %s_ntensors_max,\n", cg_upper(pf),
      pf, cg_upper(pf));
    P("    .init = %s_init,\n    .train_step = %s_train_step,\n    .predict = %s_predict,\n", pf, pf, pf);
    P("#ifdef _OPENMP\n    .threads = threads,\n#endif\n");
    if (be->device_fns)
        P("    .start = %s_%s_start,\n    .push = %s_%s_push,\n    .pull = %s_%s_pull,\n", pf, be->device_fns, pf,
          be->device_fns, pf, be->device_fns);
    P("};\n\nint main(int argc, char **argv) { return tg_trainer_main(&trainer, argc, argv); }\n#endif\n");
}
