/* deploy_app.c: a C program that links an nncc library built with --embed-weights through
 * pkg-config, and counts every allocation the library makes (DeployTests.swift):
 *   gcc deploy_app.c $(pkg-config --cflags --libs mlp) -Wl,--wrap=malloc,--wrap=calloc,--wrap=aligned_alloc,--wrap=free
 * Usage: deploy_app X.f32 COUNT Y.f32 — runs COUNT examples (COUNT <= MAX_BATCH), writes the outputs.
 * Prints "heap BYTES", "create_in BYTES" and exits 0 when every check passes. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "mlp.h"

static size_t allocated;
static int allocations;
void *__real_malloc(size_t), *__real_calloc(size_t, size_t), *__real_aligned_alloc(size_t, size_t);
void __real_free(void *);
void *__wrap_malloc(size_t n) { allocated += n; allocations++; return __real_malloc(n); }
void *__wrap_calloc(size_t k, size_t n) { allocated += k * n; allocations++; return __real_calloc(k, n); }
void *__wrap_aligned_alloc(size_t a, size_t n) { allocated += n; allocations++; return __real_aligned_alloc(a, n); }
void __wrap_free(void *p) { __real_free(p); }

static int failures;
#define CHECK(cond, ...) do { if (!(cond)) { failures++; printf("FAIL: " __VA_ARGS__); printf("\n"); } } while (0)

/* No heap at all: the context lives in static memory. */
static _Alignas(64) unsigned char memory[mlp_HEAP_BYTES];

int main(int argc, char **argv) {
    if (argc != 4) return 2;
    int n = atoi(argv[2]);
    if (n < 1 || n > mlp_MAX_BATCH) return 2;
    static float x[mlp_MAX_BATCH * mlp_INPUT_SIZE], y[mlp_MAX_BATCH * mlp_OUTPUT_SIZE], y2[mlp_MAX_BATCH * mlp_OUTPUT_SIZE];
    FILE *f = fopen(argv[1], "rb");
    if (!f || fread(x, sizeof(float), (size_t)n * mlp_INPUT_SIZE, f) != (size_t)n * mlp_INPUT_SIZE) return 3;
    fclose(f);

    allocated = 0, allocations = 0;
    mlp_ctx *c = mlp_create();
    CHECK(c && allocations == 1 && allocated == mlp_HEAP_BYTES, "create: %d allocations, %zu bytes, header says %d",
          allocations, allocated, mlp_HEAP_BYTES);
    printf("heap %zu\n", allocated);
    CHECK(mlp_load_weights(c, NULL) == 0, "load_weights(NULL): the embedded weights");
    CHECK(mlp_load_weights(c, "w.safetensors") == mlp_ERR_PACKED, "load_weights(file) on read-only weights");
    float p[10];
    CHECK(mlp_get_param(c, 5, p) == mlp_ERR_PACKED, "get_param of a packed-only parameter");
    /* Read-only weights have no PyTorch-layout copy to set, read or save (docs/deploy.md). */
    CHECK(mlp_set_param(c, 5, p) == mlp_ERR_PACKED, "set_param on read-only weights");
    CHECK(mlp_save_weights(c, "saved.safetensors") == mlp_ERR_PACKED && !fopen("saved.safetensors", "rb"),
          "save_weights of embedded weights");
    allocated = 0, allocations = 0;
    CHECK(mlp_forward(c, x, y, n) == 0, "forward");
    mlp_ctx *d = mlp_create_in(memory, sizeof memory);
    CHECK(d != NULL, "create_in");
    CHECK(mlp_create_in(memory + 1, sizeof memory - 1) == NULL && mlp_create_in(memory, sizeof memory - 64) == NULL,
          "create_in refuses a misaligned or short buffer");
    CHECK(d && mlp_forward(d, x, y2, n) == 0 && memcmp(y, y2, sizeof y) == 0, "create_in context: the same outputs");
    mlp_destroy(d);
    CHECK(allocations == 0, "forward and create_in allocated %d times", allocations);
    printf("create_in %zu\n", allocated);
    mlp_destroy(c);
    f = fopen(argv[3], "wb");
    if (!f || fwrite(y, sizeof(float), (size_t)n * mlp_OUTPUT_SIZE, f) != (size_t)n * mlp_OUTPUT_SIZE || fclose(f)) return 3;
    printf("%d failures\n", failures);
    return failures != 0;
}
