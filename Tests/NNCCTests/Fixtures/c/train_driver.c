/* train_driver.c: exercises a generated library's training step through its C interface alone.
 *
 * Build (TrainSanitizerTests.swift does this) under ASan/UBSan, which also counts allocations
 * (count_malloc.h), as driver.c:
 *   gcc -std=c11 -Wall -Wextra -Werror -fsanitize=address,undefined -DMODEL=NAME -include NAME.h train_driver.c NAME.c -lm
 *
 * Usage: train_driver WEIGHTS X.f32 T.raw COUNT labels|floats SAVE.safetensors
 *   X.f32: COUNT examples; T.raw: COUNT int32 labels, or COUNT × OUTPUT_SIZE floats.
 * One step on all COUNT examples, weights saved to SAVE (the test compares them with PyTorch's);
 * then the error cases, then 10 steps at MAX_BATCH with the examples cycled. Exit 0 when all pass. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CAT_(a, b) a##_##b
#define CAT(a, b) CAT_(a, b)
#define M(f) CAT(MODEL, f)
#define IN M(INPUT_SIZE)
#define OUT M(OUTPUT_SIZE)
#define MAXB M(MAX_BATCH)

#include "check.h"

#include "count_malloc.h"

static void *read_file(const char *path, size_t bytes) {
    char *p = malloc(bytes + 1);
    FILE *f = fopen(path, "rb");
    size_t got = f && p ? fread(p, 1, bytes + 1, f) : 0;
    if (f) fclose(f);
    if (got != bytes) { printf("FAIL: %s: expected %zu bytes, read %zu\n", path, bytes, got); exit(3); }
    return p;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc != 7) { printf("usage: train_driver WEIGHTS X.f32 T.raw COUNT labels|floats SAVE\n"); return 2; }
    const int count = atoi(argv[4]), labels = strcmp(argv[5], "labels") == 0;
    if (count < 1 || count > MAXB) { printf("bad COUNT\n"); return 2; }
    const size_t tsize = labels ? sizeof(int32_t) : OUT * sizeof(float);
    float *x = read_file(argv[2], (size_t)count * IN * sizeof(float));
    char *t = read_file(argv[3], (size_t)count * tsize);

    M(ctx) *ctx = M(create)();
    CHECK(ctx != NULL, "create");
    if (!ctx) return 1;
    int rc = M(load_weights)(ctx, argv[1]);
    CHECK(rc == 0, "load_weights: %d %s", rc, M(strerror)(rc));

    float loss = NAN;
    rc = M(train_step)(ctx, x, t, count, &loss);
    CHECK(rc == 0 && isfinite(loss), "train_step: %d %s, loss %g", rc, M(strerror)(rc), (double)loss);
    printf("loss %.9g\n", (double)loss);
    rc = M(save_weights)(ctx, argv[6]);
    CHECK(rc == 0, "save_weights: %d", rc);

    /* Bad arguments are rejected with their codes and change no parameter. */
    int64_t dims[5];  /* 5: conv3d weights */
    int rank = M(param_shape)(0, dims);
    size_t n0 = 1;
    for (int d = 0; d < rank; d++) n0 *= (size_t)dims[d];
    float *p0 = malloc(n0 * sizeof(float)), *p1 = malloc(n0 * sizeof(float));
    M(get_param)(ctx, 0, p0);
    CHECK(M(train_step)(ctx, x, t, 0, &loss) == -2, "batch 0");
    CHECK(M(train_step)(ctx, x, t, MAXB + 1, &loss) == -2, "batch MAX+1");
    CHECK(M(train_step)(NULL, x, t, 1, &loss) == -1, "NULL ctx");
    CHECK(M(train_step)(ctx, NULL, t, 1, &loss) == -1, "NULL x");
    CHECK(M(train_step)(ctx, x, NULL, 1, &loss) == -1, "NULL targets");
    CHECK(M(train_step)(ctx, x, t, 1, NULL) == -1, "NULL loss");
    if (labels) {
        int32_t bad = OUT;
        CHECK(M(train_step)(ctx, x, &bad, 1, &loss) == -11, "label out of range");
        bad = -1;
        CHECK(M(train_step)(ctx, x, &bad, 1, &loss) == -11, "negative label");
    }
    M(get_param)(ctx, 0, p1);
    CHECK(memcmp(p0, p1, n0 * sizeof(float)) == 0, "a rejected step changed parameter 0");

    /* Steps at the max batch, the examples cycled; with COUNT_MALLOC, none may allocate. */
    float *xb = malloc((size_t)MAXB * IN * sizeof(float));
    char *tb = malloc((size_t)MAXB * tsize);
    for (int b = 0; b < MAXB; b++) {
        memcpy(xb + (size_t)b * IN, x + (size_t)(b % count) * IN, IN * sizeof(float));
        memcpy(tb + (size_t)b * tsize, t + (size_t)(b % count) * tsize, tsize);
    }
#ifdef COUNT_MALLOC
    allocations = 0;
    counting = 1;
#endif
    rc = 0;
    for (int k = 0; k < 10; k++) rc |= M(train_step)(ctx, xb, tb, MAXB, &loss);
#ifdef COUNT_MALLOC
    counting = 0;
    CHECK(allocations == 0, "train_step allocated %ld times in 10 steps", allocations);
    printf("allocations during 10 train steps at batch %d: %ld\n", MAXB, allocations);
#endif
    CHECK(rc == 0 && isfinite(loss), "10 steps at max batch: %d, loss %g", rc, (double)loss);
    M(destroy)(ctx);
    free(x); free(t); free(p0); free(p1); free(xb); free(tb);
    printf("%s: %d failures\n", argv[0], failures);
    return failures ? 1 : 0;
}
