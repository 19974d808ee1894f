/* ---- conv_transpose: the adjoint of conv2d ----------------------------
   Per image and group, s is the shape of the conv whose input gradient this
   is: its s.C channels of s.H × s.W are the result's (C_out/groups), its
   s.OH × s.OW pixels the operand's, and its F filters the operand's channels
   (C_in/groups); w [F][K] is PyTorch's weight [C_in, C_out/g, kh, kw] for one
   group, K = s.C·kh·kw. y = col2im(Wᵀ·x) + bias; backward is that conv:
   ∂x += W·im2col(∂y), ∂W += x·im2col(∂y)ᵀ, ∂b += Σ ∂y. */

/* Every result plane starts at its bias (zero without one). */
static inline void nn_conv_transpose_bias(nn_conv_shape s, const float *bias, float *restrict y) {
    const size_t plane = (size_t)s.H * s.W;
    for (int c = 0; c < s.C; c++)
        for (size_t p = 0; p < plane; p++) y[c * plane + p] = bias ? bias[c] : 0.0f;
}

/* On the GEMM: col [K][N] = Wᵀ·x with wt = Wᵀ [K][F] packed at load and x
   packed as row panels into xp, then col2im into y. */
NN_UNUSED static void nn_conv_transpose_gemm(const float *restrict x, nn_conv_shape s, int F, const float *restrict wt,
                                             const float *bias, float *restrict y, float *restrict xp,
                                             float *restrict col) {
    const int N = s.OH * s.OW, K = s.C * s.kh * s.kw;
    const nn_epilogue set = {.act = NN_ACT_NONE};
    nn_pack_rows(F, N, x, N, xp);
    nn_gemm(K, N, F, wt, F, xp, col, N, set);
    nn_conv_transpose_bias(s, bias, y);
    nn_col2im_add(col, s, y);
}

/* Reference: each operand pixel scattered through every tap. */
NN_UNUSED static void nn_conv_transpose_naive(const float *x, nn_conv_shape s, int F, const float *w, const float *bias,
                                              float *y) {
    nn_conv_transpose_bias(s, bias, y);
    for (int f = 0; f < F; f++)
        for (int ih = 0; ih < s.OH; ih++)
            for (int iw = 0; iw < s.OW; iw++) {
                const float v = x[((size_t)f * s.OH + ih) * s.OW + iw];
                for (int c = 0; c < s.C; c++)
                    for (int i = 0; i < s.kh; i++)
                        for (int j = 0; j < s.kw; j++) {
                            const int oh = ih * s.sh - s.pt + i * s.dh, ow = iw * s.sw - s.pl + j * s.dw;
                            if (oh >= 0 && oh < s.H && ow >= 0 && ow < s.W)
                                y[((size_t)c * s.H + oh) * s.W + ow] += v * w[(((size_t)f * s.C + c) * s.kh + i) * s.kw + j];
                        }
            }
}

/* Backward on the GEMM: col = im2col(∂y); ∂W += x·colᵀ (colᵀ packed into
   colT), ∂x += W·col (col packed as row panels into colp). */
NN_UNUSED static void nn_conv_transpose_backward_gemm(const float *restrict x, nn_conv_shape s, int F,
                                                      const float *restrict w, const float *restrict dy,
                                                      float *restrict dx, float *restrict dW, float *restrict db,
                                                      float *restrict col, float *restrict colT, float *restrict colp) {
    const int N = s.OH * s.OW, K = s.C * s.kh * s.kw;
    const nn_epilogue add = {.accumulate = 1, .act = NN_ACT_NONE};
    if (db)
        for (int c = 0; c < s.C; c++) db[c] += nn_sum(s.H * s.W, dy + (size_t)c * s.H * s.W);
    nn_im2col_rows(dy, s, col);
    nn_pack_transposed(K, N, col, colT);
    nn_gemm(F, K, N, x, N, colT, dW, K, add);
    if (!dx) return;
    nn_pack_rows(K, N, col, N, colp);
    nn_gemm(F, N, K, w, K, colp, dx, N, add);
}

/* Reference backward: the forward's loops with each product's two gradients. */
NN_UNUSED static void nn_conv_transpose_backward_naive(const float *x, nn_conv_shape s, int F, const float *w,
                                                       const float *dy, float *dx, float *dW, float *db) {
    if (db)
        for (int c = 0; c < s.C; c++)
            for (int p = 0; p < s.H * s.W; p++) db[c] += dy[(size_t)c * s.H * s.W + p];
    for (int f = 0; f < F; f++)
        for (int ih = 0; ih < s.OH; ih++)
            for (int iw = 0; iw < s.OW; iw++) {
                const float v = x[((size_t)f * s.OH + ih) * s.OW + iw];
                float g = 0;
                for (int c = 0; c < s.C; c++)
                    for (int i = 0; i < s.kh; i++)
                        for (int j = 0; j < s.kw; j++) {
                            const int oh = ih * s.sh - s.pt + i * s.dh, ow = iw * s.sw - s.pl + j * s.dw;
                            if (oh < 0 || oh >= s.H || ow < 0 || ow >= s.W) continue;
                            const size_t k = (((size_t)f * s.C + c) * s.kh + i) * s.kw + j;
                            const float d = dy[((size_t)c * s.H + oh) * s.W + ow];
                            g += w[k] * d;
                            dW[k] += v * d;
                        }
                if (dx) dx[((size_t)f * s.OH + ih) * s.OW + iw] += g;
            }
}
