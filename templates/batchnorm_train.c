/* ---- batchnorm in training mode: batch statistics and backward ---------- */

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
   saved, y = γ·(x − mean)/σ + β. */
NN_UNUSED static inline void nn_bn_normalize_channel(int nb, int C, int inner, int ch, const float *x, const float *gamma,
                                                     const float *beta, float eps, float *y, float mean, float ss, float n,
                                                     float *invstd_out, float *var_unbiased_out) {
    const float var = ss / n, invstd = 1.0f / sqrtf(var + eps);
    invstd_out[ch] = invstd;
    var_unbiased_out[ch] = n > 1 ? ss / (n - 1) : var;
    const float sc = gamma[ch] * invstd, sh = beta[ch] - mean * sc;
    for (int b = 0; b < nb; b++) {
        const float *xc = x + ((size_t)b * C + ch) * inner;
        float *yc = y + ((size_t)b * C + ch) * inner;
        for (int i = 0; i < inner; i++) yc[i] = xc[i] * sc + sh;
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
        float s = 0;
        for (int b = 0; b < nb; b++) s += nn_sum(inner, x + ((size_t)b * C + ch) * inner);
        const float mean = s / n;
        mean_out[ch] = mean;
        nn_bn_normalize_channel(nb, C, inner, ch, x, gamma, beta, eps, y, mean, nn_bn_squared_deviation(nb, C, inner, ch, x, mean), n,
                                invstd_out, var_unbiased_out);
    }
}

/* ∂x of one channel from its batch sums sg = Σ∂y and sgx = Σ∂y·x̂ (k = γ/σ, n examples·inner). */
NN_UNUSED static inline void nn_bn_dx_channel(int nb, int C, int inner, int ch, const float *x, const float *dy, float *dx,
                                              float k, float m, float is, float sg, float sgx, float n) {
    for (int b = 0; b < nb; b++) {
        const float *xc = x + ((size_t)b * C + ch) * inner, *gc = dy + ((size_t)b * C + ch) * inner;
        float *dc = dx + ((size_t)b * C + ch) * inner;
        for (int i = 0; i < inner; i++) dc[i] += k * (gc[i] - sg / n - (xc[i] - m) * is * sgx / n);
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
        nn_bn_dx_channel(nb, C, inner, ch, x, dy, dx, gamma[ch] * invstd[ch], mean[ch], invstd[ch], sg, sgx, n);
    }
}

/* The two above on thread t's share (nb of nb_all examples) of a train step split across a team
   (TrainThreads in nncc): each thread's sums over its share go to part[t][2C], and after a barrier
   every thread adds the team's in thread order, so the statistics are the whole batch's, the same
   in every thread and every run. part is this layer's, shared by the team (no other layer's
   sums touch it while a slower thread may still read it). */
NN_UNUSED static void nn_bn_train_forward_share(int nb, int nb_all, int C, int inner, const float *x,
                                                const float *gamma, const float *beta, float eps, float *y,
                                                float *mean_out, float *invstd_out, float *var_unbiased_out,
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
        nn_bn_normalize_channel(nb, C, inner, ch, x, gamma, beta, eps, y, mean_out[ch], ss, n, invstd_out, var_unbiased_out);
    }
}

/* Thread 0 adds dγ and dβ of the whole batch (the team's gradients are summed after the step). */
NN_UNUSED static void nn_bn_backward_share(int nb, int nb_all, int C, int inner, const float *x, const float *gamma,
                                           const float *mean, const float *invstd, const float *dy, float *dx,
                                           float *dgamma, float *dbeta, float *part, int t, int team) {
    const float n = (float)nb_all * inner;
    float *mine = part + (size_t)t * 2 * C;
    for (int ch = 0; ch < C; ch++) {
        float sg = 0, sgx = 0;
        for (int b = 0; b < nb; b++) {
            const float *xc = x + ((size_t)b * C + ch) * inner, *gc = dy + ((size_t)b * C + ch) * inner;
            sg += nn_sum(inner, gc);
            sgx += nn_dot(inner, gc, xc);
        }
        mine[ch] = sg;
        mine[C + ch] = sgx;
    }
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
        nn_bn_dx_channel(nb, C, inner, ch, x, dy, dx, gamma[ch] * invstd[ch], mean[ch], invstd[ch], sg, sgx, n);
    }
}
