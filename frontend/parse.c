/*
 * parse.c: tokens -> AST, by recursive descent.
 *
 * Each function is named after the grammar rule it parses; its first comment
 * line is the rule (the full grammar is in docs/language.md). A syntax error
 * is reported, the parser skips to the end of the statement and goes on, so a
 * file with several mistakes shows them all in one run.
 */
#include "frontend.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    Token *tok;      /* ends with TK_EOF: one token of lookahead past a non-EOF token is safe */
    int pos, ntok;   /* next token; token count, the EOF included */
    jmp_buf recover; /* a syntax error jumps back to the statement loop */
    bool armed;      /* recover holds a live setjmp; if not, a syntax error stops the run */
    int depth;       /* expression nesting, bounded so deep input cannot exhaust the stack */
    int blocks;      /* statement nesting (blocks, and the ifs of an elif chain), bounded too */
    bool elif_ok;    /* the next statement may be an 'elif': it follows an if's block */
} Parser;

static Token *peek(Parser *ps) { return &ps->tok[ps->pos]; }

/* Is there a '//' in the statement that failed, up to the token where it failed? Code written
 * when '//' started a comment fails there: the note says what comments are now. */
static bool comment_slashes(Parser *ps) {
    for (int i = ps->pos < ps->ntok ? ps->pos : ps->ntok - 1; i >= 0; i--) {
        Token *t = &ps->tok[i];
        if (t->kind == TK_PUNCT && !strcmp(t->text, "//"))
            return true;
        if (i < ps->pos && (t->kind == TK_NEWLINE || (t->kind == TK_PUNCT && (!strcmp(t->text, "{") ||
                                                                                 !strcmp(t->text, "}") || !strcmp(t->text, ";")))))
            return false;
    }
    return false;
}

/*
 * Reports, then longjmps to the innermost recovery point. Unarmed, recover is
 * unset or names the frame of a function that has returned, so the error is fatal
 * instead. The cap keeps a file of garbage from flooding the terminal.
 */
static _Noreturn void syntax_error(Parser *ps, SrcLoc loc, const char *fmt, ...) {
    char buf[640];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, 512, fmt, ap);
    va_end(ap);
    if (comment_slashes(ps))
        strcat(buf, " (comments start with '#' in .tg; '//' is floor division, as in Python)");
    if (!ps->armed)
        error_at(loc, "%s", buf);
    diag_error(loc, "%s", buf);
    if (diag_nerrors > 20)
        error_at(loc, "too many errors; giving up");
    longjmp(ps->recover, 1);
}

static const char *describe(Token *t) {
    switch (t->kind) {
    case TK_EOF: return "end of file";
    case TK_NEWLINE: return "end of line";
    case TK_INT: case TK_FLOAT: return ir_fmt("number '%s'", t->text);
    case TK_STR: case TK_FSTR: return "string";
    default: return ir_fmt("'%s'", t->text);
    }
}

static bool is_punct(Token *t, const char *s) { return t->kind == TK_PUNCT && !strcmp(t->text, s); }
static bool is_ident(Token *t, const char *s) { return t->kind == TK_IDENT && !strcmp(t->text, s); }

/* The lexer has no keywords, so this matches identifiers too: accept(ps, "and") works like ",". */
static bool accept(Parser *ps, const char *s) {
    Token *t = peek(ps);
    if (is_punct(t, s) || is_ident(t, s)) {
        ps->pos++;
        return true;
    }
    return false;
}

static Token *expect(Parser *ps, const char *s) {
    Token *t = peek(ps);
    if (!accept(ps, s))
        syntax_error(ps, t->loc, "expected '%s', found %s", s, describe(t));
    return t;
}

/* Statement nesting tgc takes (blocks, and each if of an elif chain): deeper input would exhaust
 * the C stack of the parser and of the passes after it. Python's own limit is 100 blocks. */
enum { MAX_BLOCKS = 1000 };

/* Reserved words: rejected where a name is expected, so `model = 1` fails at the name itself. */
static bool is_keyword(const char *s) {
    static const char *kw[] = {"model", "program", "train", "return", "not", "and", "or", "if", "else", "elif",
                               "for", "in", "while", "break", "continue", "with",
                               "True", "False", "true", "false", "None"};
    for (size_t i = 0; i < sizeof kw / sizeof kw[0]; i++)
        if (!strcmp(kw[i], s))
            return true;
    return false;
}

static Token *expect_name(Parser *ps, const char *what) {
    Token *t = peek(ps);
    if (t->kind != TK_IDENT || is_keyword(t->text))
        syntax_error(ps, t->loc, "expected %s, found %s", what, describe(t));
    ps->pos++;
    return t;
}

static void skip_newlines(Parser *ps) {
    while (peek(ps)->kind == TK_NEWLINE)
        ps->pos++;
}

static Expr *new_expr(ExprKind kind, SrcLoc loc) {
    Expr *e = ir_alloc(sizeof(Expr));
    e->kind = kind;
    e->loc = loc;
    return e;
}

/* Growable list of expressions, kept in the arena: a syntax error's longjmp leaks nothing. */
typedef struct {
    Expr **items;       /* the expressions, in source order */
    const char **names; /* call keywords, parallel to items (NULL: positional) */
    int n, cap;         /* items used, slots allocated */
} ExprList;

