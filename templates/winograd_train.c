/* ---- ∂W by Winograd (training). The forward is linear in U = G g Gᵀ, so
   ∂U[ξ] = Σ over tiles of (A ∂Y Aᵀ)[ξ] · (Bᵀ d B)[ξ] and ∂g = Gᵀ ∂U G. Per
   image and block, 16 GEMMs ∂U[ξ] (F × C) += dM[ξ] (F × tiles) · V[ξ]ᵀ
   accumulate over the batch; nn_wino_dw_finish turns ∂U into ∂W once.
   dM comes from ∂z with tiles in the lanes; V from a channels-last copy of
   the input with channels in the lanes, so both are stored as whole vectors
   (with tiles in the lanes, V's panel layout needs one store per lane). */
#define NN_WINO_DW_SCRATCH(C, F, TB, TWP, TH, Hp, Wp)                                                           \
    ((size_t)(C) * (Hp) * (Wp) + (size_t)(F) * 4 * (TH) * (TWP) +                                               \
     16 * ((size_t)(F) * (TB) * (TWP) + ((size_t)(C) + NN_NR - 1) / NN_NR * NN_NR * (TB) * (TWP) + 2 * NN_WINO_SKEW))

/* x [C][H][W] → xT [Hp][Wp][C], padded with zeros as nn_conv_pad pads (only the border is zeroed). */
static inline void nn_wino_channels_last(const float *restrict x, nn_conv_shape cs, int Hp, int Wp, float *restrict xT) {
    const size_t pixel = (size_t)cs.C * sizeof(float);
    memset(xT, 0, (size_t)cs.pt * Wp * pixel);
    memset(xT + (size_t)(cs.pt + cs.H) * Wp * cs.C, 0, (size_t)(Hp - cs.pt - cs.H) * Wp * pixel);
    for (int h = 0; h < cs.H; h++) {
        float *row = xT + (size_t)(h + cs.pt) * Wp * cs.C;
        memset(row, 0, (size_t)cs.pl * pixel);
        memset(row + (size_t)(cs.pl + cs.W) * cs.C, 0, (size_t)(Wp - cs.pl - cs.W) * pixel);
        for (int w = 0; w < cs.W; w++) {
            float *o = row + (size_t)(w + cs.pl) * cs.C;
            for (int c = 0; c < cs.C; c++) o[c] = x[((size_t)c * cs.H + h) * cs.W + w];
        }
    }
}

/* V[ξ] = (Bᵀ d B)[ξ] with channels in the lanes, as the GEMM's B panels [ξ][c / NR][tile][NR]. */
static inline __attribute__((always_inline)) void nn_wino_input_channels(nn_wino_shape s, const float *restrict xT, int ty0,
                                                                         int rows, float *restrict Bp) {
    const int tiles = rows * s.TWP;
    const size_t bs = (size_t)(s.C + NN_NR - 1) / NN_NR * NN_NR * tiles + NN_WINO_SKEW;
    for (int r = 0; r < rows; r++)
        for (int tx = 0; tx < s.TWP; tx++) {
            const int p = r * s.TWP + tx;
            const float *d = xT + ((size_t)2 * (ty0 + r) * s.Wp + 2 * tx) * s.C;
            for (int c = 0; c < s.C; c += NN_VW) {
                const int n = s.C - c < NN_VW ? s.C - c : NN_VW;
                nn_vf t[4][4];
                for (int i = 0; i < 4; i++) {
                    const float *row = d + (size_t)i * s.Wp * s.C + c;
                    const nn_vf d0 = nn_load_n(row, n), d1 = nn_load_n(row + s.C, n);
                    const nn_vf d2 = nn_load_n(row + 2 * s.C, n), d3 = nn_load_n(row + 3 * s.C, n);
                    NN_WINO_BT(t[i], d0, d1, d2, d3);
                }
                float *v = Bp + (size_t)(c / NN_NR) * tiles * NN_NR + (size_t)p * NN_NR + c % NN_NR;
                for (int j = 0; j < 4; j++) {
                    nn_vf o[4];
                    NN_WINO_BT(o, t[0][j], t[1][j], t[2][j], t[3][j]);
                    for (int i = 0; i < 4; i++) nn_store_n(v + (size_t)(4 * i + j) * bs, o[i], n);
                }
            }
        }
}

