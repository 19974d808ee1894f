/* gemm_test.c: the tiled GEMM and im2col kernels against their naive references.
 *
 * Not compilable alone: ReferenceKernelTests.swift prepends
 *   #define NN_VW .. / NN_NV .. / NN_MR .., the templates prologue, gemm, conv and winograd
 * so this file sees nn_gemm, nn_gemm_naive, nn_pack_rows, nn_pack_transposed, nn_pack_bias,
 * nn_conv_implicit, nn_conv_rows, nn_conv_narrow and nn_conv_naive exactly as generated libraries embed them.
 *
 * Checks, printing each failure and exiting 1 if any:
 *  - nn_gemm == nn_gemm_naive for M, N, K in {1,2,7,9,13,31,33,65,100} (fewer with TG_EMULATED) x bias mode
 *    x accumulate x activation,
 *    with lda > K and ldc > N; guard cells around C (padding columns, rows past M) must stay untouched;
 *    and, without a per-column bias or accumulation, nn_gemm_in_place (B unpacked, read in place) == the same;
 *  - nn_pack_transposed(W) == nn_pack_rows(Wᵀ);
 *  - nn_conv_implicit (filters packed as panels) == nn_conv_naive on odd conv shapes (prime H/W, stride,
 *    dilation, padding), also, for plain 1x1 shapes, over the image read in place as one row of its pixels
 *    (tiles spanning rows), and nn_conv_rows (filters packed as blocks) for every width-stride-1 shape under
 *    several tilings, each with its last-rows and last-vectors tiles, and nn_conv_narrow (one vector of
 *    filters) for every shape with at most NN_VW filters;
 *  - nn_wino_image (Winograd F(2x2,3x3)) == nn_conv_naive on 3x3 stride-1 shapes with odd and even sizes,
 *    at every transform width up to NN_VW and blocks of 1, 2 and all tile rows (remainder blocks). */

#define TG_GUARD 12345.0f

static uint64_t tg_rng = 42;
static float tg_uniform(void) { return 2.0f * nn_rng_uniform(&tg_rng) - 1.0f; }
static void tg_fill(float *p, size_t n) {
    for (size_t i = 0; i < n; i++) p[i] = tg_uniform();
}

static int tg_failures, tg_cases;

static int tg_close(float got, float want) {
    float err = fabsf(got - want);
    return err <= 1e-5f + 1e-4f * fabsf(want); /* false for NaN */
}

static void tg_fail(const char *what) {
    if (++tg_failures <= 30) printf("FAIL %s\n", what);
}

static void *tg_alloc(size_t floats) {
    void *p = malloc((floats + 16) * sizeof(float));
    if (!p) { printf("out of memory\n"); exit(2); }
    return p;
}

/* Each activation's parameters (nn_act's alpha and beta) in these tests. */
static void tg_params(int act, float *alpha, float *beta) {
    static const float p[NN_ACT_COUNT][2] = {
        [NN_ACT_LEAKY_RELU] = {0.1f, 0}, [NN_ACT_ELU] = {0.7f, 0}, [NN_ACT_SELU] = {1.6732632f, 1.0507010f},
        [NN_ACT_CELU] = {0.6f, 0}, [NN_ACT_SOFTPLUS] = {2.0f, 3.0f}, [NN_ACT_CLIP] = {-0.5f, 0.8f},
        [NN_ACT_HARDSIGMOID] = {0.2f, 0.5f}};
    *alpha = p[act][0];
    *beta = p[act][1];
}

/* Activations compared here: all but those whose domain the random data leaves (log and sqrt of negatives,
   1/x near 0); their vector form is the scalar one lane by lane, or a division. */
static int tg_tested(int act) { return act != NN_ACT_LOG && act != NN_ACT_SQRT && act != NN_ACT_RECIPROCAL; }

/* TG_EMULATED: the build runs under an emulator (qemu-aarch64, some 40 times slower), so it checks fewer
   GEMM sizes (still below, at and past a tile edge in M, N and K: 1 and 2 extra rows past the 8-row tile),
   fewer activations on the convs and no 32x32 Winograd layer. */
