/*
 * optim.c: optimizers (SGD, Adam, AdamW, RMSprop, Adagrad) and the fused losses (mse_loss, cross_entropy).
 *
 * An optimizer is a compile-time value holding its parameters in groups, as PyTorch's
 * param_groups: each group a run of the parameters with its own hyper-parameters (a dict the
 * user gave, completed by the constructor's defaults). Its update is built of ordinary nodes
 * flagged NF_UPDATE, in two forms that compute what PyTorch 1.13's single-tensor SGD and Adam
 * compute: optimizer_step in a program, whose state is storage groups and whose step count is
 * known at compile time, and runtime_update in a train block's step (or a program's run-time
 * loop), whose state, step count and learning rates are persistent tensors read when the step
 * runs. One group makes the very nodes it made before groups existed.
 */
#include "lower.h"

#include <math.h>
#include <string.h>

/* ---- dicts: a group's hyper-parameters and state_dict() are PyTorch's dicts ---- */

static Value *new_dict(void) {
    Value *d = lw_mk(V_DICT);
    d->self = lw_mk(V_TUPLE);
    return d;
}

/* d[key] = v, a new key */
static void put(Value *d, Value *key, Value *v) {
    list_append(d->self, key);
    list_append(d, v);
}

/* d's string key's index, or -1 */
static int key_index(Value *d, const char *key) {
    for (int i = 0; i < d->n; i++)
        if (d->self->items[i]->kind == V_STR && !strcmp(d->self->items[i]->s, key))
            return i;
    return -1;
}

static Value *dict_at(Value *d, const char *key) {
    int i = key_index(d, key);
    return i < 0 ? NULL : d->items[i];
}

/* A number, bool or None of a group as a fresh value (one that a later g['lr'] = x cannot change) */
static Value *copy_scalar(Value *v) {
    if (v->kind == V_INT) return mk_int(v->i);
    if (v->kind == V_FLOAT) return mk_float(v->f);
    if (v->kind == V_BOOL) return mk_bool(v->i);
    return v;
}

/* ---- construction: the defaults, the groups ---- */

/* A hyper-parameter given to the constructor (a non-negative number, as PyTorch checks them), or dflt. */
static Value *opt_num(Args *a, const char *key, Value *dflt) {
    Value *v = lw_arg(a, -1, key, NULL);
    if (!v)
        return dflt;
    double d = float_arg(v, a->loc, key);
    if (!(d >= 0) || !isfinite(d))
        error_at(a->loc, "%s must be a non-negative number", key);
    return v;
}

/* PyTorch's check of a learning rate given as a number: ValueError: Invalid learning rate. */
static void check_lr(Value *lr, SrcLoc loc) {
    if (!lr || lr->kind == V_TENSOR) /* absent (SGD's groups give it), or known when the program runs */
        return;
    double v = float_arg(lr, loc, "lr");
    if (v < 0) /* as PyTorch checks it: a NaN passes */
        error_at(loc, "ValueError: Invalid learning rate: %s", py_float_repr(v));
}

static void def(Value *d, const char *key, Value *v) { put(d, mk_str(key), v); }

/*
 * The constructor's keywords as PyTorch 1.13's `defaults` dict, its keys in its order: what a
 * group takes where its dict has no key. SGD's lr may be absent (PyTorch's `required`): then
 * every group gives one.
 */
static Value *optim_defaults(Optim *o, Args *a, bool groups) {
    SrcLoc loc = a->loc;
    Value *d = new_dict(), *lr;
    if (o->rmsprop || o->adagrad) {
        lr = lw_arg(a, 1, "lr", mk_float(0.01));
        check_lr(lr, loc);
        Value *wd = opt_num(a, "weight_decay", mk_int(0));
        def(d, "lr", lr);
        if (o->rmsprop) {
            Value *alpha = opt_num(a, "alpha", mk_float(0.99)), *eps = opt_num(a, "eps", mk_float(1e-8));
            Value *mom = opt_num(a, "momentum", mk_int(0));
            Value *cen = lw_arg(a, -1, "centered", mk_bool(false));
            bool_arg(cen, loc, "centered");
            DONE(a, 2, "params", "lr", "alpha", "eps", "weight_decay", "momentum", "centered");
            def(d, "momentum", mom);
            def(d, "alpha", alpha);
            def(d, "eps", eps);
            def(d, "centered", cen);
            def(d, "weight_decay", wd);
            def(d, "foreach", lw_mk(V_NONE));
            def(d, "maximize", mk_bool(false));
            def(d, "differentiable", mk_bool(false));
        } else {
            Value *dec = opt_num(a, "lr_decay", mk_int(0)), *init = opt_num(a, "initial_accumulator_value", mk_int(0));
            Value *eps = opt_num(a, "eps", mk_float(1e-10));
            DONE(a, 2, "params", "lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps");
            def(d, "lr_decay", dec);
            def(d, "eps", eps);
            def(d, "weight_decay", wd);
            def(d, "initial_accumulator_value", init);
            def(d, "foreach", lw_mk(V_NONE));
            def(d, "maximize", mk_bool(false));
        }
    } else if (!o->adam) {
        lr = lw_arg(a, 1, "lr", NULL);
        if (!lr && !groups)
            error_at(loc, "SGD() needs a learning rate: SGD(params, lr=0.01)");
        check_lr(lr, loc);
        Value *mom = opt_num(a, "momentum", mk_int(0)), *damp = opt_num(a, "dampening", mk_int(0));
        Value *wd = opt_num(a, "weight_decay", mk_int(0));
        Value *nv = lw_arg(a, -1, "nesterov", mk_bool(false));
        bool nesterov = bool_arg(nv, loc, "nesterov");
        DONE(a, 2, "params", "lr", "momentum", "dampening", "weight_decay", "nesterov");
        if (nesterov && (num(mom) <= 0 || num(damp) != 0))
            error_at(loc, "nesterov momentum requires a momentum and zero dampening");
        if (lr)
            def(d, "lr", lr);
        def(d, "momentum", mom);
        def(d, "dampening", damp);
        def(d, "weight_decay", wd);
        def(d, "nesterov", nv);
        def(d, "maximize", mk_bool(false));
        def(d, "foreach", lw_mk(V_NONE));
        def(d, "differentiable", mk_bool(false));
    } else {
        lr = lw_arg(a, 1, "lr", mk_float(1e-3));
        check_lr(lr, loc);
        Value *betas = lw_arg(a, -1, "betas", NULL);
        if (betas && ((betas->kind != V_TUPLE && betas->kind != V_LIST) || betas->n != 2))
            error_at(loc, "betas must be a pair, e.g. (0.9, 0.999)");
        for (int i = 0; betas && i < 2; i++)
            float_arg(betas->items[i], loc, "betas");
        Value *eps = opt_num(a, "eps", mk_float(1e-8));
        Value *wd = opt_num(a, "weight_decay", o->adamw ? mk_float(1e-2) : mk_int(0));
        Value *ams = lw_arg(a, -1, "amsgrad", mk_bool(false));
        bool_arg(ams, loc, "amsgrad");
        DONE(a, 2, "params", "lr", "betas", "eps", "weight_decay", "amsgrad");
        def(d, "lr", lr);
        def(d, "betas", betas ? betas : lw_tuple2(mk_float(0.9), mk_float(0.999)));
        def(d, "eps", eps);
        def(d, "weight_decay", wd);
        def(d, "amsgrad", ams);
        if (o->adamw) { /* 1.13's AdamW has its own keys, in its own order */
            def(d, "foreach", lw_mk(V_NONE));
            def(d, "maximize", mk_bool(false));
            def(d, "capturable", mk_bool(false));
        } else {
            def(d, "maximize", mk_bool(false));
            def(d, "foreach", lw_mk(V_NONE));
            def(d, "capturable", mk_bool(false));
            def(d, "differentiable", mk_bool(false));
            def(d, "fused", mk_bool(false));
        }
    }
    return d;
}

