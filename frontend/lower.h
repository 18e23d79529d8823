/*
 * lower.h: what the files of the elaborator (lower.c, which lists them) share. Not an API for
 * anyone else: the frontend's is frontend.h (parse_file, lower_ast).
 *
 * The elaborator keeps one state, L, defined in lower.c, as chibicc keeps its globals. A
 * function shared between its files is a global symbol of libtgccore, which links ir/, passes/
 * and codegen_c/ together: one whose name would be a bare word (add, cast, eval, info, ...)
 * takes the prefix lw_ (lower); one whose name says what it works on (mk_tensor, set_group,
 * tensor_binop, module_call) keeps it. A helper used by one file is static there.
 */
#ifndef TGC_LOWER_H
#define TGC_LOWER_H

#include "frontend.h"

/* ---- values, modules, scopes, the elaborator's state ---- */

typedef struct Value Value;
typedef struct Module Module;
typedef struct Scope Scope;

typedef enum {
    V_NONE,    /* None */
    V_INT,     /* i */
    V_FLOAT,   /* f */
    V_BOOL,    /* i */
    V_STR,     /* s */
    V_TENSOR,  /* node, group, view chain */
    V_LIST,    /* items */
    V_TUPLE,   /* items; s: a named tuple's type (max(dim) gives torch.return_types.max, s = "max") */
    V_DTYPE,   /* dt */
    V_TYPE,    /* dt + shape (+ symbolic dims), from f32[B, 3, 32, 32] */
    V_SIZE,    /* torch.Size: shape */
    V_DEVICE,  /* s */
    V_MODULE,  /* mod */
    V_CLASS,   /* s = builtin module name, or decl = user model */
    V_FUNC,    /* s = builtin name, self = bound receiver, numpy namespace flag */
    V_NAMESPACE, /* s = the path ("torch.nn"), namespaces.c */
    V_PYTYPE,  /* s = "float", "int", "bool": type(x) */
    V_TEXT,    /* run-time text (an f-string with tensor holes): items are strings and (tensor, spec) */
    V_ERROR,   /* what a failed statement assigned: using it stops quietly, the error was reported */
    V_OPTIM,   /* an optimizer: optim, s = "SGD"/"Adam"/"AdamW" */
    V_PGROUP,  /* optimizer.param_groups[i]: optim, i; g['lr'] reads and writes its learning rate */
    V_DEF,     /* a user function: decl */
    V_TRANSFORM, /* torchvision transforms (ToTensor, Normalize, Pad, a Compose of them): dobj */
    V_DATASET, /* a torchvision dataset: dobj */
    V_LOADER,  /* a DataLoader: dobj */
    V_ITER,    /* iter(loader): dobj */
    V_DICT,    /* items = values, self = a tuple of the keys (compile-time); dtensor once run-time keys index it */
    V_STATEFILE, /* torch.load(PATH): s = the path, read by load_state_dict; self: a key prefix
                    ("model_state_dict.") once indexed, or NULL */
    V_OPTIONS, /* options(...): items = the defaults, self = a tuple of the names */
    V_SCHED,   /* a learning-rate scheduler (schedulers.c): sched, s = its class */
    V_OPTSTR,  /* a string option: s = its name, self = its default (a string known only at run time) */
} VKind;

/* TV_DETACHED: x.detach(), a view of x's storage that autograd does not track (every node it is
 * read through is cut from the graph's gradients, also after x changes in place). */
/* TV_SELECTED: x[i] with an index known at run time, a copy (not a view); self is the view of x it
 * was selected from, and an assignment to x[i] writes through that. */
enum { TV_NUMPY = 1, TV_PYSCALAR = 2, TV_SELECTED = 4, TV_DETACHED = 8, TV_GATHERED = 16 };

typedef struct {
    Op op;
    Attr attr[3];
    int nattr;
} ViewStep;

struct Value {
    VKind kind;
    int64_t i;
    double f;
    const char *s;
    int node;           /* V_TENSOR: node holding the current contents */
    int group;          /* V_TENSOR: storage group */
    ViewStep *chain;    /* V_TENSOR: view steps from the group base */
    int nchain;
    unsigned tflags;    /* TV_* */
    Value **items;
    int n;
    int cap;            /* items' room, for list_append (0: exactly n) */
    struct Carry *born; /* V_LIST, V_DICT: the run-time loop or if being lowered when it was made */
    DType dt;
    Shape shape;
    const char **sym;   /* V_TYPE: symbolic dim names, NULL for literal dims */
    Module *mod;
    Decl *decl;
    Value *self;
    bool numpy_ns;      /* V_FUNC from the np namespace */
    unsigned stamp;     /* visited mark for alias updates */
    bool strided;       /* V_TENSOR: a view whose elements are not one contiguous row-major block */
    struct Optim *optim; /* V_OPTIM */
    struct Sched *sched; /* V_SCHED */
    struct DataObj *dobj; /* V_TRANSFORM, V_DATASET, V_LOADER, V_ITER */
    Value *dtensor;     /* V_DICT: the tensor its values live in, once a run-time key indexed it */
};

