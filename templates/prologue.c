/* ---- nncc prologue: types and helpers shared by every kernel ---------- */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* On helpers a model may not call: clang, unlike gcc, warns about unused
   static inline functions. */
#define NN_UNUSED __attribute__((unused))

/* nncc compiles a library as parts in parallel, -DNN_PART=1, 2, ..., and links
   them (docs/compile-time.md); compiled alone (NN_PART 0) the file is one
   ordinary translation unit. A function that one part defines and others call
   is NN_LOCAL: static here, hidden in a part build. */
#ifndef NN_PART
#define NN_PART 0
#endif
/* gcc's noclone: a part would compile a function another part may call twice,
   as it is and as a clone specialised for this part's constant arguments
   (mobilenet_vww --train: 11% of the code). */
#if defined(__GNUC__) && !defined(__clang__)
#define NN_NOCLONE __attribute__((noclone))
#else
#define NN_NOCLONE
#endif
#if NN_PART == 0
#define NN_LOCAL static
#else
#define NN_LOCAL __attribute__((visibility("hidden"))) NN_NOCLONE
#endif
/* Memory-bound helpers outside the kernels' inner loops (weight packing,
   transposes): compiled once, not again at every constant shape they are
   called with (mobilenet_vww --train's packing: 16 KB of code, now 2 KB). */
#define NN_ONCE __attribute__((noinline)) NN_NOCLONE
/* The body of a template function that the first part compiles for all of them. */
#if NN_PART <= 1
#define NN_PART1_BODY(...) __VA_ARGS__
#else
#define NN_PART1_BODY(...) ;
#endif

/* OpenMP when built with --threads N > 1 (-fopenmp); otherwise the pragmas
   vanish, so -Wunknown-pragmas stays quiet. */
#ifndef NN_THREADS
#define NN_THREADS 1
#endif
#define NN_STR(x) #x
#ifdef _OPENMP
#include <omp.h>
#define NN_OMP(args) _Pragma(NN_STR(omp args))
#define NN_THREAD_ID() omp_get_thread_num()
#else
#define NN_OMP(args)
#define NN_THREAD_ID() 0
#endif

/* NN_VW floats per vector register; chosen by nncc for the target and
   defined before this prologue. GCC vector extensions let gcc emit the
   widest instructions the target has without intrinsics. */
typedef float nn_vf __attribute__((vector_size(NN_VW * 4)));
typedef int32_t nn_vi __attribute__((vector_size(NN_VW * 4)));

static inline nn_vf nn_load(const float *p) { nn_vf v; memcpy(&v, p, sizeof v); return v; }
static inline void nn_store(float *p, nn_vf v) { memcpy(p, &v, sizeof v); }

/* The lanes of two vectors a, b (a's lanes 0..n−1, b's n..2n−1) picked by a
   constant list: gcc's __builtin_shuffle takes the list as a vector of type
   T, clang's __builtin_shufflevector as arguments. The lists for n lanes:
   EVEN and ODD deinterleave, LO and HI interleave the low and high halves,
   ZERO broadcasts lane 0. NN_SHUFFLE_BY gives gcc a mask vector built at run
   time instead (the pools: as constants, the masks change gcc's code). */
#if defined(__clang__)
#define NN_SHUFFLE(T, a, b, ...) __builtin_shufflevector(a, b, __VA_ARGS__)
#define NN_SHUFFLE_BY(mask, a, b, ...) __builtin_shufflevector(a, b, __VA_ARGS__)
#else
#define NN_SHUFFLE(T, a, b, ...) __builtin_shuffle(a, b, (T){__VA_ARGS__})
#define NN_SHUFFLE_BY(mask, a, b, ...) __builtin_shuffle(a, b, mask)
#endif
#define NN_LANES(list, n) NN_LANES_(list, n) /* expands n (NN_VW) first */
#define NN_LANES_(list, n) NN_LANES_##list##n
#define NN_LANES_ZERO4 0, 0, 0, 0
#define NN_LANES_ZERO8 NN_LANES_ZERO4, NN_LANES_ZERO4
#define NN_LANES_ZERO16 NN_LANES_ZERO8, NN_LANES_ZERO8
#define NN_LANES_EVEN4 0, 2, 4, 6
#define NN_LANES_ODD4 1, 3, 5, 7
#define NN_LANES_LO4 0, 4, 1, 5
#define NN_LANES_HI4 2, 6, 3, 7
#define NN_LANES_EVEN8 0, 2, 4, 6, 8, 10, 12, 14
#define NN_LANES_ODD8 1, 3, 5, 7, 9, 11, 13, 15
#define NN_LANES_LO8 0, 8, 1, 9, 2, 10, 3, 11
#define NN_LANES_HI8 4, 12, 5, 13, 6, 14, 7, 15
#define NN_LANES_EVEN16 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30
#define NN_LANES_ODD16 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31
#define NN_LANES_LO16 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23
#define NN_LANES_HI16 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31

