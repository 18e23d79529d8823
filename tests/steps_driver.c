/*
 * steps_driver.c: runs a generated training step on made-up batches and prints every loss.
 *
 * Built by test_optimize.c with the C that `tgc compile --no-main --prefix net` wrote for a
 * classifier (x float, y int64 class indices): net_init with seed 1, then STEPS steps, each on a
 * batch from a fixed xorshift stream, printing each loss exactly (%a). Builds of the same .tg
 * with different passes must print the same lines. With -DPARAMS it then prints each float
 * tensor's name, sum and sum of magnitudes; a --target cuda step brings them back from the
 * GPU first.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "net.h"

#ifndef STEPS
#define STEPS 200
#endif

/* exact (%a) unless -DDECIMAL, for awk in scripts/gpu_check.sh */
#ifdef DECIMAL
#define NUM "%.17g"
#else
#define NUM "%a"
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
        printf(NUM "\n", (double)net_train_step(arena, x, y));
    }
#ifdef NET_TARGET_CUDA
    net_cuda_pull(arena);
#endif
#ifdef PARAMS
    for (int i = 0; i < net_ntensors; i++) {
        if (net_tensors[i].dtype != TG_F32)
            continue;
        int64_t n = 1;
        for (int k = 0; k < net_tensors[i].rank; k++)
            n *= net_tensors[i].shape[k];
        const float *v = (const float *)(arena + net_tensors[i].offset);
        double sum = 0, mag = 0;
        for (int64_t k = 0; k < n; k++) {
            sum += v[k];
            mag += v[k] < 0 ? -v[k] : v[k];
        }
        printf("%s " NUM " " NUM "\n", net_tensors[i].name, sum, mag);
    }
#endif
    free(raw);
    return 0;
}
