/*
 * peak.c: this machine's floating-point peak, measured: independent multiply-adds on float
 * vectors, as many chains as hide the FMA latency, on every OpenMP thread. Prints GFLOP/s
 * (a multiply-add counts two). Built with the same flags as the generated trainers.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <time.h>

#define CHAINS 12
#define LANES 8

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(void) {
    const long iters = 20000000;
    double t0 = now(), total = 0;
    #pragma omp parallel reduction(+ : total)
    {
        float acc[CHAINS][LANES], m[LANES], a[LANES];
        for (int l = 0; l < LANES; l++)
            m[l] = 0.999999f, a[l] = 1e-7f * (float)(l + 1);
        for (int c = 0; c < CHAINS; c++)
            for (int l = 0; l < LANES; l++)
                acc[c][l] = (float)c;
        for (long i = 0; i < iters; i++)
            for (int c = 0; c < CHAINS; c++)
                #pragma omp simd
                for (int l = 0; l < LANES; l++)
                    acc[c][l] = acc[c][l] * m[l] + a[l];
        float s = 0;
        for (int c = 0; c < CHAINS; c++)
            for (int l = 0; l < LANES; l++)
                s += acc[c][l];
        total += s > 1e30f ? 1 : 0; /* keeps the loop alive */
        total += 2.0 * CHAINS * LANES * (double)iters;
    }
    printf("%.1f\n", total / (now() - t0) / 1e9);
    return 0;
}
