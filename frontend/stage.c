/*
 * stage.c: run-time control flow in programs (staging).
 *
 * A program's loops and its ifs on run-time values are not unrolled: the tensor work between
 * two control-flow points becomes one graph, a segment, compiled once, and the control flow
 * becomes host code (ir.h's HostStmt) that runs the segments. The elaborator lowers a loop's
 * body once, so what it knows at compile time must hold at the start of every iteration:
 *
 *   - Every tensor that lives across a control-flow point (a variable in scope, a parameter
 *     and its .grad, optimizer state) keeps its storage group; its contents move between
 *     segments through a slot of the arena's persistent region. seg_close writes each live
 *     group that changed into its slot (an assign node), seg_open reads each one back (a param
 *     node with init "slot") and re-derives every variable's view of it.
 *   - A variable a loop or an if assigns is carried: before the loop it gets a group of its
 *     own (a Python number becomes a 0-d tensor, as item() values are), the body's last value
 *     is written back to it at the end of the body and at every break and continue, and after
 *     the loop the name reads it. Its dtype and shape cannot change; an assignment that would
 *     change them is an error at its line.
 *   - Optimizers switch to their run-time update (the step count is a tensor, as in a train
 *     block's step), and every leaf that requires grad gets a .grad of zeros if it had none,
 *     so that the body's backward() accumulates as it does after the first iteration.
 *
 * A condition (an if's or a while's) is a one-element tensor, cast to bool into a slot the host
 * reads; a for over range() has its counter written into a slot by the host.
 */
#include "lower.h"

#include <string.h>

/* ---- per storage group: its slot ---- */

static const char **slot_name; /* the slot's name, NULL before the group's first spill */
static int *reload;            /* the node that read the slot in the current segment, or -1 */
static bool *cut;              /* the group's value required grad but its history stays behind */
static const char **cut_fn;    /* and the grad_fn it prints (SumBackward0), which a reload keeps */
static unsigned char *live;
static int ncap;

static void ensure(void) {
    if (ncap && L.ngroups <= ncap) /* allocates once even with no groups: live is never null */
        return;
    int cap = ncap ? ncap : 64;
    while (cap < L.ngroups)
        cap *= 2;
    const char **sn = ir_alloc(sizeof(char *) * (size_t)cap);
    int *rl = ir_alloc(sizeof(int) * (size_t)cap);
    bool *ct = ir_alloc(sizeof(bool) * (size_t)cap);
    const char **cf = ir_alloc(sizeof(char *) * (size_t)cap);
    if (ncap) {
        memcpy(sn, slot_name, sizeof(char *) * (size_t)ncap);
        memcpy(rl, reload, sizeof(int) * (size_t)ncap);
        memcpy(ct, cut, sizeof(bool) * (size_t)ncap);
        memcpy(cf, cut_fn, sizeof(char *) * (size_t)ncap);
    }
    for (int i = ncap; i < cap; i++)
        rl[i] = -1;
    slot_name = sn;
    reload = rl;
    cut = ct;
    cut_fn = cf;
    live = ir_alloc((size_t)cap);
    ncap = cap;
}

/* The slot names taken so far in this program: each is one tensor of the persistent region. */
static const char **taken, **wanted; /* each slot's name, and the name it was asked for */
static int ntaken, captaken;

static bool is_taken(const char *name) {
    for (int i = 0; i < ntaken; i++)
        if (!strcmp(taken[i], name))
            return true;
    return false;
}

static const char *take(const char *want) {
    /* a slot named after another slot's contents takes that one's name: labels_3, not labels_2_2 */
    for (int i = 0; i < ntaken; i++)
        if (!strcmp(taken[i], want)) {
            want = wanted[i];
            break;
        }
    const char *name = want;
    for (int k = 2; is_taken(name); k++)
        name = ir_fmt("%s_%d", want, k);
    if (ntaken == captaken) {
        captaken = captaken ? captaken * 2 : 32;
        const char **t = ir_alloc(sizeof(char *) * (size_t)captaken);
        const char **w = ir_alloc(sizeof(char *) * (size_t)captaken);
        if (ntaken) {
            memcpy(t, taken, sizeof(char *) * (size_t)ntaken);
            memcpy(w, wanted, sizeof(char *) * (size_t)ntaken);
        }
        taken = t;
        wanted = w;
    }
    wanted[ntaken] = want;
    taken[ntaken++] = name;
    return name;
}

/* A param node reading slot `name` (its writer initialized it). */
static int slot_node(const char *name, DType dt, Shape s, SrcLoc loc) {
    Attr a = attr_str("init", "slot");
    int id = lw_add(OP_PARAM, NULL, 0, dt, s, &a, 1, loc);
    L.g->nodes[id].flags |= NF_PARAM;
    L.g->nodes[id].name = name;
    return id;
}

/* ---- which groups are live: reachable from a variable, a module, an optimizer, a pin ---- */

static unsigned mark_stamp;

static void mark_group(int g) {
    while (g >= 0 && !live[g]) {
        live[g] = 1;
        g = L.grad_group[g];
    }
}

static void mark_module(Module *m) {
    int gs[5] = {m->weight, m->bias, m->rmean, m->rvar, m->nbt};
    for (int i = 0; i < 5; i++)
        mark_group(gs[i]);
    for (int i = 0; i < m->nchild; i++)
        mark_module(m->child[i]);
}

