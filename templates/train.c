/* ---- training kernels: losses, backward of every layer, optimizers ------
   Backward kernels ACCUMULATE into gradient buffers (+=): train_step zeroes
   every gradient first, so fan-out sums its contributions for free. */

/* a[i] += s * b[i], the inner loop of most backward kernels. */
static inline void nn_axpy(int n, float s, const float *restrict b, float *restrict a) {
    for (int i = 0; i < n; i++) a[i] += s * b[i];
}

/* Dot product with vector accumulators: gcc will not reorder a scalar float
   sum (that would change rounding), so the vectorization is spelled out. */
static inline float nn_dot(int n, const float *restrict a, const float *restrict b) {
    nn_vf acc = nn_splat(0);
    int i = 0;
    for (; i + NN_VW <= n; i += NN_VW) acc += nn_load(a + i) * nn_load(b + i);
    float s = 0;
    for (int j = 0; j < NN_VW; j++) s += acc[j];
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

/* Sum of n floats with vector accumulators (see nn_dot). */
static inline float nn_sum(int n, const float *restrict a) {
    nn_vf acc = nn_splat(0);
    int i = 0;
    for (; i + NN_VW <= n; i += NN_VW) acc += nn_load(a + i);
    float s = 0;
    for (int j = 0; j < NN_VW; j++) s += acc[j];
    for (; i < n; i++) s += a[i];
    return s;
}

/* d act(z)/dz from the activation's output y (relu, sigmoid, tanh, leaky
   relu with alpha > 0) or, for gelu, from its input z. At a NaN, relu passes
   the gradient and leaky relu scales it by alpha, as PyTorch's backward. */
static inline float nn_act_grad(int act, float alpha, float z, float y) {
    switch (act) {
    case NN_ACT_RELU: return y <= 0 ? 0.0f : 1.0f;
    case NN_ACT_SIGMOID: return y * (1.0f - y);
    case NN_ACT_TANH: return 1.0f - y * y;
    case NN_ACT_LEAKY_RELU: return z > 0 ? 1.0f : alpha;
    case NN_ACT_GELU: {
        float cdf = 0.5f * (1.0f + erff(z * 0.70710678118654752f));
        return cdf + z * 0.39894228040143268f * expf(-0.5f * z * z);
    }
    default: return 1.0f;
    }
}

/* Standalone activation: dx += dy · act'(x). */
NN_UNUSED static void nn_act_backward(size_t n, int act, float alpha, const float *x, const float *y,
                                      const float *dy, float *dx) {
    for (size_t i = 0; i < n; i++) dx[i] += dy[i] * nn_act_grad(act, alpha, x[i], y[i]);
}

/* Fused epilogue: dz = dy · act'(y) in place (leaky relu reads y's sign). */
NN_UNUSED static void nn_epilogue_backward(size_t n, int act, float alpha, const float *y, float *dz) {
    if (act == NN_ACT_NONE) return;
    for (size_t i = 0; i < n; i++) dz[i] *= nn_act_grad(act, alpha, y[i], y[i]);
}

/* dense y = x·Wᵀ + b over R rows: dW += dzᵀ·x, db += Σ dz, dx += dz·W. */
NN_UNUSED static void nn_dense_backward(int R, int K, int N, const float *restrict x, const float *restrict W,
                                        const float *restrict dz, float *restrict dx, float *restrict dW,
                                        float *restrict db) {
    for (int n = 0; n < N; n++) {
        float *dw = dW + (size_t)n * K;
        float sb = 0;
        for (int r = 0; r < R; r++) {
            float g = dz[(size_t)r * N + n];
            sb += g;
            if (g != 0.0f) nn_axpy(K, g, x + (size_t)r * K, dw);
        }
        if (db) db[n] += sb;
    }
    if (dx)
        for (int r = 0; r < R; r++)
            for (int n = 0; n < N; n++) {
                float g = dz[(size_t)r * N + n];
                if (g != 0.0f) nn_axpy(K, g, W + (size_t)n * K, dx + (size_t)r * K);
            }
}

/* im2col of one image and group as plain rows: col[k][n], K×N; each
   output row of a tap reads one input row (contiguous for stride 1). */
NN_UNUSED static void nn_im2col_rows(const float *restrict x, nn_conv_shape s, float *restrict col) {
    for (int c = 0; c < s.C; c++)
        for (int i = 0; i < s.kh; i++)
            for (int j = 0; j < s.kw; j++)
                for (int oh = 0; oh < s.OH; oh++, col += s.OW) {
                    const int ih = oh * s.sh - s.pt + i * s.dh;
                    if (ih < 0 || ih >= s.H) { memset(col, 0, (size_t)s.OW * sizeof(float)); continue; }
                    const float *row = x + ((size_t)c * s.H + ih) * s.W;
                    const int iw0 = j * s.dw - s.pl;
                    for (int ow = 0; ow < s.OW; ow++) {
                        const int iw = iw0 + ow * s.sw;
                        col[ow] = iw >= 0 && iw < s.W ? row[iw] : 0.0f;
                    }
                }
}

/* The adjoint of im2col: dx += the columns scattered back to their pixels;
   per output row, the pixels inside the image form one run [lo, hi). */
NN_UNUSED static void nn_col2im_add(const float *restrict col, nn_conv_shape s, float *restrict dx) {
    const int N = s.OH * s.OW;
    for (int c = 0; c < s.C; c++)
        for (int i = 0; i < s.kh; i++)
            for (int j = 0; j < s.kw; j++, col += N) {
                const int iw0 = j * s.dw - s.pl;
                int lo = iw0 >= 0 ? 0 : (-iw0 + s.sw - 1) / s.sw;
                int hi = iw0 >= s.W ? 0 : (s.W - iw0 + s.sw - 1) / s.sw;
                hi = hi < s.OW ? hi : s.OW;
                for (int oh = 0; oh < s.OH; oh++) {
                    const int ih = oh * s.sh - s.pt + i * s.dh;
                    if (ih < 0 || ih >= s.H) continue;
                    float *row = dx + ((size_t)c * s.H + ih) * s.W;
                    const float *cr = col + (size_t)oh * s.OW;
                    if (s.sw == 1) for (int ow = lo; ow < hi; ow++) row[iw0 + ow] += cr[ow];
                    else for (int ow = lo; ow < hi; ow++) row[iw0 + ow * s.sw] += cr[ow];
                }
            }
}

/* conv2d of one image and group (F filters of K = C·kh·kw taps over N
   pixels): dW += dz·colᵀ, db += Σ dz, dx += col2im(Wᵀ·dz). */
NN_UNUSED static void nn_conv_backward(const float *restrict x, nn_conv_shape s, int F, const float *restrict W,
                                       const float *restrict dz, float *restrict dx, float *restrict dW,
                                       float *restrict db, float *restrict col, float *restrict dcol) {
    const int N = s.OH * s.OW, K = s.C * s.kh * s.kw;
    nn_im2col_rows(x, s, col);
    for (int f = 0; f < F; f++) {
        const float *g = dz + (size_t)f * N;
        if (db) {
            float sb = 0;
            for (int n = 0; n < N; n++) sb += g[n];
            db[f] += sb;
        }
        for (int k = 0; k < K; k++) dW[(size_t)f * K + k] += nn_dot(N, g, col + (size_t)k * N);
    }
    if (!dx) return;
    memset(dcol, 0, (size_t)K * N * sizeof(float));
    for (int k = 0; k < K; k++)
        for (int f = 0; f < F; f++) {
            float w = W[(size_t)f * K + k];
            if (w != 0.0f) nn_axpy(N, w, dz + (size_t)f * N, dcol + (size_t)k * N);
        }
    nn_col2im_add(dcol, s, dx);
}

/* Max-pool backward for the common 2×2 window, stride 2, all inside: for
   each window the first maximum in scan order takes the gradient (a NaN
   wins, as in PyTorch). VW windows at a time, without branches (random data
   would mispredict them half the time): even and odd columns split by
   shuffles, the choice as lane masks, the four gradients interleaved back;
   masked loads and stores for the last windows of a row. */
NN_UNUSED static void nn_maxpool2_backward(const float *restrict x, int H, int W, int OH, int OW,
                                           const float *restrict dy, float *restrict dx) {
    (void)H;
    nn_vi low, high;
    for (int l = 0; l < NN_VW; l++) {
        low[l] = l / 2 + (l % 2) * NN_VW;               /* a0 b0 a1 b1 ... */
        high[l] = NN_VW / 2 + l / 2 + (l % 2) * NN_VW;
    }
    for (int oh = 0; oh < OH; oh++) {
        const float *r0 = x + (size_t)2 * oh * W, *r1 = r0 + W, *g = dy + (size_t)oh * OW;
        float *d0 = dx + (size_t)2 * oh * W, *d1 = d0 + W;
        for (int ow = 0; ow < OW; ow += NN_VW) {
            /* n windows: 2n floats of each row, in two vectors; masked past them */
            const int n = OW - ow < NN_VW ? OW - ow : NN_VW;
            const int n0 = 2 * n < NN_VW ? 2 * n : NN_VW, n1 = 2 * n - n0;
            nn_vf w[4];
            nn_maxpool2_corners(r0 + 2 * ow, r1 + 2 * ow, n, w);
            const nn_vf a = w[0], b = w[1], c = w[2], d = w[3];
            nn_vf v = a;
            nn_vi sel = (nn_vi){0}, take = (b > v) | (b != b);
            v = nn_vselect(take, b, v);
            sel = (take & 1) | (~take & sel);
            take = (c > v) | (c != c);
            v = nn_vselect(take, c, v);
            sel = (take & 2) | (~take & sel);
            take = (d > v) | (d != d);
            sel = (take & 3) | (~take & sel);
            const nn_vf gv = nn_load_n(g + ow, n), zero = nn_splat(0);
            const nn_vf ga = nn_vselect(sel == 0, gv, zero), gb = nn_vselect(sel == 1, gv, zero);
            const nn_vf gc = nn_vselect(sel == 2, gv, zero), gd = nn_vselect(sel == 3, gv, zero);
            nn_store_n(d0 + 2 * ow, nn_load_n(d0 + 2 * ow, n0) + __builtin_shuffle(ga, gb, low), n0);
            nn_store_n(d1 + 2 * ow, nn_load_n(d1 + 2 * ow, n0) + __builtin_shuffle(gc, gd, low), n0);
            if (n1) {
                nn_store_n(d0 + 2 * ow + NN_VW, nn_load_n(d0 + 2 * ow + NN_VW, n1) + __builtin_shuffle(ga, gb, high), n1);
                nn_store_n(d1 + 2 * ow + NN_VW, nn_load_n(d1 + 2 * ow + NN_VW, n1) + __builtin_shuffle(gc, gd, high), n1);
            }
        }
    }
}

/* Pools over one plane, plain loops. Max routes the gradient to the first
   maximum of each window (a NaN wins), as PyTorch does; average spreads it
   over the window. */
NN_UNUSED static void nn_pool_backward_naive(int is_max, const float *restrict x, int H, int W, int kh, int kw,
                                             int sh, int sw, int ph, int pw, int OH, int OW,
                                             const float *restrict dy, float *restrict dx) {
    for (int oh = 0; oh < OH; oh++)
        for (int ow = 0; ow < OW; ow++) {
            float g = dy[oh * OW + ow];
            int best = -1;
            float v = -INFINITY;
            for (int i = 0; i < kh; i++) {
                int ih = oh * sh - ph + i;
                if (ih < 0 || ih >= H) continue;
                for (int j = 0; j < kw; j++) {
                    int iw = ow * sw - pw + j;
                    if (iw < 0 || iw >= W) continue;
                    if (is_max) {
                        float xv = x[ih * W + iw];
                        if (best < 0 || xv > v || xv != xv) { v = xv; best = ih * W + iw; }
                    } else {
                        dx[ih * W + iw] += g / (float)(kh * kw);
                    }
                }
            }
            if (is_max && best >= 0) dx[best] += g;
        }
}

/* Max or average pool backward of one plane: the 2×2, stride-2 max pool by
   the vector kernel, everything else by the plain loops. */
NN_UNUSED static void nn_pool_backward(int is_max, const float *restrict x, int H, int W, int kh, int kw, int sh,
                                       int sw, int ph, int pw, int OH, int OW, const float *restrict dy,
                                       float *restrict dx) {
    if (is_max && kh == 2 && kw == 2 && sh == 2 && sw == 2 && ph == 0 && pw == 0 && 2 * OH <= H && 2 * OW <= W)
        nn_maxpool2_backward(x, H, W, OH, OW, dy, dx);
    else
        nn_pool_backward_naive(is_max, x, H, W, kh, kw, sh, sw, ph, pw, OH, OW, dy, dx);
}

/* softmax / log_softmax over rows of L: dx += y·(dy − Σ dy·y), or
   dx += dy − softmax·Σ dy for log_softmax (y holds log-probabilities). */
NN_UNUSED static void nn_softmax_backward(int is_log, size_t rows, int L, const float *y, const float *dy,
                                          float *dx) {
    for (size_t r = 0; r < rows; r++) {
        const float *yr = y + r * L, *gr = dy + r * L;
        float *dr = dx + r * L;
        float s = 0;
        for (int j = 0; j < L; j++) s += is_log ? gr[j] : gr[j] * yr[j];
        for (int j = 0; j < L; j++) dr[j] += is_log ? gr[j] - expf(yr[j]) * s : yr[j] * (gr[j] - s);
    }
}

/* batchnorm in training mode over channel ch of nb examples (inner floats
   each): batch mean and biased variance (two passes, vector sums) normalise;
   mean and 1/σ are saved for backward, the unbiased variance for the
   running statistics. */
NN_UNUSED static void nn_bn_train_forward(int nb, int C, int inner, const float *x, const float *gamma,
                                          const float *beta, float eps, float *y, float *mean_out,
                                          float *invstd_out, float *var_unbiased_out) {
    const float n = (float)nb * inner;
    for (int ch = 0; ch < C; ch++) {
        float s = 0, ss = 0;
        for (int b = 0; b < nb; b++) s += nn_sum(inner, x + ((size_t)b * C + ch) * inner);
        const float mean = s / n;
        for (int b = 0; b < nb; b++) {
            const float *xc = x + ((size_t)b * C + ch) * inner;
            nn_vf acc = nn_splat(0);
            int i = 0;
            for (; i + NN_VW <= inner; i += NN_VW) { nn_vf d = nn_load(xc + i) - mean; acc += d * d; }
            for (int j = 0; j < NN_VW; j++) ss += acc[j];
            for (; i < inner; i++) ss += (xc[i] - mean) * (xc[i] - mean);
        }
        const float var = ss / n, invstd = 1.0f / sqrtf(var + eps);
        mean_out[ch] = mean;
        invstd_out[ch] = invstd;
        var_unbiased_out[ch] = n > 1 ? ss / (n - 1) : var;
        const float sc = gamma[ch] * invstd, sh = beta[ch] - mean * sc;
        for (int b = 0; b < nb; b++) {
            const float *xc = x + ((size_t)b * C + ch) * inner;
            float *yc = y + ((size_t)b * C + ch) * inner;
            for (int i = 0; i < inner; i++) yc[i] = xc[i] * sc + sh;
        }
    }
}

/* dγ += Σ dy·x̂, dβ += Σ dy, dx += γ/σ·(dy − mean(dy) − x̂·mean(dy·x̂)), with
   Σ dy·x̂ = (Σ dy·x − μ·Σ dy)/σ from vector sums. */
NN_UNUSED static void nn_bn_backward(int nb, int C, int inner, const float *x, const float *gamma,
                                     const float *mean, const float *invstd, const float *dy, float *dx,
                                     float *dgamma, float *dbeta) {
    const float n = (float)nb * inner;
    for (int ch = 0; ch < C; ch++) {
        float sg = 0, sgx = 0;
        for (int b = 0; b < nb; b++) {
            const float *xc = x + ((size_t)b * C + ch) * inner, *gc = dy + ((size_t)b * C + ch) * inner;
            sg += nn_sum(inner, gc);
            sgx += nn_dot(inner, gc, xc);
        }
        sgx = (sgx - mean[ch] * sg) * invstd[ch];
        dgamma[ch] += sgx;
        dbeta[ch] += sg;
        if (!dx) continue;
        const float k = gamma[ch] * invstd[ch], m = mean[ch], is = invstd[ch];
        for (int b = 0; b < nb; b++) {
            const float *xc = x + ((size_t)b * C + ch) * inner, *gc = dy + ((size_t)b * C + ch) * inner;
            float *dc = dx + ((size_t)b * C + ch) * inner;
            for (int i = 0; i < inner; i++) dc[i] += k * (gc[i] - sg / n - (xc[i] - m) * is * sgx / n);
        }
    }
}

/* ---- losses: the mean over the batch; each writes d loss / d source ---- */

/* cross entropy of logits [nb, C] against int32 labels. */
NN_UNUSED static float nn_cross_entropy(int nb, int C, const float *z, const int32_t *labels, float *dz) {
    double total = 0;
    for (int b = 0; b < nb; b++) {
        const float *zr = z + (size_t)b * C;
        float m = zr[0], s = 0;
        for (int j = 1; j < C; j++) m = zr[j] > m ? zr[j] : m;
        for (int j = 0; j < C; j++) s += expf(zr[j] - m);
        float lse = m + logf(s);
        total += lse - zr[labels[b]];
        for (int j = 0; j < C; j++) dz[(size_t)b * C + j] += (expf(zr[j] - lse) - (j == labels[b])) / nb;
    }
    return (float)(total / nb);
}

/* mean squared error over every element. */
NN_UNUSED static float nn_mse(size_t n, const float *y, const float *t, float *dy) {
    double total = 0;
    for (size_t i = 0; i < n; i++) {
        float d = y[i] - t[i];
        total += (double)d * d;
        dy[i] += 2.0f * d / (float)n;
    }
    return (float)(total / n);
}

/* binary cross entropy from logits (a final sigmoid folded in, stable). */
NN_UNUSED static float nn_bce_logits(size_t n, const float *z, const float *t, float *dz) {
    double total = 0;
    for (size_t i = 0; i < n; i++) {
        float zi = z[i];
        total += (zi > 0 ? zi : 0) - zi * t[i] + log1pf(expf(-fabsf(zi)));
        dz[i] += (nn_sigmoid(zi) - t[i]) / (float)n;
    }
    return (float)(total / n);
}

/* binary cross entropy of probabilities, logs clamped at −100 as PyTorch. */
NN_UNUSED static float nn_bce(size_t n, const float *p, const float *t, float *dp) {
    double total = 0;
    for (size_t i = 0; i < n; i++) {
        float lp = logf(p[i]), lq = logf(1.0f - p[i]);
        lp = lp < -100.0f ? -100.0f : lp;
        lq = lq < -100.0f ? -100.0f : lq;
        total -= t[i] * lp + (1.0f - t[i]) * lq;
        float den = (1.0f - p[i]) * p[i];
        dp[i] += (p[i] - t[i]) / (den > 1e-12f ? den : 1e-12f) / (float)n;
    }
    return (float)(total / n);
}

/* ---- optimizers, PyTorch's update rules --------------------------------- */

/* 1 when none of n floats is NaN or infinite (exponent bits all ones): an
   integer OR that gcc vectorizes at every width, one pass over memory. */
NN_UNUSED static int nn_all_finite(size_t n, const float *p) {
    uint32_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, p + i, sizeof u);
        bad |= (u & 0x7f800000u) == 0x7f800000u;
    }
    return !bad;
}

