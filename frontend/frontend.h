/*
 * frontend.h: .tg text -> tokens -> AST -> Graph.
 *
 * The lexer and the recursive-descent parser turn a file into declarations
 * (model, program, train); the elaborator (lower_ast in lower.c, its rooms
 * declared in lower.h: values, graph, tensors, modules, autograd, optim,
 * builtins, expr, stmt, train, ...) turns them into IR graphs: it runs the
 * compile-time part of the language (Python-like scalars, lists, module
 * construction, shapes, names) and emits a node for every tensor operation;
 * a backward() becomes grad nodes that pass_autodiff expands.
 * The grammar is written down in docs/language.md.
 */
#ifndef TGC_FRONTEND_H
#define TGC_FRONTEND_H

#include "ir/ir.h"

/* ---- tokens ---- */

typedef enum {
    TK_EOF,     /* end of input */
    TK_NEWLINE, /* end of a statement (outside brackets) */
    TK_IDENT,   /* name or keyword */
    TK_INT,     /* integer literal */
    TK_FLOAT,   /* floating-point literal */
    TK_STR,     /* "string" or 'string' */
    TK_FSTR,    /* f"text {expr} text" (raw body, parsed by the parser) */
    TK_PUNCT,   /* operator or punctuation */
} TokenKind;

typedef struct {
    TokenKind kind;
    const char *text; /* spelling (punctuation, names) or decoded string */
    int len;          /* length of the spelling in the source */
    int64_t ival;     /* TK_INT */
    double fval;      /* TK_FLOAT */
    SrcLoc loc;
    SrcLoc body;      /* TK_FSTR: location of the first body character */
} Token;

/* Tokenizes a whole file; reports lexical errors through diag and goes on. */
Token *lex(int file, const char *text, int *ntok);
/* Tokenizes a fragment (an f-string hole) starting at loc; no newline tokens. */
Token *lex_fragment(const char *text, int len, SrcLoc loc, int *ntok);

/* ---- AST ---- */

typedef struct Expr Expr;
typedef struct Stmt Stmt;

typedef enum {
    E_INT,      /* ival */
    E_FLOAT,    /* fval */
    E_STR,      /* str */
    E_FSTR,     /* parts: literal strings (E_STR) and holes (E_FHOLE) */
    E_FHOLE,    /* lhs = expression, str = format spec or NULL */
    E_BOOL,     /* ival 0/1 */
    E_NONE,     /* None */
    E_NAME,     /* str */
    E_LIST,     /* [items] */
    E_TUPLE,    /* (items,) */
    E_UNARY,    /* op lhs: "-", "+", "not" */
    E_BINARY,   /* lhs op rhs */
    E_CALL,     /* lhs(args), args may have names */
    E_INDEX,    /* lhs[items] */
    E_SLICE,    /* start:stop:step inside an index (items[0..2], any may be NULL) */
    E_ELLIPSIS, /* ... */
    E_ATTR,     /* lhs.str */
    E_COND,     /* lhs if items[0] else rhs */
    E_COMP,     /* str "list", "gen" or "dict": [lhs for items[0] in items[1] if items[2]], {lhs: rhs for ...} */
    E_DICT,     /* {items[0]: items[1], items[2]: items[3], ...} */
} ExprKind;

struct Expr {
    ExprKind kind;
    SrcLoc loc;
    const char *op;     /* E_UNARY, E_BINARY */
    const char *str;    /* E_STR, E_NAME, E_ATTR, E_FHOLE spec */
    int64_t ival;
    double fval;
    Expr *lhs, *rhs;
    Expr **items;       /* list/tuple items, index items, call args, f-string parts */
    const char **names; /* call argument keywords (NULL for positional) */
    int nitems;
};