static void list_push(ExprList *l, Expr *e, const char *name) {
    if (l->n == l->cap) {
        int cap = l->cap ? l->cap * 2 : 8;
        Expr **items = ir_alloc(sizeof(Expr *) * (size_t)cap);
        const char **names = ir_alloc(sizeof(char *) * (size_t)cap);
        if (l->n) {
            memcpy(items, l->items, sizeof(Expr *) * (size_t)l->n);
            memcpy(names, l->names, sizeof(char *) * (size_t)l->n);
        }
        l->items = items;
        l->names = names;
        l->cap = cap;
    }
    l->items[l->n] = e;
    l->names[l->n++] = name;
}

static Expr *expr(Parser *ps);
static Expr *unary(Parser *ps);

/* fstring -> 'f"' (text | '{' expr (':' spec)? '}')* '"'
 *
 * The lexer keeps the body raw (escapes undecoded), so an index i into it is
 * also the column offset from t->body: every error below points at its byte.
 */
static Expr *fstring(Parser *ps, Token *t) {
    Expr *e = new_expr(E_FSTR, t->loc);
    ExprList parts = {0};
    const char *s = t->text;
    int len = (int)t->ival;
    char *text = ir_alloc((size_t)len + 1); /* arena: a syntax error may longjmp out */
    int tn = 0;
    for (int i = 0; i < len;) {
        char c = s[i];
        if (c == '{' && i + 1 < len && s[i + 1] == '{') {
            text[tn++] = '{';
            i += 2;
        } else if (c == '}' && i + 1 < len && s[i + 1] == '}') {
            text[tn++] = '}';
            i += 2;
        } else if (c == '\\' && i + 1 < len) {
            char d = s[i + 1];
            const char *from = "ntr\\'\"", *to = "\n\t\r\\'\"";
            const char *k = strchr(from, d);
            if (!k || !d) {
                SrcLoc l = t->body;
                l.col += i;
                syntax_error(ps, l, d == '0' ? "NUL characters ('\\0') in strings are not supported"
                                             : "unknown escape sequence '\\%c'", d);
            }
            text[tn++] = to[k - from];
            i += 2;
        } else if (c == '}') {
            SrcLoc l = t->body;
            l.col += i;
            syntax_error(ps, l, "single '}' is not allowed in an f-string (write '}}')");
        } else if (c == '{') {
            if (tn) {
                Expr *lit = new_expr(E_STR, t->loc);
                lit->str = ir_strndup(text, (size_t)tn);
                list_push(&parts, lit, NULL);
                tn = 0;
            }
            /* brackets are counted so the ':' of a slice (x[1:2]) is not taken for the format spec */
            int start = i + 1, depth = 0, colon = -1, j = start;
            for (; j < len; j++) {
                if (s[j] == '(' || s[j] == '[')
                    depth++;
                else if (s[j] == ')' || s[j] == ']')
                    depth--;
                else if (s[j] == ':' && depth == 0 && colon < 0)
                    colon = j;
                else if (s[j] == '}' && depth <= 0)
                    break;
            }
            SrcLoc l = t->body;
            l.col += start;
            if (j >= len) {
                    syntax_error(ps, l, "expected '}' to close the f-string hole");
            }
            /* The hole is lexed again on its own, from its own location: errors inside it then
             * point at their column in the .tg line, not at the f-string's opening quote. */
            int elen = (colon >= 0 ? colon : j) - start;
            int ntok;
            Token *toks = lex_fragment(s + start, elen, l, &ntok);
            Parser sub = {.tok = toks, .ntok = ntok};
            if (ntok <= 1) {
                    syntax_error(ps, l, "empty expression in f-string");
            }
            /* errors inside the hole recover like errors in the enclosing statement */
            sub.armed = ps->armed;
            memcpy(sub.recover, ps->recover, sizeof(jmp_buf));
            Expr *hole = new_expr(E_FHOLE, l);
            hole->lhs = expr(&sub);
            if (peek(&sub)->kind != TK_EOF) {
                    syntax_error(ps, peek(&sub)->loc, "unexpected %s in f-string hole", describe(peek(&sub)));
            }
            if (colon >= 0)
                hole->str = ir_strndup(s + colon + 1, (size_t)(j - colon - 1));
            list_push(&parts, hole, NULL);
            i = j + 1;
        } else {
            text[tn++] = c;
            i++;
        }
    }
    if (tn) {
        Expr *lit = new_expr(E_STR, t->loc);
        lit->str = ir_strndup(text, (size_t)tn);
        list_push(&parts, lit, NULL);
    }
    e->items = parts.items;
    e->nitems = parts.n;
    return e;
}

/* items -> (expr (',' expr)* ','?)? up to the closing bracket */
static ExprList items(Parser *ps, const char *close) {
    ExprList l = {0};
    while (!accept(ps, close)) {
        if (l.n)
            expect(ps, ",");
        if (accept(ps, close))
            break;
        list_push(&l, expr(ps), NULL);
    }
    return l;
}

static Expr *target_list(Parser *ps);
static Expr *or_expr(Parser *ps);

/* comp_for -> 'for' targets 'in' or_expr ('if' or_expr)?   after the element of a comprehension */
static Expr *comprehension(Parser *ps, const char *kind, Expr *elt, Expr *value, SrcLoc loc) {
    Expr *e = new_expr(E_COMP, loc);
    e->str = kind;
    e->lhs = elt;
    e->rhs = value;
    e->items = ir_alloc(sizeof(Expr *) * 3);
    expect(ps, "for");
    e->items[0] = target_list(ps);
    if (!accept(ps, "in"))
        syntax_error(ps, peek(ps)->loc, "expected 'in' after the comprehension's names, found %s", describe(peek(ps)));
    e->items[1] = or_expr(ps);
    e->nitems = 2;
    if (accept(ps, "if"))
        e->items[e->nitems++] = or_expr(ps);
    if (is_ident(peek(ps), "for"))
        syntax_error(ps, peek(ps)->loc, "a comprehension with two 'for's is not supported yet");
    return e;
}

