/* ---- Winograd F(2×2, 3×3) convolution ------------------------------------
   For 3×3, stride-1, undilated, ungrouped layers with enough channels. Each
   2×2 block of outputs (a tile) comes from a 4×4 patch d of the padded input:
       y = Aᵀ [U ⊙ (Bᵀ d B)] A,   U = G g Gᵀ per filter and channel,
   16 multiplies per tile, channel and filter instead of 36. Per block of
   tile rows of one image:
       V[ξ][c][p] = (Bᵀ d B)[ξ]       input transform, tiles in the lanes
       M[ξ] = U[ξ] · V[ξ]             16 GEMMs on the micro-kernel, U packed [ξ][F][C]
       y = Aᵀ M A + bias, activation  output transform, stored into NCHW
   Tiles are numbered p = r·TWP + tx (r: tile row within the block). TWP is
   the tiles per row rounded up to the transform's vector width TV, so a
   vector of tiles never straddles a panel. The tiles past the image read
   zeros of the padded copy and are not stored. V is written straight into
   the GEMM's panel layout [ξ][p / NR][c][p % NR]. F(2×2, 3×3) keeps
   PyTorch's accuracy in float32: its transforms only add and halve. */
typedef struct {
    int C, F, OH, OW; /* channels, filters, output size */
    int TH, TW, TWP;  /* tile rows, tiles per row, tile-row stride (a multiple of TV) */
    int TB;           /* tile rows per block */
    int Hp, Wp;       /* the padded input: Hp ≥ 2·TH + 2, Wp ≥ 2·TWP + 2 */
} nn_wino_shape;

/* u = G g Gᵀ for one 3×3 filter g (row-major), u 4×4 row-major. */
static inline void nn_wino_filter(const float g[9], float u[16]) {
    float t[4][3];
    for (int j = 0; j < 3; j++) {
        t[0][j] = g[j];
        t[1][j] = 0.5f * (g[j] + g[3 + j] + g[6 + j]);
        t[2][j] = 0.5f * (g[j] - g[3 + j] + g[6 + j]);
        t[3][j] = g[6 + j];
    }
    for (int i = 0; i < 4; i++) {
        u[4 * i] = t[i][0];
        u[4 * i + 1] = 0.5f * (t[i][0] + t[i][1] + t[i][2]);
        u[4 * i + 2] = 0.5f * (t[i][0] - t[i][1] + t[i][2]);
        u[4 * i + 3] = t[i][2];
    }
}

/* U[ξ][f][c] = (G g Gᵀ)[ξ] for W [F][C][3][3] (after any batchnorm folding). */
NN_UNUSED static void nn_wino_pack(int F, int C, const float *restrict w, float *restrict U) {
    float u[16];
    for (int f = 0; f < F; f++)
        for (int c = 0; c < C; c++) {
            nn_wino_filter(w + ((size_t)f * C + c) * 9, u);
            for (int k = 0; k < 16; k++) U[((size_t)k * F + f) * C + c] = u[k];
        }
}

/* For ∂x of a stride-1 3×3 layer, itself a 3×3 convolution of ∂z with the
   filters transposed (C outputs from F inputs) and turned 180°:
   U[ξ][c][f] = (G g Gᵀ)[ξ] with g[i][j] = W[f][c][2 − i][2 − j]. */
NN_UNUSED static void nn_wino_pack_grad(int F, int C, const float *restrict w, float *restrict U) {
    float g[9], u[16];
    for (int c = 0; c < C; c++)
        for (int f = 0; f < F; f++) {
            for (int k = 0; k < 9; k++) g[k] = w[((size_t)f * C + c) * 9 + 8 - k];
            nn_wino_filter(g, u);
            for (int k = 0; k < 16; k++) U[((size_t)k * C + c) * F + f] = u[k];
        }
}

/* The 16 planes of V and of M are NN_WINO_SKEW floats more than their
   size apart: at a power-of-two distance the 16 streams of a transform
   would all fall into one L1 set. */
#define NN_WINO_SKEW 16

/* o = Bᵀ (d0, d1, d2, d3): the input transform along one axis, any vector type. */
#define NN_WINO_BT(o, d0, d1, d2, d3) \
    ((o)[0] = (d0) - (d2), (o)[1] = (d1) + (d2), (o)[2] = (d2) - (d1), (o)[3] = (d1) - (d3))

