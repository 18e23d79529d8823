/*
 * host.c: emit_c, the program around the kernels: the header (the arena's size, the functions a
 * caller links), the .c's preamble, each program's kernels and run function (a flat list of
 * kernel calls, runtime calls for sources and prints, in graph order), and for a train block
 * PREFIX_init, the tensor table, the training step and predict. Where the step and predict run
 * is the backend's (frame.h): backend_c, at the end of this file, writes them as C here.
 *
 * Every value lives at a fixed offset of one arena the caller provides, so a run allocates
 * nothing; a function's pointer variables v<node> name those offsets with each buffer's lifetime.
 */
#include "emit.h"

#include <stdlib.h>
#include <string.h>

/* ---- literals and types ---- */

static const char *tg_dtype(DType dt) {
    static const char *names[] = {"TG_F32", "TG_F64", "TG_I32", "TG_I64", "TG_BOOL", "TG_U8"};
    return names[dt];
}

static const char *shape_lit(Shape s) {
    if (!s.rank)
        return "NULL";
    const char *e = "(const int64_t[]){";
    for (int i = 0; i < s.rank; i++)
        e = ir_fmt("%s%s%lld", e, i ? ", " : "", (long long)s.d[i]);
    return ir_fmt("%s}", e);
}

/* ---- the run function ---- */

/* Python format spec (validated by the frontend) -> printf conversion for one number. */
static const char *printf_spec(const Node *at, const char *spec, DType dt) {
    char fill = ' ', align = 0, sign = 0, type = 0;
    int width = 0, prec = -1;
    const char *s = spec;
    size_t n = strlen(s);
    if (n >= 2 && strchr("<>^=", s[1])) { fill = s[0]; align = s[1]; s += 2; }
    else if (n >= 1 && strchr("<>^=", s[0])) { align = s[0]; s++; }
    if (*s == '+' || *s == '-' || *s == ' ') sign = *s++;
    if (*s == '0') { fill = '0'; s++; }
    while (*s >= '0' && *s <= '9') width = width * 10 + (*s++ - '0');
    if (*s == '.') { s++; prec = 0; while (*s >= '0' && *s <= '9') prec = prec * 10 + (*s++ - '0'); }
    if (*s) type = *s;
    if ((fill != ' ' && fill != '0') || align == '^')
        error_at(at->loc, "format specifier '%s': only space or zero fill and '<'/'>' alignment are supported for tensors", spec);
    const char *f = "%";
    if (align == '<') f = ir_fmt("%s-", f);
    if (sign == '+') f = ir_fmt("%s+", f);
    if (sign == ' ') f = ir_fmt("%s ", f);
    if (width > 1000 || prec > 1000)
        error_at(at->loc, "format specifier '%s': width and precision go up to 1000", spec);
    if (fill == '0') f = ir_fmt("%s0", f);
    if (width) f = ir_fmt("%s%d", f, width);
    if (type == '%')
        error_at(at->loc, "format '%%' is not supported for tensors");
    if (dtype_is_float(dt) || (type && type != 'd')) {
        if (!type) type = 'g';
        return ir_fmt("%s.%d%c", f, prec < 0 ? 6 : prec, type);
    }
    return ir_fmt("%slld", f);
}

/* fputs of n bytes of text, in literals of at most 2,000 bytes: C99 promises no more than 4,095
 * characters in one, and a module tree's text (print(resnet)) has more. */
static void emit_fputs(const char *buf, size_t n) {
    for (size_t at = 0; at < n; at += 2000) {
        P("    fputs(");
        cg_c_string(buf + at, n - at < 2000 ? n - at : 2000);
        P(", out);\n");
    }
}

/* {k:s:T|SPEC}: the string table T of the print's "strings" attribute indexed by a run-time int,
 * formatted as Python formats a str with SPEC ([<>][width][.precision][s]); an index out of range
 * is Python's IndexError, at the user's line. */
static void emit_print_string(const Node *n, const char *spec, const char *v) {
    int t = atoi(spec);
    const char *pyspec = strchr(spec, '|') + 1;
    const char *tab = node_str(n, "strings", "");
    for (int i = 0; i < t; i++)
        tab = strchr(tab, '\x1e') + 1;
    P("    {\n        static const char *const table[] = {");
    int count = 0;
    for (const char *e = tab; *e != '\x1e'; count++) {
        const char *end = strchr(e, '\x1f');
        P("%s", count ? ", " : "");
        cg_c_string(e, (size_t)(end - e));
        e = end + 1;
    }
    P("};\n        int64_t i = (int64_t)%s[0];\n", v);
    P("        if (i < -%d || i >= %d) {\n", count, count);
    P("            fprintf(stderr, \"%s:%d:%d: error: IndexError: index %%lld out of range for %d strings\\n\", (long long)i);\n",
      cg_comment_safe(ir_base_name(diag_file_name(n->loc.file))), n->loc.line, n->loc.col, count);
    P("            return 1;\n        }\n");
    bool right = *pyspec == '>';
    if (*pyspec == '<' || *pyspec == '>')
        pyspec++;
    const char *fmt = ir_fmt("%%%s%.*s", right || !*pyspec ? "" : "-", (int)strcspn(pyspec, "s"), pyspec);
    P("        fprintf(out, \"%ss\", table[i < 0 ? i + %d : i]);\n    }\n", fmt, count);
}

static void emit_print(const Node *n) {
    const char *fmt = node_str(n, "fmt", "");
    const char *lit = fmt;
    char *buf = ir_alloc(strlen(fmt) + 1);
    size_t bn = 0;
    P("    /* %s:%d */\n", cg_comment_safe(ir_base_name(diag_file_name(n->loc.file))), n->loc.line);
    for (const char *p = fmt; *p;) {
        if ((p[0] == '{' && p[1] == '{') || (p[0] == '}' && p[1] == '}')) {
            buf[bn++] = p[0];
            p += 2;
            continue;
        }
        if (*p != '{') {
            buf[bn++] = *p++;
            continue;
        }
        if (bn) {
            emit_fputs(buf, bn);
            bn = 0;
        }
        char *end;
        long k = strtol(p + 1, &end, 10);
        char kind = end[1];
        const char *spec = NULL;
        const char *close = strchr(end, '}');
        if (end[2] == ':')
            spec = ir_strndup(end + 3, (size_t)(close - end - 3));
        Node *x = &cg.g->nodes[n->in[k]];
        const char *v = cg_var(x->id);
        if (kind == 's') {
            emit_print_string(n, spec, v);
            p = close + 1;
            continue;
        }
        if (kind == 't' && spec) { /* "requires_grad=True", "grad_fn=<AddmmBackward0>" */
            P("    tg_print_tensor(out, %s, %s, %d, %s, (const char *const[]){", v, tg_dtype(x->dtype), x->shape.rank,
              shape_lit(x->shape));
            cg_c_string(spec, strlen(spec));
            P("}, 1);\n");
        } else if (kind == 't')
            P("    tg_print_tensor(out, %s, %s, %d, %s, NULL, 0);\n", v, tg_dtype(x->dtype), x->shape.rank, shape_lit(x->shape));
        else if (kind == 'n')
            P("    tg_print_numpy(out, %s, %s, %d, %s);\n", v, tg_dtype(x->dtype), x->shape.rank, shape_lit(x->shape));
        else if (spec) {
            const char *pf = printf_spec(n, spec, x->dtype);
            bool as_double = pf[strlen(pf) - 1] != 'd'; /* Python formats an int with 'f' as a float */
            P("    fprintf(out, \"%s\", ", pf);
            P(as_double ? "(double)%s[0]);\n" : "(long long)%s[0]);\n", v);
        } else if (dtype_is_float(x->dtype))
            P("    tg_print_pyfloat(out, (double)%s[0]);\n", v);
        else if (x->dtype == DT_BOOL)
            P("    fputs(%s[0] ? \"True\" : \"False\", out);\n", v);
        else
            P("    fprintf(out, \"%%lld\", (long long)%s[0]);\n", v);
        p = close + 1;
    }
    (void)lit;
    if (bn)
        emit_fputs(buf, bn);
}

