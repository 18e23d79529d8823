/*
 * defs.c: user functions.
 *
 * `def evaluate(net, loader) { ... }` at the top level of a file is a Python function. tgc
 * specialises it per call: each call runs the body at compile time in a scope of its own, with
 * the arguments bound to the parameters (modules, optimizers and tensors by reference, as Python
 * passes them), so a tensor argument of another shape gets code of its own, and the loops and
 * ifs inside become the caller's run-time control flow. A parameter declared with a tensor type
 * (`x: f32[B, 784]`) checks its argument as a model's input does.
 *
 * The body sees its parameters and the file's models and defs, not a program's variables (a
 * program's body is Python's main, not its module scope). `return` ends the body; inside a loop
 * or an if decided at run time it is an error for now (the value would have to be carried out).
 */
#include "lower.h"

#include <string.h>

/* Binds each parameter: by position, by keyword, or its default (evaluated in the file's scope). */
static void bind_params(Decl *d, Args *a, Scope *fs) {
    const char *known[64];
    int nknown = 0;
    for (int i = 0; i < d->nparams; i++) {
        Param *p = &d->params[i];
        if (nknown < 64)
            known[nknown++] = p->name;
        Value *v = lw_arg(a, i, p->name, NULL);
        if (!v) {
            if (!p->dflt)
                error_at(a->loc, "%s() missing required argument '%s'", d->name, p->name);
            Scope *caller = L.scope;
            L.scope = L.globals;
            v = lw_eval(p->dflt);
            L.scope = caller;
        }
        if (is_tensor_type(p->type))
            check_input(p, v, fs, a->loc, ir_fmt("%s()", d->name));
        else if (p->type && p->type->kind == E_NAME) { /* net: Net, a model of that class */
            Binding *b = find_in(L.globals, p->type->str);
            if (!b || b->v->kind != V_CLASS)
                error_at(p->type->loc, "'%s' is not a model or a tensor type", p->type->str);
            if (v->kind != V_MODULE || (b->v->decl ? v->mod->decl != b->v->decl : strcmp(v->mod->cls, b->v->s)))
                error_at(a->loc, "%s() expects %s: %s, got %s", d->name, p->name, p->type->str, kind_name(v));
        }
        lw_bind(fs, p->name, v);
    }
    args_done(a, d->nparams, known, nknown);
}

static bool same_loc(SrcLoc a, SrcLoc b) { return a.file == b.file && a.line == b.line && a.col == b.col; }

/* The body. The first error inside ends the call (no statement after it runs, as in Python) and
 * names it, like a traceback; a call that repeats its caller's (recursion) is counted into one
 * note. The statement that made the outermost call recovers (exec_block). */
static void run_body(Decl *d, SrcLoc call) {
    jmp_buf here, *outer = diag_catch;
    diag_catch = &here;
    if (setjmp(here)) {
        diag_catch = outer;
        int k = --L.ndefs; /* this call's frame, popped: its caller's is k - 1 */
        if (k > 0 && L.defs[k - 1] == d && same_loc(L.def_calls[k - 1], call))
            L.def_repeat++;
        else {
            if (L.def_repeat)
                diag_note(call, "in %s(), called here, %d times in a row", d->name, L.def_repeat + 1);
            else
                diag_note(call, "in %s(), called here", d->name);
            L.def_repeat = 0;
        }
        diag_stop();
    }
    exec_block(d->body, d->nbody);
    diag_catch = outer;
}

Value *def_call(Decl *d, Args *a) {
    if (L.ndefs >= (int)(sizeof L.defs / sizeof L.defs[0]) || L.depth_guard >= 64)
        error_at(a->loc, "calls nested more than 64 deep (does '%s' call itself?)", d->name);
    d->used = true;
    L.depth_guard++;
    Scope *saved = L.scope;
    L.callers[L.ncallers++] = saved;
    L.scope = L.globals;
    Scope *fs = push_scope();
    bind_params(d, a, fs);
    Value *saved_ret = L.ret;
    struct Carry *saved_carry = L.def_carry;
    bool saved_in_def = L.in_def;
    L.in_def = true;
    L.ret = NULL;
    L.def_carry = L.carry;
    L.defs[L.ndefs] = d;
    L.def_calls[L.ndefs++] = a->loc;
    run_body(d, a->loc);
    Value *r = L.ret ? L.ret : lw_mk(V_NONE);
    L.ndefs--;
    L.def_carry = saved_carry;
    L.in_def = saved_in_def;
    L.ret = saved_ret;
    L.scope = saved;
    L.ncallers--;
    L.depth_guard--;
    return r;
}

void def_return(Stmt *s) {
    if (!L.in_forward && !L.in_def)
        error_at(s->loc, "'return' outside a model or a def");
    if (L.in_def && L.carry != L.def_carry)
        error_at(s->loc, "'return' inside a loop or an if decided at run time is not supported yet: assign "
                         "the result to a variable and return it after the loop");
    L.ret = s->value ? lw_eval(s->value) : lw_mk(V_NONE);
}