static void mark_value(Value *v) {
    if (!v || v->stamp == mark_stamp)
        return;
    v->stamp = mark_stamp;
    switch (v->kind) {
    case V_TENSOR: mark_group(v->group); break;
    case V_MODULE: mark_module(v->mod); break;
    case V_FUNC: mark_value(v->self); break;
    case V_OPTIM: {
        Optim *o = v->optim;
        for (int i = 0; i < o->nparams; i++) {
            mark_value(o->params[i]);
            mark_group(o->buf[i]);
            mark_group(o->exp_avg[i]);
            mark_group(o->exp_avg_sq[i]);
            mark_group(o->max_sq[i]);
        }
        mark_group(o->step_group);
        for (int g = 0; g < o->ngroups; g++) {
            mark_group(o->groups[g].lr_group);
            mark_value(o->groups[g].d);
        }
        break;
    }
    case V_SCHED: {
        mark_value(scheduler_optimizer(v->sched));
        const int *gs;
        for (int k = 0, n = scheduler_groups(v->sched, &gs); k < n; k++)
            mark_group(gs[k]);
        break;
    }
    default: break;
    }
    for (int i = 0; i < v->n; i++)
        mark_value(v->items[i]);
}

static void mark_root(Value *v, void *ctx) {
    (void)ctx;
    mark_value(v);
}

static void mark_carried(void);

static void mark_all(void) {
    ensure();
    memset(live, 0, (size_t)ncap);
    L.stamp++;
    mark_stamp = L.stamp;
    each_root(mark_root, NULL);
    for (int i = 0; i < L.npinned; i++)
        mark_group(L.pinned[i]);
    mark_carried();
}

static void pin(int g) {
    if (L.npinned == L.cappinned) {
        L.cappinned = L.cappinned ? L.cappinned * 2 : 16;
        int *p = ir_alloc(sizeof(int) * (size_t)L.cappinned);
        if (L.npinned)
            memcpy(p, L.pinned, sizeof(int) * (size_t)L.npinned);
        L.pinned = p;
    }
    L.pinned[L.npinned++] = g;
}

/* ---- segments ---- */

static void host_run(SrcLoc loc) {
    if (L.nsegs == L.capsegs) {
        L.capsegs = L.capsegs ? L.capsegs * 2 : 8;
        Graph **s = ir_alloc(sizeof(Graph *) * (size_t)L.capsegs);
        if (L.nsegs)
            memcpy(s, L.segs, sizeof(Graph *) * (size_t)L.nsegs);
        L.segs = s;
    }
    HostStmt *h = ir_alloc(sizeof(HostStmt));
    h->kind = H_RUN;
    h->loc = loc;
    h->seg = L.nsegs;
    L.segs[L.nsegs++] = L.g;
    host_push(L.host, h);
}

/* The group's slot, named after its contents' name (a variable, a parameter) when it has one. */
static const char *slot_of(int g) {
    ensure(); /* g may be a group made since the tables last grew (a range() bound) */
    if (!slot_name[g]) {
        const char *n = L.g->nodes[L.group_base[g]].name;
        slot_name[g] = take(n ? n : "t");
    }
    return slot_name[g];
}

/* Ends the current segment: every live group whose contents changed is written to its slot. */
/* Every parameter made in this segment that is not a variable's slot (one no variable reaches any
 * more, or one a load replaced) gets a name of its own: memplan_layout keeps one slot per name. */
static void name_new_params(const bool *named) {
    for (int i = 0; i < L.g->nnode; i++) {
        Node *n = &L.g->nodes[i];
        if (n->op == OP_PARAM && strcmp(node_str(n, "init", ""), "slot") && !(named && named[i]))
            n->name = take(n->name ? n->name : "param");
    }
}

static void seg_close(SrcLoc loc) {
    mark_all();
    int *pairs = ir_alloc(sizeof(int) * (size_t)(2 * L.ngroups + 2)), npairs = 0;
    bool *named = ir_alloc((size_t)L.g->nnode + 1);
    for (int g = 0; g < L.ngroups; g++) {
        if (!live[g])
            continue;
        int base = L.group_base[g];
        if (base == reload[g])
            continue;
        Node *bn = &L.g->nodes[base];
        cut[g] = lw_info(base)->rg && !L.group_rg[g];
        cut_fn[g] = cut[g] ? grad_fn_name(base) : NULL;
        if (!slot_name[g] && bn->op == OP_PARAM && strcmp(node_str(bn, "init", ""), "slot")) {
            /* a parameter made in this segment (Net()): its node is the slot */
            slot_name[g] = take(bn->name ? bn->name : "param");
            bn->name = slot_name[g];
            named[base] = true;
            continue;
        }
        const char *name = slot_of(g);
        int dst = reload[g] >= 0 ? reload[g] : slot_node(name, bn->dtype, bn->shape, loc);
        pairs[npairs++] = dst;
        pairs[npairs++] = base;
    }
    name_new_params(named);
    for (int k = 0; k < npairs; k += 2) /* the stores last, after every param node (simplify's rule) */
        lw_add(OP_ASSIGN, &pairs[k], 2, DT_F32, shape_scalar(), NULL, 0, loc);
    host_run(loc);
    L.g = NULL;
}

/* Starts a segment: every live group reads its slot, and every variable sees it. */
static void seg_open(SrcLoc loc) {
    L.g = ir_new_graph(ir_fmt("%s_s%d", L.prog_name, L.nsegs));
    L.info = NULL;
    L.ninfo = 0;
    mark_all();
    for (int g = 0; g < L.ngroups; g++)
        reload[g] = -1;
    /* the types come from the slots' writers; find them by name in the last segment that has one */
    for (int g = 0; g < L.ngroups; g++) {
        if (!live[g] || !slot_name[g])
            continue;
        const Node *w = NULL;
        for (int k = L.nsegs - 1; k >= 0 && !w; k--)
            for (int i = 0; i < L.segs[k]->nnode && !w; i++)
                if (L.segs[k]->nodes[i].op == OP_PARAM && L.segs[k]->nodes[i].name &&
                    !strcmp(L.segs[k]->nodes[i].name, slot_name[g]))
                    w = &L.segs[k]->nodes[i];
        if (!w)
            die("stage: slot %s has no writer", slot_name[g]);
        int id = slot_node(slot_name[g], w->dtype, w->shape, loc);
        reload[g] = id;
        L.group_base[g] = id;
        if (L.group_rg[g]) {
            lw_info(id)->rg = true;
            lw_info(id)->leaf = g;
            L.g->nodes[id].flags &= ~(unsigned)NF_NOGRAD;
        } else if (cut[g]) {
            lw_info(id)->rg = true;
            lw_info(id)->cut = true;
            lw_info(id)->fn = cut_fn[g];
            L.g->nodes[id].flags &= ~(unsigned)NF_NOGRAD;
        }
    }
    refresh_all_values(loc);
}

