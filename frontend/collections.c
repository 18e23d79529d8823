/*
 * collections.c: Python's containers as a program uses them: conditional expressions, list,
 * generator and dict comprehensions, dicts, zip(), range() as a sequence, str.join, and strings
 * chosen at run time from a table the compiler knows (classes[labels[j]]).
 *
 * Everything here is compile-time structure around values that may be run-time tensors: a
 * comprehension is unrolled (its sequence is known: a list, a range, a dict's keys, a tensor's
 * rows), a dict has compile-time keys. Two things reach into run time:
 *   - classes[t], a tuple or list of strings indexed by a tensor holding an int, is run-time text:
 *     a hole that prints table[t] (print checks the index, as Python's IndexError does);
 *   - d[key] where the key is such a string (or a run-time int): the dict's values, numbers, move
 *     into one tensor (a storage group of their own), and the key selects its element at run time,
 *     so correct_pred[classes[label]] += 1 counts per class in a loop.
 */
#include "lower.h"

#include <string.h>

static Expr *int_expr(int64_t k, SrcLoc loc) {
    Expr *e = ir_alloc(sizeof(Expr));
    e->kind = E_INT;
    e->loc = loc;
    e->ival = k;
    return e;
}

/* t[k] for a compile-time k: a view, as index_tensor makes it. */
static Value *element(Value *t, int64_t k, SrcLoc loc) {
    Expr ix = {.kind = E_INDEX, .loc = loc, .nitems = 1};
    Expr *it = int_expr(k, loc);
    ix.items = &it;
    return index_tensor(t, &ix);
}

/* ---- iteration at compile time ---- */

/* The items a compile-time loop over v sees: a list's or tuple's items, a dict's keys, a tensor's
 * rows (views), a string's characters. */
Value **iter_items(Value *v, int *n, SrcLoc loc) {
    switch (v->kind) {
    case V_LIST: case V_TUPLE:
        *n = v->n;
        return v->items;
    case V_DICT:
        *n = v->self->n;
        return v->self->items;
    case V_SIZE: {
        Value **r = ir_alloc(sizeof(Value *) * (size_t)(v->shape.rank + 1));
        for (int i = 0; i < v->shape.rank; i++)
            r[i] = mk_int(v->shape.d[i]);
        *n = v->shape.rank;
        return r;
    }
    case V_TENSOR: {
        Node *t = TN(v);
        if (t->shape.rank == 0)
            error_at(loc, "iteration over a 0-d tensor");
        if (t->shape.d[0] > 4096)
            error_at(loc, "a loop over the %lld rows of a tensor is unrolled at compile time: at most 4096 rows",
                     (long long)t->shape.d[0]);
        Value **r = ir_alloc(sizeof(Value *) * (size_t)(t->shape.d[0] + 1));
        for (int64_t i = 0; i < t->shape.d[0]; i++)
            r[i] = element(v, i, loc);
        *n = (int)t->shape.d[0];
        return r;
    }
    default:
        error_at(loc, "cannot iterate over %s at compile time", kind_name(v));
    }
}

static Value *dict_made(Value *d, SrcLoc loc);

/* ---- expressions ---- */

Value *eval_cond(Expr *e) {
    Value *c = lw_eval(e->items[0]);
    if (c->kind == V_TENSOR)
        error_at(e->items[0]->loc, "a conditional expression ('a if c else b') on a value known only at run time is "
                                   "supported as a whole assignment (x = a if c else b); elsewhere, use an if "
                                   "statement");
    bool yes = c->kind == V_FLOAT ? c->f != 0
               : c->kind == V_INT || c->kind == V_BOOL ? c->i != 0
               : c->kind == V_NONE ? false
               : c->kind == V_STR ? *c->s != 0
               : c->kind == V_LIST || c->kind == V_TUPLE ? c->n != 0
               : c->kind == V_DICT ? c->self->n != 0
                                   : true;
    return lw_eval(yes ? e->lhs : e->rhs);
}

/* [elt for target in seq if cond], (elt for ...), {key: value for ...}: unrolled, in a scope of
 * its own (Python 3's), so the target does not leak. */
