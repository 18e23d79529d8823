/* One violation: a helper the training step calls through a function pointer allocates. */
#include <stdlib.h>

static void k01_fill(float *restrict out) {
    float *t = malloc(4 * sizeof *t); // expect-error
    out[0] = t ? 1.0f : 0.0f;
}

float net_train_step(void *arena) {
    float *v1 = arena;
    void (*kernel)(float *restrict) = k01_fill;
    kernel(v1);
    return v1[0];
}
