/* ---- GEMM: C = act(A·B + bias), B packed into column panels -----------
   A  M×K row-major, leading dimension lda (activations or weights).
   Bp B (K×N) packed once as ceil(N/NN_NR) panels: panel p holds
      B[k][p*NN_NR + j] at Bp[(p*K + k)*NN_NR + j], zero padded past N,
      so the micro-kernel streams it with aligned unit-stride vector loads.
   C  M×N row-major, leading dimension ldc.
   bias_mode 0 none, 1 per column (padded to a multiple of NN_NR), 2 per row.
   accumulate adds A·B into C instead of overwriting it (before bias/act). */
#define NN_NR (NN_VW * NN_NV)

typedef struct {
    const float *bias;
    int bias_mode, accumulate, act;
    float alpha, beta;
} nn_epilogue;

/* Vector registers of the target (nncc defines it: 32 with AVX-512, else 16). */
#ifndef NN_VREGS
#define NN_VREGS (NN_VW >= 16 ? 32 : 16)
#endif

/* In a part build the micro-kernels are compiled once, by the first part,
   unless Winograd calls them with constant shapes (NN_MICRO_PER_PART, set by
   nncc): then each part keeps static copies that gcc specialises for it. */
#if NN_PART == 0 || defined(NN_MICRO_PER_PART)
#define NN_MICRO_FN NN_UNUSED static __attribute__((noinline))
#define NN_MICRO_BODY(...) __VA_ARGS__
#else
#define NN_MICRO_FN NN_UNUSED NN_LOCAL __attribute__((noinline))
#define NN_MICRO_BODY(...) NN_PART1_BODY(__VA_ARGS__)
#endif

/* Row r, vector j of the micro-kernel's epilogue: bias, accumulate,
   activation, then the first min(n, NN_VW) lanes stored. */
NN_MICRO_FN void nn_micro_store(float *restrict c, nn_vf v, const float *restrict bias, int r, int j, int n,
                                const nn_epilogue *e) NN_MICRO_BODY({
    if (e->bias_mode == 1 && bias) v += nn_load(bias + j * NN_VW);
    if (e->bias_mode == 2) v += bias[r];
    if (n >= NN_VW) {
        if (e->accumulate) v += nn_load(c);
        nn_store(c, nn_vact(e->act, e->alpha, e->beta, v));
    } else {
        if (e->accumulate) v += nn_load_n(c, n);
        nn_store_n(c, nn_vact(e->act, e->alpha, e->beta, v), n);
    }
})

/* mr×NN_NR block of C kept in NN_MR×NN_NV vector registers over all of K.
   B's rows are ldb floats apart: NN_NR in a packed panel, or a row of the
   unpacked operand (nn_gemm_in_place; unaligned loads). */
