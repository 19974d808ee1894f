/* train_kernels_test.c: the tiled training kernels against their naive references.
 *
 * Not compilable alone: ReferenceKernelTests.swift prepends
 *   #define NN_VW .. / NN_NV .. / NN_MR .. and the templates conv_train, pool_train, winograd_train, depthwise need
 * so this file sees the kernels exactly as generated training libraries embed them.
 *
 * Checks, printing each failure and exiting 1 if any:
 *  - nn_conv_dw_rows (∂W with pixels in the lanes, over a batch) == the sum over images of nn_conv_backward's
 *    ∂W, for odd width-stride-1 shapes under several tilings (each with its last-taps tile), batches of 1 and 5;
 *  - nn_maxpool2 (forward) and nn_maxpool2_backward == the plain loops (2×2 windows, stride 2) on odd sizes,
 *    with ties (few distinct values) and NaNs, which win a window and decide which pixel takes the gradient;
 *  - ∂x by Winograd (nn_wino_pack_grad, nn_wino_image accumulating) == nn_conv_backward's ∂x added to what
 *    the gradient buffer held, and ∂W by Winograd (nn_wino_dw_image over a batch, nn_wino_dw_finish) == the
 *    sum of nn_conv_backward's ∂W, for 3×3 stride-1 layers padded 0, 1 and 2, at every transform width;
 *  - depthwise (nn_dw_channel by rows and over the grid, nn_dw_lanes, nn_dw_backward_channel) == nn_conv_naive
 *    and nn_conv_backward per channel (∂x and ∂W added to what the buffers held, ∂b), for odd shapes with
 *    strides, dilations, asymmetric padding and 1 to 25 taps;
 *  - pointwise (nn_pack_pixels and nn_gemm, nn_conv1x1_batched over 3 images) == nn_conv_naive, strided and
 *    padded too, and nn_conv1x1_backward
 *    (∂W both ways, ∂b, ∂x added) == nn_conv_backward. */

static uint64_t tk_rng = 7;
static int tk_failures, tk_cases;

static void tk_fail(const char *what) {
    if (++tk_failures <= 30) printf("FAIL %s\n", what);
}

static float *tk_alloc(size_t floats) {
    float *p = calloc(floats + 16, sizeof(float));
    if (!p) { printf("out of memory\n"); exit(2); }
    return p;
}

static int tk_close(float got, float want) {
    return fabsf(got - want) <= 1e-4f + 1e-4f * fabsf(want); /* false for NaN */
}

/* dW tiles read the case's shape from these (nncc bakes it in as constants). */
static nn_conv_shape tk_s;
static int tk_Hp, tk_Wp;
static size_t tk_dz_stride;
#define TK_DW(FB, TB) \
    static void tk_dw_##FB##x##TB(int nb, int t0, const float *restrict xp, const float *restrict dz, \
                                  float *restrict dW) \
    { nn_conv_dw_rows_tile(FB, TB, tk_s, tk_Hp, tk_Wp, nb, t0, xp, dz, tk_dz_stride, dW); }
#define TK_DW_FB(FB) \
    TK_DW(FB, 1) TK_DW(FB, 2) TK_DW(FB, 3) TK_DW(FB, 4) TK_DW(FB, 5) TK_DW(FB, 6) TK_DW(FB, 7) TK_DW(FB, 8)
