/*
 * ir.h: the typed graph IR every layer of tgc shares.
 *
 * A Graph is an array of Nodes in topological order (SSA: a node's inputs all
 * come before it). Every node has a static shape and dtype, a list of named
 * attributes, flags, and the source location of the .tg text that produced it,
 * so an error found in any pass still points at the user's line. The frontend
 * builds graphs through ir_add(), which runs the op's shape rule; passes and
 * code generators read them. This header also holds the services every layer
 * needs: the compiler's arena allocator and the diagnostics.
 */
#ifndef TGC_IR_H
#define TGC_IR_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define MAX_RANK 8

/* ---- memory: one arena for all compiler data, never freed piecemeal ---- */

void *ir_alloc(size_t size); /* zeroed; dies when out of memory */
char *ir_strdup(const char *s);
char *ir_strndup(const char *s, size_t n);
char *ir_fmt(const char *fmt, ...); /* formatted string in the arena */
/* "samples/lenet.tg" -> "lenet.tg": what generated files name, so no checkout's path is in them */
const char *ir_base_name(const char *path);
void ir_free_all(void);             /* release everything (tests, fuzzers) */

/* ---- diagnostics ------------------------------------------------------- */

typedef struct {
    int file; /* index in the source table; -1 = no location */
    int line; /* 1-based */
    int col;  /* 1-based, in bytes */
} SrcLoc;

extern const SrcLoc NOLOC;

int diag_add_file(const char *name, const char *text); /* registers source text, returns its id */
const char *diag_file_name(int file);
int diag_nfiles(void); /* the files registered, 0 .. diag_nfiles() - 1 */
void diag_forget_files(void); /* ir_free_all: their names lived in the arena (a long-running caller) */
extern FILE *diag_out;      /* where diagnostics go; stderr unless a test redirects it */
extern jmp_buf *diag_catch; /* when set, a fatal error longjmps here instead of exiting */
extern int diag_nerrors;    /* errors reported so far */

/* Report an error and keep going (the caller recovers). */
void diag_error(SrcLoc loc, const char *fmt, ...);
void diag_note(SrcLoc loc, const char *fmt, ...);
/* Report an error and stop: longjmp to diag_catch, or exit(1). */
_Noreturn void error_at(SrcLoc loc, const char *fmt, ...);
/* Stop after errors already reported (no new message). */
_Noreturn void diag_stop(void);
/* Stop if any error was reported. */
void diag_check(void);
/* Compiler bugs, never user errors. */
_Noreturn void die_at(const char *file, int line, const char *fmt, ...);
/* An allocation failed: "tgc: error: out of memory" and ir_memory_note (which says what the
 * limit was, set by the driver), exit status 1. */
extern const char *ir_memory_note;
_Noreturn void ir_out_of_memory(void);
#define die(...) die_at(__FILE__, __LINE__, __VA_ARGS__)
#define unreachable() die_at(__FILE__, __LINE__, "unreachable")
/* Closest of cands[0..n) to name by edit distance, or NULL if none is close. */
const char *diag_suggest(const char *name, const char *const *cands, int n);

/* ---- types ------------------------------------------------------------- */

typedef enum {
    DT_F32,  /* float */
    DT_F64,  /* double */
    DT_I32,  /* int32_t */
    DT_I64,  /* int64_t */
    DT_BOOL, /* stored as uint8_t */
    DT_U8,   /* uint8_t */
    DT_COUNT,
} DType;

typedef struct {
    int rank;
    int64_t d[MAX_RANK];
} Shape;

const char *dtype_name(DType dt);       /* "f32" */
const char *dtype_ctype(DType dt);      /* "float" */
const char *dtype_torch(DType dt);      /* "torch.float32" */
int dtype_size(DType dt);
bool dtype_is_float(DType dt);
int dtype_from_name(const char *name);  /* f32/float32/float/..., -1 if unknown */

Shape shape_make(int rank, const int64_t *d);
Shape shape_scalar(void);
int64_t shape_numel(Shape s);
bool shape_eq(Shape a, Shape b);
char *shape_str(Shape s);              /* "[4, 4]" */
char *type_str(DType dt, Shape s);     /* "f32[4, 4]" */
/* Broadcast two shapes as numpy does; false if incompatible. */
bool shape_broadcast(Shape a, Shape b, Shape *out);

