/*
 * namespaces.c: PyTorch's module paths, as a program imports them.
 *
 * A .tg program writes torch.zeros, nn.Conv2d, F.relu, torch.optim.lr_scheduler.StepLR the way
 * PyTorch code does. Each namespace below lists the names tgc has in it; a member is the global
 * of the same name (builtins.c's table, modules.c's classes, the dtypes), or a namespace one level
 * down. A name a namespace lacks is reported as PyTorch code would meet it: "tgc does not support
 * nn.Dropout yet", with a suggestion only from the same namespace and only for a slip (a wrong
 * letter case, or one typo in a long name), never an unrelated name that happens to be close.
 *
 * The table is also the reference docs/language.md prints ("Names by namespace"), and
 * test_frontend checks the two agree.
 */
#include "lower.h"

#include <ctype.h>
#include <math.h>
#include <string.h>

/* path, the global names bound to it, its members (space-separated; a member that is also a
 * namespace path below is that namespace) */
const NamespaceDef namespaces[] = {
    {"torch", "torch",
     "tensor as_tensor from_numpy zeros ones empty full rand randn zeros_like ones_like rand_like randn_like "
     "full_like empty_like arange add sub mul div pow maximum minimum floor_divide remainder eq ne lt le gt ge "
     "subtract multiply divide true_divide isnan isinf isfinite neg negative relu exp log sqrt abs tanh sigmoid "
     "erf cos sin softmax log_softmax clamp clip narrow where gather scatter_add index_select index_add eye linspace randint randperm norm var std stack chunk split logical_not sum mean max min argmax reshape flatten transpose swapaxes permute unsqueeze squeeze cat concat "
     "concatenate matmul mm dot conv2d max_pool2d avg_pool2d manual_seed load save device no_grad inference_mode "
     "float32 float64 double int32 int64 long uint8 float int bool nn optim utils cuda"},
    {"torch.nn", "nn",
     "Conv2d Linear MaxPool2d AvgPool2d ReLU Tanh Sigmoid Flatten MSELoss CrossEntropyLoss BatchNorm2d "
     "AdaptiveAvgPool2d Sequential LeakyReLU ELU GELU SiLU Softplus ReLU6 Hardtanh Softmax LogSoftmax Identity "
     "L1Loss SmoothL1Loss HuberLoss NLLLoss BCELoss BCEWithLogitsLoss Dropout Dropout2d BatchNorm1d LayerNorm "
     "functional init utils"},
    {"torch.nn.functional", "F",
     "relu tanh sigmoid leaky_relu elu gelu silu softplus hardtanh relu6 softmax log_softmax conv2d linear "
     "max_pool2d avg_pool2d adaptive_avg_pool2d mse_loss cross_entropy nll_loss l1_loss smooth_l1_loss huber_loss "
     "binary_cross_entropy binary_cross_entropy_with_logits dropout dropout2d layer_norm one_hot"},
    {"torch.nn.init", "", "uniform_ normal_ constant_ zeros_ ones_ xavier_uniform_ xavier_normal_ kaiming_uniform_ "
                          "kaiming_normal_ orthogonal_ calculate_gain"},
    {"torch.nn.utils", "", "clip_grad_norm_ clip_grad_value_"},
    {"torch.optim", "optim", "SGD Adam AdamW RMSprop Adagrad lr_scheduler"},
    {"torch.optim.lr_scheduler", "", "StepLR MultiStepLR ExponentialLR CosineAnnealingLR LambdaLR"},
    {"torch.utils", "", "data"},
    {"torch.utils.data", "", "DataLoader TensorDataset"},
    {"torch.cuda", "", "is_available"},
    {"torchvision", "torchvision", "datasets transforms utils"},
    {"torchvision.datasets", "", "FashionMNIST MNIST CIFAR10"},
    {"torchvision.transforms", "transforms", "ToTensor Normalize Pad Compose"},
    {"torchvision.utils", "", "make_grid save_image"},
    {"numpy", "np numpy",
     "array ones zeros empty full zeros_like ones_like full_like empty_like arange add subtract multiply divide "
     "true_divide maximum minimum floor_divide remainder isnan isinf isfinite negative exp log sqrt abs tanh cos sin "
     "logical_not sum mean max min argmax reshape transpose swapaxes squeeze concatenate matmul dot float32 "
     "float64 double int32 int64 uint8 float int bool"},
    {"math", "math", "isnan isinf isfinite inf nan pi"},
    {NULL, NULL, NULL},
};

const NamespaceDef *ns_find(const char *path) {
    for (const NamespaceDef *n = namespaces; n->path; n++)
        if (!strcmp(n->path, path))
            return n;
    return NULL;
}

/* Is `name` one of the space-separated words of `list`? */
static bool in_words(const char *list, const char *name) {
    size_t len = strlen(name);
    for (const char *p = list; *p;) {
        while (*p == ' ')
            p++;
        const char *e = p;
        while (*e && *e != ' ')
            e++;
        if ((size_t)(e - p) == len && !strncmp(p, name, len))
            return true;
        p = e;
    }
    return false;
}

bool ns_has(const NamespaceDef *ns, const char *name) { return in_words(ns->members, name); }

/* The namespace `name` opens inside ns (torch + nn -> torch.nn), or NULL. */
const NamespaceDef *ns_sub(const NamespaceDef *ns, const char *name) {
    if (!ns_has(ns, name))
        return NULL;
    return ns_find(ir_fmt("%s.%s", ns->path, name));
}

