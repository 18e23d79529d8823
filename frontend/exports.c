/*
 * exports.c: `export def NAME(...)`, a def that is also a C function of the generated file.
 *
 * A C caller gives it tensors and gets tensors back, with no allocation and no I/O, so the
 * def is lowered once, on its own, into one graph:
 *   - a parameter with a tensor type (`x: f32[4, 1, 28, 28]`, every dimension a number) is an
 *     input the caller passes (`const float *x`);
 *   - a parameter whose type is a model (`net: Net`) is that model's state, in the caller's
 *     arena: PREFIX_NAME_init draws it as PyTorch initializes the model for a seed, and the
 *     tensor table PREFIX_NAME_tensors names each tensor as the model's state_dict does (under
 *     `net.` when the def takes several models), so a caller can load trained weights;
 *   - what it returns (a tensor, or a tuple of them) is written to the caller's out buffers.
 * The body runs as under torch.no_grad(), and must be one graph: no loop or if decided at run
 * time, no print, no file, no random draw, no model created inside (each is an error naming
 * its line). A program of the same file may call the def as any other.
 */
#include "lower.h"

#include <string.h>

/* The model a parameter's type names (`net: Net`), or NULL. */
static Decl *model_type(Param *p) {
    if (!p->type || p->type->kind != E_NAME)
        return NULL;
    Binding *b = find_in(L.globals, p->type->str);
    return b && b->v->kind == V_CLASS && b->v->decl ? b->v->decl : NULL;
}

/* What a graph of the body computes that a C function without I/O or a generator cannot. */
static const char *host_only(const Node *n) {
    switch (n->op) {
    case OP_PRINT: return "prints";
    case OP_SAVE: return "writes a file";
    case OP_LOAD: return "reads a file";
    case OP_OPTION: return "reads a program option";
    case OP_RAND:
    case OP_RANDN:
    case OP_BERNOULLI:
    case OP_RANDINT:
    case OP_RANDPERM:
    case OP_SEED: return "draws random numbers (a C caller passes them as a tensor)";
    case OP_PARAM: return "creates a tensor that persists (a model or optimizer made inside: pass the model as a "
                          "parameter, net: Net)";
    default: return NULL;
    }
}

/*
 * What the def returned becomes the graph's outputs, result (one) or result0, result1, ... in order: each
 * a buffer of the arena (a param with init "output", outside the tensor table) that an assign
 * fills, and the C function copies to the caller. An assign is an effect, so no pass merges two
 * outputs or renames one into a value it equals.
 */
static void mark_outputs(Decl *d, Value *r) {
    Value **items = r->kind == V_TUPLE ? r->items : &r;
    int n = r->kind == V_TUPLE ? r->n : 1;
    if (r->kind == V_NONE || n == 0)
        error_at(d->loc, "an exported def returns a tensor or a tuple of tensors; %s() returns nothing", d->name);
    for (int i = 0; i < n; i++) {
        if (items[i]->kind != V_TENSOR)
            error_at(d->loc, "an exported def returns tensors; %s() returns %s%s", d->name, kind_name(items[i]),
                     n > 1 ? ir_fmt(" as item %d", i) : "");
    }
    int *o = ir_alloc(sizeof(int) * (size_t)n);
    for (int i = 0; i < n; i++) { /* the buffers, then the stores (which come last in a graph) */
        Node *v = N(items[i]->node);
        Attr a = attr_str("init", "output");
        o[i] = lw_add(OP_PARAM, NULL, 0, v->dtype, v->shape, &a, 1, d->loc);
        N(o[i])->flags |= NF_PARAM | NF_OUTPUT;
        N(o[i])->name = n == 1 ? "result" : ir_fmt("result%d", i);
    }
    for (int i = 0; i < n; i++) {
        int in[2] = {o[i], items[i]->node};
        lw_add(OP_ASSIGN, in, 2, DT_F32, shape_scalar(), NULL, 0, d->loc);
    }
}

