/* One violation: a kernel in a table of function pointers allocates. */
#include <stdlib.h>

static void k01_zero(float *restrict out) {
    for (int i = 0; i < 4; i++)
        out[i] = 0.0f;
}

static void k02_ones(float *restrict out) {
    float *t = calloc(4, sizeof *t); // expect-error
    for (int i = 0; i < 4; i++)
        out[i] = t ? 1.0f : 0.0f;
}

static void (*const kernels[2])(float *restrict) = {k01_zero, k02_ones};

float net_train_step(void *arena) {
    float *v1 = arena;
    for (int i = 0; i < 2; i++)
        kernels[i](v1);
    return v1[0];
}
