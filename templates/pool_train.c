/* ---- 2×2 max pool backward (other pools' backward is emitted per layer) - */

/* Max-pool backward for the common 2×2 window, stride 2, all inside: for
   each window the first maximum in scan order takes the gradient (a NaN
   wins, as in PyTorch). VW windows at a time, without branches (random data
   would mispredict them half the time): even and odd columns split by
   shuffles, the choice as lane masks, the four gradients interleaved back;
   masked loads and stores for the last windows of a row. */
NN_UNUSED static void nn_maxpool2_backward(const float *restrict x, int H, int W, int OH, int OW,
                                           const float *restrict dy, float *restrict dx) {
    (void)H;
    NN_UNUSED nn_vi low, high; /* gcc's masks (clang's shuffles take the lanes) */
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
            nn_store_n(d0 + 2 * ow, nn_load_n(d0 + 2 * ow, n0) + NN_SHUFFLE_BY(low, ga, gb, NN_LANES(LO, NN_VW)), n0);
            nn_store_n(d1 + 2 * ow, nn_load_n(d1 + 2 * ow, n0) + NN_SHUFFLE_BY(low, gc, gd, NN_LANES(LO, NN_VW)), n0);
            if (n1) {
                nn_store_n(d0 + 2 * ow + NN_VW, nn_load_n(d0 + 2 * ow + NN_VW, n1) + NN_SHUFFLE_BY(high, ga, gb, NN_LANES(HI, NN_VW)), n1);
                nn_store_n(d1 + 2 * ow + NN_VW, nn_load_n(d1 + 2 * ow + NN_VW, n1) + NN_SHUFFLE_BY(high, gc, gd, NN_LANES(HI, NN_VW)), n1);
            }
        }
    }
}
