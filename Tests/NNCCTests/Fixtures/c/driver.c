/* driver.c: exercises a generated nncc library through its C interface alone.
 *
 * Build (SanitizerTests.swift does this):
 *   gcc -std=c11 -Wall -Wextra -Werror -O0 -g -fsanitize=address,undefined -fno-sanitize-recover=all \
 *       -DMODEL=NAME -include NAME.h driver.c NAME.c -lm
 * The sanitizer build also counts allocations (count_malloc.h).
 *
 * Usage: driver WEIGHTS.safetensors X.f32 Y.f32 COUNT SAVE.safetensors (SAVE is written, then removed)
 *   X.f32 / Y.f32 are raw native floats: COUNT examples of input / expected first output.
 * Reports on stdout only (stderr belongs to the sanitizers); exit 0 when every check passes. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CAT_(a, b) a##_##b
#define CAT(a, b) CAT_(a, b)
#define M(f) CAT(MODEL, f) /* M(forward) -> NAME_forward */
#define STR_(a) #a
#define STR(a) STR_(a)

#define IN M(INPUT_SIZE)
#define OUT M(OUTPUT_SIZE)
#define MAXB M(MAX_BATCH)

/* The library's codes for these errors (NN_ERR_NULL, NN_ERR_BATCH, NN_ERR_OPEN in the generated C). */
#define ERR_NULL (-1)
#define ERR_BATCH (-2)
#define ERR_OPEN (-3)

#include "check.h"

#include "count_malloc.h"

static float *read_floats(const char *path, size_t n) {
    float *p = malloc(n * sizeof(float) + 1);
    FILE *f = fopen(path, "rb");
    size_t got = f && p ? fread(p, sizeof(float), n + 1, f) : 0;
    if (f) fclose(f);
    if (got != n) {
        printf("FAIL: %s: expected %zu floats, read %zu\n", path, n, got);
        exit(3);
    }
    return p;
}

/* Compares n floats at atol 1e-4, rtol 1e-3 (the conformance tolerance); reports the first mismatch. */
static void compare(const char *what, const float *got, const float *want, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float err = fabsf(got[i] - want[i]);
        if (!(err <= 1e-4f + 1e-3f * fabsf(want[i]))) {
            failures++;
            printf("FAIL %s: element %zu: got %.8g, want %.8g\n", what, i, (double)got[i], (double)want[i]);
            return;
        }
    }
}

/* Parameter i's float count; a buffer for it (freed by the caller). */
static size_t param_count(int i) {
    int64_t dims[5];  /* 5: conv3d weights */
    int rank = M(param_shape)(i, dims);
    size_t n = 1;
    for (int d = 0; d < rank; d++) n *= (size_t)dims[d];
    return n;
}

static float *param_buffer(int i) {
    float *p = malloc(param_count(i) * sizeof(float) + 4);
    if (!p) { printf("out of memory\n"); exit(3); }
    return p;
}

/* A library without --train keeps only packed weights after load_weights of a file; a get_param before loading
   makes the PyTorch-layout copy, and load_weights then reads the file into it: no re-read of the file later. */
static void keep_unpacked(M(ctx) *ctx) {
    if (M(NUM_PARAMS) == 0) return;
    float *first = param_buffer(0);
    CHECK(M(get_param)(ctx, 0, first) == 0, "get_param before load_weights");
    free(first);
}