/* data.c's objects: a transform pipeline, a dataset, a loader, an iterator. */
typedef struct DataObj {
    bool to_tensor;       /* transform: ToTensor, Pad (zero bytes), Normalize, in that order */
    int pad, nnorm;
    double mean[4], std[4];
    int set, cls;         /* dataset: its HostData.sets index, its class (data.c's table) */
    struct DataObj *tf;   /* dataset: its transform */
    int64_t n;            /* dataset: samples; loader: batches */
    struct DataObj *ds;   /* loader, iterator: the dataset */
    HostIter it;          /* loader: what each of its iterators starts from */
    Shape shape_x, shape_y; /* loader: a batch's images and labels */
    struct DataObj *loader; /* iterator: its loader */
    int iter;             /* iterator: its HostData.iters index */
    int64_t rest;         /* loader: the samples of its last partial batch (drop_last=False), or 0 */
    int nt;               /* a TensorDataset and its loader: the tensors (0: images and labels), */
    DType tdt[8];         /*   their dtypes, */
    Shape tshape[8];      /*   and their shapes (the loader's: a batch's) */
} DataObj;

struct Module {
    const char *cls;     /* "Conv2d", "Linear", ..., or a user model's name */
    const char *path;    /* parameter name prefix: "" for the root, "conv1." inside */
    Decl *decl;          /* user model */
    Scope *env;          /* user model: constructor arguments and children */
    Module **child;
    const char **child_name;
    int nchild;
    Module **gone;       /* children another of the same name replaced, and their names (name_params) */
    const char **gone_name;
    int ngone;
    const char *repr;    /* builtin: one-line repr as PyTorch prints it */
    int64_t in, out;     /* channels / features */
    int64_t k[2], stride[2], pad[2], dil[2], groups;
    bool has_bias, ceil_mode, inplace, count_include_pad;
    int64_t start_dim, end_dim;
    const char *loss_reduction; /* MSELoss, CrossEntropyLoss */
    int weight, bias;    /* parameter storage groups, -1 if none */
    /* BatchNorm2d: its buffers' groups (-1 if none) and their PARAM nodes, eps, momentum */
    int rmean, rvar, nbt, rmean_node, rvar_node, nbt_node;
    double eps, momentum;
    bool affine, track;
    bool eval;           /* model.eval(): BatchNorm2d uses its running statistics */
    int64_t osize[2];    /* AdaptiveAvgPool2d's output size */
    double act_p[2];     /* an activation's options (activations.c): LeakyReLU's slope, Softplus's beta, ... */
    Value *act_dim;      /* Softmax, LogSoftmax: dim (None or an int) */
    struct LossOpts *loss; /* a loss module's options (losses.c) */
    Shape norm_shape;    /* LayerNorm's normalized_shape */
};

typedef struct {
    const char *name;
    Value *v;
} Binding;

struct Scope {
    Scope *up;
    Binding *b;
    int n, cap;
    int *index;  /* past 16 bindings: open addressing over b by name (-1: empty), icap slots */
    int icap;
};

/* What autograd knows about a node (PyTorch keeps it on the tensor). */
typedef struct {
    bool rg;            /* requires_grad */
    int leaf;           /* the leaf group whose value this node is, or -1 */
    const char *fn;     /* grad_fn name for printing ("AddmmBackward0"), NULL: from the op */
    bool cut;           /* read from a slot (stage.c): it required grad, but its history stayed behind */
} NodeInfo;