/* A buffer's lifetime, for the comments: persistent, or the nodes that write it and last read it. */
static const char *lifetime(int i) {
    const Node *n = &cg.g->nodes[i];
    return n->op == OP_PARAM          ? "persistent"
           : (n->flags & NF_GRAD)     ? ir_fmt("gradient, persistent, from %%%d", cg.m->first[i])
           : cg.m->last[i] >= cg.g->nnode ? ir_fmt("live %%%d..return", cg.m->first[i])
                                      : ir_fmt("live %%%d..%%%d", cg.m->first[i], cg.m->last[i]);
}

/* The current graph's arena offsets (memplan), one constant per buffer, which the functions below
 * name their pointers with; beside each, the buffer's type, size and lifetime. */
void emit_offsets(const char *whose) {
    P("\n/* Where the buffers of %s lie in the arena: byte offsets from memplan. */\n", whose);
    for (int i = 0; i < cg.g->nnode; i++) {
        const Node *n = &cg.g->nodes[i];
        if (cg.m->off[i] < 0 || cg_owner(i) != i)
            continue;
        P("#define %s %lld /* %s%s%s, %lld bytes, %s */\n", cg_off(i), (long long)cg.m->off[i],
          type_str(n->dtype, n->shape), n->name ? " " : "", n->name ? cg_comment_safe(n->name) : "",
          (long long)(shape_numel(n->shape) * dtype_size(n->dtype)), lifetime(i));
    }
}

/* The pointer variables of a function (cg_var), at their buffers' offsets (emit_offsets): a view,
 * or a value computed in place, at the offset of the buffer it shares. */
static bool inputs_in_slices; /* emit_step's slice loop declares the inputs' pointers itself */

void emit_pointers(Graph *g, bool inputs, bool programs) {
    /* only the buffers the function names: a view or a value updated in place may have none */
    bool *used = ir_alloc((size_t)g->nnode + 1);
    for (int i = 0, f, l; i < g->nnode; i++) {
        Node *n = &g->nodes[i];
        if (cg_kernel_at(i, &f, &l)) {
            cg_unit_begin(f, l);
            for (int a = 0; a < cg.u.nargs; a++)
                used[cg.u.args[a].node] = true;
        }
        if (op_info[n->op].kind == K_EFFECT && !(n->op == OP_ASSIGN && cg.m->off[n->in[0]] == cg.m->off[n->in[1]]))
            for (int k = 0; k < n->nin; k++)
                used[n->in[k]] = true;
        /* a program's sources are set up here, except a segment's slots (read where used) */
        bool slot = n->op == OP_PARAM && !strcmp(node_str(n, "init", ""), "slot");
        if ((op_info[n->op].kind == K_SRC && (n->op != OP_PARAM || (programs && !slot))) || (n->flags & NF_OUTPUT) ||
            !inputs)
            used[i] = true;
    }
    for (int i = 0; i < g->nnode; i++) {
        Node *n = &g->nodes[i];
        if (!used[i])
            continue;
        if (n->op == OP_INPUT && inputs && !inputs_in_slices)
            P("    const %s *%s = %s; /* %s */\n", dtype_ctype(n->dtype), cg_var(i), n->name,
              type_str(n->dtype, n->shape));
        if (cg.m->off[i] < 0 || (!inputs && n->op != OP_PARAM))
            continue;
        int o = cg_owner(i);
        const char *shared = o == i ? ""
                             : cg.g->nodes[o].op == OP_PARAM ? ir_fmt(", the new %s, written in place",
                                                                      cg_comment_safe(cg.g->nodes[o].name ? cg.g->nodes[o].name : ""))
                             : cg.m->view[i] ? ir_fmt(", view of %%%d", n->in[0])
                                             : ir_fmt(", in place of %%%d", o);
        P("    %s *%s = (%s *)(mem + %s); /* %s%s%s%s */\n", dtype_ctype(n->dtype), cg_var(i), dtype_ctype(n->dtype),
          cg_off(i), type_str(n->dtype, n->shape), n->name ? " " : "", n->name ? cg_comment_safe(n->name) : "", shared);
    }
}

/*
 * One tensor of load_state(net, "w.safetensors"). The load that carries keys (the model's names,
 * one per line) lists them in a table, and the runtime checks that the file holds exactly those.
 */
static void emit_load_safetensors(const Node *n) {
    const char *path = node_str(n, "path", ""), *key = node_str(n, "key", ""), *keys = node_str(n, "keys", NULL);
    int nkeys = 0;
    if (keys) {
        P("    static const char *const %s_names[] = { /* every tensor the model has */\n", cg_var(n->id));
        for (const char *k = keys;; k++) {
            const char *end = strchr(k, '\n');
            P("        ");
            cg_c_string(k, end ? (size_t)(end - k) : strlen(k));
            P(",\n");
            nkeys++;
            if (!end)
                break;
            k = end;
        }
        P("    };\n");
    }
    const char *under = node_str(n, "under", NULL);
    P("    if (tg_load_one_safetensors(");
    cg_c_string(path, strlen(path));
    P(", ");
    if (under)
        cg_c_string(under, strlen(under));
    else
        P("NULL");
    P(", ");
    cg_c_string(key, strlen(key));
    P(", %s, %d, %s, %s, %s, %d, err, sizeof err)) {\n", tg_dtype(n->dtype), n->shape.rank, shape_lit(n->shape),
      cg_var(n->id), keys ? ir_fmt("%s_names", cg_var(n->id)) : "NULL", nkeys);
    P("        fprintf(stderr, \"%%s\\n\", err);\n        return 1;\n    }\n");
}