Value *eval_comprehension(Expr *e) {
    Value *seq = lw_eval(e->items[1]);
    int n;
    Value **items = iter_items(seq, &n, e->items[1]->loc);
    bool dict = !strcmp(e->str, "dict");
    Value *r = lw_mk(dict ? V_DICT : V_LIST);
    r->born = L.carry;
    if (dict) {
        r->self = lw_mk(V_TUPLE);
    }
    Scope *saved = L.scope;
    push_scope();
    for (int i = 0; i < n; i++) {
        lw_assign(e->items[0], items[i], e->loc);
        if (e->nitems > 2) {
            Value *c = lw_eval(e->items[2]);
            if (c->kind == V_TENSOR)
                error_at(e->items[2]->loc, "a comprehension's condition must be known at compile time");
            if (!(c->kind == V_FLOAT ? c->f != 0 : c->kind == V_INT || c->kind == V_BOOL ? c->i != 0 : c->kind != V_NONE))
                continue;
        }
        if (dict)
            dict_set(r, lw_eval(e->lhs), lw_eval(e->rhs), e->loc);
        else
            list_append(r, lw_eval(e->lhs));
    }
    L.scope = saved;
    return dict ? dict_made(r, e->loc) : r;
}

Value *eval_dict(Expr *e) {
    Value *d = lw_mk(V_DICT);
    d->born = L.carry;
    d->self = lw_mk(V_TUPLE);
    for (int i = 0; i + 1 < e->nitems; i += 2)
        dict_set(d, lw_eval(e->items[i]), lw_eval(e->items[i + 1]), e->items[i]->loc);
    d->i = L.nsegs;
    return d;
}

void list_append(Value *l, Value *v) {
    if (l->n >= l->cap) { /* doubling: a range() of 100,000 items is linear, not quadratic */
        l->cap = l->n < 8 ? 8 : 2 * l->n;
        Value **it = ir_alloc(sizeof(Value *) * (size_t)l->cap);
        if (l->n)
            memcpy(it, l->items, sizeof(Value *) * (size_t)l->n);
        l->items = it;
    }
    l->items[l->n++] = v;
}

/* ---- strings picked at run time ---- */

/* A text that is one table hole: classes[t]. */
static bool table_hole(Value *v) {
    return v->kind == V_TEXT && v->n == 1 && v->items[0]->kind == V_TUPLE && v->items[0]->n == 3;
}

/* seq[t]: a tuple or list of strings indexed by a run-time int: run-time text. */
Value *pick_string(Value *seq, Value *t, SrcLoc loc) {
    Node *n = TN(t);
    if (n->shape.rank != 0 || dtype_is_float(n->dtype) || n->dtype == DT_BOOL)
        error_at(loc, "%s index must be an integer, not %s", seq->kind == V_LIST ? "list" : "tuple",
                 type_str(n->dtype, n->shape));
    for (int i = 0; i < seq->n; i++)
        if (seq->items[i]->kind != V_STR)
            error_at(loc, "a %s indexed by a value known only at run time must hold strings (item %d is %s)",
                     seq->kind == V_LIST ? "list" : "tuple", i, kind_name(seq->items[i]));
    if (seq->n == 0)
        error_at(loc, "%s index out of range", seq->kind == V_LIST ? "list" : "tuple");
    Value *snap = lw_mk(V_TENSOR);
    *snap = *t;
    snap->group = new_group(lw_cast(t->node, DT_I64, loc));
    snap->node = L.group_base[snap->group];
    snap->nchain = 0;
    snap->tflags = TV_PYSCALAR;
    Value *hole = lw_mk(V_TUPLE);
    hole->n = 3;
    hole->items = ir_alloc(sizeof(Value *) * 3);
    hole->items[0] = snap;
    hole->items[1] = mk_str("s");
    hole->items[2] = seq;
    Value *text = text_new();
    text_push(text, hole);
    return text;
}

