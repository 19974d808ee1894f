/* ---- 2×2 max pooling, stride 2, no padding (other pools are plain loops
   emitted per layer): one plane, VW windows at a time. Even and odd columns
   are split by shuffles; the first maximum in scan order wins and a NaN
   wins, as in PyTorch (nn_maxpool2_backward routes the gradient by the same
   rule). Masked past a row's last window. */
/* The corners (top left, top right, bottom left, bottom right) of n ≤ VW
   windows whose top-left pixels are r0[2i] (rows r0, r1): a window a lane. */
static inline void nn_maxpool2_corners(const float *r0, const float *r1, int n, nn_vf q[4]) {
    NN_UNUSED nn_vi even, odd; /* gcc's masks (clang's shuffles take the lanes) */
    for (int l = 0; l < NN_VW; l++) {
        even[l] = 2 * l;
        odd[l] = 2 * l + 1;
    }
    const int n0 = 2 * n < NN_VW ? 2 * n : NN_VW, n1 = 2 * n - n0;
    const nn_vf p0 = nn_load_n(r0, n0), q0 = nn_load_n(r1, n0);
    const nn_vf p1 = n1 ? nn_load_n(r0 + NN_VW, n1) : nn_splat(0), q1 = n1 ? nn_load_n(r1 + NN_VW, n1) : nn_splat(0);
    q[0] = NN_SHUFFLE_BY(even, p0, p1, NN_LANES(EVEN, NN_VW));
    q[1] = NN_SHUFFLE_BY(odd, p0, p1, NN_LANES(ODD, NN_VW));
    q[2] = NN_SHUFFLE_BY(even, q0, q1, NN_LANES(EVEN, NN_VW));
    q[3] = NN_SHUFFLE_BY(odd, q0, q1, NN_LANES(ODD, NN_VW));
}

NN_UNUSED static void nn_maxpool2(const float *restrict x, int W, int OH, int OW, float *restrict y) {
    for (int oh = 0; oh < OH; oh++) {
        const float *r0 = x + (size_t)2 * oh * W, *r1 = r0 + W;
        for (int ow = 0; ow < OW; ow += NN_VW) {
            const int n = OW - ow < NN_VW ? OW - ow : NN_VW;
            nn_vf q[4];
            nn_maxpool2_corners(r0 + 2 * ow, r1 + 2 * ow, n, q);
            nn_vf v = q[0];
            for (int k = 1; k < 4; k++) v = nn_vselect((q[k] > v) | (q[k] != q[k]), q[k], v);
            nn_store_n(y + (size_t)oh * OW + ow, v, n);
        }
    }
}