static inline __attribute__((always_inline)) void
nn_micro(const int mr, int K, const float *restrict A, int lda, const float *restrict B, const int ldb,
         float *restrict C, int ldc, int nc, const float *restrict bias, nn_epilogue e)
{
    nn_vf acc[NN_MR][NN_NV];
    for (int r = 0; r < mr; r++)
        for (int j = 0; j < NN_NV; j++) acc[r][j] = nn_splat(0);
    int k = 0;
    if (mr <= 2) {
        /* Few rows give too few independent FMA chains to hide the FMA
           latency: split K `ways` ways and add the partial sums at the end,
           four ways when their accumulators take at most half the registers
           (two rows on 16 registers would spill them: two ways). */
        const int ways = 4 * mr * NN_NV <= NN_VREGS / 2 ? 4 : 2;
        nn_vf part[3][2][NN_NV];
        for (int u = 0; u < ways - 1; u++)
            for (int r = 0; r < mr; r++)
                for (int j = 0; j < NN_NV; j++) part[u][r][j] = nn_splat(0);
        for (; k + ways <= K; k += ways) {
            for (int r = 0; r < mr; r++) {
                const float *a = A + (size_t)r * lda + k;
                for (int j = 0; j < NN_NV; j++) {
                    const float *b = B + (size_t)k * ldb + j * NN_VW;
                    acc[r][j] += nn_splat(a[0]) * nn_load(b);
                    for (int u = 1; u < ways; u++) part[u - 1][r][j] += nn_splat(a[u]) * nn_load(b + (size_t)u * ldb);
                }
            }
        }
        for (int r = 0; r < mr; r++)
            for (int j = 0; j < NN_NV; j++) {
                nn_vf sum = part[0][r][j];
                for (int u = 1; u < ways - 1; u++) sum += part[u][r][j];
                acc[r][j] += sum;
            }
    }
    for (; k < K; k++) {
        nn_vf b[NN_NV];
        for (int j = 0; j < NN_NV; j++) b[j] = nn_load(B + (size_t)k * ldb + j * NN_VW);
        for (int r = 0; r < mr; r++) {
            nn_vf a = nn_splat(A[(size_t)r * lda + k]);
            for (int j = 0; j < NN_NV; j++) acc[r][j] += a * b[j];
        }
    }
    if (e.act <= NN_ACT_RELU) {
        /* Relu or no activation (relu is max(0, v), none max(−∞, v), v kept
           when NaN): straight-line code on the accumulators, masked moves for
           the last vectors of a partial panel (dscnn's 125 pixels: 29 of 32). */
        const nn_vf lo = nn_splat(e.act == NN_ACT_RELU ? 0.0f : -INFINITY);
        _Pragma("GCC unroll 8") for (int r = 0; r < mr; r++) {
            float *c = C + (size_t)r * ldc;
            _Pragma("GCC unroll 4") for (int j = 0; j < NN_NV; j++) {
                const int n = nc - j * NN_VW;
                if (n <= 0) break;
                nn_vf v = acc[r][j];
                /* `&& bias`: gcc 12 warns in a NULL-bias clone (Winograd's GEMMs) */
                if (e.bias_mode == 1 && bias) v += nn_load(bias + j * NN_VW);
                if (e.bias_mode == 2 && bias) v += bias[r];
                if (n >= NN_VW) {
                    if (e.accumulate) v += nn_load(c + j * NN_VW);
                    nn_store(c + j * NN_VW, nn_vmax(lo, v));
                } else {
                    if (e.accumulate) v += nn_load_n(c + j * NN_VW, n);
                    nn_store_n(c + j * NN_VW, nn_vmax(lo, v), n);
                }
            }
        }
        return;
    }
    /* Anything else a vector at a time, out of line: one copy of the inlined
       sigmoid and tanh instead of one per row count. (Before the path above
       existed, all of this ran in a rolled loop: about 7% of a K = 128 GEMM
       with AVX2.) */
    _Pragma("GCC unroll 8") for (int r = 0; r < mr; r++)
        _Pragma("GCC unroll 4") for (int j = 0; j < NN_NV; j++)
            if (nc > j * NN_VW) nn_micro_store(C + (size_t)r * ldc + j * NN_VW, acc[r][j], bias, r, j, nc - j * NN_VW, &e);
}

/* The most rows any GEMM call of the library takes: the emitter knows it
   from the max batch (one row at batch 1), and gcc then compiles only the
   copies that can run, the others down to a trap. */
#ifndef NN_GEMM_ROWS
#define NN_GEMM_ROWS NN_MR
#endif

/* M(1) M(2) … M(NN_MR): one copy per row count, for the conv tiles.
   The schedule picks NN_MR for the target's register file: 4, 6 or 8. */
#define NN_ROWS_4(M) M(1) M(2) M(3) M(4)
#define NN_ROWS_6(M) NN_ROWS_4(M) M(5) M(6)
#define NN_ROWS_8(M) NN_ROWS_6(M) M(7) M(8)
#define NN_ROWS_EXPAND(n, M) NN_ROWS_##n(M)
#define NN_ROWS_EACH(n, M) NN_ROWS_EXPAND(n, M)
#if NN_MR != 4 && NN_MR != 6 && NN_MR != 8
#error "the micro-kernels' edge dispatch is written for NN_MR 4, 6 or 8"
#endif

