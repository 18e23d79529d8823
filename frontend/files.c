/*
 * files.c: what a program reads and writes: .npy tensors (load, save), a model's tensors by name
 * (load_state from .npy files or a .safetensors file), PyTorch's checkpoint spellings:
 * net.state_dict(), torch.save(state_dict, PATH), net.load_state_dict(torch.load(PATH)), and its
 * command line: options(epochs=2, ...). Every read and write happens when its statement runs
 * (OP_LOAD, OP_SAVE); the paths are known at compile time.
 */
#include "lower.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static Value *load_npy(Value *path, DType dt, Shape s, SrcLoc loc) {
    if (path->kind != V_STR)
        error_at(loc, "load() needs a file path string, got %s", kind_name(path));
    if (!strstr(path->s, ".npy"))
        error_at(loc, "load() reads .npy files; '%s' does not end in .npy", path->s);
    Attr a = attr_str("path", path->s);
    return mk_tensor(lw_add(OP_LOAD, NULL, 0, dt, s, &a, 1, loc));
}

/*
 * load_state(net, "w.safetensors"): one LOAD per tensor, by its state_dict name (key). The first
 * also carries every name the model has (keys, one per line: a name never holds a newline), so
 * the run checks that the file holds exactly the model's tensors, as load_state_dict(strict=True).
 * With `under` ("model_state_dict.", from torch.load(PATH)['model_state_dict']), the names are
 * the model's under that prefix, and only the file's tensors under it must be the model's.
 */
static void load_state_safetensors(Value **ps, const char **names, int n, const char *path, const char *under,
                                   SrcLoc loc) {
    size_t len = 1;
    for (int i = 0; i < n; i++)
        len += strlen(under) + strlen(names[i]) + 1;
    char *keys = ir_alloc(len), *k = keys;
    for (int i = 0; i < n; i++)
        k += sprintf(k, "%s%s%s", i ? "\n" : "", under, names[i]);
    for (int i = 0; i < n; i++) {
        Node *p = TN(ps[i]);
        Attr at[4] = {attr_str("path", path), attr_str("key", ir_fmt("%s%s", under, names[i])), attr_str("keys", keys),
                      attr_str("under", under)};
        int nat = i ? 2 : *under ? 4 : 3;
        set_group(ps[i]->group, lw_add(OP_LOAD, NULL, 0, p->dtype, p->shape, at, nat, loc), loc);
    }
}

Value *bi_load_state(Args *a) {
    SrcLoc loc = a->loc;
    Value *m = lw_req(a, 0, "module"), *dir = lw_req(a, 1, "directory");
    DONE(a, 2, "module", "directory");
    if (m->kind != V_MODULE || dir->kind != V_STR)
        error_at(loc, "load_state(module, \"directory\") loads every parameter from directory/NAME.npy "
                      "(or load_state(module, \"file.safetensors\") from one file)");
    Value **ps = NULL;
    const char **names = NULL;
    int n = 0, nn = 0;
    collect_state(m->mod, &ps, &n);
    collect_state_names(m->mod, &names, &nn);
    size_t len = strlen(dir->s);
    if (len >= 12 && !strcmp(dir->s + len - 12, ".safetensors")) {
        load_state_safetensors(ps, names, n, dir->s, "", loc);
        return lw_mk(V_NONE);
    }
    for (int i = 0; i < n; i++) {
        Node *p = TN(ps[i]);
        Value *ld = load_npy(mk_str(ir_fmt("%s/%s.npy", dir->s, names[i])), p->dtype, p->shape, loc);
        set_group(ps[i]->group, ld->node, loc);
    }
    return lw_mk(V_NONE);
}

static void flatten_value(Value *v, const char *name, const char ***names, int **nodes, int *n, SrcLoc loc);

/* The tensors of a (nested) dict, flattened: keys joined by '.' (an int key, as the optimizer's
 * state has, by its digits), numbers as 0-d tensors. */