/* Broadcast. Not `(nn_vf){0} + x`: 0 + (−0) is +0, so gcc must keep that add
   in every micro-kernel step; a shuffle of lane 0 becomes one vbroadcastss. */
static inline nn_vf nn_splat(float x) {
    nn_vf v = {x};
    return NN_SHUFFLE(nn_vi, v, v, NN_LANES(ZERO, NN_VW));
}
/* The first n (0 < n ≤ NN_VW) lanes: masked moves where the target has
   them (lanes past n are neither read nor written), else lane by lane. */
#if defined(__AVX512F__) && NN_VW == 16
/* The AVX-512 instructions vector extensions cannot express, as gcc's
   builtins: <immintrin.h>, which wraps them, takes a quarter of a second of
   every compile to read. All lanes (mask -1), current rounding (4). */
#define NN_ALL_LANES ((unsigned short)-1)
#if defined(__clang__)
#define nn_max512(a, b) __builtin_ia32_maxps512(a, b, 4)
#define nn_min512(a, b) __builtin_ia32_minps512(a, b, 4)
#else
#define nn_max512(a, b) __builtin_ia32_maxps512_mask(a, b, a, NN_ALL_LANES, 4)
#define nn_min512(a, b) __builtin_ia32_minps512_mask(a, b, a, NN_ALL_LANES, 4)
#endif
/* round to nearest without raising the inexact exception (imm 0x08) */
#define nn_round512(a) __builtin_ia32_rndscaleps_mask(a, 0x08, a, NN_ALL_LANES, 4)
/* a · 2^floor(b) */
#define nn_scalef512(a, b) __builtin_ia32_scalefps512_mask(a, b, a, NN_ALL_LANES, 4)
static inline void nn_store_n(float *p, nn_vf v, int n) {
    __builtin_ia32_storeups512_mask(p, v, (unsigned short)((1u << n) - 1));
}
static inline nn_vf nn_load_n(const float *p, int n) {
    return __builtin_ia32_loadups512_mask(p, (nn_vf){0}, (unsigned short)((1u << n) - 1));
}
#elif defined(__AVX__) && NN_VW == 8
/* vmaskmovps: lanes whose mask lane is negative (k < n). */
typedef float nn_v8sf __attribute__((vector_size(32)));
typedef int nn_v8si __attribute__((vector_size(32)));
static inline nn_v8si nn_mask8(int n) { return (nn_v8si){0, 1, 2, 3, 4, 5, 6, 7} < (nn_v8si){n, n, n, n, n, n, n, n}; }
static inline void nn_store_n(float *p, nn_vf v, int n) {
    __builtin_ia32_maskstoreps256((nn_v8sf *)p, nn_mask8(n), (nn_v8sf)v);
}
static inline nn_vf nn_load_n(const float *p, int n) {
    return (nn_vf)__builtin_ia32_maskloadps256((const nn_v8sf *)p, nn_mask8(n));
}
#else
static inline void nn_store_n(float *p, nn_vf v, int n) {
    for (int k = 0; k < n; k++) p[k] = v[k];
}
static inline nn_vf nn_load_n(const float *p, int n) {
    nn_vf v = {0};
    for (int k = 0; k < n; k++) v[k] = p[k];
    return v;
}
#endif
/* Keeps a loaded vector in a register: with few uses gcc would rather fold
   the (unaligned) load into every FMA that reads it, doubling the loads. */
