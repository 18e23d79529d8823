/*
 * tgc.c: the command line. main() spells out the whole pipeline, each stage a named call:
 *
 *   read_source -> parse_file -> resolve_imports -> lower_ast -> (per graph) pass_autodiff -> pass_dce
 *     -> pass_simplify -> pass_fuse -> pass_memplan -> emit_c (or ir_print, emit_cuda_source) -> cc
 *
 * with ir_verify after lowering and after every pass in debug builds. (tgc check FILE.c is its
 * own path: codegen_c/validate.c.)
 *
 * Every stage reports user errors through diag (file:line:col, source line,
 * caret) and the run stops with exit status 1 after the stage that found them.
 */
#include "codegen_c/codegen_c.h"
#include "codegen_cuda/codegen_cuda.h"
#include "config.h"
#include "frontend/frontend.h"
#include "passes/passes.h"
#include "runtime/tgrt.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const char usage[] =
    "usage: tgc compile FILE.tg -o OUT.c [options]   write OUT.c and OUT.h\n"
    "       tgc build FILE.tg -o BIN [options]       compile, then build an executable\n"
    "       tgc check FILE.c [more.c ...]            check generated C's promises (libclang)\n"
    "       tgc --help | --version\n"
    "\n"
    "tgc compiles a .tg file (models, programs, training setups written like the\n"
    "PyTorch they translate) into standalone C that links only the tgc runtime.\n"
    "\n"
    "options:\n"
    "  -o PATH          output file: OUT.c for compile (OUT.h is written beside it),\n"
    "                   or the executable for build; '-' writes C (or IR) to stdout,\n"
    "                   and so does a device or a pipe (the header's text first). A\n"
    "                   file is written whole or not at all (a temporary renamed over\n"
    "                   it; a symlink's target is written); a source file is never\n"
    "                   an output\n"
    "  --emit=c         emit C source (the default)\n"
    "  --emit=ir        emit the graph IR in its text form instead of C: forward,\n"
    "                   backward and update sections, every gradient node named by\n"
    "                   what it computes (\"d loss/d conv1.weight\")\n"
    "  --emit=dot       emit the same graph as Graphviz DOT (dot -Tsvg g.dot > g.svg)\n"
    "  --emit=cuda      emit the CUDA kernels (what --target cuda compiles with NVRTC\n"
    "                   when the program starts) instead of C\n"
    "  --target c|cuda  where the training step and predict run: C with OpenMP on the\n"
    "                   CPU (the default), or CUDA kernels on a GPU, launched by C host\n"
    "                   code (same trainer options, log lines and checkpoints); the\n"
    "                   program loads the driver and NVRTC when it starts and says so\n"
    "                   when there is no GPU. In a program with loops, the tensor work\n"
    "                   between two control-flow points runs on the GPU where all of it\n"
    "                   can (not a print, a file, x[i] with a run-time i); the rest and\n"
    "                   the loops run on the CPU (build links libtgrt_cuda: " TGC_CUDA_STATE ")\n"
    "  --prefix NAME    prefix of the generated C identifiers (default: OUT's base\n"
    "                   name, e.g. tensors.c -> tensors_run, TENSORS_ARENA_BYTES)\n"
    "  --no-main        leave out main(); the caller runs PREFIX_run(arena, out)\n"
    "  --stats          print what the passes made of each graph: the kernels (fused\n"
    "                   ops, FLOPs, bytes moved), the memory plan (persistent and\n"
    "                   transient regions, the transient size against its plain sum)\n"
    "                   and every buffer's offset and lifetime; to stdout, or stderr\n"
    "                   when the C goes to stdout\n"
    "  -O0              no optimization passes: no simplify, fusion or memory reuse\n"
    "  --no-simplify, --no-fuse, --no-memplan\n"
    "                   turn one pass off (no-memplan: every value its own buffer)\n"
    "  --cc CC          C compiler used by build (default: $CC, else " TGC_CC ")\n"
    "  --keep           build: keep the generated .c/.h beside the executable\n"
    "  --max-memory G   stop with an error past G GiB of memory (default 4; 0: no limit)\n"
    "  -v, --verbose    build: print the C compiler command line\n"
    "  -h, --help       show this help\n"
    "  --version        show the version\n"
    "\n"
    "examples:\n"
    "  tgc compile samples/blitz/tensor_sum.tg -o tensor_sum.c\n"
    "  cc -O2 tensor_sum.c $(pkg-config --cflags --libs tgrt) -o tensor_sum && ./tensor_sum\n"
    "  tgc build samples/blitz/lenet_forward.tg -o lenet_forward && ./lenet_forward\n"
    "  tgc compile samples/blitz/tensor_sum.tg --emit=ir -o -\n"
    "\n"
    "Relative paths inside a program (load(\"w.npy\", ...)) are opened relative to\n"
    "the directory the generated program runs in.\n"
    "\n"
    "check parses generated C with clang (-std=c99 -Wall -Wextra -Wpedantic), reports\n"
    "every diagnostic, and proves that all that *_train_step, *_predict and export\n"
    "defs (TG_ENTRY) reach allocates nothing, does no I/O, calls only libm,\n"
    "memset/memcpy/memmove and omp_get_*, never recurses and has no VLA; that kernels\n"
    "are static with restrict pointer parameters; and that no call passes one buffer\n"
    "twice. Exit status 1 if anything was reported.\n";

