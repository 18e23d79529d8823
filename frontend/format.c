/*
 * format.c: text, as Python and PyTorch write it.
 *
 * Compile-time values become text here as Python's str(), repr(float) and format(value, spec)
 * write it (value_str, py_float_repr, format_value). Text that shows a tensor exists only when
 * the program runs: a V_TEXT value of literal pieces and tensor holes (a snapshot of the tensor
 * and how to format it), which print() turns into one PRINT node whose format string numbers
 * the holes ("loss {0:p:.3f}"). A tensor that requires grad prints its grad_fn as PyTorch's
 * repr does.
 */
#include "lower.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- Python-style formatting of compile-time values ---- */

/* repr(float) as Python writes it: shortest round-trip digits. */
const char *py_float_repr(double v) {
    if (isnan(v)) return "nan";
    if (isinf(v)) return v < 0 ? "-inf" : "inf";
    char buf[64];
    int prec;
    for (prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*e", prec - 1, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    /* buf is d.ddde±XX with prec significant digits */
    char digits[32];
    int nd = 0;
    const char *p = buf;
    bool neg = *p == '-';
    if (neg) p++;
    for (; *p && *p != 'e'; p++)
        if (*p != '.')
            digits[nd++] = *p;
    int exp = atoi(p + 1);
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    digits[nd] = 0;
    char out[64];
    int o = 0;
    if (neg) out[o++] = '-';
    if (exp < -4 || exp >= 16) {
        out[o++] = digits[0];
        if (nd > 1) {
            out[o++] = '.';
            for (int i = 1; i < nd; i++) out[o++] = digits[i];
        }
        o += snprintf(out + o, sizeof out - (size_t)o, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
    } else if (exp < 0) {
        out[o++] = '0';
        out[o++] = '.';
        for (int i = 0; i < -exp - 1; i++) out[o++] = '0';
        for (int i = 0; i < nd; i++) out[o++] = digits[i];
    } else {
        for (int i = 0; i <= exp; i++) out[o++] = i < nd ? digits[i] : '0';
        out[o++] = '.';
        if (nd > exp + 1)
            for (int i = exp + 1; i < nd; i++) out[o++] = digits[i];
        else
            out[o++] = '0';
    }
    out[o] = 0;
    return ir_strdup(out);
}

typedef struct {
    char fill, align, sign;
    int width, prec;
    char type;
} Spec;

/* format_spec -> [[fill]align][sign][width][.precision][type] */
static bool parse_spec(const char *s, Spec *sp) {
    *sp = (Spec){.fill = ' ', .prec = -1};
    size_t n = strlen(s);
    if (n >= 2 && strchr("<>^=", s[1])) {
        sp->fill = s[0];
        sp->align = s[1];
        s += 2;
    } else if (n >= 1 && strchr("<>^=", s[0])) {
        sp->align = s[0];
        s++;
    }
    if (*s == '+' || *s == '-' || *s == ' ')
        sp->sign = *s++;
    if (*s == '0' && !sp->align) {
        sp->fill = '0';
        sp->align = '=';
    }
    /* widths and precisions above 1000 are refused: they only make enormous strings */
    while (*s >= '0' && *s <= '9')
        if ((sp->width = sp->width * 10 + (*s++ - '0')) > 1000)
            return false;
    if (*s == '.') {
        s++;
        if (*s < '0' || *s > '9')
            return false;
        sp->prec = 0;
        while (*s >= '0' && *s <= '9')
            if ((sp->prec = sp->prec * 10 + (*s++ - '0')) > 1000)
                return false;
    }
    if (*s && strchr("dfFeEgGs%", *s))
        sp->type = *s++;
    return *s == 0;
}

static const char *pad(const char *body, Spec *sp, char dflt_align) {
    int len = (int)strlen(body);
    if (len >= sp->width)
        return body;
    int fillc = sp->width - len, left = 0;
    char al = sp->align ? sp->align : dflt_align;
    if (al == '>' || al == '=') left = fillc;
    else if (al == '^') left = fillc / 2;
    char *out = ir_alloc((size_t)sp->width + 1);
    int o = 0;
    if (al == '=' && (body[0] == '-' || body[0] == '+')) {
        out[o++] = body[0];
        body++;
    }
    for (int i = 0; i < left; i++) out[o++] = sp->fill;
    strcpy(out + o, body);
    o += (int)strlen(body);
    for (int i = left; i < fillc; i++) out[o++] = sp->fill;
    out[o] = 0;
    return out;
}

/* format(v, spec) for compile-time scalars and strings. */
static const char *format_value(Value *v, const char *spec, SrcLoc loc) {
    Spec sp;
    if (!parse_spec(spec, &sp))
        error_at(loc, "invalid format specifier '%s' (widths and precisions go up to 1000)", spec);
    if (v->kind == V_STR || (!is_scalar(v))) {
        if (sp.type && sp.type != 's')
            error_at(loc, "format code '%c' cannot format %s", sp.type, kind_name(v));
        const char *s = v->kind == V_STR ? v->s : value_str(v, loc);
        if (sp.prec >= 0 && (int)strlen(s) > sp.prec)
            s = ir_strndup(s, (size_t)sp.prec);
        return pad(s, &sp, '<');
    }
    const char *buf;
    char t = sp.type;
    if (t == 's')
        error_at(loc, "format code 's' cannot format %s", kind_name(v));
    const char *sign = sp.sign == '+' ? "+" : sp.sign == ' ' ? " " : "";
    if (t == 'd') {
        if (v->kind == V_FLOAT)
            error_at(loc, "format code 'd' cannot format a float");
        buf = ir_fmt(*sign ? (sp.sign == '+' ? "%+lld" : "% lld") : "%lld", (long long)v->i);
    } else if (t == 0 && v->kind != V_FLOAT) {
        if (v->kind == V_BOOL)
            buf = v->i ? "True" : "False";
        else
            buf = ir_fmt(*sign ? (sp.sign == '+' ? "%+lld" : "% lld") : "%lld", (long long)v->i);
    } else if (t == 0 && sp.prec < 0) {
        buf = ir_fmt("%s%s", v->f >= 0 ? sign : "", py_float_repr(v->f));
    } else {
        int prec = sp.prec < 0 ? 6 : sp.prec;
        double d = num(v);
        if (t == '%') {
            d *= 100;
            t = 'f';
        }
        buf = ir_fmt(ir_fmt("%%%s.%d%c", sign, prec, t ? t : 'g'), d);
        if (sp.type == '%')
            buf = ir_fmt("%s%%", buf);
    }
    return pad(buf, &sp, '>');
}

/* str(v) for compile-time values. */
const char *value_str(Value *v, SrcLoc loc) {
    switch (v->kind) {
    case V_NONE: return "None";
    case V_INT: return ir_fmt("%lld", (long long)v->i);
    case V_FLOAT: return py_float_repr(v->f);
    case V_BOOL: return v->i ? "True" : "False";
    case V_STR: return v->s;
    case V_DTYPE: return dtype_torch(v->dt);
    case V_DEVICE: return v->s;
    case V_SIZE: {
        const char *s = "torch.Size([";
        for (int i = 0; i < v->shape.rank; i++)
            s = ir_fmt("%s%s%lld", s, i ? ", " : "", (long long)v->shape.d[i]);
        return ir_fmt("%s])", s);
    }
    case V_PYTYPE: return ir_fmt("<class '%s'>", v->s);
    case V_MODULE: return module_repr(v->mod, 0);
    case V_LIST:
    case V_TUPLE: {
        const char *s = v->kind == V_LIST ? "[" : "(";
        for (int i = 0; i < v->n; i++) {
            Value *it = v->items[i];
            const char *is = it->kind == V_STR ? ir_fmt("'%s'", it->s) : value_str(it, loc);
            s = ir_fmt("%s%s%s", s, i ? ", " : "", is);
        }
        if (v->kind == V_TUPLE && v->n == 1)
            s = ir_fmt("%s,", s);
        if (v->kind == V_LIST && v->s) /* a dict's view: dict_keys(['a', 'b']) */
            return ir_fmt("%s(%s])", v->s, s);
        return ir_fmt("%s%s", s, v->kind == V_LIST ? "]" : ")");
    }
    case V_TYPE: return type_str(v->dt, v->shape);
    case V_DICT: {
        bool od = v->s != NULL; /* OrderedDict([('a', 1), ...]) */
        if (od && !v->n)
            return "OrderedDict()";
        const char *s = od ? "OrderedDict([" : "{";
        for (int i = 0; i < v->n; i++) {
            Value *k = v->self->items[i], *it = v->items[i];
            s = ir_fmt(od ? "%s%s(%s, %s)" : "%s%s%s: %s", s, i ? ", " : "",
                       k->kind == V_STR ? ir_fmt("'%s'", k->s) : value_str(k, loc),
                       it->kind == V_STR ? ir_fmt("'%s'", it->s) : value_str(it, loc));
        }
        return ir_fmt(od ? "%s])" : "%s}", s);
    }
    default:
        error_at(loc, "cannot turn %s into text at compile time", kind_name(v));
    }
}

/* ---- run-time text (f-strings and print) ---- */

Value *text_new(void) { return lw_mk(V_TEXT); }

Value *text_or_string(Value *t, bool runtime) {
    if (runtime)
        return t;
    const char *s = "";
    for (int i = 0; i < t->n; i++)
        s = ir_fmt("%s%s", s, t->items[i]->s);
    return mk_str(s);
}

void text_push(Value *t, Value *item) {
    Value **items = ir_alloc(sizeof(Value *) * (size_t)(t->n + 1));
    if (t->n)
        memcpy(items, t->items, sizeof(Value *) * (size_t)t->n);
    items[t->n++] = item;
    t->items = items;
}

/* PyTorch's name for the backward function of the op that made node id. */
const char *grad_fn_name(int id) {
    Node *n = &L.g->nodes[id];
    if (lw_info(id)->fn)
        return lw_info(id)->fn;
    int naxes = 0;
    const Attr *ax = node_attr(n, "axes");
    if (ax)
        naxes = ax->n;
    bool all = ax && n->nin && naxes == L.g->nodes[n->in[0]].shape.rank;
    switch (n->op) {
    case OP_ADD: return "AddBackward0";
    case OP_SUB: return "SubBackward0";
    case OP_MUL: return "MulBackward0";
    case OP_DIV: return "DivBackward0";
    case OP_POW: return L.g->nodes[n->in[1]].shape.rank == 0 && L.g->nodes[n->in[1]].op == OP_CONST ? "PowBackward0" : "PowBackward1";
    case OP_NEG: return "NegBackward0";
    case OP_RELU: return "ReluBackward0";
    case OP_EXP: return "ExpBackward0";
    case OP_LOG: return "LogBackward0";
    case OP_SQRT: return "SqrtBackward0";
    case OP_ABS: return "AbsBackward0";
    case OP_TANH: return "TanhBackward0";
    case OP_SIGMOID: return "SigmoidBackward0";
    case OP_LEAKY_RELU: return "LeakyReluBackward0";
    case OP_ELU: return "EluBackward0";
    case OP_GELU: return "GeluBackward0";
    case OP_SILU: return "SiluBackward0";
    case OP_SOFTPLUS: return "SoftplusBackward0";
    case OP_HARDTANH: return "HardtanhBackward0";
    case OP_ERF: return "ErfBackward0";
    case OP_COS: return "CosBackward0";
    case OP_SIN: return "SinBackward0";
    case OP_CAST: return "ToCopyBackward0";
    case OP_SUM: return all ? "SumBackward0" : "SumBackward1";
    case OP_MEAN: return all ? "MeanBackward0" : "MeanBackward1";
    case OP_MAX: return all ? "MaxBackward1" : "MaxBackward0";
    case OP_MIN: return all ? "MinBackward1" : "MinBackward0";
    case OP_MAXIMUM: return "MaximumBackward0";
    case OP_MINIMUM: return "MinimumBackward0";
    case OP_WHERE: return "WhereBackward0";
    case OP_RESHAPE: return "ViewBackward0";
    case OP_PERMUTE: return "PermuteBackward0";
    case OP_SLICE: return "SliceBackward0";
    case OP_SETSLICE: return "CopySlices";
    case OP_EXPAND: return "ExpandBackward0";
    case OP_CAT: return "CatBackward0";
    case OP_MATMUL: return n->shape.rank == 2 ? "MmBackward0" : "BmmBackward0";
    case OP_LINEAR: return n->shape.rank != 2 ? "ViewBackward0" : n->nin == 3 ? "AddmmBackward0" : "MmBackward0";
    case OP_CONV2D: return "ConvolutionBackward0";
    case OP_MAXPOOL2D: return "MaxPool2DWithIndicesBackward0";
    case OP_AVGPOOL2D: return "AvgPool2DBackward0";
    case OP_CROSS_ENTROPY: return "NllLossBackward0";
    default: return ir_fmt("%sBackward0", op_info[n->op].name);
    }
}

void text_append(Value *t, Value *v, const char *spec, SrcLoc loc) { text_append_ex(t, v, spec, false, loc); }

/*
 * Appends str(v) (in an f-string: format(v, spec)) to t: literal text now, or a tensor hole.
 * The hole keeps a snapshot of the tensor, so later in-place updates do not change the text.
 */
/* Does a container hold a value known only at run time? */
static bool holds_runtime(Value *v) {
    if (v->kind == V_TENSOR || v->kind == V_TEXT || v->kind == V_PGROUP) /* a group holds its parameters */
        return true;
    if (v->kind == V_LIST || v->kind == V_TUPLE || v->kind == V_DICT)
        for (int i = 0; i < v->n; i++)
            if (holds_runtime(v->items[i]))
                return true;
    return false;
}

/* repr() of a container with run-time items, as run-time text: {'plane': 3, ...}, [tensor(1.)]. */
static void text_append_repr(Value *t, Value *v, SrcLoc loc) {
    if (v->kind == V_STR) {
        text_push(t, mk_str(ir_fmt("'%s'", v->s)));
        return;
    }
    if (v->kind == V_TEXT) {
        text_push(t, mk_str("'"));
        text_append_ex(t, v, NULL, false, loc);
        text_push(t, mk_str("'"));
        return;
    }
    if (!holds_runtime(v) || (v->kind != V_LIST && v->kind != V_TUPLE && v->kind != V_DICT)) {
        text_append_ex(t, v, NULL, false, loc);
        return;
    }
    if (v->kind == V_TUPLE && v->s && v->n == 2) { /* torch.return_types.max(values=..., indices=...) */
        text_push(t, mk_str(ir_fmt("torch.return_types.%s(\nvalues=", v->s)));
        text_append_repr(t, v->items[0], loc);
        text_push(t, mk_str(",\nindices="));
        text_append_repr(t, v->items[1], loc);
        text_push(t, mk_str(")"));
        return;
    }
    bool od = v->kind == V_DICT && v->s, view = v->kind == V_LIST && v->s; /* OrderedDict, dict_keys */
    text_push(t, mk_str(view ? ir_fmt("%s([", v->s) : od ? "OrderedDict([" : v->kind == V_LIST ? "[" : v->kind == V_TUPLE ? "(" : "{"));
    for (int i = 0; i < v->n; i++) {
        if (i)
            text_push(t, mk_str(", "));
        if (v->kind == V_DICT) {
            if (od)
                text_push(t, mk_str("("));
            text_append_repr(t, v->self->items[i], loc);
            text_push(t, mk_str(od ? ", " : ": "));
        }
        text_append_repr(t, v->items[i], loc);
        if (od)
            text_push(t, mk_str(")"));
    }
    text_push(t, mk_str(view ? "])" : od ? "])" : v->kind == V_LIST ? "]" : v->kind == V_TUPLE ? (v->n == 1 ? ",)" : ")") : "}"));
}

void text_append_ex(Value *t, Value *v, const char *spec, bool fstring, SrcLoc loc) {
    if (v->kind == V_PGROUP) /* optimizer.param_groups[i]: its dict */
        v = param_group_dict(v->optim, (int)v->i, loc);
    if (v->kind == V_TEXT && spec && *spec)
        v = format_table_text(v, spec, loc);
    if ((v->kind == V_LIST || v->kind == V_TUPLE || v->kind == V_DICT) && holds_runtime(v)) {
        if (spec && *spec)
            error_at(loc, "a format specifier on a container is not supported");
        text_append_repr(t, v, loc);
        return;
    }
    if (v->kind == V_TEXT) {
        for (int i = 0; i < v->n; i++)
            text_push(t, v->items[i]);
        return;
    }
    if (v->kind != V_TENSOR) {
        text_push(t, mk_str(spec ? format_value(v, spec, loc) : value_str(v, loc)));
        return;
    }
    Node *n = TN(v);
    char kind = v->tflags & TV_NUMPY ? 'n' : v->tflags & TV_PYSCALAR ? 'p' : 't';
    /* Tensor.__format__ (and numpy's) formats a 0-d value as the Python number it holds */
    if (fstring && n->shape.rank == 0)
        kind = 'p';
    if (spec && *spec) {
        /* format(tensor, spec) is only defined for one element, as item().__format__ */
        if (n->shape.rank != 0 && !(v->tflags & TV_PYSCALAR))
            error_at(loc, "a format specifier needs a single-element tensor, got %s",
                     type_str(n->dtype, n->shape));
        Spec sp;
        if (!parse_spec(spec, &sp))
            error_at(loc, "invalid format specifier '%s'", spec);
        if (sp.type == 'd' && dtype_is_float(n->dtype))
            error_at(loc, "format code 'd' cannot format a float");
        if (sp.type == 's')
            error_at(loc, "format code 's' cannot format a number");
        kind = 'p';
    }
    if (kind == 't' && !fstring && !v->nchain && v->group >= 0 && L.group_param[v->group])
        text_push(t, mk_str("Parameter containing:\n")); /* as print(param) in PyTorch */
    if (kind == 't' && lw_info(v->node)->rg && !(spec && *spec)) {
        /* PyTorch's repr names how a tensor that requires grad came to be */
        bool leaf = !v->nchain && lw_info(v->node)->leaf >= 0 && L.group_rg[v->group];
        spec = leaf ? "requires_grad=True" : ir_fmt("grad_fn=<%s>", grad_fn_name(v->node));
    }
    Value *pair = lw_mk(V_TUPLE);
    pair->n = 2;
    pair->items = ir_alloc(sizeof(Value *) * 2);
    Value *snap = lw_mk(V_TENSOR);
    *snap = *v;
    /* a storage group of its own: in-place updates of v's group leave it alone, and across a
     * loop (stage.c) it keeps its contents in a slot of its own */
    snap->group = new_group(v->node);
    snap->nchain = 0;
    pair->items[0] = snap;
    pair->items[1] = mk_str(ir_fmt("%c%s%s", kind, spec && *spec ? ":" : "", spec ? spec : ""));
    text_push(t, pair);
}

/* Escapes literal braces of the PRINT format. */
static const char *fmt_escape(const char *s) {
    size_t n = 0;
    for (const char *p = s; *p; p++)
        n += (*p == '{' || *p == '}') ? 2 : 1;
    char *o = ir_alloc(n + 1), *w = o;
    for (const char *p = s; *p; p++) {
        *w++ = *p;
        if (*p == '{' || *p == '}')
            *w++ = *p;
    }
    return o;
}

/* A table of strings for print's attribute: its entries, each ended by '\x1f', then '\x1e'. */
static const char *table_attr(Value *table, SrcLoc loc) {
    const char *s = "";
    for (int i = 0; i < table->n; i++) {
        if (strchr(table->items[i]->s, '\x1f') || strchr(table->items[i]->s, '\x1e'))
            error_at(loc, "a string picked at run time may not contain the characters \\x1e or \\x1f");
        s = ir_fmt("%s%s\x1f", s, table->items[i]->s);
    }
    return ir_fmt("%s\x1e", s);
}

void print_text(Value *text, SrcLoc loc) {
    const char *fmt = "", *strings = "";
    int in[256], nin = 0, ntables = 0;
    for (int i = 0; i < text->n; i++) {
        Value *it = text->items[i];
        if (it->kind == V_STR) {
            fmt = ir_fmt("%s%s", fmt, fmt_escape(it->s));
            continue;
        }
        if (nin == 256)
            error_at(loc, "too many tensors in one print");
        in[nin] = it->items[0]->node;
        if (it->n == 3) { /* a string picked from a table: {k:s:TABLE|SPEC}, the tables in attribute "strings" */
            const char *spec = it->items[1]->s[1] == ':' ? it->items[1]->s + 2 : "";
            fmt = ir_fmt("%s{%d:s:%d|%s}", fmt, nin, ntables++, spec);
            strings = ir_fmt("%s%s", strings, table_attr(it->items[2], loc));
        } else
            fmt = ir_fmt("%s{%d:%s}", fmt, nin, it->items[1]->s);
        nin++;
    }
    Attr a[2] = {attr_str("fmt", fmt), attr_str("strings", strings)};
    lw_add(OP_PRINT, in, nin, DT_F32, shape_scalar(), a, ntables ? 2 : 1, loc);
}