#ifdef TG_EMULATED
#define TG_FEW 1
static const int tg_sizes[] = {1, 7, 10, 13, 33};
#else
#define TG_FEW 0
static const int tg_sizes[] = {1, 2, 7, 9, 13, 31, 33, 65, 100};
#endif
#define TG_NSIZES ((int)(sizeof tg_sizes / sizeof tg_sizes[0]))

static void tg_gemm_case(int M, int N, int K, int bias_mode, int accumulate, int act) {
    char what[200];
    int lda = K + 3, ldc = N + 5, panels = (N + NN_NR - 1) / NN_NR, nbias = panels * NN_NR;
    float *A = tg_alloc((size_t)M * lda), *B = tg_alloc((size_t)K * N), *W = tg_alloc((size_t)N * K);
    float *Bp = tg_alloc((size_t)panels * K * NN_NR), *Bt = tg_alloc((size_t)panels * K * NN_NR);
    float *bias = tg_alloc((size_t)(nbias > M ? nbias : M));
    size_t csize = (size_t)(M + 2) * ldc;
    float *C1 = tg_alloc(csize), *C2 = tg_alloc(csize);
    tg_fill(A, (size_t)M * lda);
    tg_fill(B, (size_t)K * N);
    for (int n = 0; n < N; n++)
        for (int k = 0; k < K; k++) W[(size_t)n * K + k] = B[(size_t)k * N + n];
    nn_pack_rows(K, N, B, N, Bp);
    nn_pack_transposed(N, K, W, Bt);
    tg_cases++;
    if (memcmp(Bp, Bt, (size_t)panels * K * NN_NR * sizeof(float)) != 0) {
        snprintf(what, sizeof what, "pack_transposed != pack_rows for N=%d K=%d", N, K);
        tg_fail(what);
    }
    float raw[128];
    tg_fill(raw, 128);
    if (bias_mode == 1) nn_pack_bias(N, nbias, raw, bias);
    else for (int m = 0; m < M; m++) bias[m] = tg_uniform();
    /* Random C inside [M, N], guards elsewhere (padding columns and two rows past M). */
    for (size_t i = 0; i < csize; i++) {
        int r = (int)(i / (size_t)ldc), c = (int)(i % (size_t)ldc);
        C1[i] = r < M && c < N ? tg_uniform() : TG_GUARD;
    }
    memcpy(C2, C1, csize * sizeof(float));
    nn_epilogue e = {bias_mode ? bias : NULL, bias_mode, accumulate, act, 0, 0};
    tg_params(act, &e.alpha, &e.beta);
    nn_gemm(M, N, K, A, lda, Bp, C1, ldc, e);
    nn_gemm_naive(M, N, K, A, lda, Bp, C2, ldc, e);
    tg_cases++;
    for (size_t i = 0; i < csize; i++) {
        int r = (int)(i / (size_t)ldc), c = (int)(i % (size_t)ldc);
        int inside = r < M && c < N;
        if (inside ? !tg_close(C1[i], C2[i]) : C1[i] != TG_GUARD) {
            snprintf(what, sizeof what, "gemm M=%d N=%d K=%d bias=%d acc=%d act=%d at [%d][%d]: tiled %.8g, naive %.8g%s",
                     M, N, K, bias_mode, accumulate, act, r, c, (double)C1[i], (double)C2[i],
                     inside ? "" : " (guard cell overwritten)");
            tg_fail(what);
            break;
        }
    }
    if (bias_mode != 1 && !accumulate) { /* B read in place (a plain 1x1 conv): A [M][K], C [M][N], dense */
        float *A1 = tg_alloc((size_t)M * K), *C3 = tg_alloc((size_t)M * N + 1), *last = tg_alloc((size_t)K * NN_NR);
        for (int m = 0; m < M; m++) memcpy(A1 + (size_t)m * K, A + (size_t)m * lda, (size_t)K * sizeof(float));
        C3[(size_t)M * N] = TG_GUARD;
        nn_gemm_in_place(M, N, K, A1, B, last, C3, e);
        tg_cases++;
        for (int i = 0; i <= M * N; i++) {
            const float want = i < M * N ? C2[(size_t)(i / N) * ldc + i % N] : TG_GUARD;
            if (i < M * N ? !tg_close(C3[i], want) : C3[i] != want) {
                snprintf(what, sizeof what, "gemm in place M=%d N=%d K=%d bias=%d act=%d at %d: %.8g, naive %.8g", M, N, K,
                         bias_mode, act, i, (double)C3[i], (double)want);
                tg_fail(what);
                break;
            }
        }
        free(A1); free(C3); free(last);
    }
    free(A); free(B); free(W); free(Bp); free(Bt); free(bias); free(C1); free(C2);
}