typedef struct {
    Ast *ast;
    Graph *g;
    Scope *scope;       /* innermost */
    Scope *globals;
    int *group_base;    /* group -> node holding its contents */
    int ngroups, capgroups;
    unsigned stamp;
    NodeInfo *info;     /* per node of g: autograd facts the IR does not keep */
    int ninfo;
    bool *group_rg;     /* group -> a leaf that requires grad (a parameter, requires_grad=True) */
    bool *group_param;  /* group -> a module's parameter (printed as "Parameter containing:") */
    int *grad_group;    /* group -> the group holding its .grad, or -1 (None) */
    bool no_grad;       /* inside an optimizer step or a weight load: updates are not recorded */
    int nbackward;      /* backward() calls lowered so far: each call's grad nodes carry its number */
    Value *ret;         /* model forward: returned value */
    bool in_forward;
    const char *checking; /* set while a model is run only to check it: the note to print */
    int depth_guard;    /* model constructions and calls now running: a model containing itself stops at 64 */
    Decl *building[64]; /* the models being constructed, outermost first (a chain for the messages) */
    int nbuilding;
    int eval_depth;     /* expressions now being evaluated: deeply nested ones would exhaust the C stack */
    /* Scope chains of the callers of the model calls now running: their variables see in-place updates too. */
    Scope *callers[80];
    int ncallers;
    bool no_grad_block; /* inside `with torch.no_grad()` */
    /* def calls now running (defs.c), innermost last: their call sites, for notes */
    Decl *defs[80];
    SrcLoc def_calls[80];
    int ndefs;
    struct Carry *def_carry; /* L.carry when the innermost def was called: its break and return stop here */
    bool in_def;        /* the innermost call running is a def's, not a model's forward pass */
    int def_repeat;     /* calls of a traceback folded into the next note (recursion) */
    /* The values the statements now running have evaluated (lw_eval's results, popped when each
     * statement ends): roots like variables, so a def call with a loop inside an expression
     * (print(x, evaluate(net))) neither drops nor leaves stale the values evaluated before it. */
    Value **held;
    int nheld, capheld;
    HostData data;      /* the program's datasets and iterators (stage.c) */
    HostOption *options; /* options(...) of the file's program, once */
    int noptions;
    bool has_options;
    /* staging (stage.c): a program with run-time control flow is segments run by host code */
    const char *prog_name;
    Graph **segs;       /* segments closed so far; L.g is the open one */
    int nsegs, capsegs;
    HostBlock host_top; /* the program's host code */
    HostBlock *host;    /* where the next host statement goes */
    struct Carry *carry; /* the run-time loops and ifs now being lowered, innermost first */
    int *pinned;        /* groups kept live besides those variables reach (carried, conditions) */
    int npinned, cappinned;
} Lower;

extern Lower L;

/* A node of the graph being built (by id, or a tensor value's), and a Python number's value. */
static inline Node *N(int id) { return &L.g->nodes[id]; }
static inline Node *TN(Value *v) { return N(v->node); }
static inline bool is_scalar(Value *v) { return v->kind == V_INT || v->kind == V_FLOAT || v->kind == V_BOOL; }
static inline double num(Value *v) { return v->kind == V_FLOAT ? v->f : (double)v->i; }

/* ---- values.c: values and scopes ---- */

Value *lw_mk(VKind k);
Value *mk_int(int64_t i);
Value *mk_float(double f);
Value *mk_bool(bool b);
Value *mk_str(const char *s);
const char *kind_name(Value *v); /* "a tensor f32[2, 3]", for messages */
Scope *push_scope(void);         /* a new innermost scope */
Binding *find_in(Scope *s, const char *name);
void lw_bind(Scope *s, const char *name, Value *v);

/* ---- args.c: call arguments ---- */

/* A call's arguments: f(1, 2, dim=0) has pos = {1, 2} and kw = {"dim"}, kwv = {0}. */
typedef struct {
    const char *fname; /* the callee, for messages: "zeros", "Conv2d", "Net" */
    Value **pos;
    int npos;
    const char **kw;
    Value **kwv;
    int nkw;
    unsigned used; /* bit i: keyword i consumed */
    SrcLoc loc;
    int code;      /* a builtin's code (builtins.c): what fname means to a handler several names share */
    bool numpy;    /* a builtin called as np.NAME: numpy's defaults (float64) */
} Args;
/* The end of taking a's arguments: at most maxpos positional, keywords among those named. */
#define DONE(a, maxpos, ...)                                                                        \
    do {                                                                                           \
        static const char *const known_[] = {"", __VA_ARGS__};                                     \
        args_done(a, maxpos, known_, (int)(sizeof known_ / sizeof known_[0]));                     \
    } while (0)

