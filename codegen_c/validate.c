/*
 * validate.c: reads generated C back with libclang and proves what it promises.
 *
 * A training step from tgc promises "no allocation, no I/O" and kernels a C compiler can
 * optimize (static, restrict pointers, constant shapes). A change to the emitters can break any of
 * these and still compile and still give the right numbers, so `tgc check` parses the file as
 * a C99 compiler would (-std=c99 -Wall -Wextra -Wpedantic, the runtime's include path),
 * reports every diagnostic, and then follows the code from the entry points, the functions
 * named *_train_step and *_predict and those marked TG_ENTRY (an export def's), through every call and every function whose address is
 * taken (a function pointer may call it), into file-scope tables as well. Everything reached:
 *   - calls nothing defined outside the file but libm, memset, memcpy, memmove,
 *     omp_get_thread_num/num_threads/max_threads and libtgrt's generator draws (dropout); in
 *     particular it never allocates, does I/O or controls the process;
 *   - is on no cycle of that call graph (no recursion, mutual recursion included);
 *   - declares no variable-length array (nor any type built from one);
 * and every kernel (a reached function other than an entry point) is static, each of its
 * pointer parameters is restrict, and at each call of a kernel no pointer variable is passed
 * twice; where pointers are carved from one base at constant offsets ((T *)(mem + 1024)) and
 * the kernel declares its extents (const float x[restrict static 96]), the byte ranges of
 * two arguments must not overlap either.
 *
 * Findings read like a compiler's, at the offending line, with notes tracing the path from
 * the entry point. A call through a function pointer that comes from outside the file (an
 * entry point's parameter, an extern variable) cannot be followed, so it is reported too. What
 * the walk cannot see: pointers reassigned after their initialization (generated code never
 * does that), pointer arithmetic in the arguments themselves (v + 4, &v[4]), function pointers
 * stored in memory at run time, and the extent a kernel touches when its parameters do not
 * declare it.
 *
 * The walk keeps one Def per function or file-scope variable the file defines and one Ref
 * per name a node's body or initializer mentions; reachability is a breadth-first search over
 * the Refs (so the notes show a shortest path), recursion a depth-first one. Without libclang
 * the file compiles to a stub that says so.
 */
#include "codegen_c.h"

#include "config.h"

#include <errno.h>
#include <string.h>

#if TGC_HAVE_LIBCLANG

#include <clang-c/Index.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- what generated code may call ---- */

static const char *const alloc_fns[] = {
    "malloc", "calloc", "realloc", "reallocarray", "free", "alloca", "alloca_with_align",
    "aligned_alloc", "posix_memalign", "memalign", "valloc", "pvalloc", "strdup", "strndup", NULL};
static const char *const io_fns[] = {
    "printf", "fprintf", "sprintf", "snprintf", "vprintf", "vfprintf", "vsprintf", "vsnprintf",
    "dprintf", "vdprintf", "puts", "fputs", "putchar", "fputc", "putc", "getchar", "fgetc", "getc",
    "fgets", "gets", "ungetc", "scanf", "fscanf", "sscanf", "vscanf", "vfscanf", "vsscanf", "fopen",
    "freopen", "fdopen", "fclose", "fread", "fwrite", "fflush", "fseek", "fseeko", "ftell", "ftello",
    "rewind", "fgetpos", "fsetpos", "feof", "ferror", "clearerr", "fileno", "perror", "remove",
    "rename", "tmpfile", "tmpnam", "setbuf", "setvbuf", "popen", "pclose", "getline", "getdelim",
    "open", "openat", "creat", "close", "read", "write", "pread", "pwrite", "readv", "writev", "lseek",
    "dup", "dup2", "pipe", "ioctl", "fcntl", "fsync", "fdatasync", "sync", "mmap", "munmap",
    "stat", "fstat", "lstat", "unlink", "mkdir", "rmdir", "opendir", "readdir", "closedir",
    "access", "chdir", "isatty", "socket", "connect", "bind", "listen", "accept", "send", "recv",
    "select", "poll", NULL};
static const char *const process_fns[] = {
    "exit", "_exit", "_Exit", "abort", "quick_exit", "atexit", "at_quick_exit", "trap", "fork",
    "vfork", "execl", "execlp", "execle", "execv", "execvp", "execve", "execvpe", "system",
    "signal", "raise", "kill", "sigaction", "sigprocmask", "setjmp", "longjmp", "sigsetjmp",
    "siglongjmp", "wait", "waitpid", "sleep", "usleep", "nanosleep", "pause", "alarm", "getenv",
    "setenv", "unsetenv", "putenv", "pthread_create", "pthread_exit", "pthread_join", NULL};
/* C99's <math.h>: each name also with its f (float) and l (long double) suffix */
static const char *const libm_fns[] = {
    "acos", "asin", "atan", "atan2", "cos", "sin", "tan", "acosh", "asinh", "atanh", "cosh",
    "sinh", "tanh", "exp", "exp2", "expm1", "frexp", "ilogb", "ldexp", "log", "log10", "log1p",
    "log2", "logb", "modf", "scalbn", "scalbln", "cbrt", "fabs", "hypot", "pow", "sqrt", "erf",
    "erfc", "lgamma", "tgamma", "ceil", "floor", "nearbyint", "rint", "lrint", "llrint", "round",
    "lround", "llround", "trunc", "fmod", "remainder", "remquo", "copysign", "nan", "nextafter",
    "nexttoward", "fdim", "fmax", "fmin", "fma",
    /* what glibc's classification macros call when they are not compiler builtins */
    "__isnan", "__isinf", "__finite", "__fpclassify", "__signbit", "__issignaling", NULL};