/* Room for n parameters in every per-parameter array (state groups -1: none yet). */
static void grow_params(Optim *o, int n) {
    Value **params = ir_alloc(sizeof(Value *) * (size_t)(n + 1));
    int *arr[6] = {o->pgroup, o->buf, o->exp_avg, o->exp_avg_sq, o->max_sq, o->steps};
    int **dst[6] = {&o->pgroup, &o->buf, &o->exp_avg, &o->exp_avg_sq, &o->max_sq, &o->steps};
    bool *stepped = ir_alloc((size_t)n + 1);
    if (o->nparams) {
        memcpy(params, o->params, sizeof(Value *) * (size_t)o->nparams);
        memcpy(stepped, o->stepped, (size_t)o->nparams);
    }
    for (int k = 0; k < 6; k++) {
        int *a = ir_alloc(sizeof(int) * (size_t)(n + 1));
        for (int i = 0; i < n; i++)
            a[i] = i < o->nparams ? arr[k][i] : k >= 1 && k <= 4 ? -1 : 0;
        *dst[k] = a;
    }
    o->params = params;
    o->stepped = stepped;
}

/*
 * The parameters of one group (ps: a module, a list or tuple of tensors, or one tensor),
 * appended to o's as group g's: each a leaf tensor, none already in another group.
 */
static void group_params(Optim *o, Value *ps, int g, SrcLoc loc) {
    Value **items = &ps, **all = NULL;
    int n = 1, nall = 0;
    if (ps->kind == V_MODULE) {
        collect_params(ps->mod, &all, &nall);
        items = all, n = nall;
    } else if (ps->kind == V_LIST || ps->kind == V_TUPLE)
        items = ps->items, n = ps->n;
    else if (ps->kind != V_TENSOR)
        error_at(loc, "TypeError: a parameter group's 'params' are tensors (net.fc.parameters(), a list of "
                      "tensors), not %s", kind_name(ps));
    int first = o->nparams;
    grow_params(o, first + n);
    for (int i = 0; i < n; i++) {
        Value *pv = items[i];
        if (pv->kind == V_DICT)
            error_at(loc, "TypeError: optimizer can only optimize Tensors, but one of the params is dict");
        tensor_arg(pv, loc, "each parameter");
        if (pv->nchain || (!L.group_rg[pv->group] && lw_info(pv->node)->rg))
            error_at(loc, "%s(): parameter %d is not a leaf tensor (it is computed from others)", o->kind, first + i);
        for (int j = 0; j < first; j++)
            if (o->params[j]->group == pv->group && o->pgroup[j] != g)
                error_at(loc, "ValueError: some parameters appear in more than one parameter group");
        /* PyTorch 1.13 warns that this will be an error, and meanwhile steps such a parameter once
         * per copy with one state between them: refused, not silently computed otherwise */
        for (int j = first; j < first + i; j++)
            if (o->params[j]->group == pv->group)
                error_at(loc, "%s(): parameter %d is parameter %d again: a parameter group with duplicate parameters "
                              "is not supported (PyTorch 1.13 warns that it will be an error)", o->kind, first + i, j);
        o->params[first + i] = pv;
        o->pgroup[first + i] = g;
    }
    o->nparams = first + n;
}

static double gnum(OptGroup *G, const char *key, SrcLoc loc) { return float_arg(dict_at(G->d, key), loc, key); }
static bool gbool(OptGroup *G, const char *key, SrcLoc loc) { return bool_arg(dict_at(G->d, key), loc, key); }

/* The numbers the update uses, from the group's dict. */
static void parse_group(Optim *o, OptGroup *G, SrcLoc loc) {
    Value *lr = dict_at(G->d, "lr");
    G->lr = lr->kind == V_TENSOR ? 0 : float_arg(lr, loc, "lr");
    G->weight_decay = gnum(G, "weight_decay", loc);
    G->beta1 = 0.9, G->beta2 = 0.999;
    if (o->adam) {
        Value *b = dict_at(G->d, "betas");
        if ((b->kind != V_TUPLE && b->kind != V_LIST) || b->n != 2)
            error_at(loc, "betas must be a pair, e.g. (0.9, 0.999)");
        G->beta1 = float_arg(b->items[0], loc, "betas");
        G->beta2 = float_arg(b->items[1], loc, "betas");
        G->eps = gnum(G, "eps", loc);
        G->amsgrad = gbool(G, "amsgrad", loc);
    } else if (o->rmsprop) {
        G->momentum = gnum(G, "momentum", loc);
        G->alpha = gnum(G, "alpha", loc);
        G->eps = gnum(G, "eps", loc);
        G->centered = gbool(G, "centered", loc);
    } else if (o->adagrad) {
        G->lr_decay = gnum(G, "lr_decay", loc);
        G->eps = gnum(G, "eps", loc);
    } else {
        G->momentum = gnum(G, "momentum", loc);
        G->dampening = gnum(G, "dampening", loc);
        G->nesterov = gbool(G, "nesterov", loc);
    }
}

/*
 * Group g's dict: gd's keys but 'params', in gd's order (NULL: none), then each default's key
 * gd lacks, as PyTorch's add_param_group completes it. A key PyTorch does not know is kept (it
 * reads back); one of PyTorch's that tgc does not implement must keep its default.
 */
static void group_dict(Optim *o, OptGroup *G, Value *gd, SrcLoc loc) {
    G->d = new_dict();
    for (int i = 0; gd && i < gd->n; i++) {
        Value *k = gd->self->items[i], *v = gd->items[i];
        if (k->kind != V_STR)
            error_at(loc, "a parameter group's keys are strings ('params', 'lr', ...), not %s", kind_name(k));
        if (!strcmp(k->s, "params")) {
            G->params_at = G->d->n;
            continue;
        }
        static const char *const fixed[] = {"maximize", "differentiable", "capturable", "fused"};
        for (int f = 0; f < 4; f++)
            if (!strcmp(k->s, fixed[f]) && bool_arg(v, loc, k->s))
                error_at(loc, "a parameter group's '%s' must be False: tgc computes %s's default update", k->s,
                         o->kind);
        if (v->kind == V_TENSOR && strcmp(k->s, "lr") && key_index(o->defaults, k->s) >= 0)
            error_at(loc, "a parameter group's '%s' must be known at compile time (only 'lr' may be a run-time "
                          "value)", k->s);
        put(G->d, k, v);
    }
    for (int i = 0; i < o->defaults->n; i++) {
        Value *k = o->defaults->self->items[i];
        if (key_index(G->d, k->s) < 0)
            put(G->d, k, o->defaults->items[i]);
    }
    if (key_index(G->d, "lr") < 0)
        error_at(loc, "ValueError: parameter group didn't specify a value of required optimization parameter lr");
    parse_group(o, G, loc);
}