/* A parameter filled with its init's value (init = "full"), the comment naming it after note. */
static void emit_param_fill(const Node *n, const char *note) {
    const char *v = cg_var(n->id), *value = cg_literal(node_float(n, "value", 0), n->dtype);
    const char *name = cg_comment_safe(n->name ? n->name : "");
    if (shape_numel(n->shape) == 1)
        P("    %s[0] = %s; /* %s%s */\n", v, value, note, name);
    else
        P("    for (int64_t i = 0; i < %lld; i++) /* %s%s */\n        %s[i] = %s;\n", (long long)shape_numel(n->shape), note,
          name, v, value);
}

static void emit_save_state(const Node *n, const char *path);

/* The program's options variable (PREFIX_options), or NULL when it has none. */
const char *options_var;

/* The host's part of node i of the current graph (R: the generator's expression): a print, a
 * seed, an option, a parameter's init, a random draw, a file read or written, a slot's copy; true
 * when that is all of it, false when its kernel's call follows (a run-time index is checked
 * first). */
bool emit_host_node(Graph *g, int i, const char *R) {
    Node *n = &g->nodes[i];
    int64_t cnt = shape_numel(n->shape);
    switch (n->op) {
    case OP_PRINT: emit_print(n); return true;
    case OP_SEED:
        if (n->nin) /* a seed known at run time */
            P("    tg_rng_seed(%s, (uint64_t)%s[0]);\n", R, cg_var(n->in[0]));
        else
            P("    tg_rng_seed(%s, %lldULL);\n", R, (long long)node_int(n, "seed", 0));
        return true;
    case OP_OPTION:
        P("    %s[0] = %s.%s; /* --%s */\n", cg_var(i), options_var, cg_ident(node_str(n, "name", "")),
          node_str(n, "name", ""));
        return true;
    case OP_PARAM:
        if (!strcmp(node_str(n, "init", ""), "slot")) /* written by an earlier segment */
            return true;
        if (!strcmp(node_str(n, "init", ""), "full")) { /* BatchNorm2d's ones and zeros: no random numbers */
            emit_param_fill(n, "init ");
            return true;
        }
        if (strcmp(node_str(n, "init", ""), "uniform"))
            die("unknown parameter init");
        /* fall through */
    case OP_RAND:
        P("    tg_uniform(%s, %s, %s, %lld, %s, %s);%s%s\n", R, tg_dtype(n->dtype), cg_var(i), (long long)cnt,
          cg_literal(node_float(n, "from", 0), DT_F64), cg_literal(node_float(n, "to", 1), DT_F64),
          n->name ? " /* init " : "", n->name ? ir_fmt("%s */", cg_comment_safe(n->name)) : "");
        return true;
    case OP_RANDINT:
        /* the bounds as int64_t literals: -9223372036854775808 written out would be an unsigned constant */
        P("    tg_randint(%s, %s, %s, %lld, %s, %s);\n", R, tg_dtype(n->dtype), cg_var(i), (long long)cnt,
          cg_attr_literal(node_attr(n, "low"), 0, DT_I64), cg_attr_literal(node_attr(n, "high"), 0, DT_I64));
        return true;
    case OP_RANDPERM:
        P("    tg_randperm(%s, %s, %lld);\n", R, cg_var(i), (long long)cnt);
        return true;
    case OP_BERNOULLI:
        P("    tg_bernoulli(%s, %s, %s, %lld, %s);\n", R, tg_dtype(n->dtype), cg_var(i), (long long)cnt,
          cg_literal(node_float(n, "p", 0.5), DT_F64));
        return true;
    case OP_RANDN:
        P("    tg_normal(%s, %s, %s, %lld, %s, %s);\n", R, tg_dtype(n->dtype), cg_var(i), (long long)cnt,
          cg_literal(node_float(n, "mean", 0), DT_F64), cg_literal(node_float(n, "std", 1), DT_F64));
        return true;
    case OP_LOAD:
        if (node_attr(n, "key")) {
            emit_load_safetensors(n);
            return true;
        }
        P("    if (tg_npy_load(");
        cg_c_string(node_str(n, "path", ""), strlen(node_str(n, "path", "")));
        P(", %s, %d, %s, %s, err, sizeof err)) {\n", tg_dtype(n->dtype), n->shape.rank, shape_lit(n->shape), cg_var(i));
        P("        fprintf(stderr, \"%%s\\n\", err);\n        return 1;\n    }\n");
        return true;
    case OP_SAVE: {
        Node *x = &g->nodes[n->in[0]];
        const char *path = node_str(n, "path", "");
        if (node_attr(n, "keys")) {
            emit_save_state(n, path);
            return true;
        }
        if (x->dtype == DT_U8 && x->shape.rank == 3 && x->shape.d[2] == 3 && strlen(path) >= 4 &&
            !strcmp(path + strlen(path) - 4, ".png")) { /* save_image: (H, W, RGB) bytes */
            P("    if (tg_write_png(");
            cg_c_string(path, strlen(path));
            P(", %s, %lld, %lld, err, sizeof err)) {\n", cg_var(x->id), (long long)x->shape.d[1], (long long)x->shape.d[0]);
            P("        fprintf(stderr, \"%s:%d:%d: error: %%s\\n\", err);\n        return 1;\n    }\n",
              cg_comment_safe(ir_base_name(diag_file_name(n->loc.file))), n->loc.line, n->loc.col);
            return true;
        }
        P("    if (tg_npy_save(");
        cg_c_string(path, strlen(path));
        P(", %s, %d, %s, %s, err, sizeof err)) {\n", tg_dtype(x->dtype), x->shape.rank, shape_lit(x->shape), cg_var(x->id));
        P("        fprintf(stderr, \"%%s\\n\", err);\n        return 1;\n    }\n");
        return true;
    }
    case OP_INPUT:
        return true;
    case OP_ASSIGN: { /* a staged program's slot gets its new value (where it was not computed in place) */
        const Node *dst = &g->nodes[n->in[0]];
        if (cg.m->off[n->in[0]] != cg.m->off[n->in[1]])
            P("    memcpy(%s, %s, %lld); /* %s */\n", cg_var(n->in[0]), cg_var(n->in[1]),
              (long long)(shape_numel(dst->shape) * dtype_size(dst->dtype)), cg_comment_safe(dst->name ? dst->name : ""));
        return true;
    }
    case OP_SELECT: case OP_SETSELECT: { /* Python's IndexError, at the user's line */
        const Node *x = &g->nodes[n->in[0]];
        int axis = (int)node_int(n, "axis", 0);
        const char *ix = cg_var(n->in[n->op == OP_SELECT ? 1 : 2]);
        long long len = (long long)x->shape.d[axis];
        P("    if (%s[0] < -%lld || %s[0] >= %lld) {\n", ix, len, ix, len);
        P("        fprintf(stderr, \"%s:%d:%d: error: index %%lld is out of bounds for dimension %d with size %lld\\n\", "
          "(long long)%s[0]);\n",
          cg_comment_safe(ir_base_name(diag_file_name(n->loc.file))), n->loc.line, n->loc.col, axis, len, ix);
        P("        return 1;\n    }\n");
        return false;
    }
    case OP_GATHER: case OP_SCATTER_ADD: case OP_INDEX_SELECT: case OP_INDEX_ADD: { /* every index, at the user's line */
        const Node *x = &g->nodes[n->in[0]], *ix = &g->nodes[n->in[1]];
        int axis = (int)node_int(n, "axis", 0);
        const char *iv = cg_var(n->in[1]);
        long long len = (long long)x->shape.d[axis];
        bool wrap = node_int(n, "wrap", 0), rows = n->op == OP_INDEX_SELECT || n->op == OP_INDEX_ADD;
        const char *file = cg_comment_safe(ir_base_name(diag_file_name(n->loc.file)));
        int64_t cnt = shape_numel(ix->shape);
        if (!cnt)
            return false;
        const char *q = cnt == 1 ? "0" : "q";
        int ind = cnt == 1 ? 4 : 8;
        if (cnt > 1)
            P("    for (int64_t q = 0; q < %lld; q++)\n", (long long)cnt);
        P("%*sif (%s[%s] < %lld || %s[%s] >= %lld) {\n", ind, "", iv, q, wrap ? -len : 0, iv, q, len);
        if (node_int(n, "one_hot", 0)) /* F.one_hot's classes */
            P("%*s    fprintf(stderr, \"%s:%d:%d: error: Class values must be %%s (got %%lld for %lld classes)\\n\", "
              "%s[%s] < 0 ? \"non-negative\" : \"smaller than num_classes\", (long long)%s[%s]);\n", ind, "", file,
              n->loc.line, n->loc.col, len, iv, q, iv, q);
        else if (rows && !wrap) /* PyTorch's words for index_select and index_add */
            P("%*s    fprintf(stderr, \"%s:%d:%d: error: index out of range in self (index %%lld, size %lld)\\n\", "
              "(long long)%s[%s]);\n", ind, "", file, n->loc.line, n->loc.col, len, iv, q);
        else
            P("%*s    fprintf(stderr, \"%s:%d:%d: error: index %%lld is out of bounds for dimension %d with size "
              "%lld\\n\", (long long)%s[%s]);\n", ind, "", file, n->loc.line, n->loc.col, axis, len, iv, q);
        P("%*s    return 1;\n%*s}\n", ind, "", ind, "");
        return false;
    }
    default:
        return false;
    }
}

