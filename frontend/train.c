/*
 * train.c: train blocks, checked here and compiled by the trainer.
 *
 * A train block names a model and gives it settings, 'key = value' (data, batch, loss,
 * optimizer, epochs, ...). check_train checks every setting and runs the model once with the
 * block's batch; lower_train then builds the training step as one graph: x and y are inputs,
 * the parameters and the optimizer's state persistent params, the loss the output, with the
 * forward pass, the gradients (grad nodes, which pass_autodiff expands) and the update in
 * order. The trainer's settings and the predict graph (the forward pass alone, in eval mode)
 * go with the step.
 */
#include "lower.h"

#include <math.h>
#include <string.h>

/* ---- the training step of a train block ---- */

static const char *call_name(Expr *e);

static Expr *train_setting(Decl *d, const char *key);

/* Numbers of a list or tuple expression (normalize's mean and std), at most 4. */
static int number_list(Expr *e, double *out) {
    Value *v = lw_eval(e);
    if (is_scalar(v)) {
        out[0] = num(v);
        return 1;
    }
    if ((v->kind != V_LIST && v->kind != V_TUPLE) || v->n < 1 || v->n > 4)
        error_at(e->loc, "expected a number or a list of up to 4 numbers");
    for (int i = 0; i < v->n; i++)
        out[i] = float_arg(v->items[i], e->loc, "each value");
    return v->n;
}

/* The trainer's settings, and the predict graph: the model's forward pass alone, its parameters
   created in the same order as the step's, so both find them at the same arena offsets. */
static TrainConfig *train_config(Decl *d, Decl *md, int64_t batch, Value *xin, int64_t slices) {
    TrainConfig *c = ir_alloc(sizeof(TrainConfig));
    c->slices = slices;
    Expr *data = train_setting(d, "data");
    c->data_kind = call_name(data);
    if (!strcmp(c->data_kind, "idx"))
        error_at(data->loc, "idx(...) data is not supported by the trainer yet; use mnist(dir) or fashion_mnist(dir)");
    c->data_dir = data->items[0]->str;
    Expr *e;
    if ((e = train_setting(d, "pad")))
        c->pad = (int)e->ival;
    if ((e = train_setting(d, "transform"))) {
        for (int i = 0; i < e->nitems; i++) {
            const char *k = e->names[i] ? e->names[i] : i == 0 ? "mean" : "std";
            if (!strcmp(k, "mean"))
                c->nnorm = number_list(e->items[i], c->mean);
            else if (!strcmp(k, "std")) {
                if (number_list(e->items[i], c->std) != c->nnorm)
                    error_at(e->items[i]->loc, "normalize: mean and std must have the same length");
            } else
                error_at(e->items[i]->loc, "normalize takes mean and std");
        }
    }
    int64_t channels = TN(xin)->shape.d[1];
    if (c->nnorm && c->nnorm != 1 && c->nnorm != channels)
        error_at(d->loc, "normalize has %d values for an input of %lld channels", c->nnorm, (long long)channels);
    if (c->nnorm && channels > 4)
        error_at(e->loc, "normalize: the trainer's data have 1 or 3 channels; the model takes %lld", (long long)channels);
    for (int i = 0; i < c->nnorm; i++)
        if (!isfinite(c->mean[i]) || !isfinite(c->std[i]) || c->std[i] == 0)
            error_at(e->loc, "normalize: std must be a nonzero number and mean a number (got mean %g, std %g): the "
                             "images would be nan or inf", c->mean[i], c->std[i]);
    for (int i = c->nnorm == 1 ? 1 : c->nnorm; i < channels && c->nnorm; i++) {
        c->mean[i] = c->mean[0];
        c->std[i] = c->std[0];
    }
    if (c->nnorm)
        c->nnorm = (int)channels;
    if ((e = train_setting(d, "classes"))) {
        c->nclasses = e->nitems;
        c->classes = ir_alloc(sizeof(char *) * (size_t)(e->nitems + 1));
        for (int i = 0; i < e->nitems; i++)
            c->classes[i] = e->items[i]->str;
    }
    c->epochs = (e = train_setting(d, "epochs")) ? e->ival : 1;
    c->log_every = (e = train_setting(d, "log_every")) ? e->ival : 2000;
    c->seed = (e = train_setting(d, "seed")) ? e->ival : 0;
    c->shuffle = (e = train_setting(d, "shuffle")) ? e->ival != 0 : true;
    c->checkpoint = (e = train_setting(d, "checkpoint")) ? e->str : NULL;
    /* the predict graph */
    DType xdt = TN(xin)->dtype;
    Shape xshape = TN(xin)->shape;
    xshape.d[0] *= slices; /* predict takes the whole batch */
    NodeInfo *ni = L.info;
    int nni = L.ninfo;
    L.g = ir_new_graph(ir_fmt("predict_%s", md->name));
    L.info = NULL;
    L.ninfo = 0;
    L.no_grad = true;
    Args ca = {.loc = d->loc, .fname = md->name};
    Value *net = construct_model(md, &ca);
    set_eval(net->mod, true); /* inference: BatchNorm2d normalizes with its running statistics */
    Attr a = attr_str("name", "x");
    int x = lw_add(OP_INPUT, NULL, 0, xdt, xshape, &a, 1, d->loc);
    L.g->nodes[x].flags |= NF_INPUT;
    L.g->nodes[x].name = "x";
    Value *xv = mk_tensor(x);
    Args fa = {.loc = d->loc, .fname = md->name, .pos = &xv, .npos = 1};
    Value *out = module_call(net->mod, &fa);
    L.g->nodes[out->node].flags |= NF_OUTPUT;
    L.no_grad = false;
    name_orphans();
    c->predict = L.g;
    if (c->nclasses && TN(out)->shape.rank == 2 && TN(out)->shape.d[1] != c->nclasses)
        error_at(train_setting(d, "classes")->loc, "%d class names for a model with %lld outputs", c->nclasses,
                 (long long)TN(out)->shape.d[1]);
    (void)batch;
    L.info = ni;
    L.ninfo = nni;
    return c;
}