#if defined(__x86_64__)
#define NN_IN_REGISTER(v) __asm__("" : "+v"(v))
#else
#define NN_IN_REGISTER(v) ((void)0)
#endif

/* max(a, b); b where either is NaN, as vmaxps does: pass the operand whose
   NaN must survive as b (relu is nn_vmax(0, v), as PyTorch's relu(NaN) = NaN). */
static inline nn_vf nn_vmax(nn_vf a, nn_vf b) {
#if defined(__AVX512F__) && NN_VW == 16
    return nn_max512(a, b);
#elif defined(__AVX__) && NN_VW == 8
    /* vmaxps is exactly a > b ? a : b; gcc emits the compare and blend as written below. */
    return (nn_vf)__builtin_ia32_maxps256((nn_v8sf)a, (nn_v8sf)b);
#else
    nn_vi m = a > b;
    return (nn_vf)((m & (nn_vi)a) | (~m & (nn_vi)b));
#endif
}

/* Keeps b where take is set (all bits of a lane), else a. */
static inline nn_vf nn_vselect(nn_vi take, nn_vf b, nn_vf a) {
    return (nn_vf)((take & (nn_vi)b) | (~take & (nn_vi)a));
}

/* Activations, scalar. Codes match nncc's Activation enum (Activation.cCode);
   alpha and beta are its parameters (leaky relu's and elu's alpha, selu's
   alpha and scale, celu's alpha, softplus' beta and threshold, clip's min and max, hard sigmoid's
   alpha and beta, shrink's lambd and bias). Each follows PyTorch's formula; this is also the
   reference twin of the vector forms below. */
enum {
    NN_ACT_NONE = 0, NN_ACT_RELU, NN_ACT_SIGMOID, NN_ACT_TANH, NN_ACT_GELU, NN_ACT_LEAKY_RELU,
    NN_ACT_GELU_TANH, NN_ACT_ELU, NN_ACT_SELU, NN_ACT_CELU, NN_ACT_SOFTPLUS, NN_ACT_SOFTSIGN,
    NN_ACT_EXP, NN_ACT_LOG, NN_ACT_SQRT, NN_ACT_RECIPROCAL, NN_ACT_ABS, NN_ACT_NEG, NN_ACT_ERF,
    NN_ACT_CLIP, NN_ACT_HARDSIGMOID, NN_ACT_HARDSWISH, NN_ACT_SILU, NN_ACT_MISH,
    NN_ACT_SIGN, NN_ACT_SHRINK, NN_ACT_COUNT
};
#define NN_GELU_TANH_K 0.79788456080286536f /* √(2/π) */

static inline float nn_sigmoid(float x) {
    /* Branches keep expf from overflowing for large |x|. */
    if (x >= 0) return 1.0f / (1.0f + expf(-x));
    float e = expf(x);
    return e / (1.0f + e);
}

/* min(max(x, lo), hi) by comparisons: NaN stays NaN (fminf/fmaxf would drop
   it), and lo > hi gives hi, as ONNX's Clip and torch.clamp. */
static inline float nn_clip(float x, float lo, float hi) {
    x = x < lo ? lo : x;
    return x > hi ? hi : x;
}

