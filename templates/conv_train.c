/* ---- conv2d backward: im2col/col2im, the naive loops (reference builds),
   ∂W by rows and ∂W, ∂x on the packed GEMM ---------------------------------- */

/* im2col of one image and group as plain rows: col[k][n], K×N; each
   output row of a tap reads one input row (contiguous for stride 1). */
NN_UNUSED static void nn_im2col_rows(const float *restrict x, nn_conv_shape s, float *restrict col) {
    for (int c = 0; c < s.C; c++)
        for (int i = 0; i < s.kh; i++)
            for (int j = 0; j < s.kw; j++)
                for (int oh = 0; oh < s.OH; oh++, col += s.OW) {
                    const int ih = oh * s.sh - s.pt + i * s.dh;
                    if (ih < 0 || ih >= s.H) { memset(col, 0, (size_t)s.OW * sizeof(float)); continue; }
                    const float *row = x + ((size_t)c * s.H + ih) * s.W;
                    const int iw0 = j * s.dw - s.pl;
                    for (int ow = 0; ow < s.OW; ow++) {
                        const int iw = iw0 + ow * s.sw;
                        col[ow] = iw >= 0 && iw < s.W ? row[iw] : 0.0f;
                    }
                }
}

/* The adjoint of im2col: dx += the columns scattered back to their pixels;
   per output row, the pixels inside the image form one run [lo, hi). */
NN_UNUSED static void nn_col2im_add(const float *restrict col, nn_conv_shape s, float *restrict dx) {
    const int N = s.OH * s.OW;
    for (int c = 0; c < s.C; c++)
        for (int i = 0; i < s.kh; i++)
            for (int j = 0; j < s.kw; j++, col += N) {
                const int iw0 = j * s.dw - s.pl;
                int lo = iw0 >= 0 ? 0 : (-iw0 + s.sw - 1) / s.sw;
                int hi = iw0 >= s.W ? 0 : (s.W - iw0 + s.sw - 1) / s.sw;
                hi = hi < s.OW ? hi : s.OW;
                for (int oh = 0; oh < s.OH; oh++) {
                    const int ih = oh * s.sh - s.pt + i * s.dh;
                    if (ih < 0 || ih >= s.H) continue;
                    float *row = dx + ((size_t)c * s.H + ih) * s.W;
                    const float *cr = col + (size_t)oh * s.OW;
                    if (s.sw == 1) for (int ow = lo; ow < hi; ow++) row[iw0 + ow] += cr[ow];
                    else for (int ow = lo; ow < hi; ow++) row[iw0 + ow * s.sw] += cr[ow];
                }
            }
}

/* conv2d of one image and group (F filters of K = C·kh·kw taps over N
   pixels): dW += dz·colᵀ, db += Σ dz, dx += col2im(Wᵀ·dz). */
NN_UNUSED static void nn_conv_backward(const float *restrict x, nn_conv_shape s, int F, const float *restrict W,
                                       const float *restrict dz, float *restrict dx, float *restrict dW,
                                       float *restrict db, float *restrict col, float *restrict dcol) {
    const int N = s.OH * s.OW, K = s.C * s.kh * s.kw;
    nn_im2col_rows(x, s, col);
    for (int f = 0; f < F; f++) {
        const float *g = dz + (size_t)f * N;
        if (db) {
            float sb = 0;
            for (int n = 0; n < N; n++) sb += g[n];
            db[f] += sb;
        }
        for (int k = 0; k < K; k++) dW[(size_t)f * K + k] += nn_dot(N, g, col + (size_t)k * N);
    }
    if (!dx) return;
    memset(dcol, 0, (size_t)K * N * sizeof(float));
    for (int k = 0; k < K; k++)
        for (int f = 0; f < F; f++) {
            float w = W[(size_t)f * K + k];
            if (w != 0.0f) nn_axpy(N, w, dz + (size_t)f * N, dcol + (size_t)k * N);
        }
    nn_col2im_add(dcol, s, dx);
}

/* ∂W of a conv whose forward runs by rows (stride 1 along the width), one
   group over the whole batch: dW[f][t] += Σ over images and output pixels of
   dz[f][pixel] times the input under tap t of that pixel, pixels in the
   vector lanes. A tile is FB filters × TB taps accumulators over the batch,
   summed across lanes once at the end: no im2col, no packing. xp holds each
   image padded as the forward pads it (Wp ≥ ceil(OW/VW)·VW + (kw − 1)·dw),
   image after image; dz images are dz_stride apart. Lanes past a row's end
   load dz as zeros, so what they read of the padding adds nothing. */
