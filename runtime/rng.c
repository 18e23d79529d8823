/*
 * rng.c: random numbers bit-compatible with PyTorch 1.13's CPU generator.
 *
 * torch.manual_seed(s) seeds a 32-bit Mersenne Twister (mt19937) with the low
 * 32 bits of s; every distribution then consumes its words in a fixed order.
 * We replay that order and, just as important, torch's floating-point
 * arithmetic: which operations run in float and which in double, where its
 * compiler fused a multiply and an add into one FMA, and which math library
 * computes log/sin/cos. The tensor-level algorithms follow ATen's CPU kernels
 * (aten/src/ATen/native/cpu/DistributionTemplates.h, DistributionKernels.cpp):
 *
 *   uniform_(from, to)  one word per float (24 bits), two per double (53
 *                       bits), scaled in the tensor's own precision;
 *   normal_(mean, std)  n >= 16 contiguous: fill the tensor with uniforms,
 *                       then Box-Muller 16 at a time (u[j], u[j+8] -> out[j],
 *                       out[j+8]); a tail that is not a multiple of 16 redraws
 *                       the last 16 slots and transforms them again;
 *                       n < 16: scalar Box-Muller in double, one value per
 *                       element, the pair's second value cached in the
 *                       generator for the next scalar draw.
 *
 * torch picks its kernels by CPU capability when it starts. On x86-64 with
 * AVX2 and FMA it runs the AVX2 ones (on AVX-512 machines too: normal_ is
 * never dispatched to AVX-512, and the AVX-512 uniform_ rounds like the AVX2
 * one). Their float normal fill evaluates log and sincos with avx_mathfun.h's
 * cephes polynomials, which we replay lane by lane, and GCC built them with
 * -mfma, contracting a*b+c into FMAs that we reproduce with fma()/fmaf().
 * Under ATEN_CPU_CAPABILITY=default (or on a CPU without AVX2) torch runs its
 * portable kernels instead: libm logf/sinf/cosf, no FMA. We read the same
 * variable, so a program and torch started with it agree.
 *
 * Products that torch does not fuse must not be fused here either: C99 lets a
 * compiler contract a*b+c, so each such product gets its own statement (clang
 * contracts only within one expression) and GNU-mode GCC is told not to.
 * -ffast-math or clang's -ffp-contract=fast would undo that: never build the
 * runtime with them. libm must be the one torch uses (glibc on Linux): double
 * log/sin/cos and, for the portable kernels, logf/sinf/cosf come from it.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tgrt.h"

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__) && !defined(__STRICT_ANSI__)
/* -std=c99 already implies -ffp-contract=off; -std=gnu99 does not. */
#pragma GCC optimize("fp-contract=off")
#endif

/* ---- mt19937 ---------------------------------------------------------- */

enum { MT_N = 624, MT_M = 397 };

void tg_rng_seed(TgRng *r, uint64_t seed) {
    /* at::mt19937 keeps the 64-bit seed for initial_seed() but seeds the
     * state from its low 32 bits (init_genrand). */
    r->state[0] = (uint32_t)seed;
    for (int i = 1; i < MT_N; i++) {
        uint32_t prev = r->state[i - 1];
        r->state[i] = 1812433253u * (prev ^ (prev >> 30)) + (uint32_t)i;
    }
    r->next = MT_N; /* the first draw twists the whole state, as torch's does */
    r->has_normal = 0;
    r->normal = 0.0;
}

/* Regenerates all 624 words (the standard mt19937 recurrence). */
static void mt_twist(uint32_t *s) {
    for (int i = 0; i < MT_N; i++) {
        uint32_t y = (s[i] & 0x80000000u) | (s[(i + 1) % MT_N] & 0x7fffffffu);
        s[i] = s[(i + MT_M) % MT_N] ^ (y >> 1) ^ ((y & 1u) ? 0x9908b0dfu : 0u);
    }
}

