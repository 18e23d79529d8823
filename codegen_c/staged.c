/*
 * staged.c: a program with run-time control flow (frontend/stage.c made it): each segment's
 * kernels and function, then the run function, whose C loops and ifs (the host code) run the
 * segments, draw the data loaders' batches and read the slots that decide a branch.
 *
 * With a device (--target cuda, through the Backend's program hooks), a segment whose every node
 * the device can compute runs there as launches on the device's copy of the arena; the others
 * run here. A table of where each slot's newest value is (the arena, both, the device) tells the
 * host code what to copy: a segment reads its slots where it runs, and the host code reads a
 * condition or a loop bound from the arena.
 */
#include "emit.h"

#include <string.h>

/* ---- a staged program: segments and the host code that runs them ---- */

static const StagedProgram *SP;
static const char *seg_fn_prefix;

/* The byte offset of slot `name` in the arena (the layout's plan). */
static int64_t slot_offset(const char *name) {
    for (int i = 0; i < SP->layout->nnode; i++)
        if (!strcmp(SP->layout->nodes[i].name, name))
            return SP->layout_plan->off[i];
    die("no slot %s", name);
}

static const char *slot_ref(const char *name, const char *ctype) {
    return ir_fmt("*(%s *)(mem + %lld) /* %s */", ctype, (long long)slot_offset(name), cg_comment_safe(name));
}

/* ---- slots between the arena and a device's copy of it ---- */

static const bool *on_dev; /* per segment: it runs on the device; NULL: the program runs on the CPU */

static int slot_index(const char *name) {
    for (int i = 0; i < SP->layout->nnode; i++)
        if (!strcmp(SP->layout->nodes[i].name, name))
            return i;
    die("no slot %s", name);
}

static int64_t slot_bytes(int s) {
    const Node *n = &SP->layout->nodes[s];
    return shape_numel(n->shape) * dtype_size(n->dtype);
}

/* Before the host reads slot `name` (a condition, a loop's bound, a dataset's tensor): the
 * device's newer value, if it has one. */
static void host_reads(const char *name, int ind) {
    if (!on_dev)
        return;
    int s = slot_index(name);
    P("%*sto_host(mem, %d, %lld, %lld); /* %s */\n", ind, "", s, (long long)SP->layout_plan->off[s],
      (long long)slot_bytes(s), cg_comment_safe(name));
}

/* After the host wrote slot `name` (a counter, a batch): the arena's value is the newest. */
static void host_wrote(const char *name, int ind) {
    if (on_dev)
        P("%*swhere[%d] = 0; /* %s */\n", ind, "", slot_index(name), cg_comment_safe(name));
}

/* The table of where each slot's newest value is, and the copies that keep a reader up to date. */
static void emit_where(void) {
    P("\n/* Where each slot's newest value is: 0 the arena (at the start), 1 the arena and the device\n"
      "   alike, 2 the device. A segment brings what it reads to where it runs. */\n");
    P("static unsigned char where[%d];\n\n", SP->layout->nnode);
    P("static void to_dev(unsigned char *mem, int s, int64_t off, int64_t n) {\n"
      "    if (where[s] == 0) {\n        dev_up(mem, off, n);\n        where[s] = 1;\n    }\n}\n\n");
    P("static void to_host(unsigned char *mem, int s, int64_t off, int64_t n) {\n"
      "    if (where[s] == 2) {\n        dev_down(mem, off, n);\n        where[s] = 1;\n    }\n}\n");
    int n = SP->layout->nnode;
    P("\n/* When the run returns, the arena holds every slot's newest value, for a caller that reads it. */\n");
    P("static void pull_all(unsigned char *mem) {\n    static const int64_t off[%d] = {", n);
    for (int s = 0; s < n; s++)
        P("%s%lld", s ? ", " : "", (long long)SP->layout_plan->off[s]);
    P("};\n    static const int64_t len[%d] = {", n);
    for (int s = 0; s < n; s++)
        P("%s%lld", s ? ", " : "", (long long)slot_bytes(s));
    P("};\n    for (int s = 0; s < %d; s++)\n        to_host(mem, s, off[s], len[s]);\n}\n", n);
}