typedef struct {
    const char *cmd, *input, *output, *prefix, *cc; /* "compile"/"build", FILE.tg, -o; NULL if not given */
    bool emit_ir, emit_dot, no_main, keep, verbose;           /* --emit=ir, --no-main, --keep, -v */
    bool stats, no_simplify, no_fuse, no_memplan;             /* --stats, -O0 and the passes it turns off */
    bool cuda, emit_cuda;                                     /* --target cuda, --emit=cuda */
    double max_memory;                                        /* --max-memory GiB (0: no limit) */
} Options;

/* Errors about the command line or the file system: no source location, so not through diag.
 * One %s argument only; callers build longer messages with ir_fmt first. */
static _Noreturn void fail(const char *fmt, const char *arg) {
    fprintf(stderr, "tgc: error: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n");
    exit(1);
}

/*
 * Reads in chunks rather than trusting a size from stat, so a pipe or
 * /dev/stdin works too; the 64 MiB cap makes /dev/zero or a huge wrong file
 * fail fast instead of eating memory.
 */
/* Where read_text found a NUL byte (line 0: none). */
static int nul_line, nul_col;

/* A source file's text, or NULL with *why ("No such file or directory", "is a directory", ...). */
static char *read_text(const char *path, const char **why) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        *why = strerror(errno);
        return NULL;
    }
    struct stat st;
    /* fopen() accepts a directory and reading it yields nothing: it would pass for an empty file */
    if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
        fclose(f);
        *why = "is a directory";
        return NULL;
    }
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while ((got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (n > (64u << 20)) {
            fclose(f);
            free(buf);
            *why = "larger than 64 MiB; is it really a .tg file?";
            return NULL;
        }
        if (cap - n - 1 == 0)
            buf = realloc(buf, cap *= 2);
    }
    fclose(f);
    buf[n] = 0;
    char *text = ir_strndup(buf, n);
    free(buf);
    /* The lexer works on C strings: a NUL would silently cut the file short. diag has no file
     * registered yet, so the location is printed by hand in the same file:line:col form. */
    const char *nul = memchr(text, 0, n);
    if (nul) {
        int line = 1, col = 1;
        for (const char *p = text; p < nul; p++, col++)
            if (*p == '\n')
                line++, col = 0;
        nul_line = line;
        nul_col = col;
        *why = ir_fmt("a NUL byte at line %d, column %d; is it a text file?", line, col);
        return NULL;
    }
    return text;
}

static char *read_source(const char *path) {
    const char *why = "";
    char *text = read_text(path, &why);
    if (!text) {
        if (nul_line) { /* at its place, as a diagnostic */
            fprintf(stderr, "%s:%d:%d: error: file contains a NUL byte; is it a text file?\n", path, nul_line, nul_col);
            exit(1);
        }
        if (!strcmp(why, "is a directory"))
            fail("'%s' is a directory", path);
        if (!strncmp(why, "larger", 6))
            fail("'%s' is larger than 64 MiB; is it really a .tg file?", path);
        fail("cannot open %s", ir_fmt("'%s': %s", path, why));
    }
    return text;
}

/* A path's file name: the generated files quote names only, so a checkout's location never shows. */

