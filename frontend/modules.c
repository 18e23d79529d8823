/*
 * modules.c: modules (Conv2d, Linear, BatchNorm2d, Sequential, ..., user models).
 *
 * Modules (Conv2d, Linear, user models) are compile-time objects; their
 * parameters are storage groups too, so loading weights or an optimizer step
 * is an in-place update like any other.
 *
 * Constructing a builtin module checks its arguments as PyTorch does, makes its parameters
 * (initialised as its reset_parameters would) and keeps the one-line repr PyTorch prints;
 * constructing a user model binds its constructor arguments and runs its layer declarations.
 * Calling a module emits its computation; calling a user model checks its inputs against their
 * declared types and runs the rest of its body, the forward pass. A model that no program
 * calls is checked by running it once alone on inputs of its declared types.
 */
#include "lower.h"

#include <math.h>
#include <string.h>

/* ---- construction ---- */

static Module *new_module(const char *cls) {
    Module *m = ir_alloc(sizeof(Module));
    m->cls = cls;
    m->path = "";
    m->weight = m->bias = -1;
    m->rmean = m->rvar = m->nbt = -1;
    return m;
}

/* A tensor made once with one value everywhere: BatchNorm2d's weight (ones, a trainable
 * parameter), bias (zeros), and its buffers (running_var ones, running_mean and
 * num_batches_tracked zeros), which the step updates but no gradient reaches. */
static int new_filled(Shape s, DType dt, double value, bool trainable, SrcLoc loc, int *node) {
    Attr a[2] = {attr_str("init", "full"), attr_float("value", value)};
    int id = lw_add(OP_PARAM, NULL, 0, dt, s, a, 2, loc);
    N(id)->flags |= NF_PARAM | (trainable ? NF_TRAINABLE : 0);
    int g = new_group(id);
    L.group_rg[g] = trainable;
    L.group_param[g] = trainable;
    lw_info(id)->rg = trainable;
    lw_info(id)->leaf = trainable ? g : -1;
    if (node)
        *node = id;
    return g;
}

/* A parameter initialised as PyTorch's reset_parameters does: uniform_(-bound, bound). */
static int new_param(Shape s, double bound, SrcLoc loc) {
    int64_t numel = 1;
    for (int i = 0; i < s.rank; i++)
        if (__builtin_mul_overflow(numel, s.d[i], &numel) || numel > ((int64_t)1 << 34))
            error_at(loc, "parameter of shape %s is too large", shape_str(s));
    Attr a[3] = {attr_str("init", "uniform"), attr_float("from", -bound), attr_float("to", bound)};
    int id = lw_add(OP_PARAM, NULL, 0, DT_F32, s, a, 3, loc);
    N(id)->flags |= NF_PARAM | NF_TRAINABLE;
    int g = new_group(id);
    L.group_rg[g] = true; /* an nn.Parameter requires grad until frozen */
    L.group_param[g] = true;
    lw_info(id)->rg = true;
    lw_info(id)->leaf = g;
    return g;
}

/* kaiming_uniform_(w, a=sqrt(5)) computed in double exactly as torch.nn.init does. */
static double kaiming_bound(int64_t fan_in) {
    double a = sqrt(5.0);
    double gain = sqrt(2.0 / (1 + pow(a, 2.0)));
    double std = gain / sqrt((double)fan_in);
    return sqrt(3.0) * std;
}

static void name_replaced(Module *m, const char *path);

void name_params(Module *m, const char *path) {
    m->path = path;
    if (m->weight >= 0)
        N(L.group_base[m->weight])->name = ir_fmt("%sweight", path);
    if (m->bias >= 0)
        N(L.group_base[m->bias])->name = ir_fmt("%sbias", path);
    if (m->rmean >= 0) {
        N(L.group_base[m->rmean])->name = ir_fmt("%srunning_mean", path);
        N(L.group_base[m->rvar])->name = ir_fmt("%srunning_var", path);
        N(L.group_base[m->nbt])->name = ir_fmt("%snum_batches_tracked", path);
    }
    for (int i = 0; i < m->nchild; i++)
        name_params(m->child[i], ir_fmt("%s%s.", path, m->child_name[i]));
    for (int i = 0; i < m->ngone; i++)
        name_replaced(m->gone[i], ir_fmt("~%s%s#%d.", path, m->gone_name[i], i));
}

static const char *pair_str(const int64_t v[2]) {
    return ir_fmt("(%lld, %lld)", (long long)v[0], (long long)v[1]);
}

/* An int or a pair of ints (kernel_size=5 or (5, 5)); *was_pair tells which for repr. */
void pair_value(Value *v, int64_t out[2], SrcLoc loc, const char *what, bool *was_pair) {
    if (v->kind == V_TUPLE || v->kind == V_LIST) {
        if (v->n != 2)
            error_at(loc, "%s must be an int or a pair of ints", what);
        out[0] = int_arg(v->items[0], loc, what);
        out[1] = int_arg(v->items[1], loc, what);
        if (was_pair) *was_pair = true;
        return;
    }
    out[0] = out[1] = int_arg(v, loc, what);
    if (was_pair) *was_pair = false;
}

static const char *pool_field(const int64_t v[2], bool pair) {
    return pair ? pair_str(v) : ir_fmt("%lld", (long long)v[0]);
}

/* kernel_size, stride (the kernel when absent) and padding of a pooling module; *_pair say whether
   each was written as a pair, which is how PyTorch's repr shows it. */
static void pool_window(Args *a, Module *m, bool *kernel_pair, bool *stride_pair, bool *pad_pair) {
    pair_value(lw_req(a, 0, "kernel_size"), m->k, a->loc, "kernel_size", kernel_pair);
    Value *st = lw_arg(a, 1, "stride", lw_mk(V_NONE));
    if (st->kind == V_NONE) {
        m->stride[0] = m->k[0];
        m->stride[1] = m->k[1];
        *stride_pair = *kernel_pair;
    } else
        pair_value(st, m->stride, a->loc, "stride", stride_pair);
    pair_value(lw_arg(a, 2, "padding", mk_int(0)), m->pad, a->loc, "padding", pad_pair);
}

/* Conv2d(...), Linear(...) and the other builtin classes: the arguments checked as PyTorch checks
 * them, the parameters made, the repr kept. */