/* Out of line (one copy, not one per layer): it keeps training builds within the compile-time budget. */
NN_UNUSED static __attribute__((noinline)) void
nn_wino_dw_image(const int TV, nn_wino_shape s, nn_conv_shape cs, const float *restrict x, const float *restrict dz,
                 float *restrict dU, float *restrict scratch) {
    const size_t block = (size_t)s.TB * s.TWP;
    float *xT = scratch, *dzp = xT + (size_t)s.C * s.Hp * s.Wp;
    float *dM = dzp + (size_t)s.F * 4 * s.TH * s.TWP, *Bp = dM + 16 * ((size_t)s.F * block + NN_WINO_SKEW);
    const nn_conv_shape zs = {s.F, s.OH, s.OW, 1, 1, 1, 1, 0, 0, 1, 1, s.OH, s.OW};
    const nn_epilogue add = {.accumulate = 1, .act = NN_ACT_NONE};
    nn_wino_channels_last(x, cs, s.Hp, s.Wp, xT);
    nn_conv_pad(dz, zs, 2 * s.TH, 2 * s.TWP, dzp);
    for (int ty0 = 0; ty0 < s.TH; ty0 += s.TB) {
        const int rows = s.TH - ty0 < s.TB ? s.TH - ty0 : s.TB, tiles = rows * s.TWP;
        switch (TV) {
#if NN_VW >= 16
        case 16: nn_wino_dz_16(s, dzp, ty0, rows, dM); break;
#endif
        case 8: nn_wino_dz_8(s, dzp, ty0, rows, dM); break;
        default: nn_wino_dz_4(s, dzp, ty0, rows, dM); break;
        }
        nn_wino_input_channels(s, xT, ty0, rows, Bp);
        const size_t ms = (size_t)s.F * tiles + NN_WINO_SKEW;
        const size_t bs = (size_t)(s.C + NN_NR - 1) / NN_NR * NN_NR * tiles + NN_WINO_SKEW;
        for (int k = 0; k < 16; k++)
            for (int q = 0; q * NN_NR < s.C; q++) {
                const int nc = s.C - q * NN_NR < NN_NR ? s.C - q * NN_NR : NN_NR;
                for (int m = 0; m < s.F; m += NN_MR) {
                    const int mr = s.F - m < NN_MR ? s.F - m : NN_MR;
                    nn_micro_table[mr](tiles, dM + k * ms + (size_t)m * tiles, tiles, Bp + k * bs + (size_t)q * tiles * NN_NR,
                                       dU + ((size_t)k * s.F + m) * s.C + q * NN_NR, s.C, nc, NULL, add);
                }
            }
    }
}

/* dW [F][C][3][3] += Gᵀ ∂U G for ∂U [16][F][C] summed over the batch. */
NN_UNUSED static void nn_wino_dw_finish(int F, int C, const float *restrict dU, float *restrict dW) {
    for (int f = 0; f < F; f++)
        for (int c = 0; c < C; c++) {
            float u[16], t[3][4];
            for (int k = 0; k < 16; k++) u[k] = dU[((size_t)k * F + f) * C + c];
            for (int j = 0; j < 4; j++) {
                t[0][j] = u[j] + 0.5f * (u[4 + j] + u[8 + j]);
                t[1][j] = 0.5f * (u[4 + j] - u[8 + j]);
                t[2][j] = 0.5f * (u[4 + j] + u[8 + j]) + u[12 + j];
            }
            float *g = dW + ((size_t)f * C + c) * 9;
            for (int i = 0; i < 3; i++) {
                g[3 * i] += t[i][0] + 0.5f * (t[i][1] + t[i][2]);
                g[3 * i + 1] += 0.5f * (t[i][1] - t[i][2]);
                g[3 * i + 2] += 0.5f * (t[i][1] + t[i][2]) + t[i][3];
            }
        }
}