/* format(classes[t], spec): the hole with that spec. */
Value *format_table_text(Value *v, const char *spec, SrcLoc loc) {
    if (!spec || !*spec)
        return v;
    if (!table_hole(v))
        error_at(loc, "a format specifier on text made at run time is not supported (only on one string "
                      "picked from a table, such as classes[labels[j]])");
    for (const char *p = spec; *p; p++)
        if (!strchr("<>0123456789.s", *p))
            error_at(loc, "format specifier '%s' for a string picked at run time: only [<>][width][.precision][s]",
                     spec);
    Value *h = lw_mk(V_TUPLE);
    *h = *v->items[0];
    h->items = ir_alloc(sizeof(Value *) * 3);
    memcpy(h->items, v->items[0]->items, sizeof(Value *) * 3);
    h->items[1] = mk_str(ir_fmt("s:%s", spec));
    Value *text = text_new();
    text_push(text, h);
    return text;
}

/* A list or dict of compile-time entries is the compiler's: changed inside a loop or an if decided
 * at run time (that it was made outside of), the change would happen once, when the body is
 * compiled, not on each pass or only when the branch runs. So it is an error there. */
void container_write_check(Value *c, SrcLoc loc) {
    if (!L.carry || c->born == L.carry)
        return;
    if (c->kind == V_DICT)
        error_at(loc, "a dict made before a loop or an if decided at run time cannot change inside it (its "
                      "entries are the compiler's): make it with a comprehension of numbers ({k: 0 for k in "
                      "keys}), which lives at run time, or use variables");
    error_at(loc, "a list made before a loop or an if decided at run time cannot change inside it (its items "
                  "are the compiler's): use a tensor (x[i] = v), or variables");
}

/* ---- dicts: compile-time keys ---- */

static bool same_key(Value *a, Value *b) {
    if (is_scalar(a) && is_scalar(b))
        return num(a) == num(b);
    if (a->kind == V_STR && b->kind == V_STR)
        return !strcmp(a->s, b->s);
    if ((a->kind == V_TUPLE && b->kind == V_TUPLE) && a->n == b->n) {
        for (int i = 0; i < a->n; i++)
            if (!same_key(a->items[i], b->items[i]))
                return false;
        return true;
    }
    return false;
}

static int key_index(Value *d, Value *key) {
    for (int i = 0; i < d->self->n; i++)
        if (same_key(d->self->items[i], key))
            return i;
    return -1;
}

static void check_key(Value *key, SrcLoc loc) {
    if (is_scalar(key) || key->kind == V_STR)
        return;
    if (key->kind == V_TUPLE) {
        for (int i = 0; i < key->n; i++)
            check_key(key->items[i], loc);
        return;
    }
    error_at(loc, "a dict key must be a number, a string or a tuple of them known at compile time, not %s",
             kind_name(key));
}

/* The dict's values move into one tensor, each value a view of its element: a run-time key can
 * then select one. The values must be numbers of one kind now. */
static Value *dict_tensor(Value *d, SrcLoc loc) {
    if (d->dtensor) { /* its group's current contents (the values, views of it, keep it live) */
        Value *t = lw_mk(V_TENSOR);
        t->group = d->dtensor->group;
        t->node = L.group_base[t->group];
        return t;
    }
    if (L.prog_name && d->i != L.nsegs)
        error_at(loc, "a dict literal first indexed by a key known only at run time inside a loop or an if: make "
                      "it with a comprehension ({k: 0 for k in keys}), which lives at run time from the start");
    bool fl = false;
    for (int i = 0; i < d->n; i++) {
        Value *v = d->items[i];
        if (!is_scalar(v))
            error_at(loc, "a dict indexed by a key known only at run time must hold numbers known at compile time "
                          "when it is first indexed so (value %d is %s)", i, kind_name(v));
        fl |= v->kind == V_FLOAT;
    }
    Value *list = lw_mk(V_LIST);
    list->n = d->n;
    list->items = d->items;
    Value *dt = lw_mk(V_DTYPE);
    dt->dt = fl ? DT_F64 : DT_I64;
    Value *t = tensor_literal(list, dt, false, loc);
    t->tflags = 0;
    if (t->nchain)
        die("dict_tensor: a literal is a view");
    d->dtensor = t;
    for (int i = 0; i < d->n; i++) {
        d->items[i] = element(t, i, loc);
        d->items[i]->tflags |= TV_PYSCALAR;
    }
    return t;
}