/* The setting `key` of a train block, or NULL. */
static Expr *train_setting(Decl *d, const char *key) {
    for (int i = 0; i < d->nbody; i++)
        if (d->body[i]->kind == S_ASSIGN && d->body[i]->target->kind == E_NAME && !strcmp(d->body[i]->target->str, key))
            return d->body[i]->value;
    return NULL;
}

/* freeze_batchnorm = true: the BatchNorm2d layers outside `trainable` run in eval mode in the step,
 * normalizing with their running statistics and leaving them as they are (PyTorch's
 * module.eval() on the frozen part); by default they move, as a frozen PyTorch model's do. */
static void freeze_batchnorm(Module *m, Expr *trainable) {
    if (!strcmp(m->cls, "BatchNorm2d")) {
        bool trains = !trainable;
        for (int j = 0; trainable && j < trainable->nitems; j++) {
            /* "layer4" holds the module "layer4.1.bn2."; "bn1.weight" is one of "bn1."'s parameters */
            const char *t = trainable->items[j]->str;
            size_t l = strlen(t), pl = strlen(m->path);
            trains |= (!strncmp(m->path, t, l) && (m->path[l] == '.' || !m->path[l])) || !strncmp(t, m->path, pl);
        }
        m->eval = !trains;
    }
    for (int i = 0; i < m->nchild; i++)
        freeze_batchnorm(m->child[i], trainable);
}

/*
 * A step that draws random numbers (dropout in training mode) draws them from a generator of its
 * own, seeded afresh each step from a persistent i64[2] {seed, steps taken} (init "draws"): the
 * checkpoint keeps it under the name "dropout_rng", so a resumed run draws what an uninterrupted
 * one would, with no generator state in the file but two numbers.
 */
