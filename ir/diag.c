/*
 * diag.c: diagnostics as clang prints them.
 *
 *   lenet.tg:12:9: error: conv2d expects 4-D input, got f32[4, 400]
 *       x = conv1(x)
 *           ^
 *
 * Source texts are registered once so that any layer, from the lexer to the
 * code generator, can point at the user's line from a node's SrcLoc. Errors
 * either accumulate (diag_error: the caller recovers and goes on) or stop the
 * run (error_at). Tests install diag_catch to turn a stop into a longjmp.
 */
#include "ir.h"

#include <stdlib.h>
#include <string.h>

const SrcLoc NOLOC = {-1, 0, 0};
FILE *diag_out;
jmp_buf *diag_catch;
int diag_nerrors;

typedef struct {
    const char *name;
    const char *text;
    const char **line; /* where each line starts (line[0] is line 1), made when first asked; malloc'ed */
    int nline;
} SrcFile;

static SrcFile *files; /* malloc'ed, grown as files are registered; forgotten with the arena */
static int nfiles, capfiles;

int diag_add_file(const char *name, const char *text) {
    if (nfiles == capfiles) {
        int cap = capfiles ? 2 * capfiles : 16;
        SrcFile *f = realloc(files, sizeof(SrcFile) * (size_t)cap);
        if (!f)
            ir_out_of_memory();
        files = f;
        capfiles = cap;
    }
    files[nfiles] = (SrcFile){ir_strdup(name), text, NULL, 0};
    return nfiles++;
}

void diag_forget_files(void) {
    for (int i = 0; i < nfiles; i++)
        free(files[i].line);
    nfiles = 0;
}

const char *diag_file_name(int file) { return file >= 0 && file < nfiles ? files[file].name : "?"; }

int diag_nfiles(void) { return nfiles; }

/* Length of the valid UTF-8 sequence at p (1 for ASCII and for invalid bytes). */
static int utf8_len(const char *p, const char *end) {
    unsigned char c = (unsigned char)*p;
    int n = c >= 0xf0 && c < 0xf8 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 && c < 0xe0 ? 2 : 1;
    if (c < 0xc2 || c >= 0xf8 || end - p < n)
        return 1;
    for (int i = 1; i < n; i++)
        if (((unsigned char)p[i] & 0xc0) != 0x80)
            return 1;
    return n;
}

/* The start of loc's line, or NULL. An index of the lines is made once per file: the code
 * generator asks for a line per kernel, and a scan from the top each time is quadratic. */
static const char *line_start(SrcLoc loc) {
    if (loc.file < 0 || loc.file >= nfiles || !files[loc.file].text || loc.line < 1)
        return NULL;
    SrcFile *f = &files[loc.file];
    if (!f->line) {
        int n = 1;
        for (const char *p = f->text; *p; p++)
            n += *p == '\n';
        f->line = malloc(sizeof(char *) * (size_t)n);
        if (!f->line)
            ir_out_of_memory();
        f->nline = 0;
        f->line[f->nline++] = f->text;
        for (const char *p = f->text; *p; p++)
            if (*p == '\n')
                f->line[f->nline++] = p + 1;
    }
    if (loc.line > f->nline) /* past the end: where the old scan stopped */
        return f->line[f->nline - 1] + strlen(f->line[f->nline - 1]);
    return f->line[loc.line - 1];
}

/* Prints the source line of loc and a caret under its column. */
static void show_line(SrcLoc loc) {
    const char *p = line_start(loc);
    if (!p)
        return;
    const char *end = p;
    while (*end && *end != '\n')
        end++;
    if (end > p && end[-1] == '\r') /* a CRLF line end is not part of the line */
        end--;
    if (end == p)
        return; /* nothing to point at (an empty line, the end of the file) */
    /* Control bytes and broken UTF-8 in binary garbage would garble a terminal: show them as '?'. */
    for (const char *q = p; q < end;) {
        unsigned char c = (unsigned char)*q;
        int len = utf8_len(q, end);
        if (len > 1) {
            fwrite(q, 1, (size_t)len, diag_out);
            q += len;
            continue;
        }
        fputc((c < 0x20 && c != '\t') || c >= 0x80 ? '?' : c, diag_out);
        q++;
    }
    fputc('\n', diag_out);
    /* the caret goes under the column's character; a multi-byte character is one column wide */
    int col = 1;
    for (const char *q = p; q < end && col < loc.col;) {
        int len = utf8_len(q, end);
        fputc(*q == '\t' ? '\t' : ' ', diag_out);
        q += len;
        col += len;
    }
    fputs("^\n", diag_out);
}

static void report(SrcLoc loc, const char *kind, const char *fmt, va_list ap) {
    if (!diag_out)
        diag_out = stderr;
    if (loc.file >= 0)
        fprintf(diag_out, "%s:%d:%d: ", diag_file_name(loc.file), loc.line, loc.col);
    else
        fprintf(diag_out, "tgc: ");
    fprintf(diag_out, "%s: ", kind);
    vfprintf(diag_out, fmt, ap);
    fputc('\n', diag_out);
    show_line(loc);
}

