/* One violation: a static helper of the training step allocates. */
#include <stdlib.h>

static void k01_scale_fwd(const float *restrict x0, float *restrict out) {
    float *scale = malloc(sizeof(float)); // expect-error
    for (int i = 0; i < 4; i++)
        out[i] = x0[i] * (scale ? 2.0f : 1.0f);
}

float net_train_step(void *arena, const float *x) {
    float *v1 = arena;
    k01_scale_fwd(x, v1);
    return v1[0];
}
