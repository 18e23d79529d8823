/*
 * read.c: the IR text form, read back (the inverse of print.c).
 *
 * Lets pass tests be written as "IR text in, IR text out" and lets users edit
 * and replay a graph. A hand-rolled scanner walks the text line by line; every
 * error is reported at its line and column in the IR text. Node ids in the
 * text must be dense and in order, since the graph is SSA in topological order.
 * Each node goes through ir_add(), so shapes are re-inferred and checked
 * against the written type.
 *
 * The reader stops at the first error (error_at), unlike the .tg parser: the
 * nodes after a bad one refer to it by id, so there is little to recover to.
 */
#include "ir.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *text, *p;   /* the whole text; the next byte to read */
    int file, line;         /* diag file id of the text; current line, 1-based */
    const char *line_start; /* first byte of the current line, for columns */
    const char *names[64];  /* files named by "@file" locations so far, and their diag ids (file_id) */
    int ids[64], nnames;
} Reader;

static SrcLoc here(Reader *r) {
    return (SrcLoc){r->file, r->line, (int)(r->p - r->line_start) + 1};
}

/* Newlines are not space: a node is one line, and only ir_read() steps to the next. */
static void skip_space(Reader *r) {
    while (*r->p == ' ' || *r->p == '\t' || *r->p == '\r')
        r->p++;
}

static bool accept(Reader *r, const char *s) {
    skip_space(r);
    size_t n = strlen(s);
    if (strncmp(r->p, s, n))
        return false;
    r->p += n;
    return true;
}

static void expect(Reader *r, const char *s) {
    if (!accept(r, s))
        error_at(here(r), "expected '%s'", s);
}

static char *read_ident(Reader *r) {
    skip_space(r);
    const char *s = r->p;
    while (isalnum((unsigned char)*r->p) || *r->p == '_' || *r->p == '.')
        r->p++;
    if (s == r->p)
        error_at(here(r), "expected a name");
    return ir_strndup(s, (size_t)(r->p - s));
}

static int64_t read_int(Reader *r) {
    skip_space(r);
    char *end;
    long long v = strtoll(r->p, &end, 10);
    if (end == r->p)
        error_at(here(r), "expected an integer");
    r->p = end;
    return v;
}

/* The escapes ir_print_string() writes: \n \t \" \\, and \xHH for any other byte that is not
 * printable ASCII. */
static char *read_string(Reader *r) {
    skip_space(r);
    if (*r->p != '"')
        error_at(here(r), "expected a string");
    r->p++;
    size_t cap = 64, n = 0;
    /* malloc, not the arena, to grow it; freed before every error_at, which may longjmp (tests) */
    char *buf = malloc(cap);
    while (*r->p != '"') {
        if (!*r->p || *r->p == '\n') {
            free(buf);
            error_at(here(r), "unterminated string");
        }
        char c = *r->p++;
        if (c == '\\') {
            char e = *r->p++;
            if (e == 'n')
                c = '\n';
            else if (e == 't')
                c = '\t';
            else if (e == 'x' && isxdigit((unsigned char)r->p[0]) && isxdigit((unsigned char)r->p[1])) {
                char hex[3] = {r->p[0], r->p[1], 0};
                c = (char)strtol(hex, NULL, 16);
                r->p += 2;
            } else if (e == '"' || e == '\\')
                c = e;
            else {
                free(buf);
                error_at(here(r), "bad escape in string");
            }
        }
        if (n + 1 >= cap)
            buf = realloc(buf, cap *= 2);
        buf[n++] = c;
    }
    r->p++;
    char *s = ir_strndup(buf, n);
    free(buf);
    return s;
}

/* A number: integer unless it has '.', 'e', or is inf/nan. The printer adds ".0" to a
 * float that would print like an integer, so the spelling alone tells the kinds apart. */
static bool read_number(Reader *r, int64_t *iv, double *fv) {
    skip_space(r);
    const char *s = r->p;
    const char *q = s;
    if (*q == '-' || *q == '+')
        q++;
    /* written bare by the printer; strtoll would stop at the first letter */
    if (!strncmp(q, "inf", 3) || !strncmp(q, "nan", 3)) {
        *fv = strtod(s, (char **)&r->p);
        return false;
    }
    while (isdigit((unsigned char)*q))
        q++;
    if (*q == '.' || *q == 'e' || *q == 'E') {
        char *end;
        *fv = strtod(s, &end);
        r->p = end;
        return false;
    }
    *iv = read_int(r);
    return true;
}

