/*
 * host_cuda.c: backend_cuda (codegen_c/frame.h's Backend), the host half of a CUDA program: the
 * kernel source (emit_cuda.c) embedded as text and its table, PREFIX_cuda_start/push/pull, the
 * training step and predict launching the kernels on the GPU's copy of the arena, and a staged
 * program's segments on the GPU (their kernels, dev_ready/up/down, their launches). The rest of
 * the program (the header, init, the tensor table, the trainer, the host code of a staged
 * program) is emit_c's, as for C.
 */
#include "codegen_cuda.h"
#include "cuda_emit.h"

#include <stdlib.h>
#include <string.h>

static const char *T(DType dt) { return dtype_ctype(dt); }
static long long L(int64_t v) { return (long long)v; }

/* ---- host ---- */

/* The source of all kernels, as text. */
static char *kernel_source(const TrainCode *t) {
    char *buf;
    size_t len;
    FILE *saved = cg_capture(&buf, &len);
    /* the kernels' banner leaves out the command line: the compiled-kernel cache keys on the source */
    P("%s%s", cg_banner(t->source, NULL), cuda_preamble);
    P("\n/* ---- training step of %s ---- */\n", t->train->name);
    cuda_kernels_of(t->train, t->train_plan, t->train_kpre);
    if (t->pred) {
        P("\n/* ---- predict ---- */\n");
        cuda_kernels_of(t->pred, t->pred_plan, "p");
    }
    cg_uncapture(saved);
    return buf;
}

/* The kernel table, in launch order: the step's units, predict's, tg_copy (device() makes it). */
static int nkernels, npredict_first, ncopy; /* all; where predict's units start; tg_copy's index */
static const char **knames;

static void add_name(void) { knames[nkernels++] = cg_unit_name(); }
static void collect_names(Graph *g, const MemPlan *m, const char *kprefix) { cuda_each_unit(g, m, kprefix, add_name); }

/* What launches() writes: the launch helper and the device arena's variable (a train block's, or a
 * staged program's, which a file with both keeps apart). */
static const char *launch_fn = "launch", *launch_mem = "dmem";

/* The device address of node id's buffer in a launch. */
static const char *dev_addr(const Node *n) {
    if (n->op == OP_INPUT) {
        for (int i = 0, k = 0; i < cg.g->nnode; i++)
            if (cg.g->nodes[i].op == OP_INPUT) {
                if (i == n->id)
                    return k ? "dy" : "dx";
                k++;
            }
    }
    return ir_fmt("%s + %s", launch_mem, cg_off(n->id));
}

/* The launches of graph g, in order, its first kernel at index k of the table, tg_copy at copy. */
static void (*host_at)(int node); /* a staged program's: the host's part of a source node, or NULL */

static void launches(Graph *g, const MemPlan *m, const char *kprefix, int k, int copy) {
    cg_begin(g, m, kprefix);
    const char *section = "";
    for (int i = 0, f, l; i < g->nnode; i++) {
        Node *n = &g->nodes[i];
        if (host_at && cuda_host_source(n)) { /* where it is in the order: its buffer may be another's before */
            host_at(i);
            continue;
        }
        bool call = cg_kernel_at(i, &f, &l);
        bool copy_here = n->op == OP_ASSIGN && cg.m->off[n->in[0]] != cg.m->off[n->in[1]];
        const char *sec = cg_section(f, l);
        if (strcmp(sec, section) && (call || copy_here) && *kprefix != 'p') {
            P("    /* %s */\n", sec);
            section = sec;
        }
        if (copy_here) {
            const Node *dst = IN(n, 0);
            int64_t bytes = shape_numel(dst->shape) * dtype_size(dst->dtype);
            P("    %s(%d, %lld, 3, (const uint64_t[]){%s, %s, %lld}); /* tg_copy: %s */\n", launch_fn, copy,
              L((bytes + BLOCK - 1) / BLOCK < MAX_GRID ? (bytes + BLOCK - 1) / BLOCK : MAX_GRID), dev_addr(dst),
              dev_addr(IN(n, 1)), L(bytes), cg_comment_safe(dst->name ? dst->name : ""));
            continue;
        }
        if (!call)
            continue;
        cg_unit_begin(f, l);
        int64_t grid = cuda_unit_grid();
        const char *name = cg_unit_name();
        if (!grid) {
            P("    /* %s: empty, nothing to launch */\n", name);
            k++;
            continue;
        }
        P("    %s(%d, %lld, %d, (const uint64_t[]){", launch_fn, k, L(grid), cg.u.nargs);
        for (int a = 0; a < cg.u.nargs; a++)
            P("%s%s", a ? ", " : "", dev_addr(&cg.g->nodes[cg.u.args[a].node]));
        P("}); /* %s */\n", name);
        k++;
    }
}