static void flatten_state(Value *d, const char *prefix, const char ***names, int **nodes, int *n, SrcLoc loc) {
    for (int i = 0; i < d->n; i++) {
        Value *k = d->self->items[i];
        if (k->kind != V_STR && k->kind != V_INT)
            error_at(loc, "torch.save: the dict's keys must be strings or ints (a key is %s)", kind_name(k));
        const char *ks = k->kind == V_STR ? k->s : ir_fmt("%lld", (long long)k->i);
        flatten_value(d->items[i], *prefix ? ir_fmt("%s.%s", prefix, ks) : ks, names, nodes, n, loc);
    }
}

/* An item of a number row: a number, or a number known only at run time (a 0-d tensor). */
static bool row_item(Value *v) {
    return is_scalar(v) || (v->kind == V_TENSOR && (v->tflags & TV_PYSCALAR) && TN(v)->shape.rank == 0);
}

/* A list or tuple of numbers (param_groups' params and betas, a scheduler's base_lrs) is one 1-D
 * tensor: i64, or f64 if one is a float; numbers known only at run time are concatenated. */
static int number_row(Value *v, SrcLoc loc) {
    bool fl = false, runtime = false;
    for (int i = 0; i < v->n; i++) {
        Value *x = v->items[i];
        fl |= x->kind == V_FLOAT || (x->kind == V_TENSOR && dtype_is_float(TN(x)->dtype));
        runtime |= x->kind == V_TENSOR;
    }
    DType dt = fl ? DT_F64 : DT_I64;
    int64_t len = v->n, one = 1;
    if (!runtime) {
        Attr a = data_attr("data", v->items, v->n, dt, loc);
        return lw_add(OP_CONST, NULL, 0, dt, shape_make(1, &len), &a, 1, loc);
    }
    int *in = ir_alloc(sizeof(int) * (size_t)v->n);
    for (int i = 0; i < v->n; i++) {
        Value *x = v->items[i];
        in[i] = lw_reshape(is_scalar(x) ? const_scalar(x, dt, loc) : lw_cast(x->node, dt, loc), shape_make(1, &one), loc);
    }
    Attr at = attr_int("axis", 0);
    return lw_add(OP_CAT, in, v->n, dt, shape_make(1, &len), &at, 1, loc);
}

/* v under name: a dict's tensors, a list's items by index (".0"), a tensor, a number; None holds
 * nothing (an optimizer's foreach). */
static void flatten_value(Value *v, const char *name, const char ***names, int **nodes, int *n, SrcLoc loc) {
    if (v->kind == V_DICT) {
        flatten_state(v, name, names, nodes, n, loc);
        return;
    }
    if (v->kind == V_NONE)
        return;
    bool row = (v->kind == V_LIST || v->kind == V_TUPLE) && v->n > 0;
    for (int i = 0; row && i < v->n; i++)
        row = row_item(v->items[i]);
    if ((v->kind == V_LIST || v->kind == V_TUPLE) && !row) {
        for (int i = 0; i < v->n; i++)
            flatten_value(v->items[i], ir_fmt("%s.%d", name, i), names, nodes, n, loc);
        return;
    }
    int node;
    if (row)
        node = number_row(v, loc);
    else if (is_scalar(v))
        node = const_scalar(v, v->kind == V_FLOAT ? DT_F64 : DT_I64, loc);
    else if (v->kind == V_TENSOR)
        node = v->node;
    else
        error_at(loc, "torch.save: '%s' is %s; a checkpoint holds tensors, numbers and dicts and lists of them",
                 name, kind_name(v));
    if (!strcmp(name, "__metadata__"))
        error_at(loc, "torch.save: a checkpoint cannot hold a tensor named __metadata__ (a .safetensors file keeps "
                      "that name for its metadata)");
    for (int j = 0; j < *n; j++)
        if (!strcmp((*names)[j], name))
            error_at(loc, "torch.save: the key '%s' appears twice once nested dicts are flattened", name);
    const char **nn = ir_alloc(sizeof(char *) * (size_t)(*n + 1));
    int *nd = ir_alloc(sizeof(int) * (size_t)(*n + 1));
    if (*n) {
        memcpy(nn, *names, sizeof(char *) * (size_t)*n);
        memcpy(nd, *nodes, sizeof(int) * (size_t)*n);
    }
    nn[*n] = name;
    nd[(*n)++] = node;
    *names = nn;
    *nodes = nd;
}