static OptGroup *new_opt_group(Optim *o) {
    OptGroup *gs = ir_alloc(sizeof(OptGroup) * (size_t)(o->ngroups + 1));
    if (o->ngroups)
        memcpy(gs, o->groups, sizeof(OptGroup) * (size_t)o->ngroups);
    o->groups = gs;
    OptGroup *G = &gs[o->ngroups++];
    G->lr_group = -1;
    return G;
}

/* gd's 'params', or PyTorch's KeyError */
static Value *group_params_of(Value *gd, SrcLoc loc) {
    if (gd->kind != V_DICT)
        error_at(loc, "AssertionError: param group must be a dict, not %s", kind_name(gd));
    Value *ps = dict_at(gd, "params");
    if (!ps)
        error_at(loc, "KeyError: 'params': a parameter group is a dict with its parameters under 'params', e.g. "
                      "{\"params\": net.fc.parameters(), \"lr\": 0.01}");
    return ps;
}

/* A group's rate known at run time (an option): the optimizer is staged, its update reads the
 * rate's group (the dict keeps a float in its place: param_group_get reads the group). */
static void runtime_lr(Optim *o, int g, SrcLoc loc) {
    Value *d = o->groups[g].d;
    int k = key_index(d, "lr");
    if (d->items[k]->kind != V_TENSOR)
        return;
    param_group_set(o, g, mk_str("lr"), d->items[k], loc);
    d->items[k] = mk_float(0);
}

/*
 * SGD(params, lr=...), and the others: params the parameters (a module's, a list of tensors) or a
 * list of group dicts, {"params": ..., "lr": ..., ...}, each group's keys over the keywords'.
 */
Value *make_optimizer(const char *kind, Args *a) {
    SrcLoc loc = a->loc;
    Optim *o = ir_alloc(sizeof(Optim));
    o->kind = kind;
    o->adam = !strcmp(kind, "Adam") || !strcmp(kind, "AdamW");
    o->adamw = !strcmp(kind, "AdamW");
    o->rmsprop = !strcmp(kind, "RMSprop");
    o->adagrad = !strcmp(kind, "Adagrad");
    Value *ps = lw_req(a, 0, "params");
    if (ps->kind == V_MODULE) {
        Value *l = lw_mk(V_LIST);
        collect_params(ps->mod, &l->items, &l->n);
        ps = l;
    }
    if (ps->kind != V_LIST && ps->kind != V_TUPLE)
        error_at(loc, "%s() needs the parameters to optimize, e.g. %s(net.parameters(), lr=0.01)", kind, kind);
    /* a program's SGD([]) is PyTorch's ValueError; a train block's list is what it trains, which
     * may be nothing (its step then runs the model alone) */
    if (ps->n == 0 && L.prog_name)
        error_at(loc, "ValueError: optimizer got an empty parameter list");
    bool groups = ps->n > 0 && ps->items[0]->kind == V_DICT;
    int ngroups = groups ? ps->n : 1;
    for (int g = 0; g < ngroups; g++)
        group_params(o, groups ? group_params_of(ps->items[g], loc) : ps, g, loc);
    o->defaults = optim_defaults(o, a, groups);
    if (o->adagrad)
        o->init_acc = float_arg(dict_at(o->defaults, "initial_accumulator_value"), loc, "initial_accumulator_value");
    int at = 0;
    for (int g = 0; g < ngroups; g++) {
        OptGroup *G = new_opt_group(o);
        G->first = at;
        while (at < o->nparams && o->pgroup[at] == g)
            at++;
        G->n = at - G->first;
        group_dict(o, G, groups ? ps->items[g] : NULL, loc);
    }
    o->step_group = -1;
    for (int g = 0; g < o->ngroups; g++)
        runtime_lr(o, g, loc);
    Value *v = lw_mk(V_OPTIM);
    v->optim = o;
    v->s = kind;
    return v;
}

static void stage_group(Optim *o, int g, SrcLoc loc);

/* optimizer.add_param_group({"params": ..., ...}): one more group, after the others. */
void add_param_group(Optim *o, Value *gd, SrcLoc loc) {
    if (L.carry)
        error_at(loc, "add_param_group() in a loop or if that runs when the program runs is not supported (add "
                      "the group before it)");
    if (o->nsched)
        error_at(loc, "add_param_group() after a learning-rate scheduler was made on the optimizer is not supported "
                      "(PyTorch's scheduler would not know the group: add it first)");
    Value *dlr = dict_at(o->defaults, "lr"), *glr = gd->kind == V_DICT ? dict_at(gd, "lr") : NULL;
    if (dlr && dlr->kind == V_TENSOR && !glr) /* the constructor's node belongs to where it was made */
        error_at(loc, "add_param_group(): give the group its own 'lr' (the optimizer's is known only at run time)");
    int first = o->nparams;
    group_params(o, group_params_of(gd, loc), o->ngroups, loc);
    OptGroup *G = new_opt_group(o);
    G->first = first;
    G->n = o->nparams - first;
    group_dict(o, G, gd, loc);
    if (o->staged)
        stage_group(o, o->ngroups - 1, loc);
    runtime_lr(o, o->ngroups - 1, loc);
}

/* The group of parameter i (a train block's optimizer has one: its i counts the trainable ones) */
static OptGroup *group_of(const Optim *o, int i) { return &o->groups[o->ngroups == 1 ? 0 : o->pgroup[i]]; }

/* Elementwise helpers for update rules: x op y where y may be a float constant. */
static int upd2(Op op, int x, int y, SrcLoc loc) {
    int r = lw_add2(op, x, y, loc);
    L.g->nodes[r].flags |= NF_UPDATE;
    return r;
}
static int uconst(double v, DType dt, SrcLoc loc) {
    int r = const_scalar(mk_float(v), dt, loc);
    L.g->nodes[r].flags |= NF_UPDATE;
    return r;
}

static void staged_step(Optim *o, SrcLoc loc);

/*
 * optimizer.step(), as PyTorch 1.13's single-tensor SGD and Adam/AdamW compute it. The step
 * count of a straight-line program is known here, so bias corrections are constants computed in
 * double exactly as Python computes them.
 */