/* Compiled copies of the micro-kernel: 1, 2, 4 and NN_MR rows, out of line
   so that every call site shares them. Each copy costs gcc about 0.15 s at
   -O3; the other row counts only occur at the bottom edge of a GEMM (or in
   a GEMM with that few rows) and run as two of these copies, e.g. 5 = 4 + 1,
   streaming the B panel twice from cache. */
#define NN_MICRO(R) \
    NN_MICRO_FN void nn_micro_##R( \
        int K, const float *restrict A, int lda, const float *restrict B, float *restrict C, int ldc, int nc, \
        const float *restrict bias, nn_epilogue e) \
    NN_MICRO_BODY({ if (R > NN_GEMM_ROWS) __builtin_trap(); nn_micro(R, K, A, lda, B, NN_NR, C, ldc, nc, bias, e); })
/* R rows as the first `lo` rows by nn_micro_##lo and the rest by nn_micro_##hi. */
#define NN_MICRO_SPLIT(R, lo, hi) \
    NN_MICRO_FN void nn_micro_##R( \
        int K, const float *restrict A, int lda, const float *restrict B, float *restrict C, int ldc, int nc, \
        const float *restrict bias, nn_epilogue e) \
    NN_MICRO_BODY({ \
        if (R > NN_GEMM_ROWS) __builtin_trap(); \
        nn_micro_##lo(K, A, lda, B, C, ldc, nc, bias, e); \
        nn_micro_##hi(K, A + (size_t)lo * lda, lda, B, C + (size_t)lo * ldc, ldc, nc, \
                      e.bias_mode == 2 ? bias + lo : bias, e); \
    })
NN_MICRO(1)
NN_MICRO(2)
NN_MICRO_SPLIT(3, 2, 1)
NN_MICRO(4)
#if NN_MR >= 6
NN_MICRO_SPLIT(5, 4, 1)
#endif
#if NN_MR == 6
NN_MICRO(6)
#elif NN_MR == 8
NN_MICRO_SPLIT(6, 4, 2)
NN_MICRO_SPLIT(7, 4, 3)
NN_MICRO(8)
#endif

typedef void (*nn_micro_fn)(int, const float *restrict, int, const float *restrict, float *restrict, int, int,
                            const float *restrict, nn_epilogue);
/* nn_micro_table[mr]: the kernel for mr rows, 1 ≤ mr ≤ NN_MR. */
NN_UNUSED static const nn_micro_fn nn_micro_table[9] = {0, nn_micro_1, nn_micro_2, nn_micro_3, nn_micro_4,
#if NN_MR >= 6
                                                        nn_micro_5, nn_micro_6,
#endif
#if NN_MR == 8
                                                        nn_micro_7, nn_micro_8,
#endif
};

NN_UNUSED static void nn_gemm(int M, int N, int K, const float *restrict A, int lda, const float *restrict Bp,
                    float *restrict C, int ldc, nn_epilogue e)
{
    const int panels = (N + NN_NR - 1) / NN_NR;
    /* Panels are independent: with threads, each takes a share of them. */
    NN_OMP(parallel for num_threads(NN_THREADS) schedule(static) if (NN_THREADS > 1 && (long)M * N * K >= 65536))
    for (int p = 0; p < panels; p++) {
        const float *B = Bp + (size_t)p * K * NN_NR;
        int nc = N - p * NN_NR < NN_NR ? N - p * NN_NR : NN_NR;
        const float *colbias = e.bias_mode == 1 ? e.bias + p * NN_NR : e.bias;
        for (int m = 0; m < M; m += NN_MR) {
            int mr = M - m < NN_MR ? M - m : NN_MR;
            const float *bias = e.bias_mode == 2 ? e.bias + m : colbias;
            nn_micro_table[mr](K, A + (size_t)m * lda, lda, B, C + (size_t)m * ldc + p * NN_NR, ldc, nc, bias, e);
        }
    }
}

