/*
 * fuzz_frontend.c: a libFuzzer target for everything tgc does to a .tg file before it writes C.
 *
 * Each input is a .tg source. It goes through the pipeline of tgc's main() with --stats on:
 * parse_file -> lower_ast -> pass_autodiff -> pass_dce -> pass_simplify -> pass_fuse -> pass_memplan
 * -> emit_stats,
 * ir_print and emit_c, the C and the header written to /dev/null. Beyond what tgc does, ir_verify
 * runs after lowering and after every pass whatever the build type, each lowered graph must
 * round-trip through its text form (ir_sprint -> ir_read), and half the inputs run with a pass
 * turned off, or with -O0 (see fuzz_passes).
 *
 * A user error is the expected answer to most inputs: diag_catch turns error_at's exit(1) into a
 * longjmp back here, and the diagnostics go to /dev/null (see fuzz_diag_out). What must never
 * happen is a compiler bug: die() and unreachable() abort (ir/diag.c), a graph that fails ir_verify
 * aborts here, and the sanitizers catch the rest. Every input starts from scratch: the arena is
 * dropped (ir_free_all), diag_nerrors reset, and lower_ast resets the elaborator's own state;
 * diag's table of source files reuses its slots by itself.
 *
 * scripts/fuzz.sh builds this with libFuzzer; tests/fuzz/replay.c is the main() that replays the
 * regression inputs of tests/fuzz/regressions/ through the same function without libFuzzer (the
 * meson test 'fuzz-regressions').
 */
#include "codegen_c/codegen_c.h"
#include "frontend/frontend.h"
#include "passes/passes.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static FILE *devnull;
/* Where diagnostics go: NULL sends them to /dev/null, or to stderr when TGC_FUZZ_VERBOSE=1 (replaying
 * a finding by hand); tests/fuzz/replay.c points it at a buffer to compare with the expected text. */
FILE *fuzz_diag_out;
/* Which passes run: 0 all, 1 none (-O0), 2 all but simplify, 3 all but fuse, 4 all but memplan's
 * reuse. -1 (the fuzzer) picks one from the input; replay.c runs every input under each. */
int fuzz_passes = -1;
/* The input's file, where replay.c replays one: its imports are read beside it (from models.resnet
 * import ResNet). NULL (the fuzzer): "fuzz.tg", whose imports read nothing. */
const char *fuzz_source_path;

static char *read_import(const char *path, const char **why) {
    if (!fuzz_source_path) {
        *why = "the fuzzer reads no files";
        return NULL;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        *why = "cannot open";
        return NULL;
    }
    char *text = NULL;
    size_t cap = 0;
    FILE *m = open_memstream(&text, &cap);
    for (int c; (c = fgetc(f)) != EOF;)
        fputc(c ? c : ' ', m);
    fclose(m);
    fclose(f);
    char *copy = ir_strdup(text);
    free(text);
    return copy;
}

/* The passes that run, as tgc's flags turn them off (see fuzz_passes). */
typedef struct {
    bool simplify, fuse, reuse; /* off: --no-simplify, --no-fuse, --no-memplan (all three: -O0) */
} Passes;

/* A pass left a graph the verifier rejects: a compiler bug, whatever the input. The verifier's
 * messages went to diag_out; repeat them on stderr so the crash report says what broke. */
static void verify(Graph *g, const char *after) {
    if (ir_verify(g))
        return;
    diag_out = stderr;
    ir_verify(g);
    die("graph '%s' fails verification after %s", g->name, after);
}

/* The IR's text form reads back to the same text (ir/read.c): an error in reading it is the
 * printer's or the reader's bug, so it must not pass for a user error. */
static void roundtrip(const Graph *g) {
    char *a = ir_sprint(g);
    jmp_buf here, *outer = diag_catch;
    diag_catch = &here;
    if (setjmp(here)) {
        fprintf(stderr, "%s", a);
        die("the text form of graph '%s' (above) does not read back", g->name);
    }
    Graph *back = ir_read("fuzz.ir", a);
    diag_catch = outer;
    char *b = ir_sprint(back);
    if (strcmp(a, b)) {
        fprintf(stderr, "%s---\n%s", a, b);
        die("graph '%s' does not round-trip through its text form", g->name);
    }
}

/* the passes of tgc.c's main() in order, with --stats: the unfused kernel count before fusion */
static Graph *optimize(Graph *g, Passes p, int *unfused) {
    g = pass_autodiff(g);
    verify(g, "autodiff");
    g = pass_dce(g);
    verify(g, "dce");
    if (p.simplify) {
        g = pass_simplify(g);
        verify(g, "simplify");
    }
    *unfused = emit_count_kernels(g, pass_memplan(g, p.reuse, NULL, NULL));
    if (p.fuse) {
        g = pass_fuse(g);
        verify(g, "fuse");
    }
    return g;
}