/* ---- carried variables ---- */

typedef struct Carry {
    const char **names; /* assigned in the body */
    int *group;         /* the variable's group across the control flow, -1: not carried */
    Value **fixed;      /* a compile-time value that must not change (a module, a string), or NULL */
    int n;
    SrcLoc at;          /* the loop or if */
    bool loop;
    struct Carry *up;
} Carry;

/* Every group the loops and ifs now being lowered carry lives until they end, even where no
 * variable names it (one a break inside an if gave a variable first bound in the body). */
static void mark_carried(void) {
    for (Carry *c = L.carry; c; c = c->up)
        for (int i = 0; i < c->n; i++)
            mark_group(c->group[i]);
}

static void add_name(Carry *c, const char *name) {
    for (int i = 0; i < c->n; i++)
        if (!strcmp(c->names[i], name))
            return;
    const char **nn = ir_alloc(sizeof(char *) * (size_t)(c->n + 1));
    if (c->n)
        memcpy(nn, c->names, sizeof(char *) * (size_t)c->n);
    nn[c->n++] = name;
    c->names = nn;
}

static void target_names(Carry *c, Expr *t) {
    if (t->kind == E_NAME)
        add_name(c, t->str);
    else if (t->kind == E_TUPLE)
        for (int i = 0; i < t->nitems; i++)
            target_names(c, t->items[i]);
}

/* The names statements assign, nested blocks included ('=' and '+=': a Python number's '+='
 * binds a new number). A for's own names are assigned too. */
static void assigned_names(Carry *c, Stmt **b, int n) {
    for (int i = 0; i < n; i++) {
        Stmt *s = b[i];
        if (s->kind == S_ASSIGN || s->kind == S_FOR)
            target_names(c, s->target);
        assigned_names(c, s->body, s->nbody);
        assigned_names(c, s->orelse, s->norelse);
    }
}

/* Is name bound anew somewhere in b ('=' or a for's names), not only updated ('+=')? */
static bool target_binds(Expr *t, const char *name) {
    if (t->kind == E_NAME)
        return !strcmp(t->str, name);
    if (t->kind == E_TUPLE)
        for (int i = 0; i < t->nitems; i++)
            if (target_binds(t->items[i], name))
                return true;
    return false;
}

static bool rebinds(Stmt **b, int n, const char *name) {
    for (int i = 0; i < n; i++) {
        Stmt *s = b[i];
        if (((s->kind == S_ASSIGN && !strcmp(s->op, "=")) || s->kind == S_FOR) && target_binds(s->target, name))
            return true;
        if (rebinds(s->body, s->nbody, name) || rebinds(s->orelse, s->norelse, name))
            return true;
    }
    return false;
}

static bool number(Value *v) { return is_scalar(v) || (v->kind == V_TENSOR && (v->tflags & TV_PYSCALAR)); }

static DType number_dtype(Value *v) {
    if (v->kind == V_TENSOR)
        return TN(v)->dtype;
    return v->kind == V_FLOAT ? DT_F64 : v->kind == V_BOOL ? DT_BOOL : DT_I64;
}

/* Names a carried variable's node after it, unless the node reads a slot: a slot's name is
 * its identity across segments (the variable's own may be taken by another's slot). */
static void name_value(int node, const char *name) {
    if (N(node)->op != OP_PARAM)
        N(node)->name = name;
}

/* A tensor value of group g, as a variable reads it. */
static Value *group_value(int g, unsigned tflags) {
    Value *v = lw_mk(V_TENSOR);
    v->group = g;
    v->node = L.group_base[g];
    v->tflags = tflags;
    return v;
}

/* Before the control flow: each name the body assigns that is bound now gets a group of its own
 * (a Python number becomes a 0-d tensor); a tensor only updated in place keeps its group. */
static void carry_begin(Carry *c, Stmt **b, int n, Stmt **b2, int n2, SrcLoc at, bool loop) {
    memset(c, 0, sizeof *c);
    assigned_names(c, b, n);
    assigned_names(c, b2, n2);
    c->group = ir_alloc(sizeof(int) * (size_t)(c->n + 1));
    c->fixed = ir_alloc(sizeof(Value *) * (size_t)(c->n + 1));
    c->at = at;
    c->loop = loop;
    for (int i = 0; i < c->n; i++) {
        c->group[i] = -1;
        Binding *bd = NULL;
        for (Scope *s = L.scope; s && !bd; s = s->up)
            bd = find_in(s, c->names[i]);
        if (!bd || bd->v->kind == V_ERROR)
            continue;
        Value *v = bd->v;
        if (number(v)) {
            int node = v->kind == V_TENSOR ? v->node : const_scalar(v, number_dtype(v), at);
            c->group[i] = new_group(node);
            name_value(node, c->names[i]);
        } else if (v->kind == V_TENSOR && !rebinds(b, n, c->names[i]) && !rebinds(b2, n2, c->names[i])) {
            /* only updated in place (x += 1): the same tensor throughout, its storage shared with
               every view of it, as in Python */
            c->fixed[i] = v;
            continue;
        } else if (v->kind == V_TENSOR) {
            /* a group of its own (sharing the SSA node): the body may bind the name to another tensor,
               which must not change the tensor it named before */
            c->group[i] = new_group(v->nchain ? lw_reshape(v->node, TN(v)->shape, at) : v->node);
        } else {
            c->fixed[i] = v;
            continue;
        }
        pin(c->group[i]);
        lw_bind(L.scope, c->names[i], group_value(c->group[i], v->kind == V_TENSOR ? v->tflags : TV_PYSCALAR));
    }
}

