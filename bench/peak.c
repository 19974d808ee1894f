/* Peak single-thread FMA rate: many independent vector FMA chains, so the
   FMA units, not latency, bound the loop. Prints GFLOP/s: the best of many
   short chunks, so that other work on the machine (which preempts a long
   loop) lowers the result as little as possible. */
#include <stdio.h>
#include <time.h>

#ifndef VW
#define VW 16
#endif
#define CHAINS 12
typedef float vf __attribute__((vector_size(VW * 4)));

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(void) {
    vf acc[CHAINS], a = (vf){0} + 1.0000001f, b = (vf){0} + 0.9999999f;
    for (int i = 0; i < CHAINS; i++) acc[i] = (vf){0} + (float)i;
    const long iters = 100000;  /* about 0.1 to 0.5 ms per chunk */
    double best = 1e30;
    for (int chunk = 0; chunk < 1000; chunk++) {
        const double t0 = now();
        for (long n = 0; n < iters; n++) {
#pragma GCC unroll 12
            for (int i = 0; i < CHAINS; i++) acc[i] = acc[i] * a + b;
            __asm__ volatile("" : "+x"(a));
        }
        const double s = now() - t0;
        if (s < best) best = s;
    }
    float sink = 0;
    for (int i = 0; i < CHAINS; i++) sink += acc[i][0];
    printf("%.1f\n", 2.0 * VW * CHAINS * (double)iters / best / 1e9 + (sink == 12345.0f));
    return 0;
}