/* Argument `index` by position, or by keyword `name`; dflt when absent (lw_req: an error). */
Value *lw_arg(Args *a, int index, const char *name, Value *dflt);
Value *lw_req(Args *a, int index, const char *name);
void args_done(Args *a, int maxpos, const char *const *known, int nknown);
/* A value as an operation takes it, or an error that names it `what` */
Value *tensor_arg(Value *v, SrcLoc loc, const char *what);
int64_t int_arg(Value *v, SrcLoc loc, const char *what);
double float_arg(Value *v, SrcLoc loc, const char *what);
bool bool_arg(Value *v, SrcLoc loc, const char *what);
int axis_arg(Value *v, int rank, SrcLoc loc);
Shape shape_from_values(Value **v, int n, SrcLoc loc);
/* Every shape tgc takes has at most 2^34 elements (symbolic dimensions, sym[i] set, count 1):
 * an error at loc otherwise, before anything that size is planned or allocated. */
void check_numel(Shape s, const char *const *sym, SrcLoc loc);
DType dtype_value(Value *v, SrcLoc loc);

/* ---- graph.c: nodes, storage groups, views, in-place writes ---- */

NodeInfo *lw_info(int id); /* what autograd knows of node id */
/* A new node (ir_add: its shape rule checks it, and stops at a bad one); its requires_grad follows
 * its inputs'. lw_add1 and lw_add2 are for ops whose inputs imply the result's type. */
void begin_graph(const char *name); /* L.g a new graph, the scope the file's and one of its own */
void name_orphans(void);            /* L.g's parameters no module path names: "~param#0", ... */
int lw_add(Op op, const int *in, int nin, DType dt, Shape shape, const Attr *a, int na, SrcLoc loc);
int lw_add1(Op op, int x, const Attr *a, int na, SrcLoc loc);
int lw_add2(Op op, int x, int y, SrcLoc loc);
Attr data_attr(const char *key, Value **v, int64_t n, DType dt, SrcLoc loc);
Attr ints_attr(const char *key, const int64_t *v, int n);
int const_scalar(Value *v, DType dt, SrcLoc loc);
/* x as dt, as shape s, broadcast to s: x itself when it is already */
int lw_cast(int x, DType dt, SrcLoc loc);
int lw_reshape(int x, Shape s, SrcLoc loc);
int lw_expand(int x, Shape s, SrcLoc loc);
int new_group(int node);
Value *mk_tensor(int node); /* a fresh tensor: a new storage group */
Value *mk_view(Value *v, Op op, const Attr *a, int na, SrcLoc loc);
void cut_grad(int id); /* node id reads a detached view: no gradient through it */
void set_group(int group, int node, SrcLoc loc);   /* the group's contents is now node */
void write_through(Value *v, int node, SrcLoc loc); /* in place: what v views is now node */
void refresh_all_values(SrcLoc loc); /* every variable's tensor re-derived from its group's base */
/* fn on every root: each variable of the scope chain and of the callers' chains, each held value */
void each_root(void (*fn)(Value *v, void *ctx), void *ctx);

/* ---- format.c: Python's str and format, run-time text ---- */

const char *py_float_repr(double v);
const char *value_str(Value *v, SrcLoc loc);
Value *text_new(void);
void text_push(Value *t, Value *item);
Value *text_or_string(Value *t, bool runtime); /* t, or its pieces joined when all are known now */
void text_append(Value *t, Value *v, const char *spec, SrcLoc loc);
/* Appends str(v) (in an f-string: format(v, spec)) to t: literal text now, or a tensor hole. */
void text_append_ex(Value *t, Value *v, const char *spec, bool fstring, SrcLoc loc);
void print_text(Value *text, SrcLoc loc); /* print(): a PRINT node */

/* ---- tensors.c: tensor operations and creation ---- */

int value_category(Value *v);
DType promote_types(DType a, DType b);
DType result_type(Value *a, Value *b); /* torch.result_type of two operands (tensors or numbers) */
const char *grad_fn_name(int node);   /* PyTorch's name of the backward of what made node ("SumBackward0") */
DType default_dtype_for(int cat);
Value *lw_result(int node, Value *a, Value *b); /* node as a fresh tensor, numpy's if a or b is */
Value *named_fn(Value *v, Value *from, const char *fn);
Value *lw_binop(const char *op, Value *a, Value *b, SrcLoc loc); /* a op b, for any values: "+", "@", ... */
Value *tensor_binop(Op op, Value *a, Value *b, SrcLoc loc);
Value *lw_matmul(Value *a, Value *b, SrcLoc loc);
Value *unary_op(Op op, Value *a, SrcLoc loc);
Value *lw_reduce(Op op, Value *a, Value *dim, bool keepdim, SrcLoc loc); /* dim NULL or None: all */
Value *lw_tuple2(Value *a, Value *b);
bool same_but_ones(Shape a, Shape b);
Value *view_reshape(Value *a, Shape s, SrcLoc loc);
Value *reshape_or_copy(Value *a, Shape s, SrcLoc loc);
Value *lw_flatten(Value *a, int64_t start, int64_t end, SrcLoc loc);
Value *lw_permute(Value *a, const int64_t *perm, int n, SrcLoc loc);
Value *lw_transpose(Value *a, Value *d0, Value *d1, SrcLoc loc);
Value *index_tensor(Value *a, Expr *e); /* a[...], a view (a copy with a run-time index: TV_SELECTED) */
void assign_selected(Value *sel, Value *v, SrcLoc loc); /* x[i] = v where i is known at run time */
int inplace_result(Value *target, int node, SrcLoc loc);
void assign_into(Value *target, Value *value, SrcLoc loc); /* target <- value, in place */
Value *tensor_literal(Value *data, Value *dtype, bool numpy, SrcLoc loc);
Value *lw_filled(Shape s, DType dt, Value *value, SrcLoc loc);

