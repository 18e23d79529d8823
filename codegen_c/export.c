/*
 * export.c: each `export def` as C functions a C caller links (frontend/exports.c makes its
 * graph). For `export def classify(net: Net, x: f32[4, 1, 28, 28])` in lenet.tg, prefix lenet:
 *
 *   #define LENET_CLASSIFY_ARENA_BYTES ...       the caller's memory for it (64-byte aligned)
 *   #define LENET_CLASSIFY_PERSISTENT_BYTES ...  of which the model's tensors, first
 *   #define LENET_CLASSIFY_NTENSORS ...
 *   extern const TgStateTensor lenet_classify_tensors[];  name, offset, dtype, shape of each
 *   void lenet_classify_init(void *arena, uint64_t seed); PyTorch's init after manual_seed(seed)
 *   void lenet_classify(void *arena, const float *x, float *out);
 *
 * The function runs the graph's kernels (C, on the CPU, whatever --target says) and copies each
 * result out; it never allocates and does no I/O, which `tgc check` proves from its TG_ENTRY
 * mark. Each export has an arena of its own; the model's tensors persist there between calls.
 */
#include "emit.h"

#include <stdlib.h>
#include <string.h>

/* The C name of the function: PREFIX_NAME. */
static const char *export_fn(const char *prefix, const Graph *g) { return ir_fmt("%s_%s", prefix, g->name); }

/* The outputs (params with init "output", named result or result0, result1, ...) in order. */
static int outputs(Graph *g, const Node **out) {
    int n = 0;
    for (int i = 0; i < g->nnode; i++)
        if (g->nodes[i].op == OP_PARAM && !strcmp(node_str(&g->nodes[i], "init", ""), "output"))
            out[n++] = &g->nodes[i];
    if (n > 1) /* by their number: result0, result1, ... */
        for (int i = 1; i < n; i++)
            for (int j = i; j > 0 && atoi(out[j]->name + 6) < atoi(out[j - 1]->name + 6); j--) {
                const Node *t = out[j];
                out[j] = out[j - 1];
                out[j - 1] = t;
            }
    return n;
}

/* The name of output k of n in the C signature. */
static const char *out_name(int k, int n) { return n == 1 ? "out" : ir_fmt("out%d", k); }

/* An input's C parameter is its .tg name, unless that is taken in the function (the arena, a
 * pointer variable, an output, a C keyword): then with _in after it. */
static void name_inputs(Graph *g, const MemPlan *m, const char *kpre, int nout) {
    cg_begin(g, m, kpre);
    for (int i = 0; i < g->nnode; i++) {
        Node *n = &g->nodes[i];
        if (n->op != OP_INPUT)
            continue;
        const char *want = cg_ident(n->name);
        bool taken = !strcmp(want, "arena") || !strcmp(want, "mem") || strcmp(want, n->name);
        for (int k = 0; k < nout && !taken; k++)
            taken = !strcmp(want, out_name(k, nout));
        for (int j = 0; j < g->nnode && !taken; j++)
            taken = j != i && !strcmp(cg_var(j), want);
        n->name = taken ? ir_fmt("%s_in", want) : n->name;
    }
}

/* The C signature: the arena, each input, each output. */
static void signature(Graph *g, const char *fn, const Node **out, int nout) {
    P("void %s(void *arena", fn);
    for (int i = 0; i < g->nnode; i++)
        if (g->nodes[i].op == OP_INPUT)
            P(", const %s *%s", dtype_ctype(g->nodes[i].dtype), g->nodes[i].name);
    for (int k = 0; k < nout; k++)
        P(", %s *%s", dtype_ctype(out[k]->dtype), out_name(k, nout));
    P(")");
}