static void step_generator(void) {
    for (int i = 0; i < L.g->nnode; i++) {
        Op op = L.g->nodes[i].op;
        if (op == OP_BERNOULLI || op == OP_RAND || op == OP_RANDN || op == OP_RANDINT || op == OP_RANDPERM) {
            Attr a = attr_str("init", "draws");
            int id = lw_add(OP_PARAM, NULL, 0, DT_I64, shape_make(1, (int64_t[]){2}), &a, 1, L.g->nodes[i].loc);
            L.g->nodes[id].flags |= NF_PARAM;
            L.g->nodes[id].name = "dropout_rng";
            return;
        }
    }
}

/* A step whose kernels are a GPU's (--target cuda, --emit=cuda) takes the batch whole. */
static bool whole_batch;
void lower_whole_batch(bool whole) { whole_batch = whole; }

/* Does the model mix the samples of a batch (BatchNorm in training mode: the batch's statistics)? */
static bool batch_coupled(Module *m) {
    if ((!strcmp(m->cls, "BatchNorm2d") || !strcmp(m->cls, "BatchNorm1d")) && !m->eval)
        return true;
    for (int i = 0; i < m->nchild; i++)
        if (batch_coupled(m->child[i]))
            return true;
    return false;
}

/*
 * The slice: how many images the step's forward and backward pass take at a time, so that their
 * activations can stay in cache (a batch of 64 LeNet images is 5 MB of them; 8 are 0.6 MB). The
 * block's `slice = N` (a divisor of the batch) asks for it; by default the step takes the whole
 * batch: measured on LeNet (docs/language.md), slices of 8 are as fast on one thread and slower
 * on two, whose kernels then split too little work; slices pay once they are whole parts for
 * whole threads. A model that mixes its samples (batch norm in training mode) or a step for a GPU
 * takes the whole batch.
 */
static int64_t slice_of(Decl *d, Module *net, int64_t batch) {
    Expr *e = train_setting(d, "slice");
    if (!e || whole_batch || lower_on_gpu())
        return batch;
    if (batch % e->ival)
        error_at(e->loc, "slice must divide the batch (%lld images)", (long long)batch);
    if (e->ival != batch && batch_coupled(net))
        error_at(e->loc, "the model's batch norm takes its statistics over the whole batch: it cannot be sliced");
    return e->ival;
}

/*
 * With the batch in slices, each slice's gradients are added into a sum kept beside the parameter
 * (a persistent "<name>.grad_sum", zeroed before the first slice, stored back at the end of the
 * step like any state, left out of checkpoints), and the update reads the sum times 1 / slices:
 * the mean over the batch. The code generator runs every kernel but the update's once per slice,
 * and the stores into the sums with them. Returns the (sum, new sum) pairs to store.
 */
static int sum_slices(int *grads, const char **names, int nw, int64_t slices, SrcLoc loc, int *pairs) {
    int n = 0;
    for (int i = 0; i < nw; i++) {
        if (grads[i] < 0)
            continue;
        Node *g = &L.g->nodes[grads[i]];
        Attr a = attr_str("init", "acc");
        int acc = lw_add(OP_PARAM, NULL, 0, g->dtype, g->shape, &a, 1, loc);
        L.g->nodes[acc].flags |= NF_PARAM;
        L.g->nodes[acc].name = ir_fmt("%s.grad_sum", names[i]);
        int sum = lw_add2(OP_ADD, acc, grads[i], loc);
        L.g->nodes[sum].flags |= NF_BACKWARD; /* with the gradient: an epilogue of its kernel where it can be */
        pairs[n++] = acc;
        pairs[n++] = sum;
        int r = lw_add2(OP_MUL, sum, const_scalar(mk_float(1.0 / (double)slices), L.g->nodes[acc].dtype, loc), loc);
        L.g->nodes[r].flags |= NF_UPDATE;
        grads[i] = r;
    }
    return n;
}

/* The step's input x: the model's declared type with its first (symbolic) dimension the slice; a
 * model declared with a fixed first dimension takes no slices (*slice becomes the batch). */