/* Scales every gradient so their global L2 norm is at most max_norm. */
NN_UNUSED static void nn_clip_grad_norm(size_t n, float *g, float max_norm) {
    double ss = 0;
    for (size_t i = 0; i < n; i++) ss += (double)g[i] * g[i];
    float coef = max_norm / ((float)sqrt(ss) + 1e-6f);
    if (coef < 1.0f)
        for (size_t i = 0; i < n; i++) g[i] *= coef;
}

/* SGD with weight decay, momentum (buffer starts as the first gradient)
   and Nesterov. */
NN_UNUSED static void nn_sgd(size_t n, float *p, const float *g, float *buf, float lr, float momentum, float wd,
                   int nesterov, int first) {
    for (size_t i = 0; i < n; i++) {
        float d = g[i] + wd * p[i];
        if (momentum != 0.0f) {
            buf[i] = first ? d : momentum * buf[i] + d;
            d = nesterov ? d + momentum * buf[i] : buf[i];
        }
        p[i] -= lr * d;
    }
}

/* Adam with bias correction; step counts from 1. */
NN_UNUSED static void nn_adam(size_t n, float *p, const float *g, float *m, float *v, float lr, float b1, float b2, float eps,
                    float wd, long step) {
    float bc1 = 1.0f - powf(b1, (float)step), bc2 = 1.0f - powf(b2, (float)step);
    float step_size = lr / bc1, sq = sqrtf(bc2);
    for (size_t i = 0; i < n; i++) {
        float d = g[i] + wd * p[i];
        m[i] = b1 * m[i] + (1.0f - b1) * d;
        v[i] = b2 * v[i] + (1.0f - b2) * d * d;
        p[i] -= step_size * m[i] / (sqrtf(v[i]) / sq + eps);
    }
}