typedef struct { int C, H, W, F, kh, kw, sh, sw, pt, pl, pb, pr, dh, dw; } tg_conv;

/* Rows tiles as EmitConv emits them, but reading the shape of the case under
   test from these (nncc bakes it in as constants). */
static nn_conv_shape tg_s;
static int tg_Hp, tg_Wp, tg_act, tg_ys;  /* tg_ys: the implicit tiles' channels-last pixel stride, 0 for NCHW */
static float tg_alpha, tg_beta;
#define TG_ROWS(FB, RB, UV) \
    static void tg_rows_##FB##x##RB##x##UV(int oh, int ow0, const float *restrict xp, const float *restrict wk, \
                                         const float *restrict bias, float *restrict y, int nf) \
    { nn_conv_rows_tile(FB, RB, UV, tg_s, tg_Hp, tg_Wp, oh, ow0, xp, wk, bias, tg_act, tg_alpha, tg_beta, y, nf); }
#define TG_ROWS_FB(FB) \
    TG_ROWS(FB, 1, 1) TG_ROWS(FB, 1, 2) TG_ROWS(FB, 1, 3) TG_ROWS(FB, 2, 1) TG_ROWS(FB, 3, 1) TG_ROWS(FB, 2, 2)
TG_ROWS_FB(1) TG_ROWS_FB(3) TG_ROWS_FB(8) TG_ROWS_FB(12)
#define TG_ROWS_TABLE(FB) \
    {{0, 0, 0, 0}, {0, tg_rows_##FB##x1x1, tg_rows_##FB##x1x2, tg_rows_##FB##x1x3}, \
     {0, tg_rows_##FB##x2x1, tg_rows_##FB##x2x2, 0}, {0, tg_rows_##FB##x3x1, 0, 0}}
static const int tg_rows_fbs[] = {1, 3, 8, 12};
static const nn_conv_rows_fn tg_rows_tiles[4][4][4] = {TG_ROWS_TABLE(1), TG_ROWS_TABLE(3), TG_ROWS_TABLE(8),
                                                       TG_ROWS_TABLE(12)};
/* Tilings {fb index, rb, uv}: each one's remainders are in the table. */
static const int tg_rows_plans[][3] = {{0, 1, 1}, {1, 3, 1}, {2, 1, 2}, {2, 2, 2}, {3, 2, 1}, {1, 1, 3}};

/* Sets tg_s and tg_act for a case, with tg_Hp × tg_Wp the unpadded-for-vectors size. */
static void tg_set_shape(tg_conv v, int act) {
    tg_s = (nn_conv_shape){v.C, v.H, v.W, v.kh, v.kw, v.sh, v.sw, v.pt, v.pl, v.dh, v.dw, 0, 0};
    tg_s.OH = (v.H + v.pt + v.pb - v.dh * (v.kh - 1) - 1) / v.sh + 1;
    tg_s.OW = (v.W + v.pl + v.pr - v.dw * (v.kw - 1) - 1) / v.sw + 1;
    tg_act = act;
    tg_params(act, &tg_alpha, &tg_beta);
    tg_Hp = v.H + v.pt + v.pb;
    tg_Wp = v.W + v.pl + v.pr;
}

/* One tiled result y (F·N floats, then 8 guard cells) against the naive one. */
static void tg_check_conv(const char *kernel, tg_conv v, int act, const float *y, const float *want) {
    char what[260];
    const int count = v.F * tg_s.OH * tg_s.OW;
    tg_cases++;
    for (int i = 0; i < 8; i++)
        if (y[count + i] != TG_GUARD) {
            snprintf(what, sizeof what, "conv %s wrote past the output", kernel);
            tg_fail(what);
            break;
        }
    for (int i = 0; i < count; i++)
        if (!tg_close(y[i], want[i])) {
            snprintf(what, sizeof what,
                     "conv %s C=%d H=%d W=%d F=%d k=%dx%d s=%d,%d pad=%d,%d,%d,%d d=%d,%d act=%d at %d: "
                     "tiled %.8g, naive %.8g",
                     kernel, v.C, v.H, v.W, v.F, v.kh, v.kw, v.sh, v.sw, v.pt, v.pl, v.pb, v.pr, v.dh, v.dw, act, i,
                     (double)y[i], (double)want[i]);
            tg_fail(what);
            break;
        }
}

/* Implicit-GEMM tiles likewise, one per row count up to NN_MR. */
#define TG_IMPLICIT(R) \
    static void tg_implicit_##R(int oh, int ow0, const float *restrict xp, const float *restrict B, int nc, \
                                const float *restrict bias, float *restrict y) \
    { nn_conv_tile(R, tg_s, tg_Hp, tg_Wp, oh, ow0, xp, B, nc, bias, tg_act, tg_alpha, tg_beta, y, tg_ys); }
NN_ROWS_EACH(NN_MR, TG_IMPLICIT)
#define TG_IMPLICIT_ENTRY(R) tg_implicit_##R,
static const nn_conv_tile_fn tg_implicit_tiles[NN_MR + 1] = {0, NN_ROWS_EACH(NN_MR, TG_IMPLICIT_ENTRY)};

/* Narrow tiles likewise, every (rows, pixels) that the tilings below and
   their last-columns tiles need. */
#define TG_NARROW(PR, PW) \
    static void tg_narrow_##PR##x##PW(int oh0, int ow0, const float *restrict xp, const float *restrict wk, \
                                      const float *restrict bias, float *restrict y) \
    { nn_conv_narrow_tile(PR, PW, tg_s, tg_Hp, tg_Wp, oh0, ow0, xp, wk, bias, tg_act, tg_alpha, tg_beta, y, tg_nf); }
static int tg_nf;
TG_NARROW(1, 1) TG_NARROW(2, 1) TG_NARROW(2, 2) TG_NARROW(2, 3) TG_NARROW(3, 1) TG_NARROW(3, 2)
static const nn_conv_narrow_fn tg_narrow_tiles[4][4] = {
    {0}, {0, tg_narrow_1x1, 0, 0}, {0, tg_narrow_2x1, tg_narrow_2x2, tg_narrow_2x3}, {0, tg_narrow_3x1, tg_narrow_3x2, 0}};
static const int tg_narrow_plans[][2] = {{1, 1}, {2, 3}, {3, 2}};

/* nn_conv_narrow (at most NN_VW filters) under each tiling, against the naive result. */
static void tg_conv_narrow_case(tg_conv v, const float *x, const float *w, const float *bias, int act,
                                const float *want) {
    char kernel[40];
    tg_set_shape(v, act);
    tg_nf = v.F;
    const int N = tg_s.OH * tg_s.OW, K = v.C * v.kh * v.kw;
    for (size_t p = 0; p < sizeof tg_narrow_plans / sizeof tg_narrow_plans[0]; p++) {
        const int pr = tg_narrow_plans[p][0], pw = tg_narrow_plans[p][1];
        float *packed = tg_alloc((size_t)K * NN_VW), *pbias = tg_alloc(NN_VW);
        float *xp = tg_alloc((size_t)v.C * tg_Hp * tg_Wp), *y = tg_alloc((size_t)v.F * N + 8);
        for (int i = 0; i < v.F * N + 8; i++) y[i] = TG_GUARD;
        nn_pack_panels(v.F, K, w, NN_VW, packed);
        nn_pack_bias(v.F, NN_VW, bias, pbias);
        nn_conv_pad(x, tg_s, tg_Hp, tg_Wp, xp);
        nn_conv_narrow(tg_s, pr, pw, xp, packed, pbias, y, tg_narrow_tiles[pr][pw], tg_narrow_tiles[pr][tg_s.OW % pw]);
        snprintf(kernel, sizeof kernel, "narrow %dx%d", pr, pw);
        tg_check_conv(kernel, v, act, y, want);
        free(packed); free(pbias); free(xp); free(y);
    }
}

/* nn_conv_rows under every tiling of tg_rows_plans, against the naive result. */
static void tg_conv_rows_case(tg_conv v, const float *x, const float *w, const float *bias, int act, const float *want) {
    char kernel[40];
    tg_set_shape(v, act);
    const int N = tg_s.OH * tg_s.OW, K = v.C * v.kh * v.kw, vpr = (tg_s.OW + NN_VW - 1) / NN_VW;
    if (vpr * NN_VW + (v.kw - 1) * v.dw > tg_Wp) tg_Wp = vpr * NN_VW + (v.kw - 1) * v.dw; /* as EmitConv pads */
    for (size_t p = 0; p < sizeof tg_rows_plans / sizeof tg_rows_plans[0]; p++) {
        const int fb = tg_rows_fbs[tg_rows_plans[p][0]], rb = tg_rows_plans[p][1], uv = tg_rows_plans[p][2];
        const nn_conv_rows_fn(*t)[4] = tg_rows_tiles[tg_rows_plans[p][0]];
        const nn_conv_rows_plan plan = {fb, rb, uv, t[rb][uv], t[tg_s.OH % rb][uv], t[rb][vpr % uv],
                                        t[tg_s.OH % rb][vpr % uv]};
        const int pf = (v.F + fb - 1) / fb * fb;
        float *packed = tg_alloc((size_t)K * pf), *pbias = tg_alloc((size_t)pf);
        float *xp = tg_alloc((size_t)v.C * tg_Hp * tg_Wp), *y = tg_alloc((size_t)v.F * N + 8);
        for (int i = 0; i < v.F * N + 8; i++) y[i] = TG_GUARD;
        nn_pack_panels(v.F, K, w, fb, packed);
        nn_pack_bias(v.F, pf, bias, pbias);
        nn_conv_pad(x, tg_s, tg_Hp, tg_Wp, xp);
        nn_conv_rows(tg_s, v.F, xp, packed, pbias, y, &plan);
        snprintf(kernel, sizeof kernel, "rows %dx%dx%d", fb, rb, uv);
        tg_check_conv(kernel, v, act, y, want);
        free(packed); free(pbias); free(xp); free(y);
    }
}

static void tg_conv_case(tg_conv v, int with_bias, int act) {
    tg_set_shape(v, act);
    const nn_conv_shape s = tg_s;
    const int N = s.OH * s.OW, K = v.C * v.kh * v.kw, Hp = tg_Hp, Wp = tg_Wp;
    float *x = tg_alloc((size_t)v.C * v.H * v.W), *w = tg_alloc((size_t)v.F * K), *bias = tg_alloc((size_t)v.F);
    int pf = (v.F + NN_NR - 1) / NN_NR * NN_NR;
    float *packed = tg_alloc((size_t)K * pf), *pbias = tg_alloc((size_t)pf), *xp = tg_alloc((size_t)v.C * Hp * Wp);
    float *y1 = tg_alloc((size_t)v.F * N + 8), *y2 = tg_alloc((size_t)v.F * N);
    tg_fill(x, (size_t)v.C * v.H * v.W);
    tg_fill(w, (size_t)v.F * K);
    tg_fill(bias, (size_t)v.F);
    for (int i = 0; i < v.F * N + 8; i++) y1[i] = TG_GUARD;
    /* As EmitConv does: filters packed as panels, the input padded, implicit GEMM. */
    nn_pack_transposed(v.F, K, w, packed);
    nn_pack_bias(v.F, pf, with_bias ? bias : NULL, pbias);
    nn_conv_pad(x, s, Hp, Wp, xp);
    nn_conv_implicit(s, v.F, xp, packed, pbias, y1, tg_implicit_tiles[NN_MR], tg_implicit_tiles[s.OW % NN_MR], 0);
    nn_conv_naive(x, s, v.F, w, with_bias ? bias : NULL, act, tg_alpha, tg_beta, y2);
    tg_check_conv(with_bias ? "implicit, bias" : "implicit", v, act, y1, y2);
    /* The same tiles storing a channels-last output ([N][F]), put back into planes to compare. */
    float *yl = tg_alloc((size_t)v.F * N + 8);
    for (int i = 0; i < v.F * N + 8; i++) yl[i] = TG_GUARD;
    tg_ys = v.F;
    nn_conv_implicit(s, v.F, xp, packed, pbias, yl, tg_implicit_tiles[NN_MR], tg_implicit_tiles[s.OW % NN_MR], v.F);
    tg_ys = 0;
    for (int f = 0; f < v.F; f++)
        for (int q = 0; q < N; q++) y1[(size_t)f * N + q] = yl[(size_t)q * v.F + f];
    for (int i = v.F * N; i < v.F * N + 8; i++) if (yl[i] != TG_GUARD) tg_fail("implicit channels-last: wrote past the output");
    tg_check_conv(with_bias ? "implicit channels-last, bias" : "implicit channels-last", v, act, y1, y2);
    free(yl);
    if (v.kh == 1 && v.kw == 1 && v.sh == 1 && v.sw == 1 && v.pt + v.pl + v.pb + v.pr == 0) {
        /* A plain 1×1 conv as EmitConv runs it: the image in place as one row of its N pixels. */
        tg_s = (nn_conv_shape){v.C, 1, N, 1, 1, 1, 1, 0, 0, 1, 1, 1, N};
        tg_Hp = 1;
        tg_Wp = N;
        for (int i = 0; i < v.F * N + 8; i++) y1[i] = TG_GUARD;
        nn_conv_implicit(tg_s, v.F, x, packed, pbias, y1, tg_implicit_tiles[NN_MR], tg_implicit_tiles[N % NN_MR], 0);
        tg_set_shape(v, act);
        tg_check_conv(with_bias ? "implicit 1x1 as one row, bias" : "implicit 1x1 as one row", v, act, y1, y2);
    }
    if (v.sw == 1) tg_conv_rows_case(v, x, w, with_bias ? bias : NULL, act, y2);
    if (v.F <= NN_VW) tg_conv_narrow_case(v, x, w, with_bias ? bias : NULL, act, y2);
    free(x); free(w); free(bias); free(packed); free(pbias); free(xp); free(y1); free(y2);
}

/* Winograd as EmitConv drives it: U and the biases packed, one image at a time. */
static void tg_wino_case(int C, int H, int W, int F, int pad, int act) {
    const tg_conv v = {C, H, W, F, 3, 3, 1, 1, pad, pad, pad, pad, 1, 1};
    tg_set_shape(v, act);
    const nn_conv_shape cs = tg_s;
    float *x = tg_alloc((size_t)C * H * W), *w = tg_alloc((size_t)F * C * 9), *bias = tg_alloc((size_t)F);
    float *U = tg_alloc((size_t)16 * F * C + F), *want = tg_alloc((size_t)F * cs.OH * cs.OW);
    float *y = tg_alloc((size_t)F * cs.OH * cs.OW + 8);
    tg_fill(x, (size_t)C * H * W);
    tg_fill(w, (size_t)F * C * 9);
    tg_fill(bias, (size_t)F);
    nn_wino_pack(F, C, w, U);
    nn_pack_bias(F, F, bias, U + (size_t)16 * F * C);
    nn_conv_naive(x, cs, F, w, bias, act, tg_alpha, tg_beta, want);
    const int TH = (cs.OH + 1) / 2, TW = (cs.OW + 1) / 2;
    for (int TV = 4; TV <= NN_VW && TV <= 16; TV *= 2)
        for (int tb = 1; tb <= 3; tb++) {
            const int TWP = (TW + TV - 1) / TV * TV, TB = tb == 3 ? TH : tb;
            const int Hp = H + 2 * pad > 2 * TH + 2 ? H + 2 * pad : 2 * TH + 2;
            const int Wp = W + 2 * pad > 2 * TWP + 2 ? W + 2 * pad : 2 * TWP + 2;
            const nn_wino_shape ws = {C, F, cs.OH, cs.OW, TH, TW, TWP, TB, Hp, Wp};
            float *scratch = tg_alloc(NN_WINO_SCRATCH(C, F, TB, TWP, Hp, Wp));
            for (int i = 0; i < F * cs.OH * cs.OW + 8; i++) y[i] = TG_GUARD;
            nn_wino_image(TV, 0, ws, cs, x, U, act, tg_alpha, tg_beta, y, scratch);
            char kernel[64];
            snprintf(kernel, sizeof kernel, "winograd TV %d, %d tile rows a block", TV, TB);
            tg_check_conv(kernel, v, act, y, want);
            free(scratch);
        }
    free(x); free(w); free(bias); free(U); free(want); free(y);
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0); /* failures stay visible if a bad kernel corrupts the heap */
    for (int a = 0; a < TG_NSIZES; a++)
        for (int b = 0; b < TG_NSIZES; b++)
            for (int c = 0; c < TG_NSIZES; c++)
                for (int bias_mode = 0; bias_mode <= 2; bias_mode++)
                    for (int acc = 0; acc <= 1; acc++) {
                        /* every activation on small shapes; none, relu and one transcendental on the rest */
                        int small = tg_sizes[a] * tg_sizes[b] * tg_sizes[c] <= 10000;
                        for (int act = NN_ACT_NONE; act < NN_ACT_COUNT; act++)
                            if (tg_tested(act) && (small || act <= NN_ACT_RELU || act == (a + b + c) % 4 + 2))
                                tg_gemm_case(tg_sizes[a], tg_sizes[b], tg_sizes[c], bias_mode, acc, act);
                    }
    static const tg_conv convs[] = {
        /* C  H   W   F  kh kw sh sw pt pl pb pr dh dw */
        {1, 7, 7, 1, 3, 3, 1, 1, 0, 0, 0, 0, 1, 1},
        {3, 11, 13, 5, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1},
        {2, 13, 7, 9, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2},
        {4, 17, 19, 33, 5, 3, 2, 1, 2, 1, 2, 1, 2, 1},
        {3, 5, 3, 7, 1, 1, 2, 2, 0, 0, 0, 0, 1, 1},
        {5, 23, 29, 3, 4, 4, 2, 2, 1, 1, 2, 2, 1, 1},  /* even kernel, "same"-like asymmetric padding */
        {1, 31, 37, 17, 7, 5, 3, 2, 3, 2, 3, 2, 1, 2},
        {6, 3, 5, 2, 3, 3, 2, 2, 1, 1, 1, 1, 2, 2},    /* dilated kernel larger than the image */
        {2, 37, 11, 65, 2, 2, 1, 1, 0, 1, 1, 0, 3, 1},
        {3, 9, 40, 10, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},  /* rows of 3 vectors of 16, one partial */
        {2, 6, 35, 7, 3, 2, 1, 1, 0, 2, 1, 0, 1, 3},   /* width dilation, asymmetric padding */
        {37, 3, 3, 19, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1},  /* plain 1x1 on 9 pixels: tiles span rows */
        {9, 5, 7, 33, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1},
    };
    for (size_t i = 0; i < sizeof convs / sizeof convs[0]; i++)
        for (int with_bias = 0; with_bias <= 1; with_bias++)
            for (int act = NN_ACT_NONE; act < NN_ACT_COUNT; act++)
                if (tg_tested(act) && (!TG_FEW || act <= NN_ACT_RELU || act == (int)i % 4 + 2))
                    tg_conv_case(convs[i], with_bias, act);
    static const int winos[][5] = {
        /* C  H   W   F  pad */
        {1, 4, 4, 1, 0},      /* one tile */
        {3, 7, 9, 5, 1},      /* odd sizes: partial last tile row and column */
        {16, 13, 11, 17, 1},
        {17, 16, 16, 33, 1},  /* cnn_bn's 16x16 layers, filters past a panel */
        {5, 9, 30, 9, 0},
        {2, 5, 5, 3, 2},      /* padding 2 */
        {33, 32, 32, 40, 1},  /* cnn_bn's 32x32 layer */
        {4, 3, 40, 6, 1},
    };
    for (size_t i = 0; i < sizeof winos / sizeof winos[0]; i++)
        for (int act = NN_ACT_NONE; act <= NN_ACT_SIGMOID; act++)
            if (!TG_FEW || winos[i][0] < 32)
                tg_wino_case(winos[i][0], winos[i][1], winos[i][2], winos[i][3], winos[i][4], act);
    printf("gemm_test (NN_VW %d, NN_NV %d, NN_MR %d): %d checks, %d failures\n", NN_VW, NN_NV, NN_MR, tg_cases,
           tg_failures);
    return tg_failures ? 1 : 0;
}