/* ---- ops --------------------------------------------------------------- */

typedef enum { K_SRC, K_UNARY, K_BINARY, K_REDUCE, K_MOVE, K_NN, K_EFFECT } OpKind;

/* How an op's kernel takes a fused epilogue of elementwise ops on its output (ops.h's epi column). */
typedef enum {
    EPI_NONE,    /* it cannot */
    EPI_STORE,   /* it writes each output element once: the epilogue runs at that store */
    EPI_SCATTER, /* it adds into its output: the epilogue is a second loop in the same kernel */
    EPI_GATHER,  /* in the table only: EPI_STORE where kernel_gathers() holds, else EPI_SCATTER */
} Epilogue;

typedef enum {
#define OP(id, name, arity, kind, diff, epi, lit) OP_##id,
#include "ops.h"
#undef OP
    OP_COUNT,
} Op;

typedef struct {
    const char *name;
    int arity;
    OpKind kind;
    bool diff;
    Epilogue epi; /* what its kernel can fuse (kernel_epilogue() resolves EPI_GATHER) */
    bool lit;     /* its kernel reads a rank-0 constant input as a literal */
} OpInfo;

extern const OpInfo op_info[OP_COUNT];
int op_from_name(const char *name); /* -1 if unknown */

/* ---- attributes -------------------------------------------------------- */

typedef enum {
    A_INT,    /* one integer */
    A_INTS,   /* list of integers */
    A_FLOAT,  /* one double */
    A_FLOATS, /* list of doubles */
    A_STR,    /* string */
} AttrKind;

typedef struct {
    const char *key;
    AttrKind kind;
    int n;        /* list length (1 for scalars) */
    int64_t *i;   /* A_INT, A_INTS */
    double *f;    /* A_FLOAT, A_FLOATS */
    const char *s; /* A_STR */
} Attr;

/* ---- nodes and graphs -------------------------------------------------- */

enum {
    NF_PARAM = 1 << 0,     /* persistent parameter */
    NF_TRAINABLE = 1 << 1, /* parameter that receives a gradient */
    NF_INPUT = 1 << 2,     /* supplied by the caller */
    NF_OUTPUT = 1 << 3,    /* result the caller reads */
    NF_BACKWARD = 1 << 4,  /* computed by autodiff: part of the backward graph */
    NF_UPDATE = 1 << 5,    /* an optimizer update of a parameter or its state */
    NF_GRAD = 1 << 6,      /* the gradient of a trainable parameter (kept with the parameters) */
    NF_NOGRAD = 1 << 7,    /* made without gradient tracking (no_grad, or no input required grad when it
                              was made): a gradient never flows through it, as PyTorch records no
                              grad_fn for it. Read by pass_autodiff, which clears it. */
};

typedef struct {
    Op op;
    int id;             /* index in Graph.nodes */
    int nin;            /* number of inputs */
    int *in;            /* input node ids, all < id */
    DType dtype;        /* element type of the result */
    Shape shape;        /* static shape of the result */
    int nattr;
    Attr *attr;
    unsigned flags;     /* NF_* */
    const char *name;   /* variable or parameter name ("conv1.weight"), or NULL */
    SrcLoc loc;         /* .tg text that produced the node */
    int group;          /* fusion group (pass_fuse): nodes with the same nonzero group are one kernel */
} Node;

typedef struct Graph Graph;

/* What a train block says beyond the step itself: the trainer's data, schedule and reporting. */
typedef struct {
    const char *data_kind;  /* "mnist", "fashion_mnist", "cifar10" */
    const char *data_dir;   /* where the files are, unless --data says otherwise */
    int pad;                /* zero pixels added around each raw image */
    int nnorm;              /* channels of normalize(mean, std); 0: no normalization */
    double mean[4], std[4];
    const char **classes;   /* class names for the per-class report */
    int nclasses;
    int64_t epochs, log_every, seed;
    bool shuffle;
    const char *checkpoint; /* the checkpoint setting: the default of --save, or NULL */
    Graph *predict;         /* the model's forward pass on a batch, sharing the parameters */
    int64_t slices;         /* the step's forward and backward run this many times, on batch / slices images */
} TrainConfig;

