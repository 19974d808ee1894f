/* ---- training kernels shared by every model: vector helpers, activation
   and softmax backward, losses, optimizers, dropout. The backward of each
   layer family is in its own template (dense_train.c, conv_train.c, ...).
   Backward kernels ACCUMULATE into gradient buffers (+=): train_step zeroes
   every gradient first, so fan-out sums its contributions for free. */

/* a[i] += s * b[i], the inner loop of most backward kernels. */
static inline void nn_axpy(int n, float s, const float *restrict b, float *restrict a) {
    for (int i = 0; i < n; i++) a[i] += s * b[i];
}

/* Dot product with vector accumulators: gcc will not reorder a scalar float
   sum (that would change rounding), so the vectorization is spelled out. */
NN_UNUSED static inline float nn_dot(int n, const float *restrict a, const float *restrict b) {
    nn_vf acc = nn_splat(0);
    int i = 0;
    for (; i + NN_VW <= n; i += NN_VW) acc += nn_load(a + i) * nn_load(b + i);
    float s = 0;
    for (int j = 0; j < NN_VW; j++) s += acc[j];
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

/* Sum of n floats with vector accumulators (see nn_dot). */
NN_UNUSED static inline float nn_sum(int n, const float *restrict a) {
    nn_vf acc = nn_splat(0);
    int i = 0;
    for (; i + NN_VW <= n; i += NN_VW) acc += nn_load(a + i);
    float s = 0;
    for (int j = 0; j < NN_VW; j++) s += acc[j];
    for (; i < n; i++) s += a[i];
    return s;
}

/* [*lo, *hi): thread t of team's part of n floats, cut at multiples of 16
   floats (a cache line), the last part shorter. */
NN_UNUSED static inline void nn_thread_range(size_t n, int t, int team, size_t *lo, size_t *hi) {
    const size_t part = (n + (size_t)team * 16 - 1) / ((size_t)team * 16) * 16;
    *lo = (size_t)t * part < n ? (size_t)t * part : n;
    *hi = *lo + part < n ? *lo + part : n;
}

/* t [cols][rows] = aᵀ: a conv's filters for the dcol GEMM, a recurrent
   layer's gate gradients for the weight GEMMs. */
NN_UNUSED static NN_ONCE void nn_transpose(int rows, int cols, const float *restrict a, float *restrict t) {
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) t[(size_t)c * rows + r] = a[(size_t)r * cols + c];
}

/* d act(z)/dz as PyTorch's autograd computes it, kinks included (relu6 and
   hardtanh pass nothing at min and max, abs nothing at 0, hardswish 0 at −3).
   Activations fused into a training epilogue (Activation.derivativeFromOutput)
   are called with z = y: their rule reads the output y, and z only for a
   sign that y shares (leaky relu and the elus with alpha > 0, clip). The
   others read the input z. At a NaN each passes, scales or drops the gradient
   as PyTorch's backward does. */
static inline float nn_act_grad(int act, float alpha, float beta, float z, float y) {
    switch (act) {
    case NN_ACT_RELU: return y <= 0 ? 0.0f : 1.0f;
    case NN_ACT_SIGMOID: return y * (1.0f - y);
    case NN_ACT_TANH: return 1.0f - y * y;
    case NN_ACT_LEAKY_RELU: return z > 0 ? 1.0f : alpha;
    case NN_ACT_GELU: {
        float cdf = 0.5f * (1.0f + erff(z * 0.70710678118654752f));
        return cdf + z * 0.39894228040143268f * expf(-0.5f * z * z);
    }
    case NN_ACT_GELU_TANH: {
        const float t = tanhf(NN_GELU_TANH_K * (z + 0.044715f * z * z * z));
        return 0.5f * (1.0f + t) + 0.5f * z * (1.0f - t * t) * NN_GELU_TANH_K * (1.0f + 3.0f * 0.044715f * z * z);
    }
    /* elu family: negcoef·e^(z·s)·s = (y + negcoef)·s on z ≤ 0 */
    case NN_ACT_ELU: return z <= 0 ? y + alpha : 1.0f;
    case NN_ACT_SELU: return z <= 0 ? y + alpha * beta : beta;
    case NN_ACT_CELU: return z <= 0 ? (y + alpha) / alpha : 1.0f;
    case NN_ACT_SOFTPLUS: {
        if (z * alpha > beta) return 1.0f;
        const float e = expf(z * alpha);
        return e / (e + 1.0f);
    }
    case NN_ACT_SOFTSIGN: {
        const float d = 1.0f + fabsf(z);
        return 1.0f / (d * d);
    }
    case NN_ACT_EXP: return y;
    case NN_ACT_LOG: return 1.0f / z;
    case NN_ACT_SQRT: return 0.5f / y;
    case NN_ACT_RECIPROCAL: return -y * y;
    case NN_ACT_ABS: return (float)(z > 0) - (float)(z < 0);
    case NN_ACT_NEG: return -1.0f;
    case NN_ACT_ERF: return 1.12837916709551257f * expf(-z * z);
    case NN_ACT_CLIP: return z <= alpha || z >= beta ? 0.0f : 1.0f;
    case NN_ACT_HARDSIGMOID: return y > 0 && y < 1 ? alpha : 0.0f;
    case NN_ACT_HARDSWISH: return z <= -3 ? 0.0f : z < 3 ? z / 3.0f + 0.5f : 1.0f;
    case NN_ACT_SILU: {
        const float s = 1.0f / (1.0f + expf(-z));
        return s * (1.0f + z * (1.0f - s));
    }
    case NN_ACT_MISH: {
        const float s = 1.0f / (1.0f + expf(-z)), t = tanhf(log1pf(expf(z)));
        return t + z * s * (1.0f - t * t);
    }
    case NN_ACT_SIGN: return 0.0f;
    case NN_ACT_SHRINK: return z < -alpha || z > alpha ? 1.0f : 0.0f;
    default: return 1.0f;
    }
}

/* Standalone activation: dx += dy · act'(x). */
NN_UNUSED static void nn_act_backward(size_t n, int act, float alpha, float beta, const float *x, const float *y,
                                      const float *dy, float *dx) {
    for (size_t i = 0; i < n; i++) dx[i] += dy[i] * nn_act_grad(act, alpha, beta, x[i], y[i]);
}

/* Fused epilogue: dz = dy · act'(y) in place (leaky relu reads y's sign). */
NN_UNUSED static void nn_epilogue_backward(size_t n, int act, float alpha, float beta, const float *y, float *dz) {
    if (act == NN_ACT_NONE) return;
    for (size_t i = 0; i < n; i++) dz[i] *= nn_act_grad(act, alpha, beta, y[i], y[i]);
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