static inline float nn_act(int act, float alpha, float beta, float x) {
    switch (act) {
    case NN_ACT_RELU: return x < 0 ? 0.0f : x;  /* NaN stays NaN, as in PyTorch */
    case NN_ACT_SIGMOID: return nn_sigmoid(x);
    case NN_ACT_TANH: return tanhf(x);
    case NN_ACT_GELU: return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
    case NN_ACT_LEAKY_RELU: return x > 0 ? x : alpha * x;
    case NN_ACT_GELU_TANH: return 0.5f * x * (1.0f + tanhf(NN_GELU_TANH_K * (x + 0.044715f * x * x * x)));
    case NN_ACT_ELU: return x > 0 ? x : alpha * expm1f(x);
    case NN_ACT_SELU: return x > 0 ? beta * x : beta * alpha * expm1f(x);
    case NN_ACT_CELU: return x > 0 ? x : alpha * expm1f(x / alpha);
    case NN_ACT_SOFTPLUS: return x * alpha > beta ? x : log1pf(expf(x * alpha)) / alpha;
    case NN_ACT_SOFTSIGN: return x / (1.0f + fabsf(x));
    case NN_ACT_EXP: return expf(x);
    case NN_ACT_LOG: return logf(x);
    case NN_ACT_SQRT: return sqrtf(x);
    case NN_ACT_RECIPROCAL: return 1.0f / x;
    case NN_ACT_ABS: return fabsf(x);
    case NN_ACT_NEG: return -x;
    case NN_ACT_ERF: return erff(x);
    case NN_ACT_CLIP: return nn_clip(x, alpha, beta);
    case NN_ACT_HARDSIGMOID: return nn_clip(alpha * x + beta, 0.0f, 1.0f);
    case NN_ACT_HARDSWISH: return x * nn_clip(x + 3.0f, 0.0f, 6.0f) / 6.0f;
    case NN_ACT_SILU: return x / (1.0f + expf(-x));
    case NN_ACT_MISH: return x * tanhf(log1pf(expf(x)));
    case NN_ACT_SIGN: return (float)(x > 0) - (float)(x < 0);
    case NN_ACT_SHRINK: return x < -alpha ? x + beta : x > alpha ? x - beta : x == x ? 0.0f : x;
    default: return x;
    }
}

/* exp on a whole vector (Cephes' expf scheme): x = n·ln2 + r, |r| ≤ ln2/2,
   e^r by a degree-6 polynomial, times 2^n. Relative error about 2e-7 over
   the clamped range [-87.3, 88.7]. The clamps keep a NaN (x is max's and
   min's second operand), so sigmoid and tanh of NaN are NaN, as in PyTorch.
   With AVX-512, rounding and the 2^n scaling are one instruction each
   (vrndscaleps, vscalefps); on aarch64 and with FMA (AVX2) n is rounded to
   nearest, not floored (|r| ≤ ln2/2 either way). */
static inline nn_vf nn_vexp(nn_vf x) {
#if defined(__AVX512F__) && NN_VW == 16
    x = nn_min512(nn_splat(88.7f), nn_max512(nn_splat(-87.3f), x));
    const nn_vf nf = nn_round512(x * 1.44269504088896341f);
#else
    x = nn_vmax(nn_splat(-87.3f), x);
    x = -nn_vmax(nn_splat(-88.7f), -x);
#if defined(__aarch64__) || defined(__FMA__)
    /* n = round(x·log2 e) by adding 1.5·2^23, which leaves n in the low
       mantissa bits: one FMA and two subtractions, where the floor below
       takes three conversions, a compare and a fix-up. */
    const nn_vf shifted = x * 1.44269504088896341f + 12582912.0f;
    const nn_vi n = (nn_vi)shifted - 0x4B400000;
    const nn_vf nf = shifted - 12582912.0f;
#else
    nn_vf fn = x * 1.44269504088896341f + 0.5f;
    nn_vi n = __builtin_convertvector(fn, nn_vi);
    nn_vf nf = __builtin_convertvector(n, nn_vf);
    n -= (nn_vi)(nf > fn) & 1;  /* floor, also for negative x */
    nf = __builtin_convertvector(n, nn_vf);
#endif
#endif
    nn_vf r = x - nf * 0.693359375f + nf * 2.12194440e-4f;
    nn_vf p = nn_splat(1.9875691500e-4f);
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
#if defined(__AVX512F__) && NN_VW == 16
    return nn_scalef512(p, nf);
#else
    nn_vi bits = ((n + 127) & 255) << 23;  /* the mask only matters for NaN (n arbitrary) */
    return p * (nn_vf)bits;
#endif
}

static inline nn_vf nn_vsigmoid(nn_vf x) { return 1.0f / (1.0f + nn_vexp(-x)); }

/* tanh(x) = 1 − 2/(e^{2x} + 1): no cancellation for large |x|, absolute
   error below 1e-7 near 0. */
static inline nn_vf nn_vtanh(nn_vf x) { return 1.0f - 2.0f / (nn_vexp(x + x) + 1.0f); }

/* clip on a vector, NaN kept (it is nn_vmax's second operand both times). */
static inline nn_vf nn_vclip(nn_vf v, float lo, float hi) {
    return -nn_vmax(nn_splat(-hi), -nn_vmax(nn_splat(lo), v));
}

