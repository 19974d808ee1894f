/* ---- rnn / lstm / gru in training mode: forward that keeps what backward
   needs, and backpropagation through time --------------------------------
   cell: 0 rnn tanh, 1 rnn relu, 2 lstm (gates i, f, g, o), 3 gru (r, z, n).
   Saved per example and step: gates after their activations [T, G], h [T, H],
   the lstm cell [T, H], and gru's hidden n-part W_hn·h + b_hn [T, H] (for
   lstm that slot holds tanh(c)). */
typedef struct { int cell, T, F, H, G, seq; } nn_rnn_shape;

/* packed: W_ih panels, input bias, W_hh panels, recurrent bias, as the
   inference kernel packs them; gp is G padded to whole panels. */
NN_UNUSED static void nn_rnn_train_forward(nn_rnn_shape s, int nb, const float *restrict x, const float *restrict packed,
                                           int gp, float *restrict y, float *restrict gates, float *restrict hs,
                                           float *restrict cs, float *restrict hn, float *restrict hg) {
    const int T = s.T, F = s.F, H = s.H, G = s.G;
    const float *whh = packed + (size_t)F * gp + gp, *bh = whh + (size_t)H * gp;
    nn_epilogue ex = {.bias = packed + (size_t)F * gp, .bias_mode = 1, .act = NN_ACT_NONE};
    nn_gemm(nb * T, G, F, x, F, packed, gates, G, ex);
    for (int t = 0; t < T; t++) {
        if (s.cell == 3) {
            if (t > 0) {
                nn_epilogue eh = {.bias = bh, .bias_mode = 1, .act = NN_ACT_NONE};
                nn_gemm(nb, G, H, hs + (size_t)(t - 1) * H, T * H, whh, hg, G, eh);
            } else {
                for (int b = 0; b < nb; b++) memcpy(hg + (size_t)b * G, bh, (size_t)G * sizeof(float));
            }
        } else if (t > 0) {
            nn_epilogue eh = {.accumulate = 1, .act = NN_ACT_NONE};
            nn_gemm(nb, G, H, hs + (size_t)(t - 1) * H, T * H, whh, gates + (size_t)t * G, T * G, eh);
        }
        for (int b = 0; b < nb; b++) {
            float *p = gates + ((size_t)b * T + t) * G;
            float *h = hs + ((size_t)b * T + t) * H;
            const float *hp = t > 0 ? h - H : NULL;
            if (s.cell <= 1) {
                memcpy(h, p, (size_t)H * sizeof(float));
                nn_act_n(s.cell == 0 ? NN_ACT_TANH : NN_ACT_RELU, 0.0f, 0.0f, h, H);
                memcpy(p, h, (size_t)H * sizeof(float));
            } else if (s.cell == 2) {
                float *c = cs + ((size_t)b * T + t) * H;
                nn_act_n(NN_ACT_SIGMOID, 0.0f, 0.0f, p, 2 * H);
                nn_act_n(NN_ACT_TANH, 0.0f, 0.0f, p + 2 * H, H);
                nn_act_n(NN_ACT_SIGMOID, 0.0f, 0.0f, p + 3 * H, H);
                for (int j = 0; j < H; j++) {
                    c[j] = p[H + j] * (t > 0 ? c[j - H] : 0.0f) + p[j] * p[2 * H + j];
                    h[j] = c[j];
                }
                nn_act_n(NN_ACT_TANH, 0.0f, 0.0f, h, H);
                /* lstm keeps tanh(c) in the gru's hn slot, for backward. */
                memcpy(hn + ((size_t)b * T + t) * H, h, (size_t)H * sizeof(float));
                for (int j = 0; j < H; j++) h[j] *= p[3 * H + j];
            } else {
                const float *q = hg + (size_t)b * G;
                float *hnb = hn + ((size_t)b * T + t) * H;
                for (int j = 0; j < 2 * H; j++) p[j] += q[j];
                nn_act_n(NN_ACT_SIGMOID, 0.0f, 0.0f, p, 2 * H);
                for (int j = 0; j < H; j++) { hnb[j] = q[2 * H + j]; p[2 * H + j] += p[j] * hnb[j]; }
                nn_act_n(NN_ACT_TANH, 0.0f, 0.0f, p + 2 * H, H);
                for (int j = 0; j < H; j++) h[j] = (1.0f - p[H + j]) * p[2 * H + j] + p[H + j] * (hp ? hp[j] : 0.0f);
            }
        }
    }
    for (int b = 0; b < nb; b++) {
        if (s.seq) memcpy(y + (size_t)b * T * H, hs + (size_t)b * T * H, (size_t)T * H * sizeof(float));
        else memcpy(y + (size_t)b * H, hs + ((size_t)b * T + T - 1) * H, (size_t)H * sizeof(float));
    }
}

