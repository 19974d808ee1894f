/* ---- depthwise convolution (groups = channels = filters) ---------------
   One channel at a time, bandwidth-bound: a few FLOPs per byte. nn_dw_pad
   lays the channel's zero-padded input out as sh·sw phase planes of
   Hq × Wq, phase (a, b) holding padded[r·sh + a][c·sw + b]. The input
   under tap (i, j) of output pixel (oh, ow) is then phase
   ((i·dh) % sh, (j·dw) % sw) at [oh + i·dh/sh][ow + j·dw/sw]: every tap is
   one unaligned vector load at a constant offset, whatever the stride,
   dilation and padding, with no branch in the inner loop. Each plane is
   followed by NN_VW zeros that the last vectors read. The output pixel
   (oh, ow) sits at p = oh·Wq + ow of that grid; columns OW..Wq−1 of a row
   are not outputs. nncc emits one function per layer with the shape as
   constants, so the taps unroll and their weights stay in registers. */
#define NN_DW_MAX_TAPS 25

/* Floats of one phase plane and its zero tail. */
NN_UNUSED static inline size_t nn_dw_plane(int Hq, int Wq) { return (size_t)Hq * Wq + NN_VW; }

/* The offset of tap t's input from its output pixel, within P. */
NN_UNUSED static inline __attribute__((always_inline)) size_t nn_dw_offset(nn_conv_shape s, int Hq, int Wq, int t) {
    const int i = t / s.kw * s.dh, j = t % s.kw * s.dw;
    return (size_t)(i % s.sh * s.sw + j % s.sw) * nn_dw_plane(Hq, Wq) + (size_t)(i / s.sh) * Wq + j / s.sw;
}

/* Columns [lo, hi) of a row of phase plane (·, b) hold input pixels. */
NN_UNUSED static inline __attribute__((always_inline)) void nn_dw_columns(nn_conv_shape s, int Wq, int b, int *lo, int *hi) {
    *lo = s.pl > b ? (s.pl - b + s.sw - 1) / s.sw : 0;
    *hi = s.W + s.pl > b ? (s.W + s.pl - b + s.sw - 1) / s.sw : 0;
    *hi = *hi < Wq ? *hi : Wq;
}

/* The channel x [H][W] into its phase planes P, zeros around and after:
   plane (a, b) row r holds input row r·sh + a − pt, its columns c from
   column c·sw + b − pl; only what no input pixel lands on is zeroed.
   Inlined into each layer's function, so the divisions are by constants. */
NN_UNUSED static inline __attribute__((always_inline)) void
nn_dw_pad(const float *restrict x, nn_conv_shape s, int Hq, int Wq, float *restrict P) {
    for (int a = 0; a < s.sh; a++)
        for (int b = 0; b < s.sw; b++) {
            float *plane = P + (size_t)(a * s.sw + b) * nn_dw_plane(Hq, Wq);
            int lo, hi;
            nn_dw_columns(s, Wq, b, &lo, &hi);
            for (int r = 0; r < Hq; r++) {
                const int ih = r * s.sh + a - s.pt;
                float *row = plane + (size_t)r * Wq;
                if (ih < 0 || ih >= s.H || lo >= hi) {
                    memset(row, 0, (size_t)Wq * sizeof(float));
                    continue;
                }
                const float *in = x + (size_t)ih * s.W;
                for (int c = 0; c < lo; c++) row[c] = 0.0f;
                if (s.sw == 1) nn_copy_short(row + lo, in + lo + b - s.pl, hi - lo);
                else for (int c = lo; c < hi; c++) row[c] = in[c * s.sw + b - s.pl];
                for (int c = hi; c < Wq; c++) row[c] = 0.0f;
            }
            memset(plane + (size_t)Hq * Wq, 0, NN_VW * sizeof(float));
        }
}