/* Segment g's slots, as its function reads them (to), or marks them written (mark 0: the arena's
 * is newest, 2: the device's). A slot is read where the segment has it as a parameter that a node
 * reads (not only an assign's target); written where an assign stores into it, or the segment
 * makes it (a new parameter). */
static void seg_slots(Graph *g, const char *to, int mark) {
    bool *read = ir_alloc((size_t)g->nnode + 1);
    for (int i = 0; i < g->nnode; i++)
        for (int k = g->nodes[i].op == OP_ASSIGN; k < g->nodes[i].nin; k++)
            read[g->nodes[i].in[k]] = true;
    for (int i = 0; i < g->nnode; i++) {
        const Node *n = &g->nodes[i];
        const Node *p = n->op == OP_ASSIGN ? &g->nodes[n->in[0]] : n->op == OP_PARAM ? n : NULL;
        if (!p || !p->name)
            continue;
        bool made = n->op == OP_PARAM && strcmp(node_str(n, "init", ""), "slot");
        int s = slot_index(p->name);
        if (to && n->op == OP_PARAM && !made && read[i])
            P("    %s(mem, %d, %lld, %lld); /* %s */\n", to, s, (long long)SP->layout_plan->off[s],
              (long long)slot_bytes(s), cg_comment_safe(p->name));
        if (!to && (n->op == OP_ASSIGN || made))
            P("    where[%d] = %d; /* %s */\n", s, mark, cg_comment_safe(p->name));
    }
}

/* Segment k on the CPU in a program that has a device: its function (fn_cpu) wrapped in the
 * copies of what it reads from the device, and the marks of what it wrote. */
static void emit_cpu_wrapper(int k, const char *fn) {
    Graph *g = SP->segs[k];
    P("\nstatic int %s(unsigned char *mem, TgRng *rng, FILE *out) {\n", fn);
    seg_slots(g, "to_host", 0);
    P("    if (%s_cpu(mem, rng, out))\n        return 1;\n", fn);
    seg_slots(g, NULL, 0);
    P("    return 0;\n}\n");
}

/* The host's part of source node i of a device segment (an option, a random draw, a seed): computed
 * into the arena where the launches reach it, so that the generator draws in graph order as on the
 * CPU, and copied up to the same offset, which an earlier kernel may have used for another buffer. */
static void host_source_at(int i) {
    const Node *n = &cg.g->nodes[i];
    if (n->op == OP_SEED) {
        emit_host_node(cg.g, i, "rng");
        return;
    }
    P("    %s *%s = (%s *)(mem + %s);\n", dtype_ctype(n->dtype), cg_var(i), dtype_ctype(n->dtype), cg_off(i));
    emit_host_node(cg.g, i, "rng");
    P("    dev_up(mem, %s, %lld);\n", cg_off(i), (long long)(shape_numel(n->shape) * dtype_size(n->dtype)));
}

/* Segment k on the device: the slots it reads brought up, its launches (with the host's sources
 * among them), and its stores marked. */
static void emit_device_segment(int k, const char *kp, const char *fn, const Backend *be) {
    Graph *g = SP->segs[k];
    cg_begin(g, SP->plans[k], kp);
    emit_offsets(ir_fmt("segment %s", g->name));
    P("\n/* On the device: its kernels are the GPU's (above). */\n");
    P("static int %s(unsigned char *mem, TgRng *rng, FILE *out) {\n    (void)mem;\n    (void)rng;\n    (void)out;\n", fn);
    seg_slots(g, "to_dev", 0);
    be->seg_launches(k, host_source_at);
    seg_slots(g, NULL, 2);
    P("    return 0;\n}\n");
}

