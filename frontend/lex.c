/*
 * lex.c: .tg text -> tokens.
 *
 * Python-flavoured: newlines end statements except inside (), [] and {}
 * nesting deeper than a block, '#' starts a comment ('//' is Python's floor
 * division, as in the PyTorch a program translates), strings use
 * either quote, f"..." strings keep their raw body for the parser to split
 * into text and {expr} holes. Errors (a stray byte, an unterminated string, a
 * number too large) are reported and lexing goes on, so one run shows them all.
 */
#include "frontend.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *p;          /* next byte to scan */
    const char *line_start; /* first byte of the current line, for columns */
    SrcLoc base;            /* location of the text's first byte */
    int line;               /* current line (absolute) */
    int depth;              /* () and [] nesting: newlines inside are not statement ends */
    Token *toks;            /* malloc'ed while growing (no copies left behind in the arena), moved
                               into the arena at the end (the parser may longjmp away) */
    int n, cap;             /* tokens pushed, slots allocated */
} Lexer;

/* A fragment (an f-string hole) starts mid-line: only its first line is offset by base.col. */
static SrcLoc loc_of(Lexer *lx, const char *p) {
    SrcLoc l = lx->base;
    l.line = lx->line;
    l.col = (int)(p - lx->line_start) + 1 + (lx->line == lx->base.line ? lx->base.col - 1 : 0);
    return l;
}

/* A token; its text is start's len bytes, or `same` (a spelling the lexer knows: punctuation,
 * a newline), shared rather than copied: a file of millions of tokens keeps one of each. */
static Token *push_as(Lexer *lx, TokenKind kind, const char *start, int len, const char *same) {
    if (lx->n == lx->cap) {
        int cap = lx->cap ? lx->cap * 2 : 256;
        Token *t = realloc(lx->toks, sizeof(Token) * (size_t)cap);
        if (!t) {
            free(lx->toks);
            ir_out_of_memory();
        }
        lx->toks = t;
        lx->cap = cap;
    }
    Token *t = &lx->toks[lx->n++];
    *t = (Token){.kind = kind, .text = same ? same : ir_strndup(start, (size_t)len), .len = len,
                 .loc = loc_of(lx, start)};
    return t;
}

static Token *push(Lexer *lx, TokenKind kind, const char *start, int len) { return push_as(lx, kind, start, len, NULL); }

static void newline(Lexer *lx, const char *next) {
    lx->line++;
    lx->line_start = next;
}

/* Longest first: the scan takes the first match, so "**=" must be tried before "**" and "*". */
static const char *puncts[] = {
    "**=", "//=", "...", "**", "//", "%=", "==", "!=", "<=", ">=", "+=", "-=", "*=", "/=", "->", "(", ")", "[", "]",
    "{", "}", ",", ":", ";", "=", "+", "-", "*", "/", "@", "<", ">", ".", "%",
};

/*
 * Decodes a quoted string starting at *pp (at the quote); returns false if unterminated.
 * *outlen is the decoded length: a "\0" escape makes strlen() stop short, which the caller
 * reports. A string ends at the line's end, so an unclosed quote does not eat the file.
 */
static bool scan_string(Lexer *lx, const char **pp, char **out, int *outlen, bool raw) {
    const char *p = *pp;
    char q = *p++;
    size_t cap = 64, n = 0;
    char *buf = malloc(cap); /* scratch of unknown size: grown here, copied to the arena at the end */
    bool ok = true;
    while (*p != q) {
        if (!*p || *p == '\n') {
            ok = false;
            break;
        }
        char c = *p++;
        if (c == '\\' && !raw) {
            const char *esc = p - 1;
            switch (*p++) {
            case 'n': c = '\n'; break;
            case 't': c = '\t'; break;
            case 'r': c = '\r'; break;
            case '0': c = '\0'; break;
            case '\\': c = '\\'; break;
            case '\'': c = '\''; break;
            case '"': c = '"'; break;
            case '\n':
                newline(lx, p);
                continue;
            default:
                /* reported, not fatal: the string is still one token, so parsing goes on */
                diag_error(loc_of(lx, esc), "unknown escape sequence '\\%c'", p[-1] ? p[-1] : '0');
                if (!p[-1])
                    p--; /* a backslash at the very end: never step past the terminating NUL */
                c = '?';
            }
        } else if (c == '\\' && raw) {
            /* f-string bodies keep escapes; the parser decodes text parts. Keeping the body
             * byte for byte also keeps an offset into it equal to a column offset in the line. */
            if (n + 2 >= cap)
                buf = realloc(buf, cap *= 2);
            buf[n++] = c;
            if (*p && *p != '\n')
                c = *p++;
            else
                continue;
        }
        if (n + 2 >= cap)
            buf = realloc(buf, cap *= 2);
        buf[n++] = c;
    }
    if (ok)
        p++;
    *out = ir_strndup(buf, n);
    *outlen = (int)n;
    free(buf);
    *pp = p;
    return ok;
}

