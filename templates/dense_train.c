/* ---- dense backward: plain loops (reference builds) and on the packed GEMM -- */

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

/* dense: dx += dz·W with W's rows pre-packed as panels (wrows, by the
   packing step); dW += dzᵀ·x with dz transposed and x packed per call.
   dW NULL: a share of a batch split across threads leaves dzT and xp for
   nn_dense_dw_team, which adds the shares' products over the whole batch. */
NN_UNUSED static void nn_dense_backward_gemm(int R, int K, int N, const float *restrict x, const float *restrict wrows,
                                             const float *restrict dz, float *restrict dx, float *restrict dW,
                                             float *restrict db, float *restrict dzT, float *restrict xp) {
    const nn_epilogue add = {.accumulate = 1, .act = NN_ACT_NONE};
    if (dx) nn_gemm(R, K, N, dz, N, wrows, dx, K, add);
    for (int r = 0; r < R; r++)
        for (int n = 0; n < N; n++) dzT[(size_t)n * R + r] = dz[(size_t)r * N + n];
    nn_pack_rows(R, K, x, K, xp);
    if (dW) nn_gemm(N, K, R, dzT, R, xp, dW, K, add);
    if (db)
        for (int r = 0; r < R; r++) nn_axpy(N, 1.0f, dz + (size_t)r * N, db);
}

/* ∂W and ∂b of a dense layer (N outputs of K inputs, `rows` rows per
   example) whose batch of nb examples a team split into shares (TrainThreads
   in nncc; share k: examples nb·k/team ..): each share's backward left its
   dzT and xp in its own block, `block` floats after the previous share's.
   Thread t takes whole micro-kernel rows of ∂W, its part of N, over the
   whole batch, adding the shares' products in order, and writes them: no
   share zeroes or adds to them, and no per-share copy of ∂W is summed. */
NN_UNUSED static NN_ONCE void nn_dense_dw_team(int t, int team, int nb, int rows, int K, int N, const float *dzT,
                                               const float *xp, size_t block, float *dW, float *db) {
    const int units = (N + NN_MR - 1) / NN_MR;
    const int n0 = (int)((long)t * units / team) * NN_MR, n1e = (int)((long)(t + 1) * units / team) * NN_MR;
    const int n1 = n1e < N ? n1e : N;
    if (n1 <= n0) return;
    for (int k = 0; k < team; k++) {  /* share k: R rows; the first share's product written, the others added */
        const int R = ((int)((long)(k + 1) * nb / team) - (int)((long)k * nb / team)) * rows;
        const float *a = dzT + (size_t)k * block + (size_t)n0 * R, *b = xp + (size_t)k * block;
        const nn_epilogue e = {.accumulate = k > 0, .act = NN_ACT_NONE};
        nn_gemm(n1 - n0, K, R, a, R, b, dW + (size_t)n0 * K, K, e);
        if (db)
            for (int n = n0; n < n1; n++) {
                float s = k > 0 ? db[n] : 0.0f;
                for (int r = 0; r < R; r++) s += a[(size_t)(n - n0) * R + r];
                db[n] = s;
            }
    }
}