static int most_args;
static void count_args(void) { most_args = cg.u.nargs > most_args ? cg.u.nargs : most_args; }

/* The most parameters a kernel of g has (3 at least: tg_copy's). */
static int max_args(Graph *g, const MemPlan *m, const char *kprefix) {
    most_args = 3;
    cuda_each_unit(g, m, kprefix, count_args);
    return most_args;
}

static const Node *input_node(Graph *g, int which) {
    for (int i = 0, k = 0; i < g->nnode; i++)
        if (g->nodes[i].op == OP_INPUT && k++ == which)
            return &g->nodes[i];
    return NULL;
}

static const Node *output_node(Graph *g) {
    for (int i = 0; i < g->nnode; i++)
        if (g->nodes[i].flags & NF_OUTPUT)
            return &g->nodes[i];
    return NULL;
}

static int64_t input_bytes(Graph *g, int which) {
    const Node *x = input_node(g, which);
    return shape_numel(x->shape) * dtype_size(x->dtype);
}

/* ---- the backend: the host half of a CUDA program ---- */

/* The header: PREFIX_cuda_start, push and pull. */
static void declare(const TrainCode *t) {
    const char *prefix = t->prefix;
    P("\n/* The GPU (--target cuda): the step and predict run there on its copy of the arena.\n"
      "   %s_cuda_start opens the device and compiles the kernels (or takes them from the cache);\n"
      "   push copies the persistent region (parameters, optimizer state) to the GPU, pull back. */\n"
      "#define %s_TARGET_CUDA 1\n"
      "int %s_cuda_start(char *err, size_t errlen);\nvoid %s_cuda_push(const void *arena);\n"
      "void %s_cuda_pull(void *arena);\n", prefix, cg_upper(prefix), prefix, prefix, prefix);
}

/* The kernels' source src (freed here) as the array `name`_source of its lines, and the kernel
 * table `name`_kernels (knames), each after its comment. */
static void embed_source(const char *name, char *src, const char *src_comment, const char *table_comment) {
    P("%s", src_comment);
    P("static const char *const %s_source[] = {\n", name);
    for (char *p = src; *p;) {
        char *e = strchr(p, '\n');
        size_t n = e ? (size_t)(e - p + 1) : strlen(p);
        P("    ");
        cg_c_string(p, n);
        P(",\n");
        p += n;
    }
    P("};\n\n");
    free(src);
    P("%s", table_comment);
    P("static const char *const %s_kernels[] = {\n", name);
    for (int k = 0; k < nkernels; k++)
        P("    \"%s\",\n", knames[k]);
    P("};\n\n");
}

/* The start's first lines: the source's lines joined into src; on no memory, `fail`. */
static void join_source(const char *name, const char *fail) {
    P("    for (size_t i = 0; i < sizeof %s_source / sizeof *%s_source; i++)\n", name, name);
    P("        len += strlen(%s_source[i]);\n", name);
    P("    char *src = malloc(len), *p = src;\n");
    P("    if (!src) {\n%s    }\n", fail);
    P("    for (size_t i = 0; i < sizeof %s_source / sizeof *%s_source; i++)\n", name, name);
    P("        p += strlen(strcpy(p, %s_source[i]));\n", name);
}

