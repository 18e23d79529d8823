/*
 * schedulers.c: torch.optim.lr_scheduler's StepLR, MultiStepLR, ExponentialLR, CosineAnnealingLR
 * and LambdaLR.
 *
 * A scheduler holds its optimizer and its last_epoch, a storage group (an int known when the
 * program runs, so scheduler.step() works in a run-time loop); the optimizer's learning rate is
 * its staged group (optim.c). step() computes the new rate from the current one as PyTorch 1.13's
 * chainable get_lr() does, in double, with PyTorch's order of operations, so the rates are
 * PyTorch's to the last bit: StepLR multiplies by gamma every step_size epochs, CosineAnnealingLR
 * uses the recursive form. Where PyTorch branches, both sides are computed and one is kept by a
 * 0/1 blend (a * m + b * (1 - m), exact: one term is 0).
 */
#include "lower.h"

#include <math.h>
#include <string.h>

#define PI 3.141592653589793 /* Python's math.pi */

struct Sched {
    const char *cls;
    Value *optv;      /* the optimizer (V_OPTIM) */
    int ngroups;      /* its parameter groups when the scheduler was made */
    double *base_lr;  /* base_lrs: each group's 'initial_lr' when the scheduler was made, */
    int *grp;         /* grp[0]: last_epoch's group (i64); grp[1 + g]: group g's base rate where it is
                         known only at run time (f64: an option, a loaded checkpoint), else -1 */
    int64_t step_size, tmax;
    double gamma, eta_min;
    int64_t ms[64];   /* MultiStepLR: the distinct milestones and how often each is listed */
    int ms_count[64], nms;
    Value **fn;       /* LambdaLR: lr_lambda per group, a def */
};

static int f64(double v, SrcLoc loc) { return const_scalar(mk_float(v), DT_F64, loc); }
static int i64(int64_t v, SrcLoc loc) { return const_scalar(mk_int(v), DT_I64, loc); }
static int op(Op o, int a, int b, SrcLoc loc) { return lw_add2(o, a, b, loc); }
static int as_f64(int x, SrcLoc loc) { return lw_cast(x, DT_F64, loc); }

/* a * m + b * (1 - m), m a 0/1 mask (f64) */
static int blend(int m, int a, int b, SrcLoc loc) {
    return op(OP_ADD, op(OP_MUL, a, m, loc), op(OP_MUL, b, op(OP_SUB, f64(1, loc), m, loc), loc), loc);
}

static Value *pyscalar(int node) {
    Value *v = lw_result(node, NULL, NULL);
    v->tflags |= TV_PYSCALAR;
    return v;
}

static Value *epoch_value(Sched *s) { return pyscalar(L.group_base[s->grp[0]]); }

/* group g's base rate: a Python float, or one known at run time */
static Value *base_value(Sched *s, int g) {
    return s->grp[1 + g] >= 0 ? pyscalar(L.group_base[s->grp[1 + g]]) : mk_float(s->base_lr[g]);
}

/* The rate LambdaLR sets for group g at epoch e: base_lr * lr_lambda(e). */
static Value *lambda_rate(Sched *s, int g, Value *e, SrcLoc loc) {
    Args a = {.loc = loc, .fname = s->fn[g]->decl->name, .pos = &e, .npos = 1};
    Value *f = def_call(s->fn[g]->decl, &a);
    if (!is_scalar(f) && !(f->kind == V_TENSOR && shape_numel(TN(f)->shape) == 1))
        error_at(loc, "LambdaLR: lr_lambda must return a number, got %s", kind_name(f));
    Value *base = base_value(s, g); /* after the call, which may have begun a new segment */
    return lw_binop("*", base, f, loc);
}

/* scheduler.get_last_lr() */
Value *bi_get_last_lr(Args *a) {
    Value *s = lw_req(a, 0, "self");
    DONE(a, 1, "self");
    if (s->kind != V_SCHED)
        error_at(a->loc, "get_last_lr() belongs to a learning-rate scheduler, not %s", kind_name(s));
    return scheduler_last_lr(s->sched, a->loc);
}