/* dict -> '{' (expr ':' expr (',' expr ':' expr)* ','? | expr ':' expr comp_for)? '}' */
static Expr *dict_display(Parser *ps, Token *t) {
    Expr *d = new_expr(E_DICT, t->loc);
    ExprList l = {0};
    while (!accept(ps, "}")) {
        if (l.n)
            expect(ps, ",");
        if (accept(ps, "}"))
            break;
        Expr *k = expr(ps);
        if (!accept(ps, ":")) {
            Token *bad = peek(ps);
            /* past the closing brace, so recovery does not take it for the block's */
            for (int depth = 0; peek(ps)->kind != TK_EOF && peek(ps)->kind != TK_NEWLINE; ps->pos++) {
                Token *u = peek(ps);
                if (is_punct(u, "(") || is_punct(u, "[") || is_punct(u, "{"))
                    depth++;
                else if ((is_punct(u, ")") || is_punct(u, "]") || is_punct(u, "}")) && depth-- == 0) {
                    ps->pos++;
                    break;
                }
            }
            syntax_error(ps, bad->loc, "expected ':' after a dictionary key (sets are not supported), found %s",
                         describe(bad));
        }
        Expr *v = expr(ps);
        if (!l.n && is_ident(peek(ps), "for")) {
            Expr *c = comprehension(ps, "dict", k, v, t->loc);
            expect(ps, "}");
            return c;
        }
        list_push(&l, k, NULL);
        list_push(&l, v, NULL);
    }
    d->items = l.items;
    d->nitems = l.n;
    return d;
}

/* primary -> INT | FLOAT | STR | FSTR | NAME | bool | None | '...' | '[' items ']' | '(' expr ')' | '(' items ')'
 *          | '[' expr comp_for ']' | '(' expr comp_for ')' | dict */
static Expr *primary(Parser *ps) {
    Token *t = peek(ps);
    ps->pos++;
    switch (t->kind) {
    case TK_INT: {
        Expr *e = new_expr(E_INT, t->loc);
        e->ival = t->ival;
        return e;
    }
    case TK_FLOAT: {
        Expr *e = new_expr(E_FLOAT, t->loc);
        e->fval = t->fval;
        return e;
    }
    case TK_STR: {
        Expr *e = new_expr(E_STR, t->loc);
        e->str = t->text;
        e->ival = t->ival;
        return e;
    }
    case TK_FSTR:
        return fstring(ps, t);
    case TK_IDENT:
        if (is_ident(t, "True") || is_ident(t, "true") || is_ident(t, "False") || is_ident(t, "false")) {
            Expr *e = new_expr(E_BOOL, t->loc);
            e->ival = t->text[0] == 'T' || t->text[0] == 't';
            return e;
        }
        if (is_ident(t, "None"))
            return new_expr(E_NONE, t->loc);
        if (is_keyword(t->text))
            syntax_error(ps, t->loc, "expected an expression, found keyword '%s'", t->text);
        {
            Expr *e = new_expr(E_NAME, t->loc);
            e->str = t->text;
            return e;
        }
    case TK_PUNCT:
        if (is_punct(t, "...")) {
            return new_expr(E_ELLIPSIS, t->loc);
        }
        if (is_punct(t, "{"))
            return dict_display(ps, t);
        if (is_punct(t, "[")) {
            Expr *e = new_expr(E_LIST, t->loc);
            if (!is_punct(peek(ps), "]")) {
                Expr *first = expr(ps);
                if (is_ident(peek(ps), "for")) {
                    Expr *c = comprehension(ps, "list", first, NULL, t->loc);
                    expect(ps, "]");
                    return c;
                }
                ExprList l = {0};
                list_push(&l, first, NULL);
                if (!accept(ps, "]")) {
                    expect(ps, ",");
                    ExprList rest = items(ps, "]");
                    for (int i = 0; i < rest.n; i++)
                        list_push(&l, rest.items[i], NULL);
                }
                e->items = l.items;
                e->nitems = l.n;
            } else
                ps->pos++;
            return e;
        }
        if (is_punct(t, "(")) {
            /* as in Python: parentheses group; a comma makes a tuple, as in (x,) */
            if (accept(ps, ")")) {
                Expr *e = new_expr(E_TUPLE, t->loc);
                return e;
            }
            Expr *first = expr(ps);
            if (is_ident(peek(ps), "for")) {
                Expr *c = comprehension(ps, "gen", first, NULL, t->loc);
                expect(ps, ")");
                return c;
            }
            if (accept(ps, ")"))
                return first;
            expect(ps, ",");
            ExprList l = {0};
            list_push(&l, first, NULL);
            ExprList rest = items(ps, ")");
            for (int i = 0; i < rest.n; i++)
                list_push(&l, rest.items[i], NULL);
            Expr *e = new_expr(E_TUPLE, t->loc);
            e->items = l.items;
            e->nitems = l.n;
            return e;
        }
        break;
    default:
        break;
    }
    /* Leave the offending token for error recovery: it may be the NEWLINE or '}' that ends the
     * statement, and consumed, recover() would run on into the next statement or the next block. */
    ps->pos--;
    syntax_error(ps, t->loc, "expected an expression, found %s", describe(t));
}