/* Inverted dropout: keep with probability 1 − rate and scale by 1/(1 − rate);
   the mask (0 or the scale) is kept for backward. */
NN_UNUSED static void nn_dropout_train(size_t n, const float *x, float *y, float *mask, float rate, uint64_t *rng) {
    const float keep = 1.0f / (1.0f - rate);
    for (size_t i = 0; i < n; i++) {
        mask[i] = nn_rng_uniform(rng) < rate ? 0.0f : keep;
        y[i] = x[i] * mask[i];
    }
}

/* ---- backward through the packed GEMM (the tiled twins of the above) --- */

/* dense: dx += dz·W with W's rows pre-packed as panels (wrows, by the
   packing step); dW += dzᵀ·x with dz transposed and x packed per call. */
NN_UNUSED static void nn_dense_backward_gemm(int R, int K, int N, const float *restrict x, const float *restrict wrows,
                                             const float *restrict dz, float *restrict dx, float *restrict dW,
                                             float *restrict db, float *restrict dzT, float *restrict xp) {
    const nn_epilogue add = {NULL, 0, 1, NN_ACT_NONE, 0.0f};
    if (dx) nn_gemm(R, K, N, dz, N, wrows, dx, K, add);
    for (int r = 0; r < R; r++)
        for (int n = 0; n < N; n++) dzT[(size_t)n * R + r] = dz[(size_t)r * N + n];
    nn_pack_rows(R, K, x, K, xp);
    nn_gemm(N, K, R, dzT, R, xp, dW, K, add);
    if (db)
        for (int r = 0; r < R; r++) nn_axpy(N, 1.0f, dz + (size_t)r * N, db);
}