/* A program's run function: its sources, prints and kernel calls, in graph order. A segment of a
 * staged program (seg) is a static function of the arena and the program's generator. */
void emit_run(Graph *g, const MemPlan *m, const char *kpre, const char *fn, bool seg) {
    cg_begin(g, m, kpre);
    emit_offsets(ir_fmt("%s %s", seg ? "segment" : "program", g->name));
    if (seg)
        P("\nstatic int %s(unsigned char *mem, TgRng *rng, FILE *out) {\n", fn);
    else
        P("\nint %s(void *arena, FILE *out) {\n    unsigned char *mem = arena;\n", fn);
    bool rng = false, load = false;
    for (int i = 0; i < g->nnode; i++) {
        Op op = g->nodes[i].op;
        rng |= op == OP_RAND || op == OP_RANDN || op == OP_BERNOULLI || op == OP_RANDINT || op == OP_RANDPERM || (op == OP_PARAM && strcmp(node_str(&g->nodes[i], "init", ""), "slot")) ||
               op == OP_SEED;
        load |= op == OP_LOAD || op == OP_SAVE;
    }
    const char *R = seg ? "rng" : "&rng";
    if (seg)
        P("    (void)mem;\n    (void)rng;\n    (void)out;\n");
    else if (rng)
        P("    TgRng rng;\n    tg_rng_seed(&rng, TG_DEFAULT_SEED); /* as a fresh PyTorch process */\n");
    if (load)
        P("    char err[512];\n");
    emit_pointers(g, true, true);
    for (int i = 0; i < g->nnode; i++)
        if (!emit_host_node(g, i, R))
            emit_call_at(i);
    P("    return 0;\n}\n");
}

/* torch.save(state_dict, PATH): every input under its name, one .safetensors file, atomically. */
static void emit_save_state(const Node *n, const char *path) {
    const char *keys = node_str(n, "keys", "");
    P("    {\n        TgNamedTensor t[%d] = {\n", n->nin);
    for (int i = 0; i < n->nin; i++) {
        const Node *x = &cg.g->nodes[n->in[i]];
        const char *end = strchr(keys, '\n');
        size_t len = end ? (size_t)(end - keys) : strlen(keys);
        P("            {");
        cg_c_string(keys, len);
        P(", %s, %d, (const int64_t[]){", tg_dtype(x->dtype), x->shape.rank);
        for (int d = 0; d < x->shape.rank; d++)
            P("%s%lld", d ? ", " : "", (long long)x->shape.d[d]);
        P("%s}, %s},\n", x->shape.rank ? "" : "0", cg_var(x->id));
        keys = end ? end + 1 : keys + len;
    }
    P("        };\n        if (tg_save_safetensors(");
    cg_c_string(path, strlen(path));
    P(", t, %d, NULL, NULL, 0, err, sizeof err)) {\n", n->nin);
    P("            fprintf(stderr, \"%s:%d:%d: error: %%s\\n\", err);\n            return 1;\n        }\n    }\n",
      cg_comment_safe(ir_base_name(diag_file_name(n->loc.file))), n->loc.line, n->loc.col);
}

/* ---- the training step ---- */

/* A tensor of the model's state_dict (a parameter or a buffer such as a running mean), not the
 * optimizer's: its state carries PyTorch's names (step, lr, <param>.momentum_buffer, .exp_avg,
 * .exp_avg_sq), which no module's tensor has. */
static bool model_tensor(const Node *n) {
    const char *s = n->name ? n->name : "";
    static const char *const suffix[] = {".momentum_buffer", ".exp_avg", ".exp_avg_sq"};
    if (!strcmp(s, "step") || !strcmp(s, "lr") || s[0] == '~') /* ~replaced: a layer no longer the model's */
        return false;
    for (int i = 0; i < 3; i++) {
        size_t l = strlen(s), k = strlen(suffix[i]);
        if (l > k && !strcmp(s + l - k, suffix[i]))
            return false;
    }
    return true;
}

