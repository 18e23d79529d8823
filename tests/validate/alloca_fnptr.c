/* One violation: a helper called through a function pointer allocates on the stack with alloca. */
#include <alloca.h>

static float k01_sum_fwd(const float *restrict x0) {
    float *t = alloca(4 * sizeof(float)); // expect-error
    t[0] = 0.0f;
    for (int i = 0; i < 4; i++)
        t[0] += x0[i];
    return t[0];
}

float net_train_step(void *arena, const float *x) {
    (void)arena;
    float (*sum)(const float *restrict) = &k01_sum_fwd;
    return sum(x);
}