/* subscript -> expr | expr? ':' expr? (':' expr?)? | '...'
 * A bound left out is NULL, like Python's None: x[:n], x[::2]. */
static Expr *subscript(Parser *ps) {
    Token *t = peek(ps);
    Expr *start = NULL;
    if (!is_punct(t, ":"))
        start = expr(ps);
    if (!accept(ps, ":"))
        return start;
    Expr *e = new_expr(E_SLICE, t->loc);
    e->items = ir_alloc(sizeof(Expr *) * 3);
    e->nitems = 3;
    e->items[0] = start;
    Token *u = peek(ps);
    if (!is_punct(u, ":") && !is_punct(u, ",") && !is_punct(u, "]"))
        e->items[1] = expr(ps);
    if (accept(ps, ":")) {
        u = peek(ps);
        if (!is_punct(u, ",") && !is_punct(u, "]"))
            e->items[2] = expr(ps);
    }
    return e;
}

/* postfix -> primary ('(' args ')' | '[' subscript (',' subscript)* ']' | '.' NAME)* */
static Expr *postfix(Parser *ps) {
    Expr *e = primary(ps);
    for (;;) {
        Token *t = peek(ps);
        if (accept(ps, "(")) {
            /* args -> (NAME '=' expr | expr) (',' ...)* */
            Expr *call = new_expr(E_CALL, t->loc);
            call->lhs = e;
            ExprList l = {0};
            bool named_seen = false;
            while (!accept(ps, ")")) {
                if (l.n)
                    expect(ps, ",");
                if (accept(ps, ")"))
                    break;
                Token *a = peek(ps);
                const char *name = NULL;
                /* NAME '=' needs a second token of lookahead; it exists since NAME is not the EOF.
                 * '=' is never an operator inside an expression, so there is no ambiguity. */
                if (a->kind == TK_IDENT && is_punct(&ps->tok[ps->pos + 1], "=")) {
                    name = a->text;
                    ps->pos += 2;
                    named_seen = true;
                } else if (named_seen)
                    syntax_error(ps, a->loc, "positional argument after a keyword argument");
                Expr *arg = expr(ps);
                if (!name && is_ident(peek(ps), "for")) { /* f(x for x in y): a generator, the only argument */
                    if (l.n)
                        syntax_error(ps, peek(ps)->loc, "a generator expression must be the only argument, or "
                                                        "in parentheses");
                    arg = comprehension(ps, "gen", arg, NULL, a->loc);
                    if (!is_punct(peek(ps), ")"))
                        syntax_error(ps, peek(ps)->loc, "a generator expression must be the only argument, or "
                                                        "in parentheses");
                }
                list_push(&l, arg, name);
            }
            call->items = l.items;
            call->names = l.names;
            call->nitems = l.n;
            e = call;
        } else if (accept(ps, "[")) {
            Expr *ix = new_expr(E_INDEX, t->loc);
            ix->lhs = e;
            ExprList l = {0};
            while (!accept(ps, "]")) {
                if (l.n)
                    expect(ps, ",");
                if (accept(ps, "]"))
                    break;
                list_push(&l, subscript(ps), NULL);
            }
            if (!l.n)
                syntax_error(ps, t->loc, "empty index");
            ix->items = l.items;
            ix->nitems = l.n;
            e = ix;
        } else if (accept(ps, ".")) {
            /* after '.', .tg's own keywords are names: net.train(), as in PyTorch */
            Token *name = peek(ps);
            if (name->kind == TK_IDENT && (!is_keyword(name->text) || !strcmp(name->text, "train") ||
                                           !strcmp(name->text, "model")))
                ps->pos++;
            else
                name = expect_name(ps, "an attribute name");
            Expr *a = new_expr(E_ATTR, name->loc);
            a->lhs = e;
            a->str = name->text;
            e = a;
        } else
            return e;
    }
}

/* power -> postfix ('**' unary)?
 *
 * The right operand is a unary, as in Python: 2 ** -1 parses, 2 ** 3 ** 2 groups
 * to the right, and since unary sits above power, -2 ** 2 is -(2 ** 2).
 */
static Expr *power(Parser *ps) {
    Expr *e = postfix(ps);
    Token *t = peek(ps);
    if (accept(ps, "**")) {
        /* "2 ** 2 ** 2 ..." recurses through unary without passing through expr() */
        if (++ps->depth > 200)
            syntax_error(ps, t->loc, "expression nested too deeply (more than 200 levels)");
        Expr *b = new_expr(E_BINARY, t->loc);
        b->op = "**";
        b->lhs = e;
        b->rhs = unary(ps);
        ps->depth--;
        return b;
    }
    return e;
}

/* unary -> ('-' | '+') unary | power */
static Expr *unary(Parser *ps) {
    Token *t = peek(ps);
    if (is_punct(t, "-") || is_punct(t, "+")) {
        ps->pos++;
        /* "- - - x" recurses here without passing through expr(), so it counts depth itself */
        if (++ps->depth > 200)
            syntax_error(ps, t->loc, "expression nested too deeply (more than 200 levels)");
        Expr *e = new_expr(E_UNARY, t->loc);
        e->op = t->text;
        e->lhs = unary(ps);
        ps->depth--;
        return e;
    }
    return power(ps);
}

