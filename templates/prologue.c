/* ---- nncc prologue: types and helpers shared by every kernel ---------- */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NN_UNUSED __attribute__((unused))

/* NN_VW floats per vector register; chosen by nncc for the target and
   defined before this prologue. GCC vector extensions let gcc emit the
   widest instructions the target has without intrinsics. */
typedef float nn_vf __attribute__((vector_size(NN_VW * 4)));
typedef int32_t nn_vi __attribute__((vector_size(NN_VW * 4)));

static inline nn_vf nn_load(const float *p) { nn_vf v; memcpy(&v, p, sizeof v); return v; }
static inline void nn_store(float *p, nn_vf v) { memcpy(p, &v, sizeof v); }
static inline nn_vf nn_splat(float x) { return (nn_vf){0} + x; }
static inline nn_vf nn_vmax(nn_vf a, nn_vf b) {
    nn_vi m = a > b;
    return (nn_vf)((m & (nn_vi)a) | (~m & (nn_vi)b));
}

/* Activations, scalar. Codes match nncc's Activation enum. */
enum { NN_ACT_NONE = 0, NN_ACT_RELU, NN_ACT_SIGMOID, NN_ACT_TANH, NN_ACT_GELU, NN_ACT_LEAKY_RELU };

static inline float nn_sigmoid(float x) {
    /* Branches keep expf from overflowing for large |x|. */
    if (x >= 0) return 1.0f / (1.0f + expf(-x));
    float e = expf(x);
    return e / (1.0f + e);
}

static inline float nn_act(int act, float alpha, float x) {
    switch (act) {
    case NN_ACT_RELU: return x > 0 ? x : 0;
    case NN_ACT_SIGMOID: return nn_sigmoid(x);
    case NN_ACT_TANH: return tanhf(x);
    case NN_ACT_GELU: return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
    case NN_ACT_LEAKY_RELU: return x > 0 ? x : alpha * x;
    default: return x;
    }
}

/* Activation over a vector; relu stays in registers, the others go through
   the scalar function lane by lane (gcc unrolls this). */
static inline nn_vf nn_vact(int act, float alpha, nn_vf v) {
    if (act == NN_ACT_NONE) return v;
    if (act == NN_ACT_RELU) return nn_vmax(v, nn_splat(0));
    for (int i = 0; i < NN_VW; i++) v[i] = nn_act(act, alpha, v[i]);
    return v;
}

/* Deterministic generator for parameter initialisation (SplitMix64). */
static inline uint64_t nn_rng_next(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in [0, 1) with 24 random bits. */
static inline float nn_rng_uniform(uint64_t *s) { return (float)(nn_rng_next(s) >> 40) * (1.0f / 16777216.0f); }

NN_UNUSED static void nn_init_uniform(float *p, size_t n, float bound, uint64_t *s) {
    for (size_t i = 0; i < n; i++) p[i] = (2.0f * nn_rng_uniform(s) - 1.0f) * bound;
}

NN_UNUSED static void nn_init_constant(float *p, size_t n, float v) {
    for (size_t i = 0; i < n; i++) p[i] = v;
}

/* Error codes beyond the loader's (safetensors.c defines 0 to -9). */
#define NN_ERR_NOTRAIN -10    /* library built without --train */
#define NN_ERR_LABEL -11      /* a class label outside 0..classes-1 */
#define NN_ERR_NONFINITE -12  /* the loss is not finite */