/* A C identifier from the output's base name: "out/my-net.c" -> "my_net". */
static const char *default_prefix(const char *output) {
    const char *base = strrchr(output, '/');
    base = base ? base + 1 : output;
    char *p = ir_strdup(base);
    char *dot = strrchr(p, '.');
    if (dot && dot != p) /* a leading dot belongs to the name: ".lenet" -> "_lenet" */
        *dot = 0;
    for (char *q = p; *q; q++)
        if (!((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9') || *q == '_'))
            *q = '_';
    if (!*p || (*p >= '0' && *p <= '9')) /* a C identifier is never empty nor starts with a digit */
        p = ir_fmt("tg_%s", p);
    return p;
}

static bool valid_ident(const char *s) {
    if (!*s || (*s >= '0' && *s <= '9'))
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_'))
            return false;
    return true;
}

static Options parse_args(int argc, char **argv) {
    Options o = {.max_memory = 4};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(usage, stdout);
            exit(0);
        }
        if (!strcmp(a, "--version")) {
            printf("tgc %s\n", TGC_VERSION);
            exit(0);
        }
        if (!strcmp(a, "-o") || !strcmp(a, "--prefix") || !strcmp(a, "--cc")) {
            if (i + 1 >= argc)
                fail("%s needs an argument", a);
            const char *v = argv[++i];
            if (!strcmp(a, "-o")) o.output = v;
            else if (!strcmp(a, "--prefix")) o.prefix = v;
            else o.cc = v;
        } else if (!strncmp(a, "--emit=", 7)) {
            if (!strcmp(a + 7, "ir")) o.emit_ir = true;
            else if (!strcmp(a + 7, "dot")) o.emit_ir = o.emit_dot = true;
            else if (!strcmp(a + 7, "cuda")) o.emit_cuda = true;
            else if (strcmp(a + 7, "c")) fail("unknown --emit kind '%s' (expected c, ir, dot or cuda)", a + 7);
        } else if (!strcmp(a, "--target") || !strncmp(a, "--target=", 9)) {
            if (a[8] != '=' && i + 1 >= argc)
                fail("%s needs an argument (c or cuda)", a);
            const char *v = a[8] == '=' ? a + 9 : argv[++i];
            if (!strcmp(v, "cuda")) o.cuda = true;
            else if (strcmp(v, "c")) fail("unknown --target '%s' (expected c or cuda)", v);
        } else if (!strcmp(a, "--no-main")) o.no_main = true;
        else if (!strcmp(a, "--stats")) o.stats = true;
        else if (!strcmp(a, "-O0")) o.no_simplify = o.no_fuse = o.no_memplan = true;
        else if (!strcmp(a, "-O") || !strcmp(a, "-O1") || !strcmp(a, "-O2")) o.no_simplify = o.no_fuse = o.no_memplan = false;
        else if (!strcmp(a, "--no-simplify")) o.no_simplify = true;
        else if (!strcmp(a, "--no-fuse")) o.no_fuse = true;
        else if (!strcmp(a, "--no-memplan")) o.no_memplan = true;
        else if (!strcmp(a, "--keep")) o.keep = true;
        else if (!strcmp(a, "--max-memory")) {
            char *end;
            o.max_memory = i + 1 < argc ? strtod(argv[++i], &end) : -1;
            if (o.max_memory < 0 || !(o.max_memory < 1e6) || *end)
                fail("%s", "--max-memory takes a number of GiB (0: no limit)");
        }
        else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) o.verbose = true;
        else if (a[0] == '-' && a[1]) /* a lone "-" is not an option but an argument: stdout */
            fail("unknown option '%s' (see tgc --help)", a);
        else if (!o.cmd)
            o.cmd = a;
        else if (!o.input)
            o.input = a;
        else
            fail("unexpected argument '%s' (see tgc --help)", a);
    }
    if (!o.cmd)
        fail("%s", "no command given: try 'tgc compile FILE.tg -o OUT.c' or 'tgc --help'");
    if (strcmp(o.cmd, "compile") && strcmp(o.cmd, "build"))
        fail("unknown command '%s' (expected compile, build or check; see tgc --help)", o.cmd);
    if (!o.input)
        fail("%s", "no input .tg file given");
    if (!o.output)
        fail("%s", "no output given: use -o OUT.c (compile) or -o BIN (build)");
    if (o.prefix && !valid_ident(o.prefix))
        fail("--prefix '%s' is not a C identifier", o.prefix);
    if (!strcmp(o.cmd, "build") && (o.emit_ir || o.emit_cuda))
        fail("%s", ir_fmt("--emit=%s goes with compile, not build", o.emit_cuda ? "cuda" : o.emit_dot ? "dot" : "ir"));
    return o;
}

/* The outputs being written (tg_out_open: a unique temporary beside each, renamed into place
 * when complete, a device or a pipe written in place); a failed run removes their temporaries. */
static TgOut *open_outs[4];
static int nopen_outs;

static void abandon_outputs(void) {
    while (nopen_outs > 0)
        tg_out_abandon(open_outs[--nopen_outs]);
}

static FILE *open_out(TgOut *o, const char *path) {
    char err[1024];
    if (tg_out_open(o, path, err, sizeof err))
        fail("%s", err);
    if (nopen_outs == 0)
        atexit(abandon_outputs);
    open_outs[nopen_outs++] = o;
    return o->f;
}

