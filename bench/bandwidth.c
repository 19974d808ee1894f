/* Memory bandwidth of one thread, STREAM's triad a[i] = b[i] + s·c[i] on
   arrays far larger than the caches (64 MiB each). Prints GB/s counting
   three floats moved per element, the best of 10 passes: other work on the
   machine only lowers a pass. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(void) {
    const size_t n = (size_t)16 << 20;  /* floats per array */
    float *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b), *c = malloc(n * sizeof *c);
    if (!a || !b || !c) return 1;
    for (size_t i = 0; i < n; i++) a[i] = 0.0f, b[i] = 1.0f, c[i] = 2.0f;
    double best = 1e30;
    for (int pass = 0; pass < 10; pass++) {
        const float s = 0.5f + (float)pass;
        const double t0 = now();
        for (size_t i = 0; i < n; i++) a[i] = b[i] + s * c[i];
        const double t = now() - t0;
        if (t < best) best = t;
        __asm__ volatile("" : : "r"(a) : "memory");
    }
    printf("%.1f\n", 3.0 * sizeof(float) * (double)n / best / 1e9 + (a[n / 2] == 12345.0f));
    free(a); free(b); free(c);
    return 0;
}
