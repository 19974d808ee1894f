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
   packing step); dW += dzᵀ·x with dz transposed and x packed per call. */
NN_UNUSED static void nn_dense_backward_gemm(int R, int K, int N, const float *restrict x, const float *restrict wrows,
                                             const float *restrict dz, float *restrict dx, float *restrict dW,
                                             float *restrict db, float *restrict dzT, float *restrict xp) {
    const nn_epilogue add = {.accumulate = 1, .act = NN_ACT_NONE};
    if (dx) nn_gemm(R, K, N, dz, N, wrows, dx, K, add);
    for (int r = 0; r < R; r++)
        for (int n = 0; n < N; n++) dzT[(size_t)n * R + r] = dz[(size_t)r * N + n];
    nn_pack_rows(R, K, x, K, xp);
    nn_gemm(N, K, R, dzT, R, xp, dW, K, add);
    if (db)
        for (int r = 0; r < R; r++) nn_axpy(N, 1.0f, dz + (size_t)r * N, db);
}