/* Finishes an output: anything the emitter's many unchecked fprintf calls lost (a full disk) is
 * an error, and the old file is left as it was. */
static void close_out(TgOut *o) {
    for (int i = 0; i < nopen_outs; i++)
        if (open_outs[i] == o)
            open_outs[i] = open_outs[--nopen_outs];
    char err[1024];
    if (tg_out_close(o, err, sizeof err))
        fail("%s", err);
}

/* What the command writes, before anything is: none may be a source file the compile read (by
 * device and inode, however it is spelled), or `tgc compile b.tg -o b.tg` would replace it. */
static void refuse_overwriting_sources(const Options *o) {
    const char *out[3] = {o->output, NULL, NULL};
    size_t len = strlen(o->output);
    bool c = len > 2 && !strcmp(o->output + len - 2, ".c");
    if (!strcmp(o->cmd, "build") && o->keep) {
        out[1] = ir_fmt("%s.c", o->output);
        out[2] = ir_fmt("%s.h", o->output);
    } else if (!strcmp(o->cmd, "compile") && !o->emit_ir && !o->emit_cuda)
        out[1] = c ? ir_fmt("%.*s.h", (int)(len - 2), o->output) : ir_fmt("%s.h", o->output);
    for (int k = 0; k < 3; k++)
        for (int i = 0; out[k] && strcmp(out[k], "-") && i < diag_nfiles(); i++)
            if (tg_same_file(out[k], diag_file_name(i)))
                fail("%s", ir_fmt("%s is the source file %s: tgc does not overwrite its input (choose another "
                                  "-o)", out[k], diag_file_name(i)));
}

/* The address-space limit limit_memory set, and the one before it (for the C compiler). */
static struct rlimit old_as_limit;
static bool as_limited;

/* fork and execvp rather than system(): arguments reach the compiler as they are, with no
 * shell to re-split a path that has spaces. Returns the exit status, or -1 (killed, or lost). */
static int run(char **args, bool verbose) {
    if (verbose) {
        for (char **a = args; *a; a++)
            fprintf(stderr, "%s%s", *a, a[1] ? " " : "\n");
    }
    pid_t pid = fork();
    if (pid < 0)
        fail("%s", "cannot start the C compiler (fork failed)");
    if (pid == 0) {
        if (as_limited)
            setrlimit(RLIMIT_AS, &old_as_limit);
        execvp(args[0], args);
        fprintf(stderr, "tgc: error: cannot run the C compiler '%s': %s\n", args[0], strerror(errno));
        /* _exit: exit() would flush the stdio buffers this child copied from tgc a second time;
         * 127 is the status a shell gives for a command it cannot run */
        _exit(127);
    }
    int status;
    if (waitpid(pid, &status, 0) < 0)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Is the running tgc the build tree's (not an installed copy)? Then it links the build tree's runtime.
 * That way the tests and a developer running build/tgc always get the libtgrt built with it, never an
 * older installed one, while an installed tgc never depends on a build tree that may be gone. */
static bool in_build_tree(void) {
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) /* no /proc (not Linux): use the build tree's runtime if it is still there */
        return access(TGC_BUILD_LIBDIR "/libtgrt.a", F_OK) == 0;
    self[n] = 0;
    size_t root = strlen(TGC_BUILD_ROOT);
    /* the '/' check: a sibling such as "build2/tgc" shares the prefix but not the tree */
    return !strncmp(self, TGC_BUILD_ROOT, root) && self[root] == '/';
}

/* tgc check FILE.c...: codegen_c/validate.c on each file; its own small command line, apart from
 * the compile pipeline's options. */
static int check_files(int n, char **paths) {
    if (n == 0)
        fail("%s", "no .c file given: tgc check FILE.c [more.c ...]");
    int problems = 0;
    for (int i = 0; i < n; i++) {
        if (paths[i][0] == '-')
            fail("unknown option '%s' for check (see tgc --help)", paths[i]);
        int k = validate_c(paths[i], stderr);
        if (k < 0) /* built without libclang: said once */
            return 1;
        problems += k;
    }
    return problems ? 1 : 0;
}

/* The compiler's memory ceiling: an address-space limit, so a hostile file (a huge literal, a
 * program of millions of statements) ends in "out of memory" with the limit named instead of
 * the machine swapping. The C compiler that build runs gets the old limit back. Not under the
 * sanitizers, which reserve terabytes of address space up front. */