/* PREFIX_init: parameters as PyTorch initializes them, optimizer state zero. */
void emit_init_fn(Graph *g, const char *fn) {
    P("void %s(void *arena, uint64_t seed) {\n    unsigned char *mem = arena;\n", fn);
    P("    TgRng rng;\n    tg_rng_seed(&rng, seed);\n");
    emit_pointers(g, false, false);
    for (int i = 0; i < g->nnode; i++) {
        Node *n = &g->nodes[i];
        if (n->op != OP_PARAM)
            continue;
        if (!strcmp(node_str(n, "init", ""), "full"))
            emit_param_fill(n, "");
        else if (!strcmp(node_str(n, "init", ""), "uniform"))
            P("    tg_uniform(&rng, %s, %s, %lld, %s, %s); /* %s */\n", tg_dtype(n->dtype), cg_var(i),
              (long long)shape_numel(n->shape), cg_literal(node_float(n, "from", 0), DT_F64),
              cg_literal(node_float(n, "to", 1), DT_F64), cg_comment_safe(n->name ? n->name : ""));
        else if (!strcmp(node_str(n, "init", ""), "draws")) /* the step's generator: the seed, no step yet */
            P("    %s[0] = (int64_t)seed;\n    %s[1] = 0; /* %s */\n", cg_var(i), cg_var(i), cg_comment_safe(n->name));
        else
            P("    memset(%s, 0, %lld); /* %s */\n", cg_var(i), (long long)(shape_numel(n->shape) * dtype_size(n->dtype)),
              cg_comment_safe(n->name ? n->name : ""));
    }
    P("}\n");
}

static void emit_init(const TrainCode *t) {
    cg_begin(t->train, t->train_plan, t->train_kpre);
    P("\n/* ---- training step: init ---- */\n");
    P("\n/* Parameters as PyTorch initializes them (from seed, in registration order), optimizer state zero. */\n");
    emit_init_fn(t->train, ir_fmt("%s_init", t->prefix));
}

static bool stores_sum(const Graph *g, const Node *n) {
    return n->op == OP_ASSIGN && !strcmp(node_str(&g->nodes[n->in[0]], "init", ""), "acc");
}

/* The step's kernel calls (and the copies memplan could not avoid) of nodes [from, to), each
 * section under its comment, every line indented by `ind` more; sums: the stores into the sliced
 * step's grad_sum buffers (1), or the others (0). */
static void emit_calls(Graph *g, int from, int to, int ind, int sums) {
    char *buf;
    size_t len;
    FILE *saved = cg_capture(&buf, &len);
    const char *section = "";
    for (int i = from, f, l; i < to; i++) {
        Node *n = &g->nodes[i];
        Op op = n->op;
        if (op == OP_BERNOULLI || op == OP_RAND || op == OP_RANDN || op == OP_RANDINT || op == OP_RANDPERM) {
            emit_host_node(g, i, "&rng");
            continue;
        }
        if (n->op == OP_ASSIGN && stores_sum(g, n) != (sums == 1))
            continue;
        if (sums == 1 && n->op != OP_ASSIGN)
            continue;
        bool call = cg_kernel_at(i, &f, &l);
        bool copy = n->op == OP_ASSIGN && cg.m->off[n->in[0]] != cg.m->off[n->in[1]];
        const char *sec = cg_section(f, l);
        if (strcmp(sec, section) && (call || copy)) {
            P("    /* %s */\n", sec);
            section = sec;
        }
        if (copy) { /* the new value could not be computed in place (memplan says why not) */
            Node *dst = &g->nodes[n->in[0]];
            P("    memcpy(%s, %s, %lld); /* %s */\n", cg_var(n->in[0]), cg_var(n->in[1]),
              (long long)(shape_numel(dst->shape) * dtype_size(dst->dtype)), cg_comment_safe(dst->name ? dst->name : ""));
            continue;
        }
        emit_call_at(i);
    }
    cg_uncapture(saved);
    for (char *p = buf; p < buf + len;) {
        char *e = memchr(p, '\n', (size_t)(buf + len - p));
        size_t n = e ? (size_t)(e - p + 1) : (size_t)(buf + len - p);
        P("%*s%.*s", n > 1 ? ind : 0, "", (int)n, p);
        p += n;
    }
    free(buf);
}

/*
 * PREFIX_train_step: the kernel calls in order, the loss returned. With the batch in slices
 * (TrainConfig.slices), the forward and backward kernels run once per slice of the batch, each
 * adding its gradients into the parameters' grad_sum buffers (zeroed first), and the update runs
 * once after them; the loss returned is the mean of the slices' losses.
 */
