/*
 * expr.c: expressions.
 *
 * lw_eval turns an expression into a Value. A name is looked up innermost scope first (with
 * "did you mean" when unknown); an attribute is a tensor's (shape, dtype, T, grad, its
 * methods), a module's (its parameters and layers, its methods) or a namespace's (torch.zeros,
 * np.float64); a call goes to a builtin, a module class (construction) or a module (its
 * forward pass); an index is a tensor's view, a list's item or a tensor type (f32[B, 10]).
 */
#include "lower.h"

#include <math.h>
#include <string.h>

/* All names visible from the innermost scope, for "did you mean". */
static const char *suggest_name(const char *name) {
    const char *cands[512];
    int n = 0;
    for (Scope *s = L.scope; s; s = s->up)
        for (int i = 0; i < s->n && n < 512; i++)
            cands[n++] = s->b[i].name;
    return diag_suggest(name, cands, n);
}

/* A name, innermost scope first; an unknown one says what it may have meant. */
static Value *lookup(Expr *e) {
    for (Scope *s = L.scope; s; s = s->up) {
        Binding *b = find_in(s, e->str);
        if (b && b->v->kind == V_ERROR && b->v->s) /* a name the compiler cannot give one type here */
            error_at(e->loc, "%s", b->v->s);
        if (b && b->v->kind == V_ERROR)
            diag_stop(); /* its statement failed and was reported; do not report every use */
        if (b)
            return b->v;
    }
    if (L.in_def) /* Python's rule: a function sees its own names and the file's, not its caller's */
        for (int c = L.ncallers - 1; c >= 0; c--)
            for (Scope *s = L.callers[c]; s && s != L.globals; s = s->up)
                if (find_in(s, e->str))
                    error_at(e->loc, "unknown name '%s': a def sees its parameters and the file's models and "
                                     "defs, not the variables of the code that calls it (pass '%s' as an argument)",
                             e->str, e->str);
    const char *hint = suggest_name(e->str);
    if (hint)
        error_at(e->loc, "unknown name '%s'; did you mean '%s'?", e->str, hint);
    /* f16, int8, float16, half: a dtype tgc does not have, or spells another way */
    const char *s = e->str;
    if (((s[0] == 'f' || s[0] == 'i' || s[0] == 'u') && s[1] >= '0' && s[1] <= '9') || strstr(s, "float") ||
        strstr(s, "int") || strstr(s, "half"))
        error_at(e->loc, "unknown name '%s'; the dtypes are f32, f64, i32, i64, u8 and bool", s);
    error_at(e->loc, "unknown name '%s'", e->str);
}

/* self.name() as a function value: the builtin name with its receiver bound. */
static Value *method(Value *self, const char *name) {
    Value *f = lw_mk(V_FUNC);
    f->s = name;
    f->self = self;
    return f;
}

/* base.name: a namespace's member (torch.zeros is the global zeros), a tensor's attribute or
 * method, a module's parameter, buffer, layer or method, an optimizer's method. */