static void limit_memory(double gib) {
    if (*TGC_EXTRA_CFLAGS || gib == 0 || getrlimit(RLIMIT_AS, &old_as_limit) != 0)
        return;
    rlim_t want = (rlim_t)(gib * 1073741824.0);
    if (old_as_limit.rlim_max != RLIM_INFINITY && want > old_as_limit.rlim_max)
        want = old_as_limit.rlim_max;
    struct rlimit r = {want, old_as_limit.rlim_max};
    static char note[128]; /* written before the limit: allocating it may be what fails */
    snprintf(note, sizeof note, ": the compile needs more than %g GiB (--max-memory raises the limit)",
             (double)want / 1073741824.0);
    if (setrlimit(RLIMIT_AS, &r) == 0) {
        as_limited = true;
        ir_memory_note = note;
    }
}

/* ---- the stages ---- */

/* Debug builds check the graph after lowering and after every pass, so a pass that breaks it is
 * named at once instead of surfacing as wrong C. */
static Graph *verified(Graph *g, const char *after) {
#ifndef NDEBUG
    if (!ir_verify(g))
        die("graph '%s' fails verification after %s", g->name, after);
#else
    (void)after;
#endif
    return g;
}

/* The passes on one graph, in order (autodiff expands backward() first); unfused: for --stats, the
 * kernels the same graph would have without fusion. */
static Graph *optimize(Graph *g, const Options *o, int *unfused) {
    g = verified(g, "lowering");
    g = verified(pass_autodiff(g), "autodiff");
    g = verified(pass_dce(g), "dce");
    if (!o->no_simplify)
        g = verified(pass_simplify(g), "simplify");
    *unfused = o->stats ? emit_count_kernels(g, pass_memplan(g, !o->no_memplan, NULL, NULL)) : -1;
    if (!o->no_fuse)
        g = verified(pass_fuse(g), "fuse");
    return g;
}

/* A staged program: the passes on each segment, the slots' region planned first, each segment's
 * plan inside it; the program's graph is the layout and its plan the largest segment's. */
static void plan_staged(StagedProgram *sp, const Options *o, const char *name, Graph **g, MemPlan **plan) {
    int unused;
    for (int k = 0; k < sp->nsegs; k++)
        sp->segs[k] = optimize(sp->segs[k], o, &unused);
    sp->layout = memplan_layout(sp->segs, sp->nsegs, name);
    sp->layout_plan = pass_memplan(sp->layout, !o->no_memplan, NULL, NULL);
    *g = sp->layout;
    *plan = sp->layout_plan;
    for (int k = 0; k < sp->nsegs; k++) {
        sp->plans[k] = pass_memplan(sp->segs[k], !o->no_memplan, sp->layout, sp->layout_plan);
        if (sp->plans[k]->total > (*plan)->total)
            *plan = sp->plans[k];
    }
}

/* Every graph of a file, in the order they are emitted: the programs, then a train block's step
 * and its predict graph (the model's forward pass alone, which shares the step's parameters),
 * then each export def's. */
typedef struct {
    Graph **graph;
    MemPlan **plan;
    int *unfused; /* kernels without fusion, for --stats (-1: not counted) */
    int n, nprograms;
    int train, predict; /* their indices, or -1 */
    int exports, nexports; /* the first export def's index and how many (each a C function of its own) */
    StagedProgram **staged; /* per program: its segments when it has run-time control flow, else NULL */
    const HostOption *options; /* the program's options (options(...)) */
    int noptions;
    bool has_options;
} Graphs;

static Graphs collect_graphs(Lowered *lw) {
    Graphs gs = {.n = lw->nprograms, .nprograms = lw->nprograms, .train = -1, .predict = -1,
                 .options = lw->options, .noptions = lw->noptions, .has_options = lw->has_options};
    gs.graph = ir_alloc(sizeof(Graph *) * (size_t)(lw->nprograms + lw->nexports + 2));
    gs.staged = ir_alloc(sizeof(StagedProgram *) * (size_t)(lw->nprograms + 1));
    for (int i = 0; i < lw->nprograms; i++) {
        gs.graph[i] = lw->programs[i].graph;
        if (!gs.graph[i]) {
            StagedProgram *sp = gs.staged[i] = ir_alloc(sizeof(StagedProgram));
            sp->segs = lw->programs[i].segs;
            sp->nsegs = lw->programs[i].nsegs;
            sp->host = lw->programs[i].host;
            sp->data = lw->programs[i].data;
            sp->plans = ir_alloc(sizeof(MemPlan *) * (size_t)sp->nsegs);
        }
    }
    if (lw->train) {
        gs.graph[gs.train = gs.n++] = lw->train;
        if (lw->train->train)
            gs.graph[gs.predict = gs.n++] = lw->train->train->predict;
    }
    gs.exports = gs.n;
    gs.nexports = lw->nexports;
    for (int i = 0; i < lw->nexports; i++)
        gs.graph[gs.n++] = lw->exports[i];
    gs.plan = ir_alloc(sizeof(MemPlan *) * (size_t)(gs.n + 1));
    gs.unfused = ir_alloc(sizeof(int) * (size_t)(gs.n + 1));
    return gs;
}

