/*
 * autograd.c: autograd in programs: requires_grad, backward(), .grad.
 *
 * What PyTorch keeps on a tensor is kept per node (NodeInfo: requires grad, the leaf it is
 * the value of) and per storage group (a leaf that requires grad, the group of its .grad).
 * backward() finds the leaves the tensor depends on and lowers to a grad node for each leaf
 * its gradient reaches (ir_grad_reach, the walk of the autodiff pass), which pass_autodiff
 * later expands into the backward graph where it stands; each leaf's gradient accumulates
 * into its .grad, as PyTorch's does.
 */
#include "lower.h"

#include <math.h>
#include <string.h>

/* x.requires_grad_(flag) on a leaf: its storage group becomes (or stops being) a gradient target. */
void set_requires_grad(Value *t, bool flag, SrcLoc loc) {
    tensor_arg(t, loc, "the receiver");
    if (flag && !dtype_is_float(TN(t)->dtype))
        error_at(loc, "only tensors of floating point dtype can require gradients, got %s", dtype_torch(TN(t)->dtype));
    bool computed = !L.group_rg[t->group] && lw_info(t->node)->rg; /* from a tensor that requires grad */
    if (computed && flag && !t->nchain)
        return; /* it requires grad already; PyTorch leaves it as it is */
    if (t->nchain || computed)
        error_at(loc, "requires_grad can only be changed on a leaf tensor (one not computed from others)");
    L.group_rg[t->group] = flag;
    lw_info(t->node)->rg = flag;
    lw_info(t->node)->leaf = flag ? t->group : -1;
}

/* net.requires_grad_(flag): each parameter as x.requires_grad_(flag) would. A parameter that an
 * in-place update computed from a tensor that requires grad is no leaf any more: it keeps
 * requiring grad, and cannot be frozen (PyTorch refuses both alike). */
void module_requires_grad(Module *m, bool flag, SrcLoc loc) {
    int groups[2] = {m->weight, m->bias};
    for (int i = 0; i < 2; i++) {
        int g = groups[i];
        if (g < 0)
            continue;
        int base = L.group_base[g];
        if (!L.group_rg[g] && lw_info(base)->rg) {
            if (!flag)
                error_at(loc, "requires_grad_(False): %s is not a leaf tensor any more (an in-place update computed "
                              "it from a tensor that requires grad), and requires_grad can only be changed on a leaf",
                         ir_fmt("%s%s", m->path ? m->path : "", i ? "bias" : "weight"));
            continue;
        }
        L.group_rg[g] = flag;
        lw_info(base)->rg = flag;
        lw_info(base)->leaf = flag ? g : -1;
    }
    for (int i = 0; i < m->nchild; i++)
        module_requires_grad(m->child[i], flag, loc);
}

/* zero_grad(): gradients that exist become zeros (PyTorch 1.13's default, set_to_none=False). */
void zero_grads(Value **params, int n, SrcLoc loc) {
    for (int i = 0; i < n; i++) {
        int gg = L.grad_group[params[i]->group];
        if (gg >= 0)
            set_group(gg, lw_filled(TN(params[i])->shape, TN(params[i])->dtype, mk_int(0), loc)->node, loc);
    }
}

/* The .grad of a tensor: a tensor on its own storage, or None. */
Value *grad_of(Value *t) {
    if (t->nchain || t->group < 0 || L.grad_group[t->group] < 0)
        return lw_mk(V_NONE);
    Value *g = lw_mk(V_TENSOR);
    g->group = L.grad_group[t->group];
    g->node = L.group_base[g->group];
    return g;
}