void optimizer_step(Optim *o, SrcLoc loc) {
    bool runtime_only = false; /* RMSprop, Adagrad and amsgrad update through runtime_update only: state in groups */
    for (int g = 0; g < o->ngroups; g++)
        runtime_only |= o->rmsprop || o->adagrad || o->groups[g].amsgrad;
    if (!o->staged && runtime_only)
        optimizer_stage(o, loc);
    if (o->staged) {
        staged_step(o, loc);
        return;
    }
    L.no_grad = true;
    int first_node = L.g->nnode;
    for (int i = 0; i < o->nparams; i++) {
        Value *p = o->params[i];
        OptGroup *G = group_of(o, i);
        int gg = L.grad_group[p->group];
        if (gg < 0)
            continue; /* no gradient yet: PyTorch skips the parameter */
        o->stepped[i] = true;
        int pn = L.group_base[p->group], g = L.group_base[gg];
        DType dt = L.g->nodes[pn].dtype;
        Shape sh = L.g->nodes[pn].shape;
        o->steps[i]++;
        if (!o->adam) {
            int d = g;
            if (G->weight_decay != 0)
                d = upd2(OP_ADD, d, upd2(OP_MUL, pn, uconst(G->weight_decay, dt, loc), loc), loc);
            if (G->momentum != 0) {
                int buf;
                if (o->buf[i] < 0) { /* the first step: buf = d_p */
                    buf = d;
                    o->buf[i] = new_group(buf);
                } else {
                    buf = upd2(OP_ADD, upd2(OP_MUL, L.group_base[o->buf[i]], uconst(G->momentum, dt, loc), loc),
                               upd2(OP_MUL, d, uconst(1 - G->dampening, dt, loc), loc), loc);
                    set_group(o->buf[i], buf, loc);
                }
                d = G->nesterov ? upd2(OP_ADD, d, upd2(OP_MUL, buf, uconst(G->momentum, dt, loc), loc), loc) : buf;
            }
            set_group(p->group, upd2(OP_ADD, pn, upd2(OP_MUL, d, uconst(-G->lr, dt, loc), loc), loc), loc);
            continue;
        }
        if (o->exp_avg[i] < 0) {
            o->exp_avg[i] = new_group(lw_filled(sh, dt, mk_int(0), loc)->node);
            o->exp_avg_sq[i] = new_group(lw_filled(sh, dt, mk_int(0), loc)->node);
        }
        if (o->adamw && G->weight_decay != 0) /* decoupled: param *= 1 - lr * wd */
            pn = upd2(OP_MUL, pn, uconst(1 - G->lr * G->weight_decay, dt, loc), loc);
        if (!o->adamw && G->weight_decay != 0)
            g = upd2(OP_ADD, g, upd2(OP_MUL, pn, uconst(G->weight_decay, dt, loc), loc), loc);
        int m = upd2(OP_ADD, upd2(OP_MUL, L.group_base[o->exp_avg[i]], uconst(G->beta1, dt, loc), loc),
                     upd2(OP_MUL, g, uconst(1 - G->beta1, dt, loc), loc), loc);
        int v = upd2(OP_ADD, upd2(OP_MUL, L.group_base[o->exp_avg_sq[i]], uconst(G->beta2, dt, loc), loc),
                     upd2(OP_MUL, upd2(OP_MUL, g, g, loc), uconst(1 - G->beta2, dt, loc), loc), loc);
        set_group(o->exp_avg[i], m, loc);
        set_group(o->exp_avg_sq[i], v, loc);
        double bc1 = 1 - pow(G->beta1, o->steps[i]), bc2 = 1 - pow(G->beta2, o->steps[i]);
        double step_size = G->lr / bc1, bc2_sqrt = sqrt(bc2);
        int sq = lw_add1(OP_SQRT, v, NULL, 0, loc);
        L.g->nodes[sq].flags |= NF_UPDATE;
        int denom = upd2(OP_ADD, upd2(OP_DIV, sq, uconst(bc2_sqrt, dt, loc), loc), uconst(G->eps, dt, loc), loc);
        int delta = upd2(OP_MUL, upd2(OP_DIV, m, denom, loc), uconst(-step_size, dt, loc), loc);
        set_group(p->group, upd2(OP_ADD, pn, delta, loc), loc);
    }
    for (int i = first_node; i < L.g->nnode; i++) /* zero state and constants belong to the update too */
        L.g->nodes[i].flags |= NF_UPDATE;
    L.no_grad = false;
}

/* Does o keep state k for parameter i (0 momentum_buffer, 1 exp_avg / grad_avg, 2 exp_avg_sq /
 * square_avg / sum, 3 max_exp_avg_sq)? */
bool optim_has_state(const Optim *o, int i, int k) {
    const OptGroup *G = group_of(o, i);
    switch (k) {
    case 0: return (!o->adam && !o->adagrad) && G->momentum != 0;
    case 1: return o->adam || (o->rmsprop && G->centered);
    case 2: return o->adam || o->rmsprop || o->adagrad;
    default: return o->adam && G->amsgrad;
    }
}

/* ---- the update in a train block's step ---- */

/* A persistent zero-initialised state tensor (optimizer buffers, the step counter). */
static int new_state(const char *name, DType dt, Shape s, SrcLoc loc) {
    Attr a = attr_str("init", "zeros");
    int id = lw_add(OP_PARAM, NULL, 0, dt, s, &a, 1, loc);
    L.g->nodes[id].flags |= NF_PARAM;
    L.g->nodes[id].name = name;
    return id;
}

/* A state of the update: the train step's persistent tensor, or a staged optimizer's group. */
static int state_in(Optim *o, int *group, const char *name, DType dt, Shape s, SrcLoc loc) {
    if (!o->staged)
        return new_state(name, dt, s, loc);
    return L.group_base[*group];
}

static int upd_cast(int x, DType dt, SrcLoc loc) {
    int r = lw_cast(x, dt, loc);
    L.g->nodes[r].flags |= NF_UPDATE;
    return r;
}

/*
 * RMSprop's and Adagrad's update of parameter p (the i-th, of group G) with gradient g, as
 * PyTorch 1.13's single-tensor versions compute it (ATen's addcmul and addcdiv: self + value * a *
 * b, self + value * a / b).
 */