TK_DW_FB(1) TK_DW_FB(2) TK_DW_FB(3) TK_DW_FB(5)
#define TK_DW_ROW(FB) \
    {0, tk_dw_##FB##x1, tk_dw_##FB##x2, tk_dw_##FB##x3, tk_dw_##FB##x4, tk_dw_##FB##x5, tk_dw_##FB##x6, \
     tk_dw_##FB##x7, tk_dw_##FB##x8}
/* [fb][tb]: every tile a tiling below or its last taps (K % tb) needs */
static const nn_conv_dw_fn tk_dw[6][9] = {{0}, TK_DW_ROW(1), TK_DW_ROW(2), TK_DW_ROW(3), {0}, TK_DW_ROW(5)};

typedef struct { int C, H, W, F, kh, kw, sh, pt, pl, pb, pr, dh, dw; } tk_conv;

static void tk_dw_case(tk_conv v, int nb, int fb, int tb) {
    char what[240];
    tk_s = (nn_conv_shape){v.C, v.H, v.W, v.kh, v.kw, v.sh, 1, v.pt, v.pl, v.dh, v.dw, 0, 0};
    tk_s.OH = (v.H + v.pt + v.pb - v.dh * (v.kh - 1) - 1) / v.sh + 1;
    tk_s.OW = v.W + v.pl + v.pr - v.dw * (v.kw - 1);
    const int N = tk_s.OH * tk_s.OW, K = v.C * v.kh * v.kw, vpr = (tk_s.OW + NN_VW - 1) / NN_VW;
    tk_Hp = v.H + v.pt + v.pb;
    tk_Wp = v.W + v.pl + v.pr;
    if (vpr * NN_VW + (v.kw - 1) * v.dw > tk_Wp) tk_Wp = vpr * NN_VW + (v.kw - 1) * v.dw; /* as EmitConv pads */
    tk_dz_stride = (size_t)v.F * N;
    const size_t image = (size_t)v.C * tk_Hp * tk_Wp;
    float *x = tk_alloc((size_t)nb * v.C * v.H * v.W), *dz = tk_alloc((size_t)nb * v.F * N);
    float *want = tk_alloc((size_t)v.F * K), *got = tk_alloc((size_t)v.F * K), *w = tk_alloc((size_t)v.F * K);
    float *col = tk_alloc((size_t)K * N), *xp = tk_alloc((size_t)nb * image);
    for (int i = 0; i < nb * v.C * v.H * v.W; i++) x[i] = 2.0f * nn_rng_uniform(&tk_rng) - 1.0f;
    for (int i = 0; i < nb * v.F * N; i++) dz[i] = 2.0f * nn_rng_uniform(&tk_rng) - 1.0f;
    for (int i = 0; i < v.F * K; i++) want[i] = got[i] = 0.5f; /* both accumulate */
    for (int b = 0; b < nb; b++)
        nn_conv_backward(x + (size_t)b * v.C * v.H * v.W, tk_s, v.F, w, dz + (size_t)b * v.F * N, NULL, want, NULL,
                         col, NULL);
    for (int b = 0; b < nb; b++) nn_conv_pad(x + (size_t)b * v.C * v.H * v.W, tk_s, tk_Hp, tk_Wp, xp + b * image);
    const nn_conv_dw_plan plan = {fb, tb, tk_dw[fb][tb], tk_dw[fb][K % tb]};
    nn_conv_dw_rows(tk_s, v.F, nb, tk_Hp, tk_Wp, xp, dz, tk_dz_stride, got, &plan);
    tk_cases++;
    for (int i = 0; i < v.F * K; i++)
        if (!tk_close(got[i], want[i])) {
            snprintf(what, sizeof what,
                     "dW rows %dx%d nb=%d C=%d H=%d W=%d F=%d k=%dx%d sh=%d pad=%d,%d,%d,%d d=%d,%d at %d: "
                     "tiled %.8g, naive %.8g",
                     fb, tb, nb, v.C, v.H, v.W, v.F, v.kh, v.kw, v.sh, v.pt, v.pl, v.pb, v.pr, v.dh, v.dw, i,
                     (double)got[i], (double)want[i]);
            tk_fail(what);
            break;
        }
    free(x); free(dz); free(want); free(got); free(w); free(col); free(xp);
}

static void tk_pool_case(int H, int W, int nan_every) {
    char what[200];
    const int OH = H / 2, OW = W / 2;
    float *x = tk_alloc((size_t)H * W), *dy = tk_alloc((size_t)OH * OW);
    float *want = tk_alloc((size_t)H * W), *got = tk_alloc((size_t)H * W);
    for (int i = 0; i < H * W; i++) {
        x[i] = (float)(nn_rng_next(&tk_rng) % 3); /* three values: many ties */
        if (nan_every && i % nan_every == 3) x[i] = NAN;
        want[i] = got[i] = 0.25f * (float)(i % 5);
    }
    for (int i = 0; i < OH * OW; i++) dy[i] = 1.0f + (float)i;
    /* forward: nn_maxpool2 against the plain loop, a NaN winning its window */
    float *yw = tk_alloc((size_t)OH * OW), *yg = tk_alloc((size_t)OH * OW);
    for (int oh = 0; oh < OH; oh++)
        for (int ow = 0; ow < OW; ow++) {
            float v = -INFINITY;
            for (int i = 0; i < 2; i++)
                for (int j = 0; j < 2; j++) {
                    const float xv = x[(2 * oh + i) * W + 2 * ow + j];
                    v = xv > v || xv != xv ? xv : v;
                }
            yw[oh * OW + ow] = v;
        }
    nn_maxpool2(x, W, OH, OW, yg);
    tk_cases++;
    for (int i = 0; i < OH * OW; i++)
        if (!(yg[i] == yw[i] || (yg[i] != yg[i] && yw[i] != yw[i]))) {
            snprintf(what, sizeof what, "maxpool2 forward H=%d W=%d nan_every=%d at %d: tiled %g, naive %g", H, W,
                     nan_every, i, (double)yg[i], (double)yw[i]);
            tk_fail(what);
            break;
        }
    free(yw); free(yg);
    /* backward: the first maximum in scan order takes the gradient, a NaN winning (PyTorch's rule) */
    for (int oh = 0; oh < OH; oh++)
        for (int ow = 0; ow < OW; ow++) {
            int best = -1;
            float v = -INFINITY;
            for (int i = 0; i < 2; i++)
                for (int j = 0; j < 2; j++) {
                    const int at = (2 * oh + i) * W + 2 * ow + j;
                    if (best < 0 || x[at] > v || x[at] != x[at]) { v = x[at]; best = at; }
                }
            want[best] += dy[oh * OW + ow];
        }
    nn_maxpool2_backward(x, H, W, OH, OW, dy, got);
    tk_cases++;
    for (int i = 0; i < H * W; i++)
        if (got[i] != want[i]) {
            snprintf(what, sizeof what, "maxpool2 backward H=%d W=%d nan_every=%d at %d: tiled %g, naive %g", H, W,
                     nan_every, i, (double)got[i], (double)want[i]);
            tk_fail(what);
            break;
        }
    free(x); free(dy); free(want); free(got);
}

/* ∂x of a 3×3 stride-1 layer as BackwardRules emits it: a Winograd convolution of ∂z with the
   filters transposed and turned 180°, padded 2 − p, added into dx. */
static void tk_wino_dx_case(int C, int H, int W, int F, int p) {
    const nn_conv_shape s = {C, H, W, 3, 3, 1, 1, p, p, 1, 1, H + 2 * p - 2, W + 2 * p - 2};
    const nn_conv_shape t = {F, s.OH, s.OW, 3, 3, 1, 1, 2 - p, 2 - p, 1, 1, H, W};
    const int N = s.OH * s.OW, K = C * 9, TH = (H + 1) / 2, TW = (W + 1) / 2;
    float *x = tk_alloc((size_t)C * H * W), *w = tk_alloc((size_t)F * K), *dz = tk_alloc((size_t)F * N);
    float *dW = tk_alloc((size_t)F * K), *col = tk_alloc((size_t)K * N), *dcol = tk_alloc((size_t)K * N);
    float *want = tk_alloc((size_t)C * H * W), *got = tk_alloc((size_t)C * H * W), *U = tk_alloc((size_t)16 * F * C + C);
    for (int i = 0; i < C * H * W; i++) x[i] = 2.0f * nn_rng_uniform(&tk_rng) - 1.0f;
    for (int i = 0; i < F * K; i++) w[i] = 2.0f * nn_rng_uniform(&tk_rng) - 1.0f;
    for (int i = 0; i < F * N; i++) dz[i] = 2.0f * nn_rng_uniform(&tk_rng) - 1.0f;
    for (int i = 0; i < C * H * W; i++) want[i] = 0.25f * (float)(i % 5); /* what dx held before */
    nn_conv_backward(x, s, F, w, dz, want, dW, NULL, col, dcol);
    nn_wino_pack_grad(F, C, w, U);
    nn_pack_bias(C, C, NULL, U + (size_t)16 * F * C);
    for (int TV = 4; TV <= NN_VW && TV <= 16; TV *= 2) {
        const int TWP = (TW + TV - 1) / TV * TV;
        const int Hp = s.OH + 2 * (2 - p) > 2 * TH + 2 ? s.OH + 2 * (2 - p) : 2 * TH + 2;
        const int Wp = s.OW + 2 * (2 - p) > 2 * TWP + 2 ? s.OW + 2 * (2 - p) : 2 * TWP + 2;
        const nn_wino_shape ws = {F, C, H, W, TH, TW, TWP, 2, Hp, Wp};
        float *scratch = tk_alloc(NN_WINO_SCRATCH(F, C, 2, TWP, Hp, Wp));
        for (int i = 0; i < C * H * W; i++) got[i] = 0.25f * (float)(i % 5);
        nn_wino_image(TV, 1, ws, t, dz, U, NN_ACT_NONE, 0.0f, 0.0f, got, scratch);
        tk_cases++;
        for (int i = 0; i < C * H * W; i++)
            if (!tk_close(got[i], want[i])) {
                char what[200];
                snprintf(what, sizeof what, "winograd dx TV %d C=%d H=%d W=%d F=%d pad=%d at %d: %g, naive %g", TV, C, H,
                         W, F, p, i, got[i], want[i]);
                tk_fail(what);
                break;
            }
        free(scratch);
    }
    free(x); free(w); free(dz); free(dW); free(col); free(dcol); free(want); free(got); free(U);
}

/* ∂W by Winograd over a batch of 3 against the sum of nn_conv_backward's ∂W, for the forward layer. */
static void tk_wino_dw_case(int C, int H, int W, int F, int p, int TB) {
    const nn_conv_shape s = {C, H, W, 3, 3, 1, 1, p, p, 1, 1, H + 2 * p - 2, W + 2 * p - 2};
    const int N = s.OH * s.OW, K = C * 9, TH = (s.OH + 1) / 2, TW = (s.OW + 1) / 2, nb = 3;
    float *x = tk_alloc((size_t)nb * C * H * W), *dz = tk_alloc((size_t)nb * F * N), *w = tk_alloc((size_t)F * K);
    float *want = tk_alloc((size_t)F * K), *got = tk_alloc((size_t)F * K), *col = tk_alloc((size_t)K * N);
    float *dUt = tk_alloc((size_t)16 * C * F);
    for (int i = 0; i < nb * C * H * W; i++) x[i] = 2.0f * nn_rng_uniform(&tk_rng) - 1.0f;
    for (int i = 0; i < nb * F * N; i++) dz[i] = 2.0f * nn_rng_uniform(&tk_rng) - 1.0f;
    for (int i = 0; i < F * K; i++) want[i] = 0.5f * (float)(i % 3); /* what dW held before */
    for (int b = 0; b < nb; b++)
        nn_conv_backward(x + (size_t)b * C * H * W, s, F, w, dz + (size_t)b * F * N, NULL, want, NULL, col, NULL);
    for (int TV = 4; TV <= NN_VW && TV <= 16; TV *= 2) {
        const int TWP = (TW + TV - 1) / TV * TV, tb = TB < TH ? TB : TH;
        const int Hp = H + 2 * p > 2 * TH + 2 ? H + 2 * p : 2 * TH + 2;
        const int Wp = W + 2 * p > 2 * TWP + 2 ? W + 2 * p : 2 * TWP + 2;
        const nn_wino_shape ws = {C, F, s.OH, s.OW, TH, TW, TWP, tb, Hp, Wp};
        float *scratch = tk_alloc(NN_WINO_DW_SCRATCH(C, F, tb, TWP, TH, Hp, Wp));
        memset(dUt, 0, (size_t)16 * C * F * sizeof(float));
        for (int b = 0; b < nb; b++)
            nn_wino_dw_image(TV, ws, s, x + (size_t)b * C * H * W, dz + (size_t)b * F * N, dUt, scratch);
        for (int i = 0; i < F * K; i++) got[i] = 0.5f * (float)(i % 3);
        nn_wino_dw_finish(F, C, dUt, got);
        tk_cases++;
        for (int i = 0; i < F * K; i++)
            if (!tk_close(got[i], want[i])) {
                char what[200];
                snprintf(what, sizeof what, "winograd dW TV %d TB %d C=%d H=%d W=%d F=%d pad=%d at %d: %g, naive %g", TV,
                         tb, C, H, W, F, p, i, got[i], want[i]);
                tk_fail(what);
                break;
            }
        free(scratch);
    }
    free(x); free(dz); free(w); free(want); free(got); free(col); free(dUt);
}

static int tk_check(const char *what, const float *got, const float *want, size_t n) {
    tk_cases++;
    for (size_t i = 0; i < n; i++)
        if (!tk_close(got[i], want[i])) {
            char msg[240];
            snprintf(msg, sizeof msg, "%s at %zu: %g, naive %g", what, i, got[i], want[i]);
            tk_fail(msg);
            return 0;
        }
    return 1;
}

static void tk_fill(float *p, size_t n) {
    for (size_t i = 0; i < n; i++) p[i] = 2.0f * nn_rng_uniform(&tk_rng) - 1.0f;
}

/* A depthwise layer of C channels, forward both ways (relu) and backward, against the naive conv per channel. */
static void tk_depthwise_case(int C, int H, int W, int kh, int kw, int sh, int sw, int pt, int pl, int pb, int pr, int dh,
                              int dw) {
    nn_conv_shape s = {1, H, W, kh, kw, sh, sw, pt, pl, dh, dw, 0, 0};
    s.OH = (H + pt + pb - dh * (kh - 1) - 1) / sh + 1;
    s.OW = (W + pl + pr - dw * (kw - 1) - 1) / sw + 1;
    const int T = kh * kw, N = s.OH * s.OW, Hq = s.OH + (kh - 1) * dh / sh, Wq = s.OW + (kw - 1) * dw / sw;
    const size_t planes = (size_t)sh * sw * nn_dw_plane(Hq, Wq), grid = (size_t)(kh - 1) * dh / sh * Wq + (kw - 1) * dw / sw + (size_t)Hq * Wq + 2 * NN_VW;
    float *x = tk_alloc((size_t)C * H * W), *w = tk_alloc((size_t)C * T), *bias = tk_alloc(C), *dz = tk_alloc((size_t)C * N);
    const int Hp = (s.OH - 1) * sh + (kh - 1) * dh + 1, Wp = (s.OW - 1) * sw + (kw - 1) * dw + 1;
    const size_t lanes = (size_t)Hp * Wp * NN_VW, per_channel = 2 * planes + grid + (size_t)N + NN_VW;
    float *want = tk_alloc((size_t)C * N), *got = tk_alloc((size_t)C * N), *scratch = tk_alloc(lanes > per_channel ? lanes : per_channel);
    float *dx = tk_alloc((size_t)C * H * W), *dxw = tk_alloc((size_t)C * H * W), *dW = tk_alloc((size_t)C * T), *dWw = tk_alloc((size_t)C * T);
    float db[64] = {0}, dbw[64] = {0}, *col = tk_alloc((size_t)T * N), *dcol = tk_alloc((size_t)T * N);
    tk_fill(x, (size_t)C * H * W); tk_fill(w, (size_t)C * T); tk_fill(bias, C); tk_fill(dz, (size_t)C * N);
    char what[200];
    for (int c = 0; c < C; c++)
        nn_conv_naive(x + (size_t)c * H * W, s, 1, w + c * T, bias + c, NN_ACT_RELU, 0, 0, want + (size_t)c * N);
    for (int by_rows = 0; by_rows <= 1; by_rows++) {
        for (int c = 0; c < C; c++) {
            nn_dw_channel(T, s, Hq, Wq, by_rows, x + (size_t)c * H * W, scratch, w + c * T, bias[c], NN_ACT_RELU, 0, 0, got + (size_t)c * N, scratch + planes);
        }
        snprintf(what, sizeof what, "depthwise %s C=%d %dx%d %dx%d stride %d,%d pad %d,%d,%d,%d dilation %d,%d",
                 by_rows ? "by rows" : "grid", C, H, W, kh, kw, sh, sw, pt, pl, pb, pr, dh, dw);
        tk_check(what, got, want, (size_t)C * N);
    }
    for (int i = 0; i < C * N; i++) got[i] = 7.0f; /* not what the layouts above left */
    for (int c = 0; c < C; c += NN_VW)  /* channels in the lanes, the last block partial */
        nn_dw_lanes(T, s, Hp, Wp, C - c < NN_VW ? C - c : NN_VW, 0, 0, x + (size_t)c * H * W, w + c * T, bias + c, NN_ACT_RELU,
                    0, 0, got + (size_t)c * N, scratch);
    snprintf(what, sizeof what, "depthwise lanes C=%d %dx%d %dx%d stride %d,%d pad %d,%d,%d,%d dilation %d,%d", C, H, W, kh, kw,
             sh, sw, pt, pl, pb, pr, dh, dw);
    tk_check(what, got, want, (size_t)C * N);
    /* Channels-last input, output or both ([pixels][C]), then back to planes to compare. */
    float *xl = tk_alloc((size_t)C * H * W), *yl = tk_alloc((size_t)C * N), *back = tk_alloc((size_t)C * N);
    for (int c = 0; c < C; c++)
        for (int q = 0; q < H * W; q++) xl[(size_t)q * C + c] = x[(size_t)c * H * W + q];
    for (int layout = 1; layout <= 3; layout++) {
        const int in_last = layout & 1, out_last = layout >> 1;
        for (int i = 0; i < C * N; i++) yl[i] = 7.0f;
        for (int c = 0; c < C; c += NN_VW)
            nn_dw_lanes(T, s, Hp, Wp, C - c < NN_VW ? C - c : NN_VW, in_last ? C : 0, out_last ? C : 0,
                        in_last ? xl + c : x + (size_t)c * H * W, w + c * T, bias + c, NN_ACT_RELU, 0, 0,
                        out_last ? yl + c : yl + (size_t)c * N, scratch);
        for (int c = 0; c < C; c++)
            for (int q = 0; q < N; q++) back[(size_t)c * N + q] = out_last ? yl[(size_t)q * C + c] : yl[(size_t)c * N + q];
        snprintf(what, sizeof what, "depthwise lanes channels-last %s%s C=%d %dx%d %dx%d stride %d,%d", in_last ? "in" : "",
                 out_last ? (in_last ? " and out" : "out") : "", C, H, W, kh, kw, sh, sw);
        tk_check(what, back, want, (size_t)C * N);
    }
    free(xl); free(yl); free(back);
    for (int i = 0; i < C * H * W; i++) dx[i] = dxw[i] = 0.25f * (float)(i % 5); /* what the buffers held */
    for (int i = 0; i < C * T; i++) dW[i] = dWw[i] = 0.5f * (float)(i % 3);
    for (int c = 0; c < C; c++) {
        nn_conv_backward(x + (size_t)c * H * W, s, 1, w + c * T, dz + (size_t)c * N, dxw + (size_t)c * H * W, dWw + c * T,
                         dbw + c, col, dcol);
        nn_dw_backward_channel(T, s, Hq, Wq, x + (size_t)c * H * W, w + c * T, dz + (size_t)c * N, dx + (size_t)c * H * W,
                               dW + c * T, db + c, scratch, scratch + planes, scratch + planes + grid);
    }
    snprintf(what, sizeof what, "depthwise dx C=%d %dx%d %dx%d stride %d,%d", C, H, W, kh, kw, sh, sw);
    tk_check(what, dx, dxw, (size_t)C * H * W);
    snprintf(what, sizeof what, "depthwise dW C=%d %dx%d %dx%d stride %d,%d", C, H, W, kh, kw, sh, sw);
    tk_check(what, dW, dWw, (size_t)C * T);
    snprintf(what, sizeof what, "depthwise db C=%d %dx%d %dx%d stride %d,%d", C, H, W, kh, kw, sh, sw);
    tk_check(what, db, dbw, (size_t)C);
    free(x); free(w); free(bias); free(dz); free(want); free(got); free(scratch); free(dx); free(dxw); free(dW); free(dWw);
    free(col); free(dcol);
}

static size_t tk_padded(int n) { return (size_t)(n + NN_NR - 1) / NN_NR * NN_NR; }

/* A 1×1 layer: forward on the GEMM (tanh) against the naive conv; for stride 1 without padding, its backward too. */
static void tk_pointwise_case(int C, int H, int W, int F, int sh, int sw, int p) {
    nn_conv_shape s = {C, H, W, 1, 1, sh, sw, p, p, 1, 1, (H + 2 * p - 1) / sh + 1, (W + 2 * p - 1) / sw + 1};
    const int N = s.OH * s.OW;
    float *x = tk_alloc((size_t)C * H * W), *w = tk_alloc((size_t)F * C), *bias = tk_alloc(tk_padded(F)), *dz = tk_alloc((size_t)F * N);
    float *want = tk_alloc((size_t)F * N), *got = tk_alloc((size_t)F * N), *Bp = tk_alloc((size_t)C * tk_padded(N));
    tk_fill(x, (size_t)C * H * W); tk_fill(w, (size_t)F * C); tk_fill(bias, F); tk_fill(dz, (size_t)F * N);
    char what[200];
    nn_conv_naive(x, s, F, w, bias, NN_ACT_TANH, 0, 0, want);
    nn_pack_pixels(x, s, Bp);
    nn_gemm(F, N, C, w, C, Bp, got, N, (nn_epilogue){.bias = bias, .bias_mode = 2, .act = NN_ACT_TANH});
    snprintf(what, sizeof what, "pointwise C=%d %dx%d F=%d stride %d,%d pad %d", C, H, W, F, sh, sw, p);
    tk_check(what, got, want, (size_t)F * N);
    /* three images as one GEMM: the first is x, the others scaled copies (their outputs from the naive conv too) */
    const size_t image = (size_t)C * H * W;
    float *xs = tk_alloc(3 * image), *ys = tk_alloc((size_t)3 * F * N), *wants = tk_alloc((size_t)3 * F * N);
    float *Bs = tk_alloc((size_t)C * tk_padded(3 * N)), *cs = tk_alloc((size_t)3 * F * N);
    for (size_t i = 0; i < 3 * image; i++) xs[i] = x[i % image] * (float)(1 + (int)(i / image));
    for (int b = 0; b < 3; b++) nn_conv_naive(xs + b * image, s, F, w, bias, NN_ACT_TANH, 0, 0, wants + (size_t)b * F * N);
    nn_conv1x1_batched(3, s, F, xs, w, (nn_epilogue){.bias = bias, .bias_mode = 2, .act = NN_ACT_TANH}, Bs, cs, ys);
    snprintf(what, sizeof what, "pointwise batched C=%d %dx%d F=%d stride %d,%d pad %d", C, H, W, F, sh, sw, p);
    tk_check(what, ys, wants, (size_t)3 * F * N);
    free(xs); free(ys); free(wants); free(Bs); free(cs);
    if (sh == 1 && sw == 1 && p == 0) {
        float *wt = tk_alloc((size_t)C * F), *colT = tk_alloc((size_t)N * tk_padded(C)), *dzT = tk_alloc((size_t)N * tk_padded(F));
        float *dzp = tk_alloc((size_t)F * tk_padded(N)), *col = tk_alloc((size_t)C * N), *dcol = tk_alloc((size_t)C * N);
        float *dx = tk_alloc((size_t)C * N), *dxw = tk_alloc((size_t)C * N), *dW = tk_alloc((size_t)F * C), *dWw = tk_alloc((size_t)F * C);
        float *dWt = tk_alloc((size_t)F * C), *db = tk_alloc(F), *dbw = tk_alloc(F);
        nn_transpose(F, C, w, wt);
        for (int i = 0; i < C * N; i++) dx[i] = dxw[i] = 0.25f * (float)(i % 5);
        nn_conv_backward(x, s, F, w, dz, dxw, dWw, dbw, col, dcol);
        nn_conv1x1_backward(x, s, F, wt, dz, dx, dW, NULL, db, colT, dzT, dzp);  /* ∂W as dz·xᵀ */
        nn_conv1x1_backward(x, s, F, wt, dz, NULL, NULL, dWt, NULL, colT, dzT, dzp);  /* ∂Wᵀ as x·dzᵀ */
        float *dW2 = tk_alloc((size_t)F * C);
        nn_add_transposed(F, C, dWt, dW2);
        snprintf(what, sizeof what, "pointwise backward C=%d %dx%d F=%d", C, H, W, F);
        tk_check(what, dx, dxw, (size_t)C * N);
        tk_check(what, dW, dWw, (size_t)F * C);
        tk_check(what, dW2, dWw, (size_t)F * C);
        tk_check(what, db, dbw, (size_t)F);
        free(wt); free(colT); free(dzT); free(dzp); free(col); free(dcol); free(dx); free(dxw); free(dW); free(dWw);
        free(dWt); free(db); free(dbw); free(dW2);
    }
    free(x); free(w); free(bias); free(dz); free(want); free(got); free(Bp);
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    static const tk_conv convs[] = {
        /* C  H   W  F  kh kw sh pt pl pb pr dh dw */
        {1, 7, 7, 1, 3, 3, 1, 0, 0, 0, 0, 1, 1},
        {2, 13, 9, 3, 5, 5, 1, 2, 2, 2, 2, 1, 1},
        {3, 11, 37, 5, 3, 3, 2, 1, 1, 1, 1, 1, 1},  /* rows of 3 vectors of 16, height stride */
        {2, 9, 17, 6, 3, 2, 1, 0, 2, 1, 0, 2, 3},   /* dilation, asymmetric padding */
        {1, 28, 28, 6, 5, 5, 1, 2, 2, 2, 2, 1, 1},  /* lenet5's first layer */
    };
    static const int tilings[][2] = {{1, 1}, {1, 3}, {1, 8}, {2, 2}, {3, 4}, {5, 3}, {3, 2}, {2, 3}, {5, 4}};
    for (size_t i = 0; i < sizeof convs / sizeof convs[0]; i++)
        for (size_t t = 0; t < sizeof tilings / sizeof tilings[0]; t++)
            if (convs[i].F % tilings[t][0] == 0)
                for (int nb = 1; nb <= 5; nb += 4) tk_dw_case(convs[i], nb, tilings[t][0], tilings[t][1]);
    static const int pools[][2] = {{2, 2}, {5, 7}, {28, 28}, {10, 10}, {9, 67}, {32, 32}, {4, 36}};
    for (size_t i = 0; i < sizeof pools / sizeof pools[0]; i++)
        for (int nan_every = 0; nan_every <= 7; nan_every += 7) tk_pool_case(pools[i][0], pools[i][1], nan_every);
    static const int winos[][5] = {{3, 7, 9, 5, 1}, {16, 16, 16, 17, 1}, {5, 9, 13, 4, 0}, {4, 6, 11, 3, 2},
                                   {17, 32, 32, 9, 1}};
    for (size_t i = 0; i < sizeof winos / sizeof winos[0]; i++) {
        tk_wino_dx_case(winos[i][0], winos[i][1], winos[i][2], winos[i][3], winos[i][4]);
        for (int tb = 1; tb <= 64; tb *= 8)
            tk_wino_dw_case(winos[i][0], winos[i][1], winos[i][2], winos[i][3], winos[i][4], tb);
    }
    static const int dws[][13] = {
        /* C  H   W kh kw sh sw pt pl pb pr dh dw */
        {3, 7, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},     /* dscnn's narrow rows */
        {13, 5, 7, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},    /* channels in the lanes: a full block and a partial one */
        {19, 3, 4, 3, 3, 2, 1, 1, 0, 1, 1, 1, 2},    /* lanes: strided, dilated, a column of padding only */
        {2, 13, 37, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1},   /* strided, rows wider than a vector */
        {2, 9, 11, 5, 5, 1, 1, 2, 2, 2, 2, 1, 1},    /* 25 taps */
        {1, 11, 17, 3, 3, 2, 1, 1, 0, 2, 1, 2, 1},   /* asymmetric padding, dilation along the height */
        {2, 12, 10, 3, 3, 2, 2, 0, 1, 1, 0, 1, 2},   /* even size, stride 2, dilation along the width */
        {1, 1, 20, 1, 3, 1, 3, 0, 2, 0, 1, 1, 1},    /* one row (conv1d), width stride 3 */
    };
    for (size_t i = 0; i < sizeof dws / sizeof dws[0]; i++) {
        const int *v = dws[i];
        tk_depthwise_case(v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], v[11], v[12]);
    }
    static const int pws[][7] = {{5, 7, 9, 11, 1, 1, 0}, {33, 5, 5, 3, 1, 1, 0}, {6, 9, 13, 70, 2, 2, 0}, {4, 6, 7, 5, 2, 1, 1}};
    for (size_t i = 0; i < sizeof pws / sizeof pws[0]; i++)
        tk_pointwise_case(pws[i][0], pws[i][1], pws[i][2], pws[i][3], pws[i][4], pws[i][5], pws[i][6]);
    printf("train_kernels_test (NN_VW %d): %d checks, %d failures\n", NN_VW, tk_cases, tk_failures);
    return tk_failures ? 1 : 0;
}