/* y.backward(gradient): gradients of y for every leaf it depends on, accumulated into .grad. */
void lw_backward(Value *y, Value *gradient, SrcLoc loc) {
    tensor_arg(y, loc, "backward()'s tensor");
    Node *yn = TN(y);
    if (!lw_info(y->node)->rg) {
        /* say where the path from a tensor that requires grad was cut, if it was */
        bool *anc = ir_alloc((size_t)L.g->nnode + 1);
        anc[y->node] = true;
        int cut = -1;
        for (int i = y->node; i >= 0 && cut < 0; i--) {
            if (!anc[i])
                continue;
            Node *n = &L.g->nodes[i];
            for (int k = 0; k < n->nin; k++) {
                anc[n->in[k]] = true;
                if (lw_info(n->in[k])->rg && cut < 0)
                    cut = i;
            }
        }
        if (cut >= 0 && L.g->nodes[cut].op == OP_GRAD) {
            diag_error(loc, "backward() of a tensor that does not require grad: it is computed from a .grad, and "
                            "a gradient does not require grad");
            diag_note(L.g->nodes[cut].loc, "the .grad it is computed from was made by this backward()");
            diag_stop();
        }
        if (cut >= 0) {
            Node *c = &L.g->nodes[cut];
            diag_error(loc, "backward() of a tensor that does not require grad: its gradient would have to pass "
                            "through '%s', which has none", op_info[c->op].name);
            diag_note(c->loc, "'%s' (%s) cuts the path from a tensor that requires grad here", op_info[c->op].name,
                      type_str(c->dtype, c->shape));
            diag_stop();
        }
        error_at(loc, "backward() of a tensor that does not require grad: nothing it depends on requires_grad");
    }
    int seed;
    if (!gradient || gradient->kind == V_NONE) {
        if (shape_numel(yn->shape) != 1)
            error_at(loc, "backward() of %s needs gradient=: a gradient can only be implied for a scalar",
                     type_str(yn->dtype, yn->shape));
        seed = lw_filled(yn->shape, yn->dtype, mk_int(1), loc)->node;
    } else {
        Value *gv = gradient->kind == V_LIST || is_scalar(gradient) ? tensor_literal(gradient, NULL, false, loc) : gradient;
        tensor_arg(gv, loc, "gradient");
        if (!shape_eq(TN(gv)->shape, yn->shape))
            error_at(loc, "backward(): gradient %s must have the shape of the tensor, %s",
                     type_str(TN(gv)->dtype, TN(gv)->shape), type_str(yn->dtype, yn->shape));
        seed = lw_cast(gv->node, yn->dtype, loc);
    }
    /* the leaves: ancestors of y that are the value of a leaf group */
    int n = L.g->nnode;
    bool *anc = ir_alloc((size_t)n + 1);
    int *wrt = ir_alloc(sizeof(int) * (size_t)(n + 1)), nwrt = 0;
    /* walk back through what requires grad only; a leaf ends the walk (what made it, like an
       optimizer update, ran without gradient tracking) */
    anc[y->node] = true;
    for (int i = y->node; i >= 0; i--) {
        if (!anc[i] || !lw_info(i)->rg)
            continue;
        if (lw_info(i)->leaf >= 0) {
            wrt[nwrt++] = i;
            continue;
        }
        if (lw_info(i)->cut)
            error_at(loc, "backward() through '%s', computed before a loop or an if that runs at run time: tgc "
                          "compiles the code between two such points as one graph, so compute the loss and call "
                          "backward() in the same block", L.g->nodes[i].name ? L.g->nodes[i].name : "a tensor");
        for (int k = 0; k < L.g->nodes[i].nin; k++)
            anc[L.g->nodes[i].in[k]] = true;
    }
    /* a grad node per leaf the gradient reaches, which pass_autodiff expands into the backward
     * graph; a leaf it does not reach keeps its .grad (None, or what it was) */
    int *grads = ir_alloc(sizeof(int) * (size_t)(nwrt + 1));
    bool *reach = ir_grad_reach(L.g, y->node, wrt, nwrt);
    Attr call = attr_int("call", ++L.nbackward); /* two calls alike are still two backward passes */
    for (int i = 0; i < nwrt; i++) {
        int in[3] = {y->node, seed, wrt[i]};
        grads[i] = reach[wrt[i]] ? lw_add(OP_GRAD, in, 3, DT_F32, shape_scalar(), &call, 1, loc) : -1;
    }
    for (int i = nwrt - 1; i >= 0; i--) {
        if (grads[i] < 0)
            continue;
        int group = lw_info(wrt[i])->leaf;
        int gg = L.grad_group[group];
        if (gg < 0) {
            int ng = new_group(grads[i]); /* before the store: new_group may move L.grad_group */
            L.grad_group[group] = ng;
        } else {
            int in[2] = {L.group_base[gg], grads[i]}; /* gradients accumulate, as in PyTorch */
            int sum = lw_add(OP_ADD, in, 2, DT_F32, shape_scalar(), NULL, 0, loc);
            L.g->nodes[sum].flags |= NF_BACKWARD;
            set_group(gg, sum, loc);
        }
    }
}

/* The .grad of each parameter of ps (a list, a module's parameters(), or one tensor) that has one. */
static int grads_of(Value *ps, Value **out, int max, SrcLoc loc) {
    if (ps->kind == V_MODULE) {
        Value *l = lw_mk(V_LIST);
        collect_params(ps->mod, &l->items, &l->n);
        ps = l;
    }
    Value *one[1] = {ps};
    Value **items = ps->kind == V_LIST || ps->kind == V_TUPLE ? ps->items : one;
    int n = ps->kind == V_LIST || ps->kind == V_TUPLE ? ps->n : 1, k = 0;
    for (int i = 0; i < n; i++) {
        Value *g = grad_of(tensor_arg(items[i], loc, "each parameter"));
        if (g->kind != V_NONE && k < max)
            out[k++] = g;
    }
    return k;
}