static Value *train_input(Decl *d, Decl *md, Expr *batch_e, int64_t *slice) {
    Value *xin = NULL;
    for (int i = 0; i < md->nparams; i++) {
        if (!is_tensor_type(md->params[i].type))
            continue;
        if (xin)
            error_at(d->loc, "a trained model takes one input tensor; %s takes several", md->name);
        Value *ty = lw_eval(md->params[i].type);
        if (!ty->sym || !ty->shape.rank || !ty->sym[0])
            *slice = batch_e->ival;
        for (int k = 0; k < ty->shape.rank; k++)
            if (ty->sym && ty->sym[k]) {
                if (k)
                    error_at(md->params[i].loc, "a trained model's input may be symbolic in its first (batch) "
                                                "dimension only");
                ty->shape.d[0] = batch_e->ival;
                check_numel(ty->shape, NULL, batch_e->loc);
                ty->shape.d[0] = *slice;
            }
        Attr a = attr_str("name", "x");
        int x = lw_add(OP_INPUT, NULL, 0, ty->dt, ty->shape, &a, 1, md->params[i].loc);
        L.g->nodes[x].flags |= NF_INPUT;
        L.g->nodes[x].name = "x";
        xin = mk_tensor(x);
    }
    return xin;
}

/*
 * A train block's step as one graph: x and y are inputs, the parameters and optimizer state are
 * persistent params, the loss is the output. Forward, backward (autodiff) and update in order.
 */
