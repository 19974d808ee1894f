/* ---- convolution: rows, narrow and implicit-GEMM kernels -------------
   All three work on one image and group, read the input in place from a
   zero-padded copy (nn_conv_pad; no im2col), keep a tile in registers over
   every tap (c, i, j) and fuse bias and activation into the store:
   - rows: output pixels of a row in the lanes, a block of filters broadcast;
   - narrow: one vector of filters in the lanes, pixels broadcast;
   - implicit GEMM: two vectors of filters, eight pixels broadcast.
   nncc picks per layer (EmitConv.path) and emits each layer's tiles with the
   shape as constants. */
typedef struct {
    int C, H, W;        /* input channels (of this group) and size */
    int kh, kw, sh, sw; /* kernel and stride */
    int pt, pl, dh, dw; /* top/left padding and dilation */
    int OH, OW;         /* output size */
} nn_conv_shape;

/* Copies a short run with vector moves; gcc would turn a plain loop into a
   memcpy call, which costs more than the copy at these lengths. */
static inline void nn_copy_short(float *restrict o, const float *restrict x, int n) {
    int k = 0;
    for (; k + NN_VW <= n; k += NN_VW) nn_store(o + k, nn_load(x + k));
    for (; k < n; k++) o[k] = x[k];
}

/* Reference: direct convolution of one image and group, y[f][oh][ow] for F
   filters with weights w[F][C][kh][kw], for tests against the tiled path. */
NN_UNUSED static void nn_conv_naive(const float *x, nn_conv_shape s, int F, const float *w, const float *bias,
                                    int act, float alpha, float beta, float *y) {
    for (int f = 0; f < F; f++)
        for (int oh = 0; oh < s.OH; oh++)
            for (int ow = 0; ow < s.OW; ow++) {
                float acc = bias ? bias[f] : 0.0f;
                for (int c = 0; c < s.C; c++)
                    for (int i = 0; i < s.kh; i++)
                        for (int j = 0; j < s.kw; j++) {
                            int ih = oh * s.sh - s.pt + i * s.dh, iw = ow * s.sw - s.pl + j * s.dw;
                            if (ih >= 0 && ih < s.H && iw >= 0 && iw < s.W)
                                acc += w[(((size_t)f * s.C + c) * s.kh + i) * s.kw + j] * x[((size_t)c * s.H + ih) * s.W + iw];
                        }
                y[((size_t)f * s.OH + oh) * s.OW + ow] = nn_act(act, alpha, beta, acc);
            }
}

/* Row convolution, for stride 1 along the width: output pixels in the
   vector lanes, filters broadcast. A tile is FB filters × RB output rows ×
   UV vectors of a row, FB·RB·UV accumulators kept in registers over all
   C·kh·kw taps; each tap is RB·UV unaligned loads of the padded input and FB
   broadcast weights. Weights are packed as blocks wk[K][FB] (zero filters
   past F), so a block streams with unit stride; the output is stored
   straight into NCHW rows. xp is the input padded by nn_conv_pad with
   Wp ≥ ceil(OW/VW)·VW + (kw − 1)·dw: vectors past a row's end read zeros or
   the next row, never outside the buffer, and are not stored. Strided along
   the width (inference only), each padded row is sw phase segments of Wp/sw
   (nn_conv_pad_phases): tap j reads segment j·dw % sw from column j·dw / sw,
   so its output pixels are still one contiguous load. */
