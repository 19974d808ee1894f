/* Peak single-thread FMA rate: many independent vector FMA chains, so the
   FMA units, not latency, bound the loop. Prints GFLOP/s. */
#include <stdio.h>
#include <time.h>

#ifndef VW
#define VW 16
#endif
#define CHAINS 12
typedef float vf __attribute__((vector_size(VW * 4)));

int main(void) {
    vf acc[CHAINS], a = (vf){0} + 1.0000001f, b = (vf){0} + 0.9999999f;
    for (int i = 0; i < CHAINS; i++) acc[i] = (vf){0} + (float)i;
    const long iters = 50000000;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long n = 0; n < iters; n++) {
#pragma GCC unroll 12
        for (int i = 0; i < CHAINS; i++) acc[i] = acc[i] * a + b;
        __asm__ volatile("" : "+x"(a));
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    float sink = 0;
    for (int i = 0; i < CHAINS; i++) sink += acc[i][0];
    printf("%.1f\n", 2.0 * VW * CHAINS * (double)iters / s / 1e9 + (sink == 12345.0f));
    return 0;
}