/* What the command line asks that the file cannot give: said before any pass runs. */
static void check_targets(const Lowered *lw, const Options *o) {
    if (lw->nprograms == 0 && !lw->train && !lw->nexports)
        fail("%s", ir_fmt("%s has no program, train block or export def to compile", o->input));
    if (lw->nprograms == 0 && !lw->train && !strcmp(o->cmd, "build") && !o->no_main)
        fail("%s", ir_fmt("%s has only export defs, C functions without a main(): compile it with tgc compile "
                          "and link it to your C program", o->input));
    bool staged = false;
    for (int i = 0; i < lw->nprograms; i++)
        staged |= !lw->programs[i].graph;
    if (o->cuda && !lw->train && !staged)
        fail("%s", ir_fmt("--target cuda runs a train block's step and predict, and a program's segments between "
                          "its loops and ifs, on the GPU; %s has neither (a straight-line program runs on the "
                          "CPU: compile it without --target)", o->input));
    if (!lw->train || o->no_main || o->emit_ir || o->emit_cuda)
        return;
    /* one main per program: the trainer's, or the programs' */
    if (lw->nprograms)
        fail("%s", ir_fmt("%s has both program and train blocks, and each would be the program's main(); "
                          "compile with --no-main, or put them in separate files", o->input));
    const Node *x = NULL, *y = NULL;
    for (int i = 0; i < lw->train->nnode; i++)
        if (lw->train->nodes[i].op == OP_INPUT) {
            x = x ? x : &lw->train->nodes[i];
            y = &lw->train->nodes[i];
        }
    if (x->shape.rank != 4) {
        diag_error(x->loc, "the standalone trainer feeds the model images, (B, C, H, W); this input is %s: take "
                   "images and flatten them in the model (x = flatten(x, 1)), or compile the step with --no-main "
                   "for your own C", type_str(x->dtype, x->shape));
        diag_check();
    }
    if (y->dtype != DT_I64)
        fail("%s", ir_fmt("%s: the standalone trainer trains classifiers (loss = cross_entropy, labels from "
                          "the data); for other losses compile the training step with --no-main and call it "
                          "from C", o->input));
}

/* --stats: each graph's report, to stdout unless the generated text goes there. */
static void print_stats(const Graphs *gs, const Options *o) {
    FILE *sf = strcmp(o->output, "-") ? stdout : stderr;
    for (int i = 0; i < gs->n; i++) {
        if (i < gs->nprograms && gs->staged[i]) {
            for (int k = 0; k < gs->staged[i]->nsegs; k++)
                emit_stats(sf, gs->staged[i]->segs[k], gs->staged[i]->plans[k], -1);
            continue;
        }
        emit_stats(sf, gs->graph[i], gs->plan[i], gs->unfused[i]);
    }
}

/* -o PATH (open_out), or stdout for "-". */
static FILE *open_output(TgOut *out, const char *path) { return strcmp(path, "-") ? open_out(out, path) : stdout; }

static void close_output(TgOut *out, const char *path) {
    if (strcmp(path, "-"))
        close_out(out);
    else if (fflush(stdout) || ferror(stdout))
        fail("%s", "cannot write to standard output");
}

/* --emit=ir and --emit=dot: the graphs after the passes (predict is the trainer's own). */
static void write_ir(const Graphs *gs, const Options *o) {
    TgOut out;
    FILE *f = open_output(&out, o->output);
    for (int i = 0; i < gs->n; i++) {
        if (i == gs->predict)
            continue;
        if (i < gs->nprograms && gs->staged[i]) {
            const StagedProgram *sp = gs->staged[i];
            if (!o->emit_dot)
                ir_print_host(f, gs->graph[i]->name, &sp->host);
            for (int k = 0; k < sp->nsegs; k++)
                o->emit_dot ? ir_print_dot(f, sp->segs[k]) : ir_print(f, sp->segs[k]);
            continue;
        }
        if (o->emit_dot)
            ir_print_dot(f, gs->graph[i]);
        else
            ir_print(f, gs->graph[i]);
    }
    close_output(&out, o->output);
}