/* x·tanh(softplus(x)) = x·(e²ˣ + 2eˣ)/(e²ˣ + 2eˣ + 2), written in e = e^−|x|
   so that nothing overflows: for x > 0 the ratio is (1 + 2e)/(1 + 2e + 2e²). */
static inline nn_vf nn_vmish(nn_vf v) {
    const nn_vf e = nn_vexp(-(nn_vf)((nn_vi)v & 0x7fffffff)), e2 = e * e;
    const nn_vf pos = (1.0f + 2.0f * e) / (1.0f + 2.0f * e + 2.0f * e2);
    const nn_vf neg = (e2 + 2.0f * e) / (e2 + 2.0f * e + 2.0f);
    return v * nn_vselect(v > 0, pos, neg);
}

/* The other activations over a vector, within about 1e-6 of nn_act. Those
   without a vector form here (erf, log, exp: nn_vexp saturates instead of
   reaching inf) go lane by lane. Out of line: inlined into every GEMM and
   conv epilogue it would change gcc's inlining and cloning of the
   micro-kernels. */
NN_UNUSED NN_LOCAL __attribute__((noinline)) nn_vf nn_vact_more(int act, float alpha, float beta, nn_vf v)
#if NN_PART <= 1
{
    switch (act) {
    case NN_ACT_GELU_TANH:
        return 0.5f * v * (1.0f + nn_vtanh(NN_GELU_TANH_K * (v + 0.044715f * v * v * v)));
    case NN_ACT_ELU: return nn_vselect(v > 0, v, alpha * (nn_vexp(v) - 1.0f));
    case NN_ACT_SELU: return beta * nn_vselect(v > 0, v, alpha * (nn_vexp(v) - 1.0f));
    case NN_ACT_CELU: return nn_vselect(v > 0, v, alpha * (nn_vexp(v / alpha) - 1.0f));
    case NN_ACT_SOFTSIGN: return v / (1.0f + (nn_vf)((nn_vi)v & 0x7fffffff));
    case NN_ACT_RECIPROCAL: return 1.0f / v;
    case NN_ACT_ABS: return (nn_vf)((nn_vi)v & 0x7fffffff);
    case NN_ACT_NEG: return -v;
    case NN_ACT_CLIP: return nn_vclip(v, alpha, beta);
    case NN_ACT_HARDSIGMOID: return nn_vclip(alpha * v + beta, 0.0f, 1.0f);
    case NN_ACT_HARDSWISH: return v * nn_vclip(v + 3.0f, 0.0f, 6.0f) / 6.0f;
    case NN_ACT_SILU: return v * nn_vsigmoid(v);
    case NN_ACT_MISH: return nn_vmish(v);
    default:
        for (int i = 0; i < NN_VW; i++) v[i] = nn_act(act, alpha, beta, v[i]);
        return v;
    }
}
#else
;
#endif

/* Activation over a vector: relu, sigmoid and tanh inline. */
static inline nn_vf nn_vact(int act, float alpha, float beta, nn_vf v) {
    switch (act) {
    case NN_ACT_NONE: return v;
    case NN_ACT_RELU: return nn_vmax(nn_splat(0), v);
    case NN_ACT_SIGMOID: return nn_vsigmoid(v);
    case NN_ACT_TANH: return nn_vtanh(v);
    default: return nn_vact_more(act, alpha, beta, v);
    }
}

/* In place over n floats: whole vectors, then the scalar tail. */
NN_UNUSED static inline void nn_act_n(int act, float alpha, float beta, float *p, int n) {
    int i = 0;
    for (; i + NN_VW <= n; i += NN_VW) nn_store(p + i, nn_vact(act, alpha, beta, nn_load(p + i)));
    for (; i < n; i++) p[i] = nn_act(act, alpha, beta, p[i]);
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
#define NN_ERR_NONFINITE -12  /* the loss or a gradient is not finite: train_step took no step */
#define NN_ERR_LR -13         /* set_lr: the learning rate is not finite and >= 0 */
#define NN_ERR_PACKED -15     /* the parameters are kept only packed (embedded, read-only weights) */
#define NN_ERR_STALE -16      /* the weights file load_weights read is gone or changed: no PyTorch-layout copy */
