/*
 * print.c: the IR text form, written.
 *
 *   graph tensors {
 *     %0 = full() {value=1.0} : f32[4, 4] "tensor" @"t.tg":2:14
 *     %1 = slice(%0) {start=[0, 0], step=[1, 1], size=[1, 4]} : f32[1, 4] @"t.tg":3:26
 *     print(%1) {fmt="First row: {0:t}\n"} @"t.tg":3:5
 *   }
 *
 * One node per line: id, op, inputs, attributes, type, flags, name, source
 * location. Floats are written with the fewest digits that read back to the
 * same double, so ir_read(ir_print(g)) prints identically (tests rely on it).
 */
#include "ir.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Shortest "%.Ng" that round-trips, always recognisable as a float. */
static void print_double(FILE *f, double v) {
    if (isnan(v)) {
        fputs("nan", f);
        return;
    }
    if (isinf(v)) {
        fputs(v < 0 ? "-inf" : "inf", f);
        return;
    }
    char buf[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    fputs(buf, f);
    if (!strpbrk(buf, ".e"))
        fputs(".0", f);
}

void ir_print_string(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c == '\n')
            fputs("\\n", f);
        else if (c == '\t')
            fputs("\\t", f);
        else if (c < 0x20 || c >= 0x7f)
            fprintf(f, "\\x%02x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

static void print_attr(FILE *f, const Attr *a) {
    fprintf(f, "%s=", a->key);
    switch (a->kind) {
    case A_INT:
        fprintf(f, "%lld", (long long)a->i[0]);
        break;
    case A_INTS:
        fputc('[', f);
        for (int i = 0; i < a->n; i++)
            fprintf(f, "%s%lld", i ? ", " : "", (long long)a->i[i]);
        fputc(']', f);
        break;
    case A_FLOAT:
        print_double(f, a->f[0]);
        break;
    case A_FLOATS:
        fputs(a->n ? "[" : "f[", f);
        for (int i = 0; i < a->n; i++) {
            if (i)
                fputs(", ", f);
            print_double(f, a->f[i]);
        }
        fputc(']', f);
        break;
    case A_STR:
        ir_print_string(f, a->s);
        break;
    }
}

static void print_node(FILE *f, const Node *n) {
    const OpInfo *info = &op_info[n->op];
    fputs("  ", f);
    if (info->kind != K_EFFECT)
        fprintf(f, "%%%d = ", n->id);
    fprintf(f, "%s(", info->name);
    for (int i = 0; i < n->nin; i++)
        fprintf(f, "%s%%%d", i ? ", " : "", n->in[i]);
    fputc(')', f);
    if (n->nattr) {
        fputs(" {", f);
        for (int i = 0; i < n->nattr; i++) {
            if (i)
                fputs(", ", f);
            print_attr(f, &n->attr[i]);
        }
        fputc('}', f);
    }
    if (info->kind != K_EFFECT)
        fprintf(f, " : %s", type_str(n->dtype, n->shape));
    if (n->flags & NF_PARAM)
        fputs(" !param", f);
    if (n->flags & NF_TRAINABLE)
        fputs(" !trainable", f);
    if (n->flags & NF_INPUT)
        fputs(" !input", f);
    if (n->flags & NF_OUTPUT)
        fputs(" !output", f);
    if (n->flags & NF_BACKWARD)
        fputs(" !backward", f);
    if (n->flags & NF_UPDATE)
        fputs(" !update", f);
    if (n->flags & NF_GRAD)
        fputs(" !grad", f);
    if (n->flags & NF_NOGRAD)
        fputs(" !nograd", f);
    if (n->group)
        fprintf(f, " !group=%d", n->group);
    if (n->name) {
        fputc(' ', f);
        ir_print_string(f, n->name);
    }
    if (n->loc.file >= 0) {
        fputs(" @", f);
        ir_print_string(f, ir_base_name(diag_file_name(n->loc.file))); /* no checkout's path */
        fprintf(f, ":%d:%d", n->loc.line, n->loc.col);
    }
    fputc('\n', f);
}

/* Which section a node belongs to; the printer heads each run of nodes with a comment. */
static const char *section(const Node *n) {
    return n->flags & NF_UPDATE ? "update" : n->flags & NF_BACKWARD ? "backward" : "forward";
}

void ir_print(FILE *f, const Graph *g) {
    fprintf(f, "graph %s {\n", g->name);
    const char *cur = "forward";
    bool any_backward = false;
    for (int i = 0; i < g->nnode; i++)
        any_backward |= (g->nodes[i].flags & (NF_BACKWARD | NF_UPDATE)) != 0;
    for (int i = 0; i < g->nnode; i++) {
        const char *sec = section(&g->nodes[i]);
        if (any_backward && (i == 0 || strcmp(sec, cur)))
            fprintf(f, "  # ---- %s ----\n", sec);
        cur = sec;
        print_node(f, &g->nodes[i]);
    }
    fputs("}\n", f);
}

char *ir_sprint(const Graph *g) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        die("open_memstream failed");
    ir_print(f, g);
    fclose(f);
    char *s = ir_strndup(buf, len);
    free(buf);
    return s;
}

/* A DOT string literal: quotes and backslashes escaped. */
static void dot_string(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fputc('\\', f);
        if (*s == '\n')
            fputs("\\n", f);
        else
            fputc(*s, f);
    }
    fputc('"', f);
}