static void other_update(Optim *o, OptGroup *G, int p, int g, const char *name, int i, int neg_lr32, int lr, int tf,
                         SrcLoc loc, int *assigns, int *nassign) {
    DType dt = L.g->nodes[p].dtype;
    Shape sh = L.g->nodes[p].shape;
    if (G->weight_decay != 0) /* grad.add(param, alpha=weight_decay) */
        g = upd2(OP_ADD, g, upd2(OP_MUL, p, uconst(G->weight_decay, dt, loc), loc), loc);
    int sq = state_in(o, &o->exp_avg_sq[i], ir_fmt("%s.%s", name, o->rmsprop ? "square_avg" : "sum"), dt, sh, loc);
    if (o->adagrad && o->init_acc != 0 && !o->staged) { /* Adagrad's sum starts at initial_accumulator_value */
        Attr a[2] = {attr_str("init", "full"), attr_float("value", o->init_acc)};
        L.g->nodes[sq].attr = ir_alloc(sizeof a);
        memcpy(L.g->nodes[sq].attr, a, sizeof a);
        L.g->nodes[sq].nattr = 2;
    }
    if (o->adagrad) {
        /* clr = lr / (1 + (step - 1) * lr_decay) in double; sum += g * g; p -= clr * g / (sqrt(sum) + eps) */
        int dec = upd2(OP_ADD, uconst(1, DT_F64, loc),
                       upd2(OP_MUL, upd2(OP_SUB, tf, uconst(1, DT_F64, loc), loc), uconst(G->lr_decay, DT_F64, loc), loc), loc);
        int nclr = upd_cast(lw_add1(OP_NEG, upd2(OP_DIV, lr, dec, loc), NULL, 0, loc), dt, loc);
        int sn = upd2(OP_ADD, sq, upd2(OP_MUL, upd2(OP_MUL, g, uconst(1, dt, loc), loc), g, loc), loc);
        int root = lw_add1(OP_SQRT, sn, NULL, 0, loc);
        int std = upd2(OP_ADD, root, uconst(G->eps, dt, loc), loc);
        assigns[(*nassign)++] = sq, assigns[(*nassign)++] = sn;
        assigns[(*nassign)++] = p, assigns[(*nassign)++] = upd2(OP_ADD, p, upd2(OP_DIV, upd2(OP_MUL, nclr, g, loc), std, loc), loc);
        return;
    }
    /* RMSprop: square_avg = alpha sa + (1 - alpha) g g; avg = sqrt(sa (- grad_avg^2)) + eps */
    int san = upd2(OP_ADD, upd2(OP_MUL, sq, uconst(G->alpha, dt, loc), loc),
                   upd2(OP_MUL, upd2(OP_MUL, g, uconst(1 - G->alpha, dt, loc), loc), g, loc), loc);
    assigns[(*nassign)++] = sq, assigns[(*nassign)++] = san;
    int inner = san;
    if (G->centered) {
        int ga = state_in(o, &o->exp_avg[i], ir_fmt("%s.grad_avg", name), dt, sh, loc);
        int gan = upd2(OP_ADD, upd2(OP_MUL, ga, uconst(G->alpha, dt, loc), loc),
                       upd2(OP_MUL, g, uconst(1 - G->alpha, dt, loc), loc), loc);
        assigns[(*nassign)++] = ga, assigns[(*nassign)++] = gan;
        inner = upd2(OP_ADD, san, upd2(OP_MUL, upd2(OP_MUL, gan, uconst(-1, dt, loc), loc), gan, loc), loc);
    }
    int avg = upd2(OP_ADD, lw_add1(OP_SQRT, inner, NULL, 0, loc), uconst(G->eps, dt, loc), loc);
    if (G->momentum > 0) { /* buf = momentum buf + g / avg; p -= lr buf */
        int buf = state_in(o, &o->buf[i], ir_fmt("%s.momentum_buffer", name), dt, sh, loc);
        int bn = upd2(OP_ADD, upd2(OP_MUL, buf, uconst(G->momentum, dt, loc), loc),
                      upd2(OP_DIV, upd2(OP_MUL, g, uconst(1, dt, loc), loc), avg, loc), loc);
        assigns[(*nassign)++] = buf, assigns[(*nassign)++] = bn;
        assigns[(*nassign)++] = p, assigns[(*nassign)++] = upd2(OP_ADD, p, upd2(OP_MUL, bn, neg_lr32, loc), loc);
        return;
    }
    assigns[(*nassign)++] = p;
    assigns[(*nassign)++] = upd2(OP_ADD, p, upd2(OP_DIV, upd2(OP_MUL, neg_lr32, g, loc), avg, loc), loc);
}

/*
 * The optimizer update with the step count read at run time (a state), as a generated
 * train_step needs: SGD's first step sets buf = d_p through a 0/1 blend (exact, both terms
 * finite), Adam's bias corrections are computed in double from the step and then used as float
 * scalars, as PyTorch's Python floats are. Each group's rate and its derived scalars are made
 * once, before the parameters', in group order. Writes go through assign effects at the very
 * end, after every update has read the old values.
 */
void runtime_update(Optim *o, int *params, const char **names, int *grads, int n, SrcLoc loc, int *assigns,
                    int *nassign) {
    int first_node = L.g->nnode, ng = o->ngroups;
    int step = state_in(o, &o->step_group, "step", DT_I64, shape_scalar(), loc);
    /* per group: lr, -lr, -lr as f32, SGD's first-step mask, Adam's -lr / bc1 and sqrt(bc2) */
    int *lr = ir_alloc(sizeof(int) * (size_t)(6 * ng)), *neg_lr = lr + ng, *neg_lr32 = lr + 2 * ng;
    int *first = lr + 3 * ng, *step_size = lr + 4 * ng, *bc2_sqrt = lr + 5 * ng;
    for (int k = 0; k < ng; k++) {
        /* the learning rate lives in the arena too, so a caller (the trainer's --lr) may change it; as a
           double, so lr-derived factors round exactly as Python's floats do */
        OptGroup *G = &o->groups[k];
        if (o->staged)
            lr[k] = L.group_base[G->lr_group];
        else {
            Attr la[2] = {attr_str("init", "full"), attr_float("value", G->lr)};
            lr[k] = lw_add(OP_PARAM, NULL, 0, DT_F64, shape_scalar(), la, 2, loc);
            L.g->nodes[lr[k]].flags |= NF_PARAM;
            L.g->nodes[lr[k]].name = k ? ir_fmt("lr.%d", k) : "lr";
        }
        neg_lr[k] = lw_add1(OP_NEG, lr[k], NULL, 0, loc);
        neg_lr32[k] = upd_cast(neg_lr[k], DT_F32, loc);
    }
    int step1 = upd2(OP_ADD, step, const_scalar(mk_int(1), DT_I64, loc), loc);
    int tf = upd_cast(step1, DT_F64, loc); /* t = step + 1, as a double */
    bool sgd = !o->adam && !o->rmsprop && !o->adagrad;
    for (int k = 0; k < ng; k++) {
        OptGroup *G = &o->groups[k];
        first[k] = step_size[k] = bc2_sqrt[k] = -1;
        if (sgd && G->momentum != 0)
            first[k] = upd_cast(upd2(OP_EQ, step, const_scalar(mk_int(0), DT_I64, loc), loc), DT_F32, loc);
        if (o->adam) {
            int bc1 = upd2(OP_SUB, uconst(1, DT_F64, loc), upd2(OP_POW, uconst(G->beta1, DT_F64, loc), tf, loc), loc);
            int bc2 = upd2(OP_SUB, uconst(1, DT_F64, loc), upd2(OP_POW, uconst(G->beta2, DT_F64, loc), tf, loc), loc);
            step_size[k] = upd_cast(upd2(OP_DIV, neg_lr[k], bc1, loc), DT_F32, loc);
            int sq = lw_add1(OP_SQRT, bc2, NULL, 0, loc);
            L.g->nodes[sq].flags |= NF_UPDATE;
            bc2_sqrt[k] = upd_cast(sq, DT_F32, loc);
        }
    }
    for (int i = 0; i < n; i++) {
        if (grads[i] < 0)
            continue;
        OptGroup *G = group_of(o, i);
        int k = (int)(G - o->groups);
        int p = params[i], g = grads[i];
        DType dt = L.g->nodes[p].dtype;
        Shape sh = L.g->nodes[p].shape;
        if (o->rmsprop || o->adagrad) {
            other_update(o, G, p, g, names[i], i, neg_lr32[k], lr[k], tf, loc, assigns, nassign);
            continue;
        }
        if (!o->adam) {
            int d = g;
            if (G->weight_decay != 0)
                d = upd2(OP_ADD, d, upd2(OP_MUL, p, uconst(G->weight_decay, dt, loc), loc), loc);
            if (G->momentum != 0) {
                int buf = state_in(o, &o->buf[i], ir_fmt("%s.momentum_buffer", names[i]), dt, sh, loc);
                int later = upd2(OP_ADD, upd2(OP_MUL, buf, uconst(G->momentum, dt, loc), loc),
                                 upd2(OP_MUL, d, uconst(1 - G->dampening, dt, loc), loc), loc);
                int nb = upd2(OP_ADD, upd2(OP_MUL, first[k], d, loc),
                              upd2(OP_MUL, upd2(OP_SUB, uconst(1, dt, loc), first[k], loc), later, loc), loc);
                assigns[(*nassign)++] = buf, assigns[(*nassign)++] = nb;
                d = G->nesterov ? upd2(OP_ADD, d, upd2(OP_MUL, nb, uconst(G->momentum, dt, loc), loc), loc) : nb;
            }
            assigns[(*nassign)++] = p;
            assigns[(*nassign)++] = upd2(OP_ADD, p, upd2(OP_MUL, d, neg_lr32[k], loc), loc);
            continue;
        }
        int m = state_in(o, &o->exp_avg[i], ir_fmt("%s.exp_avg", names[i]), dt, sh, loc);
        int v = state_in(o, &o->exp_avg_sq[i], ir_fmt("%s.exp_avg_sq", names[i]), dt, sh, loc);
        int pn = p;
        if (o->adamw && G->weight_decay != 0) {
            int keep = upd2(OP_SUB, uconst(1, DT_F64, loc), upd2(OP_MUL, lr[k], uconst(G->weight_decay, DT_F64, loc), loc), loc);
            pn = upd2(OP_MUL, pn, upd_cast(keep, dt, loc), loc);
        }
        if (!o->adamw && G->weight_decay != 0)
            g = upd2(OP_ADD, g, upd2(OP_MUL, p, uconst(G->weight_decay, dt, loc), loc), loc);
        int mn = upd2(OP_ADD, upd2(OP_MUL, m, uconst(G->beta1, dt, loc), loc),
                      upd2(OP_MUL, g, uconst(1 - G->beta1, dt, loc), loc), loc);
        int vn = upd2(OP_ADD, upd2(OP_MUL, v, uconst(G->beta2, dt, loc), loc),
                      upd2(OP_MUL, upd2(OP_MUL, g, g, loc), uconst(1 - G->beta2, dt, loc), loc), loc);
        int sq = lw_add1(OP_SQRT, vn, NULL, 0, loc);
        L.g->nodes[sq].flags |= NF_UPDATE;
        if (G->amsgrad) { /* the largest exp_avg_sq so far, and its root */
            int vm = state_in(o, &o->max_sq[i], ir_fmt("%s.max_exp_avg_sq", names[i]), dt, sh, loc);
            int vmn = upd2(OP_MAXIMUM, vm, vn, loc);
            assigns[(*nassign)++] = vm, assigns[(*nassign)++] = vmn;
            sq = lw_add1(OP_SQRT, vmn, NULL, 0, loc);
            L.g->nodes[sq].flags |= NF_UPDATE;
        }
        int denom = upd2(OP_ADD, upd2(OP_DIV, sq, bc2_sqrt[k], loc), uconst(G->eps, dt, loc), loc);
        int delta = upd2(OP_MUL, upd2(OP_DIV, mn, denom, loc), step_size[k], loc);
        assigns[(*nassign)++] = m, assigns[(*nassign)++] = mn;
        assigns[(*nassign)++] = v, assigns[(*nassign)++] = vn;
        assigns[(*nassign)++] = p, assigns[(*nassign)++] = upd2(OP_ADD, pn, delta, loc);
    }
    assigns[(*nassign)++] = step, assigns[(*nassign)++] = step1;
    for (int i = first_node; i < L.g->nnode; i++) /* constants and state too: one update section */
        L.g->nodes[i].flags |= NF_UPDATE;
}