/* ---- modules.c: modules ---- */

extern const char *const module_classes[]; /* Conv2d, Linear, ...; NULL ends them */

/* namespaces.c: PyTorch's module paths and what tgc has in each */
typedef struct {
    const char *path;    /* "torch.nn.functional" */
    const char *aliases; /* the global names bound to it ("F"), space-separated */
    const char *members; /* its names, space-separated; a member that is a path below opens it */
} NamespaceDef;
extern const NamespaceDef namespaces[]; /* a NULL path ends them */
const NamespaceDef *ns_find(const char *path);
bool ns_has(const NamespaceDef *ns, const char *name);
const NamespaceDef *ns_sub(const NamespaceDef *ns, const char *name);
int ns_members(const NamespaceDef *ns, const char **out, int max);
const char *ns_suggest(const NamespaceDef *ns, const char *name);

/* activations.c: leaky_relu, elu, gelu, silu, softplus, hardtanh, relu6, erf, softmax, log_softmax */
Value *bi_leaky_relu(Args *a);
Value *bi_elu(Args *a);
Value *bi_gelu(Args *a);
Value *bi_silu(Args *a);
Value *bi_softplus(Args *a);
Value *bi_hardtanh(Args *a);
Value *bi_erf(Args *a);
Value *bi_softmax(Args *a);
Value *bi_dropout(Args *a); /* dropout, dropout2d */
Value *softmax_along(Value *x, Value *dim, bool log, SrcLoc loc);
bool activation_construct(Module *m, Args *a); /* false: m->cls is not an activation */
Value *activation_call(Module *m, Value *x, SrcLoc loc); /* NULL: not an activation */

/* schedulers.c: torch.optim.lr_scheduler's StepLR, MultiStepLR, ExponentialLR, CosineAnnealingLR, LambdaLR */
typedef struct Sched Sched;
Value *make_scheduler(const char *cls, Args *a);
void scheduler_step(Sched *s, SrcLoc loc);
Value *scheduler_state_dict(Sched *s, SrcLoc loc);
void scheduler_load_state_dict(Sched *s, Value *sd, SrcLoc loc);
Value *scheduler_last_lr(Sched *s, SrcLoc loc);
Value *scheduler_attribute(Sched *s, const char *name, SrcLoc loc);
int scheduler_groups(Sched *s, const int **groups); /* the groups it keeps (last_epoch, base rates read at run time) */
Value *scheduler_optimizer(Sched *s); /* its optimizer (V_OPTIM) */

