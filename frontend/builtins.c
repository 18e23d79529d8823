/*
 * builtins.c: the builtin functions and methods: print(), zeros(), x.sum(), optimizer.step(), ...
 */
#include "lower.h"

#include <math.h>
#include <string.h>

/* view/reshape sizes with one -1 inferred. */
static Shape infer_view_shape(Value **v, int n, int64_t numel, SrcLoc loc) {
    if (n == 1 && (v[0]->kind == V_TUPLE || v[0]->kind == V_LIST))
        return infer_view_shape(v[0]->items, v[0]->n, numel, loc);
    if (n == 1 && v[0]->kind == V_SIZE)
        return v[0]->shape;
    if (n > MAX_RANK)
        error_at(loc, "tensors have at most %d dimensions", MAX_RANK);
    Shape s = {.rank = n};
    int infer = -1;
    int64_t known = 1;
    for (int i = 0; i < n; i++) {
        s.d[i] = int_arg(v[i], loc, "a size");
        if (s.d[i] == -1) {
            if (infer >= 0 && numel >= 0)
                error_at(loc, "only one dimension can be inferred (-1)");
            infer = i;
        } else if (s.d[i] < 0)
            error_at(loc, "invalid size %lld", (long long)s.d[i]);
        else if (__builtin_mul_overflow(known, s.d[i], &known))
            error_at(loc, "shape %s is invalid for a tensor of %lld elements", shape_str(s), (long long)numel);
    }
    if (numel < 0)
        return s; /* expand: -1 keeps a size, no element count to match */
    if (infer >= 0) {
        if (known == 0 || numel % known)
            error_at(loc, "shape %s is invalid for a tensor of %lld elements", shape_str(s), (long long)numel);
        s.d[infer] = numel / known;
    }
    if (shape_numel(s) != numel)
        error_at(loc, "shape %s is invalid for a tensor of %lld elements", shape_str(s), (long long)numel);
    return s;
}

static Value *random_tensor(bool normal, Shape s, DType dt, SrcLoc loc) {
    if (!dtype_is_float(dt))
        error_at(loc, "%s needs a floating-point dtype, got %s", normal ? "randn" : "rand", dtype_torch(dt));
    Attr a[2] = {attr_float(normal ? "mean" : "from", 0), attr_float(normal ? "std" : "to", 1)};
    return mk_tensor(lw_add(normal ? OP_RANDN : OP_RAND, NULL, 0, dt, s, a, 2, loc));
}

static DType opt_dtype(Args *a, int pos, DType dflt) {
    Value *d = lw_arg(a, pos, "dtype", NULL);
    return d && d->kind != V_NONE ? dtype_value(d, a->loc) : dflt;
}

/* zeros(2, 3), zeros((2, 3)), zeros(shape) and the dtype= keyword. */
static Shape size_args(Args *a) {
    if (a->npos == 0) {
        Value *s = lw_arg(a, -1, "size", NULL);
        if (!s)
            error_at(a->loc, "%s() needs a size", a->fname);
        return shape_from_values(&s, 1, a->loc);
    }
    return shape_from_values(a->pos, a->npos, a->loc);
}

static Value *load_npy(Value *path, DType dt, Shape s, SrcLoc loc) {
    if (path->kind != V_STR)
        error_at(loc, "load() needs a file path string, got %s", kind_name(path));
    if (!strstr(path->s, ".npy"))
        error_at(loc, "load() reads .npy files; '%s' does not end in .npy", path->s);
    Attr a = attr_str("path", path->s);
    return mk_tensor(lw_add(OP_LOAD, NULL, 0, dt, s, &a, 1, loc));
}

/* Python's len()/type() and the other compile-time helpers. */
static Value *py_type(Value *v, SrcLoc loc) {
    Value *t = lw_mk(V_PYTYPE);
    if (v->kind == V_INT) t->s = "int";
    else if (v->kind == V_FLOAT) t->s = "float";
    else if (v->kind == V_BOOL) t->s = "bool";
    else if (v->kind == V_STR) t->s = "str";
    else if (v->kind == V_LIST) t->s = "list";
    else if (v->kind == V_TUPLE) t->s = "tuple";
    else if (v->kind == V_TENSOR && (v->tflags & TV_PYSCALAR))
        t->s = dtype_is_float(TN(v)->dtype) ? "float" : TN(v)->dtype == DT_BOOL ? "bool" : "int";
    else if (v->kind == V_TENSOR)
        t->s = v->tflags & TV_NUMPY ? "numpy.ndarray" : "torch.Tensor";
    else
        error_at(loc, "type() of %s is not supported", kind_name(v));
    return t;
}