/* Transforms over TV tiles at once. The even/odd columns of a patch row come
   from two loads deinterleaved; the outputs of a row are interleaved back. */
#define NN_WINO_WIDTH(TV)                                                                                         \
    typedef float nn_wv##TV __attribute__((vector_size(TV * 4)));                                                 \
    typedef int32_t nn_wi##TV __attribute__((vector_size(TV * 4)));                                               \
    static inline __attribute__((always_inline)) void nn_wino_input_##TV(nn_wino_shape s, const float *restrict xp, \
                                                                         int ty0, int rows, float *restrict V) {    \
        const size_t vs = (size_t)s.C * ((rows * s.TWP + NN_NR - 1) / NN_NR * NN_NR) + NN_WINO_SKEW;            \
        for (int c = 0; c < s.C; c++)                                                                              \
            for (int r = 0; r < rows; r++)                                                                         \
                for (int tx = 0; tx < s.TWP; tx += TV) {                                                           \
                    const float *d = xp + ((size_t)c * s.Hp + 2 * (ty0 + r)) * s.Wp + 2 * tx;                     \
                    nn_wv##TV t[4][4];                                                                             \
                    for (int i = 0; i < 4; i++) {                                                                  \
                        nn_wv##TV a, b, a2, b2;                                                                    \
                        memcpy(&a, d + (size_t)i * s.Wp, sizeof a);                                                \
                        memcpy(&b, d + (size_t)i * s.Wp + TV, sizeof b);                                           \
                        memcpy(&a2, d + (size_t)i * s.Wp + 2, sizeof a2);                                          \
                        memcpy(&b2, d + (size_t)i * s.Wp + 2 + TV, sizeof b2);                                     \
                        const nn_wv##TV d0 = NN_SHUFFLE(nn_wi##TV, a, b, NN_LANES_EVEN##TV);                       \
                        const nn_wv##TV d1 = NN_SHUFFLE(nn_wi##TV, a, b, NN_LANES_ODD##TV);                        \
                        const nn_wv##TV d2 = NN_SHUFFLE(nn_wi##TV, a2, b2, NN_LANES_EVEN##TV);                     \
                        const nn_wv##TV d3 = NN_SHUFFLE(nn_wi##TV, a2, b2, NN_LANES_ODD##TV);                      \
                        NN_WINO_BT(t[i], d0, d1, d2, d3);                                                          \
                    }                                                                                              \
                    const int p = r * s.TWP + tx;                                                                  \
                    float *v = V + (size_t)(p / NN_NR) * s.C * NN_NR + (size_t)c * NN_NR + p % NN_NR;             \
                    for (int j = 0; j < 4; j++) {                                                                  \
                        nn_wv##TV o[4];                                                                            \
                        NN_WINO_BT(o, t[0][j], t[1][j], t[2][j], t[3][j]);                                         \
                        for (int i = 0; i < 4; i++) memcpy(v + (size_t)(4 * i + j) * vs, &o[i], sizeof o[i]);      \
                    }                                                                                              \
                }                                                                                                  \
    }                                                                                                              \
    static inline __attribute__((always_inline)) void nn_wino_output_##TV(                                         \
        const int ACC, nn_wino_shape s, const float *restrict M, int ty0, int rows, const float *restrict bias,       \
        float *restrict y) {                                                                                       \
        const int ld = (rows * s.TWP + NN_NR - 1) / NN_NR * NN_NR;                                                 \
        const size_t ms = (size_t)s.F * ld + NN_WINO_SKEW;                                                         \
        for (int f = 0; f < s.F; f++)                                                                              \
            for (int r = 0; r < rows; r++)                                                                         \
                for (int tx = 0; tx < s.TW; tx += TV) {                                                            \
                    const float *m = M + (size_t)f * ld + r * s.TWP + tx;                                          \
                    nn_wv##TV q[16], s0[4], s1[4];                                                                 \
                    for (int k = 0; k < 16; k++) memcpy(&q[k], m + k * ms, sizeof q[k]);                          \
                    for (int j = 0; j < 4; j++) {                                                                  \
                        s0[j] = q[j] + q[4 + j] + q[8 + j];                                                        \
                        s1[j] = q[4 + j] - q[8 + j] - q[12 + j];                                                   \
                    }                                                                                              \
                    const nn_wv##TV o[2][2] = {{s0[0] + s0[1] + s0[2] + bias[f], s0[1] - s0[2] - s0[3] + bias[f]}, \
                                               {s1[0] + s1[1] + s1[2] + bias[f], s1[1] - s1[2] - s1[3] + bias[f]}}; \
                    const int oh = 2 * (ty0 + r), n = s.OW - 2 * tx;                                               \
                    for (int i = 0; i < 2 && oh + i < s.OH; i++) {                                                 \
                        const nn_wv##TV lo = NN_SHUFFLE(nn_wi##TV, o[i][0], o[i][1], NN_LANES_LO##TV);             \
                        const nn_wv##TV hi = NN_SHUFFLE(nn_wi##TV, o[i][0], o[i][1], NN_LANES_HI##TV);             \
                        float *row = y + ((size_t)f * s.OH + oh + i) * s.OW + 2 * tx;                              \
                        if (n >= 2 * TV) {                                                                         \
                            nn_wv##TV a0 = lo, a1 = hi;                                                            \
                            if (ACC) {                                                                             \
                                nn_wv##TV r0, r1;                                                                  \
                                memcpy(&r0, row, sizeof r0);                                                       \
                                memcpy(&r1, row + TV, sizeof r1);                                                  \
                                a0 += r0;                                                                          \
                                a1 += r1;                                                                          \
                            }                                                                                      \
                            memcpy(row, &a0, sizeof a0);                                                           \
                            memcpy(row + TV, &a1, sizeof a1);                                                      \
                        } else {                                                                                   \
                            float out[2 * TV];                                                                     \
                            memcpy(out, &lo, sizeof lo);                                                           \
                            memcpy(out + TV, &hi, sizeof hi);                                                      \
                            for (int k = 0; k < n; k++) row[k] = ACC ? row[k] + out[k] : out[k];                   \
                        }                                                                                          \
                    }                                                                                              \
                }                                                                                                  \
    }                                                                                                              \
    /* ∂W: dM[ξ][f][tile] = (A dY Aᵀ)[ξ] of each tile's 2×2 of ∂z (dzp: ∂z padded with zeros to           \
       2·TH × 2·TWP), tiles in the lanes, the 16 planes F·tiles + NN_WINO_SKEW floats apart. */                   \
    NN_UNUSED static inline __attribute__((always_inline)) void                                                    \
    nn_wino_dz_##TV(nn_wino_shape s, const float *restrict dzp, int ty0, int rows, float *restrict dM) {           \
        const int tiles = rows * s.TWP;                                                                            \
        const size_t ms = (size_t)s.F * tiles + NN_WINO_SKEW;                                                     \
        for (int f = 0; f < s.F; f++)                                                                              \
            for (int r = 0; r < rows; r++)                                                                         \
                for (int tx = 0; tx < s.TWP; tx += TV) {                                                           \
                    const float *d = dzp + ((size_t)f * 2 * s.TH + 2 * (ty0 + r)) * 2 * s.TWP + 2 * tx;            \
                    nn_wv##TV a, b, c, e;                                                                          \
                    memcpy(&a, d, sizeof a);                                                                       \
                    memcpy(&b, d + TV, sizeof b);                                                                  \
                    memcpy(&c, d + 2 * s.TWP, sizeof c);                                                           \
                    memcpy(&e, d + 2 * s.TWP + TV, sizeof e);                                                      \
                    const nn_wv##TV y00 = NN_SHUFFLE(nn_wi##TV, a, b, NN_LANES_EVEN##TV);                          \
                    const nn_wv##TV y01 = NN_SHUFFLE(nn_wi##TV, a, b, NN_LANES_ODD##TV);                           \
                    const nn_wv##TV y10 = NN_SHUFFLE(nn_wi##TV, c, e, NN_LANES_EVEN##TV);                          \
                    const nn_wv##TV y11 = NN_SHUFFLE(nn_wi##TV, c, e, NN_LANES_ODD##TV);                           \
                    const nn_wv##TV t[4][2] = {{y00, y01}, {y00 + y10, y01 + y11}, {y00 - y10, y01 - y11},         \
                                               {-y10, -y11}};                                                      \
                    float *out = dM + (size_t)f * tiles + r * s.TWP + tx;                                          \
                    for (int i = 0; i < 4; i++) {                                                                  \
                        const nn_wv##TV m[4] = {t[i][0], t[i][0] + t[i][1], t[i][0] - t[i][1], -t[i][1]};          \
                        for (int j = 0; j < 4; j++) memcpy(out + (i * 4 + j) * ms, &m[j], sizeof m[j]);             \
                    }                                                                                              \
                }                                                                                                  \
    }