/* losses.c: F.mse_loss, F.nll_loss, F.cross_entropy, ...; nn.NLLLoss(...) and the other loss modules */
Value *bi_loss(Args *a);
bool loss_construct(Module *m, Args *a); /* false: m->cls is not a loss */
Value *loss_call(Module *m, Args *a);
Value *ns_attribute(Value *base, Expr *e); /* torch.zeros, nn.functional, ... */
Value *construct_builtin(const char *cls, Args *a);
void layer_norm_construct(Module *m, Args *a);
Value *layer_norm(Value *x, Shape ns, Value *w, Value *b, double eps, SrcLoc loc);
Value *bi_layer_norm(Args *a); /* F.layer_norm */
Value *bi_clip_grad(Args *a); /* autograd.c: nn.utils.clip_grad_norm_, clip_grad_value_ */
Value *detach(Value *x, SrcLoc loc); /* x.detach(), x.data */
Value *bi_detach(Args *a);
Value *bi_init(Args *a);
/* gather.c: where, masked_fill, gather, scatter_add, index_select, index_add, x[index tensor] */
Value *bi_where(Args *a);
Value *bi_masked_fill(Args *a);
Value *bi_gather(Args *a);
Value *bi_scatter_add(Args *a);
Value *bi_index_select(Args *a);
Value *bi_index_add(Args *a);
Value *index_by_tensor(Value *v, int axis, Value *ix, SrcLoc loc);
Value *narrow_view(Value *x, int axis, int64_t start, int64_t len, SrcLoc loc); /* tensors.c: torch.narrow's view */
Value *bi_narrow(Args *a);
Value *bi_get_last_lr(Args *a);     /* schedulers.c */
bool lower_on_gpu(void);            /* builtins.c: compiling for --target cuda */
Value *bi_add_param_group(Args *a); /* optim.c */
/* tensorops.c: clamp, one_hot, eye, linspace, var/std, stack, chunk/split */
Value *bi_clamp(Args *a);
Value *bi_one_hot(Args *a);
Value *bi_eye(Args *a);
Value *bi_linspace(Args *a);
Value *bi_var(Args *a);
Value *bi_stack(Args *a);
Value *bi_split(Args *a);
Value *bi_randint(Args *a);
Value *bi_randperm(Args *a);
Value *bi_repeat(Args *a);
Value *bi_norm(Args *a);       /* init.c: nn.init.uniform_, xavier_uniform_, kaiming_normal_, ... */
Value *construct_model(Decl *d, Args *a);
const char *module_repr(Module *m, int indent);
bool is_layer_decl(Stmt *s);
bool is_tensor_type(Expr *t);
void add_child(Module *m, const char *name, Module *c);
void name_params(Module *m, const char *path);
void pair_value(Value *v, int64_t out[2], SrcLoc loc, const char *what, bool *was_pair);
Value *param_value(int group);
void collect_params(Module *m, Value ***out, int *n);
void collect_state(Module *m, Value ***out, int *n);
void collect_state_names(Module *m, const char ***out, int *n); /* their state_dict names */
void collect_buffers(Module *m, int *groups, int *nodes, int *n);
void set_eval(Module *m, bool eval);
Value *module_call(Module *m, Args *a);
/* Checks v against a parameter's tensor type (f32[B, 784]), binding its symbols in env. */
void check_input(Param *p, Value *v, Scope *env, SrcLoc loc, const char *callee);
Value *conv2d_call(Value *x, Value *w, Value *b, Value *stride, Value *padding, Value *dil, Value *groups,
                   SrcLoc loc);
Value *maxpool_call(Value *x, const int64_t k[2], const int64_t st[2], const int64_t pd[2], const int64_t dl[2],
                    bool ceil_mode, SrcLoc loc);
Value *avgpool_call(Value *x, const int64_t k[2], const int64_t st[2], const int64_t pd[2], bool ceil_mode,
                    bool count_include_pad, SrcLoc loc);
Value *linear_call(Value *x, Value *w, Value *b, SrcLoc loc);
Value *adaptive_avg_pool(Value *x, const int64_t os[2], SrcLoc loc);
/* Runs model d once alone, its errors reported (with `reason`, where it ran) and the run going on. */
void check_model_recover(Decl *d, int64_t batch, SrcLoc at, const char *reason);

/* ---- autograd.c: requires_grad, backward, .grad ---- */

void set_requires_grad(Value *t, bool flag, SrcLoc loc);
void module_requires_grad(Module *m, bool flag, SrcLoc loc);
void zero_grads(Value **params, int n, SrcLoc loc);
Value *grad_of(Value *t); /* t.grad */
void lw_backward(Value *y, Value *gradient, SrcLoc loc); /* y.backward(gradient) */

/* ---- optim.c: optimizers and losses ---- */

/* A parameter group: a run of the optimizer's parameters with its own hyper-parameters. */
typedef struct OptGroup {
    int first, n;          /* its parameters: o->params[first .. first + n) */
    int params_at;         /* where 'params' was among the keys the user gave (printing the dict) */
    Value *d;              /* its dict as PyTorch keeps it, 'params' aside: the keys the user gave, in
                              their order, then the defaults' others ('initial_lr' once a scheduler) */
    double lr, momentum, dampening, weight_decay, beta1, beta2, eps;
    bool nesterov, amsgrad, centered;
    double alpha, lr_decay; /* RMSprop's alpha; Adagrad's lr_decay */
    int lr_group;          /* staged: the learning rate (f64), -1 before */
} OptGroup;

