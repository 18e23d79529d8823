/*
 * optim.c: optimizers (SGD, Adam, AdamW, RMSprop, Adagrad) and the fused losses (mse_loss, cross_entropy).
 *
 * An optimizer is a compile-time value holding its parameters and settings. Its update is
 * built of ordinary nodes flagged NF_UPDATE, in two forms that compute what PyTorch 1.13's
 * single-tensor SGD and Adam compute: optimizer_step in a program, whose state is storage
 * groups and whose step count is known at compile time, and runtime_update in a train
 * block's step, whose state and step count are persistent tensors read when the step runs.
 */
#include "lower.h"

#include <math.h>
#include <string.h>

/* ---- optimizers ---- */

static double opt_num(Args *a, const char *key, double dflt) {
    Value *v = lw_arg(a, -1, key, NULL);
    if (!v)
        return dflt;
    double d = float_arg(v, a->loc, key);
    if (!(d >= 0) || !isfinite(d))
        error_at(a->loc, "%s must be a non-negative number", key);
    return d;
}

/* PyTorch's check of a learning rate given as a number: ValueError: Invalid learning rate. */
static void check_lr(double lr, SrcLoc loc) {
    if (lr < 0) /* as PyTorch checks it: a NaN passes */
        error_at(loc, "ValueError: Invalid learning rate: %s", py_float_repr(lr));
}