static const char *const other_allowed[] = {
    "memset", "memcpy", "memmove", "omp_get_thread_num", "omp_get_num_threads",
    "omp_get_max_threads",
    /* libtgrt's generator (runtime/rng.c): a step with dropout draws its masks; they touch only
     * the generator and the buffer they are given, no memory of their own, no I/O */
    "tg_rng_seed", "tg_uniform", "tg_normal", "tg_bernoulli", "tg_randint", "tg_randperm", NULL};

static bool listed(const char *const *list, const char *name) {
    for (; *list; list++)
        if (!strcmp(*list, name))
            return true;
    return false;
}

static bool is_libm(const char *name) {
    for (const char *const *f = libm_fns; *f; f++) {
        size_t n = strlen(*f);
        if (!strncmp(name, *f, n) && (!name[n] || ((name[n] == 'f' || name[n] == 'l') && !name[n + 1])))
            return true;
    }
    return false;
}

/* Why generated code must not call name, a function defined outside the file; NULL: it may.
 * Compiler builtins are judged by the name they stand for (__builtin_alloca is alloca); the
 * rest of them (__builtin_isnan, __builtin_expect, ...) are not calls into anything. */
static const char *forbidden(const char *name) {
    bool builtin = !strncmp(name, "__builtin_", 10);
    const char *base = builtin ? name + 10 : name;
    if (listed(alloc_fns, base))
        return "generated code must not allocate";
    if (listed(io_fns, base))
        return "generated code must not do I/O";
    if (listed(process_fns, base))
        return "generated code must not control the process";
    if (builtin || is_libm(base) || listed(other_allowed, base))
        return NULL;
    return "generated code calls nothing defined outside the file but libm, memset, memcpy, memmove, "
           "omp_get_thread_num, omp_get_num_threads and omp_get_max_threads";
}

/* ---- the graph of the file ---- */

typedef struct {
    const char *file; /* NULL: no location */
    unsigned line, col;
} Loc;

typedef struct {
    const char *name; /* the function or file-scope variable mentioned */
    int target;       /* its Def, or -1: not defined in this file */
    bool is_func;     /* a function (else a variable) */
    bool call;        /* the callee of a direct call; else its address is taken (or the variable read) */
    CXCursor expr;    /* the call (when call), for the checks of its arguments */
    Loc loc;
} Ref;

typedef struct {
    const char *what; /* "variable-length array type 'float[n]'", "call through parameter 'f'" */
    bool param;       /* a call through a parameter: unknown only in an entry point */
    Loc loc;
} Finding;

typedef struct {
    const char *name, *usr; /* the USR finds a definition from any of its declarations */
    CXCursor def;           /* the definition */
    bool is_func, entry;    /* entry: *_train_step, *_predict, or marked TG_ENTRY */
    Ref *refs;
    int nref, capref;
    Finding *vlas, *foreign; /* VLA types; calls through pointers that may come from outside */
    int nvla, capvla, nforeign, capforeign;
    int root;               /* the entry point that reached it first, -1: unreachable */
    int parent, parent_ref; /* reached through nodes[parent].refs[parent_ref]; -1 for an entry */
    int mark;               /* cycle search: 0 not yet, 1 on the path, 2 done */
} Def;

typedef struct {
    Loc loc;
    const char *text; /* the error line and its notes, ready to print */
    int seq;          /* order of discovery: ties in location keep it */
} Problem;

typedef struct {
    CXTranslationUnit tu;
    Def *nodes;
    int nnode, capnode;
    int *index;        /* find_node's table, icap slots (-1: empty) */
    int icap;
    Problem *probs;
    int nprob, capprob;
} Checker;

/* Appends one zeroed element to an arena array, doubling it when full (the old block stays in
 * the arena, which is never freed piecemeal). */
#define PUSH(arr, n, cap) ((arr) = grow((arr), (n), &(cap), sizeof *(arr)), &(arr)[(n)++])
static void *grow(void *arr, int n, int *cap, size_t elem) {
    if (n < *cap)
        return arr;
    int ncap = *cap ? 2 * *cap : 16;
    void *p = ir_alloc((size_t)ncap * elem);
    if (n)
        memcpy(p, arr, (size_t)n * elem);
    *cap = ncap;
    return p;
}

/* A CXString copied into the arena and disposed. */
static const char *str(CXString s) {
    const char *c = clang_getCString(s);
    char *r = ir_strdup(c ? c : "");
    clang_disposeString(s);
    return r;
}

/* Where a cursor is as the user reads it: for code from a macro, where the macro is used. */
static Loc loc_of(CXCursor c) {
    CXFile f;
    Loc l = {0};
    clang_getExpansionLocation(clang_getCursorLocation(c), &f, &l.line, &l.col, NULL);
    if (f)
        l.file = str(clang_getFileName(f));
    return l;
}

static const char *loc_str(Loc l) {
    return l.file ? ir_fmt("%s:%u:%u", l.file, l.line, l.col) : "<unknown>";
}

static enum CXCursorKind kind(CXCursor c) { return clang_getCursorKind(c); }