/* A dict a comprehension just made: in a program, one of numbers (counters, {c: 0 for c in
 * classes}) lives at run time from the start, a tensor of its values, so a run-time key may index
 * it inside any loop or if. A dict literal stays compile-time ({'lr': 0.01} configures), until a
 * run-time key indexes it where it was made. */
static Value *dict_made(Value *d, SrcLoc loc) {
    d->i = L.nsegs;
    if (!L.prog_name || L.in_forward || !d->n)
        return d;
    for (int i = 0; i < d->n; i++)
        if (!is_scalar(d->items[i]))
            return d;
    dict_tensor(d, loc);
    return d;
}

/* The index into the dict's tensor of a run-time key: the key's table index mapped to the dict's
 * order (through a constant table unless they agree). */
static int runtime_position(Value *d, Value *key, SrcLoc loc) {
    if (key->kind == V_TENSOR) { /* an int known at run time: the keys must be 0 .. n-1 in order */
        for (int i = 0; i < d->self->n; i++)
            if (d->self->items[i]->kind != V_INT || d->self->items[i]->i != i)
                error_at(loc, "a dict indexed by an int known only at run time must have the keys 0 .. n-1 in order");
        return lw_cast(key->node, DT_I64, loc);
    }
    Value *hole = key->items[0], *table = hole->items[2];
    int64_t *map = ir_alloc(sizeof(int64_t) * (size_t)(table->n + 1));
    bool identity = table->n == d->self->n;
    for (int i = 0; i < table->n; i++) {
        map[i] = key_index(d, table->items[i]);
        if (map[i] < 0)
            error_at(loc, "KeyError: '%s' (a string this key may be) is not a key of the dict", table->items[i]->s);
        identity &= map[i] == i;
    }
    int idx = hole->items[0]->node;
    if (identity)
        return idx;
    Value *ml = lw_mk(V_LIST);
    ml->n = table->n;
    ml->items = ir_alloc(sizeof(Value *) * (size_t)table->n);
    for (int i = 0; i < table->n; i++)
        ml->items[i] = mk_int(map[i]);
    Value *m = tensor_literal(ml, NULL, false, loc);
    Attr ax = attr_int("axis", 0);
    int in[2] = {m->node, idx};
    return lw_add(OP_SELECT, in, 2, DT_F32, shape_scalar(), &ax, 1, loc);
}

static bool runtime_key(Value *key) {
    return table_hole(key) || (key->kind == V_TENSOR && TN(key)->shape.rank == 0 && !dtype_is_float(TN(key)->dtype));
}

Value *dict_get(Value *d, Value *key, SrcLoc loc) {
    if (runtime_key(key)) {
        Value *t = dict_tensor(d, loc);
        Attr ax = attr_int("axis", 0);
        int in[2] = {t->node, runtime_position(d, key, loc)};
        Value *sel = lw_result(lw_add(OP_SELECT, in, 2, DT_F32, shape_scalar(), &ax, 1, loc), t, NULL);
        sel->tflags |= TV_SELECTED | TV_PYSCALAR;
        sel->self = t;
        return sel;
    }
    check_key(key, loc);
    int i = key_index(d, key);
    if (i < 0)
        error_at(loc, "KeyError: %s", key->kind == V_STR ? ir_fmt("'%s'", key->s) : value_str(key, loc));
    return d->items[i];
}

void dict_set(Value *d, Value *key, Value *v, SrcLoc loc) {
    if (runtime_key(key)) {
        assign_selected(dict_get(d, key, loc), v, loc);
        return;
    }
    check_key(key, loc);
    int i = key_index(d, key);
    if (!d->dtensor)
        container_write_check(d, loc);
    if (i >= 0 && d->dtensor) { /* its element, in place */
        assign_into(d->items[i], v, loc);
        return;
    }
    if (d->dtensor)
        error_at(loc, "a new key in a dict that a run-time key has indexed is not supported");
    if (i >= 0) {
        d->items[i] = v;
        return;
    }
    list_append(d->self, key);
    list_append(d, v);
}