/* r [NN_VW] as the rows of a matrix, transposed in place. 8 lanes: the
   usual AVX sequence of 24 shuffles, each one instruction (interleave within
   128-bit halves, pick pairs within halves, swap halves). Other widths: each
   perfect shuffle (rows i and i + NN_VW/2 interleaved into rows 2i, 2i + 1)
   rotates an element's (row, column) bits left by one, and log2(NN_VW) of
   them swap the row and column bits. */
NN_UNUSED static inline __attribute__((always_inline)) void nn_vtranspose(nn_vf r[NN_VW]) {
#if NN_VW == 8
    nn_vf t[8], u[8];
    _Pragma("GCC unroll 4") for (int i = 0; i < 4; i++) {
        t[2 * i] = NN_SHUFFLE(nn_vi, r[2 * i], r[2 * i + 1], 0, 8, 1, 9, 4, 12, 5, 13);
        t[2 * i + 1] = NN_SHUFFLE(nn_vi, r[2 * i], r[2 * i + 1], 2, 10, 3, 11, 6, 14, 7, 15);
    }
    _Pragma("GCC unroll 2") for (int h = 0; h < 2; h++)
        _Pragma("GCC unroll 2") for (int i = 0; i < 2; i++) {
            u[4 * h + 2 * i] = NN_SHUFFLE(nn_vi, t[4 * h + i], t[4 * h + i + 2], 0, 1, 8, 9, 4, 5, 12, 13);
            u[4 * h + 2 * i + 1] = NN_SHUFFLE(nn_vi, t[4 * h + i], t[4 * h + i + 2], 2, 3, 10, 11, 6, 7, 14, 15);
        }
    _Pragma("GCC unroll 4") for (int i = 0; i < 4; i++) {
        r[i] = NN_SHUFFLE(nn_vi, u[i], u[i + 4], 0, 1, 2, 3, 8, 9, 10, 11);
        r[i + 4] = NN_SHUFFLE(nn_vi, u[i], u[i + 4], 4, 5, 6, 7, 12, 13, 14, 15);
    }
#else
    _Pragma("GCC unroll 4") for (int step = 1; step < NN_VW; step *= 2) {
        nn_vf t[NN_VW];
        _Pragma("GCC unroll 8") for (int i = 0; i < NN_VW / 2; i++) {
            t[2 * i] = NN_SHUFFLE(nn_vi, r[i], r[i + NN_VW / 2], NN_LANES(LO, NN_VW));
            t[2 * i + 1] = NN_SHUFFLE(nn_vi, r[i], r[i + NN_VW / 2], NN_LANES(HI, NN_VW));
        }
        _Pragma("GCC unroll 16") for (int i = 0; i < NN_VW; i++) r[i] = t[i];
    }
#endif
}

/* Packs W[N][K] (PyTorch's Linear or conv weight, B = Wᵀ) into panels of
   `width` columns: Bp[p][k][j] = W[p·width + j][k], zero past N. A
   transposition: for widths of whole vectors, by NN_VW × NN_VW blocks in
   registers (W's rows loaded as vectors, the panel's rows stored as vectors;
   element by element it was 12% of mlp's train step); other widths (a
   conv's filter blocks) element by element. */