/* The launch helper fn(k, grid, nargs, args) on the device cu: kernel k of the table. */
static void launch_helper(const char *fn, const char *cu, int margs) {
    P("static void %s(int k, uint64_t grid, int nargs, const uint64_t *a) {\n", fn);
    P("    uint64_t v[%d];\n    void *p[%d];\n", margs, margs);
    P("    for (int i = 0; i < nargs; i++) {\n        v[i] = a[i];\n        p[i] = &v[i];\n    }\n");
    P("    tg_cuda_launch(%s, k, grid, %d, 0, p);\n}\n", cu, BLOCK);
}

/* The GPU's code: the kernel source and table, PREFIX_cuda_start/push/pull, and the launch helper. */
static void device(const TrainCode *t) {
    const char *pf = t->prefix;
    char *src = kernel_source(t);
    nkernels = 0;
    knames = ir_alloc(sizeof(char *) * (size_t)(t->train->nnode + (t->pred ? t->pred->nnode : 0) + 2));
    collect_names(t->train, t->train_plan, t->train_kpre);
    npredict_first = nkernels;
    if (t->pred)
        collect_names(t->pred, t->pred_plan, "p");
    ncopy = nkernels;
    knames[nkernels++] = "tg_copy";
    const char *U_ = cg_upper(pf);
    int64_t xb = input_bytes(t->train, 0), yb = input_bytes(t->train, 1);
    int margs = max_args(t->train, t->train_plan, t->train_kpre);
    if (t->pred && max_args(t->pred, t->pred_plan, "p") > margs)
        margs = max_args(t->pred, t->pred_plan, "p");

    P("\n/* ---- the GPU ---- */\n\n");
    embed_source(ir_fmt("%s_cuda", pf), src,
                 "/* The kernels, CUDA C++ compiled by NVRTC for the device when the program starts (or taken from\n"
                 "   the cache of compiled code); `tgc compile --emit=cuda` writes them to a file of their own. */\n",
                 "/* Kernel k of launch(k, ...), in the order the step and predict launch them. */\n");
    P("static TgCuda *cu;\nstatic uint64_t dmem, dx, dy;  /* the device's arena; the batch's inputs there */\n");
    P("static void *hx, *hy;            /* pinned host copies of the inputs, for fast transfers */\n");
    P("static int pushed;               /* the device holds the parameters */\n\n");
    P("int %s_cuda_start(char *err, size_t errlen) {\n", pf);
    P("    if (cu)\n        return 0;\n");
    P("    size_t len = 1;\n");
    join_source(ir_fmt("%s_cuda", pf), "        snprintf(err, errlen, \"out of memory\");\n        return 1;\n");
    P("    cu = tg_cuda_open(err, errlen);\n");
    P("    int rc = !cu || tg_cuda_load(cu, src, NULL, %s_cuda_kernels, %d, err, errlen) ||\n", pf, nkernels);
    P("             tg_cuda_alloc(cu, &dmem, %s_ARENA_BYTES, err, errlen) || tg_cuda_alloc(cu, &dx, %lld, err, errlen) ||\n",
      U_, L(xb ? xb : 1));
    P("             tg_cuda_alloc(cu, &dy, %lld, err, errlen) || tg_cuda_alloc_pinned(cu, &hx, %lld, err, errlen) ||\n",
      L(yb ? yb : 1), L(xb ? xb : 1));
    P("             tg_cuda_alloc_pinned(cu, &hy, %lld, err, errlen);\n", L(yb ? yb : 1));
    P("    free(src);\n");
    P("    if (rc && cu) {\n        tg_cuda_close(cu);\n        cu = NULL;\n    }\n");
    P("    return rc;\n}\n\n");
    P("void %s_cuda_push(const void *arena) {\n", pf);
    P("    tg_cuda_upload(cu, dmem, arena, %s_PERSISTENT_BYTES);\n    tg_cuda_sync(cu);\n    pushed = 1;\n}\n\n", U_);
    P("void %s_cuda_pull(void *arena) {\n    if (cu && pushed) /* else the arena holds the newest values */\n"
      "        tg_cuda_download(cu, arena, dmem, %s_PERSISTENT_BYTES);\n}\n\n", pf, U_);
    P("/* Started and holding the parameters: a program that calls the step without %s_cuda_start and\n"
      "   push (as the trainer does) gets them here, or a clear message and exit status 1. */\n", pf);
    P("static void ready(void *arena) {\n    char err[1024];\n");
    P("    if (!cu && %s_cuda_start(err, sizeof err)) {\n        fprintf(stderr, \"%s: %%s\\n\", err);\n        exit(1);\n    }\n",
      pf, pf);
    P("    if (!pushed)\n        %s_cuda_push(arena);\n}\n\n", pf);
    launch_helper("launch", "cu", margs);
}

