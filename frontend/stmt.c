/*
 * stmt.c: statements.
 *
 * Assignment binds names, writes into a tensor in place (t[0] = 1, x += y) or replaces a
 * module's layer; an if takes the branch its compile-time condition picks; return ends a
 * forward pass. A program's statements run one by one: an error in one is reported, the names
 * it would have bound become V_ERROR (their uses stay quiet) and the next statements are still
 * checked.
 */
#include "lower.h"

#include <string.h>

/* t = v: binds a name (or names, unpacking), writes into a tensor or list item, sets
 * requires_grad, or replaces a module's layer. */
void lw_assign(Expr *t, Value *v, SrcLoc loc) {
    switch (t->kind) {
    case E_NAME:
        if (find_in(L.globals, t->str) && L.scope == L.globals)
            error_at(t->loc, "cannot assign to the builtin name '%s'", t->str);
        if (v->kind == V_TENSOR && !TN(v)->name && !(TN(v)->flags & NF_PARAM))
            TN(v)->name = t->str; /* the IR, its gradients and the generated code read better with names */
        if (L.carry)
            stage_check_assign(t->str, v, loc);
        lw_bind(L.scope, t->str, v);
        return;
    case E_TUPLE:
        if (v->kind != V_TUPLE && v->kind != V_LIST)
            error_at(loc, "cannot unpack %s into %d names", kind_name(v), t->nitems);
        if (v->n != t->nitems)
            error_at(loc, "cannot unpack %d values into %d names", v->n, t->nitems);
        for (int i = 0; i < t->nitems; i++)
            lw_assign(t->items[i], v->items[i], loc);
        return;
    case E_INDEX: {
        Value *b = lw_eval(t->lhs);
        if (b->kind == V_TENSOR) {
            Value *at = index_tensor(b, t);
            if (at->tflags & TV_GATHERED)
                error_at(loc, "assignment through an index tensor (index_put_) is not supported yet; use index_add_ "
                              "or scatter_add_");
            if (at->tflags & TV_SELECTED)
                assign_selected(at, v, loc);
            else
                assign_into(at, v, loc);
            return;
        }
        if (b->kind == V_PGROUP && t->nitems == 1) {
            param_group_set(b->optim, (int)b->i, lw_eval(t->items[0]), v, loc);
            return;
        }
        if (b->kind == V_DICT && t->nitems == 1) {
            dict_set(b, lw_eval(t->items[0]), v, t->items[0]->loc);
            return;
        }
        if (b->kind == V_LIST && t->nitems == 1) {
            container_write_check(b, t->loc);
            int64_t i = int_arg(lw_eval(t->items[0]), t->items[0]->loc, "an index");
            if (i < -b->n || i >= b->n)
                error_at(t->loc, "list index %lld out of range", (long long)i);
            b->items[i < 0 ? i + b->n : i] = v;
            return;
        }
        error_at(t->loc, "cannot assign into %s", kind_name(b));
    }
    case E_ATTR: {
        Value *b = lw_eval(t->lhs);
        if (b->kind == V_TENSOR && !strcmp(t->str, "requires_grad")) {
            set_requires_grad(b, bool_arg(v, loc, "requires_grad"), loc);
            return;
        }
        if (b->kind == V_MODULE && v->kind == V_MODULE) {
            add_child(b->mod, t->str, v->mod);
            if (b->mod->env)
                lw_bind(b->mod->env, t->str, v); /* the forward pass sees the new layer */
            name_params(b->mod, b->mod->path);
            return;
        }
        error_at(t->loc, "cannot assign to attribute '%s' of %s", t->str, kind_name(b));
    }
    default:
        error_at(t->loc, "cannot assign to this expression");
    }
}

/* An if's condition: a value known at compile time (a number, a bool, None, a string), never a
 * tensor, since the graph has no branches. */
static bool truth(Value *c, Expr *e) {
    switch (c->kind) {
    case V_BOOL: case V_INT: return c->i != 0;
    case V_FLOAT: return c->f != 0;
    case V_NONE: return false;
    case V_STR: return *c->s != 0;
    case V_TENSOR:
        error_at(e->loc, "an 'if' in a model must be known at compile time (a number or a bool); this is a tensor, "
                         "whose value exists only when the program runs (a forward pass is one graph; a "
                         "program's if may test a tensor)");
    default:
        error_at(e->loc, "an 'if' condition must be a number or a bool, not %s", kind_name(c));
    }
}

bool lw_condition(Expr *e) { return truth(lw_eval(e), e); }

/* The branch an if takes; in a model's forward pass without its layer declarations, which the
 * constructor ran (construct_model). */
static void exec_if(Stmt *s) {
    Value *c = lw_eval(s->value);
    if (!L.in_forward && L.prog_name && c->kind == V_TENSOR) { /* in a program: at run time */
        exec_if_runtime(s, c);
        return;
    }
    bool yes = truth(c, s->value);
    Stmt **b = yes ? s->body : s->orelse;
    int n = yes ? s->nbody : s->norelse;
    if (!L.in_forward) {
        exec_block(b, n);
        return;
    }
    Stmt **fwd = ir_alloc(sizeof(Stmt *) * (size_t)(n + 1));
    int k = 0;
    for (int i = 0; i < n; i++)
        if (!is_layer_decl(b[i]))
            fwd[k++] = b[i];
    exec_block(fwd, k);
}

/* x = a if c else b, as the if statement it means: `if c { x = a } else { x = b }`, so that c may be
 * a value known only when the program runs (then each branch is a segment, as an if's are). */
