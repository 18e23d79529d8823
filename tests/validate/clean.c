/* No violation: written the way tgc's generated code is, with the things the rules allow. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tgrt.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define NET_ARENA_BYTES 1280

/* A kernel with declared extents; the pragma's loop has enough work to share. */
static void k01_linear_fwd(const float x0[restrict static 32], const float x1[restrict static 64],
                           float out[restrict static 16]) {
    #pragma omp parallel for
    for (int r = 0; r < 8; r++)
        for (int o = 0; o < 2; o++) {
            float acc = 0.0f;
            for (int i = 0; i < 4; i++)
                acc += x0[r * 4 + i] * x1[o * 4 + i];
            out[r * 2 + o] = tanhf(acc) + (float)sqrt(fabs((double)acc));
        }
}

static float k02_mean_fwd(const float *restrict x0) {
    float s = 0.0f;
    for (int i = 0; i < 16; i++)
        s += isnan(x0[i]) ? 0.0f : x0[i];
    return s / 16;
}

/* In place: the shared buffer is one parameter. */
static void k03_sgd_upd(float w[restrict static 64], const float g[restrict static 64]) {
    for (int i = 0; i < 64; i++)
        w[i] -= 0.01f * g[i];
}

static int k04_threads(void) {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

/* Reached through a table of kernels. */
static void k05_zero(float *restrict out) {
    memset(out, 0, 64 * sizeof(float));
}

static void (*const updates[1])(float *restrict) = {k05_zero};

void net_predict(void *arena, const float *x, float *out) {
    unsigned char *mem = arena;
    float *v1 = (float *)(mem + 0);   /* f32[8, 2] */
    float *v2 = (float *)(mem + 64);  /* f32[2, 4] weight, 64 floats reserved */
    k01_linear_fwd(x, v2, v1);
    memcpy(out, v1, 16 * sizeof(float));
}

float net_train_step(void *arena, const float *x) {
    unsigned char *mem = arena;
    float *v1 = (float *)(mem + 0);   /* f32[8, 2] */
    float *v2 = (float *)(mem + 64);  /* f32[2, 4] weight, 64 floats reserved */
    float *v3 = (float *)(mem + 320); /* f32[64] gradient */
    float *v4 = (float *)(mem + 576); /* f32[16] */
    net_predict(arena, x, v4);
    k01_linear_fwd(x, v2, v1);
    updates[0](v3);
    k03_sgd_upd(v2, v3);
    return k02_mean_fwd(v1) * (float)k04_threads();
}

/* Not reachable from the step: the caller's side may allocate and print. */
void net_init(void *arena) {
    memset(arena, 0, NET_ARENA_BYTES);
}

int main(void) {
    void *arena = malloc(NET_ARENA_BYTES);
    float x[32] = {0}, out[16];
    if (!arena)
        return 1;
    net_init(arena);
    net_predict(arena, x, out);
    printf("%g %s\n", (double)net_train_step(arena, x), tg_dtype_torch_name(TG_F32));
    free(arena);
    return 0;
}