static Expr *binary(Parser *ps, Expr *lhs, Token *t, Expr *rhs) {
    (void)ps;
    Expr *e = new_expr(E_BINARY, t->loc);
    e->op = t->text;
    e->lhs = lhs;
    e->rhs = rhs;
    return e;
}

/* term -> unary (('*' | '/' | '//' | '@' | '%') unary)* */
static Expr *term(Parser *ps) {
    Expr *e = unary(ps);
    for (;;) {
        Token *t = peek(ps);
        if (is_punct(t, "*") || is_punct(t, "/") || is_punct(t, "//") || is_punct(t, "@") || is_punct(t, "%")) {
            ps->pos++;
            e = binary(ps, e, t, unary(ps));
        } else
            return e;
    }
}

/* arith -> term (('+' | '-') term)* */
static Expr *arith(Parser *ps) {
    Expr *e = term(ps);
    for (;;) {
        Token *t = peek(ps);
        if (is_punct(t, "+") || is_punct(t, "-")) {
            ps->pos++;
            e = binary(ps, e, t, term(ps));
        } else
            return e;
    }
}

/* comparison -> arith (('==' | '!=' | '<' | '<=' | '>' | '>=') arith)?
 *
 * Python reads a < b < c as (a < b) and (b < c); grouping it left to right would
 * silently mean something else, so a second comparison is an error.
 */
static Expr *comparison(Parser *ps) {
    Expr *e = arith(ps);
    Token *t = peek(ps);
    static const char *ops[] = {"==", "!=", "<", "<=", ">", ">="};
    for (size_t i = 0; i < 6; i++)
        if (is_punct(t, ops[i])) {
            ps->pos++;
            e = binary(ps, e, t, arith(ps));
            Token *u = peek(ps);
            for (size_t k = 0; k < 6; k++)
                if (is_punct(u, ops[k]))
                    syntax_error(ps, u->loc, "chained comparisons are not supported; use 'and'");
            return e;
        }
    return e;
}

/* not_expr -> 'not' not_expr | comparison */
static Expr *not_expr(Parser *ps) {
    Token *t = peek(ps);
    if (accept(ps, "not")) {
        /* bounded like unary(): 'not not not ...' recurses once per keyword */
        if (++ps->depth > 200)
            syntax_error(ps, t->loc, "expression nested too deeply (more than 200 levels)");
        Expr *e = new_expr(E_UNARY, t->loc);
        e->op = "not";
        e->lhs = not_expr(ps);
        ps->depth--;
        return e;
    }
    return comparison(ps);
}

/* and_expr -> not_expr ('and' not_expr)* */
static Expr *and_expr(Parser *ps) {
    Expr *e = not_expr(ps);
    for (Token *t = peek(ps); accept(ps, "and"); t = peek(ps))
        e = binary(ps, e, t, not_expr(ps));
    return e;
}

/* or_expr -> and_expr ('or' and_expr)* */
static Expr *or_expr(Parser *ps) {
    if (++ps->depth > 200)
        syntax_error(ps, peek(ps)->loc, "expression nested too deeply (more than 200 levels)");
    Expr *e = and_expr(ps);
    for (Token *t = peek(ps); accept(ps, "or"); t = peek(ps))
        e = binary(ps, e, t, and_expr(ps));
    ps->depth--;
    return e;
}

/* expr -> or_expr ('if' or_expr 'else' expr)? */
static Expr *expr(Parser *ps) {
    Expr *e = or_expr(ps);
    Token *t = peek(ps);
    if (!accept(ps, "if"))
        return e;
    if (++ps->depth > 200)
        syntax_error(ps, t->loc, "expression nested too deeply (more than 200 levels)");
    Expr *c = new_expr(E_COND, t->loc);
    c->lhs = e;
    c->items = ir_alloc(sizeof(Expr *));
    c->items[0] = or_expr(ps);
    c->nitems = 1;
    if (!accept(ps, "else"))
        syntax_error(ps, peek(ps)->loc, "expected 'else' in a conditional expression, found %s", describe(peek(ps)));
    c->rhs = expr(ps);
    ps->depth--;
    return c;
}

/* exprlist -> expr (',' expr)* ','?   (a tuple when there is a comma) */
static Expr *exprlist(Parser *ps) {
    Token *t = peek(ps);
    Expr *first = expr(ps);
    if (!is_punct(peek(ps), ","))
        return first;
    ExprList l = {0};
    list_push(&l, first, NULL);
    while (accept(ps, ",")) {
        /* a trailing comma is allowed (return a, b,): stop at what can follow the list */
        Token *u = peek(ps);
        if (u->kind == TK_NEWLINE || is_punct(u, "=") || is_punct(u, "}"))
            break;
        list_push(&l, expr(ps), NULL);
    }
    Expr *e = new_expr(E_TUPLE, t->loc);
    e->items = l.items;
    e->nitems = l.n;
    return e;
}

/* A Python keyword starts a statement when a name or value follows it, not '=' or '(' or '.'.
 * So `from = 1` or `pass(x)` still read as ordinary names: .tg does not reserve these words. */
static bool peek_next_is_statementish(Parser *ps) {
    Token *n = &ps->tok[ps->pos + 1];
    return n->kind != TK_EOF && !is_punct(n, "=") && !is_punct(n, "(") && !is_punct(n, ".") && !is_punct(n, "[") &&
           !is_punct(n, "+=") && !is_punct(n, ",");
}

static Stmt **stmts(Parser *ps, Decl *d, int *n);