/* ---- optimizers in a program's run-time loops ---- */

static void stage_state(Optim *o, int i, SrcLoc loc) {
    Node *p = N(L.group_base[o->params[i]->group]);
    int *st[4] = {&o->buf[i], &o->exp_avg[i], &o->exp_avg_sq[i], &o->max_sq[i]};
    for (int k = 0; k < 4; k++)
        if (optim_has_state(o, i, k) && *st[k] < 0)
            *st[k] = new_group(lw_filled(p->shape, p->dtype, k == 2 && o->adagrad ? mk_float(o->init_acc)
                                                                                   : mk_int(0), loc)->node);
}

/* Group g's rate as a group of its own, and its parameters' state as groups (zeros; Adagrad's sum
 * its initial_accumulator_value) where they have none yet. */
static void stage_group(Optim *o, int g, SrcLoc loc) {
    OptGroup *G = &o->groups[g];
    G->lr_group = new_group(const_scalar(mk_float(G->lr), DT_F64, loc));
    for (int i = G->first; i < G->first + G->n; i++)
        stage_state(o, i, loc);
}

/* Before a run-time loop or if: the state becomes groups (what a straight-line step() kept at
 * compile time, the step count and the learning rates too), so that the step the body compiles
 * once is the step of every iteration: the train block's update, reading them. */
void optimizer_stage(Optim *o, SrcLoc loc) {
    if (o->staged)
        return;
    o->staged = true;
    int steps = 0;
    for (int i = 0; i < o->nparams; i++)
        steps = o->steps[i] > steps ? o->steps[i] : steps;
    o->step_group = new_group(const_scalar(mk_int(steps), DT_I64, loc));
    for (int g = 0; g < o->ngroups; g++)
        stage_group(o, g, loc);
}

/* optimizer.step() in a run-time loop: runtime_update over the staged state, its new values set
 * into the groups after every update has read the old ones. */
static void staged_step(Optim *o, SrcLoc loc) {
    int n = o->nparams;
    int *params = ir_alloc(sizeof(int) * (size_t)(n + 1)), *grads = ir_alloc(sizeof(int) * (size_t)(n + 1));
    const char **names = ir_alloc(sizeof(char *) * (size_t)(n + 1));
    for (int i = 0; i < n; i++) {
        int g = o->params[i]->group, gg = L.grad_group[g];
        params[i] = L.group_base[g];
        grads[i] = gg >= 0 ? L.group_base[gg] : -1;
        o->stepped[i] |= gg >= 0;
        names[i] = N(params[i])->name ? N(params[i])->name : ir_fmt("param%d", i);
    }
    int *assigns = ir_alloc(sizeof(int) * (size_t)(8 * n + 4)), nassign = 0;
    L.no_grad = true;
    runtime_update(o, params, names, grads, n, loc, assigns, &nassign);
    /* each pair is (the state's or parameter's current node, its new value): back to its group */
    for (int k = 0; k < nassign; k += 2) {
        int g = -1;
        for (int i = 0; i < n && g < 0; i++) {
            int cand[5] = {o->params[i]->group, o->buf[i], o->exp_avg[i], o->exp_avg_sq[i], o->max_sq[i]};
            for (int c = 0; c < 5 && g < 0; c++)
                if (cand[c] >= 0 && L.group_base[cand[c]] == assigns[k])
                    g = cand[c];
        }
        if (g < 0 && L.group_base[o->step_group] == assigns[k])
            g = o->step_group;
        if (g < 0)
            die("staged_step: an update of no state");
        assigns[k] = g;
    }
    for (int k = 0; k < nassign; k += 2)
        set_group(assigns[k], assigns[k + 1], loc);
    L.no_grad = false;
}

/* ---- optimizer.param_groups[i]: the hyper-parameters as PyTorch's dict has them ---- */

/* optimizer.param_groups: one dict-like value per group */
Value *param_groups_list(Value *optv) {
    Optim *o = optv->optim;
    Value *l = lw_mk(V_LIST);
    for (int g = 0; g < o->ngroups; g++) {
        Value *v = lw_mk(V_PGROUP);
        v->optim = o;
        v->i = g;
        list_append(l, v);
    }
    return l;
}