/* The command line for the generated file's first line, so a reader knows how to regenerate it. */
static const char *command_line(const Options *o) {
    const char *cmd = ir_fmt("tgc %s %s -o %s%s%s", o->cmd, ir_base_name(o->input), ir_base_name(o->output),
                             o->cuda ? " --target cuda" : "", o->emit_cuda ? " --emit=cuda" : "");
    if (o->no_simplify && o->no_fuse && o->no_memplan)
        return ir_fmt("%s -O0", cmd);
    return ir_fmt("%s%s%s%s", cmd, o->no_simplify ? " --no-simplify" : "", o->no_fuse ? " --no-fuse" : "",
                  o->no_memplan ? " --no-memplan" : "");
}

/* --emit=cuda: the CUDA kernels of every graph. */
static void write_cuda(const Graphs *gs, const Options *o) {
    TgOut out;
    FILE *f = open_output(&out, o->output);
    Graph *train = gs->train >= 0 ? gs->graph[gs->train] : NULL;
    emit_cuda_source(f, gs->graph, gs->plan, gs->staged, gs->nprograms, train,
                     gs->train >= 0 ? gs->plan[gs->train] : NULL, gs->predict >= 0 ? gs->plan[gs->predict] : NULL,
                     ir_fmt("// Generated by tgc %s from %s (%s). Do not edit.\n", TGC_VERSION, ir_base_name(o->input),
                            command_line(o)));
    close_output(&out, o->output);
}

/* Where compile writes OUT.c and OUT.h, or build its temporary C (in a directory of its own,
 * named after the executable: the default prefix of the C identifiers derives from it). */
typedef struct {
    const char *c, *h;     /* the files; c is "-" for stdout */
    bool one_stream;       /* c is stdout, a device or a pipe: the header's text goes first into it */
    const char *hbase;     /* the header's name as the .c includes it */
    const char *prefix;    /* of the generated identifiers */
    const char *dir;       /* build's temporary directory, or NULL */
} Paths;

static Paths output_paths(const Options *o) {
    Paths p = {.c = o->output};
    if (!strcmp(o->cmd, "build")) {
        if (!strcmp(o->output, "-"))
            fail("%s", "build needs a file name for the executable");
        if (o->keep)
            p.c = ir_fmt("%s.c", o->output);
        else {
            char tmpl[] = "/tmp/tgc-XXXXXX";
            if (!mkdtemp(tmpl))
                fail("cannot create a temporary directory: %s", strerror(errno));
            p.dir = ir_strdup(tmpl);
            p.c = ir_fmt("%s/%s.c", p.dir, default_prefix(o->output));
        }
    }
    bool to_stdout = !strcmp(p.c, "-");
    struct stat st; /* -o /dev/null: no /dev/null.h beside it */
    p.one_stream = to_stdout || (stat(p.c, &st) == 0 && (S_ISCHR(st.st_mode) || S_ISFIFO(st.st_mode)));
    p.prefix = o->prefix ? o->prefix : default_prefix(to_stdout ? "out" : p.c);
    size_t clen = strlen(p.c);
    p.h = clen > 2 && !strcmp(p.c + clen - 2, ".c") ? ir_fmt("%.*s.h", (int)(clen - 2), p.c) : ir_fmt("%s.h", p.c);
    /* the .c includes its header by base name: the two are always written side by side */
    p.hbase = p.one_stream ? ir_fmt("%s.h", p.prefix) : strrchr(p.h, '/') ? strrchr(p.h, '/') + 1 : p.h;
    return p;
}


/* The .c and .h (or both into one stream, the header's text first). */
static void write_c(const Graphs *gs, const Options *o, const Paths *p) {
    EmitOptions eo = {.prefix = p->prefix, .source = o->input, .command = command_line(o), .header = p->hbase,
                      .main = !o->no_main, .train = gs->train >= 0 ? gs->graph[gs->train] : NULL, .plans = gs->plan,
                      .train_plan = gs->train >= 0 ? gs->plan[gs->train] : NULL,
                      .predict_plan = gs->predict >= 0 ? gs->plan[gs->predict] : NULL,
                      .backend = o->cuda ? &backend_cuda : &backend_c, .staged = gs->staged,
                      .options = gs->options, .noptions = gs->noptions, .has_options = gs->has_options,
                      .exports = gs->graph + gs->exports, .export_plans = gs->plan + gs->exports,
                      .nexports = gs->nexports};
    TgOut cout, hout;
    FILE *cf = open_output(&cout, p->c);
    FILE *hf = p->one_stream ? cf : open_out(&hout, p->h);
    if (p->one_stream)
        eo.header = NULL; /* one self-contained stream: the header's text, then the source */
    emit_c(cf, hf, gs->graph, gs->nprograms, &eo);
    close_output(&cout, p->c);
    if (!p->one_stream)
        close_out(&hout);
}