static Stmt *cond_assign(Stmt *s) {
    Expr *e = s->value;
    Stmt *ifs = ir_alloc(sizeof(Stmt)), **branch = ir_alloc(sizeof(Stmt *) * 2);
    for (int k = 0; k < 2; k++) {
        branch[k] = ir_alloc(sizeof(Stmt));
        *branch[k] = *s;
        branch[k]->value = k ? e->rhs : e->lhs;
    }
    *ifs = (Stmt){.kind = S_IF, .loc = s->loc, .value = e->items[0], .body = &branch[0], .nbody = 1,
                  .orelse = &branch[1], .norelse = 1};
    return ifs;
}

/* One statement; x += y on a tensor updates it in place, as PyTorch does. */
static void exec_stmt(Stmt *s) {
    switch (s->kind) {
    case S_IF:
        exec_if(s);
        return;
    case S_EXPR:
        lw_eval(s->value);
        return;
    case S_FOR: case S_WHILE: case S_BREAK: case S_CONTINUE:
        if (L.in_forward || !L.prog_name)
            error_at(s->loc, "loops are for programs: a model's forward pass is one graph (write the layers out)");
        if (s->kind == S_FOR)
            exec_for(s);
        else if (s->kind == S_WHILE)
            exec_while(s);
        else if (s->kind == S_BREAK)
            exec_break(s);
        else
            exec_continue(s);
        return;
    case S_WITH:
        exec_with(s);
        return;
    case S_RETURN:
        def_return(s);
        return;
    case S_ASSIGN: {
        if (s->value->kind == E_COND && !strcmp(s->op, "=") && L.prog_name && !L.in_forward) {
            exec_if(cond_assign(s)); /* x = a if c else b: c may be known only at run time */
            return;
        }
        Value *v = lw_eval(s->value);
        if (!strcmp(s->op, "=")) {
            lw_assign(s->target, v, s->loc);
            return;
        }
        const char *op = ir_strndup(s->op, strlen(s->op) - 1); /* "+=" -> "+" */
        Value *cur = lw_eval(s->target);
        /* x[k] += y is x[k] = x[k] + y: an assignment through the index tensor, which the copy that
         * x[k] gives would swallow without a word */
        if (cur->kind == V_TENSOR && (cur->tflags & TV_GATHERED) && s->target->kind == E_INDEX)
            error_at(s->loc, "assignment through an index tensor (index_put_) is not supported yet; use index_add_ "
                             "or scatter_add_");
        if (cur->kind == V_TENSOR && (cur->tflags & TV_SELECTED)) { /* x[i] += y: through x */
            int r = inplace_result(cur, lw_binop(op, cur, v, s->loc)->node, s->loc);
            assign_selected(cur, lw_result(r, NULL, NULL), s->loc);
            return;
        }
        if (cur->kind == V_TENSOR && !(cur->tflags & TV_PYSCALAR)) {
            /* x += y updates x in place, as PyTorch does */
            Value *r = lw_binop(op, cur, v, s->loc);
            write_through(cur, inplace_result(cur, r->node, s->loc), s->loc);
            return;
        }
        lw_assign(s->target, lw_binop(op, cur, v, s->loc), s->loc);
        return;
    }
    }
}

/* The names a failed assignment would have bound become V_ERROR, so their uses stay quiet. */
static void poison_expr(Expr *t) {
    if (t->kind == E_NAME)
        lw_bind(L.scope, t->str, lw_mk(V_ERROR));
    else if (t->kind == E_TUPLE)
        for (int i = 0; i < t->nitems; i++)
            poison_expr(t->items[i]);
}

static void poison_targets(Stmt *s) {
    if (s->kind == S_ASSIGN && !strcmp(s->op, "="))
        poison_expr(s->target);
}

void exec_block(Stmt **body, int n) {
    for (int i = 0; i < n && !L.ret; i++) {
        jmp_buf here, *outer = diag_catch;
        /* the state a failed statement (maybe deep in a model's forward pass) must not leave behind */
        Scope *scope = L.scope;
        int depth = L.depth_guard, edepth = L.eval_depth, ncall = L.ncallers, ndefs = L.ndefs, nheld = L.nheld,
            nbuilding = L.nbuilding;
        struct Carry *def_carry = L.def_carry, *carry = L.carry;
        HostBlock *host = L.host;
        bool in_def = L.in_def, no_grad_block = L.no_grad_block;
        /* An error in one statement of a program does not hide the errors of the next ones; in a
         * def's body it ends the call (defs.c), as Python's would. */
        bool recovers = !L.in_forward && !L.ndefs;
        if (recovers && setjmp(here)) {
            diag_catch = outer;
            L.scope = scope;
            L.ret = NULL;
            L.in_forward = false;
            L.depth_guard = depth;
            L.nbuilding = nbuilding;
            L.eval_depth = edepth;
            L.ncallers = ncall;
            L.no_grad = false;
            L.ndefs = ndefs;
            L.nheld = nheld;
            L.def_carry = def_carry;
            L.in_def = in_def;
            L.carry = carry; /* an error deep in loops inside a def: their bookkeeping unwinds too */
            L.host = host;
            L.no_grad_block = no_grad_block;
            L.def_repeat = 0;
            if (diag_nerrors > 20)
                error_at(body[i]->loc, "too many errors; giving up");
            poison_targets(body[i]);
            continue;
        }
        if (recovers)
            diag_catch = &here;
        exec_stmt(body[i]);
        L.nheld = nheld; /* what the statement evaluated is no longer held */
        diag_catch = outer;
    }
}