Graph *lower_train(Decl *d) {
    Binding *mb = find_in(L.globals, d->name);
    Decl *md = mb->v->decl;
    Expr *batch_e = train_setting(d, "batch"), *loss_e = train_setting(d, "loss"), *opt_e = train_setting(d, "optimizer");
    begin_graph(ir_fmt("train_%s", md->name));
    Args ca = {.loc = d->loc, .fname = md->name};
    Value *net = construct_model(md, &ca);
    Expr *fz = train_setting(d, "freeze_batchnorm");
    if (fz && fz->ival && !train_setting(d, "trainable"))
        error_at(fz->loc, "freeze_batchnorm = true fixes the statistics of the frozen layers; say which train with "
                          "trainable = [...]");
    if (fz && fz->ival)
        freeze_batchnorm(net->mod, train_setting(d, "trainable"));
    int64_t slice = slice_of(d, net->mod, batch_e->ival);
    Value *xin = train_input(d, md, batch_e, &slice);
    Args fa = {.loc = d->loc, .fname = md->name, .pos = &xin, .npos = 1};
    Value *out = module_call(net->mod, &fa);
    tensor_arg(out, d->loc, "the model's output");
    step_generator();
    /* buffers the forward pass moved (BatchNorm2d's running statistics): stored back at the end */
    int *bgroups = ir_alloc(sizeof(int) * (size_t)(L.g->nnode + 1)), *bnodes = ir_alloc(sizeof(int) * (size_t)(L.g->nnode + 1)),
        nb = 0;
    collect_buffers(net->mod, bgroups, bnodes, &nb);
    bool ce = !strcmp(loss_e->str, "cross_entropy");
    Shape ys = ce ? shape_make(1, &TN(out)->shape.d[0]) : TN(out)->shape;
    Attr ya = attr_str("name", "y");
    int y = lw_add(OP_INPUT, NULL, 0, ce ? DT_I64 : DT_F32, ys, &ya, 1, d->loc);
    L.g->nodes[y].flags |= NF_INPUT;
    L.g->nodes[y].name = "y";
    Value *loss = ce ? cross_entropy(out, mk_tensor(y), "mean", loss_e->loc) : mse_loss(out, mk_tensor(y), "mean", loss_e->loc);
    L.g->nodes[loss->node].flags |= NF_OUTPUT;
    L.g->nodes[loss->node].name = "loss";
    /* backward, for the parameters that require grad */
    Value **ps = NULL;
    int np = 0;
    collect_params(net->mod, &ps, &np);
    int *wrt = ir_alloc(sizeof(int) * (size_t)(np + 1)), *grads = ir_alloc(sizeof(int) * (size_t)(np + 1));
    const char **names = ir_alloc(sizeof(char *) * (size_t)(np + 1));
    int nw = 0;
    /* trainable = ["fc"]: only those modules' parameters train, the rest are frozen, as
     * `for p in model.parameters(): p.requires_grad = False` before a new fc is */
    Expr *tr = train_setting(d, "trainable");
    bool *used = tr ? ir_alloc((size_t)tr->nitems + 1) : NULL;
    for (int i = 0; i < np; i++) {
        const char *pn = TN(ps[i])->name ? TN(ps[i])->name : "";
        bool keep = !tr;
        for (int j = 0; tr && j < tr->nitems; j++) {
            size_t l = strlen(tr->items[j]->str);
            if (!strcmp(pn, tr->items[j]->str) || (!strncmp(pn, tr->items[j]->str, l) && pn[l] == '.'))
                keep = used[j] = true;
        }
        if (!keep) {
            L.group_rg[ps[i]->group] = false;
            lw_info(ps[i]->node)->rg = false;
            L.g->nodes[ps[i]->node].flags &= ~NF_TRAINABLE;
            ps[i] = NULL;
            continue;
        }
        if (L.group_rg[ps[i]->group]) {
            wrt[nw] = ps[i]->node;
            names[nw++] = TN(ps[i])->name;
        }
    }
    for (int j = 0; tr && j < tr->nitems; j++)
        if (!used[j])
            error_at(tr->items[j]->loc, "trainable: %s has no parameter named '%s' or inside a module '%s'", md->name,
                     tr->items[j]->str, tr->items[j]->str);
    int kept = 0; /* the optimizer takes the trainable parameters only */
    for (int i = 0; i < np; i++)
        if (ps[i])
            ps[kept++] = ps[i];
    np = kept;
    int seed = lw_filled(shape_scalar(), TN(loss)->dtype, mk_int(1), d->loc)->node;
    /* dL/d each parameter the loss reaches, as grad nodes that pass_autodiff expands; NF_GRAD:
     * memory planning keeps gradients beside their parameters */
    bool *reach = ir_grad_reach(L.g, loss->node, wrt, nw);
    for (int i = 0; i < nw; i++) {
        int in[3] = {loss->node, seed, wrt[i]};
        Attr call = attr_int("call", 1);
        grads[i] = reach[wrt[i]] ? lw_add(OP_GRAD, in, 3, DT_F32, shape_scalar(), &call, 1, loss_e->loc) : -1;
        if (grads[i] >= 0)
            L.g->nodes[grads[i]].flags |= NF_GRAD;
    }
    int64_t slices = batch_e->ival / slice;
    int *sums = ir_alloc(sizeof(int) * (size_t)(2 * nw + 2)), nsums = 0;
    if (slices > 1)
        nsums = sum_slices(grads, names, nw, slices, loss_e->loc, sums);
    for (int i = 0; i < L.g->nnode; i++)
        if (i >= L.ninfo || !L.info)
            *lw_info(i) = (NodeInfo){.leaf = -1};
    /* the optimizer, from the block's setting */
    Args oa = {.loc = opt_e->loc, .fname = opt_e->lhs->str};
    Value **pos = ir_alloc(sizeof(Value *) * (size_t)(opt_e->nitems + 2));
    const char **kw = ir_alloc(sizeof(char *) * (size_t)(opt_e->nitems + 1));
    Value **kwv = ir_alloc(sizeof(Value *) * (size_t)(opt_e->nitems + 1));
    Value *plist = lw_mk(V_LIST);
    plist->items = ps;
    plist->n = np;
    pos[oa.npos++] = plist;
    for (int i = 0; i < opt_e->nitems; i++) {
        if (opt_e->names[i]) {
            kw[oa.nkw] = opt_e->names[i];
            kwv[oa.nkw++] = lw_eval(opt_e->items[i]);
        }
    }
    oa.pos = pos;
    oa.kw = kw;
    oa.kwv = kwv;
    Value *ov = make_optimizer(opt_e->lhs->str, &oa);
    int *assigns = ir_alloc(sizeof(int) * (size_t)(8 * nw + 4)), nassign = 0;
    L.no_grad = true;
    runtime_update(ov->optim, wrt, names, grads, nw, opt_e->loc, assigns, &nassign);
    L.no_grad = false;
    for (int i = 0; i < nassign; i += 2) {
        int in[2] = {assigns[i], assigns[i + 1]};
        int a = lw_add(OP_ASSIGN, in, 2, DT_F32, shape_scalar(), NULL, 0, opt_e->loc);
        L.g->nodes[a].flags |= NF_UPDATE;
    }
    for (int i = 0; i < nb; i++) {
        int in[2] = {bnodes[i], L.group_base[bgroups[i]]};
        if (in[1] == in[0])
            continue;
        int a = lw_add(OP_ASSIGN, in, 2, DT_F32, shape_scalar(), NULL, 0, d->loc);
        L.g->nodes[a].flags |= NF_UPDATE;
    }
    for (int i = 0; i < nsums; i += 2) /* not the update's: each slice stores its sums (emit_step) */
        lw_add(OP_ASSIGN, &sums[i], 2, DT_F32, shape_scalar(), NULL, 0, loss_e->loc);
    Graph *step = L.g;
    name_orphans();
    step->train = train_config(d, md, batch_e->ival, xin, slices);
    L.g = step;
    return step;
}