static void emit_step(const TrainCode *t) {
    Graph *g = t->train;
    const char *pf = t->prefix;
    cg_begin(g, t->train_plan, t->train_kpre);
    int64_t slices = g->train && g->train->slices > 1 ? g->train->slices : 1;
    const Node *x = NULL, *y = NULL, *loss = NULL;
    int update = g->nnode; /* the first node of the update */
    for (int i = 0; i < g->nnode; i++) {
        const Node *n = &g->nodes[i];
        if (n->op == OP_INPUT && !x)
            x = n;
        else if (n->op == OP_INPUT)
            y = n;
        if (n->flags & NF_OUTPUT)
            loss = n;
        if ((n->flags & NF_UPDATE) && update == g->nnode)
            update = i;
    }
    Shape xs = x->shape, ys = y->shape;
    xs.d[0] *= slices;
    ys.d[0] *= slices;
    P("\n/* ---- training step: forward, backward, update ---- */\n");
    P("\n/* One step on one batch: x %s, y %s; returns the batch's loss. No allocation, no I/O. */\n",
      type_str(x->dtype, xs), type_str(y->dtype, ys));
    P("float %s_train_step(void *arena, const %s *x, const %s *y) {\n    unsigned char *mem = arena;\n", pf,
      dtype_ctype(x->dtype), dtype_ctype(y->dtype));
    inputs_in_slices = slices > 1;
    emit_pointers(g, true, false);
    inputs_in_slices = false;
    for (int i = 0; i < g->nnode; i++)
        if (g->nodes[i].op == OP_PARAM && !strcmp(node_str(&g->nodes[i], "init", ""), "draws")) {
            P("    /* the step's random draws (dropout): a generator seeded from the run's seed and the steps\n"
              "       taken, both in the arena, so a resumed run draws what an uninterrupted one would */\n");
            P("    int64_t *draws = (int64_t *)(mem + %s); /* dropout_rng: seed, steps */\n", cg_off(i));
            P("    TgRng rng;\n    tg_rng_seed(&rng, (uint64_t)draws[0] * 0x9e3779b97f4a7c15ULL + (uint64_t)draws[1]);\n");
            P("    draws[1]++;\n");
        }
    if (slices == 1) {
        emit_calls(g, 0, g->nnode, 0, 0);
        P("    return (float)%s[0];\n}\n", cg_var(loss->id));
        return;
    }
    for (int i = update; i < g->nnode; i++)
        if (!(g->nodes[i].flags & NF_UPDATE) && op_info[g->nodes[i].op].kind != K_SRC && g->nodes[i].op != OP_ASSIGN)
            die("the step's update is not after its forward and backward pass (node %d)", i);
    int64_t S = x->shape.d[0];
    P("    /* the batch in %lld slices of %lld images, so that a slice's activations stay in cache: each\n"
      "       slice's gradients are added into grad_sum, the update reads their mean */\n", (long long)slices,
      (long long)S);
    for (int i = 0; i < g->nnode; i++)
        if (g->nodes[i].op == OP_PARAM && !strcmp(node_str(&g->nodes[i], "init", ""), "acc"))
            P("    memset(mem + %s, 0, %lld); /* %s */\n", cg_off(i),
              (long long)(shape_numel(g->nodes[i].shape) * dtype_size(g->nodes[i].dtype)), cg_comment_safe(g->nodes[i].name));
    P("    double loss_sum = 0;\n");
    P("    for (int64_t slice = 0; slice < %lld; slice++) {\n", (long long)slices);
    const Node *in[2] = {x, y};
    for (int k = 0; k < 2; k++)
        P("        const %s *%s = %s + slice * %lld; /* %s */\n", dtype_ctype(in[k]->dtype), cg_var(in[k]->id),
          in[k]->name, (long long)shape_numel(in[k]->shape), type_str(in[k]->dtype, in[k]->shape));
    emit_calls(g, 0, update, 4, 0);
    emit_calls(g, update, g->nnode, 4, 1); /* the sums stored, where not computed in place */
    P("        loss_sum += %s[0];\n    }\n", cg_var(loss->id));
    emit_calls(g, update, g->nnode, 0, 0);
    P("    return (float)(loss_sum / %lld);\n}\n", (long long)slices);
}

/* The rows of a tensor table: each persistent tensor of the current graph (an export's outputs
 * aside), where it lives, with its PyTorch name. */
int emit_tensor_rows(Graph *g) {
    int rows = 0;
    for (int i = 0; i < g->nnode; i++) {
        Node *n = &g->nodes[i];
        if (n->op != OP_PARAM || !strcmp(node_str(n, "init", ""), "output") || !strcmp(node_str(n, "init", ""), "acc"))
            continue; /* an export's outputs; a sliced step's sums of gradients */
        rows++;
        P("    {\"%s\", %s, %s, %d, {", n->name ? cg_comment_safe(n->name) : "?", cg_off(i), tg_dtype(n->dtype),
          n->shape.rank);
        for (int k = 0; k < n->shape.rank; k++)
            P("%s%lld", k ? ", " : "", (long long)n->shape.d[k]);
        P("%s}, %d, %d},\n", n->shape.rank ? "" : "0", (n->flags & NF_TRAINABLE) ? 1 : 0, model_tensor(n) ? 1 : 0);
    }
    return rows;
}

/* PREFIX_tensors: where each persistent tensor lives, with its PyTorch name. */
static void emit_tensor_table(const TrainCode *t) {
    Graph *g = t->train;
    const char *pf = t->prefix;
    cg_begin(g, t->train_plan, t->train_kpre);
    P("\n/* Where each parameter and optimizer state lives in the arena, by PyTorch's state_dict name. */\n");
    P("const %sTensor %s_tensors[] = {\n", pf, pf);
    emit_tensor_rows(g);
    P("};\nconst int %s_ntensors = (int)(sizeof %s_tensors / sizeof %s_tensors[0]);\n", pf, pf, pf);
}

/* PREFIX_predict: the forward pass's kernel calls, the output copied out. */
static void emit_predict(const TrainCode *t) {
    Graph *g = t->pred;
    cg_begin(g, t->pred_plan, "p");
    const Node *o = NULL;
    for (int i = 0; i < g->nnode; i++)
        if (g->nodes[i].flags & NF_OUTPUT)
            o = &g->nodes[i];
    P("\n/* ---- predict ---- */\n\nvoid %s_predict(void *arena, const float *x, float *out) {\n", t->prefix);
    P("    unsigned char *mem = arena;\n");
    emit_pointers(g, true, false);
    for (int i = 0; i < g->nnode; i++)
        emit_call_at(i);
    P("    memcpy(out, %s, %s);\n}\n", cg_var(o->id), ix_bytes(shape_numel(o->shape), "float"));
}

/* ---- the files ---- */

/* The header's part for a train block: batch size, the tensor table's type, init, step, predict. */
static void emit_header_train(const TrainCode *t, const Backend *be) {
    Graph *train = t->train, *pred = t->pred;
    const char *prefix = t->prefix;
    const Node *x = NULL;
    for (int i = 0; i < train->nnode && !x; i++)
        if (train->nodes[i].op == OP_INPUT)
            x = &train->nodes[i];
    P("\n/* The training step of %s. The caller owns the arena; nothing here allocates. */\n", train->name);
    P("#define %s_BATCH %lld\n", cg_upper(prefix),
      (long long)(x->shape.d[0] * (train->train && train->train->slices > 1 ? train->train->slices : 1)));
    P("typedef TgStateTensor %sTensor; /* name, offset, dtype, rank, shape, trainable, model (tgrt.h) */\n", prefix);
    P("extern const %sTensor %s_tensors[];\nextern const int %s_ntensors;\n", prefix, prefix, prefix);
    int npersist = 0;
    for (int i = 0; i < train->nnode; i++)
        npersist += train->nodes[i].op == OP_PARAM && strcmp(node_str(&train->nodes[i], "init", ""), "acc");
    P("#define %s_ntensors_max %d /* the length of %s_tensors, as a constant */\n", cg_upper(prefix), npersist, prefix);
    P("void %s_init(void *arena, uint64_t seed);\n", prefix);
    const Node *y = NULL;
    for (int i = 0; i < train->nnode; i++)
        if (train->nodes[i].op == OP_INPUT && &train->nodes[i] != x)
            y = &train->nodes[i];
    P("float %s_train_step(void *arena, const float *x, const %s *y);\n", prefix, dtype_ctype(y->dtype));
    if (pred) {
        const Node *o = NULL;
        for (int i = 0; i < pred->nnode; i++)
            if (pred->nodes[i].flags & NF_OUTPUT)
                o = &pred->nodes[i];
        P("/* The model's forward pass on a batch, no gradients: out is %s. */\n", type_str(o->dtype, o->shape));
        P("void %s_predict(void *arena, const float *x, float *out);\n", prefix);
    }
    if (be->declare)
        be->declare(t);
}