static enum CXChildVisitResult last_child_cb(CXCursor c, CXCursor parent, CXClientData d) {
    (void)parent;
    *(CXCursor *)d = c;
    return CXChildVisit_Continue;
}

/* The last child: the operand of a cast or parenthesis, the initializer of a variable (after a
 * type reference such as int64_t), the right operand of a binary operator. */
static CXCursor last_child(CXCursor c) {
    CXCursor r = clang_getNullCursor();
    clang_visitChildren(c, last_child_cb, &r);
    return r;
}

static enum CXChildVisitResult first_child_cb(CXCursor c, CXCursor parent, CXClientData d) {
    (void)parent;
    *(CXCursor *)d = c;
    return CXChildVisit_Break;
}

static CXCursor first_child(CXCursor c) {
    CXCursor r = clang_getNullCursor();
    clang_visitChildren(c, first_child_cb, &r);
    return r;
}

/* Through implicit conversions (libclang shows them as UnexposedExpr), parentheses and casts. */
static CXCursor strip(CXCursor c) {
    for (int depth = 0; depth < 64; depth++) {
        enum CXCursorKind k = kind(c);
        if (k != CXCursor_UnexposedExpr && k != CXCursor_ParenExpr && k != CXCursor_CStyleCastExpr)
            break;
        CXCursor in = last_child(c);
        if (clang_Cursor_isNull(in) || !clang_isExpression(kind(in)))
            break;
        c = in;
    }
    return c;
}

/* Does a type use a variable-length array: float[n], float (*)[n], float[4][n]? */
static bool has_vla(CXType t) {
    for (int depth = 0; depth < 32; depth++) {
        t = clang_getCanonicalType(t);
        if (t.kind == CXType_VariableArray)
            return true;
        if (t.kind == CXType_Pointer)
            t = clang_getPointeeType(t);
        else if (t.kind == CXType_ConstantArray || t.kind == CXType_IncompleteArray)
            t = clang_getArrayElementType(t);
        else
            return false;
    }
    return false;
}

static bool is_file_scope(CXCursor decl) {
    return kind(clang_getCursorSemanticParent(decl)) == CXCursor_TranslationUnit;
}

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

/* The definitions by USR: open addressing over ck->nodes, rebuilt when half full, so that a
 * file of many functions is checked in time linear in its size. */