uint32_t tg_rng_u32(TgRng *r) {
    if (r->next >= MT_N) {
        mt_twist(r->state);
        r->next = 0;
    }
    uint32_t y = r->state[r->next++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= y >> 18;
    return y;
}

uint64_t tg_rng_u64(TgRng *r) {
    /* make64BitsFrom32Bits(hi, lo): the first draw is the high half. */
    uint64_t hi = tg_rng_u32(r);
    uint64_t lo = tg_rng_u32(r);
    return (hi << 32) | lo;
}

/* ---- which of torch's kernels we mirror -------------------------------- */

/* 1 when torch would run its AVX2 kernels (its choice on x86-64 machines
 * with AVX2), 0 for ATEN_CPU_CAPABILITY=default (the portable kernels).
 * torch reads the variable once per process; we read it per call (cheap),
 * which lets a test switch between the two. */
static int torch_avx2(void) {
    const char *cap = getenv("ATEN_CPU_CAPABILITY");
    return !(cap && strcmp(cap, "default") == 0);
}

/* The 24 (53) random mantissa bits of one draw, as a value in [0, 1):
 * transformation::uniform_real before its from/to scaling. The mask and the
 * multiply are both exact. */
static float unit_f32(TgRng *r) {
    return (float)(tg_rng_u32(r) & 0xffffffu) * 0x1p-24f;
}

static double unit_f64(TgRng *r) {
    return (double)(tg_rng_u64(r) & 0x1fffffffffffffull) * 0x1p-53;
}

/* ---- uniform_ ----------------------------------------------------------- */

void tg_uniform(TgRng *r, TgDType dt, void *out, int64_t n, double from, double to) {
    int fused = torch_avx2();
    if (dt == TG_F32) {
        /* uniform_kernel casts from/to to the tensor's type first, then
         * computes x * (to - from) + from in float (DistAccumType<float> is
         * float); in the AVX2 build that expression became one FMA. */
        float *o = out;
        float lo = (float)from, hi = (float)to;
        float range = hi - lo;
        for (int64_t i = 0; i < n; i++) {
            float x = unit_f32(r);
            if (fused) {
                o[i] = fmaf(x, range, lo);
            } else {
                float scaled = x * range;
                o[i] = scaled + lo;
            }
        }
    } else if (dt == TG_F64) {
        double *o = out;
        double range = to - from;
        for (int64_t i = 0; i < n; i++) {
            double x = unit_f64(r);
            if (fused) {
                o[i] = fma(x, range, from);
            } else {
                double scaled = x * range;
                o[i] = scaled + from;
            }
        }
    }
}

/* ---- bernoulli_ ---------------------------------------------------------- */

/* Tensor.bernoulli_(p) on the CPU without MKL (templates::cpu::bernoulli_kernel): one
 * bernoulli_distribution<double> per element, in order, each uniform_real_distribution<double>'s
 * 53-bit draw compared with p. F.dropout's mask is this with p = 1 - dropout's p. */
void tg_bernoulli(TgRng *r, TgDType dt, void *out, int64_t n, double p) {
    for (int64_t i = 0; i < n; i++) {
        int hit = unit_f64(r) < p;
        switch (dt) {
        case TG_F32: ((float *)out)[i] = (float)hit; break;
        case TG_F64: ((double *)out)[i] = (double)hit; break;
        case TG_I32: ((int32_t *)out)[i] = hit; break;
        case TG_I64: ((int64_t *)out)[i] = hit; break;
        default: ((unsigned char *)out)[i] = (unsigned char)hit; break;
        }
    }
}

/* ---- random_(from, to) -------------------------------------------------- */

/* uniform_int_from_to_distribution: (draw % range) + base, the draw 32 bits for a range below
 * 2^32 and 64 bits from there (for int64, double and float tensors). */
void tg_randint(TgRng *r, TgDType dt, void *out, int64_t n, int64_t low, int64_t high) {
    uint64_t range = (uint64_t)high - (uint64_t)low;
    int wide = range >= (1ull << 32) && (dt == TG_I64 || dt == TG_F64 || dt == TG_F32);
    for (int64_t i = 0; i < n; i++) {
        uint64_t draw = wide ? tg_rng_u64(r) : tg_rng_u32(r);
        int64_t v = (int64_t)(draw % range + (uint64_t)low);
        switch (dt) {
        case TG_F32: ((float *)out)[i] = (float)v; break;
        case TG_F64: ((double *)out)[i] = (double)v; break;
        case TG_I32: ((int32_t *)out)[i] = (int32_t)v; break;
        case TG_I64: ((int64_t *)out)[i] = v; break;
        default: ((unsigned char *)out)[i] = (unsigned char)v; break;
        }
    }
}

/* ---- avx_mathfun.h, one lane at a time ---------------------------------- */

/*
 * These replay log256_ps and sincos256_ps (cephes single-precision
 * polynomials) exactly as GCC 12 compiled them with -mavx2 -mfma: the
 * intrinsics are plain vector + and *, so every product whose only use is an
 * add became an FMA. Where the fusion does not change the result (products
 * by 0.5 or by short constants like 0.693359375) we still write what the
 * compiler emitted, so the code can be checked against it line by line (it
 * was, against the normal_fill_AVX2 loop in Debian's libtorch_cpu.so 1.13.1).
 */

static uint32_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float bits_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static float avx_logf(float x) {
    if (x <= 0.0f) return bits_f32(0xffffffffu); /* or'ed with the invalid mask */
    if (x < 0x1p-126f) x = 0x1p-126f;            /* max with min_norm_pos */
    uint32_t bits = f32_bits(x);
    int32_t exponent = (int32_t)(bits >> 23) - 0x7f;
    x = bits_f32((bits & ~0x7f800000u) | f32_bits(0.5f)); /* mantissa in [0.5, 1) */
    float e = (float)exponent + 1.0f;
    /* if x < sqrt(1/2): e -= 1, x = x + x - 1, else x = x - 1 (branch-free) */
    int small = x < 0.707106781186547524f;
    float tmp = small ? x : 0.0f;
    x = x - 1.0f;
    e = e - (small ? 1.0f : 0.0f);
    x = x + tmp;
    float z = x * x;
    float y = fmaf(7.0376836292E-2f, x, -1.1514610310E-1f);
    y = fmaf(y, x, 1.1676998740E-1f);
    y = fmaf(y, x, -1.2420140846E-1f);
    y = fmaf(y, x, 1.4249322787E-1f);
    y = fmaf(y, x, -1.6668057665E-1f);
    y = fmaf(y, x, 2.0000714765E-1f);
    y = fmaf(y, x, -2.4999993993E-1f);
    y = fmaf(y, x, 3.3333331174E-1f);
    y = y * x;
    float eq1 = e * -2.12194440e-4f;
    y = fmaf(y, z, eq1);
    y = fmaf(-z, 0.5f, y);
    x = x + y;
    return fmaf(e, 0.693359375f, x);
}

static void avx_sincosf(float x, float *s, float *c) {
    uint32_t sign_sin = f32_bits(x) & 0x80000000u;
    x = fabsf(x);
    float y = x * 1.27323954473516f; /* 4 / pi */
    int32_t j = (int32_t)y;          /* cvttps: truncation */
    j = (j + 1) & ~1;
    y = (float)j;
    uint32_t swap_sin = ((uint32_t)j & 4u) << 29;
    int poly_sin = (j & 2) == 0; /* lanes where sin uses the sine polynomial */
    /* extended-precision reduction x - y*pi/4 in three pieces */
    x = fmaf(y, -0.78515625f, x);
    x = fmaf(y, -2.4187564849853515625e-4f, x);
    x = fmaf(y, -3.77489497744594108e-8f, x);
    uint32_t sign_cos = (~(uint32_t)(j - 2) & 4u) << 29;
    sign_sin ^= swap_sin;

    float z = x * x;
    float yc = fmaf(2.443315711809948E-005f, z, -1.388731625493765E-003f);
    yc = fmaf(yc, z, 4.166664568298827E-002f);
    yc = yc * z;
    float half_z = z * 0.5f;
    yc = fmaf(yc, z, -half_z);
    yc = yc + 1.0f;

    float ys = fmaf(-1.9515295891E-4f, z, 8.3321608736E-3f);
    ys = fmaf(ys, z, -1.6666654611E-1f);
    ys = ys * z;
    ys = fmaf(ys, x, x);

    /* select: ysin2 = mask & ys, ysin1 = ~mask & yc, the rest goes to cos */
    float ysin2 = poly_sin ? ys : 0.0f;
    float ysin1 = poly_sin ? 0.0f : yc;
    ys = ys - ysin2;
    yc = yc - ysin1;
    *s = bits_f32(f32_bits(ysin1 + ysin2) ^ sign_sin);
    *c = bits_f32(f32_bits(yc + ys) ^ sign_cos);
}

/* ---- normal_ ------------------------------------------------------------- */

/* normal_fill_16_AVX2: lanes j and j+8 of a 16-value block become a pair. */
static void normal16_avx2(float *d, float mean, float std) {
    const float two_pi = (float)(2.0 * 3.14159265358979323846);
    for (int j = 0; j < 8; j++) {
        float u1 = 1.0f - d[j]; /* [0, 1) -> (0, 1] for log */
        float u2 = d[j + 8];
        float radius = sqrtf(-2.0f * avx_logf(u1));
        float theta = two_pi * u2;
        float st, ct;
        avx_sincosf(theta, &st, &ct);
        float n1 = radius * ct;
        float n2 = radius * st;
        d[j] = fmaf(n1, std, mean);
        d[j + 8] = fmaf(n2, std, mean);
    }
}

/* normal_fill_16<float> as the portable build compiled it: libm, no FMA.
 * theta is computed in double (2.0f * pi<double> * u2) and then rounded. */
static void normal16_f32(float *d, float mean, float std) {
    for (int j = 0; j < 8; j++) {
        float u1 = 1.0f - d[j];
        float u2 = d[j + 8];
        float radius = sqrtf(-2.0f * logf(u1));
        float theta = (float)(2.0 * 3.14159265358979323846 * (double)u2);
        float a = radius * cosf(theta);
        float b = radius * sinf(theta);
        float as = a * std;
        float bs = b * std;
        d[j] = as + mean;
        d[j + 8] = bs + mean;
    }
}

/* normal_fill_16<double>; in the AVX2 build radius*cos*std + mean became
 * fma(radius*cos, std, mean). */
static void normal16_f64(double *d, double mean, double std, int fused) {
    for (int j = 0; j < 8; j++) {
        double u1 = 1.0 - d[j];
        double u2 = d[j + 8];
        double radius = sqrt(-2.0 * log(u1));
        double theta = 2.0 * 3.14159265358979323846 * u2;
        double a = radius * cos(theta);
        double b = radius * sin(theta);
        if (fused) {
            d[j] = fma(a, std, mean);
            d[j + 8] = fma(b, std, mean);
        } else {
            double as = a * std;
            double bs = b * std;
            d[j] = as + mean;
            d[j + 8] = bs + mean;
        }
    }
}

/*
 * at::normal_distribution<double>: Box-Muller on two 53-bit uniforms. The
 * cosine half is returned, the sine half cached in the generator until the
 * next scalar draw (manual_seed clears it; the vectorised fill ignores it).
 * 1.13 takes log(1 - u2); later versions' log1p(-u2) differs in the last bit.
 * The cached value is the raw sample, scaled by the mean/std of the call that
 * uses it. In the AVX2 build v * std + mean is one FMA.
 */
static double normal_scalar(TgRng *r, double mean, double std, int fused) {
    double v;
    if (r->has_normal) {
        r->has_normal = 0;
        v = r->normal;
    } else {
        double u1 = unit_f64(r);
        double u2 = unit_f64(r);
        double radius = sqrt(-2.0 * log(1.0 - u2));
        double theta = 2.0 * 3.14159265358979323846 * u1;
        r->normal = radius * sin(theta);
        r->has_normal = 1;
        v = radius * cos(theta);
    }
    if (fused) return fma(v, std, mean);
    double vs = v * std;
    return vs + mean;
}

void tg_normal(TgRng *r, TgDType dt, void *out, int64_t n, double mean, double std) {
    int avx2 = torch_avx2();
    if (dt != TG_F32 && dt != TG_F64) return;
    if (n < 16) {
        for (int64_t i = 0; i < n; i++) {
            double v = normal_scalar(r, mean, std, avx2);
            if (dt == TG_F32) ((float *)out)[i] = (float)v;
            else ((double *)out)[i] = v;
        }
        return;
    }
    /* Fill everything with uniforms first, transform whole blocks, then
     * redraw and transform the last 16 slots if n % 16 != 0: those slots
     * overlap the last full block, whose values are simply overwritten. */
    if (dt == TG_F32) {
        float *o = out, m = (float)mean, s = (float)std;
        for (int64_t i = 0; i < n; i++) o[i] = unit_f32(r);
        for (int64_t i = 0; i + 16 <= n; i += 16) {
            if (avx2) normal16_avx2(o + i, m, s);
            else normal16_f32(o + i, m, s);
        }
        if (n % 16 != 0) {
            float *t = o + n - 16;
            for (int i = 0; i < 16; i++) t[i] = unit_f32(r);
            if (avx2) normal16_avx2(t, m, s);
            else normal16_f32(t, m, s);
        }
    } else {
        double *o = out;
        for (int64_t i = 0; i < n; i++) o[i] = unit_f64(r);
        for (int64_t i = 0; i + 16 <= n; i += 16) normal16_f64(o + i, mean, std, avx2);
        if (n % 16 != 0) {
            double *t = o + n - 16;
            for (int i = 0; i < 16; i++) t[i] = unit_f64(r);
            normal16_f64(t, mean, std, avx2);
        }
    }
}