/*
 * Graphviz DOT of the graph: one box per node (op, type, name), edges from inputs, and the
 * forward, backward and update sections as clusters of their own colour, so the gradient of a
 * parameter can be followed back to the forward op it comes from (dot -Tsvg g.dot > g.svg).
 * Each fusion group (one kernel) is a dashed box inside its section.
 */
void ir_print_dot(FILE *f, const Graph *g) {
    fprintf(f, "digraph %s {\n  rankdir=TB;\n  node [shape=box, style=\"rounded,filled\", fontname=\"monospace\"];\n",
            g->name);
    static const struct {
        unsigned flag;
        const char *name, *color;
    } sections[] = {{0, "forward", "#e8f0fe"}, {NF_BACKWARD, "backward", "#fde8e8"}, {NF_UPDATE, "update", "#e6f4ea"}};
    for (int s = 0; s < 3; s++) {
        fprintf(f, "  subgraph cluster_%s {\n    label=\"%s\";\n    color=\"#999999\";\n", sections[s].name,
                sections[s].name);
        int open_group = 0;
        for (int i = 0; i < g->nnode; i++) {
            const Node *n = &g->nodes[i];
            /* a fusion group is drawn in the section of its first node, as a dashed box */
            const Node *lead = n;
            while (lead->group && lead->id > 0 && g->nodes[lead->id - 1].group == n->group)
                lead--;
            unsigned sec = lead->flags & NF_UPDATE ? NF_UPDATE : lead->flags & NF_BACKWARD ? NF_BACKWARD : 0;
            if (open_group && n->group != open_group) {
                fputs("    }\n", f);
                open_group = 0;
            }
            if (sec != sections[s].flag)
                continue;
            if (n->group && n->group != open_group) {
                fprintf(f, "    subgraph cluster_group%d {\n      label=\"kernel %%%d\";\n      style=dashed;\n", n->group,
                        lead->id);
                open_group = n->group;
            }
            const char *label = op_info[n->op].kind == K_EFFECT
                                    ? ir_fmt("%s", op_info[n->op].name)
                                    : ir_fmt("%%%d %s\n%s%s%s", n->id, op_info[n->op].name, type_str(n->dtype, n->shape),
                                             n->name ? "\n" : "", n->name ? n->name : "");
            fprintf(f, "    n%d [label=", n->id);
            dot_string(f, label);
            fprintf(f, ", fillcolor=\"%s\"%s];\n", sections[s].color,
                    n->flags & NF_PARAM ? ", penwidth=2" : "");
        }
        if (open_group)
            fputs("    }\n", f);
        fputs("  }\n", f);
    }
    for (int i = 0; i < g->nnode; i++)
        for (int k = 0; k < g->nodes[i].nin; k++)
            fprintf(f, "  n%d -> n%d;\n", g->nodes[i].in[k], i);
    fputs("}\n", f);
}

/* What a loader's next batch goes into: "images, labels" or a TensorDataset's "a, b, c". */
static const char *batch_slots(const HostStmt *h) {
    if (!h->outs)
        return ir_fmt("%s, %s", h->x, h->y);
    const char *s = "";
    for (int i = 0; i < h->nouts; i++)
        s = ir_fmt("%s%s%s", s, i ? ", " : "", h->outs[i]);
    return s;
}

static void print_host_block(FILE *f, const HostBlock *b, int depth) {
    for (int i = 0; i < b->n; i++) {
        const HostStmt *h = b->s[i];
        fprintf(f, "#   %*s", 2 * depth, "");
        switch (h->kind) {
        case H_RUN: fprintf(f, "run segment %d\n", h->seg); break;
        case H_BREAK: fprintf(f, "break\n"); break;
        case H_CONTINUE: fprintf(f, "continue\n"); break;
        case H_DATA: fprintf(f, "load dataset %d\n", h->data); break;
        case H_ITER: fprintf(f, "start iterator %d\n", h->data); break;
        case H_NEXT: fprintf(f, "%s = next(iterator %d)\n", batch_slots(h), h->data); break;
        case H_FOR:
            if (h->x || h->outs) {
                fprintf(f, "for %s%s(%s) in iterator %d%s (from %lld):\n", h->slot ? h->slot : "",
                        h->slot ? ", " : "", batch_slots(h), h->data, h->rest ? "'s last partial batch" : "",
                        (long long)h->lim[0]);
                print_host_block(f, &h->body, depth + 1);
                break;
            }
            fprintf(f, "for %s in range(", h->slot);
            for (int k = 0; k < 3; k++)
                h->bound[k] ? fprintf(f, "%s%s", k ? ", " : "", h->bound[k]) : fprintf(f, "%s%lld", k ? ", " : "", (long long)h->lim[k]);
            fprintf(f, "):\n");
            print_host_block(f, &h->body, depth + 1);
            break;
        case H_WHILE:
            fprintf(f, "while:\n");
            print_host_block(f, &h->test, depth + 1);
            fprintf(f, "#   %*s  if not %s: break\n", 2 * depth, "", h->slot);
            print_host_block(f, &h->body, depth + 1);
            break;
        case H_IF:
            fprintf(f, "if %s:\n", h->slot);
            print_host_block(f, &h->body, depth + 1);
            if (h->orelse.n) {
                fprintf(f, "#   %*selse:\n", 2 * depth, "");
                print_host_block(f, &h->orelse, depth + 1);
            }
            break;
        }
    }
}

void ir_print_host(FILE *f, const char *program, const HostBlock *b) {
    fprintf(f, "# program %s: host code around its segments (%s_s0, ...)\n", program, program);
    print_host_block(f, b, 0);
}