static void scan_number(Lexer *lx, const char *start, const char **pp) {
    const char *p = start;
    bool is_float = false;
    while (isdigit((unsigned char)*p) || *p == '_')
        p++;
    /* "1..." is the number 1 followed by an ellipsis, not "1." and ".." */
    if (*p == '.' && !(p[1] == '.' && p[2] == '.')) {
        is_float = true;
        p++;
        while (isdigit((unsigned char)*p))
            p++;
    }
    /* 'e' is an exponent only when digits follow; otherwise "2e" falls to the check below */
    if ((*p == 'e' || *p == 'E') &&
        (isdigit((unsigned char)p[1]) || ((p[1] == '-' || p[1] == '+') && isdigit((unsigned char)p[2])))) {
        is_float = true;
        p += 2;
        while (isdigit((unsigned char)*p))
            p++;
    }
    /* "3x" or "1e": one error for the whole run of letters, and a stand-in token so the
     * parser still sees an operand and does not add a second, confusing error */
    if (isalpha((unsigned char)*p) || *p == '_') {
        const char *e = p;
        while (isalnum((unsigned char)*e) || *e == '_')
            e++;
        diag_error(loc_of(lx, start), "invalid number '%.*s'", (int)(e - start), start);
        *pp = e;
        push(lx, TK_INT, start, (int)(e - start));
        return;
    }
    Token *t = push(lx, is_float ? TK_FLOAT : TK_INT, start, (int)(p - start));
    /* strip '_' digit separators */
    char *clean = ir_strndup(start, (size_t)(p - start)), *w = clean;
    for (const char *r = clean; *r; r++)
        if (*r != '_')
            *w++ = *r;
    *w = 0;
    errno = 0;
    if (is_float) {
        t->fval = strtod(clean, NULL);
        if (errno == ERANGE && isinf(t->fval))
            diag_error(t->loc, "floating-point literal '%s' is out of range", clean);
    } else {
        unsigned long long v = strtoull(clean, NULL, 10);
        if (errno == ERANGE || v > (unsigned long long)INT64_MAX)
            diag_error(t->loc, "integer literal '%s' is too large (the limit is 2^63 - 1)", clean);
        t->ival = (int64_t)v;
    }
    *pp = p;
}