static int carried(Carry *c, const char *name) {
    for (int i = 0; i < c->n; i++)
        if (!strcmp(c->names[i], name))
            return i;
    return -1;
}

/* Inside a loop over a DataLoader (loader_pass): a tensor whose shape follows the batch's (the
 * last partial batch's is another) may change its name's type, in that loop and every loop and if
 * around it: the name is carried from there on anew. What read it before it was assigned, in a
 * later iteration, still reads its value from before the loop (docs/language.md says so). */
static int in_loader;

/* Checks an assignment to a carried name: same dtype and shape as before the control flow. */
void stage_check_assign(const char *name, Value *v, SrcLoc loc) {
    for (Carry *c = L.carry; c; c = c->up) {
        int i = carried(c, name);
        if (i < 0)
            continue;
        if (c->fixed[i] && v != c->fixed[i]) {
            diag_error(loc, "'%s' is %s before the %s: it cannot change inside it, since the %s runs when the "
                            "program runs and %s is known only to the compiler",
                       name, kind_name(c->fixed[i]), c->loop ? "loop" : "if", c->loop ? "loop" : "if",
                       kind_name(c->fixed[i]));
            diag_note(c->at, "the %s is here", c->loop ? "loop" : "if");
            diag_stop();
        }
        if (c->group[i] < 0 || v->kind == V_ERROR)
            continue;
        Node *gn = N(L.group_base[c->group[i]]);
        if (in_loader && (!number(v) || gn->shape.rank) &&
            (v->kind != V_TENSOR || TN(v)->dtype != gn->dtype || !shape_eq(TN(v)->shape, gn->shape))) {
            c->group[i] = -1; /* the partial batch's own value: carried from the body's end */
            continue;
        }
        if (number(v) && gn->shape.rank == 0) {
            DType dt = number_dtype(v);
            bool ok = dt == gn->dtype || (dt == DT_BOOL && gn->dtype == DT_I64) ||
                      (!dtype_is_float(dt) && gn->dtype == DT_F64 && v->kind != V_TENSOR);
            if (!ok) {
                diag_error(loc, "'%s' is %s before the %s and %s here: a variable keeps its type across a %s "
                                "(write %s before it)",
                           name, gn->dtype == DT_F64 ? "a float" : gn->dtype == DT_BOOL ? "a bool" : "an int",
                           c->loop ? "loop" : "if", dtype_is_float(dt) ? "a float" : "an int",
                           c->loop ? "loop" : "if", dtype_is_float(dt) ? ir_fmt("%s = 0.0", name) : "an int");
                diag_note(c->at, "the %s is here", c->loop ? "loop" : "if");
                diag_stop();
            }
            continue;
        }
        if (v->kind != V_TENSOR || TN(v)->dtype != gn->dtype || !shape_eq(TN(v)->shape, gn->shape)) {
            diag_error(loc, "'%s' is %s before the %s and %s here: a tensor keeps its type and shape across the "
                            "iterations of a loop and the branches of an if",
                       name, type_str(gn->dtype, gn->shape), c->loop ? "loop" : "if", kind_name(v));
            diag_note(c->at, "the %s is here", c->loop ? "loop" : "if");
            diag_stop();
        }
    }
}

/* The body's values of the carried names go to their groups (at the end of a body, a break or a
 * continue); a name first bound in the body gets a group now. */
static void carry_back(Carry *c, SrcLoc loc) {
    for (int i = 0; i < c->n; i++) {
        Binding *bd = NULL;
        for (Scope *s = L.scope; s && !bd; s = s->up)
            bd = find_in(s, c->names[i]);
        if (!bd || bd->v->kind == V_ERROR || c->fixed[i])
            continue;
        Value *v = bd->v;
        if (!number(v) && v->kind != V_TENSOR)
            continue;
        int g = c->group[i];
        if (g < 0) { /* first bound in the body: carried from now on */
            if (v->kind != V_TENSOR)
                v = lw_result(const_scalar(v, number_dtype(v), loc), NULL, NULL), v->tflags = TV_PYSCALAR;
            int node = lw_reshape(lw_cast(v->node, TN(v)->dtype, loc), TN(v)->shape, loc);
            g = c->group[i] = new_group(node);
            pin(g);
            name_value(node, c->names[i]);
            lw_bind(L.scope, c->names[i], group_value(g, v->tflags));
            continue;
        }
        if (v->kind == V_TENSOR && v->group == g && !v->nchain)
            continue;
        Node *gn = N(L.group_base[g]);
        int node = v->kind == V_TENSOR ? lw_cast(v->node, gn->dtype, loc) : const_scalar(v, gn->dtype, loc);
        set_group(g, node, loc);
        lw_bind(L.scope, c->names[i], group_value(g, v->kind == V_TENSOR ? v->tflags : TV_PYSCALAR));
    }
}

/* After the control flow: each carried name reads its group. */
static void carry_end(Carry *c) {
    for (int i = 0; i < c->n; i++)
        if (c->group[i] >= 0) {
            Binding *bd = find_in(L.scope, c->names[i]);
            unsigned fl = bd && bd->v->kind == V_TENSOR ? bd->v->tflags : TV_PYSCALAR;
            lw_bind(L.scope, c->names[i], group_value(c->group[i], fl));
        }
}

