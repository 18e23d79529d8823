/*
 * codegen_cuda.h: Graph -> CUDA C++ kernels for NVRTC, and the C host code that launches them
 * (tgc compile --target cuda). The host program is emit_c's; backend_cuda writes where it differs
 * (the kernels, their start and copies, the training step and predict); see emit_cuda.c.
 */
#ifndef TGC_CODEGEN_CUDA_H
#define TGC_CODEGEN_CUDA_H

#include "codegen_c/codegen_c.h"

/* --target cuda: the training step and predict, and a staged program's segments that can, as CUDA
 * kernels, for emit_c (EmitOptions.backend). */
extern const Backend backend_cuda;

/* --emit=cuda: the kernels of every graph (programs, then the training step and predict), named as
 * the C backend names them, after the preamble the embedded source has. Of a staged program
 * (staged[p] not NULL), the segments --target cuda runs on the GPU. */
void emit_cuda_source(FILE *f, Graph **programs, MemPlan **plans, StagedProgram **staged, int nprograms,
                      Graph *train, const MemPlan *train_plan, const MemPlan *predict_plan, const char *banner);

#endif