static Value *attribute(Value *base, Expr *e) {
    const char *name = e->str;
    SrcLoc loc = e->loc;
    if (base->kind == V_NAMESPACE)
        return ns_attribute(base, e);
    if (base->kind == V_DATASET || base->kind == V_LOADER)
        return data_attribute(base, name, loc);
    if (base->kind == V_OPTIONS)
        return option_attribute(base, name, loc);
    if (base->kind == V_TENSOR) {
        Node *n = TN(base);
        if (!strcmp(name, "shape")) {
            Value *s = lw_mk(V_SIZE);
            s->shape = n->shape;
            if (base->tflags & TV_NUMPY) { /* numpy: a tuple of ints */
                Value *t = lw_mk(V_TUPLE);
                t->n = n->shape.rank;
                t->items = ir_alloc(sizeof(Value *) * (size_t)(t->n + 1));
                for (int i = 0; i < t->n; i++) t->items[i] = mk_int(n->shape.d[i]);
                return t;
            }
            return s;
        }
        if (!strcmp(name, "dtype")) {
            Value *d = lw_mk(V_DTYPE);
            d->dt = n->dtype;
            return d;
        }
        if (!strcmp(name, "device")) {
            Value *d = lw_mk(V_DEVICE);
            d->s = "cpu";
            return d;
        }
        if (!strcmp(name, "ndim"))
            return mk_int(n->shape.rank);
        if (!strcmp(name, "T")) {
            int r = n->shape.rank;
            int64_t perm[MAX_RANK];
            for (int i = 0; i < r; i++) perm[i] = r - 1 - i;
            return lw_permute(base, perm, r, loc);
        }
        if (!strcmp(name, "data")) /* as detach(): the same storage, not tracked by autograd */
            return detach(base, loc);
        if (!strcmp(name, "requires_grad"))
            return mk_bool(lw_info(base->node)->rg);
        if (!strcmp(name, "is_leaf"))
            return mk_bool(!lw_info(base->node)->rg || (!base->nchain && L.group_rg[base->group]));
        if (!strcmp(name, "grad"))
            return grad_of(base);
        if (!strcmp(name, "grad_fn"))
            error_at(loc, "'.grad_fn' objects are not available; print the tensor to see its grad_fn, or "
                          "'tgc compile --emit=ir' to see the whole backward graph");
        if (has_builtin(name, BI_TENSOR))
            return method(base, name);
        const char *cands[256];
        int nc = 0;
        for (const Builtin *b = builtins; b->name && nc < 250; b++)
            if (b->where & BI_TENSOR)
                cands[nc++] = b->name;
        static const char *attrs[] = {"shape", "dtype", "device", "ndim", "T", "data"};
        for (int i = 0; i < 6; i++) cands[nc++] = attrs[i];
        const char *hint = diag_suggest(name, cands, nc);
        if (hint)
            error_at(loc, "a tensor has no attribute '%s'; did you mean '%s'?", name, hint);
        error_at(loc, "a tensor has no attribute or method '%s' that tgc supports", name);
    }
    if (base->kind == V_MODULE) {
        Module *m = base->mod;
        if (!strcmp(name, "weight") && m->weight >= 0) return param_value(m->weight);
        if (!strcmp(name, "bias") && m->bias >= 0) return param_value(m->bias);
        if (!strcmp(name, "running_mean") && m->rmean >= 0) return param_value(m->rmean);
        if (!strcmp(name, "running_var") && m->rvar >= 0) return param_value(m->rvar);
        if (!strcmp(name, "num_batches_tracked") && m->nbt >= 0) return param_value(m->nbt);
        for (int i = 0; i < m->nchild; i++)
            if (!strcmp(m->child_name[i], name)) {
                Value *c = lw_mk(V_MODULE);
                c->mod = m->child[i];
                return c;
            }
        if (has_builtin(name, BI_MODULE))
            return method(base, name);
        const char *cands[64];
        int n = 0;
        for (int i = 0; i < m->nchild && n < 64; i++) cands[n++] = m->child_name[i];
        if (m->weight >= 0) cands[n++] = "weight";
        if (m->bias >= 0) cands[n++] = "bias";
        const char *hint = diag_suggest(name, cands, n);
        if (hint)
            error_at(loc, "%s has no attribute '%s'; did you mean '%s'?", m->cls, name, hint);
        error_at(loc, "%s has no attribute '%s'", m->cls, name);
    }
    if (base->kind == V_TUPLE && base->s) { /* a named tuple: max(dim).values, .indices */
        if (!strcmp(name, "values") || !strcmp(name, "indices"))
            return base->items[name[0] == 'i'];
        error_at(loc, "torch.return_types.%s has no attribute '%s' (it has values, indices)", base->s, name);
    }
    if (base->kind == V_SCHED)
        return has_builtin(name, BI_OPTIM) ? method(base, name) : scheduler_attribute(base->sched, name, loc);
    if (base->kind == V_OPTIM && has_builtin(name, BI_OPTIM))
        return method(base, name);
    if ((base->kind == V_STR && has_builtin(name, BI_STR)) || (base->kind == V_DICT && has_builtin(name, BI_DICT)))
        return method(base, name);
    if (base->kind == V_OPTIM && !strcmp(name, "param_groups"))
        return param_groups_list(base);
    error_at(loc, "%s has no attribute '%s'", kind_name(base), name);
}