/* ∂W of a conv whose forward runs by rows (stride 1 along the width), one
   group over the whole batch: dW[f][t] += Σ over images and output pixels of
   dz[f][pixel] times the input under tap t of that pixel, pixels in the
   vector lanes. A tile is FB filters × TB taps accumulators over the batch,
   summed across lanes once at the end: no im2col, no packing. xp holds each
   image padded as the forward pads it (Wp ≥ ceil(OW/VW)·VW + (kw − 1)·dw),
   image after image; dz images are dz_stride apart. Lanes past a row's end
   load dz as zeros, so what they read of the padding adds nothing. */
#define NN_DW_MAX_FB 12
#define NN_DW_MAX_TB 8
#ifndef NN_DW_CHUNK_KB
#define NN_DW_CHUNK_KB 256u
#endif
static inline __attribute__((always_inline)) void
nn_conv_dw_rows_tile(const int FB, const int TB, nn_conv_shape s, int Hp, int Wp, int nb, int t0,
                     const float *restrict xp, const float *restrict dz, size_t dz_stride, float *restrict dW) {
    const int K = s.C * s.kh * s.kw;
    const size_t plane = (size_t)s.OH * s.OW, image = (size_t)s.C * Hp * Wp;
    size_t off[NN_DW_MAX_TB];
    _Pragma("GCC unroll 12") for (int t = 0; t < TB; t++) {
        const int tap = t0 + t, c = tap / (s.kh * s.kw), i = tap / s.kw % s.kh, j = tap % s.kw;
        off[t] = ((size_t)c * Hp + (size_t)i * s.dh) * Wp + (size_t)j * s.dw;
    }
    nn_vf acc[NN_DW_MAX_FB][NN_DW_MAX_TB];
    _Pragma("GCC unroll 12") for (int f = 0; f < FB; f++)
        _Pragma("GCC unroll 12") for (int t = 0; t < TB; t++) acc[f][t] = nn_splat(0);
    for (int b = 0; b < nb; b++)
        for (int oh = 0; oh < s.OH; oh++)
            for (int ow0 = 0; ow0 < s.OW; ow0 += NN_VW) {
                const int n = s.OW - ow0 < NN_VW ? s.OW - ow0 : NN_VW;
                const float *g = dz + b * dz_stride + (size_t)oh * s.OW + ow0;
                const float *x = xp + b * image + (size_t)oh * s.sh * Wp + ow0;
                nn_vf d[NN_DW_MAX_FB];
                _Pragma("GCC unroll 12") for (int f = 0; f < FB; f++) d[f] = n == NN_VW ? nn_load(g + f * plane) : nn_load_n(g + f * plane, n);
                _Pragma("GCC unroll 12") for (int t = 0; t < TB; t++) {
                    const nn_vf xv = nn_load(x + off[t]);
                    _Pragma("GCC unroll 12") for (int f = 0; f < FB; f++) acc[f][t] += d[f] * xv;
                }
            }
    /* Whole-vector stores first: summing lanes of acc in place would make
       gcc keep acc in memory through the loop above. */
    float lanes[NN_DW_MAX_FB * NN_DW_MAX_TB * NN_VW];
    _Pragma("GCC unroll 12") for (int f = 0; f < FB; f++)
        _Pragma("GCC unroll 12") for (int t = 0; t < TB; t++) nn_store(lanes + (f * TB + t) * NN_VW, acc[f][t]);
    _Pragma("GCC unroll 12") for (int f = 0; f < FB; f++)
        _Pragma("GCC unroll 12") for (int t = 0; t < TB; t++) {
            float sum = 0;
            for (int l = 0; l < NN_VW; l++) sum += lanes[(f * TB + t) * NN_VW + l];
            dW[(size_t)f * K + t0 + t] += sum;
        }
}