Value *make_scheduler(const char *cls, Args *a) {
    SrcLoc loc = a->loc;
    Sched *s = ir_alloc(sizeof(Sched));
    s->cls = cls;
    s->optv = lw_req(a, 0, "optimizer");
    if (s->optv->kind != V_OPTIM)
        error_at(loc, "%s() takes an optimizer first, got %s", cls, kind_name(s->optv));
    Optim *o = s->optv->optim;
    s->ngroups = o->ngroups;
    int p = 1;
    s->gamma = 0.1;
    Value *fn = NULL;
    if (!strcmp(cls, "StepLR")) {
        s->step_size = int_arg(lw_req(a, p++, "step_size"), loc, "step_size");
        s->gamma = float_arg(lw_arg(a, p++, "gamma", mk_float(0.1)), loc, "gamma");
        if (s->step_size < 1)
            error_at(loc, "StepLR: step_size must be at least 1");
    } else if (!strcmp(cls, "MultiStepLR")) {
        Value *ms = lw_req(a, p++, "milestones");
        if (ms->kind != V_LIST && ms->kind != V_TUPLE)
            error_at(loc, "MultiStepLR: milestones must be a list of epochs");
        for (int i = 0; i < ms->n; i++) {
            int64_t m = int_arg(ms->items[i], loc, "a milestone");
            int k = 0;
            while (k < s->nms && s->ms[k] != m)
                k++;
            if (k == s->nms) {
                if (s->nms == 64)
                    error_at(loc, "MultiStepLR: at most 64 distinct milestones");
                s->ms[s->nms++] = m;
            }
            s->ms_count[k]++;
        }
        s->gamma = float_arg(lw_arg(a, p++, "gamma", mk_float(0.1)), loc, "gamma");
    } else if (!strcmp(cls, "ExponentialLR")) {
        s->gamma = float_arg(lw_req(a, p++, "gamma"), loc, "gamma");
    } else if (!strcmp(cls, "CosineAnnealingLR")) {
        s->tmax = int_arg(lw_req(a, p++, "T_max"), loc, "T_max");
        s->eta_min = float_arg(lw_arg(a, p++, "eta_min", mk_int(0)), loc, "eta_min");
        if (s->tmax < 1)
            error_at(loc, "CosineAnnealingLR: T_max must be at least 1");
    } else { /* LambdaLR: one def, or a list of one per group */
        fn = lw_req(a, p++, "lr_lambda");
        s->fn = ir_alloc(sizeof(Value *) * (size_t)(s->ngroups + 1));
        bool list = fn->kind == V_LIST || fn->kind == V_TUPLE;
        if (list && fn->n != s->ngroups)
            error_at(loc, "ValueError: Expected %d lr_lambdas, but got %d", s->ngroups, fn->n);
        for (int g = 0; g < s->ngroups; g++) {
            s->fn[g] = list ? fn->items[g] : fn;
            if (s->fn[g]->kind != V_DEF)
                error_at(loc, "LambdaLR: lr_lambda must be a def of the file (def f(epoch) { ... }); a lambda is not .tg");
        }
    }
    int64_t last = int_arg(lw_arg(a, p++, "last_epoch", mk_int(-1)), loc, "last_epoch");
    bool_arg(lw_arg(a, p++, "verbose", mk_bool(false)), loc, "verbose");
    static const char *const names[] = {"optimizer", "step_size", "milestones", "gamma", "T_max", "eta_min",
                                        "lr_lambda", "last_epoch", "verbose"};
    args_done(a, p, names, 9);
    if (last != -1)
        error_at(loc, "%s: last_epoch=%lld is not supported (a scheduler starts at -1; restore one with "
                      "load_state_dict)", cls, (long long)last);
    /* base_lrs: each group's initial_lr, which the first scheduler sets to the rate now */
    s->base_lr = ir_alloc(sizeof(double) * (size_t)(s->ngroups + 1));
    s->grp = ir_alloc(sizeof(int) * (size_t)(s->ngroups + 1));
    for (int g = 0; g < s->ngroups; g++) {
        Value *init = param_group_initial_lr(o, g, loc);
        s->grp[1 + g] = init->kind == V_TENSOR ? init->group : -1;
        s->base_lr[g] = init->kind == V_TENSOR ? 0 : float_arg(init, loc, "initial_lr");
    }
    o->nsched++;
    /* the constructor's own step(): last_epoch 0, and LambdaLR's first rate */
    s->grp[0] = new_group(i64(0, loc));
    for (int g = 0; s->fn && g < s->ngroups; g++)
        param_group_set(o, g, mk_str("lr"), lambda_rate(s, g, mk_int(0), loc), loc);
    Value *v = lw_mk(V_SCHED);
    v->sched = s;
    v->s = cls;
    return v;
}