NN_UNUSED static NN_ONCE void nn_pack_panels(int N, int K, const float *restrict W, int width, float *restrict Bp) {
    if (width % NN_VW == 0) {
        for (int p = 0; p * width < N; p++)
            for (int j0 = 0; j0 < width; j0 += NN_VW)
                for (int k0 = 0; k0 < K; k0 += NN_VW) {
                    const int kn = K - k0 < NN_VW ? K - k0 : NN_VW, n0 = p * width + j0;
                    float *out = Bp + ((size_t)p * K + k0) * width + j0;
                    nn_vf r[NN_VW];
                    if (kn == NN_VW && n0 + NN_VW <= N) {  /* a whole block: no test per row */
                        const float *w = W + (size_t)n0 * K + k0;
                        _Pragma("GCC unroll 16") for (int j = 0; j < NN_VW; j++) r[j] = nn_load(w + (size_t)j * K);
                        nn_vtranspose(r);
                        _Pragma("GCC unroll 16") for (int k = 0; k < NN_VW; k++) nn_store(out + (size_t)k * width, r[k]);
                        continue;
                    }
                    _Pragma("GCC unroll 16") for (int j = 0; j < NN_VW; j++)
                        r[j] = n0 + j >= N ? nn_splat(0) : nn_load_n(W + (size_t)(n0 + j) * K + k0, kn);
                    nn_vtranspose(r);
                    for (int k = 0; k < kn; k++) nn_store(out + (size_t)k * width, r[k]);
                }
        return;
    }
    /* Blocks of 16 k: W's rows are read in short contiguous runs and the
       width × 16 block written stays in L1. */
    for (int p = 0; p * width < N; p++)
        for (int k0 = 0; k0 < K; k0 += 16) {
            const int kn = K - k0 < 16 ? K - k0 : 16;
            for (int j = 0; j < width; j++) {
                const int n = p * width + j;
                float *out = Bp + ((size_t)p * K + k0) * width + j;
                if (n < N) {
                    const float *w = W + (size_t)n * K + k0;
                    for (int k = 0; k < kn; k++) out[(size_t)k * width] = w[k];
                } else {
                    for (int k = 0; k < kn; k++) out[(size_t)k * width] = 0.0f;
                }
            }
        }
}

/* The GEMM's B operand: panels of NN_NR columns. */
NN_UNUSED static void nn_pack_transposed(int N, int K, const float *restrict W, float *restrict Bp) {
    nn_pack_panels(N, K, W, NN_NR, Bp);
}

/* Packs B given row-major as B[K][N] (leading dimension ldb) into panels:
   whole panels by vectors, the last one padded with zeros. */
NN_UNUSED static void nn_pack_rows(int K, int N, const float *restrict B, int ldb, float *restrict Bp) {
    for (int p = 0; p * NN_NR < N; p++) {
        const int n0 = p * NN_NR, nc = N - n0 < NN_NR ? N - n0 : NN_NR;
        for (int k = 0; k < K; k++) {
            const float *b = B + (size_t)k * ldb + n0;
            float *o = Bp + ((size_t)p * K + k) * NN_NR;
            if (nc == NN_NR) {
                for (int v = 0; v < NN_NV; v++) nn_store(o + v * NN_VW, nn_load(b + v * NN_VW));
                continue;
            }
            for (int v = 0; v < NN_NV; v++) {  /* the last panel: masked loads, zeros past N */
                const int n = nc - v * NN_VW;
                nn_store(o + v * NN_VW, n >= NN_VW ? nn_load(b + v * NN_VW) : n > 0 ? nn_load_n(b + v * NN_VW, n) : nn_splat(0));
            }
        }
    }
}

/* The GEMM with B unpacked, row-major [K][N] (a plain 1×1 conv's image, C =
   W·X): whole panels of NN_NR columns are read in place, row k at B + k·N
   (unaligned loads), so the image is not copied; only a last partial panel
   is packed, into Bp (K × NN_NR floats), for the packed micro-kernels. A is
   [M][K], C [M][N]; bias per row or none. Copies for NN_MR, 4, 2 and 1 rows
   (an edge of 7 rows runs as 4 + 2 + 1); nn_gemm_in_place is inlined with
   constant shapes, so gcc compiles only the copies a layer calls. */
#define NN_MICRO_IN_PLACE(name, R) \
    NN_UNUSED static __attribute__((noinline)) void nn_micro_in_place_##name( \
        int K, const float *restrict A, const float *restrict B, int ldb, float *restrict C, int ldc, \
        const float *restrict bias, nn_epilogue e) { nn_micro(R, K, A, K, B, ldb, C, ldc, NN_NR, bias, e); }
