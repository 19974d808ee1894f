/* ---- 3-D convolution (Conv3d): im2col over the (kd, kh, kw) taps, then the
   packed GEMM, forward and backward; the naive loops for reference builds.
   Each call is one image and one group of a [C, D, H, W] input. */
typedef struct {
    int C, D, H, W;             /* input channels (of this group) and size */
    int kd, kh, kw, sd, sh, sw; /* kernel and stride */
    int pf, pt, pl;             /* front/top/left padding */
    int dd, dh, dw;             /* dilation */
    int OD, OH, OW;             /* output size */
} nn_conv3_shape;

/* col[k][n], K = C·kd·kh·kw rows (tap (c, a, i, j)), N = OD·OH·OW columns;
   zeros where a tap falls in the padding. */
NN_UNUSED static void nn_im2col3(const float *restrict x, nn_conv3_shape s, float *restrict col) {
    for (int c = 0; c < s.C; c++)
        for (int a = 0; a < s.kd; a++)
            for (int i = 0; i < s.kh; i++)
                for (int j = 0; j < s.kw; j++)
                    for (int od = 0; od < s.OD; od++) {
                        const int id = od * s.sd - s.pf + a * s.dd;
                        for (int oh = 0; oh < s.OH; oh++, col += s.OW) {
                            const int ih = oh * s.sh - s.pt + i * s.dh;
                            if (id < 0 || id >= s.D || ih < 0 || ih >= s.H) {
                                memset(col, 0, (size_t)s.OW * sizeof(float));
                                continue;
                            }
                            const float *row = x + (((size_t)c * s.D + id) * s.H + ih) * s.W;
                            for (int ow = 0; ow < s.OW; ow++) {
                                const int iw = ow * s.sw - s.pl + j * s.dw;
                                col[ow] = iw >= 0 && iw < s.W ? row[iw] : 0.0f;
                            }
                        }
                    }
}

/* The adjoint of nn_im2col3: dx += the columns scattered back to their pixels. */
NN_UNUSED static void nn_col2im3_add(const float *restrict col, nn_conv3_shape s, float *restrict dx) {
    for (int c = 0; c < s.C; c++)
        for (int a = 0; a < s.kd; a++)
            for (int i = 0; i < s.kh; i++)
                for (int j = 0; j < s.kw; j++)
                    for (int od = 0; od < s.OD; od++) {
                        const int id = od * s.sd - s.pf + a * s.dd;
                        for (int oh = 0; oh < s.OH; oh++, col += s.OW) {
                            const int ih = oh * s.sh - s.pt + i * s.dh;
                            if (id < 0 || id >= s.D || ih < 0 || ih >= s.H) continue;
                            float *row = dx + (((size_t)c * s.D + id) * s.H + ih) * s.W;
                            for (int ow = 0; ow < s.OW; ow++) {
                                const int iw = ow * s.sw - s.pl + j * s.dw;
                                if (iw >= 0 && iw < s.W) row[iw] += col[ow];
                            }
                        }
                    }
}

/* y [F][N] = act(W [F][K] · col [K][N] + bias): im2col into col, packed as
   the GEMM's panels into colp. */
NN_UNUSED static void nn_conv3_gemm(const float *restrict x, nn_conv3_shape s, int F, const float *restrict w,
                                    const float *restrict bias, int act, float alpha, float beta, float *restrict y,
                                    float *restrict col, float *restrict colp) {
    const int K = s.C * s.kd * s.kh * s.kw, N = s.OD * s.OH * s.OW;
    nn_im2col3(x, s, col);
    nn_pack_rows(K, N, col, N, colp);
    const nn_epilogue e = {.bias = bias, .bias_mode = 2, .act = act, .alpha = alpha, .beta = beta};
    nn_gemm(F, N, K, w, K, colp, y, N, e);
}

