/*
 * codegen_c.h: Graph -> C99 (+ OpenMP) source a person can read.
 */
#ifndef TGC_CODEGEN_C_H
#define TGC_CODEGEN_C_H

#include "ir/ir.h"
#include "passes/passes.h"

/* Where a train block's step and predict run: backend_c (here), or backend_cuda (codegen_cuda.h).
 * The type is codegen_c/frame.h's. */
typedef struct Backend Backend;
extern const Backend backend_c;

/* A program with run-time control flow (ir.h): its segments, run by its host code, and the
 * persistent region they share. */
typedef struct {
    Graph **segs;
    MemPlan **plans;       /* each segment's, with the layout's as the shared plan */
    int nsegs;
    HostBlock host;
    HostData data;         /* datasets and DataLoader iterators the host code uses */
    Graph *layout;         /* one param node per slot (memplan_layout) */
    MemPlan *layout_plan;
} StagedProgram;

typedef struct {
    const char *prefix;    /* identifier prefix: "lenet" -> lenet_run, LENET_ARENA_BYTES */
    const char *source;    /* .tg path, for the banner */
    const char *command;   /* command line, for the banner */
    const char *header;    /* file name of the header the .c includes ("lenet.h"); NULL: the
                              header goes first into the same file (c == h) */
    bool main;             /* emit a main() that runs every program */
    const Backend *backend; /* where the training step and predict run (--target); NULL: backend_c */
    Graph *train;          /* a train block's step graph (init, train_step, the tensor table), or NULL */
    MemPlan **plans;       /* each program's memory plan (pass_memplan); a staged one's: its arena size */
    StagedProgram **staged; /* per program: NULL, or its segments (then programs[p] is its layout) */
    const MemPlan *train_plan, *predict_plan; /* the step's and its predict graph's */
    const HostOption *options; /* the program's options: PREFIX_options, set by main from argv */
    int noptions;
    bool has_options;          /* options(...) was called: main reads argv (--help) even with none */
    Graph **exports;           /* each export def's graph: a C function, its init and tensor table */
    MemPlan **export_plans;
    int nexports;
} EmitOptions;

/* Writes the .c and .h for a list of program graphs (run in order by main) and a training step. */
void emit_c(FILE *c, FILE *h, Graph **programs, int nprograms, const EmitOptions *opt);

/* The --stats report of a graph as planned: its kernels (fused ops, FLOPs, bytes moved), the
 * memory regions, and every buffer's offset and lifetime. unfused: the kernel count the same
 * graph has with fusion off (-1: unknown). */
void emit_stats(FILE *f, Graph *g, const MemPlan *m, int unfused);
/* How many kernel functions g's code has under plan m. */
int emit_count_kernels(Graph *g, const MemPlan *m);

/* tgc check (validate.c): parses a generated .c with libclang and proves its promises for all
 * that *_train_step and *_predict reach: no allocation, I/O or calls outside the file but libm,
 * mem* and omp_get_*; no recursion, no VLA; static kernels with restrict pointers that never
 * alias at a call. Writes clang's diagnostics and each violation to report, compiler-style;
 * returns how many, or -1 (with a message) when tgc was built without libclang. */
int validate_c(const char *path, FILE *report);

#endif