/* f32[B, 3, 32, 32]: a tensor type, dims literal or symbolic. */
static Value *tensor_type(Value *dt, Expr *e) {
    Value *t = lw_mk(V_TYPE);
    t->dt = dt->dt;
    if (e->nitems > MAX_RANK)
        error_at(e->loc, "tensor types have at most %d dimensions", MAX_RANK);
    t->shape.rank = e->nitems;
    t->sym = ir_alloc(sizeof(char *) * MAX_RANK);
    for (int i = 0; i < e->nitems; i++) {
        Expr *d = e->items[i];
        if (d->kind == E_NAME) {
            bool bound = false;
            for (Scope *s = L.scope; s; s = s->up) {
                Binding *b = find_in(s, d->str);
                if (b && b->v->kind == V_INT) {
                    t->shape.d[i] = b->v->i;
                    bound = true;
                    break;
                }
            }
            if (!bound)
                t->sym[i] = d->str;
            continue;
        }
        Value *v = lw_eval(d);
        t->shape.d[i] = int_arg(v, d->loc, "a dimension");
        if (t->shape.d[i] < 0)
            error_at(d->loc, "negative dimension %lld", (long long)t->shape.d[i]);
    }
    check_numel(t->shape, (const char *const *)t->sym, e->loc);
    return t;
}

/* A call: f is a builtin, a module class (a constructor) or a module (its forward pass). */
static Value *call_value(Value *f, Expr *call, Value **args, const char **names, int nargs, SrcLoc loc) {
    (void)call;
    Args a = {.loc = loc};
    a.pos = ir_alloc(sizeof(Value *) * (size_t)(nargs + 1));
    a.kw = ir_alloc(sizeof(char *) * (size_t)(nargs + 1));
    a.kwv = ir_alloc(sizeof(Value *) * (size_t)(nargs + 1));
    if (nargs > 30)
        error_at(loc, "too many arguments");
    for (int i = 0; i < nargs; i++) {
        if (names && names[i]) {
            for (int k = 0; k < a.nkw; k++)
                if (!strcmp(a.kw[k], names[i]))
                    error_at(loc, "keyword argument '%s' repeated", names[i]);
            a.kw[a.nkw] = names[i];
            a.kwv[a.nkw++] = args[i];
        } else
            a.pos[a.npos++] = args[i];
    }
    switch (f->kind) {
    case V_FUNC: {
        a.fname = f->s;
        Value *r = call_builtin(f->s, f->self, &a, f->numpy_ns);
        if (f->numpy_ns && r->kind == V_TENSOR)
            r->tflags |= TV_NUMPY;
        return r;
    }
    case V_CLASS:
        a.fname = f->decl ? f->decl->name : f->s;
        return f->decl ? construct_model(f->decl, &a) : construct_builtin(f->s, &a);
    case V_MODULE:
        a.fname = f->mod->cls;
        return module_call(f->mod, &a);
    case V_DEF:
        a.fname = f->decl->name;
        return def_call(f->decl, &a);
    case V_PYTYPE:
        a.fname = f->s;
        return call_builtin(f->s, NULL, &a, false);
    case V_DTYPE:
        error_at(loc, "a dtype is not callable; to convert, use x.to(%s)", dtype_name(f->dt));
    default:
        error_at(loc, "%s is not callable", kind_name(f));
    }
}

static Value *eval_expr(Expr *e);

