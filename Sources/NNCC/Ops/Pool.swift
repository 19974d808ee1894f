/// maxpool2d, avgpool2d and global_avgpool2d (3-D: Pool3D.swift). Windows follow PyTorch's
/// MaxPool2d / AvgPool2d (and ONNX's MaxPool / AveragePool): padding on each
/// side, dilated max windows, `ceil_mode`'s partial last window, and average
/// divisors that count the padding or not. Each layer's loops are emitted
/// with its sizes as constants; the common 2×2 stride-2 max pool runs on
/// whole vectors (nn_maxpool2, templates/pool.c). A NaN wins its max-pool
/// window, as in PyTorch.
enum PoolOps: OpFamily {
    static func plan(_ g: Graph, _ i: Int, _ s: Schedule, training: Bool) -> KernelPlan {
        var kernel = KernelPlan.Kernel.loops
        if case let .maxPool(pool) = g.nodes[i].op, pool.isPlain2x2, !s.reference {
            kernel = .maxPool2x2
        }
        return KernelPlan(kernel: kernel, backward: training ? .loops : nil)
    }

    /// Only the vector 2×2 max pool calls templates; the rest is emitted loops.
    static func templates(_ node: Node) -> [Template] {
        guard node.plan.kernel == .maxPool2x2 else { return [] }
        return node.plan.backward == nil ? [.pool] : [.pool, .poolTrain]
    }

    static func forward(_ ctx: EmitContext, _ i: Int) -> KernelCode? {
        let node = ctx.graph.nodes[i], x = imageShape(ctx.graph.nodes[node.inputs[0]].shape)
        let planes = x.c, h = x.h, w = x.w
        let call = { (name: String) in "\(name)(nb, \(ctx.value(node.inputs[0])), \(ctx.value(i)));" }
        switch node.op {
        case .globalAvgPool:
            // Over every axis after the channels: [C, L], [C, H, W] or [C, D, H, W].
            let xs = ctx.graph.nodes[node.inputs[0]].shape, area = xs.dropFirst().reduce(1, *)
            let over = xs.count == 4 ? "\(xs[1])x\(h)x\(w)" : "\(h)x\(w)"
            let name = ctx.kernelName(i, "global_avgpool")
            if node.plan.inputChannelsLast {  // chooseLayouts: [area][C] per image, rows of channels summed
                return KernelCode(definition: """
                    \(ctx.banner(i, "global average pool over \(over), channels-last input"))
                    static void \(name)(int nb, const float *restrict x, float *restrict y) {
                        for (int b = 0; b < nb; b++) {
                            const float *xb = x + (size_t)b * \(area * planes);
                            float *yb = y + (size_t)b * \(planes);
                            for (int c = 0; c < \(planes); c++) yb[c] = 0;
                            for (int i = 0; i < \(area); i++)
                                for (int c = 0; c < \(planes); c++) yb[c] += xb[(size_t)i * \(planes) + c];
                            for (int c = 0; c < \(planes); c++) yb[c] *= 1.0f / \(area);
                        }
                    }
                    """, call: call(name))
            }
            // NN_VW partial sums per plane: one scalar chain waits on each add (dscnn: 121 us of 2.5 ms).
            let lanes = ctx.schedule.reference ? "" : [
                "nn_vf v = nn_splat(0);", "for (; i + NN_VW <= \(area); i += NN_VW) v += nn_load(xp + i);",
                "for (int l = 0; l < NN_VW; l++) s += v[l];",
            ].map { "        " + $0 + "\n" }.joined()
            return KernelCode(definition: """
                \(ctx.banner(i, "global average pool over \(over)"))
                static void \(name)(int nb, const float *restrict x, float *restrict y) {
                    for (size_t p = 0; p < (size_t)nb * \(planes); p++) {
                        const float *xp = x + p * \(area);
                        float s = 0;
                        int i = 0;
                \(lanes)        for (; i < \(area); i++) s += xp[i];
                        y[p] = s * (1.0f / \(area));
                    }
                }
                """, call: call(name))
        case let .maxPool(pool) where pool.depth != nil, let .avgPool(pool) where pool.depth != nil:
            let isMax = if case .maxPool = node.op { true } else { false }
            return forward3D(ctx, i, pool, isMax: isMax)
        case let .maxPool(pool), let .avgPool(pool):
            let isMax = if case .maxPool = node.op { true } else { false }
            let out = imageShape(node.shape), oh = out.h, ow = out.w
            let name = ctx.kernelName(i, "\(isMax ? "max" : "avg")pool\(pool.size.0)x\(pool.size.1)")
            let banner = ctx.banner(i, "\(isMax ? "max" : "average") pool " + describe(pool, isMax: isMax))
            if node.plan.kernel == .maxPool2x2 {
                return KernelCode(definition: """
                    \(banner)
                    static void \(name)(int nb, const float *restrict x, float *restrict y) {
                        for (size_t p = 0; p < (size_t)nb * \(planes); p++)
                            nn_maxpool2(x + p * \(h * w), \(w), \(oh), \(ow), y + p * \(oh * ow));
                    }
                    """, call: call(name))
            }
            let start = isMax ? "-INFINITY" : "0.0f"
            let combine = isMax ? "v = xv > v || xv != xv ? xv : v;" : "v += xv;"
            let finish = isMax ? "v" : "v \(divisor(pool, h: h, w: w))"
            return KernelCode(definition: """
                \(banner)
                static void \(name)(int nb, const float *restrict x, float *restrict y) {
                    for (size_t p = 0; p < (size_t)nb * \(planes); p++) {
                        const float *xp = x + p * \(h * w);
                        float *yp = y + p * \(oh * ow);
                        for (int oh = 0; oh < \(oh); oh++)
                            for (int ow = 0; ow < \(ow); ow++) {
                                const int h0 = oh * \(pool.stride.0) - \(pool.pads.top), w0 = ow * \(pool.stride.1) - \(pool.pads.left);
                                float v = \(start);
                                for (int i = 0; i < \(pool.size.0); i++) {
                                    int ih = h0 + i * \(pool.dilation.0);
                                    if (ih < 0 || ih >= \(h)) continue;
                                    for (int j = 0; j < \(pool.size.1); j++) {
                                        int iw = w0 + j * \(pool.dilation.1);
                                        if (iw < 0 || iw >= \(w)) continue;
                                        float xv = xp[ih * \(w) + iw];
                                        \(combine)
                                    }
                                }
                                yp[oh * \(ow) + ow] = \(finish);
                            }
                    }
                }
                """, call: call(name))
        default:
            preconditionFailure("not a pool")
        }
    }