/* ---- what must hold at every iteration: run-time optimizers, gradients that exist ---- */

static void stage_optimizer(Value *v, void *ctx) {
    if (v && v->kind == V_OPTIM)
        optimizer_stage(v->optim, *(SrcLoc *)ctx);
    if (v && v->kind == V_SCHED)
        optimizer_stage(scheduler_optimizer(v->sched)->optim, *(SrcLoc *)ctx);
}

static void stage_state(SrcLoc loc) {
    mark_all();
    for (int g = 0; g < L.ngroups; g++)
        if (live[g] && L.group_rg[g] && L.grad_group[g] < 0) {
            Node *n = N(L.group_base[g]);
            int ng = new_group(lw_filled(n->shape, n->dtype, mk_int(0), loc)->node); /* may move L.grad_group */
            L.grad_group[g] = ng;
        }
    each_root(stage_optimizer, &loc);
}

/* ---- the statements ---- */

static Carry *innermost_loop(void) {
    for (Carry *c = L.carry; c && c != L.def_carry; c = c->up) /* a def's break cannot leave the def */
        if (c->loop)
            return c;
    return NULL;
}

/* A run-time number for the host (a range bound): a constant, or a slot it reads. */
static void host_int(Value *v, const char **slot, int64_t *k, SrcLoc loc) {
    *slot = NULL;
    if (v->kind == V_INT || v->kind == V_BOOL) {
        *k = v->i;
        return;
    }
    if (v->kind != V_TENSOR || !(v->tflags & TV_PYSCALAR) || dtype_is_float(TN(v)->dtype))
        error_at(loc, "range() takes ints, not %s", kind_name(v));
    int g = new_group(lw_cast(v->node, DT_I64, loc));
    pin(g);
    *slot = slot_of(g);
}

/* A condition as the host reads it: one element, true when nonzero, in a slot. */
static int condition_group(Value *c, SrcLoc loc) {
    if (c->kind == V_TENSOR) {
        Node *n = TN(c);
        if (shape_numel(n->shape) != 1)
            error_at(loc, "Boolean value of Tensor with more than one value is ambiguous (this one is %s)",
                     type_str(n->dtype, n->shape));
        int z = const_scalar(mk_int(0), n->dtype, loc);
        int b = lw_add2(OP_NE, lw_reshape(c->node, shape_scalar(), loc), z, loc);
        int g = new_group(b);
        N(b)->name = "cond";
        return g;
    }
    return -1;
}

static void loop_body(HostStmt *h, Carry *c, Stmt *s) {
    c->up = L.carry;
    L.carry = c;
    exec_block(s->body, s->nbody);
    carry_back(c, s->loc);
    seg_close(s->loc);
    L.carry = c->up;
    (void)h;
}

/* A value the host writes before the segment opened here reads it (a loop counter, a batch):
 * a group whose slot is named after `want`. */
static Value *slot_value(const char **slot, const char *want, DType dt, Shape shape, unsigned tflags, SrcLoc loc) {
    *slot = take(want);
    int g = new_group(slot_node(*slot, dt, shape, loc));
    ensure();
    slot_name[g] = *slot;
    reload[g] = L.group_base[g];
    return group_value(g, tflags);
}

/* After a loop's or an if's host code: back in the enclosing block, a segment reads what it carried
 * (kept live while it opens), and each carried name reads its group. */
static void flow_end(Carry *c, HostBlock *outer, int npin, SrcLoc loc) {
    L.host = outer;
    L.npinned = npin;
    for (int i = 0; i < c->n; i++)
        if (c->group[i] >= 0)
            pin(c->group[i]);
    seg_open(loc);
    L.npinned = npin;
    carry_end(c);
}

/* Does a loop's body jump out of it (a break or continue not inside a nested loop)? */
static const Stmt *jumps(Stmt **b, int n) {
    for (int i = 0; i < n; i++) {
        if (b[i]->kind == S_BREAK || b[i]->kind == S_CONTINUE)
            return b[i];
        if (b[i]->kind == S_IF || b[i]->kind == S_WITH) {
            const Stmt *j = jumps(b[i]->body, b[i]->nbody);
            if (!j)
                j = jumps(b[i]->orelse, b[i]->norelse);
            if (j)
                return j;
        }
    }
    return NULL;
}

/* for x in [a, b, c]: a list or tuple the compiler knows (optimizer.param_groups, names) is walked
 * at compile time, the body lowered once per item, as Python runs it. */
static void for_each_item(Stmt *s, Value *list) {
    const Stmt *j = jumps(s->body, s->nbody);
    if (j)
        error_at(j->loc, "'%s' in a loop over a list known at compile time is not supported yet (loop over "
                         "range(len(...)) instead)", j->kind == S_BREAK ? "break" : "continue");
    for (int i = 0; i < list->n; i++) {
        lw_assign(s->target, list->items[i], s->loc);
        exec_block(s->body, s->nbody);
    }
}

/* ---- data: where the host loads datasets and runs DataLoader iterators (data.c) ---- */

static void data_place(SrcLoc loc, const char *what) {
    if (!L.prog_name || L.in_forward)
        error_at(loc, "%s belongs in a program, not in a model's forward pass", what);
}

/* A host statement between the segment before it and the one after. */
static void host_between(HostStmt *h, SrcLoc loc) {
    seg_close(loc);
    host_push(L.host, h);
    seg_open(loc);
}

