/*
 * ir.c: the compiler's arena, types, the op table and the graph builder.
 *
 * Compiler data is never freed piecemeal: everything comes from a chain of
 * large zeroed blocks that ir_free_all() drops at once. Graphs grow by
 * doubling; nodes refer to each other by id, so growth never leaves a
 * dangling pointer.
 */
#include "ir.h"

#include <stdlib.h>
#include <string.h>

/* ---- arena ---- */

typedef struct Block Block;
struct Block {
    Block *next;                       /* the block filled before this one */
    size_t used, cap;                  /* bytes handed out, bytes in data */
    _Alignas(16) unsigned char data[]; /* sizes are rounded to 16, so every pointer suits any type */
};

static Block *arena; /* the newest block, the only one still handed out from */

/*
 * Blocks are chained, never realloc'd, so a pointer stays valid until ir_free_all() and
 * tokens, AST and graphs can point into one another freely. They come from calloc, and
 * callers rely on the zeroing (ir_strndup() writes no terminator; new structs start at 0).
 * A full block's tail is abandoned; a request over 1 MiB gets a block of its own.
 */
void *ir_alloc(size_t size) {
    size = (size + 15) & ~(size_t)15;
    if (!arena || arena->used + size > arena->cap) {
        size_t cap = size > (1u << 20) ? size : (1u << 20);
        Block *b = calloc(1, sizeof(Block) + cap);
        if (!b)
            ir_out_of_memory();
        b->cap = cap;
        b->next = arena;
        arena = b;
    }
    void *p = arena->data + arena->used;
    arena->used += size;
    return p;
}

void ir_free_all(void) {
    diag_forget_files();
    while (arena) {
        Block *next = arena->next;
        free(arena);
        arena = next;
    }
}

char *ir_strndup(const char *s, size_t n) {
    char *p = ir_alloc(n + 1);
    memcpy(p, s, n); /* no terminator to write: arena memory is zeroed */
    return p;
}

char *ir_strdup(const char *s) { return ir_strndup(s, strlen(s)); }