/* A fragment is an f-string hole: one expression inside a string, so it yields no NEWLINE tokens. */
static Token *run(Lexer *lx, const char *end, bool fragment) {
    const char *p = lx->p;
    while (p < end && *p) {
        unsigned char c = (unsigned char)*p;
        if (c == '\n') {
            /* Inside () or [] a newline is layout, not a statement end, so a long call can
             * wrap freely. Runs of blank lines collapse into one token. */
            if (!fragment && lx->depth == 0 && lx->n && lx->toks[lx->n - 1].kind != TK_NEWLINE)
                push_as(lx, TK_NEWLINE, p, 1, "\n");
            p++;
            newline(lx, p);
            continue;
        }
        if (c == ' ' || c == '\t' || c == '\r' || c == '\f') {
            p++;
            continue;
        }
        if (c == '#') {
            while (p < end && *p && *p != '\n')
                p++;
            continue;
        }
        if (c == '\\' && (p[1] == '\n' || (p[1] == '\r' && p[2] == '\n'))) { /* explicit line continuation */
            p += p[1] == '\r' ? 3 : 2; /* a file saved with CRLF line ends too */
            newline(lx, p);
            continue;
        }
        if (isdigit(c) || (c == '.' && isdigit((unsigned char)p[1]))) {
            scan_number(lx, p, &p);
            continue;
        }
        if ((c == 'f' || c == 'F') && (p[1] == '"' || p[1] == '\'')) {
            const char *start = p;
            const char *q = p + 1;
            /* body: the parser re-lexes each {hole} from here, so errors in it get real columns */
            SrcLoc at = loc_of(lx, start), body = loc_of(lx, q + 1);
            char *s;
            int len;
            if (!scan_string(lx, &q, &s, &len, true))
                diag_error(at, "unterminated string");
            Token *t = push(lx, TK_FSTR, start, (int)(q - start));
            t->loc = at;
            t->text = s;
            t->ival = len;
            t->body = body;
            p = q;
            continue;
        }
        if (isalpha(c) || c == '_') {
            const char *start = p;
            while (isalnum((unsigned char)*p) || *p == '_')
                p++;
            push(lx, TK_IDENT, start, (int)(p - start));
            continue;
        }
        if (c == '"' || c == '\'') {
            const char *start = p;
            SrcLoc at = loc_of(lx, start); /* before scanning: a string may continue on the next line */
            char *s;
            int len;
            if (!scan_string(lx, &p, &s, &len, false))
                diag_error(at, "unterminated string");
            Token *t = push(lx, TK_STR, start, (int)(p - start));
            t->text = s;
            t->ival = len;
            t->loc = at;
            if ((int)strlen(s) != len)
                diag_error(at, "NUL characters ('\\0') in strings are not supported");
            continue;
        }
        bool found = false;
        for (size_t i = 0; i < sizeof puncts / sizeof puncts[0]; i++) {
            size_t n = strlen(puncts[i]);
            if ((size_t)(end - p) >= n && !strncmp(p, puncts[i], n)) {
                push_as(lx, TK_PUNCT, p, (int)n, puncts[i]);
                /* '{' '}' are not counted: they open blocks, whose statements do end at newlines.
                 * A stray ')' must not go below 0, or every later newline would be swallowed. */
                if (*p == '(' || *p == '[')
                    lx->depth++;
                else if ((*p == ')' || *p == ']') && lx->depth > 0)
                    lx->depth--;
                p += n;
                found = true;
                break;
            }
        }
        if (found)
            continue;
        if (c >= 0x20 && c < 0x7f)
            diag_error(loc_of(lx, p), "unexpected character '%c'", c);
        else
            diag_error(loc_of(lx, p), "unexpected byte 0x%02x (is this a text file?)", c);
        /* skip a run of garbage so binary input gives a handful of errors, not thousands */
        while (p < end && *p && !isspace((unsigned char)*p))
            p++;
        if (diag_nerrors > 20) {
            free(lx->toks);
            error_at(loc_of(lx, p), "too many errors; giving up");
        }
    }
    /* the last statement ends like any other even without a final newline; the EOF token
     * is the parser's sentinel, so it can always look one token past a non-EOF token */
    if (!fragment && lx->n && lx->toks[lx->n - 1].kind != TK_NEWLINE)
        push_as(lx, TK_NEWLINE, p, 0, "");
    push_as(lx, TK_EOF, p, 0, "");
    lx->p = p;
    Token *toks = ir_alloc(sizeof(Token) * (size_t)lx->n);
    memcpy(toks, lx->toks, sizeof(Token) * (size_t)lx->n);
    free(lx->toks);
    return toks;
}

Token *lex(int file, const char *text, int *ntok) {
    if (!strncmp(text, "\xef\xbb\xbf", 3)) /* a UTF-8 byte order mark, as some editors save: not text */
        text += 3;
    Lexer lx = {.p = text, .line_start = text, .base = {file, 1, 1}, .line = 1};
    Token *t = run(&lx, text + strlen(text), false);
    *ntok = lx.n;
    return t;
}

Token *lex_fragment(const char *text, int len, SrcLoc loc, int *ntok) {
    Lexer lx = {.p = text, .line_start = text, .base = loc, .line = loc.line, .depth = 1};
    Token *t = run(&lx, text + len, true);
    *ntok = lx.n;
    return t;
}
