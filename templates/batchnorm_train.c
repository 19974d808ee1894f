/* ---- batchnorm in training mode: batch statistics and backward ---------- */

/* relu fused after batchnorm (conv -> batchnorm -> relu; FuseEpilogue): forward writes relu(bn(x)), backward
   passes ∂y only where that output is > 0 or NaN, as PyTorch's relu backward (output <= 0 → 0), so neither
   the relu pass nor its gradient buffer exists. y is the fused output; NULL when no relu is fused. */
static inline nn_vf nn_bn_relu_grad(nn_vf dy, const float *y, int i) {
    return y ? (nn_vf)((nn_vi)dy & ~(nn_load(y + i) <= nn_splat(0))) : dy;
}
static inline float nn_bn_relu_grad1(float dy, const float *y, int i) { return y && y[i] <= 0 ? 0.0f : dy; }

/* The plane the channel loop reads next (the next channel's, same example), fetched while this one is
   worked on from cache: each plane is a few KB apart from the last, too short for the hardware prefetcher
   to ramp up (the passes ran at 11-13 GB/s of 21). Prefetches never fault, past the last plane neither. */
#define NN_BN_PREFETCH(p) __builtin_prefetch(p, 0, 3)

/* Σ (x − mean)² over channel ch of nb examples (inner floats each), by vectors. */
NN_UNUSED static inline float nn_bn_squared_deviation(int nb, int C, int inner, int ch, const float *x, float mean) {
    float ss = 0;
    for (int b = 0; b < nb; b++) {
        const float *xc = x + ((size_t)b * C + ch) * inner;
        nn_vf acc = nn_splat(0);
        int i = 0;
        for (; i + NN_VW <= inner; i += NN_VW) { nn_vf d = nn_load(xc + i) - mean; acc += d * d; }
        for (int j = 0; j < NN_VW; j++) ss += acc[j];
        for (; i < inner; i++) ss += (xc[i] - mean) * (xc[i] - mean);
    }
    return ss;
}

/* Channel ch from its batch mean and Σ (x − mean)² over n values: 1/σ and the unbiased variance
   saved, y = γ·(x − mean)/σ + β, or relu of it. `next`: prefetch the next channel's planes. */
NN_UNUSED static inline void nn_bn_normalize_channel(int nb, int C, int inner, int ch, const float *x, const float *gamma,
                                                     const float *beta, float eps, float *y, float mean, float ss, float n,
                                                     float *invstd_out, float *var_unbiased_out, int relu, int next) {
    const float var = ss / n, invstd = 1.0f / sqrtf(var + eps);
    invstd_out[ch] = invstd;
    var_unbiased_out[ch] = n > 1 ? ss / (n - 1) : var;
    const float sc = gamma[ch] * invstd, sh = beta[ch] - mean * sc;
    const nn_vf vsc = nn_splat(sc), vsh = nn_splat(sh), zero = nn_splat(0);
    for (int b = 0; b < nb; b++) {
        const float *xc = x + ((size_t)b * C + ch) * inner, *pf = next ? xc + inner : xc;
        float *yc = y + ((size_t)b * C + ch) * inner;
        int i = 0;
        for (; i + NN_VW <= inner; i += NN_VW) {
            NN_BN_PREFETCH(pf + i);
            const nn_vf v = nn_load(xc + i) * vsc + vsh;
            nn_store(yc + i, relu ? nn_vmax(zero, v) : v);  /* NaN stays NaN */
        }
        for (; i < inner; i++) {
            const float v = xc[i] * sc + sh;
            yc[i] = relu && v < 0 ? 0.0f : v;
        }
    }
}

/* batchnorm in training mode over channel ch of nb examples (inner floats
   each): batch mean and biased variance (two passes, vector sums) normalise;
   mean and 1/σ are saved for backward, the unbiased variance for the
   running statistics. relu: y = relu(batchnorm(x)). */