/* get_param of every parameter of a and b: 0 and the same floats. */
static void same_params(const char *what, M(ctx) *a, M(ctx) *b) {
    for (int i = 0; i < M(NUM_PARAMS); i++) {
        size_t n = param_count(i);
        float *p1 = param_buffer(i), *p2 = param_buffer(i);
        CHECK(M(get_param)(a, i, p1) == 0 && M(get_param)(b, i, p2) == 0, "%s: get_param %d", what, i);
        CHECK(memcmp(p1, p2, n * sizeof(float)) == 0, "%s: param %d (%s) differs", what, i, M(param_name)(i));
        free(p1);
        free(p2);
    }
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc != 6) {
        printf("usage: driver WEIGHTS X.f32 Y.f32 COUNT SAVE\n");
        return 2;
    }
    const char *weights = argv[1], *save = argv[5];
    int count = atoi(argv[4]);
    if (count < 1) { printf("bad COUNT\n"); return 2; }
    float *x = read_floats(argv[2], (size_t)count * IN);
    float *want = read_floats(argv[3], (size_t)count * OUT);

    CHECK(M(info)(0) == MAXB && M(info)(1) == IN && M(info)(2) == OUT && M(info)(3) == M(NUM_PARAMS), "info");
    CHECK(M(output_size)(0) == OUT, "output_size(0) = %d", M(output_size)(0));

    M(ctx) *ctx = M(create)();
    CHECK(ctx != NULL, "create");
    if (!ctx) return 1;
    CHECK(M(load_weights)(ctx, "/nonexistent/nncc/weights.safetensors") == ERR_OPEN, "missing file");
    CHECK(M(load_weights)(ctx, NULL) == ERR_NULL, "NULL path");
    CHECK(M(load_weights)(NULL, weights) == ERR_NULL, "NULL ctx");
    int rc = M(load_weights)(ctx, weights);
    CHECK(rc == 0, "load_weights: %d %s", rc, M(strerror)(rc));

    float *xb = malloc((size_t)MAXB * IN * sizeof(float)), *yb = malloc((size_t)MAXB * OUT * sizeof(float));
    float *wantb = malloc((size_t)MAXB * OUT * sizeof(float)), *y1 = malloc((size_t)OUT * sizeof(float));
    float *yb2 = malloc((size_t)MAXB * OUT * sizeof(float));
    if (!xb || !yb || !wantb || !y1 || !yb2) { printf("out of memory\n"); return 3; }

    /* batch 1, every example */
    for (int i = 0; i < count; i++) {
        rc = M(forward)(ctx, x + (size_t)i * IN, y1, 1);
        CHECK(rc == 0, "forward batch 1: %d %s", rc, M(strerror)(rc));
        compare("batch 1 vs y.npy", y1, want + (size_t)i * OUT, OUT);
    }
    /* max batch: the examples cycled */
    for (int b = 0; b < MAXB; b++) {
        memcpy(xb + (size_t)b * IN, x + (size_t)(b % count) * IN, IN * sizeof(float));
        memcpy(wantb + (size_t)b * OUT, want + (size_t)(b % count) * OUT, OUT * sizeof(float));
    }
    rc = M(forward)(ctx, xb, yb, MAXB);
    CHECK(rc == 0, "forward max batch: %d %s", rc, M(strerror)(rc));
    compare("max batch vs y.npy", yb, wantb, (size_t)MAXB * OUT);

    /* a context in caller memory: create_in allocates nothing and, once loaded, computes the same */
    {
        void *mem = aligned_alloc(64, M(HEAP_BYTES));
        M(ctx) *c3 = mem ? M(create_in)(mem, M(HEAP_BYTES)) : NULL;
        CHECK(c3 && M(load_weights)(c3, weights) == 0 && M(forward)(c3, xb, yb2, MAXB) == 0, "create_in context");
        CHECK(memcmp(yb, yb2, (size_t)MAXB * OUT * sizeof(float)) == 0, "create_in context: outputs differ");
        M(destroy)(c3);
        free(mem);
    }

    /* every output through forward_all; output 0 must equal forward's */
    {
        float *ys[M(NUM_OUTPUTS)];
        for (int j = 0; j < M(NUM_OUTPUTS); j++) ys[j] = malloc((size_t)MAXB * M(output_size)(j) * sizeof(float));
        rc = M(forward_all)(ctx, xb, ys, MAXB);
        CHECK(rc == 0, "forward_all: %d", rc);
        CHECK(memcmp(ys[0], yb, (size_t)MAXB * OUT * sizeof(float)) == 0, "forward_all output 0 != forward");
        CHECK(M(forward_all)(ctx, xb, NULL, 1) == ERR_NULL, "forward_all NULL ys");
        for (int j = 0; j < M(NUM_OUTPUTS); j++) free(ys[j]);
    }

    /* bad arguments: the right code, and nothing written */
    for (int i = 0; i < OUT; i++) y1[i] = 777.0f;
    CHECK(M(forward)(ctx, x, y1, 0) == ERR_BATCH, "batch 0");
    CHECK(M(forward)(ctx, x, y1, -1) == ERR_BATCH, "batch -1");
    CHECK(M(forward)(ctx, xb, yb2, MAXB + 1) == ERR_BATCH, "batch MAX+1");
    CHECK(M(forward)(NULL, x, y1, 1) == ERR_NULL, "NULL ctx");
    CHECK(M(forward)(ctx, NULL, y1, 1) == ERR_NULL, "NULL x");
    CHECK(M(forward)(ctx, x, NULL, 1) == ERR_NULL, "NULL y");
    for (int i = 0; i < OUT; i++) CHECK(y1[i] == 777.0f, "a failed forward wrote y[%d]", i);
    CHECK(M(strerror)(ERR_BATCH) && strlen(M(strerror)(ERR_BATCH)) > 0, "strerror");
    CHECK(M(param_name)(-1) == NULL && M(param_name)(M(NUM_PARAMS)) == NULL, "param_name out of range");