/* build: the C compiler on the generated file, with the runtime and OpenMP; returns tgc's exit
 * status. The temporary C is removed even on failure: the compiler's messages have been shown. */
static int cc(const Options *o, const Paths *p) {
    const char *inc = TGC_INSTALL_INCDIR, *lib = TGC_INSTALL_LIBDIR;
    if (in_build_tree()) {
        inc = TGC_BUILD_INCDIR; /* this tgc is the one in the build tree: use the runtime beside it */
        lib = TGC_BUILD_LIBDIR;
    }
    if (o->cuda && !TGC_HAVE_CUDA)
        fail("%s", "this tgc was built without the CUDA runtime (no CUDA headers were found when it was "
                   "built): tgc compile --target cuda still writes the program; link it with libtgrt_cuda "
                   "on a machine that has it");
    /* the kernels are written for the vectorizer: -O3, this machine's widest SIMD, and FMA
     * contraction, which -std=c99 alone turns off in gcc. Libraries come after the source, since
     * linkers resolve left to right, and -lm after -ltgrt, which calls into it. */
    const char *cc = o->cc ? o->cc : getenv("CC") ? getenv("CC") : TGC_CC;
    const char *args[] = {
        cc, "-std=c99", "-O3", "-march=native", "-ffp-contract=fast", TGC_HAVE_OPENMP ? "-fopenmp" : NULL,
        ir_fmt("-I%s", inc), p->c, "-o", o->output, ir_fmt("-L%s", lib),
        o->cuda ? "-ltgrt_cuda" : NULL, o->cuda ? "-ldl" : NULL, "-ltgrt", "-lz", "-lm",
        *TGC_EXTRA_CFLAGS ? TGC_EXTRA_CFLAGS : NULL, /* tgc itself was built with sanitizers, and so was libtgrt */
    };
    int nargs = (int)(sizeof args / sizeof args[0]), n = 0;
    char **argv = ir_alloc(sizeof(char *) * (size_t)(nargs + 1));
    for (int i = 0; i < nargs; i++)
        if (args[i])
            argv[n++] = (char *)args[i];
    int rc = run(argv, o->verbose);
    if (p->dir) {
        remove(p->c);
        remove(p->h);
        rmdir(p->dir);
    }
    if (rc != 0) {
        fprintf(stderr, "tgc: error: the C compiler failed (exit %d) building %s\n", rc, o->output);
        return 1;
    }
    return 0;
}

/*
 * The pipeline. Each stage reports all its errors, then diag_check() stops the run before the
 * next stage trips over the damage and buries them under follow-on errors.
 */
int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "check")) {
        limit_memory(4); /* libclang too: bounded the way the compiler is */
        return check_files(argc - 2, argv + 2);
    }
    Options o = parse_args(argc, argv);
    limit_memory(o.max_memory);

    char *text = read_source(o.input);
    Ast *ast = parse_file(o.input, text);
    diag_check();
    resolve_imports(ast, read_text);
    diag_check();
    refuse_overwriting_sources(&o);
    lower_target_gpu(o.cuda);
    lower_whole_batch(o.emit_cuda);
    Lowered *lw = lower_ast(ast);
    diag_check();
    check_targets(lw, &o);

    Graphs gs = collect_graphs(lw);
    for (int i = 0; i < gs.n; i++)
        if (gs.graph[i])
            gs.graph[i] = optimize(gs.graph[i], &o, &gs.unfused[i]);
    for (int p = 0; p < gs.nprograms; p++)
        if (gs.staged[p])
            plan_staged(gs.staged[p], &o, lw->programs[p].name, &gs.graph[p], &gs.plan[p]);
    if (gs.predict >= 0)
        gs.graph[gs.train]->train->predict = gs.graph[gs.predict];
    /* memory: each program from zero; the step, then predict inside the step's arena */
    for (int i = 0; i < gs.n; i++)
        if (!(i < gs.nprograms && gs.staged[i]))
            gs.plan[i] = i == gs.predict ? pass_memplan(gs.graph[i], !o.no_memplan, gs.graph[gs.train], gs.plan[gs.train])
                                         : pass_memplan(gs.graph[i], !o.no_memplan, NULL, NULL);
    if (o.stats)
        print_stats(&gs, &o);

    if (o.emit_cuda)
        write_cuda(&gs, &o);
    else if (o.emit_ir)
        write_ir(&gs, &o);
    else {
        Paths p = output_paths(&o);
        write_c(&gs, &o, &p);
        if (!strcmp(o.cmd, "build"))
            return cc(&o, &p);
    }
    return 0;
}
