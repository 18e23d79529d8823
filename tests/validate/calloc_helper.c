/* One violation: a static helper allocates, inside an OpenMP loop. */
#include <stdlib.h>

static void k01_rows_fwd(const float *restrict x0, float *restrict out) {
    #pragma omp parallel for
    for (int r = 0; r < 4; r++) {
        float *row = calloc(8, sizeof(float)); // expect-error
        out[r] = x0[r] + (row ? row[0] : 0.0f);
    }
}

float net_train_step(void *arena, const float *x) {
    float *v1 = arena;
    k01_rows_fwd(x, v1);
    return v1[0];
}