/* scheduler.step(): last_epoch + 1, and each group's rate for it. */
void scheduler_step(Sched *s, SrcLoc loc) {
    Optim *o = s->optv->optim;
    optimizer_stage(o, loc); /* the rate becomes a run-time value the update reads */
    int e = op(OP_ADD, L.group_base[s->grp[0]], i64(1, loc), loc);
    set_group(s->grp[0], e, loc);
    for (int g = 0; g < s->ngroups; g++) {
        /* read from the groups for each: a def's run-time if (LambdaLR) may have begun a new segment */
        int lr = L.group_base[o->groups[g].lr_group], r;
        e = L.group_base[s->grp[0]];
        if (s->fn) {
            Value *v = lambda_rate(s, g, pyscalar(e), loc);
            param_group_set(o, g, mk_str("lr"), v, loc);
            continue;
        }
        if (!strcmp(s->cls, "StepLR")) { /* epoch % step_size == 0: lr * gamma */
            int m = as_f64(op(OP_EQ, op(OP_MOD, e, i64(s->step_size, loc), loc), i64(0, loc), loc), loc);
            r = blend(m, op(OP_MUL, lr, f64(s->gamma, loc), loc), lr, loc);
        } else if (!strcmp(s->cls, "MultiStepLR")) { /* at a milestone: lr * gamma ** (times listed) */
            r = lr;
            for (int k = 0; k < s->nms; k++) {
                int m = as_f64(op(OP_EQ, e, i64(s->ms[k], loc), loc), loc);
                r = blend(m, op(OP_MUL, lr, f64(pow(s->gamma, s->ms_count[k]), loc), loc), r, loc);
            }
        } else if (!strcmp(s->cls, "ExponentialLR")) {
            r = op(OP_MUL, lr, f64(s->gamma, loc), loc);
        } else { /* CosineAnnealingLR, the recursive form of 1.13's get_lr */
            double t = (double)s->tmax;
            int restart = as_f64(op(OP_EQ, op(OP_MOD, op(OP_SUB, e, i64(1 + s->tmax, loc), loc), i64(2 * s->tmax, loc), loc),
                                    i64(0, loc), loc), loc);
            /* (base_lr - eta_min) * (1 - cos(pi / T_max)) / 2: a constant, or in the same order at run time */
            int k = s->grp[1 + g] < 0
                        ? f64((s->base_lr[g] - s->eta_min) * (1 - cos(PI / t)) / 2, loc)
                        : op(OP_DIV, op(OP_MUL, op(OP_SUB, L.group_base[s->grp[1 + g]], f64(s->eta_min, loc), loc),
                                        f64(1 - cos(PI / t), loc), loc), f64(2, loc), loc);
            int at_restart = op(OP_ADD, lr, k, loc);
            int ef = as_f64(e, loc), ef1 = as_f64(op(OP_SUB, e, i64(1, loc), loc), loc);
            int cos_e = lw_add1(OP_COS, op(OP_DIV, op(OP_MUL, f64(PI, loc), ef, loc), f64(t, loc), loc), NULL, 0, loc);
            int cos_e1 = lw_add1(OP_COS, op(OP_DIV, op(OP_MUL, f64(PI, loc), ef1, loc), f64(t, loc), loc), NULL, 0, loc);
            int num = op(OP_ADD, f64(1, loc), cos_e, loc);
            /* at a restart the other side's denominator is 0: add the mask there, so it stays finite */
            int den = op(OP_ADD, op(OP_ADD, f64(1, loc), cos_e1, loc), restart, loc);
            int lr_eta = op(OP_SUB, lr, f64(s->eta_min, loc), loc);
            int between = op(OP_ADD, op(OP_MUL, op(OP_DIV, num, den, loc), lr_eta, loc), f64(s->eta_min, loc), loc);
            r = blend(restart, at_restart, between, loc);
        }
        param_group_set(o, g, mk_str("lr"), pyscalar(r), loc);
    }
}

static Value *new_dict(void) {
    Value *d = lw_mk(V_DICT);
    d->self = lw_mk(V_TUPLE);
    return d;
}

static void put(Value *d, const char *key, Value *v) {
    list_append(d->self, mk_str(key));
    list_append(d, v);
}

/* [f(s, 0), f(s, 1), ...]: one item per group */
static Value *per_group(Sched *s, Value *(*f)(Sched *s, int g, SrcLoc loc), SrcLoc loc) {
    Value *l = lw_mk(V_LIST);
    for (int g = 0; g < s->ngroups; g++)
        list_append(l, f(s, g, loc));
    return l;
}

static Value *base_item(Sched *s, int g, SrcLoc loc) {
    (void)loc;
    return base_value(s, g);
}
static Value *lr_item(Sched *s, int g, SrcLoc loc) { return param_group_get(s->optv->optim, g, mk_str("lr"), loc); }
static Value *none_item(Sched *s, int g, SrcLoc loc) {
    (void)s, (void)g, (void)loc;
    return lw_mk(V_NONE);
}

/* scheduler.state_dict(), as PyTorch 1.13 builds it (MultiStepLR's milestones: a dict of
 * epoch: count, where PyTorch has a Counter of them) */