Value *make_optimizer(const char *kind, Args *a) {
    SrcLoc loc = a->loc;
    Optim *o = ir_alloc(sizeof(Optim));
    Value *ps = lw_req(a, 0, "params");
    if (ps->kind == V_MODULE) {
        Value *l = lw_mk(V_LIST);
        collect_params(ps->mod, &l->items, &l->n);
        ps = l;
    }
    if (ps->kind != V_LIST && ps->kind != V_TUPLE)
        error_at(loc, "%s() needs the parameters to optimize, e.g. %s(net.parameters(), lr=0.01)", kind, kind);
    o->params = ps->items;
    o->nparams = ps->n;
    for (int i = 0; i < o->nparams; i++) {
        tensor_arg(o->params[i], loc, "each parameter");
        Value *pv = o->params[i];
        if (pv->nchain || (!L.group_rg[pv->group] && lw_info(pv->node)->rg))
            error_at(loc, "%s(): parameter %d is not a leaf tensor (it is computed from others)", kind, i);
    }
    o->adam = !strcmp(kind, "Adam") || !strcmp(kind, "AdamW");
    o->adamw = !strcmp(kind, "AdamW");
    o->rmsprop = !strcmp(kind, "RMSprop");
    o->adagrad = !strcmp(kind, "Adagrad");
    Value *lr; /* a number, or a value known at run time (an option): then the update reads it */
    if (o->rmsprop || o->adagrad) {
        lr = lw_arg(a, 1, "lr", mk_float(0.01));
        o->lr = lr->kind == V_TENSOR ? 0 : float_arg(lr, loc, "lr");
        check_lr(o->lr, loc);
        o->weight_decay = opt_num(a, "weight_decay", 0);
        if (o->rmsprop) {
            o->alpha = opt_num(a, "alpha", 0.99);
            o->eps = opt_num(a, "eps", 1e-8);
            o->momentum = opt_num(a, "momentum", 0);
            o->centered = bool_arg(lw_arg(a, -1, "centered", mk_bool(false)), loc, "centered");
            DONE(a, 2, "params", "lr", "alpha", "eps", "weight_decay", "momentum", "centered");
        } else {
            o->lr_decay = opt_num(a, "lr_decay", 0);
            o->init_acc = opt_num(a, "initial_accumulator_value", 0);
            o->eps = opt_num(a, "eps", 1e-10);
            DONE(a, 2, "params", "lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps");
        }
    } else if (!o->adam) {
        lr = lw_arg(a, 1, "lr", NULL);
        if (!lr)
            error_at(loc, "SGD() needs a learning rate: SGD(params, lr=0.01)");
        o->lr = lr->kind == V_TENSOR ? 0 : float_arg(lr, loc, "lr");
        check_lr(o->lr, loc);
        o->momentum = opt_num(a, "momentum", 0);
        o->dampening = opt_num(a, "dampening", 0);
        o->weight_decay = opt_num(a, "weight_decay", 0);
        Value *nv = lw_arg(a, -1, "nesterov", mk_bool(false));
        o->nesterov = bool_arg(nv, loc, "nesterov");
        DONE(a, 2, "params", "lr", "momentum", "dampening", "weight_decay", "nesterov");
        if (o->nesterov && (o->momentum <= 0 || o->dampening != 0))
            error_at(loc, "nesterov momentum requires a momentum and zero dampening");
    } else {
        lr = lw_arg(a, 1, "lr", mk_float(1e-3));
        o->lr = lr->kind == V_TENSOR ? 0 : float_arg(lr, loc, "lr");
        check_lr(o->lr, loc);
        Value *betas = lw_arg(a, -1, "betas", NULL);
        o->beta1 = 0.9;
        o->beta2 = 0.999;
        if (betas) {
            if ((betas->kind != V_TUPLE && betas->kind != V_LIST) || betas->n != 2)
                error_at(loc, "betas must be a pair, e.g. (0.9, 0.999)");
            o->beta1 = float_arg(betas->items[0], loc, "betas");
            o->beta2 = float_arg(betas->items[1], loc, "betas");
        }
        o->eps = opt_num(a, "eps", 1e-8);
        o->weight_decay = opt_num(a, "weight_decay", o->adamw ? 1e-2 : 0);
        o->amsgrad = bool_arg(lw_arg(a, -1, "amsgrad", mk_bool(false)), loc, "amsgrad");
        DONE(a, 2, "params", "lr", "betas", "eps", "weight_decay", "amsgrad");
    }
    o->buf = ir_alloc(sizeof(int) * (size_t)(o->nparams + 1));
    o->exp_avg = ir_alloc(sizeof(int) * (size_t)(o->nparams + 1));
    o->exp_avg_sq = ir_alloc(sizeof(int) * (size_t)(o->nparams + 1));
    o->max_sq = ir_alloc(sizeof(int) * (size_t)(o->nparams + 1));
    o->steps = ir_alloc(sizeof(int) * (size_t)(o->nparams + 1));
    o->stepped = ir_alloc((size_t)o->nparams + 1);
    for (int i = 0; i < o->nparams; i++)
        o->buf[i] = o->exp_avg[i] = o->exp_avg_sq[i] = o->max_sq[i] = -1;
    o->step_group = o->lr_group = -1;
    if (lr->kind == V_TENSOR)
        param_group_set(o, mk_str("lr"), lr, loc);
    Value *v = lw_mk(V_OPTIM);
    v->optim = o;
    v->s = kind;
    return v;
}

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
    if (!o->staged && (o->rmsprop || o->adagrad || o->amsgrad))
        optimizer_stage(o, loc); /* these update through runtime_update only: its state in groups */
    if (o->staged) {
        staged_step(o, loc);
        return;
    }
    L.no_grad = true;
    int first_node = L.g->nnode;
    for (int i = 0; i < o->nparams; i++) {
        Value *p = o->params[i];
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
            if (o->weight_decay != 0)
                d = upd2(OP_ADD, d, upd2(OP_MUL, pn, uconst(o->weight_decay, dt, loc), loc), loc);
            if (o->momentum != 0) {
                int buf;
                if (o->buf[i] < 0) { /* the first step: buf = d_p */
                    buf = d;
                    o->buf[i] = new_group(buf);
                } else {
                    buf = upd2(OP_ADD, upd2(OP_MUL, L.group_base[o->buf[i]], uconst(o->momentum, dt, loc), loc),
                               upd2(OP_MUL, d, uconst(1 - o->dampening, dt, loc), loc), loc);
                    set_group(o->buf[i], buf, loc);
                }
                d = o->nesterov ? upd2(OP_ADD, d, upd2(OP_MUL, buf, uconst(o->momentum, dt, loc), loc), loc) : buf;
            }
            set_group(p->group, upd2(OP_ADD, pn, upd2(OP_MUL, d, uconst(-o->lr, dt, loc), loc), loc), loc);
            continue;
        }
        if (o->exp_avg[i] < 0) {
            o->exp_avg[i] = new_group(lw_filled(sh, dt, mk_int(0), loc)->node);
            o->exp_avg_sq[i] = new_group(lw_filled(sh, dt, mk_int(0), loc)->node);
        }
        if (o->adamw && o->weight_decay != 0) /* decoupled: param *= 1 - lr * wd */
            pn = upd2(OP_MUL, pn, uconst(1 - o->lr * o->weight_decay, dt, loc), loc);
        if (!o->adamw && o->weight_decay != 0)
            g = upd2(OP_ADD, g, upd2(OP_MUL, pn, uconst(o->weight_decay, dt, loc), loc), loc);
        int m = upd2(OP_ADD, upd2(OP_MUL, L.group_base[o->exp_avg[i]], uconst(o->beta1, dt, loc), loc),
                     upd2(OP_MUL, g, uconst(1 - o->beta1, dt, loc), loc), loc);
        int v = upd2(OP_ADD, upd2(OP_MUL, L.group_base[o->exp_avg_sq[i]], uconst(o->beta2, dt, loc), loc),
                     upd2(OP_MUL, upd2(OP_MUL, g, g, loc), uconst(1 - o->beta2, dt, loc), loc), loc);
        set_group(o->exp_avg[i], m, loc);
        set_group(o->exp_avg_sq[i], v, loc);
        double bc1 = 1 - pow(o->beta1, o->steps[i]), bc2 = 1 - pow(o->beta2, o->steps[i]);
        double step_size = o->lr / bc1, bc2_sqrt = sqrt(bc2);
        int sq = lw_add1(OP_SQRT, v, NULL, 0, loc);
        L.g->nodes[sq].flags |= NF_UPDATE;
        int denom = upd2(OP_ADD, upd2(OP_DIV, sq, uconst(bc2_sqrt, dt, loc), loc), uconst(o->eps, dt, loc), loc);
        int delta = upd2(OP_MUL, upd2(OP_DIV, m, denom, loc), uconst(-step_size, dt, loc), loc);
        set_group(p->group, upd2(OP_ADD, pn, delta, loc), loc);
    }
    for (int i = first_node; i < L.g->nnode; i++) /* zero state and constants belong to the update too */
        L.g->nodes[i].flags |= NF_UPDATE;
    L.no_grad = false;
}