static const char *group_key(Value *key, SrcLoc loc) {
    if (key->kind != V_STR)
        error_at(loc, "a parameter group's key is a string ('lr', 'momentum', ...), not %s", kind_name(key));
    return key->s;
}

Value *param_group_get(Optim *o, int g, Value *key, SrcLoc loc) {
    const char *k = group_key(key, loc);
    OptGroup *G = &o->groups[g];
    if (!strcmp(k, "lr") && o->staged) {
        /* known when the program runs (a schedule may have changed it); a number of its own, as
           Python's float is: setting the rate later does not change it */
        Value *v = lw_result(L.group_base[G->lr_group], NULL, NULL);
        v->tflags = TV_PYSCALAR;
        return v;
    }
    if (!strcmp(k, "params")) { /* each as its group holds it now (a step may have changed it) */
        Value *l = lw_mk(V_LIST);
        for (int i = G->first; i < G->first + G->n; i++) {
            Value *p = lw_mk(V_TENSOR);
            *p = *o->params[i]; /* a leaf: no view steps */
            p->node = L.group_base[p->group];
            list_append(l, p);
        }
        return l;
    }
    Value *v = dict_at(G->d, k);
    if (!v) {
        const char *keys = "'params'";
        for (int i = 0; i < G->d->n; i++)
            keys = ir_fmt("%s, '%s'", keys, G->d->self->items[i]->s);
        error_at(loc, "KeyError: '%s' (the parameter group's keys are %s)", k, keys);
    }
    return copy_scalar(v);
}

/* param_groups[g] as PyTorch prints it: its keys in the dict's order, 'params' the tensors */
Value *param_group_dict(Optim *o, int g, SrcLoc loc) {
    OptGroup *G = &o->groups[g];
    Value *d = new_dict();
    for (int k = 0; k <= G->d->n; k++) {
        if (k == G->params_at)
            put(d, mk_str("params"), param_group_get(o, g, mk_str("params"), loc));
        if (k < G->d->n)
            put(d, G->d->self->items[k], param_group_get(o, g, G->d->self->items[k], loc));
    }
    return d;
}

/* Only the learning rate changes after construction (a schedule); a run-time value stages the
 * optimizer, so the update reads the rate from the arena. */
void param_group_set(Optim *o, int g, Value *key, Value *v, SrcLoc loc) {
    const char *k = group_key(key, loc);
    OptGroup *G = &o->groups[g];
    if (strcmp(k, "lr"))
        error_at(loc, "only the learning rate ('lr') of a parameter group can be set, for now");
    if (!o->staged && (v->kind == V_FLOAT || v->kind == V_INT)) {
        G->lr = num(v);
        G->d->items[key_index(G->d, "lr")] = copy_scalar(v);
        return;
    }
    if (!(v->kind == V_FLOAT || v->kind == V_INT || (v->kind == V_TENSOR && shape_numel(TN(v)->shape) == 1)))
        error_at(loc, "a learning rate is a number, not %s", kind_name(v));
    optimizer_stage(o, loc);
    int x = v->kind == V_TENSOR ? lw_cast(lw_reshape(v->node, shape_scalar(), loc), DT_F64, loc)
                                : const_scalar(v, DT_F64, loc);
    set_group(G->lr_group, x, loc);
}

/* A scheduler made on the optimizer: each group's 'initial_lr', as PyTorch's setdefault keeps it
 * (the rate now, unless an earlier scheduler set it), which is the scheduler's base rate. */
Value *param_group_initial_lr(Optim *o, int g, SrcLoc loc) {
    OptGroup *G = &o->groups[g];
    Value *v = dict_at(G->d, "initial_lr");
    if (!v) {
        v = param_group_get(o, g, mk_str("lr"), loc);
        put(G->d, mk_str("initial_lr"), v);
    }
    return v;
}

/* ---- state_dict() and load_state_dict() ---- */