/*
 * key=VALUE, where VALUE is a string, a number, or a bracketed list. A list is
 * of floats if any item is; "f[]" marks an empty float list, since a bare "[]"
 * reads as integers.
 */
static Attr read_attr(Reader *r) {
    char *key = read_ident(r);
    expect(r, "=");
    skip_space(r);
    if (*r->p == '"')
        return attr_str(key, read_string(r));
    bool floats = false;
    if (accept(r, "f["))
        floats = true;
    else if (!accept(r, "[")) {
        int64_t iv;
        double fv;
        if (read_number(r, &iv, &fv))
            return attr_int(key, iv);
        return attr_float(key, fv);
    }
    /* Both arrays are filled, as the list's kind is known only at its end. */
    int n = 0, cap = 16;
    int64_t *iv = malloc(sizeof(int64_t) * (size_t)cap);
    double *fv = malloc(sizeof(double) * (size_t)cap);
    while (!accept(r, "]")) {
        if (n && !accept(r, ",")) {
            free(iv);
            free(fv);
            error_at(here(r), "expected ',' or ']'");
        }
        if (n == cap) {
            cap *= 2;
            iv = realloc(iv, sizeof(int64_t) * (size_t)cap);
            fv = realloc(fv, sizeof(double) * (size_t)cap);
        }
        if (read_number(r, &iv[n], &fv[n]))
            fv[n] = (double)iv[n];
        else
            floats = true;
        n++;
    }
    Attr a = floats ? attr_floats(key, fv, n) : attr_ints(key, iv, n);
    if (!floats)
        a.kind = A_INTS; /* written with brackets: a list, even of one */
    else if (n == 1)
        a.kind = A_FLOATS; /* attr_floats() makes one value a scalar; brackets said list */
    free(iv);
    free(fv);
    return a;
}

/*
 * The diag id for a file named in an "@file:line:col" location. Cached: one
 * registration per node would cycle diag's 64-slot table, which reuses slots
 * when full, and evict the IR text's own entry. For the same reason a cached id
 * counts only while its slot still holds the name. No text is known for the
 * file, so diagnostics at these locations show no source line. The cache lives
 * in the Reader, not in statics: its names are arena strings, and a process that
 * reads again after ir_free_all() (the tests, the fuzzer) would compare freed memory.
 */
static int file_id(Reader *r, const char *name) {
    for (int i = 0; i < r->nnames; i++)
        if (!strcmp(r->names[i], name) && !strcmp(diag_file_name(r->ids[i]), name))
            return r->ids[i];
    int id = diag_add_file(name, NULL);
    if (r->nnames < 64) {
        r->names[r->nnames] = name;
        r->ids[r->nnames++] = id;
    }
    return id;
}

/* %N = op(%a, %b) {key=value, ...} : dtype[dims] !flag "name" @"file.tg":line:col
 * Effect ops have no "%N =" and no type; attributes, flags, name and location are optional. */