/* Does o keep state k for each parameter (0 momentum_buffer, 1 exp_avg / grad_avg, 2 exp_avg_sq /
 * square_avg / sum, 3 max_exp_avg_sq)? */
bool optim_has_state(const Optim *o, int k) {
    switch (k) {
    case 0: return (!o->adam && !o->adagrad) && o->momentum != 0;
    case 1: return o->adam || (o->rmsprop && o->centered);
    case 2: return o->adam || o->rmsprop || o->adagrad;
    default: return o->adam && o->amsgrad;
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
 * RMSprop's and Adagrad's update of parameter p with gradient g, as PyTorch 1.13's single-tensor
 * versions compute it (ATen's addcmul and addcdiv: self + value * a * b, self + value * a / b).
 */
static void other_update(Optim *o, int p, int g, const char *name, int i, int neg_lr32, int lr, int tf, SrcLoc loc,
                         int *assigns, int *nassign) {
    DType dt = L.g->nodes[p].dtype;
    Shape sh = L.g->nodes[p].shape;
    if (o->weight_decay != 0) /* grad.add(param, alpha=weight_decay) */
        g = upd2(OP_ADD, g, upd2(OP_MUL, p, uconst(o->weight_decay, dt, loc), loc), loc);
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
                       upd2(OP_MUL, upd2(OP_SUB, tf, uconst(1, DT_F64, loc), loc), uconst(o->lr_decay, DT_F64, loc), loc), loc);
        int nclr = upd_cast(lw_add1(OP_NEG, upd2(OP_DIV, lr, dec, loc), NULL, 0, loc), dt, loc);
        int sn = upd2(OP_ADD, sq, upd2(OP_MUL, upd2(OP_MUL, g, uconst(1, dt, loc), loc), g, loc), loc);
        int root = lw_add1(OP_SQRT, sn, NULL, 0, loc);
        int std = upd2(OP_ADD, root, uconst(o->eps, dt, loc), loc);
        assigns[(*nassign)++] = sq, assigns[(*nassign)++] = sn;
        assigns[(*nassign)++] = p, assigns[(*nassign)++] = upd2(OP_ADD, p, upd2(OP_DIV, upd2(OP_MUL, nclr, g, loc), std, loc), loc);
        return;
    }
    /* RMSprop: square_avg = alpha sa + (1 - alpha) g g; avg = sqrt(sa (- grad_avg^2)) + eps */
    int san = upd2(OP_ADD, upd2(OP_MUL, sq, uconst(o->alpha, dt, loc), loc),
                   upd2(OP_MUL, upd2(OP_MUL, g, uconst(1 - o->alpha, dt, loc), loc), g, loc), loc);
    assigns[(*nassign)++] = sq, assigns[(*nassign)++] = san;
    int inner = san;
    if (o->centered) {
        int ga = state_in(o, &o->exp_avg[i], ir_fmt("%s.grad_avg", name), dt, sh, loc);
        int gan = upd2(OP_ADD, upd2(OP_MUL, ga, uconst(o->alpha, dt, loc), loc),
                       upd2(OP_MUL, g, uconst(1 - o->alpha, dt, loc), loc), loc);
        assigns[(*nassign)++] = ga, assigns[(*nassign)++] = gan;
        inner = upd2(OP_ADD, san, upd2(OP_MUL, upd2(OP_MUL, gan, uconst(-1, dt, loc), loc), gan, loc), loc);
    }
    int avg = upd2(OP_ADD, lw_add1(OP_SQRT, inner, NULL, 0, loc), uconst(o->eps, dt, loc), loc);
    if (o->momentum > 0) { /* buf = momentum buf + g / avg; p -= lr buf */
        int buf = state_in(o, &o->buf[i], ir_fmt("%s.momentum_buffer", name), dt, sh, loc);
        int bn = upd2(OP_ADD, upd2(OP_MUL, buf, uconst(o->momentum, dt, loc), loc),
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
 * scalars, as PyTorch's Python floats are. Writes go through assign effects at the very end,
 * after every update has read the old values.
 */
void runtime_update(Optim *o, int *params, const char **names, int *grads, int n, SrcLoc loc, int *assigns,
                           int *nassign) {
    int first_node = L.g->nnode;
    int step = state_in(o, &o->step_group, "step", DT_I64, shape_scalar(), loc);
    /* the learning rate lives in the arena too, so a caller (the trainer's --lr) may change it; as a
       double, so lr-derived factors round exactly as Python's floats do */
    int lr;
    if (o->staged)
        lr = L.group_base[o->lr_group];
    else {
        Attr la[2] = {attr_str("init", "full"), attr_float("value", o->lr)};
        lr = lw_add(OP_PARAM, NULL, 0, DT_F64, shape_scalar(), la, 2, loc);
        L.g->nodes[lr].flags |= NF_PARAM;
        L.g->nodes[lr].name = "lr";
    }
    int neg_lr = lw_add1(OP_NEG, lr, NULL, 0, loc);
    int neg_lr32 = upd_cast(neg_lr, DT_F32, loc);
    int step1 = upd2(OP_ADD, step, const_scalar(mk_int(1), DT_I64, loc), loc);
    int tf = upd_cast(step1, DT_F64, loc); /* t = step + 1, as a double */
    int first = -1, step_size = -1, bc2_sqrt = -1;
    bool sgd = !o->adam && !o->rmsprop && !o->adagrad;
    if (sgd && o->momentum != 0)
        first = upd_cast(upd2(OP_EQ, step, const_scalar(mk_int(0), DT_I64, loc), loc), DT_F32, loc);
    if (o->adam) {
        int bc1 = upd2(OP_SUB, uconst(1, DT_F64, loc), upd2(OP_POW, uconst(o->beta1, DT_F64, loc), tf, loc), loc);
        int bc2 = upd2(OP_SUB, uconst(1, DT_F64, loc), upd2(OP_POW, uconst(o->beta2, DT_F64, loc), tf, loc), loc);
        step_size = upd_cast(upd2(OP_DIV, neg_lr, bc1, loc), DT_F32, loc);
        int sq = lw_add1(OP_SQRT, bc2, NULL, 0, loc);
        L.g->nodes[sq].flags |= NF_UPDATE;
        bc2_sqrt = upd_cast(sq, DT_F32, loc);
    }
    for (int i = 0; i < n; i++) {
        if (grads[i] < 0)
            continue;
        int p = params[i], g = grads[i];
        DType dt = L.g->nodes[p].dtype;
        Shape sh = L.g->nodes[p].shape;
        if (o->rmsprop || o->adagrad) {
            other_update(o, p, g, names[i], i, neg_lr32, lr, tf, loc, assigns, nassign);
            continue;
        }
        if (!o->adam) {
            int d = g;
            if (o->weight_decay != 0)
                d = upd2(OP_ADD, d, upd2(OP_MUL, p, uconst(o->weight_decay, dt, loc), loc), loc);
            if (o->momentum != 0) {
                int buf = state_in(o, &o->buf[i], ir_fmt("%s.momentum_buffer", names[i]), dt, sh, loc);
                int later = upd2(OP_ADD, upd2(OP_MUL, buf, uconst(o->momentum, dt, loc), loc),
                                 upd2(OP_MUL, d, uconst(1 - o->dampening, dt, loc), loc), loc);
                int nb = upd2(OP_ADD, upd2(OP_MUL, first, d, loc),
                              upd2(OP_MUL, upd2(OP_SUB, uconst(1, dt, loc), first, loc), later, loc), loc);
                assigns[(*nassign)++] = buf, assigns[(*nassign)++] = nb;
                d = o->nesterov ? upd2(OP_ADD, d, upd2(OP_MUL, nb, uconst(o->momentum, dt, loc), loc), loc) : nb;
            }
            assigns[(*nassign)++] = p;
            assigns[(*nassign)++] = upd2(OP_ADD, p, upd2(OP_MUL, d, neg_lr32, loc), loc);
            continue;
        }
        int m = state_in(o, &o->exp_avg[i], ir_fmt("%s.exp_avg", names[i]), dt, sh, loc);
        int v = state_in(o, &o->exp_avg_sq[i], ir_fmt("%s.exp_avg_sq", names[i]), dt, sh, loc);
        int pn = p;
        if (o->adamw && o->weight_decay != 0) {
            int keep = upd2(OP_SUB, uconst(1, DT_F64, loc), upd2(OP_MUL, lr, uconst(o->weight_decay, DT_F64, loc), loc), loc);
            pn = upd2(OP_MUL, pn, upd_cast(keep, dt, loc), loc);
        }
        if (!o->adamw && o->weight_decay != 0)
            g = upd2(OP_ADD, g, upd2(OP_MUL, p, uconst(o->weight_decay, dt, loc), loc), loc);
        int mn = upd2(OP_ADD, upd2(OP_MUL, m, uconst(o->beta1, dt, loc), loc),
                      upd2(OP_MUL, g, uconst(1 - o->beta1, dt, loc), loc), loc);
        int vn = upd2(OP_ADD, upd2(OP_MUL, v, uconst(o->beta2, dt, loc), loc),
                      upd2(OP_MUL, upd2(OP_MUL, g, g, loc), uconst(1 - o->beta2, dt, loc), loc), loc);
        int sq = lw_add1(OP_SQRT, vn, NULL, 0, loc);
        L.g->nodes[sq].flags |= NF_UPDATE;
        if (o->amsgrad) { /* the largest exp_avg_sq so far, and its root */
            int vm = state_in(o, &o->max_sq[i], ir_fmt("%s.max_exp_avg_sq", names[i]), dt, sh, loc);
            int vmn = upd2(OP_MAXIMUM, vm, vn, loc);
            assigns[(*nassign)++] = vm, assigns[(*nassign)++] = vmn;
            sq = lw_add1(OP_SQRT, vmn, NULL, 0, loc);
            L.g->nodes[sq].flags |= NF_UPDATE;
        }
        int denom = upd2(OP_ADD, upd2(OP_DIV, sq, bc2_sqrt, loc), uconst(o->eps, dt, loc), loc);
        int delta = upd2(OP_MUL, upd2(OP_DIV, mn, denom, loc), step_size, loc);
        assigns[(*nassign)++] = m, assigns[(*nassign)++] = mn;
        assigns[(*nassign)++] = v, assigns[(*nassign)++] = vn;
        assigns[(*nassign)++] = p, assigns[(*nassign)++] = upd2(OP_ADD, pn, delta, loc);
    }
    assigns[(*nassign)++] = step, assigns[(*nassign)++] = step1;
    for (int i = first_node; i < L.g->nnode; i++) /* constants and state too: one update section */
        L.g->nodes[i].flags |= NF_UPDATE;
}

/* ---- optimizers in a program's run-time loops ---- */

/* Before a run-time loop or if: the state becomes groups (what a straight-line step() kept at
 * compile time, the step count and the learning rate too), so that the step the body compiles
 * once is the step of every iteration: the train block's update, reading them. */
void optimizer_stage(Optim *o, SrcLoc loc) {
    if (o->staged)
        return;
    o->staged = true;
    int steps = 0;
    for (int i = 0; i < o->nparams; i++)
        steps = o->steps[i] > steps ? o->steps[i] : steps;
    o->step_group = new_group(const_scalar(mk_int(steps), DT_I64, loc));
    o->lr_group = new_group(const_scalar(mk_float(o->lr), DT_F64, loc));
    for (int i = 0; i < o->nparams; i++) {
        Node *p = N(L.group_base[o->params[i]->group]);
        int *st[4] = {&o->buf[i], &o->exp_avg[i], &o->exp_avg_sq[i], &o->max_sq[i]};
        for (int k = 0; k < 4; k++)
            if (optim_has_state(o, k) && *st[k] < 0)
                *st[k] = new_group(lw_filled(p->shape, p->dtype, k == 2 && o->adagrad ? mk_float(o->init_acc) : mk_int(0),
                                             loc)->node);
    }
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

/* ---- optimizer.param_groups[0]: the hyper-parameters as PyTorch's dict has them ---- */

static const char *group_key(Value *key, SrcLoc loc) {
    if (key->kind != V_STR)
        error_at(loc, "a parameter group's key is a string ('lr', 'momentum', ...), not %s", kind_name(key));
    return key->s;
}

Value *param_group_get(Optim *o, Value *key, SrcLoc loc) {
    const char *k = group_key(key, loc);
    if (!strcmp(k, "lr")) {
        if (!o->staged)
            return mk_float(o->lr);
        /* known when the program runs (a schedule may have changed it); a number of its own, as
           Python's float is: setting the rate later does not change it */
        Value *v = lw_result(L.group_base[o->lr_group], NULL, NULL);
        v->tflags = TV_PYSCALAR;
        return v;
    }
    if (!strcmp(k, "params")) {
        Value *l = lw_mk(V_LIST);
        l->items = o->params;
        l->n = o->nparams;
        return l;
    }
    if (!strcmp(k, "weight_decay")) return mk_float(o->weight_decay);
    bool sgd = !o->adam && !o->rmsprop && !o->adagrad;
    if (!strcmp(k, "eps") && !sgd) return mk_float(o->eps);
    if (!strcmp(k, "betas") && o->adam) return lw_tuple2(mk_float(o->beta1), mk_float(o->beta2));
    if (!strcmp(k, "amsgrad") && o->adam) return mk_bool(o->amsgrad);
    if (!strcmp(k, "momentum") && (sgd || o->rmsprop)) return mk_float(o->momentum);
    if (!strcmp(k, "dampening") && sgd) return mk_float(o->dampening);
    if (!strcmp(k, "nesterov") && sgd) return mk_bool(o->nesterov);
    if (!strcmp(k, "alpha") && o->rmsprop) return mk_float(o->alpha);
    if (!strcmp(k, "centered") && o->rmsprop) return mk_bool(o->centered);
    if (!strcmp(k, "lr_decay") && o->adagrad) return mk_float(o->lr_decay);
    if (!strcmp(k, "initial_accumulator_value") && o->adagrad) return mk_float(o->init_acc);
    error_at(loc, "the parameter group has no key '%s'", k);
}

/* d[key] = v, for the dicts state_dict() builds */
static void put(Value *d, Value *key, Value *v) {
    list_append(d->self, key);
    list_append(d, v);
}

static Value *new_dict(void) {
    Value *d = lw_mk(V_DICT);
    d->self = lw_mk(V_TUPLE);
    return d;
}

/* A hyper-parameter as PyTorch's group holds it: a default of 0 stays Python's int 0. */
static Value *hyper(double v) { return v == 0 ? mk_int(0) : mk_float(v); }

/*
 * optimizer.state_dict(), as PyTorch 1.13 builds it: {'state': {index: {...}}, 'param_groups':
 * [{hyper-parameters..., 'params': [0, 1, ...]}]}. The state holds what the steps so far made
 * for each parameter a step updated (SGD's momentum_buffer, None without momentum; Adam's step as
 * a float tensor, exp_avg, exp_avg_sq); the tensors are their values at this point of the
 * program (PyTorch hands out the live tensors, which a later step changes in place: save or
 * print the dict where it is made).
 */
Value *optim_state_dict(Optim *o, SrcLoc loc) {
    Value *state = new_dict();
    for (int i = 0; i < o->nparams; i++) {
        if (!o->stepped[i])
            continue;
        Value *st = new_dict();
        bool sgd = !o->adam && !o->rmsprop && !o->adagrad;
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
            const char *key[4] = {"momentum_buffer", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"};
            int *grp[4] = {o->buf, o->exp_avg, o->exp_avg_sq, o->max_sq};
            int order[4] = {1, 2, 3, 0};
            if (o->rmsprop)
                key[1] = "grad_avg", key[2] = "square_avg", order[0] = 2, order[1] = 0, order[2] = 1, order[3] = 3;
            if (o->adagrad)
                key[2] = "sum";
            for (int k = 0; k < 4; k++)
                if (optim_has_state(o, order[k]) && grp[order[k]][i] >= 0)
                    put(st, mk_str(key[order[k]]), lw_result(L.group_base[grp[order[k]][i]], NULL, NULL));
        }
        if (st->n)
            put(state, mk_int(i), st);
    }
    Value *g = new_dict();
    put(g, mk_str("lr"), param_group_get(o, mk_str("lr"), loc));
    if (o->rmsprop || o->adagrad) {
        if (o->rmsprop) {
            put(g, mk_str("momentum"), hyper(o->momentum));
            put(g, mk_str("alpha"), mk_float(o->alpha));
            put(g, mk_str("eps"), mk_float(o->eps));
            put(g, mk_str("centered"), mk_bool(o->centered));
            put(g, mk_str("weight_decay"), hyper(o->weight_decay));
        } else {
            put(g, mk_str("lr_decay"), hyper(o->lr_decay));
            put(g, mk_str("eps"), mk_float(o->eps));
            put(g, mk_str("weight_decay"), hyper(o->weight_decay));
            put(g, mk_str("initial_accumulator_value"), hyper(o->init_acc));
        }
        put(g, mk_str("foreach"), lw_mk(V_NONE));
        put(g, mk_str("maximize"), mk_bool(false));
        if (o->rmsprop)
            put(g, mk_str("differentiable"), mk_bool(false));
    } else if (o->adam) {
        put(g, mk_str("betas"), lw_tuple2(mk_float(o->beta1), mk_float(o->beta2)));
        put(g, mk_str("eps"), mk_float(o->eps));
        put(g, mk_str("weight_decay"), hyper(o->weight_decay));
        put(g, mk_str("amsgrad"), mk_bool(o->amsgrad));
        if (o->adamw) { /* 1.13's AdamW has its own keys, in its own order */
            put(g, mk_str("foreach"), lw_mk(V_NONE));
            put(g, mk_str("maximize"), mk_bool(false));
            put(g, mk_str("capturable"), mk_bool(false));
        }
    } else {
        put(g, mk_str("momentum"), hyper(o->momentum));
        put(g, mk_str("dampening"), hyper(o->dampening));
        put(g, mk_str("weight_decay"), hyper(o->weight_decay));
        put(g, mk_str("nesterov"), mk_bool(o->nesterov));
    }
    if (!o->adamw && !o->rmsprop && !o->adagrad) {
        put(g, mk_str("maximize"), mk_bool(false));
        put(g, mk_str("foreach"), lw_mk(V_NONE));
        if (o->adam)
            put(g, mk_str("capturable"), mk_bool(false));
        put(g, mk_str("differentiable"), mk_bool(false));
        if (o->adam)
            put(g, mk_str("fused"), mk_bool(false));
    }
    Value *params = lw_mk(V_LIST);
    for (int i = 0; i < o->nparams; i++)
        list_append(params, mk_int(i));
    put(g, mk_str("params"), params);
    Value *groups = lw_mk(V_LIST);
    list_append(groups, g);
    Value *d = new_dict();
    put(d, mk_str("state"), state);
    put(d, mk_str("param_groups"), groups);
    return d;
}

/* Only the learning rate changes after construction (a schedule); a run-time value stages the
 * optimizer, so the update reads the rate from the arena. */
void param_group_set(Optim *o, Value *key, Value *v, SrcLoc loc) {
    const char *k = group_key(key, loc);
    if (strcmp(k, "lr"))
        error_at(loc, "only the learning rate ('lr') of a parameter group can be set, for now");
    if (!o->staged && (v->kind == V_FLOAT || v->kind == V_INT)) {
        o->lr = num(v);
        return;
    }
    if (!(v->kind == V_FLOAT || v->kind == V_INT || (v->kind == V_TENSOR && shape_numel(TN(v)->shape) == 1)))
        error_at(loc, "a learning rate is a number, not %s", kind_name(v));
    optimizer_stage(o, loc);
    int x = v->kind == V_TENSOR ? lw_cast(lw_reshape(v->node, shape_scalar(), loc), DT_F64, loc)
                                : const_scalar(v, DT_F64, loc);
    set_group(o->lr_group, x, loc);
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