NN_MICRO_IN_PLACE(1, 1)
NN_MICRO_IN_PLACE(2, 2)
NN_MICRO_IN_PLACE(4, 4)
#if NN_MR > 4
NN_MICRO_IN_PLACE(MR, NN_MR)
#else
#define nn_micro_in_place_MR nn_micro_in_place_4
#endif

NN_UNUSED static inline __attribute__((always_inline)) void
nn_gemm_in_place(const int M, const int N, const int K, const float *restrict A, const float *restrict B,
                 float *restrict Bp, float *restrict C, nn_epilogue e) {
    const int full = N / NN_NR, whole = M - M % NN_MR;  /* constants: the edge calls are dead code when M % NN_MR is 0 */
    for (int p = 0; p < full; p++) {
        for (int m = 0; m < whole; m += NN_MR)
            nn_micro_in_place_MR(K, A + (size_t)m * K, B + p * NN_NR, N, C + (size_t)m * N + p * NN_NR, N,
                                 e.bias_mode == 2 ? e.bias + m : e.bias, e);
        for (int m = whole; m < M;) {
            const float *a = A + (size_t)m * K, *b = B + p * NN_NR, *bias = e.bias_mode == 2 ? e.bias + m : e.bias;
            float *c = C + (size_t)m * N + p * NN_NR;
            if (M - m >= 4) { nn_micro_in_place_4(K, a, b, N, c, N, bias, e); m += 4; }
            else if (M - m >= 2) { nn_micro_in_place_2(K, a, b, N, c, N, bias, e); m += 2; }
            else { nn_micro_in_place_1(K, a, b, N, c, N, bias, e); m += 1; }
        }
    }
    if (N % NN_NR) {
        nn_pack_rows(K, N % NN_NR, B + full * NN_NR, N, Bp);
        for (int m = 0; m < M; m += NN_MR) {
            const int mr = M - m < NN_MR ? M - m : NN_MR;
            nn_micro_table[mr](K, A + (size_t)m * K, K, Bp, C + (size_t)m * N + full * NN_NR, N, N % NN_NR,
                               e.bias_mode == 2 ? e.bias + m : e.bias, e);
        }
    }
}

/* Reference: the same contract with a plain triple loop, for tests. */
NN_UNUSED static void nn_gemm_naive(int M, int N, int K, const float *A, int lda, const float *Bp, float *C, int ldc,
                          nn_epilogue e) {
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) {
            float s = 0;
            for (int k = 0; k < K; k++)
                s += A[(size_t)m * lda + k] * Bp[((size_t)(n / NN_NR) * K + k) * NN_NR + n % NN_NR];
            if (e.accumulate) s += C[(size_t)m * ldc + n];
            if (e.bias_mode == 1) s += e.bias[n];
            if (e.bias_mode == 2) s += e.bias[m];
            C[(size_t)m * ldc + n] = nn_act(e.act, e.alpha, e.beta, s);
        }
}

/* Copies a bias into its padded slot (zeros when the layer has none). */
NN_UNUSED static NN_ONCE void nn_pack_bias(int N, int padded, const float *bias, float *restrict dst) {
    for (int n = 0; n < padded; n++) dst[n] = bias && n < N ? bias[n] : 0.0f;
}

/* Inference batchnorm folded into the preceding layer: scale s = γ/√(σ²+ε),
   weights ×s per output channel, bias (b−μ)·s+β. `panel` 0 scales rows of
   a row-major [channels][K]; otherwise columns of panels `panel` wide. */
NN_UNUSED static NN_ONCE void nn_fold_bn(int channels, int K, float *restrict w, int panel, float *restrict bias,
                                 const float *gamma, const float *beta, const float *mean, const float *var,
                                 float eps) {
    for (int ch = 0; ch < channels; ch++) {
        float s = gamma[ch] / sqrtf(var[ch] + eps);
        for (int k = 0; k < K; k++) {
            if (panel)
                w[((size_t)(ch / panel) * K + k) * panel + ch % panel] *= s;
            else
                w[(size_t)ch * K + k] *= s;
        }
        bias[ch] = (bias[ch] - mean[ch]) * s + beta[ch];
    }
}