#define NN_ROWS_MAX_FB 24
#define NN_ROWS_MAX_VECTORS 4
NN_UNUSED static inline __attribute__((always_inline)) void
nn_conv_rows_tile(const int FB, const int RB, const int UV, nn_conv_shape s, int Hp, int Wp, int oh, int ow0,
                  const float *restrict xp, const float *restrict wk, const float *restrict bias, int act,
                  float alpha, float beta, float *restrict y, int nf) {
    /* Fixed-size arrays (not [FB][RB·UV]): gcc keeps them in registers only
       when every index is a constant after unrolling, and a VLA never is. */
    nn_vf acc[NN_ROWS_MAX_FB][NN_ROWS_MAX_VECTORS];
    _Pragma("GCC unroll 24") for (int f = 0; f < FB; f++)
        _Pragma("GCC unroll 24") for (int v = 0; v < RB * UV; v++) acc[f][v] = nn_splat(0);
    for (int c = 0; c < s.C; c++)
        for (int i = 0; i < s.kh; i++) {
            const float *row = xp + ((size_t)c * Hp + oh * s.sh + i * s.dh) * Wp + ow0;
            for (int j = 0; j < s.kw; j++, wk += FB) {
                nn_vf x[NN_ROWS_MAX_VECTORS];
                _Pragma("GCC unroll 24") for (int r = 0; r < RB; r++)
                    _Pragma("GCC unroll 24") for (int u = 0; u < UV; u++)
                        x[r * UV + u] = nn_load(row + (size_t)r * s.sh * Wp + j * s.dw % s.sw * (Wp / s.sw) + j * s.dw / s.sw
                                                + u * NN_VW);
                _Pragma("GCC unroll 24") for (int v = 0; v < RB * UV; v++) NN_IN_REGISTER(x[v]);
                _Pragma("GCC unroll 24") for (int f = 0; f < FB; f++) {
                    const nn_vf w = nn_splat(wk[f]);
                    _Pragma("GCC unroll 24") for (int v = 0; v < RB * UV; v++) acc[f][v] += w * x[v];
                }
            }
        }
    const size_t plane = (size_t)s.OH * s.OW;
    _Pragma("GCC unroll 24") for (int f = 0; f < FB; f++) {
        if (f >= nf) break;
        _Pragma("GCC unroll 24") for (int r = 0; r < RB; r++)
            _Pragma("GCC unroll 24") for (int u = 0; u < UV; u++) {
                const nn_vf out = nn_vact(act, alpha, beta, acc[f][r * UV + u] + bias[f]);
                float *yo = y + f * plane + (size_t)(oh + r) * s.OW + ow0 + u * NN_VW;
                const int n = s.OW - (ow0 + u * NN_VW);
                if (n >= NN_VW) nn_store(yo, out);
                else nn_store_n(yo, out, n);
            }
    }
}

/* A tile at output row oh and column ow0 of filter block wk: nncc emits one
   per layer and tile shape, with the shape, padding and activation as
   constants, so gcc unrolls the taps of a row and folds the strides. */
typedef void (*nn_conv_rows_fn)(int oh, int ow0, const float *restrict xp, const float *restrict wk,
                                const float *restrict bias, float *restrict y, int nf);

/* A layer's tiling: FB × RB × UV, and the tiles for the last rows (OH % RB)
   and the last vectors of a row (ceil(OW/VW) % UV), NULL when none. */
typedef struct {
    int fb, rb, uv;
    nn_conv_rows_fn full, last_rows, last_vectors, last_both;
} nn_conv_rows_plan;

/* One image and group: weights as blocks [ceil(F/FB)][K][FB], then the bias
   padded to whole blocks; xp already padded by nn_conv_pad. */
NN_UNUSED static void nn_conv_rows(nn_conv_shape s, int F, const float *restrict xp, const float *restrict wk,
                                   const float *restrict bias, float *restrict y, const nn_conv_rows_plan *p) {
    const int K = s.C * s.kh * s.kw, vpr = (s.OW + NN_VW - 1) / NN_VW;
    const size_t plane = (size_t)s.OH * s.OW;
    for (int f0 = 0; f0 < F; f0 += p->fb) {
        const int nf = F - f0 < p->fb ? F - f0 : p->fb;
        for (int oh = 0; oh < s.OH; oh += p->rb) {
            const int last_rows = s.OH - oh < p->rb;
            for (int u0 = 0; u0 < vpr; u0 += p->uv) {
                const int last_vectors = vpr - u0 < p->uv;
                const nn_conv_rows_fn tile = last_rows ? (last_vectors ? p->last_both : p->last_rows)
                                                       : (last_vectors ? p->last_vectors : p->full);
                tile(oh, u0 * NN_VW, xp, wk + (size_t)f0 * K, bias + f0, y + f0 * plane, nf);
            }
        }
    }
}

/* Narrow implicit GEMM, for groups of at most NN_VW filters with rows too
   short to fill the rows kernel's lanes (lenet's 16 filters on 10×10): one
   vector of filters × a tile of PR output rows × PW pixels of a row. Each
   tap is one weight vector (wk [K][VW], zero past F) times PR·PW broadcast
   input pixels, at constant offsets from PR row pointers; the tile is
   stored transposed into NCHW. Rows past OH repeat the last row and are not
   stored; PW divides OW or the last columns have their own tile. */
