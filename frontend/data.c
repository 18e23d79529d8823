/*
 * data.c: data as PyTorch spells it: torchvision's FashionMNIST, MNIST and CIFAR10 datasets,
 * the transforms ToTensor, Normalize, Pad and Compose, TensorDataset over the program's own
 * tensors, torch.utils.data.DataLoader, iter() and next().
 *
 * Everything here is known at compile time except the pixels: a dataset's class fixes how many
 * images it has and their size, a loader's batch size fixes the batches' shapes. The host code
 * (stage.c) loads a dataset where the program creates it, and each iter() or `for ... in
 * loader` runs an iterator of runtime/loader.c, which draws from the program's generator as
 * PyTorch does (the same permutation for the same seed). What a loader yields is a tuple
 * (images f32[B, C, H, W], labels i64[B]) read from two slots the host writes, or for a
 * TensorDataset a list of each tensor's rows [B, ...], one slot per tensor.
 */
#include "lower.h"

#include <string.h>

typedef struct {
    const char *cls, *kind;
    int64_t ntrain, ntest;
    int c, h, w;
    const char *classes[10];
} DatasetClass;

static const DatasetClass dataset_classes[] = {
    {"FashionMNIST", "fashion_mnist", 60000, 10000, 1, 28, 28,
     {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"}},
    {"MNIST", "mnist", 60000, 10000, 1, 28, 28,
     {"0 - zero", "1 - one", "2 - two", "3 - three", "4 - four", "5 - five", "6 - six", "7 - seven", "8 - eight",
      "9 - nine"}},
    {"CIFAR10", "cifar10", 50000, 10000, 3, 32, 32,
     {"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"}},
};

static Value *data_value(VKind k) {
    Value *v = lw_mk(k);
    v->dobj = ir_alloc(sizeof(DataObj));
    return v;
}

/* ---- transforms ---- */

static void norm_values(Value *v, double *out, int *n, SrcLoc loc, const char *what) {
    if (is_scalar(v)) {
        out[0] = num(v);
        *n = 1;
        return;
    }
    if ((v->kind != V_LIST && v->kind != V_TUPLE) || v->n < 1 || v->n > 4)
        error_at(loc, "Normalize's %s must be a sequence of one to four numbers, one per channel", what);
    for (int i = 0; i < v->n; i++)
        out[i] = float_arg(v->items[i], loc, what);
    *n = v->n;
}

/* Adds transform t (one step, or a Compose's) to the pipeline p, in order. */
static void compose_into(DataObj *p, const DataObj *t, SrcLoc loc) {
    if (t->to_tensor) {
        if (p->to_tensor)
            error_at(loc, "ToTensor twice in one transform");
        p->to_tensor = true;
    }
    if (t->pad) {
        if (p->nnorm)
            error_at(loc, "Pad after Normalize is not supported yet (pad before it: the border then "
                          "normalizes as a zero pixel)");
        p->pad += t->pad;
    }
    if (t->nnorm) {
        if (!p->to_tensor && !t->to_tensor)
            error_at(loc, "Normalize takes a tensor: put transforms.ToTensor() before it");
        if (p->nnorm)
            error_at(loc, "Normalize twice in one transform is not supported yet");
        p->nnorm = t->nnorm;
        memcpy(p->mean, t->mean, sizeof p->mean);
        memcpy(p->std, t->std, sizeof p->std);
    }
}

/* ToTensor(), Normalize(mean, std), Pad(padding), Compose([...]) */
Value *bi_transform(Args *a) {
    SrcLoc loc = a->loc;
    Value *v = data_value(V_TRANSFORM);
    DataObj *t = v->dobj;
    if (!strcmp(a->fname, "ToTensor")) {
        args_done(a, 0, NULL, 0);
        t->to_tensor = true;
    } else if (!strcmp(a->fname, "Normalize")) {
        int nm, ns;
        norm_values(lw_req(a, 0, "mean"), t->mean, &nm, loc, "mean");
        norm_values(lw_req(a, 1, "std"), t->std, &ns, loc, "std");
        bool inplace = bool_arg(lw_arg(a, 2, "inplace", mk_bool(false)), loc, "inplace");
        (void)inplace;
        DONE(a, 3, "mean", "std", "inplace");
        if (nm != ns)
            error_at(loc, "Normalize: mean has %d values and std %d", nm, ns);
        for (int i = 0; i < ns; i++)
            if (t->std[i] == 0)
                error_at(loc, "Normalize: std evaluated to zero, leading to division by zero");
        t->nnorm = nm;
    } else if (!strcmp(a->fname, "Pad")) {
        int64_t p = int_arg(lw_req(a, 0, "padding"), loc, "Pad's padding (one number, for every side)");
        Value *fill = lw_arg(a, 1, "fill", mk_int(0));
        DONE(a, 2, "padding", "fill");
        if (!is_scalar(fill) || num(fill) != 0)
            error_at(loc, "Pad with a fill other than 0 is not supported yet");
        if (p < 0 || p > 1024)
            error_at(loc, "Pad's padding must be between 0 and 1024, got %lld", (long long)p);
        t->pad = (int)p;
    } else { /* Compose */
        Value *l = lw_req(a, 0, "transforms");
        DONE(a, 1, "transforms");
        if (l->kind != V_LIST && l->kind != V_TUPLE)
            error_at(loc, "Compose takes a list of transforms, not %s", kind_name(l));
        for (int i = 0; i < l->n; i++) {
            if (l->items[i]->kind != V_TRANSFORM)
                error_at(loc, "Compose: item %d is %s, not a transform", i, kind_name(l->items[i]));
            compose_into(t, l->items[i]->dobj, loc);
        }
    }
    return v;
}

/* ---- datasets ---- */

/* FashionMNIST(root, train=True, download=False, transform=None) and its siblings. */
Value *bi_dataset(Args *a) {
    SrcLoc loc = a->loc;
    const DatasetClass *dc = &dataset_classes[a->code];
    Value *root = lw_req(a, 0, "root");
    bool train = bool_arg(lw_arg(a, 1, "train", mk_bool(true)), loc, "train");
    Value *tf = lw_arg(a, 2, "transform", lw_mk(V_NONE));
    Value *target_tf = lw_arg(a, 3, "target_transform", lw_mk(V_NONE));
    bool download = bool_arg(lw_arg(a, 4, "download", mk_bool(false)), loc, "download");
    (void)download; /* the files must be there: tgc's programs never download */
    DONE(a, 5, "root", "train", "transform", "target_transform", "download");
    if (root->kind != V_STR && root->kind != V_OPTSTR)
        error_at(loc, "%s: root must be a string (or a string option), not %s", dc->cls, kind_name(root));
    if (target_tf->kind != V_NONE)
        error_at(loc, "%s: target_transform is not supported yet", dc->cls);
    if (tf->kind != V_TRANSFORM || !tf->dobj->to_tensor)
        error_at(loc, "%s: a DataLoader batches tensors: pass transform=transforms.ToTensor() (or a Compose "
                      "that has it)", dc->cls);
    if (tf->dobj->nnorm && tf->dobj->nnorm != dc->c && tf->dobj->nnorm != 1)
        error_at(loc, "%s has %d channel%s; Normalize was given %d means", dc->cls, dc->c, dc->c > 1 ? "s" : "",
                 tf->dobj->nnorm);
    HostDataset hd = {.kind = dc->kind, .cls = dc->cls, .root = root->kind == V_STR ? root->s : root->self->s,
                      .root_option = root->kind == V_OPTSTR ? root->s : NULL, .train = train,
                      .n = train ? dc->ntrain : dc->ntest, .c = dc->c, .h = dc->h, .w = dc->w};
    Value *v = data_value(V_DATASET);
    v->dobj->set = stage_dataset(&hd, loc);
    v->dobj->tf = tf->dobj;
    v->dobj->cls = a->code;
    v->dobj->n = hd.n;
    return v;
}

/* TensorDataset(*tensors): sample i is row i of each tensor, which must agree in their first
 * dimension. */
Value *bi_tensor_dataset(Args *a) {
    SrcLoc loc = a->loc;
    if (a->nkw)
        error_at(loc, "TensorDataset takes tensors, not keyword arguments");
    if (a->npos < 1 || a->npos > 8)
        error_at(loc, "TensorDataset takes 1 to 8 tensors, got %d", a->npos);
    Value *v = data_value(V_DATASET);
    DataObj *d = v->dobj;
    for (int i = 0; i < a->npos; i++) {
        Value *t = a->pos[i];
        if (t->kind != V_TENSOR)
            error_at(loc, "TensorDataset takes tensors; argument %d is %s", i + 1, kind_name(t));
        Node *n = TN(t);
        if (n->shape.rank < 1)
            error_at(loc, "TensorDataset: argument %d is a 0-d tensor; each needs a first dimension of samples",
                     i + 1);
        if (n->shape.d[0] != TN(a->pos[0])->shape.d[0])
            error_at(loc, "Size mismatch between tensors: argument %d has %lld rows, the first %lld", i + 1,
                     (long long)n->shape.d[0], (long long)TN(a->pos[0])->shape.d[0]);
        d->tdt[i] = n->dtype;
        d->tshape[i] = n->shape;
    }
    d->nt = a->npos;
    d->n = TN(a->pos[0])->shape.d[0];
    d->cls = -1;
    d->set = stage_tensor_dataset(a->pos, a->npos, loc);
    return v;
}

/* DataLoader(dataset, batch_size=1, shuffle=False, num_workers=0, drop_last=False, ...) */
Value *bi_loader(Args *a) {
    SrcLoc loc = a->loc;
    Value *ds = lw_req(a, 0, "dataset");
    int64_t batch = int_arg(lw_arg(a, 1, "batch_size", mk_int(1)), loc, "batch_size");
    bool shuffle = bool_arg(lw_arg(a, 2, "shuffle", mk_bool(false)), loc, "shuffle");
    int64_t workers = int_arg(lw_arg(a, 3, "num_workers", mk_int(0)), loc, "num_workers");
    bool drop_last = bool_arg(lw_arg(a, 4, "drop_last", mk_bool(false)), loc, "drop_last");
    Value *pin = lw_arg(a, 5, "pin_memory", mk_bool(false));
    (void)pin;
    DONE(a, 6, "dataset", "batch_size", "shuffle", "num_workers", "drop_last", "pin_memory");
    if (ds->kind != V_DATASET)
        error_at(loc, "DataLoader takes a dataset (torchvision.datasets.FashionMNIST, ...), not %s", kind_name(ds));
    if (batch < 1 || batch > (1 << 20))
        error_at(loc, "batch_size should be a positive integer up to %d, got %lld", 1 << 20, (long long)batch);
    if (workers < 0)
        error_at(loc, "num_workers option should be non-negative");
    DataObj *d = ds->dobj;
    Value *v = data_value(V_LOADER);
    DataObj *l = v->dobj;
    l->ds = d;
    l->rest = drop_last ? 0 : d->n % batch; /* served by a second specialisation of a for loop's body */
    l->n = d->n / batch + (l->rest > 0);
    if (d->nt) { /* a TensorDataset's: batches of rows */
        l->it = (HostIter){.dataset = d->set, .batch = batch, .nbatch = d->n / batch, .rest = l->rest,
                           .shuffle = shuffle, .workers = (int)(workers > 64 ? 64 : workers)};
        l->nt = d->nt;
        for (int i = 0; i < d->nt; i++) {
            l->tdt[i] = d->tdt[i];
            l->tshape[i] = d->tshape[i];
            l->tshape[i].d[0] = batch;
        }
        return v;
    }
    const DatasetClass *dc = &dataset_classes[d->cls];
    l->it = (HostIter){.dataset = d->set, .batch = batch, .nbatch = d->n / batch, .rest = l->rest,
                       .shuffle = shuffle,
                       .workers = (int)(workers > 64 ? 64 : workers), .pad = d->tf->pad, .nnorm = d->tf->nnorm};
    for (int i = 0; i < d->tf->nnorm; i++) {
        l->it.mean[i] = d->tf->mean[i];
        l->it.std[i] = d->tf->std[i];
    }
    if (d->tf->nnorm == 1) /* one value for every channel, as Normalize broadcasts it */
        for (int i = 1; i < dc->c; i++) {
            l->it.mean[i] = d->tf->mean[0];
            l->it.std[i] = d->tf->std[0];
        }
    if (d->tf->nnorm)
        l->it.nnorm = dc->c;
    l->shape_x = (Shape){.rank = 4, .d = {batch, dc->c, dc->h + 2 * d->tf->pad, dc->w + 2 * d->tf->pad}};
    l->shape_y = (Shape){.rank = 1, .d = {batch}};
    return v;
}

/* ---- iterators ---- */

/* iter(loader): a pass over its batches, started here (PyTorch's draws from the generator). */
Value *bi_iter(Args *a) {
    Value *l = lw_req(a, 0, "object");
    DONE(a, 1, "object");
    if (l->kind != V_LOADER)
        error_at(a->loc, "iter() of %s is not supported (only of a DataLoader)", kind_name(l));
    Value *v = data_value(V_ITER);
    v->dobj->ds = l->dobj->ds;
    v->dobj->loader = l->dobj;
    v->dobj->iter = stage_iter(&l->dobj->it, a->loc);
    return v;
}

/* next(it): the next batch, (images, labels); past the last, the program stops with StopIteration. */
Value *bi_next(Args *a) {
    Value *it = lw_req(a, 0, "iterator");
    DONE(a, 1, "iterator");
    if (it->kind != V_ITER)
        error_at(a->loc, "next() takes an iterator, not %s: it = iter(loader), then next(it)", kind_name(it));
    return stage_next(it->dobj->iter, it->dobj->loader, a->loc);
}

/* enumerate(list, start=0) of a list known at compile time; of a loader, a for loop handles it. */
Value *bi_enumerate(Args *a) {
    Value *l = lw_req(a, 0, "iterable");
    int64_t start = int_arg(lw_arg(a, 1, "start", mk_int(0)), a->loc, "start");
    DONE(a, 2, "iterable", "start");
    if (l->kind == V_LOADER)
        error_at(a->loc, "enumerate() of a DataLoader is for a for loop: for i, data in enumerate(loader)");
    if (l->kind != V_LIST && l->kind != V_TUPLE)
        error_at(a->loc, "enumerate() of %s is not supported", kind_name(l));
    Value *r = lw_mk(V_LIST);
    r->n = l->n;
    r->items = ir_alloc(sizeof(Value *) * (size_t)(l->n + 1));
    for (int i = 0; i < l->n; i++)
        r->items[i] = lw_tuple2(mk_int(start + i), l->items[i]);
    return r;
}

/* len(dataset), len(loader): samples, batches. */
int64_t data_len(Value *v) { return v->dobj->n; }

/* dataset.classes: torchvision's class names. */
Value *data_attribute(Value *v, const char *name, SrcLoc loc) {
    if (v->kind == V_DATASET && !strcmp(name, "tensors") && v->dobj->nt)
        error_at(loc, "a TensorDataset's .tensors are not kept as values; use the tensors it was made of");
    if (v->kind == V_DATASET && !strcmp(name, "classes") && !v->dobj->nt) {
        const DatasetClass *dc = &dataset_classes[v->dobj->cls];
        Value *l = lw_mk(V_LIST);
        l->n = 10;
        l->items = ir_alloc(sizeof(Value *) * 10);
        for (int i = 0; i < 10; i++)
            l->items[i] = mk_str(dc->classes[i]);
        return l;
    }
    if (v->kind == V_LOADER && !strcmp(name, "dataset")) {
        Value *d = lw_mk(V_DATASET);
        d->dobj = v->dobj->ds;
        return d;
    }
    if (v->kind == V_LOADER && !strcmp(name, "batch_size"))
        return mk_int(v->dobj->it.batch);
    error_at(loc, "%s has no attribute '%s' that tgc supports", kind_name(v), name);
}

/* ---- torchvision.utils: make_grid, save_image (the blitz's imshow, as a file) ---- */

static Value *slice3(Value *g, int64_t y0, int64_t h, int64_t x0, int64_t w, SrcLoc loc) {
    Shape s = TN(g)->shape;
    int64_t start[3] = {0, y0, x0}, step[3] = {1, 1, 1}, size[3] = {s.d[0], h, w};
    Attr at[3] = {ints_attr("start", start, 3), ints_attr("step", step, 3), ints_attr("size", size, 3)};
    return mk_view(g, OP_SLICE, at, 3, loc);
}

/* make_grid(tensor, nrow=8, padding=2, pad_value=0): the images of a batch side by side, nrow to a
 * row, in a grid of 3 channels (one channel repeated), as torchvision 0.14 draws it. */
Value *bi_make_grid(Args *a) {
    SrcLoc loc = a->loc;
    Value *t = tensor_arg(lw_req(a, 0, "tensor"), loc, "tensor");
    int64_t nrow = int_arg(lw_arg(a, 1, "nrow", mk_int(8)), loc, "nrow");
    int64_t pad = int_arg(lw_arg(a, 2, "padding", mk_int(2)), loc, "padding");
    Value *normalize = lw_arg(a, 3, "normalize", mk_bool(false));
    Value *pad_value = lw_arg(a, 4, "pad_value", mk_int(0));
    DONE(a, 5, "tensor", "nrow", "padding", "normalize", "pad_value");
    if (bool_arg(normalize, loc, "normalize"))
        error_at(loc, "make_grid(normalize=True) is not supported yet (scale the batch first: images / 2 + 0.5)");
    Shape s = TN(t)->shape;
    if (s.rank != 4 || (s.d[1] != 1 && s.d[1] != 3))
        error_at(loc, "make_grid takes a batch of images (B, 1 or 3, H, W), got %s", type_str(TN(t)->dtype, s));
    if (nrow < 1 || pad < 0 || pad > 1024)
        error_at(loc, "make_grid: nrow must be positive and padding between 0 and 1024");
    if (!dtype_is_float(TN(t)->dtype))
        error_at(loc, "make_grid takes float images, got %s", type_str(TN(t)->dtype, s));
    int64_t n = s.d[0], xmaps = n < nrow ? n : nrow, ymaps = (n + xmaps - 1) / xmaps;
    int64_t hh = s.d[2] + pad, ww = s.d[3] + pad;
    Shape gs = {.rank = 3, .d = {3, hh * ymaps + pad, ww * xmaps + pad}};
    if (shape_numel(gs) > (int64_t)1 << 28)
        error_at(loc, "make_grid: a grid of %lld pixels is too large", (long long)(gs.d[1] * gs.d[2]));
    Value *g = lw_filled(gs, TN(t)->dtype, pad_value, loc);
    for (int64_t k = 0; k < n; k++) {
        int64_t y = k / xmaps, x = k % xmaps;
        Expr ix = {.kind = E_INDEX, .loc = loc, .nitems = 1};
        Expr ke = {.kind = E_INT, .loc = loc, .ival = k}, *kp = &ke;
        ix.items = &kp;
        Value *img = index_tensor(t, &ix); /* (C, H, W), broadcast to 3 channels */
        assign_into(slice3(g, y * hh + pad, s.d[2], x * ww + pad, s.d[3], loc), img, loc);
        g->node = L.group_base[g->group]; /* the grid as written so far (g is in no scope to refresh) */
    }
    return g;
}

/* save_image(tensor, fp): a (3, H, W) or (1, H, W) image, or a batch (made a grid first), as an
 * 8-bit PNG: mul(255), add(0.5), clamp to [0, 255], truncate, as torchvision does. */
Value *bi_save_image(Args *a) {
    SrcLoc loc = a->loc;
    Value *t = tensor_arg(lw_req(a, 0, "tensor"), loc, "tensor"), *fp = lw_req(a, 1, "fp");
    DONE(a, 2, "tensor", "fp");
    if (fp->kind != V_STR)
        error_at(loc, "save_image: fp must be a path known at compile time");
    if (TN(t)->shape.rank == 4) {
        Args ga = {.fname = "make_grid", .pos = &t, .npos = 1, .loc = loc};
        t = bi_make_grid(&ga);
    }
    Shape s = TN(t)->shape;
    if (s.rank != 3 || (s.d[0] != 1 && s.d[0] != 3) || !dtype_is_float(TN(t)->dtype))
        error_at(loc, "save_image takes a float image (3 or 1, H, W) or a batch of them, got %s",
                 type_str(TN(t)->dtype, s));
    Value *v = lw_binop("+", lw_binop("*", t, mk_int(255), loc), mk_float(0.5), loc);
    Value *lo = lw_filled(s, TN(v)->dtype, mk_int(0), loc), *hi = lw_filled(s, TN(v)->dtype, mk_int(255), loc);
    v = lw_result(lw_add2(OP_MINIMUM, lw_add2(OP_MAXIMUM, v->node, lo->node, loc), hi->node, loc), v, NULL);
    int rgb = lw_cast(v->node, DT_U8, loc);
    if (s.d[0] == 1) { /* grey: the same byte in R, G and B */
        Shape s3 = {.rank = 3, .d = {3, s.d[1], s.d[2]}};
        rgb = lw_expand(rgb, s3, loc);
    }
    int64_t perm[3] = {1, 2, 0};
    Attr pa = ints_attr("perm", perm, 3);
    int hwc = lw_add1(OP_PERMUTE, rgb, &pa, 1, loc);
    int out = lw_add(OP_CAST, &hwc, 1, DT_U8, N(hwc)->shape, NULL, 0, loc); /* a contiguous (H, W, 3) copy */
    Attr at = attr_str("path", fp->s);
    lw_add(OP_SAVE, &out, 1, DT_F32, shape_scalar(), &at, 1, loc);
    return lw_mk(V_NONE);
}