/* One step of backpropagation through time: from ∂h (dh, with ∂y added
   here) and the lstm's ∂c, each example's pre-activation gradients, input
   side into dP [nb, T, G] and hidden side into dPh (row stride dph_stride);
   dh and dc then hold what flows to step t − 1 before the W_hh product. */
static inline void nn_rnn_step_grads(nn_rnn_shape s, int nb, int t, const float *restrict gates,
                                     const float *restrict hs, const float *restrict cs, const float *restrict hn,
                                     const float *restrict dy, float *restrict dP, float *restrict dPh,
                                     size_t dph_stride, float *restrict dh, float *restrict dc) {
    const int T = s.T, H = s.H, G = s.G;
    for (int b = 0; b < nb; b++) {
        float *dhb = dh + (size_t)b * H;
        if (s.seq) nn_axpy(H, 1.0f, dy + ((size_t)b * T + t) * H, dhb);
        else if (t == T - 1) nn_axpy(H, 1.0f, dy + (size_t)b * H, dhb);
        const float *p = gates + ((size_t)b * T + t) * G;
        const float *hp = t > 0 ? hs + ((size_t)b * T + t - 1) * H : NULL;
        float *dp = dP + ((size_t)b * T + t) * G, *dph = dPh + (size_t)b * dph_stride;
        for (int j = 0; j < H; j++) {
            float g = dhb[j];
            if (s.cell == 0) { dp[j] = g * (1.0f - p[j] * p[j]); dph[j] = dp[j]; dhb[j] = 0; }
            else if (s.cell == 1) { dp[j] = p[j] <= 0 ? 0.0f : g; dph[j] = dp[j]; dhb[j] = 0; }  /* as nn_act_grad */
            else if (s.cell == 2) {
                const float *c = cs + ((size_t)b * T + t) * H;
                float i = p[j], f = p[H + j], gg = p[2 * H + j], o = p[3 * H + j];
                float tc = hn[((size_t)b * T + t) * H + j], cp = t > 0 ? c[j - H] : 0.0f;
                float dcj = g * o * (1.0f - tc * tc) + dc[(size_t)b * H + j];
                dp[j] = dcj * gg * i * (1.0f - i);
                dp[H + j] = dcj * cp * f * (1.0f - f);
                dp[2 * H + j] = dcj * i * (1.0f - gg * gg);
                dp[3 * H + j] = g * tc * o * (1.0f - o);
                dc[(size_t)b * H + j] = dcj * f;
                for (int k = 0; k < 4; k++) dph[k * H + j] = dp[k * H + j];
                dhb[j] = 0;
            } else {
                float r = p[j], z = p[H + j], n = p[2 * H + j];
                float hnj = hn[((size_t)b * T + t) * H + j], hpj = hp ? hp[j] : 0.0f;
                float dpn = g * (1.0f - z) * (1.0f - n * n);
                dp[j] = dpn * hnj * r * (1.0f - r);
                dp[H + j] = g * (hpj - n) * z * (1.0f - z);
                dp[2 * H + j] = dpn;
                dph[j] = dp[j];
                dph[H + j] = dp[H + j];
                dph[2 * H + j] = dpn * r;
                dhb[j] = g * z;
            }
        }
    }
}

/* Backpropagation through time. Wih [G][F] and Whh [G][H] in PyTorch
   layout; scratch: dP [nb, T, G] input-side and dPh [nb, G] hidden-side
   pre-activation gradients, dh and dc [nb, H] carried to the step before. */