static void emit_host_block(const HostBlock *b, int depth);

static void host_comment(const HostStmt *h, int ind) {
    P("%*s/* %s:%d: %s */\n", ind, "", cg_comment_safe(ir_base_name(diag_file_name(h->loc.file))), h->loc.line,
      cg_comment_safe(diag_line_text(h->loc)));
}

/* How the run function leaves on an error: with its data, through the cleanup at its end. */
static const char *fail_stmt(void) { return SP->data.nsets ? "goto done" : "return 1"; }

/* The error line of a host statement that failed: file:line:col: error: ... */
static void host_error(const HostStmt *h, int ind, const char *msg) {
    P("%*s    fprintf(stderr, \"%s:%d:%d: error: %%s\\n\", %s);\n", ind, "",
      cg_comment_safe(ir_base_name(diag_file_name(h->loc.file))), h->loc.line, h->loc.col, msg);
    P("%*s    %s;\n%*s}\n", ind, "", fail_stmt(), ind, "");
}

static const char *slot_ptr(const char *name, const char *ctype) {
    int64_t off = slot_offset(name);
    return off ? ir_fmt("(%s *)(mem + %lld) /* %s */", ctype, (long long)off, cg_comment_safe(name))
               : ir_fmt("(%s *)mem /* %s */", ctype, cg_comment_safe(name));
}

static bool tensor_set(int set) { return !strcmp(SP->data.sets[set].kind, "tensors"); }

/* The call that draws iterator it's next batch into h's slots: images and labels, or a
 * TensorDataset's rows of each tensor (its slots, their row sizes, the batch's slots). */
static const char *next_call(const HostStmt *h) {
    const char *f = h->rest ? "tg_iter_rest" : "tg_iter_next";
    if (!h->outs)
        return ir_fmt("%s(&it%d, &rng, %s, %s)", f, h->data, slot_ptr(h->x, "float"), slot_ptr(h->y, "int64_t"));
    const HostDataset *d = &SP->data.sets[SP->data.iters[h->data].dataset];
    const char *src = "", *row = "", *dst = "";
    for (int t = 0; t < h->nouts; t++) {
        src = ir_fmt("%s%s%s", src, t ? ", " : "", slot_ptr(d->tensors[t], "const void"));
        row = ir_fmt("%s%s%lld", row, t ? ", " : "", (long long)d->row_bytes[t]);
        dst = ir_fmt("%s%s%s", dst, t ? ", " : "", slot_ptr(h->outs[t], "void"));
    }
    return ir_fmt("%s_rows(&it%d, &rng, %d, (const void *const[]){%s}, (const size_t[]){%s}, "
                  "(void *const[]){%s})", f, h->data, h->nouts, src, row, dst);
}

/* A TensorDataset's tensors, read by the host as it draws a batch, and the batch's slots it
 * writes. */
static void batch_sources(const HostStmt *h, int ind) {
    if (!h->outs)
        return;
    const HostDataset *d = &SP->data.sets[SP->data.iters[h->data].dataset];
    for (int t = 0; t < d->ntensors; t++)
        host_reads(d->tensors[t], ind);
}

static void batch_written(const HostStmt *h, int ind) {
    for (int t = 0; t < h->nouts; t++)
        host_wrote(h->outs[t], ind);
    if (h->x) {
        host_wrote(h->x, ind);
        host_wrote(h->y, ind);
    }
}