/* PREFIX_train_step: the batch in through pinned memory, the step's launches, the loss back. */
static void step(const TrainCode *t) {
    const char *pf = t->prefix;
    const Node *x = input_node(t->train, 0), *y = input_node(t->train, 1), *loss = output_node(t->train);
    int64_t xb = input_bytes(t->train, 0), yb = input_bytes(t->train, 1);
    int copy = ncopy;
    for (int i = 0; i < t->train->nnode; i++)
        if (cuda_host_source(&t->train->nodes[i]))
            error_at(t->train->nodes[i].loc, "a train block's step that draws random numbers (dropout) runs on the "
                                             "CPU only for now: build it with --target c");
    P("\n/* One step on one batch: x %s, y %s; returns the batch's loss. The kernels run on the GPU's\n"
      "   copy of the parameters; %s_cuda_pull brings them back. */\n",
      type_str(x->dtype, x->shape), type_str(y->dtype, y->shape), pf);
    P("float %s_train_step(void *arena, const %s *x, const %s *y) {\n", pf, T(x->dtype), T(y->dtype));
    P("    ready(arena);\n");
    P("    memcpy(hx, x, %lld);\n    tg_cuda_upload(cu, dx, hx, %lld);\n", L(xb), L(xb));
    P("    memcpy(hy, y, %lld);\n    tg_cuda_upload(cu, dy, hy, %lld);\n", L(yb), L(yb));
    launches(t->train, t->train_plan, t->train_kpre, 0, copy);
    P("    float loss;\n    tg_cuda_download(cu, &loss, dmem + %s, sizeof loss);\n    return loss;\n}\n", cg_off(loss->id));
}

/* PREFIX_predict: the batch in, predict's launches (after the step's in the table), the output back. */
static void predict(const TrainCode *t) {
    const Node *o = output_node(t->pred);
    int64_t pb = input_bytes(t->pred, 0);
    int copy = ncopy, first = npredict_first;
    P("\n/* ---- predict ---- */\n\nvoid %s_predict(void *arena, const float *x, float *out) {\n", t->prefix);
    P("    ready(arena);\n");
    P("    memcpy(hx, x, %lld);\n    tg_cuda_upload(cu, dx, hx, %lld);\n", L(pb), L(pb));
    launches(t->pred, t->pred_plan, "p", first, copy);
    P("    tg_cuda_download(cu, out, dmem + %s, %lld);\n}\n", cg_off(o->id), L(shape_numel(o->shape) * dtype_size(o->dtype)));
}

static const StagedProgram *dev_sp;
static const char *dev_kpre;
static int *seg_first; /* per segment on the GPU: its first kernel's index in the table */

static const char *seg_kpre(int k) { return ir_fmt("%ss%d_", dev_kpre, k); }

/* The kernels of the segments on the GPU, their table, and what the host code calls: dev_ready,
 * dev_up, dev_down (frame.h), and the launch helper. */
