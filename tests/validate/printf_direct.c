/* One violation: predict prints. */
#include <stdio.h>

void net_predict(void *arena, const float *x, float *out) {
    (void)arena;
    out[0] = x[0];
    printf("predicted %g\n", (double)out[0]); // expect-error
}
