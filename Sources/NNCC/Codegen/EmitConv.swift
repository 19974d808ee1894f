/// conv2d, per image and group, by one of three kernels:
/// - implicit GEMM (the default): output pixels × filters tiles, filters
///   packed once as panels, the input read in place from a zero-padded copy;
/// - direct, for few filters per group, where a filter panel would be mostly
///   empty: each output row held in vector registers over all taps;
/// - the naive loops, in reference builds.
/// Bias and activation are fused in every one.
enum ConvEmitter {
    struct Dims {
        var c: Int, h: Int, w: Int, f: Int, oh: Int, ow: Int, groups: Int, conv: Conv2D
        var cg: Int { c / groups }
        var fg: Int { f / groups }
        var k: Int { cg * conv.kernel.0 * conv.kernel.1 }
        var n: Int { oh * ow }
    }

    enum Path { case implicit, direct, reference }

    static func dims(_ g: Graph, _ i: Int) -> Dims {
        let node = g.nodes[i], x = g.nodes[node.inputs[0]].shape
        guard case let .conv2d(conv) = node.op else { preconditionFailure("not a conv2d") }
        return Dims(c: x[0], h: x[1], w: x[2], f: conv.filters, oh: node.shape[1], ow: node.shape[2],
                    groups: conv.groups, conv: conv)
    }

    /// Direct when a group has at most 8 filters, stride 1 along the width and
    /// an output row fits in 4 vectors.
    static func path(_ d: Dims, _ schedule: Schedule) -> Path {
        if schedule.reference { return .reference }
        let direct = d.fg <= 8 && d.conv.stride.1 == 1 && (d.ow + schedule.vectorWidth - 1) / schedule.vectorWidth <= 4
        return direct ? .direct : .implicit
    }

    /// The zero-padded input planes: the direct kernel reads whole vectors past the row's end.
    static func paddedSize(_ d: Dims, _ schedule: Schedule) -> (hp: Int, wp: Int) {
        let p = d.conv.pads, vw = schedule.vectorWidth
        var wp = d.w + p.left + p.right
        if path(d, schedule) == .direct {
            wp = max(wp, (d.ow + vw - 1) / vw * vw + (d.conv.kernel.1 - 1) * d.conv.dilation.1)
        }
        return (d.h + p.top + p.bottom, wp)
    }

    /// Forward weights: implicit packs each group's filters as panels [K][NR]
    /// then the padded biases; the others keep [F][K] then the bias.
    static func forwardFloats(_ d: Dims, _ schedule: Schedule) -> Int {
        path(d, schedule) == .implicit
            ? d.groups * (d.k + 1) * schedule.padded(d.fg)
            : d.f * d.k + d.f
    }

    /// Training builds add each group's Wᵀ [K][F/g], the A of ∂col = Wᵀ·∂z.
    static func packedFloats(_ ctx: EmitContext, _ i: Int) -> Int {
        let d = dims(ctx.graph, i)
        return forwardFloats(d, ctx.schedule) + (ctx.training ? d.f * d.k : 0)
    }

    static func transposed(_ ctx: EmitContext, _ i: Int) -> String {
        "\(ctx.packed(i)) + \(forwardFloats(dims(ctx.graph, i), ctx.schedule))"
    }

    /// Per thread, the padded input of one image and group.
    static func scratchFloats(_ g: Graph, _ i: Int, schedule: Schedule) -> Int {
        let d = dims(g, i)
        if path(d, schedule) == .reference { return 0 }
        let (hp, wp) = paddedSize(d, schedule)
        return d.cg * hp * wp * schedule.threads
    }