/* torch.save(obj, PATH): a dict of tensors (net.state_dict(), or a dict holding one, numbers and
 * other dicts) as a .safetensors file whatever PATH's extension, written atomically when the
 * statement runs; a tensor to a .npy PATH. save(PATH, tensor), tgc's older spelling, still works. */
Value *bi_save(Args *a) {
    SrcLoc loc = a->loc;
    Value *first = lw_req(a, 0, "obj"), *second = lw_req(a, 1, "f");
    DONE(a, 2, "obj", "f");
    if (first->kind == V_DICT && second->kind == V_STR) {
        const char **names = NULL;
        int *nodes = NULL, n = 0;
        flatten_state(first, "", &names, &nodes, &n, loc);
        if (!n)
            error_at(loc, "torch.save: the dict holds no tensor");
        const char *keys = "";
        for (int i = 0; i < n; i++) {
            if (strchr(names[i], '\n') || strchr(names[i], '"') || strchr(names[i], '\\'))
                error_at(loc, "torch.save: the key '%s' has a character a checkpoint name cannot hold", names[i]);
            keys = ir_fmt("%s%s%s", keys, i ? "\n" : "", names[i]);
        }
        Attr at[2] = {attr_str("path", second->s), attr_str("keys", keys)};
        lw_add(OP_SAVE, nodes, n, DT_F32, shape_scalar(), at, 2, loc);
        return lw_mk(V_NONE);
    }
    if (second->kind == V_TEXT || first->kind == V_TEXT)
        error_at(loc, "torch.save: the path must be known at compile time (a path made at run time, such as an "
                      "f-string of the epoch, is not supported yet)");
    Value *path = first, *t = second;
    if (first->kind == V_TENSOR && second->kind == V_STR)
        path = second, t = first;
    if (path->kind != V_STR || !strstr(path->s, ".npy"))
        error_at(loc, "save(path, tensor) writes a .npy file; give a path ending in .npy");
    tensor_arg(t, loc, "the saved value");
    Attr at = attr_str("path", path->s);
    lw_add(OP_SAVE, &t->node, 1, DT_F32, shape_scalar(), &at, 1, loc);
    return lw_mk(V_NONE);
}

Value *bi_load(Args *a) {
    SrcLoc loc = a->loc;
    Value *path = lw_req(a, 0, "path"), *ty = lw_arg(a, 1, "type", NULL);
    DONE(a, 2, "path", "type");
    if (!ty && path->kind == V_STR) { /* torch.load(PATH): read when load_state_dict says into what */
        Value *f = lw_mk(V_STATEFILE);
        f->s = path->s;
        return f;
    }
    if (!ty || ty->kind != V_TYPE)
        error_at(loc, "load(path, type) needs the tensor's declared type, e.g. load(\"x.npy\", f32[1, 32])");
    for (int i = 0; ty->sym && i < ty->shape.rank; i++)
        if (ty->sym[i])
            error_at(loc, "load(): the declared shape must be concrete, '%s' is symbolic", ty->sym[i]);
    return load_npy(path, ty->dt, ty->shape, loc);
}

/* net.state_dict(): its parameters and buffers by name, in PyTorch's order; optimizer.state_dict():
 * optim.c's. */
Value *bi_state_dict(Args *a) {
    Value *m = lw_req(a, 0, "module");
    DONE(a, 1, "module");
    if (m->kind == V_OPTIM)
        return optim_state_dict(m->optim, a->loc);
    if (m->kind == V_SCHED)
        return scheduler_state_dict(m->sched, a->loc);
    if (m->kind != V_MODULE)
        error_at(a->loc, "state_dict() of %s is not supported (only of a module or an optimizer)", kind_name(m));
    Value **ps = NULL;
    const char **names = NULL;
    int n = 0, nn = 0;
    collect_state(m->mod, &ps, &n);
    collect_state_names(m->mod, &names, &nn);
    Value *d = lw_mk(V_DICT);
    d->s = "OrderedDict"; /* as PyTorch's state_dict() prints: OrderedDict([('fc.weight', ...), ...]) */
    d->self = lw_mk(V_TUPLE);
    for (int i = 0; i < n; i++) { /* PyTorch's values: the same storage, detached */
        list_append(d->self, mk_str(names[i]));
        list_append(d, detach(ps[i], a->loc));
    }
    return d;
}