static void emit_data_stmt(const HostStmt *h, int ind) {
    switch (h->kind) {
    case H_DATA: {
        const HostDataset *d = &SP->data.sets[h->data];
        host_comment(h, ind);
        P("%*sif (tg_open_dataset(\"%s\", ", ind, "", d->kind);
        if (d->root_option)
            P("%s.%s", options_var, cg_ident(d->root_option));
        else
            cg_c_string(d->root, strlen(d->root));
        P(", %d, %lld, %d, %d, %d, &data%d, err, sizeof err)) {\n", d->train, (long long)d->n, d->c, d->h, d->w,
          h->data);
        host_error(h, ind, "err");
        return;
    }
    case H_ITER:
        host_comment(h, ind);
        P("%*sif (tg_iter_start(&it%d, &rng, err, sizeof err)) {\n", ind, "", h->data);
        host_error(h, ind, "err");
        return;
    case H_NEXT:
        host_comment(h, ind);
        batch_sources(h, ind);
        P("%*sif (%s) {\n", ind, "", next_call(h));
        host_error(h, ind, SP->data.iters[h->data].rest
                               ? ir_fmt("\"StopIteration: next() after the last full batch of the DataLoader (its "
                                        "last partial batch, %lld samples, goes only to a for loop over it)\"",
                                        (long long)SP->data.iters[h->data].rest)
                               : "\"StopIteration: next() after the last batch of the DataLoader\"");
        batch_written(h, ind);
        return;
    default:
        return;
    }
}

/* for [i,] batch in [enumerate(]loader[, start)]: a new pass of its iterator */
static void emit_loader_for(const HostStmt *h, int depth) {
    int ind = 4 * depth;
    const char *v = ir_fmt("i%d", depth);
    if (h->rest) { /* the last partial batch, once, if the loop above did not break */
        P("%*s/* the same loop's last batch, %lld of %lld samples: its body again, for that shape */\n", ind, "",
          (long long)SP->data.iters[h->data].rest, (long long)SP->data.sets[SP->data.iters[h->data].dataset].n);
        batch_sources(h, ind);
        P("%*sif (%s == 0) do {\n", ind, "", next_call(h));
        batch_written(h, ind + 4);
        if (h->slot) {
            P("%*s    %s = %lld;\n", ind, "", slot_ref(h->slot, "int64_t"), (long long)h->lim[0]);
            host_wrote(h->slot, ind + 4);
        }
        emit_host_block(&h->body, depth + 1);
        P("%*s} while (0);\n", ind, "");
        return;
    }
    host_comment(h, ind);
    P("%*sif (tg_iter_start(&it%d, &rng, err, sizeof err)) {\n", ind, "", h->data);
    host_error(h, ind, "err");
    batch_sources(h, ind);
    P("%*sfor (int64_t %s = %lld; %s == 0; %s++) {\n", ind, "", v, (long long)h->lim[0], next_call(h), v);
    batch_written(h, ind + 4);
    if (h->slot) {
        P("%*s    %s = %s;\n", ind, "", slot_ref(h->slot, "int64_t"), v);
        host_wrote(h->slot, ind + 4);
    }
    emit_host_block(&h->body, depth + 1);
    P("%*s}\n", ind, "");
}

