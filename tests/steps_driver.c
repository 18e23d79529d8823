/*
 * steps_driver.c: runs a generated training step on made-up batches and prints every loss.
 *
 * Built by test_optimize.c with the C that `tgc compile --no-main --prefix net` wrote for a
 * classifier (x float, y int64 class indices): net_init with seed 1, then STEPS steps, each on a
 * batch from a fixed xorshift stream, printing each loss exactly (%a). Builds of the same .tg
 * with different passes must print the same lines.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "net.h"

#ifndef STEPS
#define STEPS 200
#endif

static uint64_t state = 88172645463325252ULL;

static uint64_t next(void) {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
}

int main(void) {
    unsigned char *raw = malloc(NET_ARENA_BYTES + 64);
    if (!raw)
        return 1;
    unsigned char *arena = raw + (64 - (size_t)((uintptr_t)raw % 64));
    net_init(arena, 1);
    int64_t nx = 0;
    for (int i = 0; i < net_ntensors; i++) /* the input's size: batch x the first layer's input */
        if (net_tensors[i].rank == 4 && nx == 0)
            nx = NET_BATCH * net_tensors[i].shape[1] * 32 * 32;
    static float x[NET_BATCH * 3 * 32 * 32];
    int64_t y[NET_BATCH];
    if (nx > (int64_t)(sizeof x / sizeof x[0]))
        return 1;
    for (int step = 0; step < STEPS; step++) {
        for (int64_t i = 0; i < nx; i++)
            x[i] = (float)((double)(next() >> 11) / 9007199254740992.0 * 2.0 - 1.0);
        for (int i = 0; i < NET_BATCH; i++)
            y[i] = (int64_t)(next() % 10);
        printf("%a\n", (double)net_train_step(arena, x, y));
    }
    free(raw);
    return 0;
}
