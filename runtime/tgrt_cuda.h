/*
 * tgrt_cuda.h: the CUDA part of the tgc runtime, linked (with libtgrt) by generated CUDA programs.
 *
 * libtgrt_cuda links neither libcuda nor libnvrtc: it loads both with dlopen when a program first
 * asks for the GPU, so a program starts on any machine and says clearly when there is no driver,
 * no GPU or no NVRTC. Everything runs on one device, one context (the device's primary context) and
 * one stream, from one thread. Setup calls (open, load, alloc) return 0 or -1 with a message in the
 * caller's err buffer, like libtgrt; calls made in the middle of a training step (copies, launches)
 * print "tgc cuda: <what>: <CUDA error name>: <string>" and exit(1), because nothing can recover
 * from a failed launch halfway through a step.
 *
 * Environment: TGC_CUDA_DEVICE (GPU ordinal, default 0), TGC_NVRTC (path of the libnvrtc to use),
 * TGC_CUDA_CACHE (directory of compiled kernels, default $XDG_CACHE_HOME/tgc/cuda or
 * ~/.cache/tgc/cuda; "off" disables it).
 */
#ifndef TGRT_CUDA_H
#define TGRT_CUDA_H

#include <stddef.h>
#include <stdint.h>

typedef struct TgCuda TgCuda;

/*
 * Opens the GPU ($TGC_CUDA_DEVICE, default 0) through the driver, and NVRTC. NULL with a message in
 * err when there is no driver ("no CUDA driver: libcuda.so.1 not found (dlopen: ...)"), no GPU
 * ("no CUDA GPU: ..."), or no NVRTC ("no NVRTC: ..."); rarer ones start "CUDA driver does not
 * start: ...", "GPU too old for NVRTC ..." and so on.
 */
TgCuda *tg_cuda_open(char *err, size_t errlen);
/* Frees every allocation and the kernels, and releases the GPU. NULL is allowed. */
void tg_cuda_close(TgCuda *cu);
/* "NVIDIA H100 80GB HBM3, sm_90, 79.2 GiB, driver 12.4, NVRTC 13.0" */
const char *tg_cuda_describe(const TgCuda *cu);

/*
 * Compiles src with NVRTC for the device (options: -arch=sm_XY --std=c++17 -default-device plus
 * extra_opts, split at spaces, may be NULL), or takes the compiled code from the cache; loads it and
 * finds the nk kernels (extern "C" names); kernel k is then index k in tg_cuda_launch. A second
 * call replaces the kernels of the first; a failed one keeps them. 0, or -1 with err (the NVRTC log
 * in full when compilation fails: give err room for it). Warnings do not fail the load;
 * tg_nvrtc_compile shows them.
 * On a GPU newer than NVRTC knows, it compiles PTX for the newest architecture NVRTC has
 * (-arch=compute_XY) and the driver finishes the job.
 */
int tg_cuda_load(TgCuda *cu, const char *src, const char *extra_opts, const char *const *names, int nk,
                 char *err, size_t errlen);

/* Device and pinned host memory, freed by tg_cuda_close; 0 or -1 with err. */
int tg_cuda_alloc(TgCuda *cu, uint64_t *dptr, size_t bytes, char *err, size_t errlen);
int tg_cuda_alloc_pinned(TgCuda *cu, void **p, size_t bytes, char *err, size_t errlen);

/*
 * These run on the library's one stream, in order. Any failure prints
 * "tgc cuda: <what>: <CUDA error name>: <string>" to stderr and exits with status 1.
 */
/* host -> device; waits for the copy when src is not pinned memory from tg_cuda_alloc_pinned, else
   async (do not touch src until the next tg_cuda_sync or download) */
void tg_cuda_upload(TgCuda *cu, uint64_t dst, const void *src, size_t bytes);
void tg_cuda_download(TgCuda *cu, void *dst, uint64_t src, size_t bytes); /* device -> host, waits */
void tg_cuda_memset(TgCuda *cu, uint64_t dst, size_t bytes);              /* zeroes */
/* grid: blocks, block: threads per block, args: a pointer to each argument (as cuLaunchKernel).
   A grid over 2^31-1 blocks is split as tg_cuda_grid says, so a kernel takes its block as
   blockIdx.y * gridDim.x + blockIdx.x and checks it is < grid. A grid of 0 launches nothing. */
void tg_cuda_launch(TgCuda *cu, int k, uint64_t grid, unsigned block, unsigned shared_bytes, void **args);
void tg_cuda_sync(TgCuda *cu);

/* How tg_cuda_launch lays out `blocks` blocks: gx * gy >= blocks, with gx <= 2^31-1 and only the
   last row partly used. 0, or -1 when blocks is more than CUDA can launch (gy > 65535). */
int tg_cuda_grid(uint64_t blocks, unsigned *gx, unsigned *gy);

/*
 * NVRTC alone, no driver or GPU (for tests): compiles src for arch (e.g. "compute_80" or "sm_90")
 * with the same options as tg_cuda_load. Returns 0 when it compiled, 1 when NVRTC refused the code
 * or an option, -1 when NVRTC could not be loaded or failed on its own (err says why); *log (malloc'd, the caller frees it) gets
 * NVRTC's whole log, warnings included: "" when it is empty, NULL when the result is -1.
 */
int tg_nvrtc_compile(const char *src, const char *arch, const char *extra_opts, char **log, char *err,
                     size_t errlen);

#endif