/* The header: the arena's size and every function a caller links. */
static void emit_header(const char *banner, Graph **programs, int nprograms, const char **fn, const EmitOptions *opt,
                        const TrainCode *t, const Backend *be) {
    const char *prefix = opt->prefix;
    /* programs run one after another and share the arena; predict's plan sits inside the step's */
    int64_t arena = 0;
    for (int p = 0; p < nprograms; p++)
        if (opt->plans[p]->total > arena)
            arena = opt->plans[p]->total;
    if (t && t->train_plan->total > arena)
        arena = t->train_plan->total;
    if (t && t->pred && t->pred_plan->total > arena)
        arena = t->pred_plan->total;
    const char *guard = ir_fmt("%s_H", cg_upper(prefix));
    P("%s#ifndef %s\n#define %s\n\n#include <stdint.h>\n#include <stdio.h>\n\n#include <tgrt.h>\n\n", banner, guard, guard);
    P("/* Bytes of working memory the caller provides (aligned to 64 bytes). */\n");
    P("#define %s_ARENA_BYTES %lld\n", cg_upper(prefix), (long long)(arena ? arena : 64));
    if (t)
        P("/* Of which the first bytes persist across steps: parameters, optimizer state, gradients. */\n"
          "#define %s_PERSISTENT_BYTES %lld\n", cg_upper(prefix), (long long)t->train_plan->persistent);
    P("\n");
    if (opt->noptions) {
        P("/* The program's options (options(...) in the .tg): main sets them from its command line\n"
          "   (--NAME VALUE); a caller of the run function may set them first. */\ntypedef struct {\n");
        for (int i = 0; i < opt->noptions; i++) {
            const HostOption *o = &opt->options[i];
            const char *ct = o->kind == OPT_INT ? "int64_t" : o->kind == OPT_FLOAT ? "double" : o->kind == OPT_BOOL ? "uint8_t"
                                                                                                   : "const char *";
            P("    %s%s%s; /* --%s, default %s */\n", ct, o->kind == OPT_STR ? "" : " ", cg_ident(o->name), o->name,
              cg_comment_safe(o->shown));
        }
        P("} %s_options_t;\nextern %s_options_t %s_options;\n\n", prefix, prefix, prefix);
    }
    for (int p = 0; p < nprograms; p++) {
        P("/* Runs program '%s', printing to out; returns 0, or 1 after reporting an error on stderr. */\n",
          programs[p]->name);
        P("int %s(void *arena, FILE *out);\n", fn[p]);
    }
    if (t)
        emit_header_train(t, be);
    emit_exports_header(opt);
    P("\n#endif\n");
}

/* The .c's first lines: the banner and includes, the vectorizer's pragmas, ipow where a C
 * kernel needs it. trainer: the file has the trainer's main, which needs POSIX. */
static void emit_preamble(const char *banner, Graph **programs, int nprograms, const EmitOptions *opt,
                          const TrainCode *t, const Backend *be, bool trainer) {
    if (trainer)
        P("%s#define _POSIX_C_SOURCE 200809L /* isatty and fileno, for the trainer's progress line */\n",
          opt->header ? banner : "");
    if (opt->header)
        P("%s#include \"%s\"\n", trainer ? "" : banner, opt->header);
    else
        P("\n"); /* the header was written just above, into this same file */
    P("\n#include <math.h>\n#include <stdint.h>\n#include <stdio.h>\n#include <string.h>\n\n#include <tgrt.h>\n%s",
      be->includes);
    P("\n/* The loops a kernel wants vectorized; OpenMP's simd where the compiler has OpenMP. It is a\n"
      "   request: a loop clang cannot vectorize at a low optimization level is no error. */\n"
      "#ifdef _OPENMP\n#define TG_SIMD _Pragma(\"omp simd\")\n#ifdef __clang__\n"
      "#pragma clang diagnostic ignored \"-Wpass-failed\"\n#endif\n#else\n#define TG_SIMD\n#endif\n");
    P("\n/* The kernels' register tiles count 256-bit AVX registers. GCC tuned for a CPU with 128-bit\n"
      "   units (AMD Zen 1) would vectorize them at 128 bits, twice the registers, and spill. (512 bits\n"
      "   on AVX-512 machines is faster, but GCC 12 at -O3 miscompiles a small strided copy that way:\n"
      "   docs/kernels.md.) */\n"
      "#if defined(__GNUC__) && !defined(__clang__) && defined(__AVX2__)\n"
      "#pragma GCC target(\"prefer-vector-width=256\")\n#endif\n");
    bool need_ipow = false; /* in any graph the C kernels compute: programs (each segment), the step, predict */
    for (int p = 0; p < nprograms + 2; p++) {
        const StagedProgram *sp = p < nprograms && opt->staged ? opt->staged[p] : NULL;
        for (int k = 0; k < (sp ? sp->nsegs : 1); k++) {
            Graph *g = sp ? sp->segs[k]
                       : p < nprograms ? programs[p] : !t || !be->kernels ? NULL : p == nprograms ? t->train : t->pred;
            for (int i = 0; g && i < g->nnode; i++)
                if (g->nodes[i].op == OP_POW && !dtype_is_float(g->nodes[i].dtype))
                    need_ipow = true;
        }
    }
    for (int k = 0; k < opt->nexports; k++)
        for (int i = 0; i < opt->exports[k]->nnode; i++)
            if (opt->exports[k]->nodes[i].op == OP_POW && !dtype_is_float(opt->exports[k]->nodes[i].dtype))
                need_ipow = true;
    if (need_ipow)
        P("\n/* Integer power as PyTorch computes it: by squaring, wrapping on overflow; a negative\n"
          "   exponent gives 1 for a base of 1, +-1 for -1, and 0 otherwise. */\n"
          "static int64_t ipow(int64_t b, int64_t e) {\n"
          "    if (e < 0)\n        return b == 1 ? 1 : b == -1 ? (e & 1 ? -1 : 1) : 0;\n"
          "    uint64_t r = 1, ub = (uint64_t)b;\n"
          "    for (; e > 0; e >>= 1, ub *= ub)\n        if (e & 1)\n            r *= ub;\n"
          "    return (int64_t)r;\n}\n");
}