#define NN_NARROW_MAX 24
NN_UNUSED static inline __attribute__((always_inline)) void
nn_conv_narrow_tile(const int PR, const int PW, nn_conv_shape s, int Hp, int Wp, int oh0, int ow0,
                    const float *restrict xp, const float *restrict wk, const float *restrict bias, int act,
                    float alpha, float beta, float *restrict y, int nf) {
    size_t at[NN_NARROW_MAX];
    nn_vf acc[NN_NARROW_MAX];
    _Pragma("GCC unroll 24") for (int rr = 0; rr < PR; rr++) {
        const int oh = oh0 + rr < s.OH ? oh0 + rr : s.OH - 1;
        at[rr] = (size_t)oh * s.sh * Wp + (size_t)ow0 * s.sw;
    }
    _Pragma("GCC unroll 24") for (int r = 0; r < PR * PW; r++) acc[r] = nn_splat(0);
    for (int c = 0; c < s.C; c++)
        for (int i = 0; i < s.kh; i++) {
            const float *row = xp + ((size_t)c * Hp + (size_t)i * s.dh) * Wp;
            for (int j = 0; j < s.kw; j++, wk += NN_VW) {
                const nn_vf w = nn_load(wk);
                _Pragma("GCC unroll 24") for (int rr = 0; rr < PR; rr++) {
                    const float *xa = row + at[rr] + j * s.dw;
                    _Pragma("GCC unroll 24") for (int r = 0; r < PW; r++)
                        acc[rr * PW + r] += nn_splat(xa[r * s.sw]) * w;
                }
            }
        }
    float out[NN_NARROW_MAX * NN_VW];
    _Pragma("GCC unroll 24") for (int r = 0; r < PR * PW; r++)
        nn_store(out + r * NN_VW, nn_vact(act, alpha, beta, acc[r] + nn_load(bias)));
    const size_t plane = (size_t)s.OH * s.OW;
    for (int rr = 0; rr < PR && oh0 + rr < s.OH; rr++)
        for (int f = 0; f < nf; f++)
            for (int r = 0; r < PW; r++)
                y[f * plane + (size_t)(oh0 + rr) * s.OW + ow0 + r] = out[(rr * PW + r) * NN_VW + f];
}

/* The layer's tiles, shape and activation as constants (nncc emits them). */
typedef void (*nn_conv_narrow_fn)(int oh0, int ow0, const float *restrict xp, const float *restrict wk,
                                  const float *restrict bias, float *restrict y);

/* One image and group: tiles of pr rows × pw pixels, `last` for the last
   OW % pw pixels of each row (NULL if none). */
NN_UNUSED static void nn_conv_narrow(nn_conv_shape s, int pr, int pw, const float *restrict xp,
                                     const float *restrict wk, const float *restrict bias, float *restrict y,
                                     nn_conv_narrow_fn full, nn_conv_narrow_fn last) {
    for (int oh0 = 0; oh0 < s.OH; oh0 += pr)
        for (int ow0 = 0; ow0 < s.OW; ow0 += pw) (s.OW - ow0 < pw ? last : full)(oh0, ow0, xp, wk, bias, y);
}

/* Implicit GEMM: output pixels are the rows, filters the columns. The B
   operand is the filters packed once as panels [K][NN_NR] (K = C·kh·kw
   taps); the A operand is read straight from the zero-padded input: for tap
   (c, i, j), row r of a tile is pixel ow0 + r, i.e. xp[c][oh·sh + i·dh][(ow0
   + r)·sw + j·dw]. No im2col. The mr × NN_NR tile is stored with the bias
   and activation applied: transposed into the NCHW output, or when ys is not
   0 into a channels-last one, pixel p's filters at y + p·ys, a vector each. */