/*
 * An error already reported at the same place with the same words is not reported again, nor
 * the notes after it: a statement in a loop the compiler unrolls (for seed in [0, 1, 42]) fails
 * once per pass, and one report says it.
 */
typedef struct {
    SrcLoc loc;
    unsigned long hash;
} Seen;
static Seen seen[256];
static int nseen;
static bool quiet; /* the last error was a repeat: its notes are too */

static bool repeated(SrcLoc loc, const char *fmt, va_list ap) {
    if (!diag_nerrors) /* a new compilation (the tests reset the count between them) */
        nseen = 0;
    char buf[512];
    va_list aq;
    va_copy(aq, ap);
    vsnprintf(buf, sizeof buf, fmt, aq);
    va_end(aq);
    unsigned long h = 5381;
    for (const char *p = buf; *p; p++)
        h = h * 33 + (unsigned char)*p;
    for (int i = 0; i < nseen; i++)
        if (seen[i].hash == h && seen[i].loc.file == loc.file && seen[i].loc.line == loc.line &&
            seen[i].loc.col == loc.col)
            return true;
    if (nseen < (int)(sizeof seen / sizeof seen[0]))
        seen[nseen++] = (Seen){loc, h};
    return false;
}

void diag_error(SrcLoc loc, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    quiet = repeated(loc, fmt, ap);
    if (!quiet) {
        report(loc, "error", fmt, ap);
        diag_nerrors++;
    }
    va_end(ap);
}

void diag_note(SrcLoc loc, const char *fmt, ...) {
    if (quiet)
        return;
    va_list ap;
    va_start(ap, fmt);
    report(loc, "note", fmt, ap);
    va_end(ap);
}

_Noreturn void diag_stop(void) {
    fflush(diag_out);
    if (diag_catch)
        longjmp(*diag_catch, 1);
    exit(1);
}

_Noreturn void error_at(SrcLoc loc, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    quiet = repeated(loc, fmt, ap);
    if (!quiet) {
        report(loc, "error", fmt, ap);
        diag_nerrors++;
    }
    va_end(ap);
    diag_stop();
}

void diag_check(void) {
    if (diag_nerrors) {
        if (!diag_out)
            diag_out = stderr;
        if (diag_nerrors > 1)
            fprintf(diag_out, "%d errors generated.\n", diag_nerrors);
        diag_stop();
    }
}

const char *ir_memory_note = "";

_Noreturn void ir_out_of_memory(void) {
    fprintf(stderr, "tgc: error: out of memory%s\n", ir_memory_note);
    exit(1);
}

_Noreturn void die_at(const char *file, int line, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "tgc: internal error at %s:%d: ", file, line);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    abort();
}

/* Damerau-Levenshtein distance (optimal string alignment); names are short. */
static int edit_distance(const char *a, const char *b) {
    int la = (int)strlen(a), lb = (int)strlen(b);
    if (la > 63 || lb > 63)
        return 99;
    int d[64][64];
    for (int i = 0; i <= la; i++)
        d[i][0] = i;
    for (int j = 0; j <= lb; j++)
        d[0][j] = j;
    for (int i = 1; i <= la; i++)
        for (int j = 1; j <= lb; j++) {
            int sub = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            int del = d[i - 1][j] + 1, ins = d[i][j - 1] + 1;
            d[i][j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
            /* a swap of two neighbours ("rnadn") is one slip, not two */
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < d[i][j])
                d[i][j] = d[i - 2][j - 2] + 1;
        }
    return d[la][lb];
}

const char *diag_suggest(const char *name, const char *const *cands, int n) {
    const char *best = NULL;
    int bestd = 0;
    int len = (int)strlen(name);
    /* Allow about one typo per three characters, at least one. */
    int limit = len / 3 > 1 ? len / 3 : 1;
    for (int i = 0; i < n; i++) {
        if (!cands[i] || !strcmp(cands[i], name))
            continue;
        int dist = edit_distance(name, cands[i]);
        /* a name that extends or shortens a candidate ("batchsize" for "batch") is a likely slip */
        size_t lc = strlen(cands[i]);
        if (dist > limit && lc >= 3 && (size_t)len >= 3 &&
            (!strncmp(name, cands[i], lc) || !strncmp(cands[i], name, (size_t)len)))
            dist = limit;
        if (dist <= limit && (!best || dist < bestd)) {
            best = cands[i];
            bestd = dist;
        }
    }
    return best;
}

const char *diag_line_text(SrcLoc loc) {
    const char *p = line_start(loc);
    if (!p)
        return "";
    while (*p == ' ' || *p == '\t')
        p++;
    const char *end = p;
    while (*end && *end != '\n')
        end++;
    while (end > p && (end[-1] == ' ' || end[-1] == '\r'))
        end--;
    return ir_strndup(p, (size_t)(end - p));
}