#define NN_DW_MAX_FB 12
#define NN_DW_MAX_TB 8
#ifndef NN_DW_CHUNK_KB
#define NN_DW_CHUNK_KB 256u
#endif
NN_UNUSED static inline __attribute__((always_inline)) void
nn_conv_dw_rows_tile(const int FB, const int TB, nn_conv_shape s, int Hp, int Wp, int nb, int t0,
                     const float *restrict xp, const float *restrict dz, size_t dz_stride, float *restrict dW) {
    const int K = s.C * s.kh * s.kw;
    const size_t plane = (size_t)s.OH * s.OW, image = (size_t)s.C * Hp * Wp;
    size_t off[NN_DW_MAX_TB];
    _Pragma("GCC unroll 12") for (int t = 0; t < TB; t++) {
        const int tap = t0 + t, c = tap / (s.kh * s.kw), i = tap / s.kw % s.kh, j = tap % s.kw;
        off[t] = ((size_t)c * Hp + (size_t)i * s.dh) * Wp + (size_t)j * s.dw;
    }
    nn_vf acc[NN_DW_MAX_FB][NN_DW_MAX_TB];
    _Pragma("GCC unroll 12") for (int f = 0; f < FB; f++)
        _Pragma("GCC unroll 12") for (int t = 0; t < TB; t++) acc[f][t] = nn_splat(0);
    for (int b = 0; b < nb; b++)
        for (int oh = 0; oh < s.OH; oh++)
            for (int ow0 = 0; ow0 < s.OW; ow0 += NN_VW) {
                const int n = s.OW - ow0 < NN_VW ? s.OW - ow0 : NN_VW;
                const float *g = dz + b * dz_stride + (size_t)oh * s.OW + ow0;
                const float *x = xp + b * image + (size_t)oh * s.sh * Wp + ow0;
                nn_vf d[NN_DW_MAX_FB];
                _Pragma("GCC unroll 12") for (int f = 0; f < FB; f++) d[f] = n == NN_VW ? nn_load(g + f * plane) : nn_load_n(g + f * plane, n);
                _Pragma("GCC unroll 12") for (int t = 0; t < TB; t++) {
                    const nn_vf xv = nn_load(x + off[t]);
                    _Pragma("GCC unroll 12") for (int f = 0; f < FB; f++) acc[f][t] += d[f] * xv;
                }
            }
    /* Whole-vector stores first: summing lanes of acc in place would make
       gcc keep acc in memory through the loop above. */
    float lanes[NN_DW_MAX_FB * NN_DW_MAX_TB * NN_VW];
    _Pragma("GCC unroll 12") for (int f = 0; f < FB; f++)
        _Pragma("GCC unroll 12") for (int t = 0; t < TB; t++) nn_store(lanes + (f * TB + t) * NN_VW, acc[f][t]);
    _Pragma("GCC unroll 12") for (int f = 0; f < FB; f++)
        _Pragma("GCC unroll 12") for (int t = 0; t < TB; t++) {
            float sum = 0;
            for (int l = 0; l < NN_VW; l++) sum += lanes[(f * TB + t) * NN_VW + l];
            dW[(size_t)f * K + t0 + t] += sum;
        }
}

/* A tile of TB taps from t0 for FB filters; nncc emits one per layer and
   tile shape, the shape as constants. */
typedef void (*nn_conv_dw_fn)(int nb, int t0, const float *restrict xp, const float *restrict dz,
                              float *restrict dW);

/* FB divides F; the last taps (K % TB) have their own tile, NULL if none. */
typedef struct {
    int fb, tb;
    nn_conv_dw_fn full, last_taps;
} nn_conv_dw_plan;

/* One group: dz points at the group's first filter of image 0, images
   dz_stride apart. Images go in chunks whose dz and padded input fit in
   about half of L2, so every tile of a chunk finds them there. */