/* The p-norm of x's elements (p = inf: the largest magnitude), as torch.norm computes it. */
static Value *pnorm(Value *x, double p, SrcLoc loc) {
    Value *ax = unary_op(OP_ABS, x, loc);
    if (isinf(p))
        return lw_reduce(OP_MAX, ax, NULL, false, loc);
    if (p == 2)
        return unary_op(OP_SQRT, lw_reduce(OP_SUM, lw_binop("*", x, x, loc), NULL, false, loc), loc);
    Value *s = lw_reduce(OP_SUM, lw_binop("**", ax, mk_float(p), loc), NULL, false, loc);
    return lw_binop("**", s, mk_float(1 / p), loc);
}

/*
 * nn.utils.clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False) as
 * PyTorch 1.13 computes it: the norm of the parameters' gradient norms, every gradient scaled by
 * min(max_norm / (total + 1e-6), 1), the total returned; clip_grad_value_(parameters, clip_value)
 * clamps each gradient element to [-clip_value, clip_value]. Neither is recorded by autograd.
 */
Value *bi_clip_grad(Args *a) {
    SrcLoc loc = a->loc;
    Value *ps = lw_req(a, 0, "parameters");
    Value *gs[4096];
    bool saved = L.no_grad;
    if (!strcmp(a->fname, "clip_grad_value_")) {
        double v = float_arg(lw_req(a, 1, "clip_value"), loc, "clip_value");
        DONE(a, 2, "parameters", "clip_value");
        int n = grads_of(ps, gs, 4096, loc);
        L.no_grad = true;
        for (int i = 0; i < n; i++)
            assign_into(gs[i], tensor_binop(OP_MINIMUM, tensor_binop(OP_MAXIMUM, gs[i], mk_float(-v), loc),
                                            mk_float(v), loc), loc);
        L.no_grad = saved;
        return lw_mk(V_NONE);
    }
    double max_norm = float_arg(lw_req(a, 1, "max_norm"), loc, "max_norm");
    Value *nt = lw_arg(a, 2, "norm_type", mk_float(2.0));
    double p = nt->kind == V_STR && !strcmp(nt->s, "inf") ? INFINITY : float_arg(nt, loc, "norm_type");
    bool strict = bool_arg(lw_arg(a, 3, "error_if_nonfinite", mk_bool(false)), loc, "error_if_nonfinite");
    DONE(a, 4, "parameters", "max_norm", "norm_type", "error_if_nonfinite");
    if (strict)
        error_at(loc, "clip_grad_norm_: error_if_nonfinite=True is not supported (the norm is known only at run time)");
    if (!(p > 0))
        error_at(loc, "clip_grad_norm_: norm_type must be positive, got %g", p);
    int n = grads_of(ps, gs, 4096, loc);
    if (n == 0)
        return lw_result(const_scalar(mk_float(0), DT_F32, loc), NULL, NULL);
    L.no_grad = true;
    Value *total = NULL;
    if (isinf(p)) { /* the largest of the norms */
        for (int i = 0; i < n; i++) {
            Value *ni = pnorm(gs[i], p, loc);
            total = total ? tensor_binop(OP_MAXIMUM, total, ni, loc) : ni;
        }
    } else { /* torch.norm(torch.stack(norms), p) */
        Value *acc = NULL;
        for (int i = 0; i < n; i++) {
            Value *ni = pnorm(gs[i], p, loc);
            Value *term = p == 2 ? lw_binop("*", ni, ni, loc) : lw_binop("**", unary_op(OP_ABS, ni, loc), mk_float(p), loc);
            acc = acc ? lw_binop("+", acc, term, loc) : term;
        }
        total = p == 2 ? unary_op(OP_SQRT, acc, loc) : lw_binop("**", acc, mk_float(1 / p), loc);
    }
    Value *coef = lw_binop("/", mk_float(max_norm), lw_binop("+", total, mk_float(1e-6), loc), loc);
    coef = tensor_binop(OP_MINIMUM, coef, mk_float(1.0), loc); /* torch.clamp(clip_coef, max=1.0) */
    for (int i = 0; i < n; i++)
        assign_into(gs[i], lw_binop("*", gs[i], coef, loc), loc);
    L.no_grad = saved;
    return total;
}

/* x.detach() (and x.data): a view of x's storage that does not require grad; an in-place change of
 * either is seen by the other, as in PyTorch. */
Value *detach(Value *x, SrcLoc loc) {
    tensor_arg(x, loc, "the tensor");
    Shape s = TN(x)->shape;
    Attr at = ints_attr("shape", s.d, s.rank);
    Value *r = mk_view(x, OP_RESHAPE, &at, 1, loc);
    r->tflags |= TV_DETACHED;
    cut_grad(r->node);
    return r;
}

Value *bi_detach(Args *a) {
    Value *x = lw_req(a, 0, "self");
    DONE(a, 1, "self");
    return detach(x, a->loc);
}