Value *scheduler_state_dict(Sched *s, SrcLoc loc) {
    Value *d = new_dict();
    if (!strcmp(s->cls, "StepLR")) {
        put(d, "step_size", mk_int(s->step_size));
        put(d, "gamma", mk_float(s->gamma));
    } else if (!strcmp(s->cls, "MultiStepLR")) {
        Value *m = new_dict();
        for (int k = 0; k < s->nms; k++) {
            list_append(m->self, mk_int(s->ms[k]));
            list_append(m, mk_int(s->ms_count[k]));
        }
        put(d, "milestones", m);
        put(d, "gamma", mk_float(s->gamma));
    } else if (!strcmp(s->cls, "ExponentialLR")) {
        put(d, "gamma", mk_float(s->gamma));
    } else if (!strcmp(s->cls, "CosineAnnealingLR")) {
        put(d, "T_max", mk_int(s->tmax));
        put(d, "eta_min", s->eta_min == 0 ? mk_int(0) : mk_float(s->eta_min));
    }
    put(d, "base_lrs", per_group(s, base_item, loc));
    put(d, "last_epoch", epoch_value(s));
    put(d, "verbose", mk_bool(false));
    put(d, "_step_count", pyscalar(lw_add2(OP_ADD, L.group_base[s->grp[0]], i64(1, loc), loc)));
    put(d, "_get_lr_called_within_step", mk_bool(false));
    put(d, "_last_lr", per_group(s, lr_item, loc));
    if (s->fn)
        put(d, "lr_lambdas", per_group(s, none_item, loc));
    return d;
}

/*
 * scheduler.load_state_dict(sd), sd a state_dict() of this program or a checkpoint's part read
 * when the statement runs (torch.load(PATH)['scheduler']): last_epoch and base_lrs come from sd.
 * The rate the next step() starts from is the optimizer's (load its state_dict too, as PyTorch's
 * recipe does); its settings (step_size, gamma, T_max, ...) stay the ones it was made with.
 */
void scheduler_load_state_dict(Sched *s, Value *sd, SrcLoc loc) {
    bool file = sd->kind == V_STATEFILE;
    if (!file && sd->kind != V_DICT)
        error_at(loc, "load_state_dict() takes torch.load(PATH) or a state_dict(), not %s", kind_name(sd));
    if (L.carry) /* base_lrs become groups here, which the code after the loop or if would read */
        error_at(loc, "%s.load_state_dict() in a loop or if that runs when the program runs is not supported (load "
                      "before it)", s->cls);
    Value *last = state_item(sd, "last_epoch", DT_I64, shape_scalar(), loc);
    int64_t n = s->ngroups;
    Value *base = state_item(sd, "base_lrs", DT_F64, shape_make(1, &n), loc);
    if (!last || !base)
        error_at(loc, "load_state_dict(): the dict is not a scheduler's state_dict() (it has no '%s')",
                 last ? "base_lrs" : "last_epoch");
    if (!file && ((base->kind != V_LIST && base->kind != V_TUPLE) || base->n != s->ngroups))
        error_at(loc, "load_state_dict(): base_lrs must be a list of %d rates, one per parameter group, not %s",
                 s->ngroups, kind_name(base));
    set_group(s->grp[0], scalar_node(last, DT_I64, "last_epoch", loc), loc);
    for (int g = 0; g < s->ngroups; g++) {
        if (!file && is_scalar(base->items[g])) { /* a number of this program */
            s->base_lr[g] = num(base->items[g]);
            s->grp[1 + g] = -1;
            continue;
        }
        int x;
        if (file) { /* base_lrs[g] of the row torch.save wrote */
            int64_t start = g, step = 1, size = 1;
            Attr at[3] = {ints_attr("start", &start, 1), ints_attr("step", &step, 1), ints_attr("size", &size, 1)};
            x = lw_reshape(lw_add(OP_SLICE, &base->node, 1, DT_F64, shape_make(1, &size), at, 3, loc), shape_scalar(), loc);
        } else
            x = scalar_node(base->items[g], DT_F64, "a base rate", loc);
        s->grp[1 + g] = new_group(x);
    }
}

/* scheduler.get_last_lr(): each group's rate */
Value *scheduler_last_lr(Sched *s, SrcLoc loc) { return per_group(s, lr_item, loc); }

/* scheduler.last_epoch, scheduler.base_lrs, scheduler.optimizer */
Value *scheduler_attribute(Sched *s, const char *name, SrcLoc loc) {
    if (!strcmp(name, "last_epoch"))
        return epoch_value(s);
    if (!strcmp(name, "base_lrs"))
        return per_group(s, base_item, loc);
    if (!strcmp(name, "optimizer"))
        return s->optv;
    error_at(loc, "%s has no attribute '%s' that tgc supports (it has last_epoch, base_lrs, optimizer, step(), "
                  "get_last_lr(), state_dict(), load_state_dict())", s->cls, name);
}

/* The groups a scheduler keeps (for the loops that carry them): its last_epoch, its base rates
 * known at run time (-1 where a base rate is a number). */
int scheduler_groups(Sched *s, const int **groups) {
    *groups = s->grp;
    return 1 + s->ngroups;
}
Value *scheduler_optimizer(Sched *s) { return s->optv; }
