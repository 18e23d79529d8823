/* One violation: predict allocates. */
#include <stdlib.h>

void net_predict(void *arena, const float *x, float *out) {
    (void)arena;
    float *v1 = calloc(4, sizeof(float)); // expect-error
    out[0] = x[0] + (v1 ? v1[0] : 0.0f);
}