NN_WINO_WIDTH(4)
NN_WINO_WIDTH(8)
#if NN_VW >= 16
NN_WINO_WIDTH(16)
#endif

/* M[ξ] = U[ξ]·V[ξ] for one block of `tiles` tiles, straight on the micro-kernel. */
static inline __attribute__((always_inline)) void nn_wino_gemm(nn_wino_shape s, int tiles, const float *restrict U,
                                                               const float *restrict V, float *restrict M) {
    const int ld = (tiles + NN_NR - 1) / NN_NR * NN_NR;
    const nn_epilogue none = {.act = NN_ACT_NONE};
    for (int k = 0; k < 16; k++)
        for (int p = 0; p * NN_NR < tiles; p++) {
            const int nc = tiles - p * NN_NR < NN_NR ? tiles - p * NN_NR : NN_NR;
            const float *b = V + k * ((size_t)ld * s.C + NN_WINO_SKEW) + (size_t)p * NN_NR * s.C;
            for (int m = 0; m < s.F; m += NN_MR) {
                const int mr = s.F - m < NN_MR ? s.F - m : NN_MR;
                nn_micro_table[mr](s.C, U + ((size_t)k * s.F + m) * s.C, s.C, b,
                                   M + k * ((size_t)s.F * ld + NN_WINO_SKEW) + (size_t)m * ld + p * NN_NR, ld, nc, NULL,
                                   none);
            }
        }
}