NN_UNUSED static inline __attribute__((always_inline)) void
nn_conv_tile(const int mr, nn_conv_shape s, int Hp, int Wp, int oh, int ow0, const float *restrict xp,
             const float *restrict B, int nc, const float *restrict bias, int act, float alpha, float beta, float *restrict y,
             const int ys) {
    nn_vf acc[NN_MR][NN_NV];
    for (int r = 0; r < mr; r++)
        for (int v = 0; v < NN_NV; v++) acc[r][v] = nn_splat(0);
    for (int c = 0; c < s.C; c++)
        for (int i = 0; i < s.kh; i++) {
            const float *xrow = xp + ((size_t)c * Hp + oh * s.sh + i * s.dh) * Wp + (size_t)ow0 * s.sw;
            for (int j = 0; j < s.kw; j++, B += NN_NR) {
                const float *xa = xrow + j * s.dw;
                nn_vf b[NN_NV];
                for (int v = 0; v < NN_NV; v++) b[v] = nn_load(B + v * NN_VW);
                for (int r = 0; r < mr; r++) {
                    nn_vf a = nn_splat(xa[r * s.sw]);
                    for (int v = 0; v < NN_NV; v++) acc[r][v] += a * b[v];
                }
            }
        }
    for (int v = 0; v < NN_NV; v++) {
        const nn_vf bv = nn_load(bias + v * NN_VW);
        for (int r = 0; r < mr; r++) acc[r][v] = nn_vact(act, alpha, beta, acc[r][v] + bv);
    }
    if (ys) {
        for (int r = 0; r < mr; r++)
            for (int v = 0; v < NN_NV && v * NN_VW < nc; v++) {
                float *out = y + ((size_t)oh * s.OW + ow0 + r) * ys + v * NN_VW;
                if (nc - v * NN_VW >= NN_VW) nn_store(out, acc[r][v]);
                else nn_store_n(out, acc[r][v], nc - v * NN_VW);
            }
        return;
    }
    const size_t plane = (size_t)s.OH * s.OW;
    for (int f = 0; f < nc; f++)
        for (int r = 0; r < mr; r++) y[f * plane + (size_t)oh * s.OW + ow0 + r] = acc[r][f / NN_VW][f % NN_VW];
}

/* A layer's tile of NN_MR pixels or of its last OW % NN_MR, with the shape,
   padding and activation as constants (nncc emits them): strides fold, the
   taps of a row unroll. */
typedef void (*nn_conv_tile_fn)(int oh, int ow0, const float *restrict xp, const float *restrict B, int nc,
                                const float *restrict bias, float *restrict y);

/* Pads one image and group into xp: C planes of Hp × Wp, zeros around.
   Only the border is zeroed: the interior is overwritten anyway. */
NN_UNUSED static void nn_conv_pad(const float *restrict x, nn_conv_shape s, int Hp, int Wp, float *restrict xp) {
    const int right = Wp - s.pl - s.W;
    for (int c = 0; c < s.C; c++) {
        float *plane = xp + (size_t)c * Hp * Wp;
        memset(plane, 0, (size_t)s.pt * Wp * sizeof(float));
        for (int h = 0; h < s.H; h++) {
            float *row = plane + (size_t)(h + s.pt) * Wp;
            for (int k = 0; k < s.pl; k++) row[k] = 0.0f;
            nn_copy_short(row + s.pl, x + ((size_t)c * s.H + h) * s.W, s.W);
            for (int k = 0; k < right; k++) row[s.pl + s.W + k] = 0.0f;
        }
        memset(plane + (size_t)(s.pt + s.H) * Wp, 0, (size_t)(Hp - s.pt - s.H) * Wp * sizeof(float));
    }
}

/* nn_conv_pad with each padded row stored as s.sw phase segments of Wp/s.sw
   columns (padded column p at p % sw · Wp/sw + p / sw), for the rows kernel
   strided along the width: each tap's output pixels become one contiguous run. */
NN_UNUSED static inline void nn_conv_pad_phases(const float *restrict x, nn_conv_shape s, int Hp, int Wp, float *restrict xp) {
    const int sw = s.sw, wq = Wp / sw;
    memset(xp, 0, (size_t)s.C * Hp * Wp * sizeof(float));
    for (int c = 0; c < s.C; c++)
        for (int h = 0; h < s.H; h++) {
            float *row = xp + ((size_t)c * Hp + h + s.pt) * Wp;
            const float *in = x + ((size_t)c * s.H + h) * s.W;
            /* Segment ph holds padded columns ph + k·sw, input columns ph + k·sw − pl: a strided copy
               (inlined with the shape constant, gcc vectorizes it). */
            for (int ph = 0; ph < sw; ph++) {
                const int k0 = s.pl > ph ? (s.pl - ph + sw - 1) / sw : 0, k1 = (s.W - 1 + s.pl - ph) / sw;
                for (int k = k0; k <= k1; k++) row[ph * wq + k] = in[ph + k * sw - s.pl];
            }
        }
}

/* Writes the input pixels that a 1×1 conv's output samples (stride,
   padding; zeros there) as columns n0.. of the GEMM's B operand
   [C][columns], packed as panels of NN_NR columns (nn_pack_rows' layout). */