/* What the header declares for export k. */
static void emit_export_header(const char *prefix, Graph *g, const MemPlan *m, const char *source) {
    const char *fn = export_fn(prefix, g), *U = cg_upper(fn);
    const Node **out = ir_alloc(sizeof(Node *) * (size_t)(g->nnode + 1));
    int nout = outputs(g, out), ntensors = 0;
    for (int i = 0; i < g->nnode; i++)
        ntensors += g->nodes[i].op == OP_PARAM && strcmp(node_str(&g->nodes[i], "init", ""), "output");
    if (ntensors)
        P("\n/* export def %s (%s): a C function. Its arena holds the models' tensors first, named as\n"
          "   their state_dicts name them in %s_tensors; %s_init draws them as PyTorch initializes the\n"
          "   models after torch.manual_seed(seed), or the caller writes trained ones there. */\n",
          g->name, cg_comment_safe(ir_base_name(source)), fn, fn);
    else
        P("\n/* export def %s (%s): a C function of its arena (call %s_init once). */\n", g->name,
          cg_comment_safe(ir_base_name(source)), fn);
    P("#define %s_ARENA_BYTES %lld\n#define %s_PERSISTENT_BYTES %lld\n#define %s_NTENSORS %d\n", U,
      (long long)(m->total ? m->total : 64), U, (long long)m->persistent, U, ntensors);
    if (ntensors)
        P("extern const TgStateTensor %s_tensors[%s_NTENSORS];\n", fn, U);
    P("void %s_init(void *arena, uint64_t seed);\n", fn);
    P("/* ");
    for (int i = 0; i < g->nnode; i++)
        if (g->nodes[i].op == OP_INPUT)
            P("%s %s, ", g->nodes[i].name, type_str(g->nodes[i].dtype, g->nodes[i].shape));
    for (int k = 0; k < nout; k++)
        P("%s %s%s", out_name(k, nout), type_str(out[k]->dtype, out[k]->shape), k + 1 < nout ? ", " : "");
    P(". No allocation, no I/O. */\n");
    signature(g, fn, out, nout);
    P(";\n");
}

/* Export k's kernels, init, tensor table and function. */
static void emit_export_code(const char *prefix, Graph *g, const MemPlan *m, const char *kpre) {
    const char *fn = export_fn(prefix, g);
    const Node **out = ir_alloc(sizeof(Node *) * (size_t)(g->nnode + 1));
    int nout = outputs(g, out);
    P("\n/* ---- export def %s: kernels ---- */\n", g->name);
    emit_kernels(g, m, kpre);
    cg_begin(g, m, kpre);
    P("\n/* ---- export def %s ---- */\n", g->name);
    emit_offsets(ir_fmt("export def %s", g->name));
    P("\n/* The models' tensors as PyTorch initializes them from seed, in registration order. */\n");
    emit_init_fn(g, ir_fmt("%s_init", fn));
    int ntensors = 0;
    for (int i = 0; i < g->nnode; i++)
        ntensors += g->nodes[i].op == OP_PARAM && strcmp(node_str(&g->nodes[i], "init", ""), "output");
    if (ntensors) {
        P("\n/* Where each tensor of the models lives in the arena, by PyTorch's state_dict name. */\n");
        P("const TgStateTensor %s_tensors[%s_NTENSORS] = {\n", fn, cg_upper(fn));
        emit_tensor_rows(g);
        P("};\n");
    }
    P("\nTG_ENTRY ");
    signature(g, fn, out, nout);
    P(" {\n    unsigned char *mem = arena;\n");
    emit_pointers(g, true, false);
    const char *section = "";
    for (int i = 0, f, l; i < g->nnode; i++) {
        Node *n = &g->nodes[i];
        bool call = cg_kernel_at(i, &f, &l);
        bool copy = n->op == OP_ASSIGN && m->off[n->in[0]] != m->off[n->in[1]];
        const char *sec = cg_section(f, l);
        if (strcmp(sec, section) && (call || copy)) {
            P("    /* %s */\n", sec);
            section = sec;
        }
        if (copy) { /* a result that could not be computed in its buffer (memplan says why not) */
            Node *dst = &g->nodes[n->in[0]];
            P("    memcpy(%s, %s, %lld); /* %s */\n", cg_var(n->in[0]), cg_var(n->in[1]),
              (long long)(shape_numel(dst->shape) * dtype_size(dst->dtype)), cg_comment_safe(dst->name ? dst->name : ""));
            continue;
        }
        emit_call_at(i);
    }
    for (int k = 0; k < nout; k++)
        P("    memcpy(%s, %s, %lld);\n", out_name(k, nout), cg_var(out[k]->id),
          (long long)(shape_numel(out[k]->shape) * dtype_size(out[k]->dtype)));
    P("}\n");
}

void emit_exports_header(const EmitOptions *opt) {
    for (int k = 0; k < opt->nexports; k++) {
        Graph *g = opt->exports[k];
        const Node **out = ir_alloc(sizeof(Node *) * (size_t)(g->nnode + 1));
        name_inputs(g, opt->export_plans[k], ir_fmt("e%d_", k), outputs(g, out));
        emit_export_header(opt->prefix, g, opt->export_plans[k], opt->source);
    }
}

void emit_exports(const EmitOptions *opt) {
    for (int k = 0; k < opt->nexports; k++)
        emit_export_code(opt->prefix, opt->exports[k], opt->export_plans[k], ir_fmt("e%d_", k));
}