/* A Python habit: 'for x in y:' where .tg opens a block. */
static void colon_check(Parser *ps, const char *what) {
    if (is_punct(peek(ps), ":"))
        syntax_error(ps, peek(ps)->loc, "a .tg '%s' takes a block in braces, not ':': %s ... { ... }", what, what);
}

/* The names a for binds: NAME, or NAME, NAME, or (NAME, NAME) nested: i, (inputs, labels). */
static Expr *target_list(Parser *ps) {
    Token *t = peek(ps);
    ExprList l = {0};
    do {
        Expr *e;
        if (accept(ps, "(")) {
            e = target_list(ps);
            expect(ps, ")");
        } else {
            Token *n = expect_name(ps, "a name for the loop");
            e = new_expr(E_NAME, n->loc);
            e->str = n->text;
        }
        list_push(&l, e, NULL);
    } while (accept(ps, ","));
    if (l.n == 1)
        return l.items[0];
    Expr *e = new_expr(E_TUPLE, t->loc);
    e->items = l.items;
    e->nitems = l.n;
    return e;
}

/* stmt -> 'return' exprlist?
 *       | ('if' | 'elif') expr block ('elif' ... | 'else' ('if' ... | block))?
 *       | 'for' targets 'in' expr block | 'while' expr block | 'with' expr block
 *       | 'break' | 'continue'
 *       | exprlist (('=' | '+=' | '-=' | '*=' | '/=' | '//=' | '%=' | '**=') exprlist)? */
static Stmt *stmt(Parser *ps, Decl *d) {
    Token *t = peek(ps);
    Stmt *s = ir_alloc(sizeof(Stmt));
    s->loc = t->loc;
    if (accept(ps, "return")) {
        s->kind = S_RETURN;
        Token *n = peek(ps);
        if (n->kind != TK_NEWLINE && !is_punct(n, ";") && !is_punct(n, "}")) /* a bare return: None */
            s->value = exprlist(ps);
        return s;
    }
    if (is_ident(t, "elif") && !ps->elif_ok)
        syntax_error(ps, t->loc, "'elif' without an 'if' before it");
    ps->elif_ok = false;
    if (accept(ps, "if") || accept(ps, "elif")) { /* elif: in an orelse, as "else if" */
        /* an elif chain recurses once per elif: bounded with the blocks */
        if (ps->blocks >= MAX_BLOCKS)
            syntax_error(ps, t->loc, "blocks nested too deeply (more than %d levels with the ifs of elif chains)",
                         MAX_BLOCKS);
        ps->blocks++;
        s->kind = S_IF;
        s->value = expr(ps);
        colon_check(ps, "if");
        s->body = stmts(ps, d, &s->nbody);
        /* 'else' or 'elif' may follow on the same line as the '}' or on the next */
        int save = ps->pos;
        skip_newlines(ps);
        if (is_ident(peek(ps), "elif")) {
            ps->elif_ok = true;
            s->orelse = ir_alloc(sizeof(Stmt *));
            s->orelse[0] = stmt(ps, d);
            s->norelse = 1;
        } else if (accept(ps, "else")) {
            if (is_ident(peek(ps), "if")) {
                s->orelse = ir_alloc(sizeof(Stmt *));
                s->orelse[0] = stmt(ps, d);
                s->norelse = 1;
            } else
                s->orelse = stmts(ps, d, &s->norelse);
        } else
            ps->pos = save;
        ps->blocks--;
        return s;
    }
    if (accept(ps, "for")) {
        s->kind = S_FOR;
        s->target = target_list(ps);
        if (!accept(ps, "in"))
            syntax_error(ps, peek(ps)->loc, "expected 'in' after the loop's names, found %s", describe(peek(ps)));
        s->value = expr(ps);
        colon_check(ps, "for");
        s->body = stmts(ps, d, &s->nbody);
        return s;
    }
    if (accept(ps, "while")) {
        s->kind = S_WHILE;
        s->value = expr(ps);
        colon_check(ps, "while");
        s->body = stmts(ps, d, &s->nbody);
        return s;
    }
    if (accept(ps, "with")) {
        s->kind = S_WITH;
        s->value = expr(ps);
        colon_check(ps, "with");
        s->body = stmts(ps, d, &s->nbody);
        return s;
    }
    if (accept(ps, "break")) {
        s->kind = S_BREAK;
        return s;
    }
    if (accept(ps, "continue")) {
        s->kind = S_CONTINUE;
        return s;
    }
    /* Caught before the expression parser, so a Python habit gets one clear message
     * rather than "expected end of statement" at some later token. */
    if (is_ident(t, "def") && peek_next_is_statementish(ps))
        syntax_error(ps, t->loc, "a 'def' goes at the top level of the file, beside models and programs");
    if ((is_ident(t, "import") || is_ident(t, "from")) && peek_next_is_statementish(ps))
        syntax_error(ps, t->loc, "an import goes at the top level of the file: from MODULE import NAME (Python's "
                                 "own modules, torch and the like, need none)");
    static const char *python_only[] = {"class", "try", "lambda",
                                        "del", "global", "assert", "pass"};
    for (size_t i = 0; i < sizeof python_only / sizeof python_only[0]; i++)
        if (is_ident(t, python_only[i]) && peek_next_is_statementish(ps))
            syntax_error(ps, t->loc, "'%s' is Python, not .tg: the language has no definitions besides model, "
                                     "program, train and def blocks (see docs/language.md)", t->text);
    Expr *e = exprlist(ps);
    Token *op = peek(ps);
    static const char *ops[] = {"=", "+=", "-=", "*=", "/=", "//=", "%=", "**="};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        if (is_punct(op, ops[i])) {
            ps->pos++;
            /* a tuple unpacks only with '=': "a, b += 1" means nothing (Python rejects it too) */
            if (e->kind != E_NAME && e->kind != E_ATTR && e->kind != E_INDEX &&
                !(e->kind == E_TUPLE && i == 0))
                syntax_error(ps, e->loc, "cannot assign to this expression");
            s->kind = S_ASSIGN;
            s->op = ops[i];
            s->target = e;
            s->loc = op->loc;
            s->value = exprlist(ps);
            if (is_punct(peek(ps), "="))
                syntax_error(ps, peek(ps)->loc, "chained assignment is not supported");
            return s;
        }
    s->kind = S_EXPR;
    s->value = e;
    return s;
}