NN_UNUSED static void nn_gather_pixels(const float *restrict x, nn_conv_shape s, int n0, float *restrict Bp) {
    if (s.sh == 1 && s.sw == 1 && s.pt == 0 && s.pl == 0 && s.OH == s.H && s.OW == s.W) {  /* runs of a channel's row */
        const int N = s.OH * s.OW;
        for (int c = 0; c < s.C; c++)
            for (int k = 0, n = n0; k < N;) {
                const int j = n % NN_NR, len = NN_NR - j < N - k ? NN_NR - j : N - k;
                nn_copy_short(Bp + ((size_t)(n / NN_NR) * s.C + c) * NN_NR + j, x + (size_t)c * N + k, len);
                k += len;
                n += len;
            }
        return;
    }
    for (int c = 0; c < s.C; c++)
        for (int oh = 0; oh < s.OH; oh++) {
            const int ih = oh * s.sh - s.pt;
            for (int ow = 0; ow < s.OW; ow++) {
                const int iw = ow * s.sw - s.pl, n = n0 + oh * s.OW + ow;
                Bp[((size_t)(n / NN_NR) * s.C + c) * NN_NR + n % NN_NR] =
                    ih >= 0 && ih < s.H && iw >= 0 && iw < s.W ? x[((size_t)c * s.H + ih) * s.W + iw] : 0.0f;
            }
        }
}

/* Zeros the columns of Bp's last panel, before the pixels are gathered into it. */
NN_UNUSED static inline void nn_zero_last_panel(int C, int columns, float *restrict Bp) {
    memset(Bp + (size_t)((columns - 1) / NN_NR) * C * NN_NR, 0, (size_t)C * NN_NR * sizeof(float));
}

/* One image of a 1×1 conv as the GEMM W·X: X [C][OH·OW] packed as panels,
   the image itself with stride 1 and no padding. */
NN_UNUSED static void nn_pack_pixels(const float *restrict x, nn_conv_shape s, float *restrict Bp) {
    const int N = s.OH * s.OW;
    if (s.sh == 1 && s.sw == 1 && s.pt == 0 && s.pl == 0 && s.OH == s.H && s.OW == s.W) {
        nn_pack_rows(s.C, N, x, N, Bp);
        return;
    }
    nn_zero_last_panel(s.C, N, Bp);
    nn_gather_pixels(x, s, 0, Bp);
}

/* A 1×1 conv over nb images at once, for images of few pixels (a panel per
   image would be mostly padding): their pixels side by side as the columns
   of one GEMM W·X [F][nb·N] into cs, then each image's rows copied into y.
   Bp holds C × (nb·N rounded up to whole panels) floats. */
NN_UNUSED static void nn_conv1x1_batched(int nb, nn_conv_shape s, int F, const float *restrict x, const float *restrict w,
                                         nn_epilogue e, float *restrict Bp, float *restrict cs, float *restrict y) {
    const int N = s.OH * s.OW, columns = nb * N;
    nn_zero_last_panel(s.C, columns, Bp);
    for (int b = 0; b < nb; b++) nn_gather_pixels(x + (size_t)b * s.C * s.H * s.W, s, b * N, Bp);
    nn_gemm(F, columns, s.C, w, s.C, Bp, cs, columns, e);
    for (int b = 0; b < nb; b++)
        for (int f = 0; f < F; f++) nn_copy_short(y + ((size_t)b * F + f) * N, cs + (size_t)f * columns + (size_t)b * N, N);
}

/* One image and group: F filters packed as panels wpk [ceil(F/NR)][K][NR],
   bias padded to whole panels; xp already padded by nn_conv_pad (or, for a
   plain 1×1 conv as one row, the image itself). The output NCHW, or
   channels-last when ys (its pixel stride, the tiles' too) is not 0. */
NN_UNUSED static void nn_conv_implicit(nn_conv_shape s, int F, const float *restrict xp, const float *restrict wpk,
                                       const float *restrict bias, float *restrict y, nn_conv_tile_fn full,
                                       nn_conv_tile_fn last, int ys) {
    const int K = s.C * s.kh * s.kw;
    for (int p = 0; p * NN_NR < F; p++) {
        const int nc = F - p * NN_NR < NN_NR ? F - p * NN_NR : NN_NR;
        for (int oh = 0; oh < s.OH; oh++)
            for (int ow0 = 0; ow0 < s.OW; ow0 += NN_MR)
                (s.OW - ow0 < NN_MR ? last : full)(oh, ow0, xp, wpk + (size_t)p * K * NN_NR, nc, bias + p * NN_NR,
                                                   y + (size_t)p * NN_NR * (ys ? 1 : (size_t)s.OH * s.OW));
    }
}