static unsigned usr_hash(const char *s) {
    unsigned h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static int find_node(Checker *ck, const char *usr) {
    if (!ck->icap)
        return -1;
    for (unsigned h = usr_hash(usr) & (unsigned)(ck->icap - 1); ck->index[h] >= 0; h = (h + 1) & (unsigned)(ck->icap - 1))
        if (!strcmp(ck->nodes[ck->index[h]].usr, usr))
            return ck->index[h];
    return -1;
}

/* Indexes ck->nodes[k], just added. */
static void index_node(Checker *ck, int k) {
    if (2 * (k + 1) > ck->icap) {
        ck->icap = ck->icap ? 2 * ck->icap : 64;
        while (ck->icap < 4 * (k + 1))
            ck->icap *= 2;
        ck->index = ir_alloc(sizeof(int) * (size_t)ck->icap);
        for (int i = 0; i < ck->icap; i++)
            ck->index[i] = -1;
        for (int i = 0; i < k; i++) {
            unsigned h = usr_hash(ck->nodes[i].usr) & (unsigned)(ck->icap - 1);
            while (ck->index[h] >= 0)
                h = (h + 1) & (unsigned)(ck->icap - 1);
            ck->index[h] = i;
        }
    }
    unsigned h = usr_hash(ck->nodes[k].usr) & (unsigned)(ck->icap - 1);
    while (ck->index[h] >= 0)
        h = (h + 1) & (unsigned)(ck->icap - 1);
    ck->index[h] = k;
}

/* ---- collecting: definitions, then what each one mentions ---- */

static enum CXChildVisitResult find_entry_mark(CXCursor c, CXCursor parent, CXClientData d) {
    (void)parent;
    if (kind(c) == CXCursor_AnnotateAttr && !strcmp(str(clang_getCursorSpelling(c)), "tg_entry")) {
        *(bool *)d = true;
        return CXChildVisit_Break;
    }
    return CXChildVisit_Continue;
}

/* A function marked TG_ENTRY (an export def's): __attribute__((annotate("tg_entry"))). */
static bool marked_entry(CXCursor fn) {
    bool found = false;
    clang_visitChildren(fn, find_entry_mark, &found);
    return found;
}

static enum CXChildVisitResult collect_defs(CXCursor c, CXCursor parent, CXClientData d) {
    (void)parent;
    Checker *ck = d;
    enum CXCursorKind k = kind(c);
    if ((k != CXCursor_FunctionDecl && k != CXCursor_VarDecl) || !clang_isCursorDefinition(c) ||
        !clang_Location_isFromMainFile(clang_getCursorLocation(c)))
        return CXChildVisit_Continue;
    const char *usr = str(clang_getCursorUSR(c));
    if (find_node(ck, usr) >= 0) /* a variable's tentative definitions: one node */
        return CXChildVisit_Continue;
    Def *n = PUSH(ck->nodes, ck->nnode, ck->capnode);
    memset(n, 0, sizeof *n);
    n->name = str(clang_getCursorSpelling(c));
    n->usr = usr;
    n->def = c;
    n->is_func = k == CXCursor_FunctionDecl;
    n->entry = n->is_func && (ends_with(n->name, "_train_step") || ends_with(n->name, "_predict") || marked_entry(c));
    n->root = n->parent = n->parent_ref = -1;
    index_node(ck, ck->nnode - 1);
    return CXChildVisit_Continue;
}

typedef struct {
    Checker *ck;
    Def *node;
    CXCursor callee, call; /* the callee of the call seen last: the next DeclRefExpr visited */
} Walk;

static enum CXChildVisitResult collect_refs(CXCursor c, CXCursor parent, CXClientData d) {
    (void)parent;
    Walk *w = d;
    Def *n = w->node;
    enum CXCursorKind k = kind(c);
    if (k == CXCursor_CallExpr) {
        CXCursor callee = strip(first_child(c));
        if (kind(callee) == CXCursor_DeclRefExpr) {
            CXCursor to = clang_getCursorReferenced(callee);
            if (kind(to) == CXCursor_FunctionDecl) {
                w->callee = callee;
                w->call = c;
            } else if (kind(to) == CXCursor_ParmDecl ||
                       (kind(to) == CXCursor_VarDecl && is_file_scope(to) &&
                        find_node(w->ck, str(clang_getCursorUSR(to))) < 0)) {
                /* a kernel's parameter holds what its callers in the file pass, whose addresses
                 * are followed where they are taken; an entry point's, or an extern variable,
                 * hold what the code outside passes */
                Finding *f = PUSH(n->foreign, n->nforeign, n->capforeign);
                f->param = kind(to) == CXCursor_ParmDecl;
                f->what = ir_fmt(f->param ? "call through parameter '%s'" : "call through '%s', a function pointer "
                                 "not defined in this file,", str(clang_getCursorSpelling(to)));
                f->loc = loc_of(callee);
            }
        }
    } else if (k == CXCursor_DeclRefExpr) {
        CXCursor to = clang_getCursorReferenced(c);
        enum CXCursorKind tk = kind(to);
        if (tk == CXCursor_FunctionDecl || (tk == CXCursor_VarDecl && is_file_scope(to))) {
            Ref *r = PUSH(n->refs, n->nref, n->capref);
            r->name = str(clang_getCursorSpelling(to));
            r->target = find_node(w->ck, str(clang_getCursorUSR(to))); /* any declaration finds the definition */
            r->is_func = tk == CXCursor_FunctionDecl;
            /* cursors of one expression from two visits do not compare equal: compare the source */
            r->call = r->is_func && !clang_Cursor_isNull(w->callee) &&
                      clang_equalRanges(clang_getCursorExtent(c), clang_getCursorExtent(w->callee));
            r->expr = r->call ? w->call : c;
            r->loc = loc_of(c);
        }
    }
    /* declarations and the expressions that spell a type: a VLA shows in their type */
    if ((clang_isDeclaration(k) && k != CXCursor_FunctionDecl) || k == CXCursor_CStyleCastExpr ||
        k == CXCursor_CompoundLiteralExpr) {
        CXType t = clang_getCursorType(c);
        if (has_vla(t)) {
            Finding *f = PUSH(n->vlas, n->nvla, n->capvla);
            f->what = ir_fmt("variable-length array type '%s'", str(clang_getTypeSpelling(t)));
            f->loc = loc_of(c);
        }
    }
    return CXChildVisit_Recurse;
}

/* ---- reporting ---- */

static void problem(Checker *ck, Loc loc, const char *text) {
    Problem *p = PUSH(ck->probs, ck->nprob, ck->capprob);
    p->loc = loc;
    p->text = text;
    p->seq = ck->nprob - 1;
}

/* "in 'k03_relu_fwd', reachable from 'net_train_step'" */
static const char *where(Checker *ck, int n) {
    const Def *x = &ck->nodes[n];
    if (x->entry || x->root < 0)
        return ir_fmt("in '%s'", x->name);
    return ir_fmt("in '%s', reachable from '%s'", x->name, ck->nodes[x->root].name);
}

/* The notes from node n back to its entry point, one line each, each at the place that reaches. */
static const char *trace(Checker *ck, int n) {
    const char *s = "";
    for (int depth = 0; depth < ck->nnode && ck->nodes[n].parent >= 0; depth++) {
        const Def *x = &ck->nodes[n], *p = &ck->nodes[x->parent];
        const Ref *r = &p->refs[x->parent_ref];
        const char *how = r->call      ? ir_fmt("'%s' is called from '%s' here", x->name, p->name)
                          : x->is_func ? ir_fmt("the address of '%s' is taken in '%s' here", x->name, p->name)
                                       : ir_fmt("'%s' is used in '%s' here", x->name, p->name);
        s = ir_fmt("%s%s: note: %s\n", s, loc_str(r->loc), how);
        n = x->parent;
    }
    return s;
}

static void violation(Checker *ck, Loc loc, int n, const char *msg) {
    problem(ck, loc, ir_fmt("%s: error: %s\n%s", loc_str(loc), msg, trace(ck, n)));
}

static int cmp_problem(const void *a, const void *b) {
    const Problem *p = a, *q = b;
    int f = strcmp(p->loc.file ? p->loc.file : "", q->loc.file ? q->loc.file : "");
    if (f)
        return f;
    if (p->loc.line != q->loc.line)
        return p->loc.line < q->loc.line ? -1 : 1;
    if (p->loc.col != q->loc.col)
        return p->loc.col < q->loc.col ? -1 : 1;
    return p->seq - q->seq;
}

/* ---- the checks ---- */

/* Calls and addresses of functions defined outside the file. */
static void check_external(Checker *ck, int n) {
    const Def *x = &ck->nodes[n];
    for (int i = 0; i < x->nref; i++) {
        const Ref *r = &x->refs[i];
        if (r->target >= 0 || !r->is_func)
            continue;
        const char *why = forbidden(r->name);
        if (why)
            violation(ck, r->loc, n,
                      r->call ? ir_fmt("call to '%s' %s (%s)", r->name, where(ck, n), why)
                              : ir_fmt("address of '%s' taken %s (%s)", r->name, where(ck, n), why));
    }
}

/* Is a parameter an object pointer (float *p, or float p[4], which C adjusts to a pointer)? Then
 * *restricted tells whether it is restrict: for an array the qualifier sits in the brackets
 * (float p[restrict static 4]), which libclang shows only in the type's spelling. */
static bool pointer_param(CXCursor parm, bool *restricted) {
    CXType t = clang_getCanonicalType(clang_getCursorType(parm));
    if (t.kind == CXType_ConstantArray || t.kind == CXType_IncompleteArray || t.kind == CXType_VariableArray) {
        const char *s = str(clang_getTypeSpelling(clang_getCursorType(parm)));
        const char *open = strchr(s, '['), *r = open ? strstr(open, "restrict") : NULL;
        *restricted = r && r < strchr(open, ']');
        return true;
    }
    if (t.kind != CXType_Pointer)
        return false;
    enum CXTypeKind pk = clang_getCanonicalType(clang_getPointeeType(t)).kind;
    if (pk == CXType_FunctionProto || pk == CXType_FunctionNoProto) /* restrict is for objects only */
        return false;
    *restricted = clang_isRestrictQualifiedType(t);
    return true;
}

/* A kernel is static, and each of its pointer parameters is restrict. */
static void check_kernel(Checker *ck, int n) {
    const Def *x = &ck->nodes[n];
    if (clang_getCursorLinkage(x->def) != CXLinkage_Internal)
        violation(ck, loc_of(x->def), n,
                  ir_fmt("kernel '%s' is not static (every function reachable from '%s' but the entry points "
                         "must be static)", x->name, ck->nodes[x->root].name));
    for (int i = 0, nparam = clang_Cursor_getNumArguments(x->def); i < nparam; i++) {
        CXCursor parm = clang_Cursor_getArgument(x->def, (unsigned)i);
        bool restricted;
        if (pointer_param(parm, &restricted) && !restricted)
            violation(ck, loc_of(parm), n,
                      ir_fmt("pointer parameter '%s' of kernel '%s' is not restrict-qualified (reachable from "
                             "'%s'; kernel pointers must be restrict)", str(clang_getCursorSpelling(parm)), x->name,
                             ck->nodes[x->root].name));
    }
}

/* A buffer an argument points into: the variable passed, and where it points as far as the
 * initializers tell: root + off bytes, root being a parameter or a variable of unknown value. */
typedef struct {
    CXCursor var, root;
    const char *name, *root_name;
    long long off;
} Buffer;

/* Is binop a '+'? libclang 14 has no call for a binary operator's opcode, so read the token after
 * the left operand. */
static bool is_plus(CXTranslationUnit tu, CXCursor binop, CXCursor lhs) {
    CXToken *toks;
    unsigned ntok;
    clang_tokenize(tu, clang_getCursorExtent(binop), &toks, &ntok);
    unsigned lhs_end;
    clang_getSpellingLocation(clang_getRangeEnd(clang_getCursorExtent(lhs)), NULL, NULL, NULL, &lhs_end);
    bool plus = false;
    for (unsigned i = 0; i < ntok; i++) {
        unsigned off;
        clang_getSpellingLocation(clang_getTokenLocation(tu, toks[i]), NULL, NULL, NULL, &off);
        if (off >= lhs_end) { /* the first token after the left operand is the operator */
            CXString s = clang_getTokenSpelling(tu, toks[i]);
            plus = !strcmp(clang_getCString(s), "+");
            clang_disposeString(s);
            break;
        }
    }
    clang_disposeTokens(tu, toks, ntok);
    return plus;
}

static bool buffer_of(Checker *ck, CXCursor arg, Buffer *b) {
    CXCursor e = strip(arg);
    if (kind(e) != CXCursor_DeclRefExpr)
        return false;
    CXCursor v = clang_getCanonicalCursor(clang_getCursorReferenced(e));
    if (kind(v) != CXCursor_VarDecl && kind(v) != CXCursor_ParmDecl)
        return false;
    b->var = b->root = v;
    b->name = b->root_name = str(clang_getCursorSpelling(v));
    b->off = 0;
    /* follow pointer variables initialized from another one: q = p, or p = (T *)(mem + 1024) */
    for (int depth = 0; depth < 32 && kind(b->root) == CXCursor_VarDecl; depth++) {
        if (clang_getCanonicalType(clang_getCursorType(b->root)).kind != CXType_Pointer)
            break;
        CXCursor init = last_child(b->root);
        if (clang_Cursor_isNull(init) || !clang_isExpression(kind(init)))
            break;
        init = strip(init);
        CXCursor base = init;
        long long add = 0;
        if (kind(init) == CXCursor_BinaryOperator) {
            CXCursor lhs = first_child(init), rhs = last_child(init);
            base = strip(lhs);
            if (!is_plus(ck->tu, init, lhs))
                break;
            CXEvalResult ev = clang_Cursor_Evaluate(rhs);
            if (!ev)
                break;
            bool is_int = clang_EvalResult_getKind(ev) == CXEval_Int;
            long long k = is_int ? clang_EvalResult_getAsLongLong(ev) : 0;
            clang_EvalResult_dispose(ev);
            /* pointer + k advances k elements of the sum's pointee type; an integer sum is not followed */
            CXType st = clang_getCanonicalType(clang_getCursorType(init));
            long long size = st.kind == CXType_Pointer ? clang_Type_getSizeOf(clang_getPointeeType(st)) : -1;
            if (!is_int || size <= 0)
                break;
            add = k * size;
        }
        if (kind(base) != CXCursor_DeclRefExpr)
            break;
        CXCursor to = clang_getCanonicalCursor(clang_getCursorReferenced(base));
        if (kind(to) != CXCursor_VarDecl && kind(to) != CXCursor_ParmDecl)
            break;
        b->root = to;
        b->root_name = str(clang_getCursorSpelling(to));
        b->off += add;
    }
    return true;
}

/* The bytes a kernel parameter declares it reads or writes: n * sizeof(T) for T x[static n];
 * -1 when it does not say. */
static long long extent_of(CXCursor parm) {
    CXType t = clang_getCursorType(parm);
    if (t.kind != CXType_ConstantArray || !strstr(str(clang_getTypeSpelling(t)), "static"))
        return -1;
    long long n = clang_getArraySize(t), size = clang_Type_getSizeOf(clang_getArrayElementType(t));
    return n >= 0 && size > 0 ? n * size : -1;
}

static const char *range_str(long long off, long long len) {
    return len >= 0 ? ir_fmt("[%lld, %lld)", off, off + len) : ir_fmt("[%lld, ?)", off);
}

/* At a call of kernel k from node n: no pointer passed twice, no two arguments overlapping. */
static void check_call(Checker *ck, int n, const Ref *r) {
    const Def *k = &ck->nodes[r->target];
    int nparam = clang_Cursor_getNumArguments(k->def), narg = clang_Cursor_getNumArguments(r->expr);
    if (nparam < 0 || narg < nparam)
        return;
    Buffer *bufs = ir_alloc(sizeof(Buffer) * (size_t)(nparam + 1));
    bool *known = ir_alloc(sizeof(bool) * (size_t)(nparam + 1));
    long long *len = ir_alloc(sizeof(long long) * (size_t)(nparam + 1));
    for (int i = 0; i < nparam; i++) {
        CXCursor parm = clang_Cursor_getArgument(k->def, (unsigned)i);
        bool restricted;
        known[i] = pointer_param(parm, &restricted) &&
                   buffer_of(ck, clang_Cursor_getArgument(r->expr, (unsigned)i), &bufs[i]);
        len[i] = extent_of(parm);
    }
    for (int j = 1; j < nparam; j++)
        for (int i = 0; i < j; i++) {
            if (!known[i] || !known[j])
                continue;
            Loc at = loc_of(clang_Cursor_getArgument(r->expr, (unsigned)j));
            const Buffer *a = &bufs[i], *b = &bufs[j];
            if (clang_equalCursors(a->var, b->var)) {
                violation(ck, at, n,
                          ir_fmt("'%s' is passed twice to '%s' (arguments %d and %d) %s (restrict parameters "
                                 "must not alias: an in-place kernel takes a shared buffer once, as one parameter)",
                                 a->name, k->name, i + 1, j + 1, where(ck, n)));
                break; /* one report per argument */
            }
            if (!clang_equalCursors(a->root, b->root))
                continue;
            bool overlap = a->off == b->off || (len[i] >= 0 && a->off < b->off && b->off < a->off + len[i]) ||
                           (len[j] >= 0 && b->off < a->off && a->off < b->off + len[j]);
            if (overlap) {
                const char *how = a->off == b->off ? ir_fmt("both point at byte %lld of '%s'", a->off, a->root_name)
                                                   : ir_fmt("bytes %s and %s of '%s'", range_str(a->off, len[i]),
                                                            range_str(b->off, len[j]), a->root_name);
                violation(ck, at, n,
                          ir_fmt("'%s' and '%s' overlap as arguments %d and %d of '%s' %s: %s (restrict "
                                 "parameters must not alias)", a->name, b->name, i + 1, j + 1, k->name, where(ck, n),
                                 how));
                break;
            }
        }
}

/* Depth-first search for cycles; stack holds the path from the entry point to n. */
static void find_cycles(Checker *ck, int n, int *stack, int depth) {
    Def *x = &ck->nodes[n];
    x->mark = 1;
    stack[depth] = n;
    for (int i = 0; i < x->nref; i++) {
        int t = x->refs[i].target;
        if (t < 0)
            continue;
        if (ck->nodes[t].mark == 0) {
            find_cycles(ck, t, stack, depth + 1);
            continue;
        }
        if (ck->nodes[t].mark != 1)
            continue;
        /* a back edge: the cycle is stack[from..depth], then t again */
        int from = depth;
        while (stack[from] != t)
            from--;
        bool any_func = false;
        const char *path = "";
        for (int s = from; s <= depth; s++) {
            any_func |= ck->nodes[stack[s]].is_func;
            path = ir_fmt("%s'%s' -> ", path, ck->nodes[stack[s]].name);
        }
        if (!any_func) /* tables pointing at each other: data, not recursion */
            continue;
        path = ir_fmt("%s'%s'", path, ck->nodes[t].name);
        const Ref *r = &x->refs[i];
        const char *what = r->call ? ir_fmt("recursive call to '%s'", r->name)
                                   : ir_fmt("address of '%s' taken, closing a cycle,", r->name);
        violation(ck, r->loc, n,
                  t == n ? ir_fmt("%s %s (generated code must not recurse)", what, where(ck, n))
                         : ir_fmt("%s %s: %s (generated code must not recurse)", what, where(ck, n), path));
    }
    x->mark = 2;
}

static void check_tu(Checker *ck) {
    clang_visitChildren(clang_getTranslationUnitCursor(ck->tu), collect_defs, ck);
    for (int i = 0; i < ck->nnode; i++) {
        Walk w = {.ck = ck, .node = &ck->nodes[i], .callee = clang_getNullCursor(), .call = clang_getNullCursor()};
        clang_visitChildren(ck->nodes[i].def, collect_refs, &w);
    }
    /* reachability, breadth first from every entry point at once */
    int *queue = ir_alloc(sizeof(int) * (size_t)(ck->nnode + 1));
    int head = 0, tail = 0;
    for (int i = 0; i < ck->nnode; i++)
        if (ck->nodes[i].entry) {
            ck->nodes[i].root = i;
            queue[tail++] = i;
        }
    while (head < tail) {
        int n = queue[head++];
        for (int i = 0; i < ck->nodes[n].nref; i++) {
            int t = ck->nodes[n].refs[i].target;
            if (t >= 0 && ck->nodes[t].root < 0) {
                ck->nodes[t].root = ck->nodes[n].root;
                ck->nodes[t].parent = n;
                ck->nodes[t].parent_ref = i;
                queue[tail++] = t;
            }
        }
    }
    /* tail == the number reached; queue[0..tail) lists them, nearest first */
    for (int q = 0; q < tail; q++) {
        int n = queue[q];
        const Def *x = &ck->nodes[n];
        check_external(ck, n);
        for (int i = 0; i < x->nvla; i++)
            violation(ck, x->vlas[i].loc, n,
                      ir_fmt("%s %s (shapes in generated code are constants; a VLA is a stack allocation of "
                             "run-time size)", x->vlas[i].what, where(ck, n)));
        for (int i = 0; i < x->nforeign; i++)
            if (x->entry || !x->foreign[i].param)
                violation(ck, x->foreign[i].loc, n,
                          ir_fmt("%s %s (its target comes from outside the file and cannot be checked)",
                                 x->foreign[i].what, where(ck, n)));
        if (x->is_func && !x->entry)
            check_kernel(ck, n);
        for (int i = 0; i < x->nref; i++) {
            const Ref *r = &x->refs[i];
            if (r->call && r->target >= 0 && !ck->nodes[r->target].entry && ck->nodes[r->target].is_func)
                check_call(ck, n, r);
        }
    }
    int *stack = ir_alloc(sizeof(int) * (size_t)(ck->nnode + 1));
    for (int q = 0; q < tail; q++)
        if (ck->nodes[queue[q]].entry && ck->nodes[queue[q]].mark == 0)
            find_cycles(ck, queue[q], stack, 0);
}

/* Clang's own diagnostics, warnings and errors, as clang prints them; returns how many. */
static int report_diagnostics(CXTranslationUnit tu, const char *path, FILE *report) {
    int count = 0;
    for (unsigned i = 0, n = clang_getNumDiagnostics(tu); i < n; i++) {
        CXDiagnostic d = clang_getDiagnostic(tu, i);
        enum CXDiagnosticSeverity sev = clang_getDiagnosticSeverity(d);
        if (sev >= CXDiagnostic_Warning) {
            CXFile f;
            unsigned line, col;
            clang_getExpansionLocation(clang_getDiagnosticLocation(d), &f, &line, &col, NULL);
            const char *opt = str(clang_getDiagnosticOption(d, NULL));
            const char *at = f ? ir_fmt("%s:%u:%u", str(clang_getFileName(f)), line, col) : path;
            fprintf(report, "%s: %s: %s%s%s%s\n", at, sev >= CXDiagnostic_Error ? "error" : "warning",
                    str(clang_getDiagnosticSpelling(d)), *opt ? " [" : "", opt, *opt ? "]" : "");
            CXDiagnosticSet notes = clang_getChildDiagnostics(d);
            for (unsigned j = 0, m = clang_getNumDiagnosticsInSet(notes); j < m; j++) {
                CXDiagnostic nd = clang_getDiagnosticInSet(notes, j);
                clang_getExpansionLocation(clang_getDiagnosticLocation(nd), &f, &line, &col, NULL);
                at = f ? ir_fmt("%s:%u:%u", str(clang_getFileName(f)), line, col) : path;
                fprintf(report, "%s: note: %s\n", at, str(clang_getDiagnosticSpelling(nd)));
                clang_disposeDiagnostic(nd);
            }
            count++;
        }
        clang_disposeDiagnostic(d);
    }
    return count;
}

/* One parse of path. The flags are those tgc build compiles with, the warnings those the tests
 * ask for, and tgrt.h's folder: the source tree's while it is there (this tgc is a build tree's),
 * then the installed one. openmp: -fopenmp, or "walk", a parse for walking the AST: libclang
 * (14 at least) shows an OpenMP directive's captured statement without its body, so a call
 * inside `#pragma omp parallel for` would be invisible; this parse leaves the pragmas to be
 * ignored but defines _OPENMP, so that it still sees the code an OpenMP build compiles. */
static CXTranslationUnit parse(CXIndex index, const char *path, const char *openmp, FILE *report) {
    const char *args[16];
    int nargs = 0;
    args[nargs++] = "-xc";
    args[nargs++] = "-std=c99";
    args[nargs++] = "-Wall";
    args[nargs++] = "-Wextra";
    args[nargs++] = "-Wpedantic";
    if (openmp)
        args[nargs++] = !strcmp(openmp, "walk") ? "-D_OPENMP=201811" : "-fopenmp";
    if (access(TGC_BUILD_INCDIR "/tgrt.h", R_OK) == 0)
        args[nargs++] = "-I" TGC_BUILD_INCDIR;
    args[nargs++] = "-I" TGC_INSTALL_INCDIR;
    CXTranslationUnit tu = NULL;
    enum CXErrorCode err = clang_parseTranslationUnit2(index, path, args, nargs, NULL, 0, CXTranslationUnit_None, &tu);
    if (err != CXError_Success || !tu) {
        fprintf(report, "%s: error: libclang could not parse the file (error %d)\n", path, (int)err);
        return NULL;
    }
    return tu;
}

/* A --target cuda program: its step starts the GPU on the first call and launches kernels through
 * libtgrt_cuda, which is not what check proves. */
static bool cuda_program(const char *path) {
    FILE *f = fopen(path, "r");
    char line[512];
    bool yes = false;
    for (int i = 0; f && i < 64 && fgets(line, sizeof line, f) && !yes; i++)
        yes = strstr(line, "#include <tgrt_cuda.h>") != NULL;
    if (f)
        fclose(f);
    return yes;
}

/* What clang would read besides regular files: the file itself, or an #include of a device (an
 * `#include "/dev/zero"` reads forever) or a pipe. Reports each; 0 when there is none. Only
 * the file's own #include lines are seen: generated C includes its header and system headers. */
static int special_inputs(const char *path, FILE *report) {
    struct stat st;
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
        fprintf(report, "tgc: error: '%s' is not a regular file\n", path);
        return 1;
    }
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    const char *slash = strrchr(path, '/');
    int dir = slash ? (int)(slash - path) + 1 : 0, bad = 0;
    char line[4096];
    for (int no = 1; fgets(line, sizeof line, f); no++) {
        const char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p++ != '#')
            continue;
        while (*p == ' ' || *p == '\t')
            p++;
        if (strncmp(p, "include", 7))
            continue;
        p += 7;
        while (*p == ' ' || *p == '\t')
            p++;
        char close = *p == '"' ? '"' : *p == '<' ? '>' : 0;
        const char *end = close ? strchr(p + 1, close) : NULL;
        if (!end)
            continue;
        char inc[4096];
        int n = (int)(end - p - 1);
        if (p[1] == '/')
            snprintf(inc, sizeof inc, "%.*s", n, p + 1);
        else if (close == '"')
            snprintf(inc, sizeof inc, "%.*s%.*s", dir, path, n, p + 1);
        else
            continue; /* <system.h>: the compiler's own folders */
        if (stat(inc, &st) == 0 && !S_ISREG(st.st_mode)) {
            fprintf(report, "%s:%d: error: #include of %.*s, which is not a regular file (not read)\n", path, no,
                    n, p + 1);
            bad++;
        }
    }
    fclose(f);
    return bad;
}