NN_UNUSED static void nn_rnn_backward(nn_rnn_shape s, int nb, const float *restrict x, const float *restrict Wih,
                                      const float *restrict Whh, const float *restrict gates, const float *restrict hs,
                                      const float *restrict cs, const float *restrict hn, const float *restrict dy,
                                      float *restrict dx, float *restrict dWih, float *restrict dWhh,
                                      float *restrict dbih, float *restrict dbhh, float *restrict dP,
                                      float *restrict dPh, float *restrict dh, float *restrict dc) {
    const int T = s.T, F = s.F, H = s.H, G = s.G;
    memset(dh, 0, (size_t)nb * H * sizeof(float));
    memset(dc, 0, (size_t)nb * H * sizeof(float));
    for (int t = T - 1; t >= 0; t--) {
        nn_rnn_step_grads(s, nb, t, gates, hs, cs, hn, dy, dP, dPh, (size_t)G, dh, dc);
        for (int b = 0; b < nb; b++) nn_axpy(G, 1.0f, dPh + (size_t)b * G, dbhh);
        if (t == 0) continue;
        for (int b = 0; b < nb; b++)
            for (int g = 0; g < G; g++) {
                float v = dPh[(size_t)b * G + g];
                if (v == 0.0f) continue;
                nn_axpy(H, v, Whh + (size_t)g * H, dh + (size_t)b * H);
                nn_axpy(H, v, hs + ((size_t)b * T + t - 1) * H, dWhh + (size_t)g * H);
            }
    }
    for (size_t r = 0; r < (size_t)nb * T; r++) {
        const float *dp = dP + r * G;
        nn_axpy(G, 1.0f, dp, dbih);
        for (int g = 0; g < G; g++) {
            if (dp[g] == 0.0f) continue;
            nn_axpy(F, dp[g], x + r * F, dWih + (size_t)g * F);
            if (dx) nn_axpy(F, dp[g], Wih + (size_t)g * F, dx + r * F);
        }
    }
}

/* The same backpropagation through time on the packed GEMM: each step's
   ∂h_{t-1} = ∂P_h·W_hh is one GEMM; the weight gradients and ∂x are three
   GEMMs over all T steps at once after the loop. wih_rows and whh_rows are
   W_ih and W_hh packed as row panels; dPh keeps every step's hidden-side
   gradients [nb, T, G]; tr, hprev and panels are scratch. */
NN_UNUSED static void nn_rnn_backward_gemm(nn_rnn_shape s, int nb, const float *restrict x,
                                           const float *restrict wih_rows, const float *restrict whh_rows,
                                           const float *restrict gates, const float *restrict hs,
                                           const float *restrict cs, const float *restrict hn,
                                           const float *restrict dy, float *restrict dx, float *restrict dWih,
                                           float *restrict dWhh, float *restrict dbih, float *restrict dbhh,
                                           float *restrict dP, float *restrict dPh, float *restrict dh,
                                           float *restrict dc, float *restrict tr, float *restrict hprev,
                                           float *restrict panels) {
    const int T = s.T, F = s.F, H = s.H, G = s.G, R = nb * T;
    const nn_epilogue add = {.accumulate = 1, .act = NN_ACT_NONE};
    memset(dh, 0, (size_t)nb * H * sizeof(float));
    memset(dc, 0, (size_t)nb * H * sizeof(float));
    for (int t = T - 1; t >= 0; t--) {
        nn_rnn_step_grads(s, nb, t, gates, hs, cs, hn, dy, dP, dPh + (size_t)t * G, (size_t)T * G, dh, dc);
        if (t > 0) nn_gemm(nb, H, G, dPh + (size_t)t * G, T * G, whh_rows, dh, H, add);
    }
    /* Bias gradients: sums over every example and step. */
    for (int r = 0; r < R; r++) {
        nn_axpy(G, 1.0f, dP + (size_t)r * G, dbih);
        nn_axpy(G, 1.0f, dPh + (size_t)r * G, dbhh);
    }
    /* ∂W_hh += Σ ∂P_h[t]ᵀ·h[t-1]; step 0 meets the zero initial state. */
    for (int b = 0; b < nb; b++)
        for (int t = 0; t < T; t++) {
            float *row = hprev + ((size_t)b * T + t) * H;
            if (t == 0) memset(row, 0, (size_t)H * sizeof(float));
            else memcpy(row, hs + ((size_t)b * T + t - 1) * H, (size_t)H * sizeof(float));
        }
    nn_transpose(R, G, dPh, tr);
    nn_pack_rows(R, H, hprev, H, panels);
    nn_gemm(G, H, R, tr, R, panels, dWhh, H, add);
    /* ∂W_ih += ∂Pᵀ·x and ∂x += ∂P·W_ih over all steps at once. */
    nn_transpose(R, G, dP, tr);
    nn_pack_rows(R, F, x, F, panels);
    nn_gemm(G, F, R, tr, R, panels, dWih, F, add);
    if (dx) nn_gemm(R, F, G, dP, G, wih_rows, dx, F, add);
}