/* The names of the state kinds (optim_has_state's k) as o's state_dict has them, in its order. */
static void state_keys(const Optim *o, const char *key[4], int order[4]) {
    static const char *const adam_keys[4] = {"momentum_buffer", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"};
    for (int k = 0; k < 4; k++)
        key[k] = adam_keys[k], order[k] = (k + 1) % 4; /* exp_avg, exp_avg_sq, max_exp_avg_sq, momentum_buffer */
    if (o->rmsprop)
        key[1] = "grad_avg", key[2] = "square_avg", order[0] = 2, order[1] = 0, order[2] = 1, order[3] = 3;
    if (o->adagrad)
        key[2] = "sum";
}

/*
 * optimizer.state_dict(), as PyTorch 1.13 builds it: {'state': {index: {...}}, 'param_groups':
 * [{hyper-parameters..., 'params': [0, 1, ...]}, ...]}, the parameters numbered across the groups
 * in order. The state holds what the steps so far made for each parameter a step updated (SGD's
 * momentum_buffer, None without momentum; Adam's step as a float tensor, exp_avg, exp_avg_sq);
 * the tensors are their values at this point of the program (PyTorch hands out the live tensors,
 * which a later step changes in place: save or print the dict where it is made).
 */
Value *optim_state_dict(Optim *o, SrcLoc loc) {
    Value *state = new_dict();
    bool sgd = !o->adam && !o->rmsprop && !o->adagrad;
    for (int i = 0; i < o->nparams; i++) {
        if (!o->stepped[i])
            continue;
        Value *st = new_dict();
        if (sgd)
            put(st, mk_str("momentum_buffer"),
                o->buf[i] >= 0 ? lw_result(L.group_base[o->buf[i]], NULL, NULL) : lw_mk(V_NONE));
        if (!sgd && o->exp_avg_sq[i] >= 0) { /* in PyTorch's order of the keys */
            /* a float tensor, but RMSprop's is a Python int in 1.13 */
            DType sdt = o->rmsprop ? DT_I64 : DT_F32;
            int step = o->staged ? lw_cast(L.group_base[o->step_group], sdt, loc)
                                 : const_scalar(mk_int(o->steps[i]), sdt, loc);
            Value *sv = lw_result(step, NULL, NULL);
            if (o->rmsprop)
                sv->tflags |= TV_PYSCALAR;
            put(st, mk_str("step"), sv);
            const char *key[4];
            int order[4];
            state_keys(o, key, order);
            int *grp[4] = {o->buf, o->exp_avg, o->exp_avg_sq, o->max_sq};
            for (int k = 0; k < 4; k++)
                if (optim_has_state(o, i, order[k]) && grp[order[k]][i] >= 0)
                    put(st, mk_str(key[order[k]]), lw_result(L.group_base[grp[order[k]][i]], NULL, NULL));
        }
        if (st->n)
            put(state, mk_int(i), st);
    }
    Value *groups = lw_mk(V_LIST);
    for (int g = 0; g < o->ngroups; g++) {
        OptGroup *G = &o->groups[g];
        Value *gd = new_dict();
        for (int k = 0; k < G->d->n; k++) {
            Value *key = G->d->self->items[k];
            put(gd, key, !strcmp(key->s, "lr") ? param_group_get(o, g, key, loc) : copy_scalar(G->d->items[k]));
        }
        Value *params = lw_mk(V_LIST);
        for (int i = 0; i < G->n; i++)
            list_append(params, mk_int(G->first + i));
        put(gd, mk_str("params"), params);
        list_append(groups, gd);
    }
    Value *d = new_dict();
    put(d, mk_str("state"), state);
    put(d, mk_str("param_groups"), groups);
    return d;
}

/* x (a number, or a one-element tensor) as a node of dtype dt, shape (): a value load_state_dict read */
int scalar_node(Value *x, DType dt, const char *what, SrcLoc loc) {
    if (is_scalar(x))
        return const_scalar(x, dt, loc);
    if (x->kind != V_TENSOR || shape_numel(TN(x)->shape) != 1)
        error_at(loc, "load_state_dict(): %s must be a number, not %s", what, kind_name(x));
    return lw_cast(lw_reshape(x->node, shape_scalar(), loc), dt, loc);
}

/*
 * optimizer.load_state_dict(sd), sd a state_dict() of this program or a checkpoint's part
 * (torch.load(PATH)['optimizer']) read when the statement runs: each group's rate and each
 * parameter's state (and the step count) come from sd, and the optimizer is staged so that its
 * update reads them. The other hyper-parameters stay this optimizer's (they are constants of its
 * update): make it as the saved one was made. A checkpoint holds state for every parameter that
 * requires grad (saved after a step() that updated them); a dict of this program, what it has.
 */
void optim_load_state_dict(Optim *o, Value *sd, SrcLoc loc) {
    bool file = sd->kind == V_STATEFILE;
    if (!file && sd->kind != V_DICT)
        error_at(loc, "load_state_dict() takes torch.load(PATH) or a state_dict(), not %s", kind_name(sd));
    if (!file) { /* PyTorch's checks of the groups' sizes */
        Value *pg = state_item(sd, "param_groups", DT_F64, shape_scalar(), loc);
        if (!pg || (pg->kind != V_LIST && pg->kind != V_TUPLE))
            error_at(loc, "load_state_dict(): the dict is not an optimizer's state_dict() (it has no 'param_groups')");
        if (pg->n != o->ngroups)
            error_at(loc, "ValueError: loaded state dict has a different number of parameter groups");
        for (int g = 0; g < o->ngroups; g++) {
            Value *ps = state_item(sd, ir_fmt("param_groups.%d.params", g), DT_I64, shape_scalar(), loc);
            if (!ps || (ps->kind != V_LIST && ps->kind != V_TUPLE) || ps->n != o->groups[g].n)
                error_at(loc, "ValueError: loaded state dict contains a parameter group that doesn't match the size of "
                              "optimizer's group");
        }
    }
    bool was = L.no_grad;
    L.no_grad = true; /* loading is not an operation autograd records */
    optimizer_stage(o, loc);
    for (int g = 0; g < o->ngroups; g++) {
        Value *given = dict_at(o->groups[g].d, "lr");
        DType dt = given->kind == V_INT ? DT_I64 : DT_F64; /* as torch.save wrote this program's */
        Value *lr = state_item(sd, ir_fmt("param_groups.%d.lr", g), dt, shape_scalar(), loc);
        if (!lr)
            error_at(loc, "load_state_dict(): the state dict's group %d has no 'lr'", g);
        param_group_set(o, g, mk_str("lr"), lr, loc);
    }
    const char *key[4];
    int order[4], step = -1;
    state_keys(o, key, order);
    bool sgd = !o->adam && !o->rmsprop && !o->adagrad, bufs = false;
    for (int i = 0; i < o->nparams; i++) {
        Node *p = N(L.group_base[o->params[i]->group]);
        if (file ? !L.group_rg[o->params[i]->group] : !state_item(sd, ir_fmt("state.%d", i), p->dtype, p->shape, loc))
            continue; /* no state saved */
        o->stepped[i] = true;
        int *grp[4] = {o->buf, o->exp_avg, o->exp_avg_sq, o->max_sq};
        for (int k = 0; k < 4; k++) {
            if (!optim_has_state(o, i, k))
                continue;
            const char *name = ir_fmt("state.%d.%s", i, key[k]);
            Value *v = state_item(sd, name, p->dtype, p->shape, loc);
            if (!v || v->kind == V_NONE)
                continue;
            if (v->kind != V_TENSOR || !shape_eq(TN(v)->shape, p->shape))
                error_at(loc, "load_state_dict(): %s is %s, but the parameter is %s", name, kind_name(v),
                         type_str(p->dtype, p->shape));
            /* a copy: the saving optimizer's state lives on, and its steps change its storage */
            int x = v->node;
            if (!file && TN(v)->dtype == p->dtype) {
                x = lw_add1(OP_CAST, x, NULL, 0, loc);
                N(x)->dtype = p->dtype;
            }
            set_group(grp[k][i], lw_cast(x, p->dtype, loc), loc);
            bufs = true;
        }
        if (!sgd && step < 0) { /* one count for all: the first parameter's */
            Value *sv = state_item(sd, ir_fmt("state.%d.step", i), o->rmsprop ? DT_I64 : DT_F32, shape_scalar(), loc);
            if (sv)
                step = scalar_node(sv, DT_I64, "a state's step", loc);
        }
    }
    if (step >= 0)
        set_group(o->step_group, step, loc);
    else if (sgd && bufs) /* a momentum buffer exists: the next step is not a first one */
        set_group(o->step_group, const_scalar(mk_int(1), DT_I64, loc), loc);
    L.no_grad = was;
}
/* ---- losses ---- */

Value *mse_loss(Value *x, Value *t, const char *reduction, SrcLoc loc) {
    tensor_arg(x, loc, "the input");
    tensor_arg(t, loc, "the target");
    Value *d = lw_binop("-", x, t, loc);
    Value *sq = tensor_binop(OP_MUL, d, d, loc);
    Value *r = sq;
    if (!strcmp(reduction, "mean"))
        r = lw_reduce(OP_MEAN, sq, NULL, false, loc);
    else if (!strcmp(reduction, "sum"))
        r = lw_reduce(OP_SUM, sq, NULL, false, loc);
    else if (strcmp(reduction, "none"))
        error_at(loc, "reduction must be 'mean', 'sum' or 'none', got '%s'", reduction);
    lw_info(r->node)->fn = "MseLossBackward0";
    return r;
}

Value *cross_entropy(Value *x, Value *t, const char *reduction, SrcLoc loc) {
    tensor_arg(x, loc, "the input");
    tensor_arg(t, loc, "the target");
    if (TN(t)->dtype != DT_I64)
        error_at(loc, "cross_entropy: the target must be class indices (i64), got %s", type_str(TN(t)->dtype, TN(t)->shape));
    int in[2] = {x->node, t->node};
    Attr a = attr_str("reduction", reduction);
    Value *r = lw_result(lw_add(OP_CROSS_ENTROPY, in, 2, DT_F32, shape_scalar(), &a, 1, loc), x, NULL);
    lw_info(r->node)->fn = "NllLossBackward0";
    return r;
}

/* optimizer.add_param_group({"params": ..., "lr": ...}) */
Value *bi_add_param_group(Args *a) {
    Value *o = lw_req(a, 0, "self"), *g = lw_req(a, 1, "param_group");
    DONE(a, 2, "self", "param_group");
    if (o->kind != V_OPTIM)
        error_at(a->loc, "add_param_group() belongs to an optimizer, not %s", kind_name(o));
    add_param_group(o->optim, g, a->loc);
    return lw_mk(V_NONE);
}
