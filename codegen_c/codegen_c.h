/*
 * codegen_c.h: Graph -> C99 (+ OpenMP) source a person can read.
 */
#ifndef TGC_CODEGEN_C_H
#define TGC_CODEGEN_C_H

#include "ir/ir.h"

typedef struct {
    const char *prefix;    /* identifier prefix: "lenet" -> lenet_run, LENET_ARENA_BYTES */
    const char *source;    /* .tg path, for the banner */
    const char *command;   /* command line, for the banner */
    const char *header;    /* file name of the header the .c includes ("lenet.h"); NULL: the
                              header goes first into the same file (c == h) */
    bool main;             /* emit a main() that runs every program */
    Graph *train;          /* a train block's step graph (init, train_step, the tensor table), or NULL */
} EmitOptions;

/* Writes the .c and .h for a list of program graphs (run in order by main) and a training step. */
void emit_c(FILE *c, FILE *h, Graph **programs, int nprograms, const EmitOptions *opt);

#endif