/*
 * Skips to the end of the broken statement: the next newline or the block's '}'.
 * It stops before either, never on it, so block() still sees the statement end
 * or its own closing brace. Brackets opened after the error point are skipped
 * whole, so a '}' inside them cannot close the block early.
 */
static void recover(Parser *ps) {
    int depth = 0;
    for (;;) {
        Token *t = peek(ps);
        if (t->kind == TK_EOF)
            return;
        if (is_punct(t, "(") || is_punct(t, "[") || is_punct(t, "{"))
            depth++;
        if ((is_punct(t, ")") || is_punct(t, "]") || is_punct(t, "}")) && depth > 0) {
            depth--; /* it closes a bracket opened after the error: skipped with it */
            ps->pos++;
            continue;
        }
        if ((t->kind == TK_NEWLINE && depth == 0) || (is_punct(t, "}") && depth == 0))
            return;
        ps->pos++;
    }
}

/* block -> '{' NEWLINE* (stmt (NEWLINE | ';')+)* '}'
 *
 * Each statement gets its own recovery point, so an error costs only that
 * statement and the next one is parsed as usual: several errors per run.
 */
static Stmt **stmts(Parser *ps, Decl *d, int *nout) {
    if (ps->blocks >= MAX_BLOCKS)
        syntax_error(ps, peek(ps)->loc, "blocks nested too deeply (more than %d levels with the ifs of elif "
                     "chains)", MAX_BLOCKS);
    const int blocks = ps->blocks++; /* this block's level, restored when a nested error unwinds to it */
    expect(ps, "{");
    /* a nested block ('if') has its own recovery points; the enclosing statement's comes back after */
    jmp_buf outer;
    bool was_armed = ps->armed;
    memcpy(outer, ps->recover, sizeof outer);
    Stmt **body = NULL;
    int n = 0, cap = 0;
    for (;;) {
        skip_newlines(ps);
        while (accept(ps, ";"))
            skip_newlines(ps);
        Token *t = peek(ps);
        if (accept(ps, "}"))
            break;
        /* at the declaration: the end of the file says nothing about where the '}' went missing */
        if (t->kind == TK_EOF)
            error_at(d->loc, "missing '}' at the end of %s '%s'", decl_kind_name(d->kind), d->name);
        if (setjmp(ps->recover)) {
            ps->depth = 0; /* the longjmp skipped the depth-- of every frame it unwound */
            ps->blocks = blocks + 1;
            recover(ps);
            continue;
        }
        ps->armed = true;
        Stmt *s = stmt(ps, d);
        /* stmt() stops at the first token it cannot use: "x = 1 2" ends up here */
        Token *end = peek(ps);
        if (end->kind != TK_NEWLINE && !is_punct(end, ";") && !is_punct(end, "}"))
            syntax_error(ps, end->loc, "expected end of statement, found %s", describe(end));
        ps->armed = false;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            Stmt **b = ir_alloc(sizeof(Stmt *) * (size_t)cap);
            if (n)
                memcpy(b, body, sizeof(Stmt *) * (size_t)n);
            body = b;
        }
        body[n++] = s;
    }
    ps->armed = was_armed; /* recover may name this frame, about to return: no later error may jump there */
    memcpy(ps->recover, outer, sizeof outer);
    ps->blocks = blocks;
    *nout = n;
    return body;
}

static void block(Parser *ps, Decl *d) { d->body = stmts(ps, d, &d->nbody); }

/* param -> NAME (':' expr)? ('=' expr)? */
static void params(Parser *ps, Decl *d) {
    expect(ps, "(");
    int cap = 0;
    while (!accept(ps, ")")) {
        if (d->nparams)
            expect(ps, ",");
        if (accept(ps, ")"))
            break;
        Token *name = expect_name(ps, "a parameter name");
        for (int i = 0; i < d->nparams; i++)
            if (!strcmp(d->params[i].name, name->text))
                syntax_error(ps, name->loc, "duplicate argument '%s' in the definition", name->text);
        if (d->nparams == cap) {
            cap = cap ? cap * 2 : 8;
            Param *p = ir_alloc(sizeof(Param) * (size_t)cap);
            if (d->nparams)
                memcpy(p, d->params, sizeof(Param) * (size_t)d->nparams);
            d->params = p;
        }
        Param *p = &d->params[d->nparams++];
        *p = (Param){.name = name->text, .loc = name->loc};
        if (accept(ps, ":"))
            p->type = postfix(ps);
        if (accept(ps, "="))
            p->dflt = expr(ps);
        if (d->kind == D_DEF && d->nparams > 1 && d->params[d->nparams - 2].dflt && !p->dflt)
            syntax_error(ps, name->loc, "a parameter without a default follows one with a default");
    }
}

