/*
 * step_bench.c: times a generated training step (or predict) on made-up data in memory.
 *
 * Built by bench/run.sh with the C that `tgc compile --no-main --prefix net` wrote for a
 * classifier. Usage: step_bench train|predict SECONDS. Runs a warm-up, then as many steps as
 * fit in SECONDS (at least 20), and prints images per second. The same batch is reused: the
 * kernels' cost does not depend on the values.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "net.h"

#ifndef IN_C
#define IN_C 3
#endif

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc != 3 || (strcmp(argv[1], "train") && strcmp(argv[1], "predict"))) {
        fprintf(stderr, "usage: step_bench train|predict SECONDS\n");
        return 2;
    }
    int train = !strcmp(argv[1], "train");
    double seconds = atof(argv[2]);
    unsigned char *raw = malloc(NET_ARENA_BYTES + 64);
    float *x = malloc(sizeof(float) * NET_BATCH * IN_C * 32 * 32), *logits = malloc(sizeof(float) * NET_BATCH * 10);
    int64_t *y = malloc(sizeof(int64_t) * NET_BATCH);
    if (!raw || !x || !logits || !y)
        return 1;
    unsigned char *arena = raw + (64 - (size_t)((uintptr_t)raw % 64));
    net_init(arena, 1);
    uint64_t s = 88172645463325252ULL;
    for (int64_t i = 0; i < (int64_t)NET_BATCH * IN_C * 32 * 32; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        x[i] = (float)((double)(s >> 11) / 9007199254740992.0 * 2.0 - 1.0);
    }
    for (int i = 0; i < NET_BATCH; i++)
        y[i] = i % 10;
    volatile float sink = 0;
    for (int i = 0; i < 5; i++) /* warm-up: caches, page faults, OpenMP's threads */
        sink += train ? net_train_step(arena, x, y) : (net_predict(arena, x, logits), logits[0]);
    long steps = 0;
    double t0 = now(), t = t0;
    while (steps < 20 || t - t0 < seconds) {
        sink += train ? net_train_step(arena, x, y) : (net_predict(arena, x, logits), logits[0]);
        steps++;
        t = now();
    }
    printf("%.1f\n", (double)steps * NET_BATCH / (t - t0));
    (void)sink;
    free(raw), free(x), free(logits), free(y);
    return 0;
}