int stage_dataset(const HostDataset *d, SrcLoc loc) {
    data_place(loc, "a dataset");
    HostDataset *sets = ir_alloc(sizeof(HostDataset) * (size_t)(L.data.nsets + 1));
    if (L.data.nsets)
        memcpy(sets, L.data.sets, sizeof(HostDataset) * (size_t)L.data.nsets);
    sets[L.data.nsets] = *d;
    L.data.sets = sets;
    HostStmt *h = ir_alloc(sizeof(HostStmt));
    h->kind = H_DATA;
    h->loc = loc;
    h->data = L.data.nsets++;
    host_between(h, loc);
    return h->data;
}

int stage_tensor_dataset(Value **ts, int n, SrcLoc loc) {
    data_place(loc, "a TensorDataset");
    if (L.carry)
        error_at(loc, "a TensorDataset is made outside run-time loops and ifs (it holds its tensors for "
                      "the loaders that read it)");
    HostDataset d = {.kind = "tensors", .cls = "TensorDataset", .n = TN(ts[0])->shape.d[0], .ntensors = n};
    d.tensors = ir_alloc(sizeof(char *) * (size_t)n);
    d.row_bytes = ir_alloc(sizeof(int64_t) * (size_t)n);
    for (int i = 0; i < n; i++) {
        Node *x = TN(ts[i]);
        int g = new_group(x->id); /* the values it holds from here (PyTorch's holds the tensors) */
        ensure();
        pin(g);
        d.tensors[i] = slot_of(g);
        d.row_bytes[i] = dtype_size(x->dtype);
        for (int k = 1; k < x->shape.rank; k++) /* not numel / rows: a dataset may have none */
            d.row_bytes[i] *= x->shape.d[k];
    }
    HostDataset *sets = ir_alloc(sizeof(HostDataset) * (size_t)(L.data.nsets + 1));
    if (L.data.nsets)
        memcpy(sets, L.data.sets, sizeof(HostDataset) * (size_t)L.data.nsets);
    sets[L.data.nsets] = d;
    L.data.sets = sets;
    return L.data.nsets++;
}

static int new_iter(const HostIter *it) {
    HostIter *its = ir_alloc(sizeof(HostIter) * (size_t)(L.data.niters + 1));
    if (L.data.niters)
        memcpy(its, L.data.iters, sizeof(HostIter) * (size_t)L.data.niters);
    its[L.data.niters] = *it;
    L.data.iters = its;
    return L.data.niters++;
}

int stage_iter(const HostIter *it, SrcLoc loc) {
    data_place(loc, "iter() of a DataLoader");
    HostStmt *h = ir_alloc(sizeof(HostStmt));
    h->kind = H_ITER;
    h->loc = loc;
    h->data = new_iter(it);
    host_between(h, loc);
    return h->data;
}

/* The batch a loader's iterator just wrote into its slots: (images, labels), or a TensorDataset's
 * rows of each tensor (a list, as PyTorch's collate makes it); `rows` samples (the batch size, or
 * the last partial batch's). */
static Value *batch_value(HostStmt *h, DataObj *loader, int64_t rows, SrcLoc loc) {
    if (loader->nt) {
        Value *l = lw_mk(V_LIST);
        h->nouts = loader->nt;
        h->outs = ir_alloc(sizeof(char *) * (size_t)loader->nt);
        for (int i = 0; i < loader->nt; i++) {
            Shape s = loader->tshape[i];
            s.d[0] = rows;
            list_append(l, slot_value(&h->outs[i], "batch", loader->tdt[i], s, 0, loc));
        }
        return l;
    }
    Shape sx = loader->shape_x, sy = loader->shape_y;
    sx.d[0] = sy.d[0] = rows;
    Value *x = slot_value(&h->x, "images", DT_F32, sx, 0, loc);
    Value *y = slot_value(&h->y, "labels", DT_I64, sy, 0, loc);
    return lw_tuple2(x, y);
}

Value *stage_next(int iter, DataObj *loader, SrcLoc loc) {
    data_place(loc, "next()");
    HostStmt *h = ir_alloc(sizeof(HostStmt));
    h->kind = H_NEXT;
    h->loc = loc;
    h->data = iter;
    host_between(h, loc);
    return batch_value(h, loader, loader->it.batch, loc);
}

static void uncarry(Carry *c, Expr *t) {
    if (t->kind == E_NAME) {
        for (int i = 0; i < c->n; i++)
            if (!strcmp(c->names[i], t->str))
                c->group[i] = -1;
    } else if (t->kind == E_TUPLE)
        for (int i = 0; i < t->nitems; i++)
            uncarry(c, t->items[i]);
}

/* One pass of a loader's loop: its full batches, or (h->rest) its last partial batch, the body
 * specialised to that batch's shape, where a name the body binds takes the type its value has
 * (outputs = net(inputs) is [16, 10] there). */
static void loader_pass(Stmt *s, DataObj *loader, Expr *counter, Expr *batch, HostStmt *h) {
    SrcLoc loc = s->loc;
    int npin = L.npinned;
    stage_state(loc);
    Carry c;
    carry_begin(&c, s->body, s->nbody, NULL, 0, loc, true);
    if (counter)
        uncarry(&c, counter);
    uncarry(&c, batch);
    seg_close(loc);
    host_push(L.host, h);
    HostBlock *outer = L.host;
    L.host = &h->body;
    seg_open(loc);
    if (counter)
        lw_bind(L.scope, counter->str, slot_value(&h->slot, counter->str, DT_I64, shape_scalar(), TV_PYSCALAR,
                                                  counter->loc));
    in_loader++;
    lw_assign(batch, batch_value(h, loader, h->rest ? loader->rest : loader->it.batch, loc), loc);
    loop_body(h, &c, s);
    in_loader--;
    flow_end(&c, outer, npin, loc);
}