/* ---- checking a train block ---- */

static const char *call_name(Expr *e) {
    if (e->kind != E_CALL)
        return NULL;
    Expr *c = e->lhs;
    if (c->kind == E_NAME || c->kind == E_ATTR)
        return c->str;
    return NULL;
}

/* lw_eval, with an error reported and NULL returned instead of a stop. */
static Value *eval_or_null(Expr *e) {
    Value *volatile val = NULL;
    jmp_buf here, *outer = diag_catch;
    diag_catch = &here;
    if (!setjmp(here))
        val = lw_eval(e);
    diag_catch = outer;
    L.eval_depth = 0;
    return val;
}

/* Checks an optimizer call's keywords and values against PyTorch's signature. */
static void check_optimizer(Expr *v) {
    const char *cn = call_name(v);
    bool sgd = !strcmp(cn, "SGD");
    static const char *sgd_keys[] = {"lr", "momentum", "dampening", "weight_decay", "nesterov"};
    static const char *adam_keys[] = {"lr", "betas", "eps", "weight_decay", "amsgrad"};
    static const char *rms_keys[] = {"lr", "alpha", "eps", "weight_decay", "momentum", "centered"};
    static const char *ada_keys[] = {"lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps"};
    bool rms = !strcmp(cn, "RMSprop"), ada = !strcmp(cn, "Adagrad");
    const char *const *keys = sgd ? sgd_keys : rms ? rms_keys : ada ? ada_keys : adam_keys;
    int nkeys = rms ? 6 : 5;
    bool has_lr = !sgd; /* Adam has a default lr (1e-3); SGD does not */
    double momentum = 0, dampening = 0;
    bool nesterov = false;
    for (int i = 0; i < v->nitems; i++) {
        const char *k = v->names[i];
        Expr *e = v->items[i];
        if (!k) {
            diag_error(e->loc, "%s: give every setting by name, e.g. %s(lr=0.001)", cn, cn);
            continue;
        }
        int ki = -1;
        for (int j = 0; j < nkeys; j++)
            if (!strcmp(keys[j], k))
                ki = j;
        if (ki < 0) {
            const char *hint = diag_suggest(k, keys, nkeys);
            if (hint)
                diag_error(e->loc, "%s has no setting '%s'; did you mean '%s'?", cn, k, hint);
            else
                diag_error(e->loc, "%s has no setting '%s'", cn, k);
            continue;
        }
        Value *val = eval_or_null(e);
        if (!val)
            continue;
        if (!strcmp(k, "betas")) {
            if ((val->kind != V_TUPLE && val->kind != V_LIST) || val->n != 2 || !is_scalar(val->items[0]) ||
                !is_scalar(val->items[1]) || num(val->items[0]) < 0 || num(val->items[0]) >= 1 ||
                num(val->items[1]) < 0 || num(val->items[1]) >= 1)
                diag_error(e->loc, "betas must be a pair of numbers in [0, 1), e.g. (0.9, 0.999)");
        } else if (!strcmp(k, "nesterov") || !strcmp(k, "amsgrad") || !strcmp(k, "centered")) {
            if (val->kind != V_BOOL)
                diag_error(e->loc, "%s must be true or false", k);
            else if (!strcmp(k, "nesterov"))
                nesterov = val->i;
        } else if (!is_scalar(val) || val->kind == V_BOOL || num(val) < 0 || !isfinite(num(val))) {
            diag_error(e->loc, "%s must be a non-negative number", k);
        } else {
            if (!strcmp(k, "lr"))
                has_lr = true;
            if (!strcmp(k, "momentum"))
                momentum = num(val);
            if (!strcmp(k, "dampening"))
                dampening = num(val);
        }
    }
    if (!has_lr)
        diag_error(v->loc, "SGD needs a learning rate: SGD(lr=...)");
    if (nesterov && (momentum <= 0 || dampening != 0))
        diag_error(v->loc, "nesterov momentum requires a momentum and zero dampening");
}