/* checkpoint['model_state_dict'] of checkpoint = torch.load(PATH): the part of the file that
 * torch.save flattened under that key, for load_state_dict. */
Value *statefile_get(Value *f, Value *key, SrcLoc loc) {
    if (key->kind != V_STR)
        error_at(loc, "a loaded checkpoint is indexed by a string key, e.g. checkpoint['model_state_dict'], not %s",
                 kind_name(key));
    Value *v = lw_mk(V_STATEFILE);
    v->s = f->s;
    v->self = mk_str(ir_fmt("%s%s.", f->self ? f->self->s : "", key->s));
    return v;
}

/* One part of a dotted name: a dict's key (a string, or an int as the optimizer's state has), a
 * list's index; NULL where v has none. */
static Value *state_part(Value *v, const char *part) {
    char *end;
    long long ix = strtoll(part, &end, 10);
    bool digits = *part && !*end;
    if (v->kind == V_DICT) {
        for (int i = 0; i < v->n; i++) {
            Value *k = v->self->items[i];
            if ((k->kind == V_STR && !strcmp(k->s, part)) || (k->kind == V_INT && digits && k->i == ix))
                return v->items[i];
        }
        return NULL;
    }
    if ((v->kind == V_LIST || v->kind == V_TUPLE) && digits && ix >= 0 && ix < v->n)
        return v->items[ix];
    return NULL;
}

Value *state_item(Value *sd, const char *name, DType dt, Shape s, SrcLoc loc) {
    if (sd->kind == V_STATEFILE) {
        Attr at[2] = {attr_str("path", sd->s), attr_str("key", ir_fmt("%s%s", sd->self ? sd->self->s : "", name))};
        Value *v = mk_tensor(lw_add(OP_LOAD, NULL, 0, dt, s, at, 2, loc));
        if (s.rank == 0)
            v->tflags |= TV_PYSCALAR; /* a number torch.save wrote as a 0-d tensor */
        return v;
    }
    Value *v = sd;
    const char *p = name;
    while (v && *p) {
        const char *dot = strchr(p, '.');
        size_t len = dot ? (size_t)(dot - p) : strlen(p);
        v = state_part(v, ir_fmt("%.*s", (int)len, p));
        p += len + (dot != NULL);
    }
    return v;
}

/* net.load_state_dict(torch.load(PATH)) reads the file when the statement runs (the runtime checks
 * every name, dtype and shape); net.load_state_dict(other.state_dict()) copies. */
Value *bi_load_state_dict(Args *a) {
    SrcLoc loc = a->loc;
    Value *m = lw_req(a, 0, "module"), *sd = lw_req(a, 1, "state_dict");
    Value *strict = lw_arg(a, 2, "strict", mk_bool(true));
    DONE(a, 3, "module", "state_dict", "strict");
    if (m->kind == V_OPTIM || m->kind == V_SCHED) {
        if (a->nkw + a->npos > 2)
            error_at(loc, "%s.load_state_dict() takes the state dict only", m->s);
        if (m->kind == V_OPTIM)
            optim_load_state_dict(m->optim, sd, loc);
        else
            scheduler_load_state_dict(m->sched, sd, loc);
        return lw_mk(V_NONE);
    }
    if (m->kind != V_MODULE)
        error_at(loc, "load_state_dict() belongs to a module, an optimizer or a scheduler, not %s", kind_name(m));
    if (!bool_arg(strict, loc, "strict"))
        error_at(loc, "load_state_dict(strict=False) is not supported yet");
    Value **ps = NULL;
    const char **names = NULL;
    int n = 0, nn = 0;
    collect_state(m->mod, &ps, &n);
    collect_state_names(m->mod, &names, &nn);
    if (sd->kind == V_STATEFILE) {
        load_state_safetensors(ps, names, n, sd->s, sd->self ? sd->self->s : "", loc);
        return lw_mk(V_NONE);
    }
    if (sd->kind != V_DICT)
        error_at(loc, "load_state_dict() takes torch.load(PATH) or a state_dict(), not %s", kind_name(sd));
    if (sd->n != n)
        error_at(loc, "Error(s) in loading state_dict for %s: %d tensors given, %d expected", m->mod->cls, sd->n, n);
    for (int i = 0; i < n; i++) {
        const char *name = names[i];
        Value *v = dict_get(sd, mk_str(name), loc);
        Node *p = TN(ps[i]);
        if (v->kind != V_TENSOR || !shape_eq(TN(v)->shape, p->shape))
            error_at(loc, "Error(s) in loading state_dict for %s: size mismatch for %s: %s given, %s expected",
                     m->mod->cls, name, kind_name(v), type_str(p->dtype, p->shape));
        bool was = L.no_grad;
        L.no_grad = true; /* loading is not an operation autograd records */
        set_group(ps[i]->group, lw_cast(v->node, p->dtype, loc), loc); /* values are immutable: no copy */
        L.no_grad = was;
    }
    return lw_mk(V_NONE);
}