/* Reference: the direct convolution, weights w[F][C][kd][kh][kw]. */
NN_UNUSED static void nn_conv3_naive(const float *x, nn_conv3_shape s, int F, const float *w, const float *bias,
                                     int act, float alpha, float beta, float *y) {
    for (int f = 0; f < F; f++)
        for (int od = 0; od < s.OD; od++)
            for (int oh = 0; oh < s.OH; oh++)
                for (int ow = 0; ow < s.OW; ow++) {
                    float acc = bias[f];
                    const float *wf = w + (size_t)f * s.C * s.kd * s.kh * s.kw;
                    for (int c = 0; c < s.C; c++)
                        for (int a = 0; a < s.kd; a++)
                            for (int i = 0; i < s.kh; i++)
                                for (int j = 0; j < s.kw; j++, wf++) {
                                    const int id = od * s.sd - s.pf + a * s.dd, ih = oh * s.sh - s.pt + i * s.dh;
                                    const int iw = ow * s.sw - s.pl + j * s.dw;
                                    if (id >= 0 && id < s.D && ih >= 0 && ih < s.H && iw >= 0 && iw < s.W)
                                        acc += *wf * x[(((size_t)c * s.D + id) * s.H + ih) * s.W + iw];
                                }
                    y[(((size_t)f * s.OD + od) * s.OH + oh) * s.OW + ow] = nn_act(act, alpha, beta, acc);
                }
}

/* Reference backward, the same loops: dW += dz·x, dx += dz·W (dx may be
   NULL), db += Σ dz (db may be NULL). */
NN_UNUSED static void nn_conv3_backward_naive(const float *x, nn_conv3_shape s, int F, const float *w, const float *dz,
                                              float *dx, float *dW, float *db) {
    const int K = s.C * s.kd * s.kh * s.kw;
    for (int f = 0; f < F; f++)
        for (int od = 0; od < s.OD; od++)
            for (int oh = 0; oh < s.OH; oh++)
                for (int ow = 0; ow < s.OW; ow++) {
                    const float g = dz[(((size_t)f * s.OD + od) * s.OH + oh) * s.OW + ow];
                    if (db) db[f] += g;
                    int k = 0;
                    for (int c = 0; c < s.C; c++)
                        for (int a = 0; a < s.kd; a++)
                            for (int i = 0; i < s.kh; i++)
                                for (int j = 0; j < s.kw; j++, k++) {
                                    const int id = od * s.sd - s.pf + a * s.dd, ih = oh * s.sh - s.pt + i * s.dh;
                                    const int iw = ow * s.sw - s.pl + j * s.dw;
                                    if (id < 0 || id >= s.D || ih < 0 || ih >= s.H || iw < 0 || iw >= s.W) continue;
                                    const size_t at = (((size_t)c * s.D + id) * s.H + ih) * s.W + iw;
                                    dW[(size_t)f * K + k] += g * x[at];
                                    if (dx) dx[at] += g * w[(size_t)f * K + k];
                                }
                }
}

/* Backward on the GEMM: dW [F][K] += dz·colᵀ (colᵀ packed into colT),
   db += Σ dz, and when dx is wanted dcol = Wᵀ·dz (Wᵀ pre-packed as wt [K][F],
   dz packed into dzp) scattered back by nn_col2im3_add. */
NN_UNUSED static void nn_conv3_backward_gemm(const float *restrict x, nn_conv3_shape s, int F, const float *restrict wt,
                                             const float *restrict dz, float *restrict dx, float *restrict dW,
                                             float *restrict db, float *restrict col, float *restrict colT,
                                             float *restrict dzp) {
    const int K = s.C * s.kd * s.kh * s.kw, N = s.OD * s.OH * s.OW;
    const nn_epilogue add = {.accumulate = 1, .act = NN_ACT_NONE}, set = {.act = NN_ACT_NONE};
    nn_im2col3(x, s, col);
    nn_pack_transposed(K, N, col, colT);
    nn_gemm(F, K, N, dz, N, colT, dW, K, add);
    if (db)
        for (int f = 0; f < F; f++) {
            float sum = 0;
            for (int n = 0; n < N; n++) sum += dz[(size_t)f * N + n];
            db[f] += sum;
        }
    if (!dx) return;
    nn_pack_rows(F, N, dz, N, dzp);
    nn_gemm(K, N, F, wt, F, dzp, col, N, set);
    nn_col2im3_add(col, s, dx);
}