/* Floats of scratch one image needs: the padded input, then V and M of a block. */
#define NN_WINO_SCRATCH(C, F, TB, TWP, Hp, Wp) \
    ((size_t)(C) * (Hp) * (Wp) + 16 * ((size_t)(C) + (F)) * (((TB) * (TWP) + NN_NR - 1) / NN_NR * NN_NR) + 32 * NN_WINO_SKEW)

/* One image: x [C][H][W] → y [F][OH][OW]; U and then the F biases as nn_wino_pack and nn_pack_bias left them.
   ACC adds into y instead (∂x; no activation then). */
static inline __attribute__((always_inline)) void
nn_wino_image(const int TV, const int ACC, nn_wino_shape s, nn_conv_shape cs, const float *restrict x,
              const float *restrict U, int act, float alpha, float beta, float *restrict y, float *restrict scratch) {
    float *xp = scratch, *V = xp + (size_t)s.C * s.Hp * s.Wp;
    float *M = V + 16 * ((size_t)s.C * ((s.TB * s.TWP + NN_NR - 1) / NN_NR * NN_NR) + NN_WINO_SKEW);
    const float *bias = U + (size_t)16 * s.F * s.C;
    nn_conv_pad(x, cs, s.Hp, s.Wp, xp);
    for (int ty0 = 0; ty0 < s.TH; ty0 += s.TB) {
        const int rows = s.TH - ty0 < s.TB ? s.TH - ty0 : s.TB;
        switch (TV) {
#if NN_VW >= 16
        case 16: nn_wino_input_16(s, xp, ty0, rows, V); break;
#endif
        case 8: nn_wino_input_8(s, xp, ty0, rows, V); break;
        default: nn_wino_input_4(s, xp, ty0, rows, V); break;
        }
        nn_wino_gemm(s, rows * s.TWP, U, V, M);
        switch (TV) {
#if NN_VW >= 16
        case 16: nn_wino_output_16(ACC, s, M, ty0, rows, bias, y); break;
#endif
        case 8: nn_wino_output_8(ACC, s, M, ty0, rows, bias, y); break;
        default: nn_wino_output_4(ACC, s, M, ty0, rows, bias, y); break;
        }
        if (act != NN_ACT_NONE) {
            const int oh0 = 2 * ty0, oh1 = 2 * (ty0 + rows) < s.OH ? 2 * (ty0 + rows) : s.OH;
            for (int f = 0; f < s.F; f++) nn_act_n(act, alpha, beta, y + ((size_t)f * s.OH + oh0) * s.OW, (oh1 - oh0) * s.OW);
        }
    }
}