/* Elementwise unary functions by name. */
static Op unary_code(const char *name) {
    static const struct { const char *s; Op op; } t[] = {
        {"neg", OP_NEG}, {"negative", OP_NEG}, {"relu", OP_RELU}, {"exp", OP_EXP}, {"log", OP_LOG},
        {"sqrt", OP_SQRT}, {"abs", OP_ABS}, {"tanh", OP_TANH}, {"sigmoid", OP_SIGMOID},
        {"logical_not", OP_NOT},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (!strcmp(t[i].s, name))
            return t[i].op;
    return OP_COUNT;
}

/*
 * load_state(net, "w.safetensors"): one LOAD per tensor, by its state_dict name (key). The first
 * also carries every name the model has (keys, one per line: a name never holds a newline), so
 * the run checks that the file holds exactly the model's tensors, as load_state_dict(strict=True).
 */
static void load_state_safetensors(Value **ps, int n, const char *path, SrcLoc loc) {
    const char **names = ir_alloc(sizeof(char *) * (size_t)(n + 1));
    size_t len = 1;
    for (int i = 0; i < n; i++) {
        names[i] = TN(ps[i])->name ? TN(ps[i])->name : ir_fmt("param%d", i);
        len += strlen(names[i]) + 1;
    }
    char *keys = ir_alloc(len), *k = keys;
    for (int i = 0; i < n; i++)
        k += sprintf(k, "%s%s", i ? "\n" : "", names[i]);
    for (int i = 0; i < n; i++) {
        Node *p = TN(ps[i]);
        Attr at[3] = {attr_str("path", path), attr_str("key", names[i]), attr_str("keys", keys)};
        set_group(ps[i]->group, lw_add(OP_LOAD, NULL, 0, p->dtype, p->shape, at, i == 0 ? 3 : 2, loc), loc);
    }
}

Value *call_builtin(const char *f, Value *self, Args *a, bool numpy_ns) {
    SrcLoc loc = a->loc;
    /* methods take the receiver as their first argument */
    if (self) {
        Value **pos = ir_alloc(sizeof(Value *) * (size_t)(a->npos + 1));
        pos[0] = self;
        for (int i = 0; i < a->npos; i++)
            pos[i + 1] = a->pos[i];
        a->pos = pos;
        a->npos++;
    }
    Op op;

    /* -- output and compile-time helpers -- */
    if (!strcmp(f, "print")) {
        Value *sep = lw_arg(a, -1, "sep", mk_str(" ")), *end = lw_arg(a, -1, "end", mk_str("\n"));
        DONE(a, a->npos, "sep", "end");
        if (sep->kind != V_STR || end->kind != V_STR)
            error_at(loc, "print(): sep and end must be strings");
        Value *t = text_new();
        for (int i = 0; i < a->npos; i++) {
            if (i) text_append(t, sep, NULL, loc);
            text_append(t, a->pos[i], NULL, loc);
        }
        text_append(t, end, NULL, loc);
        print_text(t, loc);
        return lw_mk(V_NONE);
    }
    if (!strcmp(f, "len")) {
        Value *v = lw_req(a, 0, "obj");
        DONE(a, 1, "obj");
        if (v->kind == V_LIST || v->kind == V_TUPLE) return mk_int(v->n);
        if (v->kind == V_STR) return mk_int((int64_t)strlen(v->s));
        if (v->kind == V_SIZE) return mk_int(v->shape.rank);
        if (v->kind == V_TENSOR) {
            if (TN(v)->shape.rank == 0) error_at(loc, "len() of a 0-d tensor");
            return mk_int(TN(v)->shape.d[0]);
        }
        error_at(loc, "len() of %s", kind_name(v));
    }
    if (!strcmp(f, "type")) {
        Value *v = lw_req(a, 0, "obj");
        DONE(a, 1, "obj");
        return py_type(v, loc);
    }
    if (!strcmp(f, "str")) {
        Value *v = lw_req(a, 0, "obj");
        DONE(a, 1, "obj");
        if (v->kind == V_TENSOR || v->kind == V_TEXT) {
            Value *t = text_new();
            text_append(t, v, NULL, loc);
            return t;
        }
        return mk_str(value_str(v, loc));
    }
    if (!strcmp(f, "list") || !strcmp(f, "tuple")) {
        Value *v = lw_req(a, 0, "iterable");
        DONE(a, 1, "iterable");
        if (v->kind == V_SIZE) {
            Value *r = lw_mk(f[0] == 'l' ? V_LIST : V_TUPLE);
            r->n = v->shape.rank;
            r->items = ir_alloc(sizeof(Value *) * (size_t)(r->n + 1));
            for (int i = 0; i < r->n; i++) r->items[i] = mk_int(v->shape.d[i]);
            return r;
        }
        if (v->kind != V_LIST && v->kind != V_TUPLE)
            error_at(loc, "%s() of %s is not supported", f, kind_name(v));
        Value *r = lw_mk(f[0] == 'l' ? V_LIST : V_TUPLE);
        r->n = v->n;
        r->items = v->items;
        return r;
    }
    if (!strcmp(f, "manual_seed")) {
        Value *s = lw_req(a, 0, "seed");
        DONE(a, 1, "seed");
        int64_t seed = int_arg(s, loc, "seed");
        Attr at = attr_int("seed", seed);
        lw_add(OP_SEED, NULL, 0, DT_F32, shape_scalar(), &at, 1, loc);
        return lw_mk(V_NONE);
    }
    if (!strcmp(f, "eval") || !strcmp(f, "train")) { /* module.eval(), module.train(mode=True): returns the module */
        Value *m = lw_req(a, 0, "module"), *mode = f[0] == 't' ? lw_arg(a, 1, "mode", mk_bool(true)) : mk_bool(false);
        DONE(a, f[0] == 't' ? 2 : 1, "module", "mode");
        if (m->kind != V_MODULE)
            error_at(loc, "%s() needs a module, got %s", f, kind_name(m));
        set_eval(m->mod, !bool_arg(mode, loc, "mode"));
        return m;
    }
    if (!strcmp(f, "parameters")) {
        Value *m = lw_req(a, 0, "module");
        DONE(a, 1, "module");
        if (m->kind != V_MODULE)
            error_at(loc, "parameters() needs a module, got %s", kind_name(m));
        Value *l = lw_mk(V_LIST);
        collect_params(m->mod, &l->items, &l->n);
        return l;
    }
    if (!strcmp(f, "load_state")) {
        Value *m = lw_req(a, 0, "module"), *dir = lw_req(a, 1, "directory");
        DONE(a, 2, "module", "directory");
        if (m->kind != V_MODULE || dir->kind != V_STR)
            error_at(loc, "load_state(module, \"directory\") loads every parameter from directory/NAME.npy "
                          "(or load_state(module, \"file.safetensors\") from one file)");
        Value **ps = NULL;
        int n = 0;
        collect_state(m->mod, &ps, &n);
        size_t len = strlen(dir->s);
        if (len >= 12 && !strcmp(dir->s + len - 12, ".safetensors")) {
            load_state_safetensors(ps, n, dir->s, loc);
            return lw_mk(V_NONE);
        }
        for (int i = 0; i < n; i++) {
            Node *p = TN(ps[i]);
            const char *name = p->name ? p->name : ir_fmt("param%d", i);
            Value *ld = load_npy(mk_str(ir_fmt("%s/%s.npy", dir->s, name)), p->dtype, p->shape, loc);
            set_group(ps[i]->group, ld->node, loc);
        }
        return lw_mk(V_NONE);
    }
    if (!strcmp(f, "save")) {
        Value *path = lw_req(a, 0, "path"), *t = lw_req(a, 1, "tensor");
        DONE(a, 2, "path", "tensor");
        if (path->kind != V_STR || !strstr(path->s, ".npy"))
            error_at(loc, "save(path, tensor) writes a .npy file; give a path ending in .npy");
        tensor_arg(t, loc, "the saved value");
        Attr at = attr_str("path", path->s);
        lw_add(OP_SAVE, &t->node, 1, DT_F32, shape_scalar(), &at, 1, loc);
        return lw_mk(V_NONE);
    }
    if (!strcmp(f, "load")) {
        Value *path = lw_req(a, 0, "path"), *ty = lw_arg(a, 1, "type", NULL);
        DONE(a, 2, "path", "type");
        if (!ty || ty->kind != V_TYPE)
            error_at(loc, "load(path, type) needs the tensor's declared type, e.g. load(\"x.npy\", f32[1, 32])");
        for (int i = 0; ty->sym && i < ty->shape.rank; i++)
            if (ty->sym[i])
                error_at(loc, "load(): the declared shape must be concrete, '%s' is symbolic", ty->sym[i]);
        return load_npy(path, ty->dt, ty->shape, loc);
    }

    /* -- autograd, losses, optimizers -- */
    if (!strcmp(f, "backward")) {
        Value *y = lw_req(a, 0, "tensor"), *gr = lw_arg(a, 1, "gradient", NULL);
        DONE(a, 2, "tensor", "gradient");
        lw_backward(y, gr, loc);
        return lw_mk(V_NONE);
    }
    if (!strcmp(f, "requires_grad_")) {
        Value *t = lw_req(a, 0, "self"), *flag = lw_arg(a, 1, "requires_grad", mk_bool(true));
        DONE(a, 2, "self", "requires_grad");
        if (t->kind == V_MODULE)
            module_requires_grad(t->mod, bool_arg(flag, loc, "requires_grad"));
        else
            set_requires_grad(t, bool_arg(flag, loc, "requires_grad"), loc);
        return t;
    }
    if (!strcmp(f, "zero_grad")) {
        Value *t = lw_req(a, 0, "self"), *none = lw_arg(a, 1, "set_to_none", mk_bool(false));
        DONE(a, 2, "self", "set_to_none");
        if (bool_arg(none, loc, "set_to_none"))
            error_at(loc, "zero_grad(set_to_none=True) is not supported; gradients are zeroed");
        if (t->kind == V_OPTIM)
            zero_grads(t->optim->params, t->optim->nparams, loc);
        else if (t->kind == V_MODULE) {
            Value **ps = NULL;
            int n = 0;
            collect_params(t->mod, &ps, &n);
            zero_grads(ps, n, loc);
        } else
            error_at(loc, "zero_grad() belongs to a module or an optimizer, not %s", kind_name(t));
        return lw_mk(V_NONE);
    }
    if (!strcmp(f, "step")) {
        Value *o = lw_req(a, 0, "self");
        DONE(a, 1, "self");
        if (o->kind != V_OPTIM)
            error_at(loc, "step() belongs to an optimizer, not %s", kind_name(o));
        optimizer_step(o->optim, loc);
        return lw_mk(V_NONE);
    }
    if (!strcmp(f, "SGD") || !strcmp(f, "Adam") || !strcmp(f, "AdamW"))
        return make_optimizer(f, a);
    if (!strcmp(f, "mse_loss") || !strcmp(f, "cross_entropy")) {
        Value *x = lw_req(a, 0, "input"), *t = lw_req(a, 1, "target"), *red = lw_arg(a, 2, "reduction", mk_str("mean"));
        DONE(a, 3, "input", "target", "reduction");
        if (red->kind != V_STR)
            error_at(loc, "reduction must be 'mean', 'sum' or 'none'");
        return f[0] == 'm' ? mse_loss(x, t, red->s, loc) : cross_entropy(x, t, red->s, loc);
    }

    /* -- creation -- */
    if (!strcmp(f, "tensor") || !strcmp(f, "array") || !strcmp(f, "as_tensor")) {
        Value *d = lw_req(a, 0, "data"), *dt = lw_arg(a, 1, "dtype", NULL);
        Value *rg = lw_arg(a, -1, "requires_grad", NULL);
        DONE(a, 2, "data", "dtype", "requires_grad");
        Value *t = tensor_literal(d, dt, numpy_ns || !strcmp(f, "array"), loc);
        if (rg && bool_arg(rg, loc, "requires_grad"))
            set_requires_grad(t, true, loc);
        return t;
    }
    if (!strcmp(f, "from_numpy") || !strcmp(f, "numpy")) {
        Value *t = tensor_arg(lw_req(a, 0, "array"), loc, "the argument");
        DONE(a, 1, "array");
        /* shares storage: same group, no view step */
        Value *r = lw_mk(V_TENSOR);
        *r = *t;
        r->stamp = 0;
        r->tflags = f[0] == 'n' ? TV_NUMPY : 0;
        return r;
    }
    if (!strcmp(f, "zeros") || !strcmp(f, "ones") || !strcmp(f, "empty")) {
        DType dt = opt_dtype(a, -1, numpy_ns ? DT_F64 : DT_F32);
        Value *rg = lw_arg(a, -1, "requires_grad", NULL);
        Shape s = size_args(a);
        DONE(a, a->npos, "dtype", "size", "requires_grad");
        Value *t = lw_filled(s, dt, mk_int(f[0] == 'o' ? 1 : 0), loc);
        if (rg && bool_arg(rg, loc, "requires_grad"))
            set_requires_grad(t, true, loc);
        return t;
    }
    if (!strcmp(f, "full")) {
        Value *sz = lw_req(a, 0, "size"), *fv = lw_req(a, 1, "fill_value");
        float_arg(fv, loc, "fill_value");
        DType dt = opt_dtype(a, 2, default_dtype_for(value_category(fv)));
        DONE(a, 3, "size", "fill_value", "dtype");
        return lw_filled(shape_from_values(&sz, 1, loc), dt, fv, loc);
    }
    if (!strcmp(f, "rand") || !strcmp(f, "randn")) {
        DType dt = opt_dtype(a, -1, DT_F32);
        Value *rg = lw_arg(a, -1, "requires_grad", NULL);
        Shape s = size_args(a);
        DONE(a, a->npos, "dtype", "size", "requires_grad");
        Value *t = random_tensor(f[4] == 'n', s, dt, loc);
        if (rg && bool_arg(rg, loc, "requires_grad"))
            set_requires_grad(t, true, loc);
        return t;
    }
    if (!strcmp(f, "zeros_like") || !strcmp(f, "ones_like") || !strcmp(f, "rand_like") ||
        !strcmp(f, "randn_like") || !strcmp(f, "full_like") || !strcmp(f, "empty_like")) {
        Value *t = tensor_arg(lw_req(a, 0, "input"), loc, "the input");
        Value *fv = f[0] == 'f' ? lw_req(a, 1, "fill_value") : NULL;
        DType dt = opt_dtype(a, -1, TN(t)->dtype);
        DONE(a, fv ? 2 : 1, "input", "fill_value", "dtype");
        Shape s = TN(t)->shape;
        if (!strncmp(f, "rand", 4))
            return random_tensor(f[4] == 'n', s, dt, loc);
        if (fv)
            float_arg(fv, loc, "fill_value");
        return lw_filled(s, dt, fv ? fv : mk_int(f[0] == 'o' ? 1 : 0), loc);
    }
    if (!strcmp(f, "arange")) {
        Value *p0 = lw_req(a, 0, "end"), *p1 = lw_arg(a, 1, "end", NULL), *p2 = lw_arg(a, 2, "step", NULL);
        Value *start = p1 ? p0 : mk_int(0), *end = p1 ? p1 : p0, *step = p2 ? p2 : mk_int(1);
        bool fl = start->kind == V_FLOAT || end->kind == V_FLOAT || step->kind == V_FLOAT;
        DType dt = opt_dtype(a, -1, fl ? DT_F32 : DT_I64);
        DONE(a, 3, "start", "end", "step", "dtype");
        double s0 = float_arg(start, loc, "start"), s1 = float_arg(end, loc, "end"), st = float_arg(step, loc, "step");
        if (st == 0 || (st > 0 && s1 < s0) || (st < 0 && s1 > s0))
            error_at(loc, "arange: the step %g does not go from %g toward %g", st, s0, s1);
        if (dt == DT_BOOL)
            error_at(loc, "arange does not produce bool tensors");
        double count = ceil((s1 - s0) / st);
        if (!(count >= 0 && count <= (double)((int64_t)1 << 32)))
            error_at(loc, "arange of %s elements is too large", py_float_repr(count));
        int64_t n = (int64_t)count;
        Attr at[2] = {attr_float("start", s0), attr_float("step", st)};
        return mk_tensor(lw_add(OP_ARANGE, NULL, 0, dt, shape_make(1, &n), at, 2, loc));
    }

    /* -- elementwise -- */
    if ((op = binop_code(f)) != OP_COUNT && (op != OP_POW || a->npos >= 2)) {
        Value *x = lw_req(a, 0, "input"), *y = lw_req(a, 1, "other"), *out = lw_arg(a, -1, "out", NULL);
        DONE(a, 2, "input", "other", "out");
        Value *r = tensor_binop(op, x, y, loc);
        if (out) {
            assign_into(out, r, loc);
            return out;
        }
        return r;
    }
    if ((op = unary_code(f)) != OP_COUNT) {
        Value *x = lw_req(a, 0, "input");
        DONE(a, 1, "input");
        return unary_op(op, x, loc);
    }

    /* -- in-place methods: add_, mul_, zero_, fill_, copy_, relu_, ... -- */
    size_t fl = strlen(f);
    if (fl > 1 && f[fl - 1] == '_') {
        Value *t = tensor_arg(lw_req(a, 0, "self"), loc, "the receiver");
        char *base = ir_strndup(f, fl - 1);
        int x;
        if (!strcmp(base, "zero") || !strcmp(base, "fill")) {
            Value *v = base[0] == 'z' ? mk_int(0) : lw_req(a, 1, "value");
            DONE(a, base[0] == 'z' ? 1 : 2, "value");
            assign_into(t, v, loc);
            return t;
        } else if (!strcmp(base, "copy")) {
            Value *src = lw_req(a, 1, "src");
            DONE(a, 2, "src");
            assign_into(t, src, loc);
            return t;
        } else if ((op = binop_code(base)) != OP_COUNT) {
            Value *y = lw_req(a, 1, "other");
            DONE(a, 2, "other");
            x = tensor_binop(op, t, y, loc)->node;
        } else if ((op = unary_code(base)) != OP_COUNT) {
            DONE(a, 1, "self");
            x = unary_op(op, t, loc)->node;
        } else
            error_at(loc, "unknown in-place method '%s'", f);
        write_through(t, inplace_result(t, x, loc), loc);
        return t;
    }

    /* -- reductions -- */
    if (!strcmp(f, "sum") || !strcmp(f, "mean")) {
        Value *x = lw_req(a, 0, "input"), *dim = lw_arg(a, 1, "dim", NULL), *kd = lw_arg(a, 2, "keepdim", mk_bool(false));
        DONE(a, 3, "input", "dim", "keepdim");
        return lw_reduce(f[0] == 's' ? OP_SUM : OP_MEAN, x, dim, bool_arg(kd, loc, "keepdim"), loc);
    }
    if (!strcmp(f, "max") || !strcmp(f, "min")) {
        Value *x = tensor_arg(lw_req(a, 0, "input"), loc, "the input");
        Value *d = lw_arg(a, 1, "dim", NULL), *kd = lw_arg(a, 2, "keepdim", mk_bool(false));
        DONE(a, 3, "input", "dim", "keepdim");
        Op rop = f[1] == 'a' ? OP_MAX : OP_MIN;
        if (d && d->kind == V_TENSOR)
            return tensor_binop(rop == OP_MAX ? OP_MAXIMUM : OP_MINIMUM, x, d, loc);
        if (!d)
            return lw_reduce(rop, x, NULL, false, loc);
        bool keep = bool_arg(kd, loc, "keepdim");
        Value *vals = lw_reduce(rop, x, d, keep, loc);
        /* max(dim) returns indices: its gradient goes to the first maximum, max() shares it among ties */
        Node *vn = TN(vals);
        Attr *na = ir_alloc(sizeof(Attr) * (size_t)(vn->nattr + 1));
        memcpy(na, vn->attr, sizeof(Attr) * (size_t)vn->nattr);
        na[vn->nattr] = attr_int("indices", 1);
        vn->attr = na;
        vn->nattr++;
        if (rop == OP_MIN)
            error_at(loc, "min(dim) with indices is not supported; use min() or max(dim)");
        return lw_tuple2(vals, lw_reduce(OP_ARGMAX, x, d, keep, loc));
    }
    if (!strcmp(f, "argmax")) {
        Value *x = lw_req(a, 0, "input"), *d = lw_arg(a, 1, "dim", NULL), *kd = lw_arg(a, 2, "keepdim", mk_bool(false));
        DONE(a, 3, "input", "dim", "keepdim");
        return lw_reduce(OP_ARGMAX, x, d, bool_arg(kd, loc, "keepdim"), loc);
    }

    /* -- shapes and views -- */
    if (!strcmp(f, "view") || !strcmp(f, "reshape")) {
        Value *t = tensor_arg(lw_req(a, 0, "input"), loc, "the input");
        Value *sh = lw_arg(a, -1, "shape", NULL);
        Shape s;
        if (sh) {
            DONE(a, 1, "shape");
            s = infer_view_shape(&sh, 1, shape_numel(TN(t)->shape), loc);
        } else {
            DONE(a, a->npos, "shape");
            s = infer_view_shape(a->pos + 1, a->npos - 1, shape_numel(TN(t)->shape), loc);
        }
        if (f[0] == 'r')
            return named_fn(reshape_or_copy(t, s, loc), t, t->strided ? "CloneBackward0" : "ReshapeAliasBackward0");
        if (t->strided && !same_but_ones(TN(t)->shape, s))
            error_at(loc, "view size is not compatible with the input's layout (a transposed or strided "
                          "slice); use .reshape(...), which copies");
        return view_reshape(t, s, loc);
    }
    if (!strcmp(f, "flatten")) {
        Value *t = tensor_arg(lw_req(a, 0, "input"), loc, "the input");
        int64_t s = int_arg(lw_arg(a, 1, "start_dim", mk_int(0)), loc, "start_dim");
        int64_t e = int_arg(lw_arg(a, 2, "end_dim", mk_int(-1)), loc, "end_dim");
        DONE(a, 3, "input", "start_dim", "end_dim");
        return lw_flatten(t, s, e, loc);
    }
    if (!strcmp(f, "transpose") || !strcmp(f, "swapaxes")) {
        Value *t = tensor_arg(lw_req(a, 0, "input"), loc, "the input");
        Value *d0 = lw_req(a, 1, "dim0"), *d1 = lw_req(a, 2, "dim1");
        DONE(a, 3, "input", "dim0", "dim1");
        return named_fn(lw_transpose(t, d0, d1, loc), t, "TransposeBackward0");
    }
    if (!strcmp(f, "t")) {
        Value *t = tensor_arg(lw_req(a, 0, "input"), loc, "the input");
        DONE(a, 1, "input");
        if (TN(t)->shape.rank > 2)
            error_at(loc, "t() expects a tensor of rank 2 or less, got %s", type_str(TN(t)->dtype, TN(t)->shape));
        return TN(t)->shape.rank < 2 ? t : named_fn(lw_transpose(t, mk_int(0), mk_int(1), loc), t, "TBackward0");
    }
    if (!strcmp(f, "permute")) {
        Value *t = tensor_arg(lw_req(a, 0, "input"), loc, "the input");
        Value **dims = a->pos + 1;
        int nd = a->npos - 1;
        if (nd == 1 && (dims[0]->kind == V_TUPLE || dims[0]->kind == V_LIST)) {
            nd = dims[0]->n;
            dims = dims[0]->items;
        }
        DONE(a, a->npos, "input");
        int r = TN(t)->shape.rank;
        if (nd != r)
            error_at(loc, "permute: %d dims given for a tensor of rank %d", nd, r);
        int64_t perm[MAX_RANK];
        bool seen[MAX_RANK] = {0};
        for (int i = 0; i < nd; i++) {
            perm[i] = axis_arg(dims[i], r, loc);
            if (seen[perm[i]])
                error_at(loc, "permute: dim %lld repeated", (long long)perm[i]);
            seen[perm[i]] = true;
        }
        return lw_permute(t, perm, r, loc);
    }
    if (!strcmp(f, "expand")) {
        /* a broadcast copy (PyTorch returns a view, but writing into an expanded view is an error there) */
        Value *t = tensor_arg(lw_req(a, 0, "input"), loc, "the input");
        Shape s = infer_view_shape(a->pos + 1, a->npos - 1, -1, loc);
        DONE(a, a->npos, "input");
        Shape in = TN(t)->shape;
        for (int i = 0; i < s.rank; i++) {
            int j = i - (s.rank - in.rank);
            if (s.d[i] == -1 && j >= 0)
                s.d[i] = in.d[j];
        }
        return lw_result(lw_expand(t->node, s, loc), t, NULL);
    }
    if (!strcmp(f, "unsqueeze") || !strcmp(f, "squeeze")) {
        Value *t = tensor_arg(lw_req(a, 0, "input"), loc, "the input");
        Value *d = lw_arg(a, 1, "dim", NULL);
        DONE(a, 2, "input", "dim");
        Shape in = TN(t)->shape, s = {0};
        if (f[0] == 'u') {
            if (!d) error_at(loc, "unsqueeze() needs a dim");
            if (in.rank == MAX_RANK) error_at(loc, "unsqueeze: rank would exceed %d", MAX_RANK);
            int64_t k = int_arg(d, loc, "dim");
            if (k < -(in.rank + 1) || k > in.rank) error_at(loc, "unsqueeze: dim %lld out of range", (long long)k);
            if (k < 0) k += in.rank + 1;
            for (int i = 0; i <= in.rank; i++)
                s.d[s.rank++] = i == k ? 1 : in.d[i - (i > k)];
        } else {
            int k = d ? axis_arg(d, in.rank, loc) : -1;
            for (int i = 0; i < in.rank; i++)
                if (!(in.d[i] == 1 && (k < 0 || k == i)))
                    s.d[s.rank++] = in.d[i];
        }
        return named_fn(view_reshape(t, s, loc), t,
                        f[0] == 'u' ? "UnsqueezeBackward0" : d ? "SqueezeBackward1" : "SqueezeBackward0");
    }
    if (!strcmp(f, "cat") || !strcmp(f, "concat") || !strcmp(f, "concatenate")) {
        Value *l = lw_req(a, 0, "tensors"), *d = lw_arg(a, 1, "dim", NULL);
        if (!d) d = lw_arg(a, -1, "axis", mk_int(0));
        DONE(a, 2, "tensors", "dim", "axis");
        if ((l->kind != V_LIST && l->kind != V_TUPLE) || l->n == 0)
            error_at(loc, "cat() needs a non-empty list of tensors");
        DType dt = DT_BOOL;
        for (int i = 0; i < l->n; i++) {
            tensor_arg(l->items[i], loc, "each item of cat()'s list");
            dt = i ? promote_types(dt, TN(l->items[i])->dtype) : TN(l->items[i])->dtype;
        }
        int axis = axis_arg(d, TN(l->items[0])->shape.rank, loc);
        int *in = ir_alloc(sizeof(int) * (size_t)l->n);
        for (int i = 0; i < l->n; i++)
            in[i] = lw_cast(l->items[i]->node, dt, loc);
        Attr at = attr_int("axis", axis);
        return lw_result(lw_add(OP_CAT, in, l->n, dt, shape_scalar(), &at, 1, loc), l->items[0], NULL);
    }
    if (!strcmp(f, "matmul") || !strcmp(f, "mm") || !strcmp(f, "dot")) {
        Value *x = tensor_arg(lw_req(a, 0, "input"), loc, "the input"), *y = tensor_arg(lw_req(a, 1, "other"), loc, "other");
        Value *out = lw_arg(a, -1, "out", NULL);
        DONE(a, 2, "input", "other", "out");
        if (!strcmp(f, "mm") && (TN(x)->shape.rank != 2 || TN(y)->shape.rank != 2))
            error_at(loc, "mm() needs two 2-D tensors; use matmul for broadcasting");
        Value *r = lw_matmul(x, y, loc);
        if (out) {
            assign_into(out, r, loc);
            return out;
        }
        return r;
    }

    /* -- conversions and queries -- */
    if (!strcmp(f, "item")) {
        Value *t = tensor_arg(lw_req(a, 0, "self"), loc, "the receiver");
        DONE(a, 1, "self");
        if (shape_numel(TN(t)->shape) != 1)
            error_at(loc, "item() needs a tensor with one element, got %s", type_str(TN(t)->dtype, TN(t)->shape));
        /* a Python float is a double and a Python int an int64: item() widens exactly */
        DType pdt = dtype_is_float(TN(t)->dtype) ? DT_F64 : TN(t)->dtype == DT_BOOL ? DT_BOOL : DT_I64;
        Value *r = mk_tensor(lw_cast(lw_reshape(t->node, shape_scalar(), loc), pdt, loc));
        r->tflags = TV_PYSCALAR;
        lw_info(r->node)->rg = false; /* a Python number: a constant for autograd */
        return r;
    }
    if (!strcmp(f, "size")) {
        Value *t = tensor_arg(lw_req(a, 0, "self"), loc, "the receiver"), *d = lw_arg(a, 1, "dim", NULL);
        DONE(a, 2, "self", "dim");
        if (d) {
            if (TN(t)->shape.rank == 0)
                error_at(loc, "size(dim) of a 0-d tensor: it has no dimensions");
            return mk_int(TN(t)->shape.d[axis_arg(d, TN(t)->shape.rank, loc)]);
        }
        Value *s = lw_mk(V_SIZE);
        s->shape = TN(t)->shape;
        return s;
    }
    if (!strcmp(f, "dim") || !strcmp(f, "numel")) {
        Value *t = tensor_arg(lw_req(a, 0, "self"), loc, "the receiver");
        DONE(a, 1, "self");
        return mk_int(f[0] == 'd' ? TN(t)->shape.rank : shape_numel(TN(t)->shape));
    }
    if (!strcmp(f, "float") || !strcmp(f, "double") || !strcmp(f, "long") || !strcmp(f, "int") ||
        !strcmp(f, "bool") || !strcmp(f, "to") || !strcmp(f, "type_as") || !strcmp(f, "clone")) {
        Value *t = lw_req(a, 0, "self");
        if (!self && !strcmp(f, "int")) {
            DONE(a, 1, "x");
            double d = trunc(float_arg(t, loc, "int()"));
            if (t->kind == V_INT || t->kind == V_BOOL)
                return mk_int(t->i);
            if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0))
                error_at(loc, "int(): %s does not fit in 64 bits", py_float_repr(t->f));
            return mk_int((int64_t)d);
        }
        if (!self && !strcmp(f, "float")) { DONE(a, 1, "x"); return mk_float(float_arg(t, loc, "float()")); }
        if (!self && !strcmp(f, "bool")) { DONE(a, 1, "x"); return mk_bool(float_arg(t, loc, "bool()") != 0); }
        tensor_arg(t, loc, "the receiver");
        DType dt = TN(t)->dtype;
        if (!strcmp(f, "float")) dt = DT_F32;
        else if (!strcmp(f, "double")) dt = DT_F64;
        else if (!strcmp(f, "long")) dt = DT_I64;
        else if (!strcmp(f, "int")) dt = DT_I32;
        else if (!strcmp(f, "bool")) dt = DT_BOOL;
        if (!strcmp(f, "to")) {
            Value *d = lw_req(a, 1, "dtype");
            if (d->kind == V_DEVICE || d->kind == V_STR) {
                DONE(a, 2, "dtype");
                const char *dev = d->s;
                if (strcmp(dev, "cpu"))
                    error_at(loc, "to(\"%s\"): a program runs where its compiled code runs (this target: the CPU); "
                                  "there is no device placement inside a program", dev);
                return t; /* to("cpu"): tensors already live where the program runs */
            }
            dt = dtype_value(d, loc);
            DONE(a, 2, "dtype");
        } else if (!strcmp(f, "type_as")) {
            dt = TN(tensor_arg(lw_req(a, 1, "other"), loc, "other"))->dtype;
            DONE(a, 2, "other");
        } else
            DONE(a, 1, "self");
        if (dt == TN(t)->dtype && strcmp(f, "clone"))
            return t;
        int x = dt == TN(t)->dtype ? lw_add1(OP_CAST, t->node, NULL, 0, loc) : lw_cast(t->node, dt, loc);
        N(x)->dtype = dt;
        return lw_result(x, t, NULL);
    }

    /* -- neural-network functions -- */
    if (!strcmp(f, "conv2d")) {
        Value *x = tensor_arg(lw_req(a, 0, "input"), loc, "the input"), *w = tensor_arg(lw_req(a, 1, "weight"), loc, "weight");
        Value *b = lw_arg(a, 2, "bias", NULL);
        Value *st = lw_arg(a, 3, "stride", mk_int(1)), *pd = lw_arg(a, 4, "padding", mk_int(0));
        Value *dl = lw_arg(a, 5, "dilation", mk_int(1)), *gr = lw_arg(a, 6, "groups", mk_int(1));
        DONE(a, 7, "input", "weight", "bias", "stride", "padding", "dilation", "groups");
        return conv2d_call(x, w, b, st, pd, dl, gr, loc);
    }
    if (!strcmp(f, "linear")) {
        Value *x = tensor_arg(lw_req(a, 0, "input"), loc, "the input"), *w = tensor_arg(lw_req(a, 1, "weight"), loc, "weight");
        Value *b = lw_arg(a, 2, "bias", NULL);
        DONE(a, 3, "input", "weight", "bias");
        return linear_call(x, w, b, loc);
    }
    if (!strcmp(f, "adaptive_avg_pool2d")) {
        Value *x = tensor_arg(lw_req(a, 0, "input"), loc, "the input");
        int64_t os[2];
        pair_value(lw_req(a, 1, "output_size"), os, loc, "output_size", NULL);
        DONE(a, 2, "input", "output_size");
        if (os[0] < 1 || os[1] < 1)
            error_at(loc, "adaptive_avg_pool2d: output_size must be positive");
        return adaptive_avg_pool(x, os, loc);
    }
    if (!strcmp(f, "avg_pool2d")) {
        Value *x = tensor_arg(lw_req(a, 0, "input"), loc, "the input");
        int64_t k[2], st[2], pd[2];
        pair_value(lw_req(a, 1, "kernel_size"), k, loc, "kernel_size", NULL);
        Value *sv = lw_arg(a, 2, "stride", lw_mk(V_NONE));
        if (sv->kind == V_NONE) { st[0] = k[0]; st[1] = k[1]; }
        else pair_value(sv, st, loc, "stride", NULL);
        pair_value(lw_arg(a, 3, "padding", mk_int(0)), pd, loc, "padding", NULL);
        bool cm = bool_arg(lw_arg(a, 4, "ceil_mode", mk_bool(false)), loc, "ceil_mode");
        bool incl = bool_arg(lw_arg(a, 5, "count_include_pad", mk_bool(true)), loc, "count_include_pad");
        DONE(a, 6, "input", "kernel_size", "stride", "padding", "ceil_mode", "count_include_pad");
        return avgpool_call(x, k, st, pd, cm, incl, loc);
    }
    if (!strcmp(f, "max_pool2d")) {
        Value *x = tensor_arg(lw_req(a, 0, "input"), loc, "the input");
        int64_t k[2], st[2], pd[2], dl[2];
        pair_value(lw_req(a, 1, "kernel_size"), k, loc, "kernel_size", NULL);
        Value *s = lw_arg(a, 2, "stride", lw_mk(V_NONE));
        if (s->kind == V_NONE) { st[0] = k[0]; st[1] = k[1]; }
        else pair_value(s, st, loc, "stride", NULL);
        pair_value(lw_arg(a, 3, "padding", mk_int(0)), pd, loc, "padding", NULL);
        pair_value(lw_arg(a, 4, "dilation", mk_int(1)), dl, loc, "dilation", NULL);
        bool cm = bool_arg(lw_arg(a, 5, "ceil_mode", mk_bool(false)), loc, "ceil_mode");
        DONE(a, 6, "input", "kernel_size", "stride", "padding", "dilation", "ceil_mode");
        return maxpool_call(x, k, st, pd, dl, cm, loc);
    }
    error_at(loc, "'%s' cannot be called this way", f);
}