Value *construct_builtin(const char *cls, Args *a) {
    Module *m = new_module(cls);
    SrcLoc loc = a->loc;
    if (!strcmp(cls, "Conv2d")) {
        m->in = int_arg(lw_req(a, 0, "in_channels"), loc, "in_channels");
        m->out = int_arg(lw_req(a, 1, "out_channels"), loc, "out_channels");
        pair_value(lw_req(a, 2, "kernel_size"), m->k, loc, "kernel_size", NULL);
        pair_value(lw_arg(a, 3, "stride", mk_int(1)), m->stride, loc, "stride", NULL);
        pair_value(lw_arg(a, 4, "padding", mk_int(0)), m->pad, loc, "padding", NULL);
        pair_value(lw_arg(a, 5, "dilation", mk_int(1)), m->dil, loc, "dilation", NULL);
        m->groups = int_arg(lw_arg(a, 6, "groups", mk_int(1)), loc, "groups");
        m->has_bias = bool_arg(lw_arg(a, 7, "bias", mk_bool(true)), loc, "bias");
        DONE(a, 8, "in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "groups", "bias");
        if (m->in < 1 || m->out < 1 || m->k[0] < 1 || m->k[1] < 1 || m->stride[0] < 1 || m->stride[1] < 1 ||
            m->pad[0] < 0 || m->pad[1] < 0 || m->dil[0] < 1 || m->dil[1] < 1)
            error_at(loc, "Conv2d: channels, kernel_size, stride and dilation must be positive, padding non-negative");
        if (m->in > (1 << 24) || m->out > (1 << 24) || m->k[0] > (1 << 16) || m->k[1] > (1 << 16))
            error_at(loc, "Conv2d: sizes this large are not supported");
        if (m->groups < 1 || m->in % m->groups || m->out % m->groups)
            error_at(loc, "Conv2d: groups=%lld must divide in_channels=%lld and out_channels=%lld",
                     (long long)m->groups, (long long)m->in, (long long)m->out);
        int64_t fan_in = m->in / m->groups * m->k[0] * m->k[1];
        m->weight = new_param(shape_make(4, (int64_t[]){m->out, m->in / m->groups, m->k[0], m->k[1]}),
                              kaiming_bound(fan_in), loc);
        if (m->has_bias)
            m->bias = new_param(shape_make(1, &m->out), 1 / sqrt((double)fan_in), loc);
        const char *r = ir_fmt("Conv2d(%lld, %lld, kernel_size=%s, stride=%s", (long long)m->in,
                               (long long)m->out, pair_str(m->k), pair_str(m->stride));
        if (m->pad[0] || m->pad[1]) r = ir_fmt("%s, padding=%s", r, pair_str(m->pad));
        if (m->dil[0] != 1 || m->dil[1] != 1) r = ir_fmt("%s, dilation=%s", r, pair_str(m->dil));
        if (m->groups != 1) r = ir_fmt("%s, groups=%lld", r, (long long)m->groups);
        if (!m->has_bias) r = ir_fmt("%s, bias=False", r);
        m->repr = ir_fmt("%s)", r);
    } else if (!strcmp(cls, "Linear")) {
        m->in = int_arg(lw_req(a, 0, "in_features"), loc, "in_features");
        m->out = int_arg(lw_req(a, 1, "out_features"), loc, "out_features");
        m->has_bias = bool_arg(lw_arg(a, 2, "bias", mk_bool(true)), loc, "bias");
        DONE(a, 3, "in_features", "out_features", "bias");
        if (m->in < 1 || m->out < 1)
            error_at(loc, "Linear: in_features and out_features must be positive");
        if (m->in > (1 << 30) || m->out > (1 << 30))
            error_at(loc, "Linear: sizes this large are not supported");
        m->weight = new_param(shape_make(2, (int64_t[]){m->out, m->in}), kaiming_bound(m->in), loc);
        if (m->has_bias)
            m->bias = new_param(shape_make(1, &m->out), 1 / sqrt((double)m->in), loc);
        m->repr = ir_fmt("Linear(in_features=%lld, out_features=%lld, bias=%s)", (long long)m->in,
                         (long long)m->out, m->has_bias ? "True" : "False");
    } else if (!strcmp(cls, "MaxPool2d")) {
        bool kp, sp, pp, dp;
        pool_window(a, m, &kp, &sp, &pp);
        pair_value(lw_arg(a, 3, "dilation", mk_int(1)), m->dil, loc, "dilation", &dp);
        m->ceil_mode = bool_arg(lw_arg(a, 4, "ceil_mode", mk_bool(false)), loc, "ceil_mode");
        DONE(a, 5, "kernel_size", "stride", "padding", "dilation", "ceil_mode");
        m->repr = ir_fmt("MaxPool2d(kernel_size=%s, stride=%s, padding=%s, dilation=%s, ceil_mode=%s)",
                         pool_field(m->k, kp), pool_field(m->stride, sp), pool_field(m->pad, pp),
                         pool_field(m->dil, dp), m->ceil_mode ? "True" : "False");
    } else if (!strcmp(cls, "AvgPool2d")) {
        bool kp, sp, pp;
        pool_window(a, m, &kp, &sp, &pp);
        m->ceil_mode = bool_arg(lw_arg(a, 3, "ceil_mode", mk_bool(false)), loc, "ceil_mode");
        m->count_include_pad = bool_arg(lw_arg(a, 4, "count_include_pad", mk_bool(true)), loc, "count_include_pad");
        DONE(a, 5, "kernel_size", "stride", "padding", "ceil_mode", "count_include_pad");
        m->repr = ir_fmt("AvgPool2d(kernel_size=%s, stride=%s, padding=%s)", pool_field(m->k, kp),
                         pool_field(m->stride, sp), pool_field(m->pad, pp));
    } else if (!strcmp(cls, "ReLU")) {
        m->inplace = bool_arg(lw_arg(a, 0, "inplace", mk_bool(false)), loc, "inplace");
        DONE(a, 1, "inplace");
        m->repr = m->inplace ? "ReLU(inplace=True)" : "ReLU()";
    } else if (activation_construct(m, a)) {
    } else if (!strcmp(cls, "Tanh") || !strcmp(cls, "Sigmoid")) { /* no arguments, as in PyTorch */
        DONE(a, 0);
        m->repr = cls[0] == 'T' ? "Tanh()" : "Sigmoid()";
    } else if (loss_construct(m, a)) {
    } else if (!strcmp(cls, "LayerNorm")) {
        layer_norm_construct(m, a);
    } else if (!strcmp(cls, "BatchNorm2d") || !strcmp(cls, "BatchNorm1d")) {
        m->in = int_arg(lw_req(a, 0, "num_features"), loc, "num_features");
        Value *eps = lw_arg(a, 1, "eps", mk_float(1e-5)), *mom = lw_arg(a, 2, "momentum", mk_float(0.1));
        m->affine = bool_arg(lw_arg(a, 3, "affine", mk_bool(true)), loc, "affine");
        m->track = bool_arg(lw_arg(a, 4, "track_running_stats", mk_bool(true)), loc, "track_running_stats");
        DONE(a, 5, "num_features", "eps", "momentum", "affine", "track_running_stats");
        if (!is_scalar(eps) || !is_scalar(mom) || num(eps) <= 0 || num(mom) < 0 || num(mom) > 1)
            error_at(loc, "%s: eps must be a positive number and momentum one in [0, 1] (momentum=None, the "
                          "cumulative average, is not supported)", cls);
        if (m->in < 1 || m->in > (1 << 24))
            error_at(loc, "%s: num_features must be positive", cls);
        m->eps = num(eps);
        m->momentum = num(mom);
        const char *mrepr = mom->kind == V_FLOAT ? py_float_repr(m->momentum) : ir_fmt("%lld", (long long)mom->i);
        Shape c = shape_make(1, &m->in);
        if (m->affine) {
            m->weight = new_filled(c, DT_F32, 1, true, loc, NULL);
            m->bias = new_filled(c, DT_F32, 0, true, loc, NULL);
        }
        if (m->track) {
            m->rmean = new_filled(c, DT_F32, 0, false, loc, &m->rmean_node);
            m->rvar = new_filled(c, DT_F32, 1, false, loc, &m->rvar_node);
            m->nbt = new_filled(shape_scalar(), DT_I64, 0, false, loc, &m->nbt_node);
        }
        m->repr = ir_fmt("%s(%lld, eps=%s, momentum=%s, affine=%s, track_running_stats=%s)", cls, (long long)m->in,
                         eps->kind == V_FLOAT ? py_float_repr(m->eps) : ir_fmt("%lld", (long long)eps->i), mrepr,
                         m->affine ? "True" : "False",
                         m->track ? "True" : "False");
    } else if (!strcmp(cls, "AdaptiveAvgPool2d")) {
        bool pair;
        pair_value(lw_req(a, 0, "output_size"), m->osize, loc, "output_size", &pair);
        DONE(a, 1, "output_size");
        if (m->osize[0] < 1 || m->osize[1] < 1)
            error_at(loc, "AdaptiveAvgPool2d: output_size must be positive");
        m->repr = ir_fmt("AdaptiveAvgPool2d(output_size=%s)",
                         pair ? pair_str(m->osize) : ir_fmt("%lld", (long long)m->osize[0]));
    } else if (!strcmp(cls, "Sequential")) {
        for (int i = 0; i < a->npos; i++) {
            if (a->pos[i]->kind != V_MODULE)
                error_at(loc, "Sequential takes modules; argument %d is %s", i + 1, kind_name(a->pos[i]));
            add_child(m, ir_fmt("%d", i), a->pos[i]->mod);
        }
        if (a->nkw)
            error_at(loc, "Sequential takes modules only, no keyword arguments");
    } else if (!strcmp(cls, "Flatten")) {
        m->start_dim = int_arg(lw_arg(a, 0, "start_dim", mk_int(1)), loc, "start_dim");
        m->end_dim = int_arg(lw_arg(a, 1, "end_dim", mk_int(-1)), loc, "end_dim");
        DONE(a, 2, "start_dim", "end_dim");
        m->repr = ir_fmt("Flatten(start_dim=%lld, end_dim=%lld)", (long long)m->start_dim, (long long)m->end_dim);
    } else
        unreachable();
    Value *v = lw_mk(V_MODULE);
    v->mod = m;
    return v;
}

const char *module_repr(Module *m, int indent) {
    if (m->repr)
        return m->repr;
    if (!m->nchild)
        return ir_fmt("%s()", m->cls);
    const char *s = ir_fmt("%s(\n", m->cls);
    for (int i = 0; i < m->nchild; i++)
        s = ir_fmt("%s%*s(%s): %s\n", s, indent + 2, "", m->child_name[i], module_repr(m->child[i], indent + 2));
    return ir_fmt("%s%*s)", s, indent, "");
}

/* The builtin module classes, global names (lower.c): construct_builtin and module_call have a
 * branch for each. */
const char *const module_classes[] = {"Conv2d", "Linear", "MaxPool2d", "AvgPool2d", "ReLU", "Tanh", "Sigmoid",
                                      "Flatten", "MSELoss", "CrossEntropyLoss", "BatchNorm2d", "AdaptiveAvgPool2d",
                                      "Sequential", "BatchNorm1d", "LayerNorm", "LeakyReLU", "ELU", "GELU", "SiLU", "Softplus", "ReLU6",
                                      "Hardtanh", "Softmax", "LogSoftmax", "Identity", "Dropout", "Dropout2d", "L1Loss", "SmoothL1Loss",
                                      "HuberLoss", "NLLLoss", "BCELoss", "BCEWithLogitsLoss", NULL};

static bool is_builtin_module(const char *name) {
    for (int i = 0; module_classes[i]; i++)
        if (!strcmp(module_classes[i], name))
            return true;
    return false;
}

/* Is this statement `name = Module(...)`, a layer declaration of a model? */
bool is_layer_decl(Stmt *s) {
    if (s->kind != S_ASSIGN || strcmp(s->op, "=") || s->target->kind != E_NAME || s->value->kind != E_CALL)
        return false;
    Expr *c = s->value->lhs;
    const char *name = NULL;
    if (c->kind == E_NAME)
        name = c->str;
    else if (c->kind == E_ATTR && ((c->lhs->kind == E_NAME && !strcmp(c->lhs->str, "nn")) ||
                                   (c->lhs->kind == E_ATTR && !strcmp(c->lhs->str, "nn") &&
                                    c->lhs->lhs->kind == E_NAME && !strcmp(c->lhs->lhs->str, "torch"))))
        name = c->str; /* nn.Conv2d, torch.nn.Conv2d */
    if (!name)
        return false;
    if (is_builtin_module(name))
        return true;
    for (int i = 0; i < L.ast->ndecls; i++)
        if (L.ast->decls[i]->kind == D_MODEL &&
            !strcmp(L.ast->decls[i]->bind ? L.ast->decls[i]->bind : L.ast->decls[i]->name, name))
            return true;
    return false;
}

bool is_tensor_type(Expr *t) {
    return t && t->kind == E_INDEX && t->lhs->kind == E_NAME && dtype_from_name(t->lhs->str) >= 0;
}

/* The tensors of a layer another replaced (`fc = Linear(...)` twice): no longer the model's, but
 * made (and drawn from the generator, as in PyTorch), so they get a name of their own that no
 * state_dict has: "~fc#0.weight" (name_params). Those named already (in a program) keep theirs. */
static void name_replaced(Module *m, const char *path) {
    int groups[5] = {m->weight, m->bias, m->rmean, m->rvar, m->nbt};
    static const char *const what[5] = {"weight", "bias", "running_mean", "running_var", "num_batches_tracked"};
    for (int i = 0; i < 5; i++)
        if (groups[i] >= 0 && !N(L.group_base[groups[i]])->name) {
            N(L.group_base[groups[i]])->name = ir_fmt("%s%s", path, what[i]);
            N(L.group_base[groups[i]])->flags &= ~NF_TRAINABLE; /* no optimizer has it */
        }
    for (int i = 0; i < m->nchild; i++)
        name_replaced(m->child[i], ir_fmt("%s%s.", path, m->child_name[i]));
}

void add_child(Module *m, const char *name, Module *c) {
    for (int i = 0; i < m->nchild; i++)
        if (!strcmp(m->child_name[i], name)) {
            Module **g = ir_alloc(sizeof(Module *) * (size_t)(m->ngone + 1));
            const char **gn = ir_alloc(sizeof(char *) * (size_t)(m->ngone + 1));
            if (m->ngone) {
                memcpy(g, m->gone, sizeof(Module *) * (size_t)m->ngone);
                memcpy(gn, m->gone_name, sizeof(char *) * (size_t)m->ngone);
            }
            g[m->ngone] = m->child[i];
            gn[m->ngone++] = name;
            m->gone = g;
            m->gone_name = gn;
            m->child[i] = c; /* replacing keeps the position, as PyTorch's module dict does */
            return;
        }
    Module **ch = ir_alloc(sizeof(Module *) * (size_t)(m->nchild + 1));
    const char **nm = ir_alloc(sizeof(char *) * (size_t)(m->nchild + 1));
    if (m->nchild) {
        memcpy(ch, m->child, sizeof(Module *) * (size_t)m->nchild);
        memcpy(nm, m->child_name, sizeof(char *) * (size_t)m->nchild);
    }
    ch[m->nchild] = c;
    nm[m->nchild++] = name;
    m->child = ch;
    m->child_name = nm;
}

/* The layer declarations of a model body, in order, with those of the branch each if takes
 * (its condition sees the constructor's arguments). */
static bool declares_layers(Stmt **body, int n) {
    for (int i = 0; i < n; i++)
        if (is_layer_decl(body[i]) ||
            (body[i]->kind == S_IF && (declares_layers(body[i]->body, body[i]->nbody) ||
                                       declares_layers(body[i]->orelse, body[i]->norelse))))
            return true;
    return false;
}

static void declare_layers(Module *m, Scope *env, Stmt **body, int n) {
    for (int i = 0; i < n; i++) {
        Stmt *s = body[i];
        if (s->kind == S_IF) {
            /* an if of the forward pass alone (on its input's shape, say) is left to it */
            if (!declares_layers(s->body, s->nbody) && !declares_layers(s->orelse, s->norelse))
                continue;
            bool yes = lw_condition(s->value);
            declare_layers(m, env, yes ? s->body : s->orelse, yes ? s->nbody : s->norelse);
            continue;
        }
        if (!is_layer_decl(s))
            continue;
        Value *v = lw_eval(s->value);
        if (v->kind != V_MODULE)
            error_at(s->loc, "expected a module");
        add_child(m, s->target->str, v->mod);
        lw_bind(env, s->target->str, v);
    }
}

/* Net(...): the constructor arguments bound (those without a tensor type), the layers declared. */
/* "M0 -> M1 -> ... -> d": the models being constructed, then d. */
static const char *building_chain(Decl *d, int from) {
    const char *s = "";
    for (int i = from; i < L.nbuilding; i++)
        s = ir_fmt("%s%s -> ", s, L.building[i]->name);
    return ir_fmt("%s%s", s, d->name);
}

Value *construct_model(Decl *d, Args *a) {
    for (int i = 0; i < L.nbuilding; i++)
        if (L.building[i] == d)
            error_at(a->loc, "model '%s' contains itself (%s)", d->name, building_chain(d, i));
    if (L.nbuilding == 64 || ++L.depth_guard > 64)
        error_at(a->loc, "models nested more than 64 deep (%s ...): a chain that long is not supported",
                 building_chain(d, L.nbuilding > 3 ? L.nbuilding - 3 : 0));
    L.building[L.nbuilding++] = d;
    Module *m = new_module(d->name);
    m->decl = d;
    d->used = true;
    Scope *saved = L.scope;
    L.scope = L.globals;
    Scope *env = push_scope();
    m->env = env;
    /* constructor parameters: those without a tensor type */
    int npos = 0;
    const char *known[64];
    int nknown = 0;
    for (int i = 0; i < d->nparams; i++) {
        Param *p = &d->params[i];
        if (is_tensor_type(p->type))
            continue;
        if (nknown < 64) known[nknown++] = p->name;
        Value *v = lw_arg(a, npos++, p->name, NULL);
        if (!v) {
            if (!p->dflt)
                error_at(a->loc, "%s() missing required argument '%s'", d->name, p->name);
            v = lw_eval(p->dflt);
        }
        lw_bind(env, p->name, v);
    }
    args_done(a, npos, known, nknown);
    declare_layers(m, env, d->body, d->nbody);
    L.scope = saved;
    L.nbuilding--;
    L.depth_guard--;
    Value *v = lw_mk(V_MODULE);
    v->mod = m;
    name_params(m, "");
    return v;
}

/* ---- parameters and state ---- */

Value *param_value(int group) {
    Value *v = lw_mk(V_TENSOR);
    v->group = group;
    v->node = L.group_base[group];
    return v;
}

/* Appends each group of m's that exists (>= 0) as a tensor value, then its children's: the
 * parameters (weight, bias) or the whole state_dict (with BatchNorm2d's buffers), in PyTorch's
 * order: each module's own tensors, then its children's. A module used twice (Sequential(fc,
 * ReLU(), fc)) gives its parameters once, as parameters() does; state_dict() lists every name. */
static void collect(Module *m, bool buffers, Value ***out, int *n) {
    int groups[5] = {m->weight, m->bias, m->rmean, m->rvar, m->nbt};
    for (int i = 0; i < (buffers ? 5 : 2); i++) {
        bool seen = false;
        for (int j = 0; !buffers && j < *n && !seen; j++)
            seen = (*out)[j]->group == groups[i];
        if (groups[i] >= 0 && !seen) {
            Value **o = ir_alloc(sizeof(Value *) * (size_t)(*n + 1));
            if (*n)
                memcpy(o, *out, sizeof(Value *) * (size_t)*n);
            o[(*n)++] = param_value(groups[i]);
            *out = o;
        }
    }
    for (int i = 0; i < m->nchild; i++)
        collect(m->child[i], buffers, out, n);
}

void collect_params(Module *m, Value ***out, int *n) { collect(m, false, out, n); }
void collect_state(Module *m, Value ***out, int *n) { collect(m, true, out, n); }

/* The state_dict names of collect_state's tensors, in its order: "conv1.weight", ... The names are
 * the path from m down, as PyTorch's state_dict() of a submodule has them (net.fc's are "weight"
 * and "bias"), each use of a shared module under its own name (Sequential(fc, ReLU(), fc): fc.,
 * 0. and 2.), and not the path recorded in the module, which names one use. */
static void state_names_under(Module *m, const char *path, const char ***out, int *n) {
    int groups[5] = {m->weight, m->bias, m->rmean, m->rvar, m->nbt};
    static const char *const what[5] = {"weight", "bias", "running_mean", "running_var", "num_batches_tracked"};
    for (int i = 0; i < 5; i++)
        if (groups[i] >= 0) {
            const char **o = ir_alloc(sizeof(char *) * (size_t)(*n + 1));
            if (*n)
                memcpy(o, *out, sizeof(char *) * (size_t)*n);
            o[(*n)++] = ir_fmt("%s%s", path, what[i]);
            *out = o;
        }
    for (int i = 0; i < m->nchild; i++)
        state_names_under(m->child[i], ir_fmt("%s%s.", path, m->child_name[i]), out, n);
}

void collect_state_names(Module *m, const char ***out, int *n) { state_names_under(m, "", out, n); }

/* ---- calling modules ---- */

/* The layers' computations, which their functional forms (F.conv2d, ...) share. */
Value *conv2d_call(Value *x, Value *w, Value *b, Value *stride, Value *padding, Value *dil, Value *groups,
                          SrcLoc loc) {
    if (b && b->kind != V_NONE)
        tensor_arg(b, loc, "the bias");
    int64_t st[2], pd[2], dl[2];
    pair_value(stride, st, loc, "stride", NULL);
    pair_value(padding, pd, loc, "padding", NULL);
    pair_value(dil, dl, loc, "dilation", NULL);
    int in[3] = {x->node, w->node, b && b->kind != V_NONE ? b->node : -1};
    if (TN(x)->shape.rank != 4)
        error_at(loc, "conv2d expects 4-D input (N, C, H, W), got %s", type_str(TN(x)->dtype, TN(x)->shape));
    Attr at[4] = {ints_attr("stride", st, 2), ints_attr("padding", pd, 2), ints_attr("dilation", dl, 2),
                  attr_int("groups", int_arg(groups, loc, "groups"))};
    return lw_result(lw_add(OP_CONV2D, in, in[2] >= 0 ? 3 : 2, DT_F32, shape_scalar(), at, 4, loc), x, NULL);
}

Value *maxpool_call(Value *x, const int64_t k[2], const int64_t st[2], const int64_t pd[2],
                           const int64_t dl[2], bool ceil_mode, SrcLoc loc) {
    Attr at[5] = {ints_attr("kernel", k, 2), ints_attr("stride", st, 2), ints_attr("padding", pd, 2),
                  ints_attr("dilation", dl, 2), attr_int("ceil_mode", ceil_mode)};
    return lw_result(lw_add1(OP_MAXPOOL2D, x->node, at, 5, loc), x, NULL);
}

Value *avgpool_call(Value *x, const int64_t k[2], const int64_t st[2], const int64_t pd[2], bool ceil_mode,
                           bool count_include_pad, SrcLoc loc) {
    Attr at[5] = {ints_attr("kernel", k, 2), ints_attr("stride", st, 2), ints_attr("padding", pd, 2),
                  attr_int("ceil_mode", ceil_mode), attr_int("count_include_pad", count_include_pad)};
    return lw_result(lw_add1(OP_AVGPOOL2D, x->node, at, 5, loc), x, NULL);
}

Value *linear_call(Value *x, Value *w, Value *b, SrcLoc loc) {
    if (b && b->kind != V_NONE)
        tensor_arg(b, loc, "the bias");
    int in[3] = {x->node, w->node, b && b->kind != V_NONE ? b->node : -1};
    return lw_result(lw_add(OP_LINEAR, in, in[2] >= 0 ? 3 : 2, DT_F32, shape_scalar(), NULL, 0, loc), x, NULL);
}

static Value *pair_tuple(const int64_t v[2]) { return lw_tuple2(mk_int(v[0]), mk_int(v[1])); }

/* f32[B, 1, 32, 32] as declared, symbols by name. */
static const char *declared_type(Value *ty) {
    const char *s = ir_fmt("%s[", dtype_name(ty->dt));
    for (int i = 0; i < ty->shape.rank; i++)
        s = ir_fmt("%s%s%s", s, i ? ", " : "",
                   ty->sym && ty->sym[i] ? ty->sym[i] : ir_fmt("%lld", (long long)ty->shape.d[i]));
    return ir_fmt("%s]", s);
}

/* Binds f32[B, 3, 32, 32] against an argument, symbols taking consistent values. */
void check_input(Param *p, Value *v, Scope *env, SrcLoc loc, const char *model) {
    Value *ty = lw_eval(p->type);
    if (ty->kind != V_TYPE)
        error_at(p->loc, "the type of '%s' must be a tensor type such as f32[B, 3, 32, 32]", p->name);
    bool ok = v->kind == V_TENSOR && TN(v)->dtype == ty->dt && TN(v)->shape.rank == ty->shape.rank;
    for (int i = 0; ok && i < ty->shape.rank; i++) {
        Node *n = TN(v);
        if (ty->sym && ty->sym[i]) {
            Binding *b = find_in(env, ty->sym[i]);
            if (b && b->v->kind == V_INT)
                ok = b->v->i == n->shape.d[i];
            else
                lw_bind(env, ty->sym[i], mk_int(n->shape.d[i]));
        } else
            ok = ty->shape.d[i] == n->shape.d[i];
    }
    if (!ok) {
        diag_error(loc, "%s expects %s: %s, got %s", model, p->name, declared_type(ty),
                   v->kind == V_TENSOR ? type_str(TN(v)->dtype, TN(v)->shape) : kind_name(v));
        diag_note(p->loc, "'%s' is declared here", p->name);
        diag_stop();
    }
}

/* Runs a forward body; an error inside also names the call that ran it, like a traceback. */
static void run_forward(Stmt **body, int n, SrcLoc call, const char *model) {
    jmp_buf here, *outer = diag_catch;
    diag_catch = &here;
    if (setjmp(here)) {
        diag_catch = outer;
        if (L.checking && L.depth_guard <= 2)
            diag_note(call, "in the forward pass of %s, %s", model, L.checking);
        else
            diag_note(call, "in the forward pass of %s, called here", model);
        diag_stop();
    }
    exec_block(body, n);
    diag_catch = outer;
}

/* A tuple of ints, for a reduction's dims. */
static Value *int_tuple(const int64_t *v, int n) {
    Value *t = lw_mk(V_TUPLE);
    t->n = n;
    t->items = ir_alloc(sizeof(Value *) * (size_t)(n + 1));
    for (int i = 0; i < n; i++)
        t->items[i] = mk_int(v[i]);
    return t;
}

/*
 * BatchNorm2d as PyTorch computes it, from the graph's own ops (so autodiff needs nothing new):
 * in training mode the batch's mean and biased variance over (N, H, W) normalize, and the running
 * statistics move by momentum toward the mean and the unbiased variance, num_batches_tracked
 * counting the batches (no gradient reaches them, and a frozen model updates them too, as
 * PyTorch's does); in eval mode the running statistics normalize. Then weight and bias.
 */
static Value *batch_norm(Module *m, Value *x, SrcLoc loc) {
    Shape xs = TN(x)->shape;
    bool two = m->cls[9] == '2'; /* BatchNorm2d: (N, C, H, W); BatchNorm1d: (N, C) or (N, C, L) */
    if ((two ? xs.rank != 4 : xs.rank != 2 && xs.rank != 3) || xs.d[1] != m->in)
        error_at(loc, "%s(%lld) expects an input of shape [N, %lld%s], got %s", m->cls, (long long)m->in,
                 (long long)m->in, two ? ", H, W" : "] or [N, C, L", shape_str(xs));
    Shape cs = xs, c1 = shape_make(1, &m->in);
    int64_t ax[3], nax = 0, count = 1;
    for (int i = 0; i < xs.rank; i++) {
        cs.d[i] = i == 1 ? m->in : 1;
        if (i != 1) {
            ax[nax++] = i;
            count *= xs.d[i];
        }
    }
    bool batch_stats = !m->eval || !m->track;
    Value *mean, *var;
    if (batch_stats) {
        if (count < 2 && !m->eval)
            error_at(loc, "%s in training mode needs more than 1 value per channel (here %s), as PyTorch's does",
                     m->cls, shape_str(xs));
        Value *axes = int_tuple(ax, (int)nax);
        mean = lw_reduce(OP_MEAN, x, axes, true, loc);
        Value *d = tensor_binop(OP_SUB, x, mean, loc);
        var = lw_reduce(OP_MEAN, tensor_binop(OP_MUL, d, d, loc), axes, true, loc);
        if (!m->eval && m->track) { /* the running statistics, outside autograd */
            bool saved = L.no_grad;
            L.no_grad = true;
            double mom = m->momentum, unbias = (double)count / (double)(count - 1);
            Value *rm = tensor_binop(OP_ADD, tensor_binop(OP_MUL, param_value(m->rmean), mk_float(1 - mom), loc),
                                     tensor_binop(OP_MUL, view_reshape(mean, c1, loc), mk_float(mom), loc), loc);
            Value *rv = tensor_binop(OP_ADD, tensor_binop(OP_MUL, param_value(m->rvar), mk_float(1 - mom), loc),
                                     tensor_binop(OP_MUL, view_reshape(var, c1, loc), mk_float(mom * unbias), loc), loc);
            Value *nb = tensor_binop(OP_ADD, param_value(m->nbt), mk_int(1), loc);
            set_group(m->rmean, rm->node, loc);
            set_group(m->rvar, rv->node, loc);
            set_group(m->nbt, nb->node, loc);
            L.no_grad = saved;
        }
    } else {
        mean = view_reshape(param_value(m->rmean), cs, loc);
        var = view_reshape(param_value(m->rvar), cs, loc);
    }
    Value *y = tensor_binop(OP_DIV, tensor_binop(OP_SUB, x, mean, loc),
                            unary_op(OP_SQRT, tensor_binop(OP_ADD, var, mk_float(m->eps), loc), loc), loc);
    if (m->affine)
        y = tensor_binop(OP_ADD, tensor_binop(OP_MUL, y, view_reshape(param_value(m->weight), cs, loc), loc),
                         view_reshape(param_value(m->bias), cs, loc), loc);
    lw_info(y->node)->fn = "NativeBatchNormBackward0";
    return y;
}

/* LayerNorm(normalized_shape, eps=1e-05, elementwise_affine=True): weight ones, bias zeros of that
 * shape, as PyTorch's reset_parameters makes them */
void layer_norm_construct(Module *m, Args *a) {
    SrcLoc loc = a->loc;
    Value *ns = lw_req(a, 0, "normalized_shape");
    Value *eps = lw_arg(a, 1, "eps", mk_float(1e-5));
    m->affine = bool_arg(lw_arg(a, 2, "elementwise_affine", mk_bool(true)), loc, "elementwise_affine");
    DONE(a, 3, "normalized_shape", "eps", "elementwise_affine");
    Value *items = ns->kind == V_LIST || ns->kind == V_TUPLE ? ns : NULL;
    m->norm_shape = items ? shape_from_values(items->items, items->n, loc) : shape_from_values(&ns, 1, loc);
    if (m->norm_shape.rank < 1)
        error_at(loc, "LayerNorm: normalized_shape must have at least one dimension");
    if (!is_scalar(eps) || num(eps) <= 0)
        error_at(loc, "LayerNorm: eps must be a positive number");
    check_numel(m->norm_shape, NULL, loc);
    m->eps = num(eps);
    if (m->affine) {
        m->weight = new_filled(m->norm_shape, DT_F32, 1, true, loc, NULL);
        m->bias = new_filled(m->norm_shape, DT_F32, 0, true, loc, NULL);
    }
    const char *s = "(";
    for (int i = 0; i < m->norm_shape.rank; i++)
        s = ir_fmt("%s%s%lld", s, i ? ", " : "", (long long)m->norm_shape.d[i]);
    m->repr = ir_fmt("LayerNorm(%s%s), eps=%s, elementwise_affine=%s)", s, m->norm_shape.rank == 1 ? "," : "",
                     eps->kind == V_FLOAT ? py_float_repr(m->eps) : ir_fmt("%lld", (long long)eps->i),
                     m->affine ? "True" : "False");
}

/* layer_norm over the last dims of x, which must equal ns: (x - mean) / sqrt(var + eps) * w + b */
Value *layer_norm(Value *x, Shape ns, Value *w, Value *b, double eps, SrcLoc loc) {
    tensor_arg(x, loc, "the input");
    Shape xs = TN(x)->shape;
    bool ok = xs.rank >= ns.rank && dtype_is_float(TN(x)->dtype);
    for (int i = 0; ok && i < ns.rank; i++)
        ok = xs.d[xs.rank - ns.rank + i] == ns.d[i];
    if (!ok)
        error_at(loc, "layer_norm: the input %s does not end in normalized_shape %s (a float tensor)",
                 type_str(TN(x)->dtype, xs), shape_str(ns));
    int64_t ax[MAX_RANK];
    for (int i = 0; i < ns.rank; i++)
        ax[i] = xs.rank - ns.rank + i;
    Value *axes = int_tuple(ax, ns.rank);
    Value *mean = lw_reduce(OP_MEAN, x, axes, true, loc);
    Value *d = tensor_binop(OP_SUB, x, mean, loc);
    Value *var = lw_reduce(OP_MEAN, tensor_binop(OP_MUL, d, d, loc), axes, true, loc);
    Value *y = tensor_binop(OP_DIV, d, unary_op(OP_SQRT, tensor_binop(OP_ADD, var, mk_float(eps), loc), loc), loc);
    if (w)
        y = tensor_binop(OP_MUL, y, w, loc);
    if (b)
        y = tensor_binop(OP_ADD, y, b, loc);
    lw_info(y->node)->fn = "NativeLayerNormBackward0";
    return y;
}

/* F.layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-05) */
Value *bi_layer_norm(Args *a) {
    SrcLoc loc = a->loc;
    Value *x = lw_req(a, 0, "input"), *ns = lw_req(a, 1, "normalized_shape");
    Value *w = lw_arg(a, 2, "weight", lw_mk(V_NONE)), *b = lw_arg(a, 3, "bias", lw_mk(V_NONE));
    double eps = float_arg(lw_arg(a, 4, "eps", mk_float(1e-5)), loc, "eps");
    DONE(a, 5, "input", "normalized_shape", "weight", "bias", "eps");
    Value *items = ns->kind == V_LIST || ns->kind == V_TUPLE ? ns : NULL;
    Shape s = items ? shape_from_values(items->items, items->n, loc) : shape_from_values(&ns, 1, loc);
    return layer_norm(x, s, w->kind == V_NONE ? NULL : tensor_arg(w, loc, "weight"),
                      b->kind == V_NONE ? NULL : tensor_arg(b, loc, "bias"), eps, loc);
}

/* adaptive_avg_pool2d: the mean over each plane for an output of 1x1, an avg_pool2d where the
 * output size divides the input's (the same windows PyTorch's adaptive pooling takes). */
Value *adaptive_avg_pool(Value *x, const int64_t os[2], SrcLoc loc) {
    Shape xs = TN(x)->shape;
    if (xs.rank != 4 && xs.rank != 3)
        error_at(loc, "adaptive_avg_pool2d expects [N, C, H, W] or [C, H, W], got %s", shape_str(xs));
    int64_t H = xs.d[xs.rank - 2], W = xs.d[xs.rank - 1];
    if (os[0] == 1 && os[1] == 1) {
        int64_t axes[2] = {xs.rank - 2, xs.rank - 1};
        return lw_reduce(OP_MEAN, x, int_tuple(axes, 2), true, loc);
    }
    if (H % os[0] == 0 && W % os[1] == 0) {
        int64_t k[2] = {H / os[0], W / os[1]}, pd[2] = {0, 0};
        return named_fn(avgpool_call(x, k, k, pd, false, true, loc), x, "AdaptiveAvgPool2DBackward0");
    }
    /* PyTorch's uneven windows: output i averages rows floor(i H / oh) to ceil((i + 1) H / oh) - 1,
     * and columns alike; the mean over rows, then over columns, each window's */
    if (os[0] > 64 || os[1] > 64)
        error_at(loc, "adaptive_avg_pool2d to %lldx%lld from %lldx%lld: windows that do not divide the input are "
                      "supported up to an output of 64x64", (long long)os[0], (long long)os[1], (long long)H,
                 (long long)W);
    Value *y = x;
    for (int ax = 0; ax < 2; ax++) {
        Shape s = TN(y)->shape;
        int d = s.rank - 2 + ax;
        int64_t len = s.d[d], o = os[ax];
        int *parts = ir_alloc(sizeof(int) * (size_t)o);
        for (int64_t i = 0; i < o; i++) {
            int64_t lo = i * len / o, hi = ((i + 1) * len + o - 1) / o;
            parts[i] = lw_reduce(OP_MEAN, narrow_view(y, d, lo, hi - lo, loc), mk_int(d), true, loc)->node;
        }
        Attr at = attr_int("axis", d);
        y = lw_result(lw_add(OP_CAT, parts, (int)o, TN(y)->dtype, shape_scalar(), &at, 1, loc), y, NULL);
    }
    lw_info(y->node)->fn = "AdaptiveAvgPool2DBackward0";
    return y;
}

/* model.train(mode) / model.eval(): the mode of every module inside (BatchNorm2d's statistics). */
void set_eval(Module *m, bool eval) {
    m->eval = eval;
    for (int i = 0; i < m->nchild; i++)
        set_eval(m->child[i], eval);
}

/* The buffers of a module tree, in order: groups and their PARAM nodes. */
void collect_buffers(Module *m, int *groups, int *nodes, int *n) {
    if (m->rmean >= 0) {
        int g[3] = {m->rmean, m->rvar, m->nbt}, id[3] = {m->rmean_node, m->rvar_node, m->nbt_node};
        for (int i = 0; i < 3; i++) {
            groups[*n] = g[i];
            nodes[(*n)++] = id[i];
        }
    }
    for (int i = 0; i < m->nchild; i++)
        collect_buffers(m->child[i], groups, nodes, n);
}

/* m(x): a builtin module's computation, or a user model's forward pass in its own scope. */
Value *module_call(Module *m, Args *a) {
    SrcLoc loc = a->loc;
    if (!m->decl && m->loss_reduction)
        return loss_call(m, a);
    if (!m->decl) {
        Value *x = tensor_arg(lw_req(a, 0, "input"), loc, "the input");
        DONE(a, 1, "input");
        if (!strcmp(m->cls, "Conv2d"))
            return conv2d_call(x, param_value(m->weight), m->bias >= 0 ? param_value(m->bias) : NULL,
                               pair_tuple(m->stride), pair_tuple(m->pad), pair_tuple(m->dil), mk_int(m->groups), loc);
        if (!strcmp(m->cls, "Linear"))
            return linear_call(x, param_value(m->weight), m->bias >= 0 ? param_value(m->bias) : NULL, loc);
        if (!strcmp(m->cls, "MaxPool2d"))
            return maxpool_call(x, m->k, m->stride, m->pad, m->dil, m->ceil_mode, loc);
        if (!strcmp(m->cls, "AvgPool2d"))
            return avgpool_call(x, m->k, m->stride, m->pad, m->ceil_mode, m->count_include_pad, loc);
        if (!strcmp(m->cls, "ReLU"))
            return unary_op(OP_RELU, x, loc);
        if (!strcmp(m->cls, "Tanh") || !strcmp(m->cls, "Sigmoid"))
            return unary_op(m->cls[0] == 'T' ? OP_TANH : OP_SIGMOID, x, loc);
        Value *act = activation_call(m, x, loc);
        if (act)
            return act;
        if (!strcmp(m->cls, "Flatten"))
            return lw_flatten(x, m->start_dim, m->end_dim, loc);
        if (!strcmp(m->cls, "BatchNorm2d") || !strcmp(m->cls, "BatchNorm1d"))
            return batch_norm(m, x, loc);
        if (!strcmp(m->cls, "LayerNorm"))
            return layer_norm(x, m->norm_shape, m->weight >= 0 ? param_value(m->weight) : NULL,
                              m->bias >= 0 ? param_value(m->bias) : NULL, m->eps, loc);
        if (!strcmp(m->cls, "AdaptiveAvgPool2d"))
            return adaptive_avg_pool(x, m->osize, loc);
        if (!strcmp(m->cls, "Sequential")) {
            for (int i = 0; i < m->nchild; i++) {
                Args ca = {.loc = loc, .fname = m->child[i]->cls, .pos = &x, .npos = 1};
                x = module_call(m->child[i], &ca);
            }
            return x;
        }
        unreachable();
    }
    Decl *d = m->decl;
    if (++L.depth_guard > 64)
        error_at(loc, "model calls nested more than 64 deep (does '%s' call itself?)", d->name);
    Scope *saved = L.scope;
    L.callers[L.ncallers++] = saved;
    L.scope = m->env;
    Scope *fs = push_scope();
    int npos = 0;
    const char *known[64];
    int nknown = 0;
    for (int i = 0; i < d->nparams; i++) {
        Param *p = &d->params[i];
        if (!is_tensor_type(p->type))
            continue;
        if (nknown < 64) known[nknown++] = p->name;
        Value *v = lw_arg(a, npos++, p->name, NULL);
        if (!v)
            error_at(loc, "%s() missing input '%s'", d->name, p->name);
        check_input(p, v, fs, loc, d->name);
        lw_bind(fs, p->name, v);
    }
    args_done(a, npos, known, nknown);
    if (npos == 0)
        error_at(d->loc, "model '%s' has no tensor input: declare one as NAME: f32[...]", d->name);
    Value *saved_ret = L.ret;
    bool saved_fwd = L.in_forward, saved_in_def = L.in_def;
    L.ret = NULL;
    L.in_forward = true;
    L.in_def = false;
    Stmt **body = ir_alloc(sizeof(Stmt *) * (size_t)(d->nbody ? d->nbody : 1));
    int n = 0;
    for (int i = 0; i < d->nbody; i++)
        if (!is_layer_decl(d->body[i]))
            body[n++] = d->body[i];
    run_forward(body, n, loc, d->name);
    Value *r = L.ret;
    if (!r)
        error_at(d->loc, "model '%s' does not return a value", d->name);
    L.ret = saved_ret;
    L.in_forward = saved_fwd;
    L.in_def = saved_in_def;
    L.scope = saved;
    L.ncallers--;
    L.depth_guard--;
    return r;
}

/* ---- a model checked alone ---- */

/* Runs a model's forward pass once on an input of its declared type, so its errors show even
   when no program calls it. The first dimension, if symbolic, is `batch`; any other symbolic
   dimension leaves the model unchecked here (its size is unknown until a call). */
static void check_model(Decl *d, int64_t batch, SrcLoc at, const char *reason) {
    Graph *saved_g = L.g;
    Scope *saved_scope = L.scope;
    NodeInfo *saved_info = L.info;
    int saved_ninfo = L.ninfo;
    L.info = NULL;
    L.ninfo = 0;
    L.g = ir_new_graph(d->name);
    L.scope = L.globals;
    push_scope();
    Value **args = ir_alloc(sizeof(Value *) * (size_t)(d->nparams + 1));
    int nargs = 0;
    bool ok = true;
    for (int i = 0; i < d->nparams && ok; i++) {
        Param *p = &d->params[i];
        if (!is_tensor_type(p->type)) {
            ok = p->dflt != NULL; /* constructor arguments need defaults to be checked alone */
            continue;
        }
        Value *ty = lw_eval(p->type);
        if (ty->kind != V_TYPE)
            break;
        for (int k = 0; k < ty->shape.rank; k++)
            if (ty->sym && ty->sym[k]) {
                if (k == 0)
                    ty->shape.d[0] = batch;
                else
                    ok = false;
            }
        if (ok) {
            Attr a = attr_str("name", p->name);
            args[nargs++] = mk_tensor(lw_add(OP_INPUT, NULL, 0, ty->dt, ty->shape, &a, 1, p->loc));
        }
    }
    if (ok) {
        L.checking = reason;
        Args a = {.loc = at, .fname = d->name};
        Value *m = construct_model(d, &a);
        Args c = {.loc = at, .fname = d->name, .pos = args, .npos = nargs};
        module_call(m->mod, &c);
    }
    L.checking = NULL;
    L.g = saved_g;
    L.scope = saved_scope;
    L.info = saved_info;
    L.ninfo = saved_ninfo;
}

/* check_model, with errors reported and the run going on. */
void check_model_recover(Decl *d, int64_t batch, SrcLoc at, const char *reason) {
    jmp_buf here, *outer = diag_catch;
    diag_catch = &here;
    Graph *g = L.g;
    Scope *s = L.scope;
    NodeInfo *ni = L.info;
    int nni = L.ninfo;
    if (setjmp(here)) {
        L.g = g;
        L.scope = s;
        L.info = ni;
        L.ninfo = nni;
        L.no_grad = false;
        L.ret = NULL;
        L.in_forward = false;
        L.depth_guard = 0;
        L.nbuilding = 0;
        L.eval_depth = 0;
        L.ncallers = 0;
        L.checking = NULL;
    } else
        check_model(d, batch, at, reason);
    diag_catch = outer;
}