typedef struct Optim {
    bool adam, adamw, rmsprop, adagrad;
    const char *kind;                /* "SGD", "Adam", ...: for messages */
    Value *defaults;                 /* the constructor's hyper-parameters (a dict; SGD's lr may be absent) */
    OptGroup *groups;                /* param_groups, in order */
    int ngroups;
    Value **params;                  /* every group's parameters, group after group (state_dict's numbering) */
    int nparams;
    int *pgroup;                     /* per parameter: its group */
    double init_acc;                 /* Adagrad's initial_accumulator_value: the constructor's, for every
                                        group (PyTorch 1.13 fills each sum with it, whatever a group says) */
    /* state groups per parameter, -1 before the first step: momentum_buffer (SGD, RMSprop);
     * exp_avg (Adam), grad_avg (centered RMSprop); exp_avg_sq (Adam), square_avg (RMSprop), sum
     * (Adagrad); max_exp_avg_sq (Adam with amsgrad) */
    int *buf, *exp_avg, *exp_avg_sq, *max_sq;
    int *steps;                      /* steps taken per parameter (compile-time: the program is straight-line) */
    bool *stepped;                   /* per parameter: a step() lowered so far updates it (it has a gradient) */
    bool staged;                     /* in a program with run-time control flow: state lives in groups */
    int step_group;                  /* staged: the step count (i64), -1 before */
    int nsched;                      /* schedulers made on it */
} Optim;

Value *make_optimizer(const char *kind, Args *a);
void optimizer_step(Optim *o, SrcLoc loc); /* optimizer.step() in a program */
void optimizer_stage(Optim *o, SrcLoc loc); /* its state into groups, for a run-time loop's body */
bool optim_has_state(const Optim *o, int i, int k); /* parameter i's: 0 momentum_buffer, 1 exp_avg, 2 exp_avg_sq/sum, 3 max_exp_avg_sq */
Value *param_groups_list(Value *optv);                            /* optimizer.param_groups */
Value *param_group_get(Optim *o, int g, Value *key, SrcLoc loc);  /* param_groups[g][key] */
Value *param_group_dict(Optim *o, int g, SrcLoc loc);             /* param_groups[g] as a dict, for print */
void param_group_set(Optim *o, int g, Value *key, Value *v, SrcLoc loc); /* param_groups[g][key] = v */
void add_param_group(Optim *o, Value *group, SrcLoc loc);        /* optimizer.add_param_group({...}) */
Value *param_group_initial_lr(Optim *o, int g, SrcLoc loc);      /* a scheduler's base rate: 'initial_lr' */
Value *optim_state_dict(Optim *o, SrcLoc loc);                      /* optimizer.state_dict() */
void optim_load_state_dict(Optim *o, Value *sd, SrcLoc loc);        /* optimizer.load_state_dict(sd) */
/* The update of a train block's step, as assignments (state, new value) into assigns. */
void runtime_update(Optim *o, int *params, const char **names, int *grads, int n, SrcLoc loc, int *assigns,
                    int *nassign);
Value *mse_loss(Value *x, Value *t, const char *reduction, SrcLoc loc);
Value *cross_entropy(Value *x, Value *t, const char *reduction, SrcLoc loc);

/* ---- builtins.c: builtin functions and methods ---- */

/* Where a builtin's name is visible. */
enum {
    BI_GLOBAL = 1, /* a global function, also torch.NAME, F.NAME and np.NAME: zeros(2, 3) */
    BI_TENSOR = 2, /* a tensor's method, which takes the tensor first: x.sum(1) is sum(x, 1) */
    BI_MODULE = 4, /* a module's method: net.parameters() */
    BI_OPTIM = 8,  /* an optimizer's method: optimizer.step() */
    BI_STR = 16,   /* a string's method: ' '.join(...) */
    BI_DICT = 32,  /* a dict's method: d.items() */
};

typedef struct {
    const char *name;
    Value *(*fn)(Args *a); /* the handler: the arguments, a method's receiver first */
    int code;              /* for a handler several names share: what this name means to it (an Op, ...) */
    unsigned where;        /* BI_*, or'ed */
} Builtin;

/* Every builtin, in the order "did you mean" tries their names; a NULL name ends the table. */
extern const Builtin builtins[];
bool has_builtin(const char *name, unsigned where); /* a row of that name visible as where */
/* Calls builtin f: a function when self is NULL, else a method of self; numpy_ns: called as np.f. */
Value *call_builtin(const char *f, Value *self, Args *a, bool numpy_ns);

/* ---- expr.c, stmt.c: expressions and statements ---- */

