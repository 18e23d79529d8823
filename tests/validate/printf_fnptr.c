/* One violation: a helper reached only through a function pointer prints. */
#include <stdio.h>

static void k01_log(const float *restrict loss) {
    printf("loss %g\n", (double)loss[0]); // expect-error
}

static void k02_call(void (*hook)(const float *restrict), const float *restrict loss) {
    hook(loss);
}

float net_train_step(void *arena, const float *x) {
    float *v1 = arena;
    v1[0] = x[0] * x[0];
    k02_call(k01_log, v1);
    return v1[0];
}