/* The adjoint of nn_dw_pad: dx [H][W] += the input pixels' part of dP. */
NN_UNUSED static inline __attribute__((always_inline)) void
nn_dw_unpad_add(const float *restrict dP, nn_conv_shape s, int Hq, int Wq, float *restrict dx) {
    for (int a = 0; a < s.sh; a++)
        for (int b = 0; b < s.sw; b++) {
            const float *plane = dP + (size_t)(a * s.sw + b) * nn_dw_plane(Hq, Wq);
            int lo, hi;
            nn_dw_columns(s, Wq, b, &lo, &hi);
            for (int r = 0; r < Hq; r++) {
                const int ih = r * s.sh + a - s.pt;
                if (ih < 0 || ih >= s.H) continue;
                const float *d = plane + (size_t)r * Wq;
                float *out = dx + (size_t)ih * s.W;
                if (s.sw == 1) {
                    float *o = out + lo + b - s.pl;
                    const int n = hi - lo;
                    int c = 0;
                    for (; c + NN_VW <= n; c += NN_VW) nn_store(o + c, nn_load(o + c) + nn_load(d + lo + c));
                    for (; c < n; c++) o[c] += d[lo + c];
                } else {
                    for (int c = lo; c < hi; c++) out[c * s.sw + b - s.pl] += d[c];
                }
            }
        }
}

/* The forward of one channel x, laid out in phase planes P, bias and activation
   fused. By rows (by_rows): each output row's vectors are stored straight
   into y, the last one masked. Else the whole grid of OH·Wq pixels is
   computed in full vectors into q (rows narrower than a vector waste fewer
   lanes so) and its rows copied out. */
NN_UNUSED static inline __attribute__((always_inline)) void
nn_dw_channel(const int T, nn_conv_shape s, int Hq, int Wq, int by_rows, const float *restrict x, float *restrict P,
              const float *restrict w, float bias, int act, float alpha, float beta, float *restrict y, float *restrict q) {
    nn_dw_pad(x, s, Hq, Wq, P);
    nn_vf wv[NN_DW_MAX_TAPS];
    _Pragma("GCC unroll 25") for (int t = 0; t < T; t++) wv[t] = nn_splat(w[t]);
    const nn_vf b = nn_splat(bias);
    if (by_rows) {
        for (int oh = 0; oh < s.OH; oh++)
            for (int ow = 0; ow < s.OW; ow += NN_VW) {
                const float *at = P + (size_t)oh * Wq + ow;
                nn_vf acc = b;
                _Pragma("GCC unroll 25") for (int t = 0; t < T; t++) acc += wv[t] * nn_load(at + nn_dw_offset(s, Hq, Wq, t));
                acc = nn_vact(act, alpha, beta, acc);
                if (s.OW - ow >= NN_VW) nn_store(y + (size_t)oh * s.OW + ow, acc);
                else nn_store_n(y + (size_t)oh * s.OW + ow, acc, s.OW - ow);
            }
        return;
    }
    const int n = (s.OH - 1) * Wq + s.OW;  /* one past the last output pixel */
    for (int p = 0; p < n; p += NN_VW) {
        nn_vf acc = b;
        _Pragma("GCC unroll 25") for (int t = 0; t < T; t++) acc += wv[t] * nn_load(P + p + nn_dw_offset(s, Hq, Wq, t));
        nn_store(q + p, nn_vact(act, alpha, beta, acc));
    }
    for (int oh = 0; oh < s.OH; oh++) nn_copy_short(y + (size_t)oh * s.OW, q + (size_t)oh * Wq, s.OW);
}

/* Channels in the lanes, for images whose rows would fill few of a
   vector's lanes (dscnn's 25×5): a block of n ≤ NN_VW channels of x is
   gathered once into P [Hp][Wp][NN_VW], zero-padded around and in lanes
   n.., so that every tap of every output pixel is one vector load at a
   constant offset, with no lane wasted whatever the width. Hp × Wp is the
   padded extent the taps reach. x and y are channels-last when xs (ys) is
   not 0: pixel p's n channels at x + p·xs, a vector load (store) each.
   Otherwise they are n planes of H·W (OH·OW) floats, and each layout change
   is NN_VW × NN_VW transposes in registers: NN_VW columns of the n
   channels' rows in, and out NN_VW output pixels (in a channel's plane
   order) at a time. Bias and activation fused. w and bias: the block's
   first channel's taps [n][T] and its biases. A training build calls it
   (NCHW in and out) from one function per geometry (taps, stride,
   dilation, n, activation) that every layer of the geometry shares, the
   image's size an argument (Depthwise.swift); inference builds, from one
   function per layer. */