/* Does b break out of the loop it is the body of (a break not inside a nested loop)? */
static bool breaks(Stmt **b, int n) {
    for (int i = 0; i < n; i++)
        if (b[i]->kind == S_BREAK || ((b[i]->kind == S_IF || b[i]->kind == S_WITH) &&
                                      (breaks(b[i]->body, b[i]->nbody) || breaks(b[i]->orelse, b[i]->norelse))))
            return true;
    return false;
}

/* for [counter,] batch in [enumerate(]loader[, start)]: a pass of an iterator of its own, the host
 * writing each batch (and the counter) into slots before the body runs. A last partial batch
 * (drop_last=False) is a second pass after the loop, the body compiled again for its shape. When
 * the body may break before it, a name whose type differs between the two is an error where it is
 * read after the loop: its shape there is known only when the program runs. */
static void exec_for_loader(Stmt *s, DataObj *loader, Expr *counter, int64_t start, Expr *batch) {
    SrcLoc loc = s->loc;
    data_place(loc, "a loop over a DataLoader");
    HostStmt *h = ir_alloc(sizeof(HostStmt));
    h->kind = H_FOR;
    h->loc = loc;
    h->lim[0] = start;
    h->data = new_iter(&loader->it);
    loader_pass(s, loader, counter, batch, h);
    if (!loader->rest)
        return;
    Carry names; /* what the body and the loop bind, and their values after the full batches */
    memset(&names, 0, sizeof names);
    assigned_names(&names, s->body, s->nbody);
    target_names(&names, batch);
    const char **full = ir_alloc(sizeof(char *) * (size_t)(names.n + 1)); /* their types, as text: the */
    for (int i = 0; i < names.n; i++) {                                     /* graph their nodes are in ends */
        Binding *bd = find_in(L.scope, names.names[i]);
        full[i] = bd ? kind_name(bd->v) : NULL;
    }
    HostStmt *r = ir_alloc(sizeof(HostStmt));
    *r = (HostStmt){.kind = H_FOR, .loc = loc, .data = h->data, .rest = true};
    r->lim[0] = start + loader->it.nbatch;
    loader_pass(s, loader, counter, batch, r);
    if (!breaks(s->body, s->nbody))
        return;
    for (int i = 0; i < names.n; i++) {
        Binding *bd = find_in(L.scope, names.names[i]);
        if (!bd || !full[i] || !strcmp(full[i], kind_name(bd->v)))
            continue;
        Value *e = lw_mk(V_ERROR);
        e->s = ir_fmt("'%s' is %s after the loop's full batches and %s after its last partial batch (line %d), "
                      "and the loop may break before that one: its type here is known only when the program runs "
                      "(use it inside the loop, or give the DataLoader drop_last=True)",
                      names.names[i], full[i], kind_name(bd->v), loc.line);
        lw_bind(L.scope, names.names[i], e);
    }
}

void exec_for(Stmt *s) {
    SrcLoc loc = s->loc;
    Expr *it = s->value;
    if (it->kind == E_CALL && it->lhs->kind == E_NAME && !strcmp(it->lhs->str, "enumerate") && it->nitems >= 1 &&
        !(it->names && it->names[0])) {
        Value *l = lw_eval(it->items[0]);
        if (l->kind == V_LOADER) { /* for i, data in enumerate(loader, start) */
            int64_t start = 0;
            for (int i = 1; i < it->nitems; i++) {
                if (i > 1 || (it->names && it->names[i] && strcmp(it->names[i], "start")))
                    error_at(it->items[i]->loc, "enumerate() takes an iterable and start");
                start = int_arg(lw_eval(it->items[i]), it->items[i]->loc, "start");
            }
            if (s->target->kind != E_TUPLE || s->target->nitems != 2 || s->target->items[0]->kind != E_NAME)
                error_at(s->target->loc, "a for over enumerate(loader) binds two things: for i, data in ...");
            exec_for_loader(s, l->dobj, s->target->items[0], start, s->target->items[1]);
            return;
        }
    }
    if (!(it->kind == E_CALL && it->lhs->kind == E_NAME && !strcmp(it->lhs->str, "range"))) {
        Value *list = lw_eval(it);
        if (list->kind == V_LIST || list->kind == V_TUPLE) {
            for_each_item(s, list);
            return;
        }
        if (list->kind == V_LOADER) {
            exec_for_loader(s, list->dobj, NULL, 0, s->target);
            return;
        }
        if (list->kind == V_DICT || list->kind == V_TENSOR || list->kind == V_SIZE) { /* keys, rows: unrolled */
            Value *l = lw_mk(V_LIST);
            l->items = iter_items(list, &l->n, it->loc);
            for_each_item(s, l);
            return;
        }
        error_at(it->loc, "a for loop runs over range(...), a DataLoader or a list known at compile time, not %s",
                 kind_name(list));
    }
    if (s->target->kind != E_NAME)
        error_at(s->target->loc, "a for over range() binds one name");
    for (int i = 0; i < it->nitems; i++)
        if (it->names && it->names[i])
            error_at(it->items[i]->loc, "range() takes no keyword arguments");
    if (it->nitems < 1 || it->nitems > 3)
        error_at(it->loc, "range expected 1 to 3 arguments, got %d", it->nitems);
    HostStmt *h = ir_alloc(sizeof(HostStmt));
    h->kind = H_FOR;
    h->loc = loc;
    h->lim[0] = 0;
    h->lim[2] = 1;
    int npin = L.npinned;
    for (int i = 0; i < it->nitems; i++) {
        int k = it->nitems == 1 ? 1 : i;
        host_int(lw_eval(it->items[i]), &h->bound[k], &h->lim[k], it->items[i]->loc);
    }
    if (!h->bound[2] && h->lim[2] == 0)
        error_at(it->items[2]->loc, "range() arg 3 must not be zero");
    stage_state(loc);
    Carry c;
    carry_begin(&c, s->body, s->nbody, NULL, 0, loc, true);
    for (int i = 0; i < c.n; i++)
        if (!strcmp(c.names[i], s->target->str) && c.group[i] >= 0) /* the counter is not carried */
            c.group[i] = -1;
    seg_close(loc);
    host_push(L.host, h);
    HostBlock *outer = L.host;
    L.host = &h->body;
    seg_open(loc);
    lw_bind(L.scope, s->target->str, slot_value(&h->slot, s->target->str, DT_I64, shape_scalar(), TV_PYSCALAR,
                                                s->target->loc));
    loop_body(h, &c, s);
    flow_end(&c, outer, npin, loc);
}

