/*
 * frame.h: the kernel frame, what the C backend (codegen_c/) and the CUDA backend
 * (codegen_cuda/) share, and the Backend interface through which emit_c writes either kind of
 * program. Not an API for anyone else.
 *
 * The kernels of both backends are the same units: one node, or a fusion group as pass_fuse
 * made it, with the same names (k11_conv2d_relu_fwd), the same comments tracing them to the .tg
 * line and IR nodes, and the same buffer parameters (each distinct buffer once; an output
 * written over a dying input is one parameter, the input read through an alias line). The
 * scalar expressions of elementwise ops are C that CUDA C++ compiles as it is. frame.c defines
 * all of it; the state the emitters share is the one Frame below, cg.
 */
#ifndef TGC_FRAME_H
#define TGC_FRAME_H

#include "codegen_c.h"

/* ---- what differs between a C program and a CUDA one ---- */

/* A train block's code, as the backends write it. */
typedef struct {
    const char *prefix;        /* identifier prefix: lenet -> lenet_train_step, LENET_ARENA_BYTES */
    const char *source;        /* the .tg file as named on the command line, for banners */
    Graph *train;              /* the training step */
    const MemPlan *train_plan;
    const char *train_kpre;    /* its kernels' name prefix: "t" after a file's programs, else "" */
    Graph *pred;               /* predict: the model's forward pass alone, or NULL */
    const MemPlan *pred_plan;  /* inside the step's arena */
} TrainCode;

/*
 * Where a train block's step and predict run, as QBE's Target is what differs between machines.
 * The host program (the header, the file's programs, PREFIX_init, the tensor table, the trainer)
 * is emit_c's for every backend; emit_c calls the hooks in the order of the file (a NULL hook
 * writes nothing):
 *
 *   header:  ..., declare
 *   .c:      includes, programs, kernels (the step's), PREFIX_init, step (without a device),
 *            the tensor table, device, step (with one: it launches what device declares),
 *            kernels (predict's), predict, the trainer's main (naming start, push and pull)
 */
struct Backend {
    const char *name;     /* as --target names it */
    const char *includes; /* #include lines the .c needs beyond a C program's */
    /* the header's declarations of what the target adds (the device's start, push and pull) */
    void (*declare)(const TrainCode *t);
    /* graph g's kernels as C functions of the .c (NULL: they are not C, the device holds them) */
    void (*kernels)(Graph *g, const MemPlan *m, const char *kpre);
    /* the device's code: its kernels' source, its start, the copies to and from it */
    void (*device)(const TrainCode *t);
    void (*step)(const TrainCode *t);    /* PREFIX_train_step */
    void (*predict)(const TrainCode *t); /* PREFIX_predict */
    /* the device's functions the trainer calls, PREFIX_<device_fns>_start, _push and _pull
     * (NULL: none): start it (before the data are read), push the parameters and optimizer
     * state to it (after init or resume), pull them back (before a checkpoint) */
    const char *device_fns;
    /*
     * A staged program's segments on the device (NULL: they all run on the CPU). seg_on_device:
     * whether the device computes every node of a segment (sources read on the host, an option
     * or a random draw, count: they are copied up). program_device, before the segments: the
     * device's kernels of the segments marked in on_dev and static C functions the host code
     * calls: `dev_ready()` (starts the device, or exits with a message), `dev_up(mem, off, n)`
     * and `dev_down(mem, off, n)` (n bytes at arena offset off, to the device and back).
     * seg_launches, inside segment k's function (its offsets defined): its launches, and where a
     * source node the host computes comes in their order, host(node): the host's part of it,
     * which ends with dev_up of its buffer.
     */
    bool (*seg_on_device)(Graph *seg);
    void (*program_device)(const StagedProgram *sp, const bool *on_dev, const char *kpre, const char *prefix,
                           const char *source);
    void (*seg_launches)(int k, void (*host)(int node));
};

/* ---- the emitters' state: one graph at a time, in it one kernel unit at a time ---- */