NN_UNUSED static inline __attribute__((always_inline)) void
nn_dw_lanes(const int T, nn_conv_shape s, int Hp, int Wp, const int n, const int xs, const int ys,
            const float *restrict x, const float *restrict w, const float *restrict bias, int act, float alpha, float beta,
            float *restrict y, float *restrict P) {
    const int HW = s.H * s.W, N = s.OH * s.OW;
    const int lo = s.pl < Wp ? s.pl : Wp, hi = s.pl + s.W < Wp ? s.pl + s.W : Wp;  /* columns holding input */
    nn_vf v[NN_VW];
    for (int r = 0; r < Hp; r++) {
        const int ih = r - s.pt;
        float *row = P + (size_t)r * Wp * NN_VW;
        const int inside = ih >= 0 && ih < s.H;
        for (int c = 0; c < Wp; c++)  /* vector stores: a memset of a few vectors costs more */
            if (!inside || c < lo || c >= hi) nn_store(row + (size_t)c * NN_VW, nn_splat(0));
        if (!inside) continue;
        if (xs) {
            const float *in = x + ((size_t)ih * s.W - s.pl) * xs;
            for (int c = lo; c < hi; c++)
                nn_store(row + (size_t)c * NN_VW, n == NN_VW ? nn_load(in + (size_t)c * xs) : nn_load_n(in + (size_t)c * xs, n));
            continue;
        }
        for (int c = lo; c < hi; c += NN_VW) {
            const int m = hi - c < NN_VW ? hi - c : NN_VW;
            const float *in = x + (size_t)ih * s.W + c - s.pl;
            _Pragma("GCC unroll 16") for (int l = 0; l < NN_VW; l++) v[l] = l < n ? nn_load_n(in + (size_t)l * HW, m) : nn_splat(0);
            nn_vtranspose(v);
            _Pragma("GCC unroll 16") for (int k = 0; k < m; k++) nn_store(row + (size_t)(c + k) * NN_VW, v[k]);
        }
    }
    nn_vf wv[NN_DW_MAX_TAPS];
    float lanes[NN_VW] = {0};
    _Pragma("GCC unroll 25") for (int t = 0; t < T; t++) {
        for (int l = 0; l < n; l++) lanes[l] = w[l * T + t];
        wv[t] = nn_load(lanes);
    }
    for (int l = 0; l < n; l++) lanes[l] = bias[l];
    const nn_vf b = nn_load(lanes);
    if (ys) {  /* by output rows, each pixel's vector stored as it is */
        for (int oh = 0; oh < s.OH; oh++)
            for (int ow = 0; ow < s.OW; ow++) {
                const float *at = P + ((size_t)oh * s.sh * Wp + (size_t)ow * s.sw) * NN_VW;
                nn_vf acc = b;
                _Pragma("GCC unroll 25") for (int t = 0; t < T; t++)
                    acc += wv[t] * nn_load(at + ((size_t)(t / s.kw * s.dh) * Wp + t % s.kw * s.dw) * NN_VW);
                float *out = y + ((size_t)oh * s.OW + ow) * ys;
                if (n == NN_VW) nn_store(out, nn_vact(act, alpha, beta, acc));
                else nn_store_n(out, nn_vact(act, alpha, beta, acc), n);
            }
        return;
    }
    for (int p0 = 0; p0 < N; p0 += NN_VW) {
        const int m = N - p0 < NN_VW ? N - p0 : NN_VW;
        int oh = p0 / s.OW, ow = p0 % s.OW;  /* one division a block: the width may be an argument */
        _Pragma("GCC unroll 16") for (int k = 0; k < NN_VW; k++) {
            if (k >= m) { v[k] = b; continue; }
            const float *at = P + ((size_t)oh * s.sh * Wp + (size_t)ow * s.sw) * NN_VW;
            nn_vf acc = b;
            _Pragma("GCC unroll 25") for (int t = 0; t < T; t++)
                acc += wv[t] * nn_load(at + ((size_t)(t / s.kw * s.dh) * Wp + t % s.kw * s.dw) * NN_VW);
            v[k] = nn_vact(act, alpha, beta, acc);
            if (++ow == s.OW) { ow = 0; oh++; }
        }
        nn_vtranspose(v);
        _Pragma("GCC unroll 16") for (int l = 0; l < n; l++) {
            if (m == NN_VW) nn_store(y + (size_t)l * N + p0, v[l]);
            else nn_store_n(y + (size_t)l * N + p0, v[l], m);
        }
    }
}