typedef enum {
    S_EXPR,   /* expression statement */
    S_ASSIGN, /* targets op value: "=", "+=", "-=", "*=", "/=" */
    S_RETURN, /* return value */
    S_IF,     /* if value { body } else { orelse }: at compile time, or at run time on a run-time value */
    S_FOR,    /* for target in value { body } */
    S_WHILE,  /* while value { body } */
    S_BREAK,
    S_CONTINUE,
    S_WITH,   /* with value { body }: torch.no_grad() */
} StmtKind;

struct Stmt {
    StmtKind kind;
    SrcLoc loc;
    const char *op;
    Expr *target; /* S_ASSIGN: a name, attribute, index, or tuple of names; S_FOR: the loop's names */
    Expr *value;  /* S_IF, S_WHILE: the condition; S_FOR: what it iterates over; S_WITH: the context */
    Stmt **body, **orelse; /* S_IF: the branches ("else if" is an if alone in orelse); loops: body */
    int nbody, norelse;
};

typedef struct {
    const char *name;
    SrcLoc loc;
    Expr *type;    /* f32[B, 3, 32, 32], int, ... or NULL */
    Expr *dflt;    /* default value or NULL */
} Param;

typedef enum { D_MODEL, D_PROGRAM, D_TRAIN, D_DEF, D_IMPORT } DeclKind;

static inline const char *decl_kind_name(DeclKind k) {
    return k == D_MODEL ? "model" : k == D_PROGRAM ? "program" : k == D_TRAIN ? "train block" : k == D_DEF ? "def"
                                                                                                : "import";
}

typedef struct {
    DeclKind kind;
    const char *name; /* model/program name; for train, the model trained */
    const char *bind; /* an imported model's or def's 'as' name, or NULL: name */
    SrcLoc loc;
    Param *params;    /* model and def parameters; import: the names (dflt: an E_NAME alias, or NULL) */
    int nparams;
    Stmt **body;
    int nbody;
    bool exported;    /* def: `export def`, also a C function of the generated file (exports.c) */
    bool used;        /* model: instantiated by a program or checked through a train block; def: called;
                         import: '*' (every model and def) */
} Decl;

typedef struct {
    const char *path;
    int file;
    Decl **decls;
    int ndecls;
} Ast;

/* Parses a file's text; reports syntax errors (several, with recovery) through diag. */
Ast *parse_file(const char *path, const char *text);

/* Reads a source file for an import: its text, or NULL with *why set ("No such file ..."). */
typedef char *(*SourceReader)(const char *path, const char **why);
/* `from resnet import ResNet18`: parses each imported file (resnet.tg in the folder of the file
 * compiled, models/resnet.tg for models.resnet) once, and appends the models and defs named to ast's
 * declarations; errors (a missing file or name, a cycle) are reported at the import. */
void resolve_imports(Ast *ast, SourceReader read);

/* ---- lowering ---- */

typedef struct {
    Graph *graph;       /* the program as one graph (straight-line code), or NULL: staged */
    const char *name;   /* program name */
    Graph **segs;       /* staged (loops, run-time ifs): the segments, run by host */
    int nsegs;
    HostBlock host;
    HostData data;      /* staged: the datasets and loader iterators its host code uses */
} LoweredProgram;

typedef struct {
    LoweredProgram *programs;
    int nprograms;
    int ntrain;         /* train blocks checked */
    Graph *train;       /* the training step of the file's train block, or NULL */
    Graph **exports;    /* each `export def` of the file, as one graph (inputs: its tensor parameters) */
    int nexports;
    HostOption *options; /* the program options (options(...)), read from main's command line */
    int noptions;
    bool has_options;    /* options(...) was called (perhaps with none: main still takes --help) */
} Lowered;

/* Elaborates every declaration; reports errors through diag (several where cheap). */
Lowered *lower_ast(Ast *ast);
/* What lower_ast's programs are compiled for: a GPU (--target cuda) has torch.cuda.is_available()
 * True and takes .to("cuda:0"); the default is the CPU. */
void lower_target_gpu(bool gpu);
void lower_whole_batch(bool whole); /* a train block's step takes its batch whole (the CUDA kernels' step) */

#endif