/* A train block's functions, in the order the backend's hooks need (frame.h). */
static void emit_training(const TrainCode *t, const Backend *be) {
    if (be->kernels) {
        P("\n/* ---- training step of %s: kernels ---- */\n", t->train->name);
        be->kernels(t->train, t->train_plan, t->train_kpre);
    }
    cg_begin(t->train, t->train_plan, t->train_kpre);
    emit_offsets(ir_fmt("the training step of %s", t->train->name));
    emit_init(t);
    if (!be->device) /* the step beside its kernels */
        be->step(t);
    emit_tensor_table(t);
    if (be->device) { /* the device's code, then the step that launches its kernels */
        be->device(t);
        be->step(t);
    }
    if (!t->pred)
        return;
    if (be->kernels) {
        P("\n/* ---- predict: kernels ---- */\n");
        be->kernels(t->pred, t->pred_plan, "p");
    }
    cg_begin(t->pred, t->pred_plan, "p");
    emit_offsets("predict");
    be->predict(t);
}

/* The standalone program of a file's programs: main owns the arena and runs each in turn. */
static void emit_programs_main(const char *prefix, const char **fn, int nprograms, const EmitOptions *opt) {
    P("\n#ifndef TGC_NO_MAIN\n#include <stdlib.h>\n\n");
    P("/* The standalone program: main owns the arena (the run functions never allocate)%s. */\n",
      opt->has_options ? " and reads the options" : "");
    if (opt->has_options && !opt->noptions) {
        P("int main(int argc, char **argv) {\n");
        P("    int parsed = tg_parse_options(argc, argv, NULL, 0);\n");
        P("    if (parsed)\n        return parsed == 2 ? 0 : 1; /* 2: --help */\n");
    } else if (opt->noptions) {
        P("int main(int argc, char **argv) {\n    const TgOption options[] = {\n");
        static const char *const kinds[] = {"TG_OPT_INT", "TG_OPT_FLOAT", "TG_OPT_BOOL", "TG_OPT_STR"};
        for (int i = 0; i < opt->noptions; i++) {
            const HostOption *o = &opt->options[i];
            P("        {\"%s\", %s, &%s_options.%s, ", o->name, kinds[o->kind], prefix, cg_ident(o->name));
            cg_c_string(o->shown, strlen(o->shown));
            P("},\n");
        }
        P("    };\n    int parsed = tg_parse_options(argc, argv, options, %d);\n", opt->noptions);
        P("    if (parsed)\n        return parsed == 2 ? 0 : 1; /* 2: --help */\n");
    } else
        P("int main(void) {\n");
    P("    if (tg_check_omp_stacksize(\"%s\"))\n        return 2;\n", prefix);
    P("    unsigned char *raw = malloc(%s_ARENA_BYTES + 64);\n", cg_upper(prefix));
    P("    if (!raw) {\n");
    P("        fprintf(stderr, \"%s: cannot allocate %%.0f MiB of working memory\\n\",\n"
      "                (double)%s_ARENA_BYTES / 1048576.0);\n", prefix, cg_upper(prefix));
    P("        return 1;\n    }\n");
    P("    void *arena = raw + (64 - (size_t)((uintptr_t)raw %% 64)); /* 64-byte aligned */\n");
    P("    int status = 0;\n");
    for (int p = 0; p < nprograms; p++)
        P("    if (!status)\n        status = %s(arena, stdout);\n", fn[p]);
    P("    free(raw);\n");
    P("    if (fflush(stdout) != 0 || ferror(stdout)) { /* a full disk, a closed pipe: not a silent success */\n");
    P("        fprintf(stderr, \"%s: cannot write the output\\n\");\n        status = 1;\n    }\n", prefix);
    P("    return status;\n}\n#endif\n");
}

void emit_c(FILE *c, FILE *h, Graph **programs, int nprograms, const EmitOptions *opt) {
    emit_kernels_reset();
    const Backend *be = opt->backend && opt->train ? opt->backend : &backend_c;
    const Backend *pbe = opt->backend && opt->backend->program_device ? opt->backend : NULL; /* programs' */
    Graph *train = opt->train;
    TrainCode tc = {opt->prefix, opt->source, train, opt->train_plan, nprograms ? "t" : "",
                    train && train->train ? train->train->predict : NULL, opt->predict_plan};
    const TrainCode *t = train ? &tc : NULL;
    bool trainer = t && t->pred && opt->main && !nprograms;
    const char *banner = cg_banner(opt->source, opt->command);
    const char **fn = ir_alloc(sizeof(char *) * (size_t)(nprograms + 1));
    for (int p = 0; p < nprograms; p++)
        fn[p] = nprograms == 1 ? ir_fmt("%s_run", opt->prefix) : ir_fmt("%s_run_%s", opt->prefix, programs[p]->name);

    cg.out = h;
    emit_header(banner, programs, nprograms, fn, opt, t, be);
    cg.out = c;
    bool staged = false;
    for (int p = 0; p < nprograms; p++)
        staged |= opt->staged && opt->staged[p];
    emit_preamble(banner, programs, nprograms, opt, t, !t && pbe && staged ? pbe : be, trainer);
    options_var = opt->noptions ? ir_fmt("%s_options", opt->prefix) : NULL;
    if (opt->noptions) {
        P("\n/* The options' defaults (options(...)); main overwrites them from the command line. */\n");
        P("%s_options_t %s_options = {", opt->prefix, opt->prefix);
        for (int i = 0; i < opt->noptions; i++) {
            const HostOption *o = &opt->options[i];
            P("%s", i ? ", " : "");
            if (o->kind == OPT_STR)
                cg_c_string(o->s, strlen(o->s));
            else if (o->kind == OPT_FLOAT)
                P("%s", cg_literal(o->f, DT_F64));
            else
                P("%lld", (long long)o->i);
        }
        P("};\n");
    }
    for (int p = 0; p < nprograms; p++) {
        const char *kpre = p ? ir_fmt("p%d_", p) : ""; /* kernels of later programs must not clash with the first's */
        P("\n/* ---- program %s: kernels ---- */\n", programs[p]->name);
        if (!(opt->staged && opt->staged[p]))
            emit_kernels(programs[p], opt->plans[p], kpre);
        P("\n/* ---- program %s: run ---- */\n", programs[p]->name);
        if (opt->staged && opt->staged[p]) { /* the first staged program may use the device */
            emit_staged(opt->staged[p], kpre, fn[p], opt->prefix, opt->source, pbe);
            pbe = NULL;
        } else
            emit_run(programs[p], opt->plans[p], kpre, fn[p], false);
    }
    if (t)
        emit_training(t, be);
    emit_exports(opt);
    if (trainer)
        emit_trainer_main(t, be);
    if (opt->main && nprograms)
        emit_programs_main(opt->prefix, fn, nprograms, opt);
}

/* The C target: the step's and predict's kernels are C functions of the .c, run on the CPU. */
const Backend backend_c = {
    .name = "c",
    .includes = "",
    .kernels = emit_kernels,
    .step = emit_step,
    .predict = emit_predict,
};