static void read_node(Reader *r, Graph *g) {
    SrcLoc start = here(r);
    int id = -1;
    if (accept(r, "%")) {
        id = (int)read_int(r);
        /* an id is the node's index, which ir_add assigns in order (an effect node takes one
         * too, unwritten), so the written id can only be the next one */
        if (id != g->nnode)
            error_at(start, "node %%%d out of order: expected %%%d", id, g->nnode);
        expect(r, "=");
    }
    skip_space(r);
    SrcLoc oploc = here(r);
    char *opname = read_ident(r);
    int op = op_from_name(opname);
    if (op < 0)
        error_at(oploc, "unknown op '%s'", opname);
    if ((op_info[op].kind == K_EFFECT) != (id < 0))
        error_at(oploc, op_info[op].kind == K_EFFECT ? "'%s' has no result" : "'%s' needs a result '%%N ='",
                 opname);
    /* fixed bounds, checked before each store: hand-edited text must not overflow the stack */
    int in[256], nin = 0;
    expect(r, "(");
    while (!accept(r, ")")) {
        if (nin && !accept(r, ","))
            error_at(here(r), "expected ',' or ')'");
        SrcLoc l = here(r);
        expect(r, "%");
        int64_t v = read_int(r);
        /* SSA in topological order: an input must be an earlier node, which also rules out cycles */
        if (v < 0 || v >= g->nnode)
            error_at(l, "input %%%lld is not defined before this node", (long long)v);
        if (nin == 256)
            error_at(l, "too many inputs");
        in[nin++] = (int)v;
    }
    Attr attrs[32];
    int nattr = 0;
    if (accept(r, "{")) {
        while (!accept(r, "}")) {
            if (nattr && !accept(r, ","))
                error_at(here(r), "expected ',' or '}'");
            if (nattr == 32)
                error_at(here(r), "too many attributes");
            attrs[nattr++] = read_attr(r);
        }
    }
    DType dt = DT_F32;
    Shape shape = {0};
    if (id >= 0) {
        expect(r, ":");
        SrcLoc tl = here(r);
        skip_space(r);
        const char *s = r->p;
        while (isalnum((unsigned char)*r->p))
            r->p++;
        char *dname = ir_strndup(s, (size_t)(r->p - s));
        int d = dtype_from_name(dname);
        if (d < 0)
            error_at(tl, "unknown dtype '%s'", dname);
        dt = (DType)d;
        expect(r, "[");
        while (!accept(r, "]")) {
            if (shape.rank && !accept(r, ","))
                error_at(here(r), "expected ',' or ']'");
            if (shape.rank == MAX_RANK)
                error_at(here(r), "more than %d dimensions", MAX_RANK);
            shape.d[shape.rank++] = read_int(r);
        }
    }
    unsigned flags = 0;
    int group = 0;
    while (accept(r, "!")) {
        char *f = read_ident(r);
        if (!strcmp(f, "param")) flags |= NF_PARAM;
        else if (!strcmp(f, "trainable")) flags |= NF_TRAINABLE;
        else if (!strcmp(f, "input")) flags |= NF_INPUT;
        else if (!strcmp(f, "output")) flags |= NF_OUTPUT;
        else if (!strcmp(f, "backward")) flags |= NF_BACKWARD;
        else if (!strcmp(f, "update")) flags |= NF_UPDATE;
        else if (!strcmp(f, "grad")) flags |= NF_GRAD;
        else if (!strcmp(f, "nograd")) flags |= NF_NOGRAD;
        else if (!strcmp(f, "group") && accept(r, "=")) {
            int64_t v = read_int(r);
            if (v <= 0 || v > INT32_MAX)
                error_at(here(r), "a fusion group is a positive number");
            group = (int)v;
        }
        else error_at(here(r), "unknown flag '!%s'", f);
    }
    const char *name = NULL;
    skip_space(r);
    if (*r->p == '"')
        name = read_string(r);
    SrcLoc loc = NOLOC;
    if (accept(r, "@")) {
        loc.file = file_id(r, read_string(r));
        expect(r, ":");
        loc.line = (int)read_int(r);
        expect(r, ":");
        loc.col = (int)read_int(r);
    }
    Op o = (Op)op;
    /* Sources and casts take the written type; every other op re-infers it. Going
     * through ir_add() rather than trusting the text means an edited or corrupt
     * graph is rejected here, with the shape rule's own message, and never
     * reaches a pass that assumes well-typed input. Errors point at the IR text
     * (oploc); the written .tg location replaces it only once the node is in. */
    int nid = ir_add(g, o, in, nin, dt, shape, attrs, nattr, oploc);
    if (nid < 0)
        error_at(oploc, "node does not type-check");
    Node *n = &g->nodes[nid];
    if (id >= 0 && (n->dtype != dt || !shape_eq(n->shape, shape)))
        error_at(oploc, "written type %s differs from the inferred %s", type_str(dt, shape),
                 type_str(n->dtype, n->shape));
    n->flags = flags;
    n->name = name;
    n->loc = loc;
    n->group = group;
}

Graph *ir_read(const char *filename, const char *text) {
    Reader r = {.text = text, .p = text, .line = 1, .line_start = text};
    r.file = diag_add_file(filename, text); /* so errors show the offending IR line with a caret */
    /* skip blank lines and '#' comments */
    Graph *g = NULL;
    for (;;) {
        skip_space(&r);
        if (*r.p == '#')
            while (*r.p && *r.p != '\n')
                r.p++;
        if (*r.p == '\n') {
            r.p++;
            r.line++;
            r.line_start = r.p;
            continue;
        }
        if (!*r.p) {
            if (!g)
                error_at(here(&r), "expected 'graph NAME {'");
            error_at(here(&r), "missing '}' at end of graph");
        }
        if (!g) {
            expect(&r, "graph");
            g = ir_new_graph(read_ident(&r));
            expect(&r, "{");
            continue;
        }
        if (accept(&r, "}"))
            break;
        read_node(&r, g);
        skip_space(&r);
        if (*r.p && *r.p != '\n' && *r.p != '#')
            error_at(here(&r), "unexpected text after node");
    }
    return g;
}