Value *lw_eval(Expr *e);
bool lw_condition(Expr *e); /* an if's condition, known at compile time */
void lw_assign(Expr *target, Value *v, SrcLoc loc); /* target = v: names, tuples, items, attributes */
void exec_block(Stmt **body, int n);

/* ---- data.c: datasets, transforms, loaders ---- */

Value *bi_transform(Args *a);
Value *bi_dataset(Args *a);
Value *bi_loader(Args *a);
Value *bi_iter(Args *a);
Value *bi_next(Args *a);
Value *bi_enumerate(Args *a);
Value *bi_make_grid(Args *a);
Value *bi_save_image(Args *a);
int64_t data_len(Value *v);                                  /* len(dataset), len(loader) */
Value *data_attribute(Value *v, const char *name, SrcLoc loc); /* dataset.classes, ... */

/* ---- files.c: .npy, .safetensors, state_dict, torch.save and torch.load ---- */

Value *bi_load_state(Args *a);
Value *bi_save(Args *a);
Value *bi_tensor_dataset(Args *a);
Value *bi_load(Args *a);
Value *bi_state_dict(Args *a);
Value *statefile_get(Value *f, Value *key, SrcLoc loc); /* checkpoint['model_state_dict'] */
/* A state dict's item by its dotted name ("state.0.exp_avg", "param_groups.1.lr"): from a loaded
 * checkpoint, read when the statement runs as dtype dt and shape s (the run checks both); from a
 * dict of this program, the value, or NULL where it has none. */
Value *state_item(Value *sd, const char *name, DType dt, Shape s, SrcLoc loc);
int scalar_node(Value *x, DType dt, const char *what, SrcLoc loc); /* optim.c: a number load_state_dict read, as a () node */
Value *bi_options(Args *a);                                  /* options(epochs=2, ...) */
Value *option_attribute(Value *opts, const char *name, SrcLoc loc); /* args.epochs */
Value *bi_load_state_dict(Args *a);

/* ---- collections.c: comprehensions, dicts, zip, strings picked at run time ---- */

Value *eval_cond(Expr *e);          /* a if c else b (c known at compile time) */
Value *eval_comprehension(Expr *e); /* [.. for ..], (.. for ..), {k: v for ..}: unrolled */
Value *eval_dict(Expr *e);
Value **iter_items(Value *v, int *n, SrcLoc loc); /* what a compile-time loop over v sees */
void list_append(Value *l, Value *v);
Value *pick_string(Value *seq, Value *t, SrcLoc loc); /* classes[t], t known at run time: text */
Value *format_table_text(Value *v, const char *spec, SrcLoc loc);
Value *dict_get(Value *d, Value *key, SrcLoc loc);
void container_write_check(Value *c, SrcLoc loc); /* a compile-time list or dict changed here may not be */
void dict_set(Value *d, Value *key, Value *v, SrcLoc loc);
Value *bi_dict_view(Args *a);
Value *bi_zip(Args *a);
Value *bi_range(Args *a);
Value *bi_join(Args *a);

/* ---- defs.c: user functions ---- */

Value *def_call(Decl *d, Args *a); /* runs the body in a scope of its own: specialised per call */
void def_return(Stmt *s);          /* a def's (or a model's) return */

/* ---- stage.c: run-time control flow (segments and host code) ---- */

void stage_begin(const char *program);
void stage_end(LoweredProgram *p);
void exec_for(Stmt *s);
void exec_while(Stmt *s);
void exec_if_runtime(Stmt *s, Value *cond);
void exec_break(Stmt *s);
void exec_continue(Stmt *s);
void exec_with(Stmt *s);
void stage_check_assign(const char *name, Value *v, SrcLoc loc); /* a carried name keeps its type */
int stage_dataset(const HostDataset *d, SrcLoc loc); /* the host loads it here; its index */
int stage_iter(const HostIter *it, SrcLoc loc);      /* iter(loader) here; the iterator's index */
Value *stage_next(int iter, DataObj *loader, SrcLoc loc); /* next(it): (images, labels) */
/* TensorDataset(*tensors): each kept in a slot the host reads rows of; the dataset's index */
int stage_tensor_dataset(Value **ts, int n, SrcLoc loc);

/* ---- train.c: train blocks ---- */

void check_train(Decl *d);   /* reports what is wrong, several errors where it can */
Graph *lower_train(Decl *d); /* the training step of a checked block */

/* ---- exports.c: `export def`, a C function ---- */

Graph *lower_export(Decl *d); /* the def on its own: inputs its tensor parameters, outputs its results */

#endif