NN_UNUSED static NN_ONCE void nn_bn_train_forward(int nb, int C, int inner, const float *x, const float *gamma,
                                          const float *beta, float eps, float *y, float *mean_out,
                                          float *invstd_out, float *var_unbiased_out, int relu) {
    const float n = (float)nb * inner;
    for (int ch = 0; ch < C; ch++) {
        float s = 0;
        for (int b = 0; b < nb; b++) s += nn_sum(inner, x + ((size_t)b * C + ch) * inner);
        const float mean = s / n;
        mean_out[ch] = mean;
        nn_bn_normalize_channel(nb, C, inner, ch, x, gamma, beta, eps, y, mean, nn_bn_squared_deviation(nb, C, inner, ch, x, mean), n,
                                invstd_out, var_unbiased_out, relu, ch + 1 < C);
    }
}

/* After the optimizer step, the running statistics move towards the batch's:
   r = keep·r + momentum·batch, for the mean and the unbiased variance. One
   function for every layer: a loop per layer, inlined with its constant
   count, cost gcc more time than the step spends in it. */
NN_UNUSED static NN_ONCE void nn_bn_running(int C, float keep, float momentum, float *restrict mean, float *restrict var,
                                            const float *restrict batch_mean, const float *restrict batch_var) {
    for (int ch = 0; ch < C; ch++) {
        mean[ch] = keep * mean[ch] + momentum * batch_mean[ch];
        var[ch] = keep * var[ch] + momentum * batch_var[ch];
    }
}

/* Σ g and Σ g·x over channel ch, g = ∂y (relu's mask applied when y is given), by vectors. */
NN_UNUSED static inline void nn_bn_grad_sums(int nb, int C, int inner, int ch, const float *x, const float *dy, const float *y,
                                             float *sg_out, float *sgx_out) {
    float sg = 0, sgx = 0;
    for (int b = 0; b < nb; b++) {
        const size_t at = ((size_t)b * C + ch) * inner;
        const float *xc = x + at, *gc = dy + at, *yc = y ? y + at : NULL;
        nn_vf ag = nn_splat(0), agx = nn_splat(0);
        int i = 0;
        for (; i + NN_VW <= inner; i += NN_VW) {
            const nn_vf g = nn_bn_relu_grad(nn_load(gc + i), yc, i);
            ag += g;
            agx += g * nn_load(xc + i);
        }
        for (int j = 0; j < NN_VW; j++) { sg += ag[j]; sgx += agx[j]; }
        for (; i < inner; i++) {
            const float g = nn_bn_relu_grad1(gc[i], yc, i);
            sg += g;
            sgx += g * xc[i];
        }
    }
    *sg_out = sg;
    *sgx_out = sgx;
}

/* ∂x of one channel from its batch sums sg = Σ∂y and sgx = Σ∂y·x̂ (k = γ/σ, n examples·inner):
   dx += k·(g − sg/n − (x − m)·σ⁻¹·sgx/n), or dx = when `assign` (the batchnorm is the only reader of x,
   and the step did not zero dx). `next`: prefetch the next channel's planes of x, ∂y, y. */
NN_UNUSED static inline void nn_bn_dx_channel(int nb, int C, int inner, int ch, const float *x, const float *dy, const float *y,
                                              float *dx, float k, float m, float is, float sg, float sgx, float n, int next,
                                              int assign) {
    const float a = sg / n, c = is * sgx / n;
    const nn_vf vk = nn_splat(k), va = nn_splat(a), vc = nn_splat(c), vm = nn_splat(m);
    const int ahead = next ? inner : 0;
    for (int b = 0; b < nb; b++) {
        const size_t at = ((size_t)b * C + ch) * inner;
        const float *xc = x + at, *gc = dy + at, *yc = y ? y + at : NULL;
        float *dc = dx + at;
        int i = 0;
        for (; i + NN_VW <= inner; i += NN_VW) {
            NN_BN_PREFETCH(xc + ahead + i);
            NN_BN_PREFETCH(gc + ahead + i);
            if (yc) NN_BN_PREFETCH(yc + ahead + i);
            const nn_vf g = nn_bn_relu_grad(nn_load(gc + i), yc, i);
            const nn_vf d = vk * (g - va - (nn_load(xc + i) - vm) * vc);
            nn_store(dc + i, assign ? d : nn_load(dc + i) + d);
        }
        for (; i < inner; i++) {
            const float d = k * (nn_bn_relu_grad1(gc[i], yc, i) - a - (xc[i] - m) * c);
            dc[i] = assign ? d : dc[i] + d;
        }
    }
}