int validate_c(const char *path, FILE *report) {
    if (access(path, R_OK)) {
        fprintf(report, "tgc: error: cannot open '%s': %s\n", path, strerror(errno));
        return 1;
    }
    int special = special_inputs(path, report);
    if (special)
        return special;
    if (cuda_program(path)) {
        fprintf(report, "%s: error: a --target cuda program: tgc check proves the C backend's promises, and this "
                        "step launches CUDA kernels through libtgrt_cuda instead (compile without --target to check "
                        "the same network's C)\n", path);
        return 1;
    }
    CXIndex index = clang_createIndex(0, 0);
    int problems = 1;
    CXTranslationUnit tu = parse(index, path, TGC_HAVE_OPENMP ? "-fopenmp" : NULL, report);
    if (tu) {
        problems = report_diagnostics(tu, path, report);
        if (TGC_HAVE_OPENMP) { /* a second parse for the walk: see parse() */
            clang_disposeTranslationUnit(tu);
            tu = parse(index, path, "walk", report);
        }
    }
    if (tu) {
        Checker ck = {.tu = tu};
        check_tu(&ck);
        if (ck.nprob) /* qsort wants an array even for none */
            qsort(ck.probs, (size_t)ck.nprob, sizeof *ck.probs, cmp_problem);
        for (int i = 0; i < ck.nprob; i++)
            fputs(ck.probs[i].text, report);
        problems += ck.nprob;
        clang_disposeTranslationUnit(tu);
    }
    clang_disposeIndex(index);
    return problems;
}

#else /* !TGC_HAVE_LIBCLANG */

int validate_c(const char *path, FILE *report) {
    (void)path;
    fprintf(report, "tgc: error: tgc was built without libclang, so it cannot check generated C "
                    "(install libclang-dev and reconfigure: meson setup --reconfigure build)\n");
    return -1;
}

#endif