    /// (channels, height, width) of a pooled tensor: [C, H, W], or [C, L] as one row ([C, D, H, W]: the last two).
    static func imageShape(_ s: [Int]) -> (c: Int, h: Int, w: Int) {
        s.count == 2 ? (s[0], 1, s[1]) : (s[0], s[s.count - 2], s[s.count - 1])
    }

    static func describe(_ p: Pool2D, isMax: Bool) -> String {
        var s = "\(p.size.0)x\(p.size.1) stride \(p.stride.0),\(p.stride.1) pad \(p.pads.top),\(p.pads.left),\(p.pads.bottom),\(p.pads.right)"
        if isMax && p.dilation != (1, 1) { s += " dilation \(p.dilation.0),\(p.dilation.1)" }
        if p.ceilMode { s += " ceil_mode" }
        if !isMax && !p.countIncludePad { s += " excluding padding" }
        return s
    }

    /// The average's division, in C, after the window's sum `v` (h0, w0: the
    /// window's top left, padding included). Every window holds size.0 × size.1
    /// counted elements unless ceil mode clips the last ones or padding is excluded.
    static func divisor(_ p: Pool2D, h: Int, w: Int) -> String {
        if p.countIncludePad && !p.ceilMode { return "* (1.0f / \(p.size.0 * p.size.1))" }
        let (kh, kw) = p.size
        if p.countIncludePad {
            // PyTorch: the window clipped to the padded input.
            return "/ (float)(((h0 + \(kh) < \(h + p.pads.bottom) ? h0 + \(kh) : \(h + p.pads.bottom)) - h0) * "
                + "((w0 + \(kw) < \(w + p.pads.right) ? w0 + \(kw) : \(w + p.pads.right)) - w0))"
        }
        return "/ (float)(((h0 + \(kh) < \(h) ? h0 + \(kh) : \(h)) - (h0 > 0 ? h0 : 0)) * "
            + "((w0 + \(kw) < \(w) ? w0 + \(kw) : \(w)) - (w0 > 0 ? w0 : 0)))"
    }

