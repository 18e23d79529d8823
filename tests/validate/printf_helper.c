/* One violation: a static helper of the training step prints. */
#include <stdio.h>

static void k01_log(const float *restrict loss) {
    printf("loss %g\n", (double)loss[0]); // expect-error
}

float net_train_step(void *arena, const float *x) {
    float *v1 = arena;
    v1[0] = x[0] * x[0];
    k01_log(v1);
    return v1[0];
}