struct Graph {
    const char *name;       /* program or model name */
    Node *nodes;
    int nnode, cap;
    TrainConfig *train;     /* a training step's settings, or NULL */
};

Graph *ir_new_graph(const char *name);

/* ---- a program's run-time control flow ----
 *
 * A program with loops or run-time ifs is staged: the tensor work between two control-flow
 * points is one graph (a segment), compiled once, and the control flow is host code that runs
 * the segments. Segments share the arena's persistent region: a value that lives from one
 * segment to another (a parameter, a gradient, optimizer state, a loop-carried variable, a
 * condition) has a slot there, a param node named after the slot, read with init "slot" (no
 * initialization) and written with an assign node at the segment's end. The host reads
 * conditions and writes loop counters in the slots. */

typedef enum {
    H_RUN,      /* run segment seg */
    H_FOR,      /* for (counter = start; counter < stop; counter += step) body; counter -> slot */
    H_WHILE,    /* for (;;) { test; if (!slot) break; body } */
    H_IF,       /* if (slot) body else orelse */
    H_BREAK,
    H_CONTINUE,
    H_DATA,     /* load dataset `data` (HostData.sets) */
    H_ITER,     /* iter(loader): iterator `data` (HostData.iters) starts a pass */
    H_NEXT,     /* next(it): iterator `data`'s next batch into slots x and y; past the end, StopIteration */
} HostKind;

typedef struct HostStmt HostStmt;

typedef struct {
    HostStmt **s;
    int n, cap;
} HostBlock;

struct HostStmt {
    HostKind kind;
    SrcLoc loc;
    int seg;              /* H_RUN */
    const char *slot;     /* H_FOR: the counter's slot (i64; a loader's: NULL without enumerate);
                             H_WHILE, H_IF: the condition's (bool) */
    const char *bound[3]; /* H_FOR: start, stop, step: a slot (i64) read when the loop starts, or NULL */
    int64_t lim[3];       /*        the constants where bound[i] is NULL (a loader's: lim[0] is
                                    enumerate's start) */
    int data;             /* H_DATA: the dataset; H_ITER, H_NEXT, H_FOR over a loader: the iterator */
    const char *x, *y;    /* H_NEXT, H_FOR over a loader (x not NULL): the batch's slots (f32
                             images, i64 labels) */
    const char **outs;    /* H_NEXT, H_FOR over a TensorDataset's loader: a slot per tensor */
    int nouts;
    bool rest;            /* H_FOR over a loader: its pass's last partial batch, after the full ones
                             (at most once; a break in the full batches' loop skips it) */
    HostBlock body, orelse, test;
};

void host_push(HostBlock *b, HostStmt *s);

/* The data a program's host code reads (torchvision datasets, DataLoader iterators): what
 * runtime/loader.c needs, known at compile time. */
typedef struct {
    const char *kind;     /* "fashion_mnist", "mnist", "cifar10", or "tensors" (a TensorDataset) */
    const char *cls;      /* as the program spells it: "FashionMNIST" */
    const char *root;
    const char *root_option; /* or the string option that gives it at run time (root unused) */
    bool train;
    int64_t n;            /* images the files must hold; a TensorDataset's rows */
    int c, h, w;
    const char **tensors; /* a TensorDataset: each tensor's slot, read when a batch is drawn */
    int64_t *row_bytes;   /*                  and the bytes of one of its rows */
    int ntensors;
} HostDataset;

typedef struct {
    int dataset;
    int64_t batch, nbatch; /* batch size; full batches per pass */
    int64_t rest;          /* the samples of the last partial batch a for loop gets (drop_last=False) */
    bool shuffle;
    int workers, pad;
    int nnorm;             /* Normalize's mean and std per channel, or 0: ToTensor alone */
    double mean[4], std[4];
} HostIter;

typedef struct {
    HostDataset *sets;
    int nsets;
    HostIter *iters;
    int niters;
} HostData;

/* A program's option (options(epochs=2, ...)): set on its command line, read where the program
 * reads it (OP_OPTION, a dataset's root). */
typedef enum { OPT_INT, OPT_FLOAT, OPT_BOOL, OPT_STR } OptKind;

