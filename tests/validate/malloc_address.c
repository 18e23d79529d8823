/* One violation: the training step takes malloc's address (a call through the pointer would allocate). */
#include <stdlib.h>

float net_train_step(void *arena) {
    void *(*get)(size_t) = malloc; // expect-error
    float *v1 = arena;
    v1[0] = get ? 1.0f : 0.0f;
    return v1[0];
}