/* v stays a root until the statement ends (L.held). */
static Value *hold(Value *v) {
    if (L.nheld == L.capheld) {
        L.capheld = L.capheld ? 2 * L.capheld : 64;
        Value **h = ir_alloc(sizeof(Value *) * (size_t)L.capheld);
        if (L.nheld)
            memcpy(h, L.held, sizeof(Value *) * (size_t)L.nheld);
        L.held = h;
    }
    L.held[L.nheld++] = v;
    return v;
}

/* The value of e; the depth guard keeps deeply nested expressions off the end of the C stack. */
Value *lw_eval(Expr *e) {
    if (++L.eval_depth > 1000)
        error_at(e->loc, "expression nested too deeply (more than 1000 levels)");
    Value *v = eval_expr(e);
    L.eval_depth--;
    return hold(v);
}

static Value *eval_expr(Expr *e) {
    switch (e->kind) {
    case E_INT: return mk_int(e->ival);
    case E_FLOAT: return mk_float(e->fval);
    case E_BOOL: return mk_bool(e->ival != 0);
    case E_NONE: return lw_mk(V_NONE);
    case E_STR: return mk_str(e->str);
    case E_NAME: return lookup(e);
    case E_FSTR: { /* a string when every hole is known now, else run-time text */
        Value *t = hold(text_new()); /* its holes' snapshots too, while later holes run */
        bool runtime = false;
        for (int i = 0; i < e->nitems; i++) {
            Expr *p = e->items[i];
            if (p->kind == E_STR)
                text_push(t, mk_str(p->str));
            else {
                Value *v = lw_eval(p->lhs);
                runtime |= v->kind == V_TENSOR || v->kind == V_TEXT;
                text_append_ex(t, v, p->str, true, p->loc);
            }
        }
        return text_or_string(t, runtime);
    }
    case E_COND: return eval_cond(e);
    case E_COMP: return eval_comprehension(e);
    case E_DICT: return eval_dict(e);
    case E_LIST:
    case E_TUPLE: {
        Value *v = lw_mk(e->kind == E_LIST ? V_LIST : V_TUPLE);
        v->born = L.carry;
        v->n = e->nitems;
        v->items = ir_alloc(sizeof(Value *) * (size_t)(e->nitems + 1));
        for (int i = 0; i < e->nitems; i++)
            v->items[i] = lw_eval(e->items[i]);
        return v;
    }
    case E_UNARY: {
        Value *v = lw_eval(e->lhs);
        if (!strcmp(e->op, "not")) {
            if (v->kind == V_TENSOR && TN(v)->dtype != DT_BOOL && shape_numel(TN(v)->shape) == 1) {
                /* not of a number known at run time (a loop counter, an item()): Python's, a bool */
                Value *r = lw_result(lw_add2(OP_EQ, lw_reshape(v->node, shape_scalar(), e->loc),
                                             const_scalar(mk_int(0), TN(v)->dtype, e->loc), e->loc), NULL, NULL);
                r->tflags |= TV_PYSCALAR;
                return r;
            }
            if (v->kind == V_TENSOR) {
                Value *r = unary_op(OP_NOT, v, e->loc);
                r->tflags |= v->tflags & TV_PYSCALAR; /* not of a run-time Python bool is one */
                return r;
            }
            if (!is_scalar(v) && v->kind != V_NONE)
                error_at(e->loc, "'not' of %s", kind_name(v));
            return mk_bool(v->kind == V_NONE || num(v) == 0);
        }
        if (!strcmp(e->op, "+")) {
            if (v->kind != V_TENSOR && !is_scalar(v)) /* Python: bad operand type for unary + */
                error_at(e->loc, "bad operand type for unary +: %s", kind_name(v));
            return v;
        }
        if (v->kind == V_BOOL)
            return mk_int(-v->i);
        return unary_op(OP_NEG, v, e->loc);
    }
    case E_BINARY: {
        Value *a = lw_eval(e->lhs);
        if (!strcmp(e->op, "and") && is_scalar(a) && num(a) == 0)
            return a; /* short-circuit */
        if (!strcmp(e->op, "or") && is_scalar(a) && num(a) != 0)
            return a;
        return lw_binop(e->op, a, lw_eval(e->rhs), e->loc);
    }
    case E_CALL: {
        Value *f = lw_eval(e->lhs);
        Value **args = ir_alloc(sizeof(Value *) * (size_t)(e->nitems + 1));
        for (int i = 0; i < e->nitems; i++)
            args[i] = lw_eval(e->items[i]);
        return call_value(f, e, args, e->names, e->nitems, e->loc);
    }
    case E_ATTR:
        return attribute(lw_eval(e->lhs), e);
    case E_INDEX: {
        Value *b = lw_eval(e->lhs);
        if (b->kind == V_PYTYPE && dtype_from_name(b->s) >= 0) { /* bool[2], float[3] */
            Value *d = lw_mk(V_DTYPE);
            d->dt = (DType)dtype_from_name(b->s);
            b = d;
        }
        if (b->kind == V_DTYPE)
            return tensor_type(b, e);
        if (b->kind == V_TENSOR)
            return index_tensor(b, e);
        if (b->kind == V_PGROUP) {
            if (e->nitems != 1)
                error_at(e->loc, "a parameter group takes one key: g['lr']");
            return param_group_get(b->optim, (int)b->i, lw_eval(e->items[0]), e->items[0]->loc);
        }
        if (b->kind == V_STATEFILE) {
            if (e->nitems != 1 || e->items[0]->kind == E_SLICE || e->items[0]->kind == E_ELLIPSIS)
                error_at(e->loc, "a loaded checkpoint takes one key");
            return statefile_get(b, lw_eval(e->items[0]), e->items[0]->loc);
        }
        if (b->kind == V_DICT) {
            if (e->nitems != 1 || e->items[0]->kind == E_SLICE || e->items[0]->kind == E_ELLIPSIS)
                error_at(e->loc, "a dict takes one key");
            return dict_get(b, lw_eval(e->items[0]), e->items[0]->loc);
        }
        if (b->kind == V_LIST || b->kind == V_TUPLE || b->kind == V_SIZE) {
            if (e->nitems != 1 || e->items[0]->kind == E_SLICE || e->items[0]->kind == E_ELLIPSIS)
                error_at(e->loc, "only a single integer index is supported for %s", kind_name(b));
            int64_t n = b->kind == V_SIZE ? b->shape.rank : b->n;
            Value *iv = lw_eval(e->items[0]);
            if (iv->kind == V_TENSOR && b->kind != V_SIZE) /* classes[labels[j]]: picked at run time */
                return pick_string(b, iv, e->items[0]->loc);
            int64_t i = int_arg(iv, e->items[0]->loc, "an index");
            if (i < -n || i >= n)
                error_at(e->items[0]->loc, "index %lld out of range for %s of length %lld", (long long)i,
                         kind_name(b), (long long)n);
            if (i < 0) i += n;
            return b->kind == V_SIZE ? mk_int(b->shape.d[i]) : b->items[i];
        }
        if (b->kind == V_MODULE && !strcmp(b->mod->cls, "Sequential")) { /* model.layer1[0] */
            if (e->nitems != 1 || e->items[0]->kind == E_SLICE || e->items[0]->kind == E_ELLIPSIS)
                error_at(e->loc, "a Sequential takes a single integer index");
            int64_t n = b->mod->nchild, i = int_arg(lw_eval(e->items[0]), e->items[0]->loc, "an index");
            if (i < -n || i >= n)
                error_at(e->items[0]->loc, "index %lld out of range for a Sequential of %lld modules", (long long)i,
                         (long long)n);
            Value *c = lw_mk(V_MODULE);
            c->mod = b->mod->child[i < 0 ? i + n : i];
            return c;
        }
        error_at(e->loc, "%s cannot be indexed", kind_name(b));
    }
    case E_ELLIPSIS:
    case E_SLICE:
        error_at(e->loc, "'...' and slices can only appear inside an index");
    case E_FHOLE:
        break;
    }
    unreachable();
}