NN_UNUSED static void nn_conv_dw_rows(nn_conv_shape s, int F, int nb, int Hp, int Wp, const float *restrict xp,
                                      const float *restrict dz, size_t dz_stride, float *restrict dW,
                                      const nn_conv_dw_plan *p) {
    const int K = s.C * s.kh * s.kw;
    const size_t image = (size_t)s.C * Hp * Wp, bytes = ((size_t)F * s.OH * s.OW + image) * sizeof(float);
    const int chunk = bytes >= (NN_DW_CHUNK_KB << 10) ? 1 : (int)((NN_DW_CHUNK_KB << 10) / bytes);
    for (int b0 = 0; b0 < nb; b0 += chunk) {
        const int n = nb - b0 < chunk ? nb - b0 : chunk;
        for (int f0 = 0; f0 < F; f0 += p->fb)
            for (int t0 = 0; t0 < K; t0 += p->tb)
                (K - t0 < p->tb ? p->last_taps : p->full)(n, t0, xp + b0 * image,
                                                          dz + b0 * dz_stride + (size_t)f0 * s.OH * s.OW,
                                                          dW + (size_t)f0 * K);
    }
}

/* The GEMMs of a conv's backward, one image and group, on its im2col col
   (K×N: K = C·kh·kw taps, N pixels). ∂W one of two ways, the GEMM's
   columns being whichever of F and K fills its panels better:
   - dW (non-NULL): dW [F][K] += dz·colᵀ, colᵀ packed as panels into colT
     (few filters: lenet's 6 would fill 6 of 32 columns);
   - else dWt (non-NULL): dWᵀ [K][F] += col·dzᵀ, dz packed into dzT (the
     caller adds dWᵀ into dW once per step);
   - neither: the caller computes ∂W (nn_conv_dw_rows).
   Then (dcol non-NULL) dcol = Wᵀ·dz, or += with add_dcol (Wᵀ pre-packed as
   wt [K][F], dz packed into dzp). dcol may be col itself. */
NN_UNUSED static NN_ONCE void nn_conv_backward_cols(int K, int N, int F, const float *col, const float *restrict wt,
                                                    const float *restrict dz, float *dcol, int add_dcol, float *restrict dW,
                                                    float *restrict dWt, float *restrict db, float *restrict colT,
                                                    float *restrict dzT, float *restrict dzp) {
    const nn_epilogue add = {.accumulate = 1, .act = NN_ACT_NONE}, set = {.act = NN_ACT_NONE};
    if (dW) {
        nn_pack_transposed(K, N, col, colT);
        nn_gemm(F, K, N, dz, N, colT, dW, K, add);
    } else if (dWt) {
        nn_pack_transposed(F, N, dz, dzT);
        nn_gemm(K, F, N, col, N, dzT, dWt, F, add);
    }
    if (db)
        for (int f = 0; f < F; f++) db[f] += nn_sum(N, dz + (size_t)f * N);
    if (!dcol) return;
    nn_pack_rows(F, N, dz, N, dzp);
    nn_gemm(K, N, F, wt, F, dzp, dcol, N, add_dcol ? add : set);
}

/* conv2d, one image and group: im2col, the GEMMs above, col2im into dx. */
NN_UNUSED static void nn_conv_backward_gemm(const float *restrict x, nn_conv_shape s, int F, const float *restrict wt,
                                            const float *restrict dz, float *restrict dx, float *restrict dW,
                                            float *restrict dWt, float *restrict db, float *restrict col,
                                            float *restrict colT, float *restrict dzT, float *restrict dzp) {
    if (dW || dWt) nn_im2col_rows(x, s, col);
    nn_conv_backward_cols(s.C * s.kh * s.kw, s.OH * s.OW, F, col, wt, dz, dx ? col : NULL, 0, dW, dWt, db, colT, dzT, dzp);
    if (dx) nn_col2im_add(col, s, dx);
}

/* A 1×1 conv of stride 1 without padding: the image is its own im2col, and
   ∂x = Wᵀ·dz is added straight into dx. */
NN_UNUSED static NN_ONCE void nn_conv1x1_backward(const float *restrict x, nn_conv_shape s, int F, const float *restrict wt,
                                                  const float *restrict dz, float *restrict dx, float *restrict dW,
                                                  float *restrict dWt, float *restrict db, float *restrict colT,
                                                  float *restrict dzT, float *restrict dzp) {
    nn_conv_backward_cols(s.C, s.OH * s.OW, F, x, wt, dz, dx, 1, dW, dWt, db, colT, dzT, dzp);
}

/* dW [F][K] += dWᵀ [K][F]. */
NN_UNUSED static NN_ONCE void nn_add_transposed(int F, int K, const float *restrict dWt, float *restrict dW) {
    for (int f = 0; f < F; f++)
        for (int k = 0; k < K; k++) dW[(size_t)f * K + k] += dWt[(size_t)k * F + f];
}