/* import -> 'from' NAME ('.' NAME)* 'import' ('*' | NAME ('as' NAME)? (',' NAME ('as' NAME)?)* ) */
static Decl *import_decl(Parser *ps, Decl *d) {
    d->kind = D_IMPORT;
    if (accept(ps, "import"))
        syntax_error(ps, d->loc, "write 'from MODULE import NAME' to use another .tg file's models and defs (torch, "
                                 "torchvision and numpy need no import)");
    expect(ps, "from");
    Token *m = expect_name(ps, "a module name");
    d->loc = m->loc;
    const char *mod = m->text;
    while (accept(ps, "."))
        mod = ir_fmt("%s.%s", mod, expect_name(ps, "a module name")->text);
    d->name = mod;
    if (!accept(ps, "import"))
        syntax_error(ps, peek(ps)->loc, "expected 'import' after the module's name, found %s", describe(peek(ps)));
    if (accept(ps, "*")) {
        d->used = true;
        return d;
    }
    int cap = 0;
    do {
        Token *n = expect_name(ps, "a name to import");
        if (d->nparams == cap) {
            cap = cap ? 2 * cap : 8;
            Param *p = ir_alloc(sizeof(Param) * (size_t)cap);
            if (d->nparams)
                memcpy(p, d->params, sizeof(Param) * (size_t)d->nparams);
            d->params = p;
        }
        Param *p = &d->params[d->nparams++];
        *p = (Param){.name = n->text, .loc = n->loc};
        if (accept(ps, "as")) {
            Token *a = expect_name(ps, "a name after 'as'");
            p->dflt = ir_alloc(sizeof(Expr));
            p->dflt->kind = E_NAME;
            p->dflt->loc = a->loc;
            p->dflt->str = a->text;
        }
    } while (accept(ps, ","));
    if (peek(ps)->kind != TK_NEWLINE && peek(ps)->kind != TK_EOF && !is_punct(peek(ps), ";"))
        syntax_error(ps, peek(ps)->loc, "expected the end of the import, found %s", describe(peek(ps)));
    return d;
}

/* decl -> 'model' NAME params block | 'program' NAME block | 'train' NAME block
 *       | ['export'] 'def' NAME params block | import */
static Decl *decl(Parser *ps) {
    Token *t = peek(ps);
    Decl *d = ir_alloc(sizeof(Decl));
    d->loc = t->loc;
    if (is_ident(t, "export") && is_ident(&ps->tok[ps->pos + 1], "def")) { /* export def: a C function too */
        ps->pos++;
        d->exported = true;
    }
    if (accept(ps, "model"))
        d->kind = D_MODEL;
    else if (accept(ps, "program"))
        d->kind = D_PROGRAM;
    else if (accept(ps, "train"))
        d->kind = D_TRAIN;
    else if (accept(ps, "def"))
        d->kind = D_DEF;
    else if (is_ident(t, "from") || is_ident(t, "import"))
        return import_decl(ps, d);
    else
        syntax_error(ps, t->loc, "expected 'model', 'program', 'train', 'def' or 'from' at top level, found %s",
                     describe(t));
    Token *name = expect_name(ps, d->kind == D_TRAIN ? "the name of the model to train" : "a name");
    d->name = name->text;
    d->loc = name->loc;
    if (d->kind == D_MODEL || d->kind == D_DEF)
        params(ps, d);
    if (d->kind == D_DEF)
        colon_check(ps, "def");
    block(ps, d);
    return d;
}

Ast *parse_file(const char *path, const char *text) {
    Ast *ast = ir_alloc(sizeof(Ast));
    ast->path = ir_strdup(path);
    ast->file = diag_add_file(path, text);
    int ntok;
    Token *tok = lex(ast->file, text, &ntok);
    Parser ps = {.tok = tok, .ntok = ntok};
    Decl **decls = NULL;
    int cap = 0;
    for (;;) {
        skip_newlines(&ps);
        if (peek(&ps)->kind == TK_EOF)
            break;
        if (setjmp(ps.recover)) {
            ps.depth = 0;
            /* skip to the next top-level keyword: keywords cannot be names, so it almost surely
             * starts the next declaration, and the broken one's body is skipped with its header */
            while (peek(&ps)->kind != TK_EOF && !is_ident(peek(&ps), "model") && !is_ident(peek(&ps), "def") &&
                   !is_ident(peek(&ps), "program") && !is_ident(peek(&ps), "train") && !is_ident(peek(&ps), "from") &&
                   !is_ident(peek(&ps), "export"))
                ps.pos++;
            continue;
        }
        ps.armed = true;
        Decl *d = decl(&ps);
        ps.armed = false;
        if (ast->ndecls == cap) {
            cap = cap ? cap * 2 : 8;
            Decl **nd = ir_alloc(sizeof(Decl *) * (size_t)cap);
            if (ast->ndecls)
                memcpy(nd, decls, sizeof(Decl *) * (size_t)ast->ndecls);
            decls = nd;
        }
        decls[ast->ndecls++] = d;
    }
    ast->decls = decls;
    /* not when errors were reported: a file whose declarations all failed is not "empty" too */
    if (!ast->ndecls && !diag_nerrors)
        diag_error((SrcLoc){ast->file, 1, 1}, "empty file: expected a 'model', 'program' or 'train' block");
    return ast;
}