/* A tile of TB taps from t0 for FB filters; nncc emits one per layer and
   tile shape, the shape as constants. */
typedef void (*nn_conv_dw_fn)(int nb, int t0, const float *restrict xp, const float *restrict dz,
                              float *restrict dW);

/* FB divides F; the last taps (K % TB) have their own tile, NULL if none. */
typedef struct {
    int fb, tb;
    nn_conv_dw_fn full, last_taps;
} nn_conv_dw_plan;

/* One group: dz points at the group's first filter of image 0, images
   dz_stride apart. Images go in chunks whose dz and padded input fit in
   about half of L2, so every tile of a chunk finds them there. */
NN_UNUSED static void nn_conv_dw_rows(nn_conv_shape s, int F, int nb, int Hp, int Wp, const float *restrict xp,
                                      const float *restrict dz, size_t dz_stride, float *restrict dW,
                                      const nn_conv_dw_plan *p) {
    const int K = s.C * s.kh * s.kw;
    const size_t image = (size_t)s.C * Hp * Wp, bytes = ((size_t)F * s.OH * s.OW + image) * sizeof(float);
    const int chunk = bytes >= (NN_DW_CHUNK_KB << 10) ? 1 : (int)((NN_DW_CHUNK_KB << 10) / bytes);
    for (int b0 = 0; b0 < nb; b0 += chunk) {
        const int n = nb - b0 < chunk ? nb - b0 : chunk;
        for (int f0 = 0; f0 < F; f0 += p->fb)
            for (int t0 = 0; t0 < K; t0 += p->tb)
                (K - t0 < p->tb ? p->last_taps : p->full)(n, t0, xp + b0 * image,
                                                          dz + b0 * dz_stride + (size_t)f0 * s.OH * s.OW,
                                                          dW + (size_t)f0 * K);
    }
}