static void program_device(const StagedProgram *sp, const bool *on_dev, const char *kpre, const char *prefix,
                           const char *source) {
    dev_sp = sp;
    dev_kpre = kpre;
    seg_first = ir_alloc(sizeof(int) * (size_t)(sp->nsegs + 1));
    char *src;
    size_t len;
    FILE *saved = cg_capture(&src, &len);
    P("%s%s", cg_banner(source, NULL), cuda_preamble);
    int total = 1, margs = 3;
    for (int k = 0; k < sp->nsegs; k++)
        if (on_dev[k]) {
            P("\n/* ---- segment %d ---- */\n", k);
            cuda_kernels_of(sp->segs[k], sp->plans[k], seg_kpre(k));
            total += sp->segs[k]->nnode;
            if (max_args(sp->segs[k], sp->plans[k], seg_kpre(k)) > margs)
                margs = max_args(sp->segs[k], sp->plans[k], seg_kpre(k));
        }
    cg_uncapture(saved);
    nkernels = 0;
    knames = ir_alloc(sizeof(char *) * (size_t)total);
    for (int k = 0; k < sp->nsegs; k++) {
        seg_first[k] = nkernels;
        if (on_dev[k])
            collect_names(sp->segs[k], sp->plans[k], seg_kpre(k));
    }
    ncopy = nkernels;
    knames[nkernels++] = "tg_copy";
    P("\n/* ---- the program's segments on the GPU ---- */\n\n");
    embed_source(ir_fmt("%s_program_cuda", prefix), src,
                 "/* Their kernels, CUDA C++ compiled by NVRTC when the program starts (or taken from the cache). */\n",
                 "/* Kernel k of plaunch(k, ...). */\n");
    P("static TgCuda *pcu;\nstatic uint64_t pdmem; /* the device's copy of the arena */\n\n");
    P("/* Opens the GPU, compiles the kernels, allocates its arena; or says why not and exits. */\n");
    P("static void dev_ready(void) {\n    if (pcu)\n        return;\n    char err[4096];\n    size_t len = 1;\n");
    join_source(ir_fmt("%s_program_cuda", prefix),
                ir_fmt("        fprintf(stderr, \"%s: out of memory\\n\");\n        exit(1);\n", prefix));
    P("    pcu = tg_cuda_open(err, sizeof err);\n");
    P("    int rc = !pcu || tg_cuda_load(pcu, src, NULL, %s_program_cuda_kernels, %d, err, sizeof err) ||\n", prefix,
      nkernels);
    P("             tg_cuda_alloc(pcu, &pdmem, %s_ARENA_BYTES, err, sizeof err);\n", cg_upper(prefix));
    P("    free(src);\n");
    P("    if (rc) {\n        fprintf(stderr, \"%s: %%s\\n\", err);\n        exit(1);\n    }\n}\n\n", prefix);
    P("static void dev_up(const unsigned char *mem, int64_t off, int64_t n) {\n"
      "    tg_cuda_upload(pcu, pdmem + (uint64_t)off, mem + off, (size_t)n);\n}\n\n");
    P("static void dev_down(unsigned char *mem, int64_t off, int64_t n) {\n"
      "    tg_cuda_download(pcu, mem + off, pdmem + (uint64_t)off, (size_t)n);\n}\n\n");
    launch_helper("plaunch", "pcu", margs);
}

/* Segment k's launches, inside its function (staged.c), its offsets defined; host(i) writes the
 * host's part of source node i where it comes in the order. */
static void seg_launches(int k, void (*host)(int node)) {
    const char *saved = launch_fn, *mem = launch_mem;
    launch_fn = "plaunch";
    launch_mem = "pdmem";
    host_at = host;
    launches(dev_sp->segs[k], dev_sp->plans[k], seg_kpre(k), seg_first[k], ncopy);
    host_at = NULL;
    launch_fn = saved;
    launch_mem = mem;
}

const Backend backend_cuda = {
    .name = "cuda",
    .includes = "#include <stdlib.h> /* the GPU's start: the kernel source is joined once */\n#include <tgrt_cuda.h>\n",
    .declare = declare,
    .device = device,
    .step = step,
    .predict = predict,
    .device_fns = "cuda",
    .seg_on_device = cuda_seg_on_device,
    .program_device = program_device,
    .seg_launches = seg_launches,
};
