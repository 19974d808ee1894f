/* ---- convolution as GEMM: im2col straight into packed panels ----------
   One image, one group: B[k][n] with k = (c, i, j) over C×kh×kw and
   n = (oh, ow) over OH×OW is the input pixel under tap (i, j) of output n,
   zero outside the image. Writing it in the GEMM's panel layout means the
   micro-kernel never sees strides or padding. */
typedef struct {
    int C, H, W;        /* input channels (of this group) and size */
    int kh, kw, sh, sw; /* kernel and stride */
    int pt, pl, dh, dw; /* top/left padding and dilation */
    int OH, OW;         /* output size */
} nn_conv_shape;

NN_UNUSED static void nn_im2col_panels(const float *restrict x, nn_conv_shape s, float *restrict Bp) {
    const int N = s.OH * s.OW, K = s.C * s.kh * s.kw;
    for (int p = 0; p * NN_NR < N; p++) {
        int ih0[NN_NR], iw0[NN_NR], valid[NN_NR];
        for (int jj = 0; jj < NN_NR; jj++) {
            int n = p * NN_NR + jj;
            valid[jj] = n < N;
            ih0[jj] = valid[jj] ? (n / s.OW) * s.sh - s.pt : 0;
            iw0[jj] = valid[jj] ? (n % s.OW) * s.sw - s.pl : 0;
        }
        float *out = Bp + (size_t)p * K * NN_NR;
        for (int c = 0; c < s.C; c++)
            for (int i = 0; i < s.kh; i++)
                for (int j = 0; j < s.kw; j++, out += NN_NR) {
                    const float *xc = x + (size_t)c * s.H * s.W;
                    for (int jj = 0; jj < NN_NR; jj++) {
                        int ih = ih0[jj] + i * s.dh, iw = iw0[jj] + j * s.dw;
                        int inside = valid[jj] && ih >= 0 && ih < s.H && iw >= 0 && iw < s.W;
                        out[jj] = inside ? xc[(size_t)ih * s.W + iw] : 0.0f;
                    }
                }
    }
}

/* Reference: direct convolution of one image and group, y[f][oh][ow] for F
   filters with weights w[F][C][kh][kw], for tests against the tiled path. */
NN_UNUSED static void nn_conv_naive(const float *x, nn_conv_shape s, int F, const float *w, const float *bias,
                                    int act, float alpha, float *y) {
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
                y[((size_t)f * s.OH + oh) * s.OW + ow] = nn_act(act, alpha, acc);
            }
}