/* A parameter of the current kernel: one distinct buffer. */
typedef struct {
    int node;         /* the node whose pointer the caller passes */
    const char *name; /* the parameter's name */
    bool written;
} KArg;

/*
 * A kernel unit: one node, or a fusion group, a run of nodes [first, last] that pass_fuse
 * marked with one group number. Its parameters are the distinct buffers it reads and writes,
 * each passed once: where memplan put an output over a dying input (in place), the kernel gets
 * that buffer once, writable, and reads the input through a pointer derived from it, so every
 * restrict promise holds. Names inside a kernel: the head op's inputs by role (x, weight, bias,
 * dy, ...; cg_role) and its output out, as the single-op emitters write them; other buffers by
 * what they hold (conv1_weight, dconv1_weight, neg_lr); values a group keeps in registers t<node>.
 */
typedef struct {
    int first, last;     /* its nodes */
    int head;            /* the op with its own loops (conv2d, ...), or -1: an elementwise chain */
    KArg *args;          /* its parameters, in order */
    int nargs;
    const char *aliases; /* "const float *x = out;" lines: other names of a parameter's buffer */
    bool *prologue;      /* per node: a member computing the head's dL/dy input, before the head */
} Unit;

/* Everything the emitters share, in one place. */
typedef struct {
    FILE *out;        /* where P writes: the .c, the .h, or a buffer being filled */
    Graph *g;         /* the graph whose code is being written (cg_begin) */
    const MemPlan *m; /* its memory plan */
    const char *kpre; /* its kernels' name prefix: "", "t", "p", "p1_" (graphs after the first) */
    Unit u;           /* the current kernel unit (cg_unit_begin) */
} Frame;

extern Frame cg;

#define P(...) fprintf(cg.out, __VA_ARGS__)

/* Start writing graph g, planned by m; kernel names start with kpre. */
void cg_begin(Graph *g, const MemPlan *m, const char *kpre);
/* Does a kernel end at node i? (Kernels run at their last node.) Sets its span. */
bool cg_kernel_at(int i, int *first, int *last);
/* Makes [first, last] the current unit: its head, its parameters and their names. */
void cg_unit_begin(int first, int last);
const char *cg_unit_name(void);
/* The unit's comment: .tg line(s), the IR nodes it computes, which it stores. */
void cg_kernel_comment(void);
/* The step's section a unit [first, last] runs in: "forward", "backward" or "update" (frame.c says
 * how it is decided; the kernel names' _fwd, _bwd, _upd follow it). */
const char *cg_section(int first, int last);
/* The name of node id's buffer inside the unit: the head's inputs by role (cg_role), out, or what
 * the buffer holds ("conv1_weight", "dx", "neg_lr"). */
const char *cg_bname(int id);
/* What input k of op n is, the name of its parameter when n is a unit's head: x, weight, bias, dy,
 * codes, logits, target, ... (a and b for elementwise ops and matmul). */
const char *cg_role(const Node *n, int k);
/* The pointer variable of node id in the step, run and predict functions (conv1_weight, x_14). */
const char *cg_ident(const char *name); /* a C identifier for a .tg name ("conv1.weight" -> conv1_weight, int -> int_) */
/* What P writes from here goes into a buffer (*buf, malloc'ed) until cg_uncapture(saved). */
FILE *cg_capture(char **buf, size_t *len);
void cg_uncapture(FILE *saved);
const char *cg_var(int id);
/* The node whose buffer id's value lives in (a view's or an in-place value's is another's), and
 * the name of the constant that holds its offset in the arena (OFF_conv1_weight). */
int cg_owner(int id);
const char *cg_off(int id);

static inline Node *IN(const Node *n, int k) { return &cg.g->nodes[n->in[k]]; }
static inline bool cg_grouped(void) { return cg.u.last > cg.u.first; }
static inline bool cg_in_unit(int id) { return id >= cg.u.first && id <= cg.u.last; }
/* Has a buffer of its own (not a view, not a register). */
static inline bool cg_stored(int id) { return cg.m->off[id] >= 0 && !cg.m->view[id]; }

/* ---- literals, strings, indices ---- */

