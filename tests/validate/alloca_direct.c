/* One violation: the training step allocates on the stack with alloca. */
#include <alloca.h>

float net_train_step(void *arena, const float *x) {
    (void)arena;
    float *v1 = alloca(4 * sizeof(float)); // expect-error
    v1[0] = x[0];
    return v1[0];
}