    static func emit(_ ctx: EmitContext, _ i: Int) -> KernelCode {
        let node = ctx.graph.nodes[i], d = dims(ctx.graph, i), c = d.conv, p = c.pads
        let kind = path(d, ctx.schedule)
        let act = node.epilogue ?? .identity
        let name = ctx.kernelName(i, "conv\(c.kernel.0)x\(c.kernel.1)")
        var what = "conv2d \(d.c)->\(d.f) kernel \(c.kernel.0)x\(c.kernel.1) stride \(c.stride.0),\(c.stride.1) "
            + "pad \(p.top),\(p.left),\(p.bottom),\(p.right) dilation \(c.dilation.0),\(c.dilation.1) groups \(d.groups), "
            + (kind == .implicit ? "implicit GEMM" : kind == .direct ? "direct" : "naive reference")
        if node.foldedBatchNorm != nil { what += ", batchnorm folded in" }
        if let a = node.epilogue { what += ", fused \(a.name)" }
        let shape = "{\(d.cg), \(d.h), \(d.w), \(c.kernel.0), \(c.kernel.1), \(c.stride.0), \(c.stride.1), "
            + "\(p.top), \(p.left), \(c.dilation.0), \(c.dilation.1), \(d.oh), \(d.ow)}"
        let xg = "x + ((size_t)b * \(d.c) + (size_t)g * \(d.cg)) * \(d.h * d.w)"
        let yg = "y + ((size_t)b * \(d.f) + (size_t)g * \(d.fg)) * \(d.n)"
        let (hp, wp) = paddedSize(d, ctx.schedule), pfg = ctx.schedule.padded(d.fg)
        let actArgs = "\(act.cCode), \(CSyntax.float(act.alpha))"
        let body: String
        switch kind {
        case .implicit:
            body = """
                nn_conv_pad(\(xg), s, \(hp), \(wp), xp);
                        nn_conv_implicit(s, \(d.fg), \(hp), \(wp), xp, w + (size_t)g * \(d.k * pfg), w + \(d.groups * d.k * pfg) + g * \(pfg), \(actArgs), \(yg));
                """
        case .direct:
            body = """
                nn_conv_pad(\(xg), s, \(hp), \(wp), xp);
                        nn_conv_direct(s, \(d.fg), \(hp), \(wp), xp, w + (size_t)g * \(d.fg * d.k), w + \(d.f * d.k) + g * \(d.fg), \(actArgs), \(yg));
                """
        case .reference:
            body = "nn_conv_naive(\(xg), s, \(d.fg), w + (size_t)g * \(d.fg * d.k), w + \(d.f * d.k) + g * \(d.fg), \(actArgs), \(yg));"
        }
        let definition = """
            \(ctx.banner(i, what))
            static void \(name)(int nb, const float *restrict x, const float *restrict w, float *restrict y, float *restrict scratch) {
                const nn_conv_shape s = \(shape);
                (void)scratch;
                /* Every (image, group) pair is independent: with threads, each takes a share. */
                NN_OMP(parallel for num_threads(NN_THREADS) schedule(static) if (NN_THREADS > 1))
                for (int t = 0; t < nb * \(d.groups); t++) {
                    const int b = t / \(d.groups), g = t % \(d.groups);
                    float *xp = \(kind == .reference ? "NULL" : "scratch + (size_t)NN_THREAD_ID() * \(d.cg * hp * wp)");
                    (void)xp;
                    \(body)
                }
            }
            """
        let call = "\(name)(nb, \(ctx.value(node.inputs[0])), \(ctx.packed(i)), \(ctx.value(i)), \(ctx.scratch(i)));"
        return KernelCode(definition: definition, call: call, packing: packing(ctx, i, d, kind))
    }

    static func packing(_ ctx: EmitContext, _ i: Int, _ d: Dims, _ kind: Path) -> String {
        let node = ctx.graph.nodes[i], c = d.conv, w = ctx.param(node, "weight"), packed = ctx.packed(i)
        let bias = ctx.hasParam(node, "bias") ? ctx.param(node, "bias") : "NULL"
        let pfg = ctx.schedule.padded(d.fg)
        var s: String
        if kind == .implicit {
            let biasAt = "\(packed) + \(d.groups * d.k * pfg) + g * \(pfg)"
            s = """
                    /* layer "\(CSyntax.comment(node.name))": conv2d weight [\(d.f), \(d.cg), \(c.kernel.0), \(c.kernel.1)] -> per group, filter panels [K][\(ctx.schedule.panelWidth)] */
                    for (int g = 0; g < \(d.groups); g++) {
                        nn_pack_transposed(\(d.fg), \(d.k), \(w) + (size_t)g * \(d.fg * d.k), \(packed) + (size_t)g * \(d.k * pfg));
                        nn_pack_bias(\(d.fg), \(pfg), \(bias == "NULL" ? "NULL" : "\(bias) + g * \(d.fg)"), \(biasAt));
                """
            if let bn = node.foldedBatchNorm {
                func p(_ x: String) -> String { "\(ctx.param(named: "\(bn.name).\(x)")) + g * \(d.fg)" }
                s += """

                            /* batchnorm "\(CSyntax.comment(bn.name))" folded: scale = weight / sqrt(running_var + eps) */
                            nn_fold_bn(\(d.fg), \(d.k), \(packed) + (size_t)g * \(d.k * pfg), 1, \(biasAt), \(p("weight")), \(p("bias")), \(p("running_mean")), \(p("running_var")), \(CSyntax.float(bn.eps)));
                    """
            }
            s += "\n    }"
        } else {
            s = """
                    /* layer "\(CSyntax.comment(node.name))": conv2d weight [\(d.f), \(d.cg), \(c.kernel.0), \(c.kernel.1)] is used as it is */
                    memcpy(\(packed), \(w), \(d.f * d.k) * sizeof(float));
                    nn_pack_bias(\(d.f), \(d.f), \(bias), \(packed) + \(d.f * d.k));
                """
            if let bn = node.foldedBatchNorm {
                s += "\n" + DenseEmitter.foldCall(ctx, bn: bn, channels: d.f, k: d.k, weights: packed, packedColumns: false,
                                                  bias: "\(packed) + \(d.f * d.k)")
            }
        }
        if ctx.training {
            s += "\n    for (int g = 0; g < \(d.groups); g++)  /* Wᵀ per group, for ∂x */\n"
                + "        nn_transpose(\(d.fg), \(d.k), \(w) + (size_t)g * \(d.fg * d.k), \(transposed(ctx, i)) + (size_t)g * \(d.fg * d.k));"
        }
        return s
    }
}
