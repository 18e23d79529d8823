/* One violation: a kernel declares a variable-length array. */
#include <math.h>

static void k01_softmax_fwd(const float *restrict x0, float *restrict out, int n) {
    float e[n]; // expect-error
    float sum = 0.0f;
    for (int i = 0; i < n; i++)
        sum += e[i] = expf(x0[i]);
    for (int i = 0; i < n; i++)
        out[i] = e[i] / sum;
}

float net_train_step(void *arena, const float *x) {
    float *v1 = arena;
    k01_softmax_fwd(x, v1, 10);
    return v1[0];
}