static void emit_host_stmt(const HostStmt *h, int depth) {
    int ind = 4 * depth;
    switch (h->kind) {
    case H_RUN:
        P("%*sif (%s%d(mem, &rng, out))\n%*s    %s;\n", ind, "", seg_fn_prefix, h->seg, ind, "", fail_stmt());
        return;
    case H_DATA: case H_ITER: case H_NEXT:
        emit_data_stmt(h, ind);
        return;
    case H_BREAK: P("%*sbreak;\n", ind, ""); return;
    case H_CONTINUE: P("%*scontinue;\n", ind, ""); return;
    case H_IF:
        host_comment(h, ind);
        host_reads(h->slot, ind);
        P("%*sif (%s) {\n", ind, "", slot_ref(h->slot, "const uint8_t"));
        emit_host_block(&h->body, depth + 1);
        if (h->orelse.n) {
            P("%*s} else {\n", ind, "");
            emit_host_block(&h->orelse, depth + 1);
        }
        P("%*s}\n", ind, "");
        return;
    case H_WHILE:
        host_comment(h, ind);
        P("%*sfor (;;) {\n", ind, "");
        emit_host_block(&h->test, depth + 1);
        host_reads(h->slot, ind + 4);
        P("%*s    if (!%s)\n%*s        break;\n", ind, "", slot_ref(h->slot, "const uint8_t"), ind, "");
        emit_host_block(&h->body, depth + 1);
        P("%*s}\n", ind, "");
        return;
    case H_FOR: {
        if (h->x || h->outs) {
            emit_loader_for(h, depth);
            return;
        }
        host_comment(h, ind);
        const char *v = ir_fmt("i%d", depth), *b[3];
        for (int k = 0; k < 3; k++)
            b[k] = h->bound[k] ? ir_fmt("b%d_%d", depth, k) : ir_fmt("%lld", (long long)h->lim[k]);
        bool any = h->bound[0] || h->bound[1] || h->bound[2];
        if (any) {
            P("%*s{\n", ind, "");
            ind += 4;
            for (int k = 0; k < 3; k++)
                if (h->bound[k]) {
                    host_reads(h->bound[k], ind);
                    P("%*sconst int64_t %s = %s;\n", ind, "", b[k], slot_ref(h->bound[k], "const int64_t"));
                }
            if (h->bound[2]) { /* Python's ValueError, at the loop's line */
                P("%*sif (%s == 0) {\n", ind, "", b[2]);
                host_error(h, ind, "\"ValueError: range() arg 3 must not be zero\"");
            }
        }
        const char *cond = h->bound[2] ? ir_fmt("%s > 0 ? %s < %s : %s > %s", b[2], v, b[1], v, b[1])
                           : h->lim[2] > 0 ? ir_fmt("%s < %s", v, b[1])
                                           : ir_fmt("%s > %s", v, b[1]);
        const char *inc = !h->bound[2] && h->lim[2] == 1 ? ir_fmt("%s++", v) : ir_fmt("%s += %s", v, b[2]);
        P("%*sfor (int64_t %s = %s; %s; %s) {\n", ind, "", v, b[0], cond, inc);
        P("%*s    %s = %s;\n", ind, "", slot_ref(h->slot, "int64_t"), v);
        host_wrote(h->slot, ind + 4);
        emit_host_block(&h->body, ind / 4 + 1);
        P("%*s}\n", ind, "");
        if (any)
            P("%*s}\n", ind - 4, "");
        return;
    }
    }
}

static void emit_host_block(const HostBlock *b, int depth) {
    for (int i = 0; i < b->n; i++)
        emit_host_stmt(b->s[i], depth);
}

/* The run function's datasets (loaded where the program creates them) and DataLoader iterators. */
static void emit_data_decls(const HostData *d) {
    if (!d->nsets)
        return;
    P("    char err[1024];\n    int status = 1;\n");
    for (int i = 0; i < d->nsets; i++) {
        const HostDataset *s = &d->sets[i];
        if (!tensor_set(i))
            P("    TgDataset data%d = {0}; /* %s(%s) */\n", i, s->cls, s->train ? "train=True" : "train=False");
    }
    for (int i = 0; i < d->niters; i++) {
        const HostIter *it = &d->iters[i];
        if (it->nnorm) {
            for (int k = 0; k < 2; k++) {
                P("    static const float %s%d[] = {", k ? "std" : "mean", i);
                for (int c = 0; c < it->nnorm; c++)
                    P("%s%s", c ? ", " : "", cg_literal(k ? it->std[c] : it->mean[c], DT_F32));
                P("};\n");
            }
        }
        if (tensor_set(it->dataset)) {
            P("    TgIter it%d = {NULL, %lld, %lld, %d, %d, 0, NULL, NULL, NULL, 0, 0, %lld, 0}; /* TensorDataset: batch "
              "%lld of %lld rows, %lld batches%s */\n", i, (long long)it->batch, (long long)it->nbatch, it->shuffle,
              it->workers, (long long)d->sets[it->dataset].n, (long long)it->batch,
              (long long)d->sets[it->dataset].n, (long long)it->nbatch, it->shuffle ? ", shuffled" : "");
            continue;
        }
        P("    TgIter it%d = {&data%d, %lld, %lld, %d, %d, %d, %s, %s, NULL, 0, 0, 0, 0}; /* batch %lld, %lld batches%s */\n", i,
          it->dataset, (long long)it->batch, (long long)it->nbatch, it->shuffle, it->workers, it->pad,
          it->nnorm ? ir_fmt("mean%d", i) : "NULL", it->nnorm ? ir_fmt("std%d", i) : "NULL", (long long)it->batch,
          (long long)it->nbatch, it->shuffle ? ", shuffled" : "");
    }
}