/* The members of ns, as an array for diag_suggest (up to max). */
int ns_members(const NamespaceDef *ns, const char **out, int max) {
    int n = 0;
    for (const char *p = ns->members; *p && n < max;) {
        while (*p == ' ')
            p++;
        const char *e = p;
        while (*e && *e != ' ')
            e++;
        if (e > p)
            out[n++] = ir_strndup(p, (size_t)(e - p));
        p = e;
    }
    return n;
}

/* A slip of a member's spelling: the same name in another letter case (Conv2D), or one typo in a
 * name of eight letters or more (Sequental). A short name one letter from another (gelu, relu) is a
 * different function, not a slip, so it gets no suggestion; so is a sibling of another
 * dimensionality (MaxPool1d, Dropout3d, F.dropout1d beside MaxPool2d, Dropout2d). */
const char *ns_suggest(const NamespaceDef *ns, const char *name) {
    const char *cands[256];
    int n = ns_members(ns, cands, 256);
    for (int i = 0; i < n; i++)
        if (strlen(cands[i]) == strlen(name)) {
            const char *a = cands[i], *b = name;
            while (*a && tolower((unsigned char)*a) == tolower((unsigned char)*b))
                a++, b++;
            if (!*a)
                return cands[i];
        }
    if (strlen(name) < 8)
        return NULL;
    const char *hint = diag_suggest(name, cands, n);
    if (!hint)
        return NULL;
    /* diag_suggest allows a typo in three letters; here one only (the length differs by at most
     * one and the names share all but one position of the shorter's prefix or suffix) */
    size_t lh = strlen(hint), ln = strlen(name);
    if (lh + 1 < ln || ln + 1 < lh)
        return NULL;
    size_t pre = 0, suf = 0;
    while (pre < lh && pre < ln && hint[pre] == name[pre])
        pre++;
    while (suf < lh - pre && suf < ln - pre && hint[lh - 1 - suf] == name[ln - 1 - suf])
        suf++;
    size_t lmax = lh > ln ? lh : ln;
    if (pre + suf + 2 < lmax) /* more than one letter or two neighbours apart */
        return NULL;
    if (lh == ln && pre + suf + 1 == lh && isdigit((unsigned char)hint[pre]) && isdigit((unsigned char)name[pre]))
        return NULL; /* 1d for 2d: PyTorch's name of another module, not a misspelling of this one */
    return hint;
}

/* torch.nn.functional as written (an E_NAME, or E_ATTRs of one) */
static const char *dotted_name(Expr *e) {
    if (e->kind == E_NAME)
        return e->str;
    if (e->kind == E_ATTR)
        return ir_fmt("%s.%s", dotted_name(e->lhs), e->str);
    return "(expression)";
}

/* base.name where base is a namespace: a member (the global of that name), a namespace below, or
 * an error that says what tgc lacks. */
Value *ns_attribute(Value *base, Expr *e) {
    const char *name = e->str;
    SrcLoc loc = e->loc;
    const NamespaceDef *ns = ns_find(base->s);
    bool np = !strcmp(base->s, "numpy");
    const NamespaceDef *sub = ns_sub(ns, name);
    if (sub) {
        Value *v = lw_mk(V_NAMESPACE);
        v->s = sub->path;
        return v;
    }
    const char *written = dotted_name(e);
    if (!ns_has(ns, name)) {
        const char *hint = ns_suggest(ns, name);
        if (hint)
            error_at(loc, "'%s' has no member '%s'; did you mean '%s'?", dotted_name(e->lhs), name, hint);
        bool elsewhere = false; /* a member of another namespace (torch.sqrt for math.sqrt)? */
        for (const NamespaceDef *o = namespaces; o->path; o++)
            elsewhere |= ns_has(o, name);
        if (!elsewhere && find_in(L.globals, name) && !find_in(L.globals, name)->v->decl)
            error_at(loc, "%s is not %s's: '%s' is written without a namespace", written, base->s, name);
        const char *have[9];
        if (ns_members(ns, have, 9) < 9) { /* a small namespace says what it has */
            const char *list = "";
            for (int i = 0, n = ns_members(ns, have, 9); i < n; i++)
                list = ir_fmt("%s%s%s", list, i ? ", " : "", have[i]);
            error_at(loc, "tgc does not support %s yet (%s has %s)", written, dotted_name(e->lhs),
                     *list ? list : "nothing yet");
        }
        error_at(loc, "tgc does not support %s yet", written);
    }
    if (!strcmp(base->s, "math") && (!strcmp(name, "inf") || !strcmp(name, "nan") || !strcmp(name, "pi")))
        return mk_float(name[0] == 'i' ? INFINITY : name[0] == 'n' ? NAN : 3.141592653589793);
    if (!strcmp(name, "no_grad") || !strcmp(name, "inference_mode"))
        error_at(loc, "%s() is written in a with statement: with %s() { ... }", written, written);
    Binding *b = find_in(L.globals, name);
    if (!b)
        error_at(loc, "internal: %s has no global '%s'", base->s, name);
    if (b->v->kind == V_PYTYPE && (!strcmp(name, "float") || !strcmp(name, "int") || !strcmp(name, "bool"))) {
        /* torch.float is float32, torch.int int32, torch.bool bool (np.float is Python's float) */
        Value *d = lw_mk(V_DTYPE);
        d->dt = name[0] == 'f' ? (np ? DT_F64 : DT_F32) : name[0] == 'i' ? (np ? DT_I64 : DT_I32) : DT_BOOL;
        return d;
    }
    if (np && b->v->kind == V_FUNC) {
        Value *f = lw_mk(V_FUNC);
        *f = *b->v;
        f->numpy_ns = true;
        return f;
    }
    return b->v;
}