void check_train(Decl *d) {
    Binding *m = find_in(L.globals, d->name);
    if (!m || m->v->kind != V_CLASS || !m->v->decl) {
        const char *cands[64];
        int n = 0;
        for (int i = 0; i < L.ast->ndecls && n < 64; i++)
            if (L.ast->decls[i]->kind == D_MODEL)
                cands[n++] = L.ast->decls[i]->name;
        const char *hint = diag_suggest(d->name, cands, n);
        if (hint)
            diag_error(d->loc, "train block names unknown model '%s'; did you mean '%s'?", d->name, hint);
        else
            diag_error(d->loc, "train block names unknown model '%s'", d->name);
    }
    static const char *keys[] = {"data", "test_data", "transform", "pad", "classes", "batch", "shuffle",
                                 "loss", "optimizer", "epochs", "log_every", "seed", "checkpoint", "trainable",
                                 "freeze_batchnorm", "slice"};
    const int nkeys = (int)(sizeof keys / sizeof keys[0]);
    bool seen[sizeof keys / sizeof keys[0]] = {0};
    for (int i = 0; i < d->nbody; i++) {
        Stmt *s = d->body[i];
        if (s->kind != S_ASSIGN || strcmp(s->op, "=") || s->target->kind != E_NAME) {
            diag_error(s->loc, "a train block holds 'key = value' settings only");
            continue;
        }
        const char *k = s->target->str;
        int ki = -1;
        for (int j = 0; j < nkeys; j++)
            if (!strcmp(keys[j], k))
                ki = j;
        if (ki < 0) {
            const char *hint = diag_suggest(k, keys, nkeys);
            if (hint)
                diag_error(s->target->loc, "unknown train setting '%s'; did you mean '%s'?", k, hint);
            else
                diag_error(s->target->loc, "unknown train setting '%s'", k);
            continue;
        }
        if (seen[ki])
            diag_error(s->target->loc, "train setting '%s' given twice", k);
        seen[ki] = true;
        Expr *v = s->value;
        const char *cn = call_name(v);
        if (!strcmp(k, "data") || !strcmp(k, "test_data")) {
            static const char *ok[] = {"cifar10", "mnist", "fashion_mnist", "idx"};
            bool good = cn && v->nitems >= 1 && v->items[0]->kind == E_STR;
            for (int j = 0; good && j < 4; j++)
                if (!strcmp(cn, ok[j])) break; else if (j == 3) good = false;
            if (!good)
                diag_error(v->loc, "%s must be cifar10(\"dir\"), mnist(\"dir\"), fashion_mnist(\"dir\") or idx(\"images\", \"labels\")", k);
        } else if (!strcmp(k, "transform")) {
            if (!cn || strcmp(cn, "normalize"))
                diag_error(v->loc, "transform must be normalize(mean=[...], std=[...])");
        } else if (!strcmp(k, "optimizer")) {
            if (!cn || (strcmp(cn, "SGD") && strcmp(cn, "Adam") && strcmp(cn, "AdamW") && strcmp(cn, "RMSprop") &&
                        strcmp(cn, "Adagrad")))
                diag_error(v->loc, "optimizer must be SGD(...), Adam(...), AdamW(...), RMSprop(...) or Adagrad(...)");
            else
                check_optimizer(v);
        } else if (!strcmp(k, "loss")) {
            if (v->kind != E_NAME || (strcmp(v->str, "cross_entropy") && strcmp(v->str, "mse_loss")))
                diag_error(v->loc, "loss must be cross_entropy or mse_loss");
        } else if (!strcmp(k, "classes")) {
            bool good = v->kind == E_LIST || v->kind == E_TUPLE;
            for (int j = 0; good && j < v->nitems; j++)
                good = v->items[j]->kind == E_STR;
            if (!good)
                diag_error(v->loc, "classes must be a list of strings");
        } else if (!strcmp(k, "shuffle") || !strcmp(k, "freeze_batchnorm")) {
            if (v->kind != E_BOOL)
                diag_error(v->loc, "%s must be true or false", k);
        } else if (!strcmp(k, "checkpoint")) {
            if (v->kind != E_STR)
                diag_error(v->loc, "checkpoint must be a file path string");
        } else if (!strcmp(k, "trainable")) {
            bool good = v->kind == E_LIST && v->nitems > 0;
            for (int j = 0; good && j < v->nitems; j++)
                good = v->items[j]->kind == E_STR;
            if (!good)
                diag_error(v->loc, "trainable must be a list of module or parameter names, e.g. [\"fc\"]");
        } else if (!strcmp(k, "pad")) {
            if (v->kind != E_INT || v->ival < 0 || v->ival > 1024)
                diag_error(v->loc, "pad must be an integer from 0 to 1024");
        } else if (!strcmp(k, "batch")) {
            if (v->kind != E_INT || v->ival < 1 || v->ival > (1 << 20))
                diag_error(v->loc, "batch must be an integer from 1 to 1048576");
        } else {
            if (v->kind != E_INT || v->ival < (strcmp(k, "seed") ? 1 : 0))
                diag_error(v->loc, "%s must be a positive integer", k);
        }
    }
    if (m && m->v->kind == V_CLASS && m->v->decl) {
        int64_t batch = 1;
        for (int i = 0; i < d->nbody; i++)
            if (d->body[i]->kind == S_ASSIGN && d->body[i]->target->kind == E_NAME &&
                !strcmp(d->body[i]->target->str, "batch") && d->body[i]->value->kind == E_INT &&
                d->body[i]->value->ival > 0 && d->body[i]->value->ival <= (1 << 20))
                batch = d->body[i]->value->ival;
        check_model_recover(m->v->decl, batch, d->loc,
                            ir_fmt("run with a batch of %lld for this train block", (long long)batch));
    }
    static const char *required[] = {"data", "batch", "loss", "optimizer", "epochs"};
    for (int j = 0; j < 5; j++) {
        bool have = false;
        for (int i = 0; i < nkeys; i++)
            if (seen[i] && !strcmp(keys[i], required[j]))
                have = true;
        if (!have)
            diag_error(d->loc, "train block is missing the setting '%s'", required[j]);
    }
}