char *ir_fmt(const char *fmt, ...) {
    /* two passes, measure then print, for an exact-size buffer; the first consumes ap, hence the copy */
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        die("formatting failed (a string over 2 GiB?)");
    char *p = ir_alloc((size_t)n + 1);
    vsnprintf(p, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    return p;
}

const char *ir_base_name(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* ---- dtypes ---- */

static const struct {
    const char *name;  /* spelling in the IR text and in type_str() */
    const char *ctype; /* element type in generated C */
    const char *torch; /* PyTorch's spelling, for messages to the .tg author */
    int size;          /* bytes per element */
} dtypes[DT_COUNT] = {
    [DT_F32] = {"f32", "float", "torch.float32", 4},
    [DT_F64] = {"f64", "double", "torch.float64", 8},
    [DT_I32] = {"i32", "int32_t", "torch.int32", 4},
    [DT_I64] = {"i64", "int64_t", "torch.int64", 8},
    [DT_BOOL] = {"bool", "uint8_t", "torch.bool", 1},
    [DT_U8] = {"u8", "uint8_t", "torch.uint8", 1},
};

const char *dtype_name(DType dt) { return dtypes[dt].name; }
const char *dtype_ctype(DType dt) { return dtypes[dt].ctype; }
const char *dtype_torch(DType dt) { return dtypes[dt].torch; }
int dtype_size(DType dt) { return dtypes[dt].size; }
bool dtype_is_float(DType dt) { return dt == DT_F32 || dt == DT_F64; }

int dtype_from_name(const char *s) {
    /* PyTorch and numpy spellings are accepted so cells translate as written. */
    static const struct {
        const char *name;
        DType dt;
    } alias[] = {
        {"f32", DT_F32},     {"float32", DT_F32}, {"float", DT_F32},  {"f64", DT_F64},
        {"float64", DT_F64}, {"double", DT_F64},  {"i32", DT_I32},    {"int32", DT_I32},
        {"int", DT_I32},     {"i64", DT_I64},     {"int64", DT_I64},  {"long", DT_I64},
        {"bool", DT_BOOL},   {"u8", DT_U8},       {"uint8", DT_U8},
    };
    for (size_t i = 0; i < sizeof alias / sizeof alias[0]; i++)
        if (!strcmp(alias[i].name, s))
            return (int)alias[i].dt;
    return -1;
}

/* ---- shapes ---- */

Shape shape_make(int rank, const int64_t *d) {
    Shape s = {.rank = rank};
    for (int i = 0; i < rank; i++)
        s.d[i] = d[i];
    return s;
}

Shape shape_scalar(void) { return (Shape){0}; }

int64_t shape_numel(Shape s) {
    int64_t n = 1;
    for (int i = 0; i < s.rank; i++)
        n *= s.d[i];
    return n;
}

bool shape_eq(Shape a, Shape b) {
    if (a.rank != b.rank)
        return false;
    for (int i = 0; i < a.rank; i++)
        if (a.d[i] != b.d[i])
            return false;
    return true;
}

char *shape_str(Shape s) {
    char buf[MAX_RANK * 24 + 4]; /* per dimension: an int64 is at most 20 characters, plus ", " */
    int n = 0;
    n += snprintf(buf + n, sizeof buf - (size_t)n, "[");
    for (int i = 0; i < s.rank; i++)
        n += snprintf(buf + n, sizeof buf - (size_t)n, "%s%lld", i ? ", " : "", (long long)s.d[i]);
    snprintf(buf + n, sizeof buf - (size_t)n, "]");
    return ir_strdup(buf);
}

char *type_str(DType dt, Shape s) { return ir_fmt("%s%s", dtype_name(dt), shape_str(s)); }

bool shape_broadcast(Shape a, Shape b, Shape *out) {
    Shape r = {.rank = a.rank > b.rank ? a.rank : b.rank};
    for (int i = 0; i < r.rank; i++) {
        int ia = a.rank - r.rank + i, ib = b.rank - r.rank + i;
        int64_t da = ia >= 0 ? a.d[ia] : 1, db = ib >= 0 ? b.d[ib] : 1;
        if (da != db && da != 1 && db != 1)
            return false;
        r.d[i] = da == 1 ? db : da;
    }
    *out = r;
    return true;
}

/* ---- op table ---- */

const OpInfo op_info[OP_COUNT] = {
#define OP(id, name, arity, kind, diff, epi, lit) [OP_##id] = {name, arity, kind, diff, epi, lit},
#include "ops.h"
#undef OP
};

int op_from_name(const char *name) {
    for (int i = 0; i < OP_COUNT; i++)
        if (!strcmp(op_info[i].name, name))
            return i;
    return -1;
}

/* ---- attributes ---- */

Attr attr_int(const char *key, int64_t v) { return attr_ints(key, &v, 1); }

/* Arrays here and in append() get at least one slot: ir_alloc(0) would return the address the
 * next allocation gets, so an empty list would share memory with whatever comes after it. */
Attr attr_ints(const char *key, const int64_t *v, int n) {
    Attr a = {.key = key, .kind = n == 1 ? A_INT : A_INTS, .n = n};
    a.i = ir_alloc(sizeof(int64_t) * (size_t)(n ? n : 1));
    if (n)
        memcpy(a.i, v, sizeof(int64_t) * (size_t)n);
    return a;
}

Attr attr_float(const char *key, double v) { return attr_floats(key, &v, 1); }

Attr attr_floats(const char *key, const double *v, int n) {
    Attr a = {.key = key, .kind = A_FLOATS, .n = n};
    a.f = ir_alloc(sizeof(double) * (size_t)(n ? n : 1));
    if (n)
        memcpy(a.f, v, sizeof(double) * (size_t)n);
    if (n == 1)
        a.kind = A_FLOAT;
    return a;
}

Attr attr_str(const char *key, const char *s) {
    return (Attr){.key = key, .kind = A_STR, .n = 1, .s = ir_strdup(s)};
}

const Attr *node_attr(const Node *n, const char *key) {
    for (int i = 0; i < n->nattr; i++)
        if (!strcmp(n->attr[i].key, key))
            return &n->attr[i];
    return NULL;
}

/* The getters convert between number kinds, so a caller need not know how an attribute was
 * spelled ("eps=1" in IR text reads as an integer). */
int64_t node_int(const Node *n, const char *key, int64_t dflt) {
    const Attr *a = node_attr(n, key);
    if (!a)
        return dflt;
    if (a->kind == A_FLOAT || a->kind == A_FLOATS)
        return (int64_t)a->f[0];
    return a->n ? a->i[0] : dflt;
}

double node_float(const Node *n, const char *key, double dflt) {
    const Attr *a = node_attr(n, key);
    if (!a)
        return dflt;
    if (a->kind == A_INT || a->kind == A_INTS)
        return (double)a->i[0];
    return a->n ? a->f[0] : dflt;
}

const char *node_str(const Node *n, const char *key, const char *dflt) {
    const Attr *a = node_attr(n, key);
    return a && a->kind == A_STR ? a->s : dflt;
}

const int64_t *node_ints(const Node *n, const char *key, int *len) {
    const Attr *a = node_attr(n, key);
    if (!a || (a->kind != A_INT && a->kind != A_INTS))
        die("node %d (%s) has no integer attribute '%s'", n->id, op_info[n->op].name, key);
    if (len)
        *len = a->n;
    return a->i;
}

/* ---- graphs ---- */

Graph *ir_new_graph(const char *name) {
    Graph *g = ir_alloc(sizeof(Graph));
    g->name = ir_strdup(name);
    return g;
}

/* Growth copies the nodes to a fresh arena array, so a Node * taken before an append may point
 * at the stale copy; ids stay valid, which is why nodes refer to each other by id. */
static Node *append(Graph *g, Op op, const int *in, int nin, DType dtype, Shape shape,
                    const Attr *attr, int nattr, SrcLoc loc) {
    if (g->nnode == g->cap) {
        int cap = g->cap ? g->cap * 2 : 64;
        Node *nodes = ir_alloc(sizeof(Node) * (size_t)cap);
        if (g->nnode)
            memcpy(nodes, g->nodes, sizeof(Node) * (size_t)g->nnode);
        g->nodes = nodes;
        g->cap = cap;
    }
    Node *n = &g->nodes[g->nnode];
    *n = (Node){.op = op, .id = g->nnode, .nin = nin, .dtype = dtype, .shape = shape,
                .nattr = nattr, .loc = loc};
    n->in = ir_alloc(sizeof(int) * (size_t)(nin ? nin : 1));
    for (int i = 0; i < nin; i++) {
        /* die, not diag: ids come from earlier ir_add calls or the reader's checks: a bug */
        if (in[i] < 0 || in[i] >= g->nnode)
            die("node input %d out of range", in[i]);
        n->in[i] = in[i];
    }
    n->attr = ir_alloc(sizeof(Attr) * (size_t)(nattr ? nattr : 1));
    for (int i = 0; i < nattr; i++)
        n->attr[i] = attr[i];
    g->nnode++;
    return n;
}

int ir_add(Graph *g, Op op, const int *in, int nin, DType dtype, Shape shape, const Attr *attr,
           int nattr, SrcLoc loc) {
    Node *n = append(g, op, in, nin, dtype, shape, attr, nattr, loc);
    /* A node that fails its shape rule is taken back off: the graph stays well-typed, so the
     * caller can report and go on. Its arena memory is simply abandoned. */
    if (!ir_infer(g, n)) {
        g->nnode--;
        return -1;
    }
    return n->id;
}

/* No shape rule: for nodes already known to be well-typed, such as those dce copies. */
int ir_add_typed(Graph *g, Op op, const int *in, int nin, DType dtype, Shape shape,
                 const Attr *attr, int nattr, SrcLoc loc) {
    return append(g, op, in, nin, dtype, shape, attr, nattr, loc)->id;
}

void host_push(HostBlock *b, HostStmt *s) {
    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 8;
        HostStmt **n = ir_alloc(sizeof(HostStmt *) * (size_t)b->cap);
        if (b->n)
            memcpy(n, b->s, sizeof(HostStmt *) * (size_t)b->n);
        b->s = n;
    }
    b->s[b->n++] = s;
}