/* Each segment's kernels and function, then the run function: the host code. */
void emit_staged(const StagedProgram *sp, const char *kpre, const char *fn, const char *prefix, const char *source,
                 const Backend *be) {
    SP = sp;
    seg_fn_prefix = ir_fmt("%s_s", fn);
    on_dev = NULL;
    if (be && be->seg_on_device) {
        bool *dev = ir_alloc((size_t)sp->nsegs + 1), any = false;
        for (int k = 0; k < sp->nsegs; k++)
            any |= dev[k] = be->seg_on_device(sp->segs[k]);
        if (any) {
            on_dev = dev;
            be->program_device(sp, on_dev, kpre, prefix, source);
            emit_where();
        }
    }
    for (int k = 0; k < sp->nsegs; k++) {
        const char *kp = ir_fmt("%ss%d_", kpre, k);
        int lo = 0, hi = 0;
        for (int i = 0; i < sp->segs[k]->nnode; i++) {
            int l = sp->segs[k]->nodes[i].loc.line;
            if (l > 0 && (!lo || l < lo))
                lo = l;
            if (l > hi)
                hi = l;
        }
        P("\n/* ---- segment %d%s%s ---- */\n", k, lo ? ir_fmt(": lines %d-%d", lo, hi) : "",
          on_dev ? on_dev[k] ? ", on the device" : ", on the CPU" : "");
        const char *sfn = ir_fmt("%s%d", seg_fn_prefix, k);
        if (on_dev && on_dev[k]) {
            emit_device_segment(k, kp, sfn, be);
            continue;
        }
        emit_kernels(sp->segs[k], sp->plans[k], kp);
        emit_run(sp->segs[k], sp->plans[k], kp, on_dev ? ir_fmt("%s_cpu", sfn) : sfn, true);
        if (on_dev)
            emit_cpu_wrapper(k, sfn);
    }
    P("\n/* The program: its loops and ifs run the segments above, which keep what lives from one to\n"
      "   the next (variables, parameters, gradients, optimizer state) in the arena's first %lld bytes. */\n",
      (long long)sp->layout_plan->persistent);
    P("int %s(void *arena, FILE *out) {\n    unsigned char *mem = arena;\n", fn);
    P("    TgRng rng;\n    tg_rng_seed(&rng, TG_DEFAULT_SEED); /* as a fresh PyTorch process */\n");
    if (on_dev)
        P("    dev_ready(); /* before anything runs: a machine without the device says so at once */\n");
    emit_data_decls(&sp->data);
    emit_host_block(&sp->host, 1);
    if (!sp->data.nsets) {
        P("%s    return 0;\n}\n", on_dev ? "    pull_all(mem);\n" : "");
        return;
    }
    P("    status = 0;\ndone:\n");
    for (int i = 0; i < sp->data.niters; i++)
        P("    tg_iter_free(&it%d);\n", i);
    for (int i = 0; i < sp->data.nsets; i++)
        if (!tensor_set(i))
            P("    tg_dataset_free(&data%d);\n", i);
    if (on_dev)
        P("    pull_all(mem);\n");
    P("    return status;\n}\n");
}