Graph *lower_export(Decl *d) {
    begin_graph(d->name);
    stage_begin(d->name);
    int nmodels = 0;
    for (int i = 0; i < d->nparams; i++)
        nmodels += model_type(&d->params[i]) != NULL;
    Value **pos = ir_alloc(sizeof(Value *) * (size_t)(d->nparams + 1));
    int *input = ir_alloc(sizeof(int) * (size_t)(d->nparams + 1)); /* each tensor parameter's input node */
    for (int i = 0; i < d->nparams; i++) {
        Param *p = &d->params[i];
        Decl *md = model_type(p);
        if (md) {
            Args ca = {.loc = p->loc, .fname = md->name};
            pos[i] = construct_model(md, &ca);
            name_params(pos[i]->mod, nmodels > 1 ? ir_fmt("%s.", p->name) : "");
            continue;
        }
        if (!is_tensor_type(p->type))
            error_at(p->loc, "parameter '%s' of an exported def needs a type a C caller can pass: a tensor type "
                             "(%s: f32[4, 784]) or a model (%s: Net)", p->name, p->name, p->name);
        Value *ty = lw_eval(p->type);
        for (int k = 0; k < ty->shape.rank; k++)
            if (ty->sym && ty->sym[k])
                error_at(p->type->loc, "parameter '%s' of an exported def has a symbolic dimension; a C function "
                                       "takes fixed shapes: write the number", p->name);
        Attr a = attr_str("name", p->name);
        int x = lw_add(OP_INPUT, NULL, 0, ty->dt, ty->shape, &a, 1, p->loc);
        N(x)->flags |= NF_INPUT;
        N(x)->name = p->name;
        pos[i] = mk_tensor(x);
        input[i] = x;
    }
    /* the models' tensors (parameters, batch-norm statistics) as they are before the body */
    Value **state = NULL;
    int nstate = 0;
    for (int i = 0; i < d->nparams; i++)
        if (pos[i]->kind == V_MODULE)
            collect_state(pos[i]->mod, &state, &nstate);
    int *was = ir_alloc(sizeof(int) * (size_t)(nstate + 1));
    for (int i = 0; i < nstate; i++)
        was[i] = L.group_base[state[i]->group];
    int before = L.g->nnode;
    bool saved = L.no_grad;
    L.no_grad = true;
    Args a = {.loc = d->loc, .fname = d->name, .pos = pos, .npos = d->nparams};
    Value *r = def_call(d, &a);
    L.no_grad = saved;
    LoweredProgram lp;
    stage_end(&lp);
    if (!lp.graph)
        error_at(d->loc, "an exported def is one graph a C function runs: %s() has a loop or an if decided at run "
                         "time (a value known only when it runs: .item(), a data loader, an option)", d->name);
    for (int i = 0; i < d->nparams; i++)
        if (pos[i]->kind == V_TENSOR && L.group_base[pos[i]->group] != input[i])
            error_at(d->loc, "%s() changes its parameter '%s' in place, but an exported def's tensor parameters are "
                             "the caller's const input: change a copy (%s = %s.clone())", d->name, d->params[i].name,
                     d->params[i].name, d->params[i].name);
    int body_end = L.g->nnode;
    mark_outputs(d, r);
    /* what the body changed in a model (batch norm's running statistics in training mode, a
     * parameter changed in place) is stored back: it persists in the arena, as in the module */
    for (int i = 0; i < nstate; i++)
        if (L.group_base[state[i]->group] != was[i]) {
            int in[2] = {was[i], L.group_base[state[i]->group]};
            int a = lw_add(OP_ASSIGN, in, 2, DT_F32, shape_scalar(), NULL, 0, d->loc);
            N(a)->flags |= NF_UPDATE;
        }
    for (int i = before; i < body_end; i++) {
        const char *why = host_only(&L.g->nodes[i]);
        if (why)
            error_at(L.g->nodes[i].op == OP_PARAM ? d->loc : L.g->nodes[i].loc,
                     "an exported def runs without I/O or a generator, but %s %s",
                     L.g->nodes[i].op == OP_PARAM ? ir_fmt("%s()", d->name) : "this", why);
    }
    name_orphans();
    Graph *g = L.g;
    g->name = d->name;
    return g;
}