#ifdef COUNT_MALLOC
    /* forward allocates nothing: 10 calls at batch 1 and max batch */
    allocations = 0;
    counting = 1;
    for (int k = 0; k < 5; k++) {
        rc = M(forward)(ctx, x, y1, 1);
        rc |= M(forward)(ctx, xb, yb, MAXB);
    }
    counting = 0;
    CHECK(rc == 0, "forward while counting");
    CHECK(allocations == 0, "forward allocated %ld times in 10 calls", allocations);
    printf("allocations during 10 forward calls: %ld\n", allocations);
    /* the counter works: one allocation while counting is seen */
    allocations = 0;
    counting = 1;
    void *volatile probe = malloc(16);
    counting = 0;
    free(probe);
    CHECK(allocations == 1, "malloc wrapper inactive (%ld counted)", allocations);
#endif

    /* ctx keeps no PyTorch-layout copy after load_weights of a file: save_weights and get_param read the file
       again (c-abi.md: PyTorch layout always). ctx2 keeps its copy from before loading, so it reads the file
       once, into the copy: the file's tensors. ctx3 loads what ctx saved; its first get_param reads it again. */
    rc = M(save_weights)(ctx, save);
    CHECK(rc == 0, "save_weights after load_weights: %d %s", rc, M(strerror)(rc));
    CHECK(M(save_weights)(NULL, save) == ERR_NULL, "save NULL ctx");
    M(ctx) *ctx2 = M(create)(), *ctx3 = M(create)(), *ctx4 = M(create)();
    CHECK(ctx2 && ctx3 && ctx4, "create 2, 3, 4");
    if (ctx2 && ctx3 && ctx4 && M(NUM_PARAMS) > 0) {
        keep_unpacked(ctx2);
        CHECK(M(load_weights)(ctx2, weights) == 0, "load_weights into the copy");
        same_params("get_param after load_weights vs the file", ctx, ctx2);
        rc = M(load_weights)(ctx3, save);
        CHECK(rc == 0, "load saved weights: %d %s", rc, M(strerror)(rc));
        same_params("saved and loaded again", ctx3, ctx2);
        rc = M(forward)(ctx3, xb, yb2, MAXB);
        CHECK(rc == 0, "forward after reload: %d", rc);
        CHECK(memcmp(yb, yb2, (size_t)MAXB * OUT * sizeof(float)) == 0, "outputs differ after save/load");

        /* set_param, then get_param: the floats set. ctx3 saves them over the file ctx4 loaded (the same size,
           likely within the same second), then the file is removed: ctx4 cannot rebuild its copy from it. */
        size_t n = param_count(0);
        float *p = param_buffer(0), *back = param_buffer(0);
        CHECK(M(load_weights)(ctx4, save) == 0, "load_weights of the saved file");
        CHECK(M(get_param)(ctx3, 0, p) == 0, "get_param 0");
        p[n - 1] += 1.0f;
        CHECK(M(set_param)(ctx3, 0, p) == 0 && M(get_param)(ctx3, 0, back) == 0, "set_param, get_param");
        CHECK(memcmp(p, back, n * sizeof(float)) == 0, "get_param after set_param: not the floats set");
        CHECK(M(save_weights)(ctx3, save) == 0, "save over the file");
        rc = M(get_param)(ctx4, 0, back);
        CHECK(rc == M(ERR_STALE), "get_param after the file changed: %d %s", rc, M(strerror)(rc));
        CHECK(M(load_weights)(ctx4, save) == 0 && remove(save) == 0, "load_weights, remove the file");
        CHECK(M(set_param)(ctx4, 0, p) == M(ERR_STALE) && M(save_weights)(ctx4, save) == M(ERR_STALE), "file removed");
        FILE *written = fopen(save, "rb");
        CHECK(!written, "save_weights wrote a file after ERR_STALE");
        if (written) fclose(written);
        CHECK(strstr(M(strerror)(M(ERR_STALE)), "gone or has changed") != NULL, "strerror(ERR_STALE)");
        CHECK(M(forward)(ctx4, xb, yb2, MAXB) == 0, "forward on the packed weights after ERR_STALE");
        free(p);
        free(back);
    }
    M(destroy)(ctx2);
    M(destroy)(ctx3);
    M(destroy)(ctx4);
    M(destroy)(ctx);
    M(destroy)(NULL);
    free(x); free(want); free(xb); free(yb); free(yb2); free(wantb); free(y1);
    printf("driver %s: %d failures\n", STR(MODEL), failures);
    return failures ? 1 : 0;
}