/* main() of tgc.c from the parse to the written C; returns early where tgc stops with an error */
static void compile(const char *text, Passes p) {
    Ast *ast = parse_file(fuzz_source_path ? fuzz_source_path : "fuzz.tg", text);
    diag_check();
    resolve_imports(ast, read_import);
    diag_check();
    Lowered *lw = lower_ast(ast);
    diag_check();
    if (lw->nprograms == 0 && !lw->train)
        return; /* "has no program or train block to compile" */
    bool with_main = true;
    if (lw->train) {
        verify(lw->train, "lowering");
        roundtrip(lw->train);
        /* tgc rejects these without --no-main; the training step itself is still compiled as
         * --no-main would, so the rest of the pipeline sees them too */
        const Node *y = NULL;
        for (int i = 0; i < lw->train->nnode; i++)
            if (lw->train->nodes[i].op == OP_INPUT)
                y = &lw->train->nodes[i];
        if (!y)
            die("training step '%s' has no input", lw->train->name); /* tgc.c reads y->dtype */
        if (lw->nprograms || y->dtype != DT_I64)
            with_main = false;
    }
    int n = lw->nprograms;
    Graph **graphs = ir_alloc(sizeof(Graph *) * (size_t)(n + 1));
    int *unfused = ir_alloc(sizeof(int) * (size_t)(n + 1));
    MemPlan **plans = ir_alloc(sizeof(MemPlan *) * (size_t)(n + 1));
    StagedProgram **staged = ir_alloc(sizeof(StagedProgram *) * (size_t)(n + 1));
    for (int i = 0; i < n; i++) {
        if (!lw->programs[i].graph) { /* run-time control flow: segments around a shared layout */
            StagedProgram *sp = staged[i] = ir_alloc(sizeof(StagedProgram));
            sp->nsegs = lw->programs[i].nsegs;
            sp->segs = lw->programs[i].segs;
            sp->host = lw->programs[i].host;
            sp->data = lw->programs[i].data;
            sp->plans = ir_alloc(sizeof(MemPlan *) * (size_t)sp->nsegs);
            for (int k = 0; k < sp->nsegs; k++) {
                verify(sp->segs[k], "lowering");
                roundtrip(sp->segs[k]);
                int unused;
                sp->segs[k] = optimize(sp->segs[k], p, &unused);
            }
            sp->layout = memplan_layout(sp->segs, sp->nsegs, lw->programs[i].name);
            sp->layout_plan = pass_memplan(sp->layout, p.reuse, NULL, NULL);
            graphs[i] = sp->layout;
            plans[i] = sp->layout_plan;
            for (int k = 0; k < sp->nsegs; k++) {
                sp->plans[k] = pass_memplan(sp->segs[k], p.reuse, sp->layout, sp->layout_plan);
                emit_stats(devnull, sp->segs[k], sp->plans[k], -1);
                ir_print(devnull, sp->segs[k]);
                if (sp->plans[k]->total > plans[i]->total)
                    plans[i] = sp->plans[k];
            }
            ir_print_host(devnull, lw->programs[i].name, &sp->host);
            continue;
        }
        verify(lw->programs[i].graph, "lowering");
        roundtrip(lw->programs[i].graph);
        graphs[i] = optimize(lw->programs[i].graph, p, &unfused[i]);
        plans[i] = pass_memplan(graphs[i], p.reuse, NULL, NULL);
        emit_stats(devnull, graphs[i], plans[i], unfused[i]);
        ir_print(devnull, graphs[i]);
    }
    Graph *train = NULL;
    MemPlan *train_plan = NULL, *predict_plan = NULL;
    if (lw->train) {
        int train_unfused, predict_unfused = -1;
        train = optimize(lw->train, p, &train_unfused);
        if (train->train) {
            verify(train->train->predict, "lowering");
            train->train->predict = optimize(train->train->predict, p, &predict_unfused);
        }
        train_plan = pass_memplan(train, p.reuse, NULL, NULL);
        emit_stats(devnull, train, train_plan, train_unfused);
        ir_print(devnull, train);
        if (train->train) {
            predict_plan = pass_memplan(train->train->predict, p.reuse, train, train_plan);
            emit_stats(devnull, train->train->predict, predict_plan, predict_unfused);
        }
    }
    EmitOptions eo = {.prefix = "fuzz", .source = "fuzz.tg", .command = "tgc compile fuzz.tg -o fuzz.c",
                      .header = "fuzz.h", .main = with_main, .train = train, .plans = plans,
                      .train_plan = train_plan, .predict_plan = predict_plan, .staged = staged};
    emit_c(devnull, devnull, graphs, n, &eo);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!devnull && !(devnull = fopen("/dev/null", "w")))
        die("cannot open /dev/null");
    /* tgc reads the file and rejects a NUL byte before the lexer sees it (tgc.c, read_source):
     * the lexer works on C strings */
    if (memchr(data, 0, size))
        return 0;
    char *text = ir_strndup((const char *)data, size);
    const char *verbose = getenv("TGC_FUZZ_VERBOSE");
    diag_out = fuzz_diag_out ? fuzz_diag_out : verbose && *verbose == '1' ? stderr : devnull;
    diag_nerrors = 0;
    jmp_buf catcher;
    diag_catch = &catcher;
    /* Half the inputs get every pass; the others run with -O0 or one pass off, picked by a hash
     * of the input (its top bits, the best mixed), so that a finding replays the same way. */
    int variant = fuzz_passes;
    if (variant < 0) {
        uint32_t h = 2166136261u; /* FNV-1a */
        for (size_t i = 0; i < size; i++)
            h = (h ^ data[i]) * 16777619u;
        variant = h >> 29 < 4 ? (int)(h >> 29) + 1 : 0;
    }
    Passes p = {variant != 1 && variant != 2, variant != 1 && variant != 3, variant != 1 && variant != 4};
    if (verbose && *verbose == '1')
        fprintf(stderr, "passes:%s%s%s\n", p.simplify ? " simplify" : "", p.fuse ? " fuse" : "", p.reuse ? " memplan" : "");
    if (!setjmp(catcher))
        compile(text, p);
    diag_catch = NULL;
    fflush(devnull);
    ir_free_all();
    return 0;
}