/* Backward of one channel of one image: dW[t] += Σ dz·(input under tap t),
   db += Σ dz, and (dx non-NULL) dx += the adjoint. dz is spread onto the
   grid in dq (zeros between rows and around, `lead` zeros first); each
   phase plane of dP is then a gather, every tap of that phase one load of
   dq at a constant offset, and nn_dw_unpad_add adds it into dx. Scratch:
   P and dP of sh·sw planes each, dq of lead + Hq·Wq + 2·NN_VW floats. */
NN_UNUSED static inline __attribute__((always_inline)) void
nn_dw_backward_channel(const int T, nn_conv_shape s, int Hq, int Wq, const float *restrict x, const float *restrict w,
                       const float *restrict dz, float *restrict dx, float *restrict dW, float *restrict db,
                       float *restrict P, float *restrict dq, float *restrict dP) {
    const size_t lead = nn_dw_offset(s, Hq, Wq, T - 1) % nn_dw_plane(Hq, Wq);  /* the largest offset within a plane */
    const int n = (s.OH - 1) * Wq + s.OW;
    nn_dw_pad(x, s, Hq, Wq, P);
    memset(dq, 0, (lead + (size_t)Hq * Wq + 2 * NN_VW) * sizeof(float));
    float *g = dq + lead;
    for (int oh = 0; oh < s.OH; oh++) nn_copy_short(g + (size_t)oh * Wq, dz + (size_t)oh * s.OW, s.OW);
    nn_vf acc[NN_DW_MAX_TAPS], sum = nn_splat(0);
    _Pragma("GCC unroll 25") for (int t = 0; t < T; t++) acc[t] = nn_splat(0);
    for (int p = 0; p < n; p += NN_VW) {
        const nn_vf d = nn_load(g + p);
        sum += d;
        _Pragma("GCC unroll 25") for (int t = 0; t < T; t++) acc[t] += d * nn_load(P + p + nn_dw_offset(s, Hq, Wq, t));
    }
    /* Whole-vector stores, then the lanes: summing acc's lanes in place
       would make gcc keep acc in memory through the loop above. */
    float lanes[(NN_DW_MAX_TAPS + 1) * NN_VW];
    _Pragma("GCC unroll 25") for (int t = 0; t < T; t++) nn_store(lanes + t * NN_VW, acc[t]);
    nn_store(lanes + T * NN_VW, sum);
    for (int t = 0; t <= T; t++) {
        float total = 0;
        for (int l = 0; l < NN_VW; l++) total += lanes[t * NN_VW + l];
        if (t < T) dW[t] += total;
        else if (db) *db += total;
    }
    if (!dx) return;
    nn_vf wv[NN_DW_MAX_TAPS];
    _Pragma("GCC unroll 25") for (int t = 0; t < T; t++) wv[t] = nn_splat(w[t]);
    const size_t plane = nn_dw_plane(Hq, Wq);
    _Pragma("GCC unroll 16") for (int ph = 0; ph < s.sh * s.sw; ph++) {  /* unrolled: which taps a phase has is known */
        float *out = dP + (size_t)ph * plane;
        for (int u = 0; u < Hq * Wq; u += NN_VW) {
            nn_vf a = nn_splat(0);
            _Pragma("GCC unroll 25") for (int t = 0; t < T; t++) {
                const size_t off = nn_dw_offset(s, Hq, Wq, t);
                if (off / plane == (size_t)ph) a += wv[t] * nn_load(g + u - off % plane);
            }
            nn_store(out + u, a);
        }
    }
    nn_dw_unpad_add(dP, s, Hq, Wq, dx);
}