/* ---- builtins ---- */

/* d.items(), d.keys(), d.values(): lists now (Python's views are live; a loop over one that the
 * body changes is not supported), printed as Python prints the view (dict_keys([...]), or
 * odict_keys([...]) of a state_dict, an OrderedDict). */
Value *bi_dict_view(Args *a) {
    Value *d = lw_req(a, 0, "self");
    DONE(a, 1, "self");
    Value *r = lw_mk(V_LIST);
    r->s = ir_fmt("%s_%s", d->s ? "odict" : "dict", a->code == 0 ? "items" : a->code == 1 ? "keys" : "values");
    for (int i = 0; i < d->n; i++)
        list_append(r, a->code == 0 ? lw_tuple2(d->self->items[i], d->items[i]) : a->code == 1 ? d->self->items[i] : d->items[i]);
    return r;
}

/* zip(a, b, ...): tuples, as long as the shortest. */
Value *bi_zip(Args *a) {
    args_done(a, a->npos, NULL, 0);
    int n = -1;
    Value ***its = ir_alloc(sizeof(Value **) * (size_t)(a->npos + 1));
    for (int k = 0; k < a->npos; k++) {
        int m;
        its[k] = iter_items(a->pos[k], &m, a->loc);
        n = n < 0 || m < n ? m : n;
    }
    Value *r = lw_mk(V_LIST);
    for (int i = 0; i < (n < 0 ? 0 : n); i++) {
        Value *t = lw_mk(V_TUPLE);
        for (int k = 0; k < a->npos; k++)
            list_append(t, its[k][i]);
        list_append(r, t);
    }
    return r;
}

/* range(...) outside a for loop's head: a list of ints (at most a million). */
Value *bi_range(Args *a) {
    int64_t v[3] = {0, 0, 1};
    args_done(a, 3, NULL, 0);
    if (a->npos < 1)
        error_at(a->loc, "range expected at least 1 argument, got 0");
    for (int i = 0; i < a->npos; i++) {
        if (a->pos[i]->kind == V_TENSOR)
            error_at(a->loc, "range() of a value known only at run time is for a for loop's head");
        v[a->npos == 1 ? 1 : i] = int_arg(a->pos[i], a->loc, "a range bound");
    }
    if (v[2] == 0)
        error_at(a->loc, "range() arg 3 must not be zero");
    Value *r = lw_mk(V_LIST);
    for (int64_t x = v[0]; v[2] > 0 ? x < v[1] : x > v[1]; x += v[2]) {
        if (r->n >= 100000)
            error_at(a->loc, "range() as a sequence (not a for loop's) is made at compile time: at most 100,000 "
                             "items");
        list_append(r, mk_int(x));
    }
    return r;
}

/* sep.join(iterable): a string, or run-time text when an item is one */
Value *bi_join(Args *a) {
    Value *sep = lw_req(a, 0, "self"), *seq = lw_req(a, 1, "iterable");
    DONE(a, 2, "self", "iterable");
    int n;
    Value **items = iter_items(seq, &n, a->loc);
    Value *t = text_new();
    bool runtime = false;
    for (int i = 0; i < n; i++) {
        if (items[i]->kind != V_STR && items[i]->kind != V_TEXT)
            error_at(a->loc, "sequence item %d: expected str instance, %s found", i,
                     items[i]->kind == V_INT ? "int" : items[i]->kind == V_FLOAT ? "float"
                     : items[i]->kind == V_BOOL ? "bool" : items[i]->kind == V_TENSOR ? "Tensor" : kind_name(items[i]));
        runtime |= items[i]->kind == V_TEXT;
        if (i)
            text_push(t, sep);
        text_append(t, items[i], NULL, a->loc);
    }
    return text_or_string(t, runtime);
}
