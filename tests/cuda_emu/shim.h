/*
 * shim.h: lets g++ compile the CUDA kernels tgc writes, so that tests run them on the CPU on a
 * machine without a GPU (tests/cuda_emu/emu.c). Force-included before the kernel source.
 *
 * Each block runs as one thread (blockDim.x = 1), blocks one after another: the kernels are
 * written for any block size (grid-stride loops, and block sums whose tree follows blockDim.x),
 * so this computes what the GPU computes, summed in a different but fixed order. What it cannot
 * show is a race between threads of a block; the GPU check script (scripts/gpu_check.sh) runs the
 * same programs on a real GPU.
 *
 * No standard header: the kernel source defines int64_t and friends itself, as NVRTC needs.
 */
struct tg_dim3 {
    unsigned x, y, z;
};
static tg_dim3 threadIdx, blockIdx, blockDim = {1, 1, 1}, gridDim = {1, 1, 1};

extern "C" void tg_emu_block(unsigned block, unsigned grid) {
    blockIdx.x = block;
    gridDim.x = grid;
}

#define __global__
#define __device__
#define __shared__ static
#define __restrict__ __restrict
#define __forceinline__ inline
static inline void __syncthreads(void) {}
static inline float __int_as_float(int i) {
    float f;
    __builtin_memcpy(&f, &i, sizeof f);
    return f;
}

static inline float __uint_as_float(unsigned u) {
    float f;
    __builtin_memcpy(&f, &u, sizeof f);
    return f;
}
static inline double __longlong_as_double(long long u) {
    double f;
    __builtin_memcpy(&f, &u, sizeof f);
    return f;
}

extern "C" {
float expf(float);
float logf(float);
float sqrtf(float);
float fabsf(float);
float tanhf(float);
float powf(float, float);
double exp(double);
double log(double);
double sqrt(double);
double fabs(double);
double tanh(double);
double pow(double, double);
float fmodf(float, float);
float floorf(float);
float copysignf(float, float);
double fmod(double, double);
double floor(double);
double copysign(double, double);
}
