/*
 * values.c: compile-time values and scopes.
 *
 * Whatever an expression evaluates to is a Value: a Python number, string, list or tuple, a
 * dtype, a module or a module class, a function, an optimizer, or a tensor (a node of the
 * graph in a storage group, see graph.c). Names are bound in scopes, looked up innermost
 * first: a program's or a forward pass's own, then a model's constructor arguments and
 * layers, then the globals.
 */
#include "lower.h"

#include <string.h>

/* ---- values ---- */

Value *lw_mk(VKind k) {
    Value *v = ir_alloc(sizeof(Value));
    v->kind = k;
    v->node = -1;
    v->group = -1;
    return v;
}

Value *mk_int(int64_t i) { Value *v = lw_mk(V_INT); v->i = i; return v; }
Value *mk_float(double f) { Value *v = lw_mk(V_FLOAT); v->f = f; return v; }
Value *mk_bool(bool b) { Value *v = lw_mk(V_BOOL); v->i = b; return v; }
Value *mk_str(const char *s) { Value *v = lw_mk(V_STR); v->s = s; return v; }

const char *kind_name(Value *v) {
    switch (v->kind) {
    case V_NONE: return "None";
    case V_INT: return "an int";
    case V_FLOAT: return "a float";
    case V_BOOL: return "a bool";
    case V_STR: return "a string";
    case V_TENSOR: return ir_fmt("a tensor %s", type_str(TN(v)->dtype, TN(v)->shape));
    case V_LIST: return "a list";
    case V_TUPLE: return "a tuple";
    case V_DTYPE: return "a dtype";
    case V_TYPE: return "a tensor type";
    case V_SIZE: return "a torch.Size";
    case V_DEVICE: return "a device";
    case V_MODULE: return ir_fmt("a module (%s)", v->mod->cls);
    case V_CLASS: return "a module class";
    case V_DEF: return "a function";
    case V_TRANSFORM: return "a transform";
    case V_DATASET: return "a dataset";
    case V_LOADER: return "a DataLoader";
    case V_ITER: return "a DataLoader iterator";
    case V_DICT: return "a dict";
    case V_STATEFILE: /* what it reads is known only when the program runs */
        return "a loaded checkpoint (load_state_dict reads it; a number in it, such as checkpoint['epoch'], "
               "cannot be read back yet)";
    case V_OPTIONS: return "the program's options";
    case V_OPTSTR: return "a string option";
    case V_FUNC: return "a function";
    case V_NAMESPACE: return "a namespace";
    case V_PYTYPE: return "a type";
    case V_TEXT: return "a formatted string";
    case V_ERROR: return "an error";
    case V_OPTIM: return ir_fmt("an optimizer (%s)", v->s);
    case V_SCHED: return ir_fmt("a learning-rate scheduler (%s)", v->s);
    case V_PGROUP: return "a parameter group (a dict)";
    }
    return "?";
}

/* ---- scopes ---- */

Scope *push_scope(void) {
    Scope *s = ir_alloc(sizeof(Scope));
    s->up = L.scope;
    L.scope = s;
    return s;
}

static unsigned name_hash(const char *s) {
    unsigned h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/* The index of a scope past 16 bindings (a program of thousands of variables would otherwise
 * look each one up in a list): rebuilt at twice the bindings whenever it is half full. */
static void reindex(Scope *s) {
    s->icap = 64;
    while (s->icap < 4 * s->n)
        s->icap *= 2;
    s->index = ir_alloc(sizeof(int) * (size_t)s->icap);
    for (int i = 0; i < s->icap; i++)
        s->index[i] = -1;
    for (int i = 0; i < s->n; i++) {
        unsigned h = name_hash(s->b[i].name) & (unsigned)(s->icap - 1);
        while (s->index[h] >= 0)
            h = (h + 1) & (unsigned)(s->icap - 1);
        s->index[h] = i; /* names are distinct within a scope (lw_bind) */
    }
}

Binding *find_in(Scope *s, const char *name) {
    if (s->index) {
        unsigned h = name_hash(name) & (unsigned)(s->icap - 1);
        for (; s->index[h] >= 0; h = (h + 1) & (unsigned)(s->icap - 1))
            if (!strcmp(s->b[s->index[h]].name, name))
                return &s->b[s->index[h]];
        return NULL;
    }
    for (int i = s->n - 1; i >= 0; i--)
        if (!strcmp(s->b[i].name, name))
            return &s->b[i];
    return NULL;
}

void lw_bind(Scope *s, const char *name, Value *v) {
    Binding *b = find_in(s, name);
    if (b) {
        b->v = v;
        return;
    }
    if (s->n == s->cap) {
        int cap = s->cap ? s->cap * 2 : 16;
        Binding *nb = ir_alloc(sizeof(Binding) * (size_t)cap);
        if (s->n)
            memcpy(nb, s->b, sizeof(Binding) * (size_t)s->n);
        s->b = nb;
        s->cap = cap;
    }
    s->b[s->n++] = (Binding){name, v};
    if (s->n > 16 && (!s->index || 2 * s->n > s->icap))
        reindex(s);
    else if (s->index) {
        unsigned h = name_hash(name) & (unsigned)(s->icap - 1);
        while (s->index[h] >= 0)
            h = (h + 1) & (unsigned)(s->icap - 1);
        s->index[h] = s->n - 1;
    }
}