void exec_while(Stmt *s) {
    SrcLoc loc = s->loc;
    int npin = L.npinned;
    stage_state(loc);
    Carry c;
    carry_begin(&c, s->body, s->nbody, NULL, 0, loc, true);
    seg_close(loc);
    HostStmt *h = ir_alloc(sizeof(HostStmt));
    h->kind = H_WHILE;
    h->loc = loc;
    host_push(L.host, h);
    HostBlock *outer = L.host;
    L.host = &h->test;
    seg_open(loc);
    Value *cv = lw_eval(s->value);
    if (cv->kind != V_TENSOR) { /* known now: while True, while False */
        bool yes = cv->kind == V_FLOAT ? cv->f != 0 : cv->kind == V_INT || cv->kind == V_BOOL ? cv->i != 0 : false;
        if (cv->kind != V_FLOAT && cv->kind != V_INT && cv->kind != V_BOOL)
            error_at(s->value->loc, "a 'while' condition must be a number, a bool or a tensor, not %s", kind_name(cv));
        int b = const_scalar(mk_bool(yes), DT_BOOL, loc);
        cv = lw_result(b, NULL, NULL);
    }
    int cg = condition_group(cv, s->value->loc);
    pin(cg);
    h->slot = slot_of(cg);
    seg_close(loc);
    L.host = &h->body;
    seg_open(loc);
    loop_body(h, &c, s);
    flow_end(&c, outer, npin, loc);
}

/* An if whose condition is a tensor: both branches are compiled, the host picks one. */
void exec_if_runtime(Stmt *s, Value *cond) {
    SrcLoc loc = s->loc;
    int npin = L.npinned;
    int cg = condition_group(cond, s->value->loc);
    pin(cg);
    stage_state(loc);
    Carry c;
    carry_begin(&c, s->body, s->nbody, s->orelse, s->norelse, loc, false);
    seg_close(loc);
    HostStmt *h = ir_alloc(sizeof(HostStmt));
    h->kind = H_IF;
    h->loc = loc;
    h->slot = slot_name[cg];
    host_push(L.host, h);
    HostBlock *outer = L.host;
    /* each branch starts from the bindings before the if (a break or continue in a branch binds the
       loop's carried names too) */
    int nbefore = L.scope->n;
    Value **before = ir_alloc(sizeof(Value *) * (size_t)(nbefore + 1));
    for (int i = 0; i < nbefore; i++)
        before[i] = L.scope->b[i].v;
    c.up = L.carry;
    L.carry = &c;
    for (int br = 0; br < 2; br++) {
        Stmt **body = br ? s->orelse : s->body;
        int n = br ? s->norelse : s->nbody;
        if (br && !n)
            break;
        L.host = br ? &h->orelse : &h->body;
        seg_open(loc);
        exec_block(body, n);
        carry_back(&c, loc);
        seg_close(loc);
        for (int i = 0; i < nbefore; i++)
            L.scope->b[i].v = before[i];
    }
    L.carry = c.up;
    flow_end(&c, outer, npin, loc);
}

static void jump(Stmt *s, HostKind kind) {
    Carry *loop = innermost_loop();
    if (!loop)
        error_at(s->loc, "'%s' outside a loop", kind == H_BREAK ? "break" : "continue");
    carry_back(loop, s->loc);
    seg_close(s->loc);
    HostStmt *h = ir_alloc(sizeof(HostStmt));
    h->kind = kind;
    h->loc = s->loc;
    host_push(L.host, h);
    seg_open(s->loc);
}

void exec_break(Stmt *s) { jump(s, H_BREAK); }
void exec_continue(Stmt *s) { jump(s, H_CONTINUE); }

/* with torch.no_grad(): what the block computes requires no grad. */
void exec_with(Stmt *s) {
    Expr *e = s->value;
    Expr *f = e->kind == E_CALL ? e->lhs : NULL;
    const char *name = f && f->kind == E_NAME ? f->str : f && f->kind == E_ATTR ? f->str : NULL;
    if (!name || (strcmp(name, "no_grad") && strcmp(name, "inference_mode")) || e->nitems)
        error_at(e->loc, "'with' takes torch.no_grad() (other context managers are not supported)");
    bool was = L.no_grad_block;
    L.no_grad_block = true;
    exec_block(s->body, s->nbody);
    L.no_grad_block = was;
}

/* ---- the program ---- */

void stage_begin(const char *name) {
    L.prog_name = name;
    L.nsegs = 0;
    L.host_top = (HostBlock){0};
    L.host = &L.host_top;
    L.carry = NULL;
    L.npinned = 0;
    L.data = (HostData){0};
    taken = wanted = NULL; /* the arena of an earlier compile may be gone (tests, fuzzers) */
    ntaken = captaken = 0;
    ncap = 0;
    ensure();
}

void stage_end(LoweredProgram *p) {
    p->graph = NULL;
    if (!L.nsegs) {
        p->graph = L.g;
        return;
    }
    name_new_params(NULL);
    host_run(NOLOC);
    p->segs = L.segs;
    p->nsegs = L.nsegs;
    p->host = L.host_top;
    p->data = L.data;
    L.segs = NULL;
    L.capsegs = 0;
}