    static func backward(_ ctx: EmitContext, _ t: TrainLayout, _ i: Int) -> BackwardCode {
        let g = ctx.graph, node = g.nodes[i], x = ctx.value(node.inputs[0])
        guard let dy = t.gradPointer(g, i), let dx = t.gradPointer(g, node.inputs[0]) else { return BackwardCode() }
        let xs = imageShape(g.nodes[node.inputs[0]].shape), h = xs.h, w = xs.w
        switch node.op {
        case let .maxPool(p) where p.depth != nil, let .avgPool(p) where p.depth != nil:
            let isMax = if case .maxPool = node.op { true } else { false }
            return backward3D(ctx, i, p, isMax: isMax, x: x, dy: dy, dx: dx)
        case let .maxPool(p), let .avgPool(p):
            let isMax = if case .maxPool = node.op { true } else { false }
            let out = imageShape(node.shape), oh = out.h, ow = out.w
            if node.plan.kernel == .maxPool2x2 {
                return BackwardCode(statements: ctx.ruleHead(i) + """
                        for (size_t p = 0; p < (size_t)nb * \(xs.c); p++)
                            nn_maxpool2_backward(\(x) + p * \(h * w), \(h), \(w), \(oh), \(ow), \(dy) + p * \(oh * ow), \(dx) + p * \(h * w));

                    """)
            }
            // Max: the first maximum in scan order takes the gradient (a NaN
            // wins), as PyTorch routes it; average: spread over the window.
            let name = ctx.kernelName(i, "\(isMax ? "max" : "avg")pool_backward")
            let visit = isMax
                ? "float xv = xp[ih * \(w) + iw]; if (best < 0 || xv > v || xv != xv) { v = xv; best = ih * \(w) + iw; }"
                : "dxp[ih * \(w) + iw] += g;"
            let before = isMax ? "int best = -1; float v = -INFINITY;" : "g = g \(divisor(p, h: h, w: w));"
            let after = isMax ? "if (best >= 0) dxp[best] += g;" : ""
            let (xParam, xArg, xRow) = isMax
                ? ("const float *restrict x, ", "\(x), ", "const float *xp = x + p * \(h * w);\n            ")
                : ("", "", "")
            let definition = """
                \(ctx.banner(i, "\(isMax ? "max" : "average") pool backward " + describe(p, isMax: isMax)))
                static void \(name)(int nb, \(xParam)const float *restrict dy, float *restrict dx) {
                    for (size_t p = 0; p < (size_t)nb * \(xs.c); p++) {
                        \(xRow)const float *dyp = dy + p * \(oh * ow);
                        float *dxp = dx + p * \(h * w);
                        for (int oh = 0; oh < \(oh); oh++)
                            for (int ow = 0; ow < \(ow); ow++) {
                                const int h0 = oh * \(p.stride.0) - \(p.pads.top), w0 = ow * \(p.stride.1) - \(p.pads.left);
                                float g = dyp[oh * \(ow) + ow];
                                \(before)
                                for (int i = 0; i < \(p.size.0); i++) {
                                    int ih = h0 + i * \(p.dilation.0);
                                    if (ih < 0 || ih >= \(h)) continue;
                                    for (int j = 0; j < \(p.size.1); j++) {
                                        int iw = w0 + j * \(p.dilation.1);
                                        if (iw < 0 || iw >= \(w)) continue;
                                        \(visit)
                                    }
                                }
                                \(after)
                            }
                    }
                }
                """
            return BackwardCode(definitions: definition, statements: ctx.ruleHead(i) + "    \(name)(nb, \(xArg)\(dy), \(dx));\n")
        case .globalAvgPool:
            let hw = g.nodes[node.inputs[0]].size / node.size
            return BackwardCode(statements: ctx.ruleHead(i)
                + "    for (size_t p = 0; p < (size_t)nb * \(node.size); p++) for (int i = 0; i < \(hw); i++) (\(dx))[p * \(hw) + i] += (\(dy))[p] * (1.0f / \(hw));\n")
        default:
            preconditionFailure("not a pool")
        }
    }
}