/* ---- a program's options: options(epochs=2, lr=0.001, data="...") ---- */

/* options(NAME=default, ...): the program's command-line options, --NAME VALUE, with these defaults
 * and their kinds (int, float, bool, str); args.NAME is the value the run got. */
Value *bi_options(Args *a) {
    SrcLoc loc = a->loc;
    if (!L.prog_name || L.in_forward)
        error_at(loc, "options() belongs in a program");
    if (a->npos)
        error_at(loc, "options() takes keyword arguments with their defaults: options(epochs=2, lr=0.001)");
    if (L.has_options)
        error_at(loc, "options() is called once per file (the program's command line is one)");
    L.has_options = true;
    Value *v = lw_mk(V_OPTIONS);
    v->self = lw_mk(V_TUPLE);
    L.options = ir_alloc(sizeof(HostOption) * (size_t)(a->nkw + 1));
    for (int i = 0; i < a->nkw; i++) {
        Value *d = a->kwv[i];
        const char *name = a->kw[i];
        if (!strcmp(name, "help"))
            error_at(loc, "an option cannot be called 'help' (--help lists the options)");
        HostOption *o = &L.options[L.noptions++];
        *o = (HostOption){.name = name};
        if (d->kind == V_BOOL)
            o->kind = OPT_BOOL, o->i = d->i, o->shown = d->i ? "True" : "False";
        else if (d->kind == V_INT)
            o->kind = OPT_INT, o->i = d->i, o->shown = value_str(d, loc);
        else if (d->kind == V_FLOAT)
            o->kind = OPT_FLOAT, o->f = d->f, o->shown = value_str(d, loc);
        else if (d->kind == V_STR)
            o->kind = OPT_STR, o->s = d->s, o->shown = ir_fmt("'%s'", d->s);
        else
            error_at(loc, "option '%s': a default must be an int, a float, a bool or a string known at compile "
                          "time, not %s", name, kind_name(d));
        list_append(v->self, mk_str(name));
        list_append(v, d);
        a->used |= 1u << i;
    }
    return v;
}

/* args.NAME: a number the program reads when it runs (a Python number of the option's kind), or
 * a string option (for a dataset's root). */
Value *option_attribute(Value *opts, const char *name, SrcLoc loc) {
    int k = -1;
    for (int i = 0; i < opts->self->n; i++)
        if (!strcmp(opts->self->items[i]->s, name))
            k = i;
    if (k < 0) {
        const char *cands[64];
        int n = 0;
        for (int i = 0; i < opts->self->n && n < 64; i++)
            cands[n++] = opts->self->items[i]->s;
        const char *hint = diag_suggest(name, cands, n);
        if (hint)
            error_at(loc, "the program has no option '%s'; did you mean '%s'?", name, hint);
        error_at(loc, "the program has no option '%s' (options(...) declares them)", name);
    }
    Value *d = opts->items[k];
    if (d->kind == V_STR) {
        Value *s = lw_mk(V_OPTSTR);
        s->s = name;
        s->self = d;
        return s;
    }
    DType dt = d->kind == V_FLOAT ? DT_F64 : d->kind == V_BOOL ? DT_BOOL : DT_I64;
    Attr at = attr_str("name", name);
    Value *v = lw_result(lw_add(OP_OPTION, NULL, 0, dt, shape_scalar(), &at, 1, loc), NULL, NULL);
    v->tflags |= TV_PYSCALAR;
    return v;
}