/* A C literal of type dt with value v, exact for floats (shortest round trip). */
const char *cg_literal(double v, DType dt);
/* Element i of a literal attribute (exact int64 for integer data) as a C literal of type dt. */
const char *cg_attr_literal(const Attr *a, int i, DType dt);
/* Text safe inside a C comment: no comment end, no line breaks, no control bytes. */
const char *cg_comment_safe(const char *s);
void cg_c_string(const char *s, size_t n); /* a C string literal of s's n bytes, written by P */
const char *cg_upper(const char *s);
/* "// Generated by tgc X.Y from lenet.tg (COMMAND). Do not edit.\n", SOURCE's file name only; no
 * parentheses without a command. */
const char *cg_banner(const char *source, const char *command);
void cg_strides(Shape s, int64_t *st); /* row-major */
/* Index into s (aligned right against o; broadcast dims read 0) from o's axis variables. */
const char *cg_bcast_index(Shape s, Shape o, const char **vars);

/* ---- index expressions and loops (index.c) ---- */

/* Index arithmetic built term by term, so that nothing that adds nothing reaches the file: a
 * factor 1, a term 0 and a product with 0 are dropped, literals fold, a sum is parenthesized
 * where it is multiplied. */
const char *ix_int(int64_t k);
const char *ix_add(const char *a, const char *b);
const char *ix_addk(const char *a, int64_t k);
const char *ix_sub(const char *a, const char *b);
const char *ix_mul(const char *a, int64_t k);
const char *ix_ptr(const char *p, const char *off); /* p + off, or p */
const char *ix_div(const char *a, int64_t k);       /* a / k: a for k = 1 */
const char *ix_mod(const char *a, int64_t k);       /* a % k: 0 for k = 1 */
const char *ix_bytes(int64_t n, const char *ctype); /* n * sizeof(T), or sizeof(T) for one */
/* The element (a, b, c, d) of a 4-d array of dims (., B, C, D): ((a * B + b) * C + c) * D + d. */
const char *ix_4d(const char *a, const char *b, const char *c, const char *d, int64_t B, int64_t C, int64_t D);
/* The coordinate a window's tap reads: o * stride + r * dilation - pad. */
const char *ix_tap(const char *o, int64_t stride, const char *r, int64_t dilation, int64_t pad);

/* `for (T v = a; v < b; v += step)` at indent ind, then tail (" {" for a braced body, or a
 * comment). A loop that runs once is no loop: v is bound in a block, `{ const T v = a;`. Every
 * cg_for has its cg_end, which closes the block or the braces (an unbraced loop needs nothing). */
void cg_for(int ind, const char *type, const char *v, int64_t a, int64_t b, int64_t step, const char *tail);
/* The same for a loop whose body may `continue`: run once, it is `do { ... } while (0)`. */
void cg_for_cont(int ind, const char *type, const char *v, int64_t a, int64_t b, int64_t step, const char *tail);
void cg_end(void);
/* A pragma for the next n loops (fmt has %s for the collapse clause): it goes before the first of
 * them that is a loop and collapses those that follow it; if they all run once, `once` goes
 * before them instead (NULL: nothing). */
void cg_pragma(int ind, const char *fmt, const char *once, int n);
void cg_loops_closed(void); /* dies unless every loop was closed and every pragma placed */

/* ---- the scalar C of elementwise ops, and fused members ---- */

const char *cg_unary(const Node *n, const char *a);
const char *cg_binary(const Node *n, const char *a, const char *b);
const char *cg_ewise(const Node *n, const char *const *v); /* unary, binary or where, by n->nin */
void cg_orthogonal_body(const Node *n, int ind);           /* nn.init.orthogonal_'s QR, both backends */
/* Every member but the head and the prologue as `const T t<id> = ...;`, in order. */
void cg_emit_members(int indent, Shape gs, const char *flat, const char **axv);
/* The prologue's members alike, for the element at `flat` of shape s of the head's dL/dy. */
void cg_emit_prologue(int indent, Shape s, const char *flat);

#endif