/* dγ += Σ g·x̂, dβ += Σ g, dx += γ/σ·(g − mean(g) − x̂·mean(g·x̂)), with g = ∂y (masked by the fused
   relu's output y when y is given) and Σ g·x̂ = (Σ g·x − μ·Σ g)/σ from vector sums. */
NN_UNUSED static NN_ONCE void nn_bn_backward(int nb, int C, int inner, const float *x, const float *gamma,
                                             const float *mean, const float *invstd, const float *dy, const float *y,
                                             float *dx, float *dgamma, float *dbeta, int assign) {
    const float n = (float)nb * inner;
    for (int ch = 0; ch < C; ch++) {
        float sg, sgx;
        nn_bn_grad_sums(nb, C, inner, ch, x, dy, y, &sg, &sgx);
        sgx = (sgx - mean[ch] * sg) * invstd[ch];
        dgamma[ch] += sgx;
        dbeta[ch] += sg;
        if (!dx) continue;
        nn_bn_dx_channel(nb, C, inner, ch, x, dy, y, dx, gamma[ch] * invstd[ch], mean[ch], invstd[ch], sg, sgx, n, ch + 1 < C, assign);
    }
}

/* The two above on thread t's share (nb of nb_all examples) of a train step split across a team
   (TrainThreads in nncc): each thread's sums over its share go to part[t][2C], and after a barrier
   every thread adds the team's in thread order, so the statistics are the whole batch's, the same
   in every thread and every run. part is this layer's, shared by the team (no other layer's
   sums touch it while a slower thread may still read it). */
NN_UNUSED static void nn_bn_train_forward_share(int nb, int nb_all, int C, int inner, const float *x,
                                                const float *gamma, const float *beta, float eps, float *y,
                                                float *mean_out, float *invstd_out, float *var_unbiased_out, int relu,
                                                float *part, int t, int team) {
    const float n = (float)nb_all * inner;
    float *mine = part + (size_t)t * 2 * C;
    for (int ch = 0; ch < C; ch++) {
        float s = 0;
        for (int b = 0; b < nb; b++) s += nn_sum(inner, x + ((size_t)b * C + ch) * inner);
        mine[ch] = s;
    }
    NN_OMP(barrier)
    for (int ch = 0; ch < C; ch++) {
        float s = 0;
        for (int k = 0; k < team; k++) s += part[(size_t)k * 2 * C + ch];
        const float mean = s / n;
        mean_out[ch] = mean;
        mine[C + ch] = nn_bn_squared_deviation(nb, C, inner, ch, x, mean);
    }
    NN_OMP(barrier)
    for (int ch = 0; ch < C; ch++) {
        float ss = 0;
        for (int k = 0; k < team; k++) ss += part[(size_t)k * 2 * C + C + ch];
        nn_bn_normalize_channel(nb, C, inner, ch, x, gamma, beta, eps, y, mean_out[ch], ss, n, invstd_out, var_unbiased_out,
                                relu, 0);
    }
}

/* Thread 0 adds dγ and dβ of the whole batch (the team's gradients are summed after the step). */
NN_UNUSED static void nn_bn_backward_share(int nb, int nb_all, int C, int inner, const float *x, const float *gamma,
                                           const float *mean, const float *invstd, const float *dy, const float *y,
                                           float *dx, float *dgamma, float *dbeta, int assign, float *part, int t, int team) {
    const float n = (float)nb_all * inner;
    float *mine = part + (size_t)t * 2 * C;
    for (int ch = 0; ch < C; ch++) nn_bn_grad_sums(nb, C, inner, ch, x, dy, y, mine + ch, mine + C + ch);
    NN_OMP(barrier)
    for (int ch = 0; ch < C; ch++) {
        float sg = 0, sgx = 0;
        for (int k = 0; k < team; k++) {
            sg += part[(size_t)k * 2 * C + ch];
            sgx += part[(size_t)k * 2 * C + C + ch];
        }
        sgx = (sgx - mean[ch] * sg) * invstd[ch];
        if (t == 0) {
            dgamma[ch] += sgx;
            dbeta[ch] += sg;
        }
        if (!dx) continue;
        nn_bn_dx_channel(nb, C, inner, ch, x, dy, y, dx, gamma[ch] * invstd[ch], mean[ch], invstd[ch], sg, sgx, n, 0, assign);
    }
}