typedef struct {
    const char *name;
    OptKind kind;
    int64_t i;            /* the default: OPT_INT, OPT_BOOL */
    double f;             /*              OPT_FLOAT */
    const char *s;        /*              OPT_STR */
    const char *shown;    /* the default as --help shows it (Python's repr) */
} HostOption;
/*
 * Appends a node: copies the inputs and attributes, runs the op's shape rule
 * (which reports shape errors at loc through diag and returns -1), and returns
 * the new node's id. `dtype` is only used by ops whose result type is not
 * implied by their inputs (sources, cast).
 */
int ir_add(Graph *g, Op op, const int *in, int nin, DType dtype, Shape shape, const Attr *attr,
           int nattr, SrcLoc loc);
/* Like ir_add, but with the result type already known (the IR reader). */
int ir_add_typed(Graph *g, Op op, const int *in, int nin, DType dtype, Shape shape,
                 const Attr *attr, int nattr, SrcLoc loc);

Attr attr_int(const char *key, int64_t v);
Attr attr_ints(const char *key, const int64_t *v, int n);
Attr attr_float(const char *key, double v);
Attr attr_floats(const char *key, const double *v, int n);
Attr attr_str(const char *key, const char *s);
const Attr *node_attr(const Node *n, const char *key);        /* NULL if absent */
int64_t node_int(const Node *n, const char *key, int64_t dflt);
double node_float(const Node *n, const char *key, double dflt);
const char *node_str(const Node *n, const char *key, const char *dflt);
/* Returns the attribute's integers; dies if absent (the verifier guarantees presence). */
const int64_t *node_ints(const Node *n, const char *key, int *len);

/* ---- where a gradient flows (grad.c) ---- */

/* Can a gradient flow into input k of n? Through a differentiable op, float to float, not into
 * cross_entropy's class indices. */
bool ir_grad_flows(const Graph *g, const Node *n, int k);
/* The nodes that get an adjoint when y (with a seed dL/dy) is differentiated for the leaves
 * wrt[0..nwrt): those on a path from a leaf to y through inputs a gradient flows into, never
 * through a node made without gradient tracking (NF_NOGRAD) or a gradient (NF_BACKWARD), never
 * below a leaf. reach[wrt[i]] says whether dL/d wrt[i] exists. */
bool *ir_grad_reach(const Graph *g, int y, const int *wrt, int nwrt);

/* ---- what a node's kernel can do (kernel.c): ops.h's epi and lit columns, resolved for a node's
 * attributes and shapes. Fusion and memory planning plan with them, and both backends emit by
 * them, so the three always agree. ---- */

/* EPI_NONE, EPI_STORE or EPI_SCATTER: how n's kernel would take an epilogue. */
Epilogue kernel_epilogue(const Node *n);
/* A backward op whose kernel writes each element of its output once (a gather) instead of adding
 * into it: max-pooling windows that are disjoint and unpadded, conv2d's input gradient at
 * stride 1 with one group. */
bool kernel_gathers(const Node *n);
/* Unary or binary elementwise, and not empty: a member of an elementwise loop. */
bool kernel_elementwise(const Node *n);
/* Does consumer's kernel write its input x (a rank-0 constant) as a C literal, reading no memory? */
bool kernel_inline_scalar(const Node *consumer, const Node *x);

/* Shape rule of one op: fills n->shape and n->dtype; returns false after reporting. */
bool ir_infer(Graph *g, Node *n);

void ir_print(FILE *f, const Graph *g);
char *ir_sprint(const Graph *g); /* the text form as a string in the arena */
void ir_print_dot(FILE *f, const Graph *g); /* Graphviz, sections as clusters */
/* A staged program's host code, as comments (# lines) the IR reader skips: which segments run, and
 * the loops and ifs around them. */
void ir_print_host(FILE *f, const char *program, const HostBlock *b);
void ir_print_string(FILE *f, const char *s); /* C-escaped, quoted */
/* The source line at loc, trimmed, for comments in generated code ("" if unknown). */
const char *diag_line_text(SrcLoc loc);
/* Reads the text form; errors are reported through diag at the text's locations. */
Graph *ir_read(const char *filename, const char *text);
/* Checks invariants (topological order, arities, shapes re-inferred); reports and returns false. */
bool ir_verify(const Graph *g);

#endif