/* conv2d, one image and group. ∂W one of two ways, the GEMM's columns
   being whichever of F and K fills its panels better:
   - dW (non-NULL): dW [F][K] += dz·colᵀ, colᵀ packed as panels into colT
     (few filters: lenet's 6 would fill 6 of 32 columns);
   - else dWt (non-NULL): dWᵀ [K][F] += col·dzᵀ, dz packed into dzT (the
     caller adds dWᵀ into dW once per step);
   - neither: the caller computes ∂W (nn_conv_dw_rows).
   Then dcol = Wᵀ·dz (Wᵀ pre-packed as wt [K][F], dz packed into dzp) and
   col2im. */
NN_UNUSED static void nn_conv_backward_gemm(const float *restrict x, nn_conv_shape s, int F, const float *restrict wt,
                                            const float *restrict dz, float *restrict dx, float *restrict dW,
                                            float *restrict dWt, float *restrict db, float *restrict col,
                                            float *restrict colT, float *restrict dzT, float *restrict dzp) {
    const int N = s.OH * s.OW, K = s.C * s.kh * s.kw;
    const nn_epilogue add = {NULL, 0, 1, NN_ACT_NONE, 0.0f}, set = {NULL, 0, 0, NN_ACT_NONE, 0.0f};
    if (dW) {
        nn_im2col_rows(x, s, col);
        nn_pack_transposed(K, N, col, colT);
        nn_gemm(F, K, N, dz, N, colT, dW, K, add);
    } else if (dWt) {
        nn_im2col_rows(x, s, col);
        nn_pack_transposed(F, N, dz, dzT);
        nn_gemm(K, F, N, col, N, dzT, dWt, F, add);
    }
    if (db)
        for (int f = 0; f < F; f++) db[f] += nn_sum(N, dz + (size_t)f * N);
    if (!dx) return;
    nn_pack_rows(F, N, dz, N, dzp);
    nn_gemm(K, N, F, wt, F, dzp, col, N, set);
    nn_col2im_add(col, s, dx);
}

/* dW [F][K] += dWᵀ [K][F]. */
NN_UNUSED static void nn_add_transposed(int F, int K, const float *restrict dWt, float *restrict dW) {
    for (int f = 0; f < F; f++)
        for (int k = 0; k < K; k++) dW[(size_t)f * K + k] += dWt[(size_t)k * F + f];
}

/* Wᵀ of one group's filters, [K][F], for the dcol GEMM. */
NN_UNUSED static void nn_transpose(int rows, int cols, const float *restrict a, float *restrict t) {
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) t[(size_t)c * rows + r] = a[(size_t)r * cols + c];
}
