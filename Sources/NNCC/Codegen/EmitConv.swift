/// conv2d: per image and group, im2col into packed panels (scratch), then
/// GEMM of the filters [F/g, C/g·kh·kw] with it, bias and activation fused.
enum ConvEmitter {
    struct Dims {
        var c: Int, h: Int, w: Int, f: Int, oh: Int, ow: Int, groups: Int, conv: Conv2D
        var cg: Int { c / groups }
        var fg: Int { f / groups }
        var k: Int { cg * conv.kernel.0 * conv.kernel.1 }
        var n: Int { oh * ow }
    }

    static func dims(_ g: Graph, _ i: Int) -> Dims {
        let node = g.nodes[i], x = g.nodes[node.inputs[0]].shape
        guard case let .conv2d(conv) = node.op else { preconditionFailure("not a conv2d") }
        return Dims(c: x[0], h: x[1], w: x[2], f: conv.filters, oh: node.shape[1], ow: node.shape[2],
                    groups: conv.groups, conv: conv)
    }

    /// Filters (folded when a batchnorm follows) then the bias; training
    /// builds add each group's Wᵀ [K][F/g], the A of ∂col = Wᵀ·∂z.
    static func packedFloats(_ ctx: EmitContext, _ i: Int) -> Int {
        let d = dims(ctx.graph, i)
        return d.f * d.k + d.f + (ctx.training ? d.f * d.k : 0)
    }

    static func transposed(_ ctx: EmitContext, _ i: Int) -> String {
        let d = dims(ctx.graph, i)
        return "\(ctx.packed(i)) + \(d.f * d.k + d.f)"
    }

    /// Direct convolution when there are few filters per group (the GEMM's
    /// 8-row tile would run mostly empty and im2col would outweigh the FMAs),
    /// stride 1 along the width and an output row of at most 4 vectors.
    static func isDirect(_ d: Dims, _ schedule: Schedule) -> Bool {
        !schedule.reference && d.fg <= 8 && d.conv.stride.1 == 1
            && (d.ow + schedule.vectorWidth - 1) / schedule.vectorWidth <= 4
    }

    /// The zero-padded input planes of the direct kernel.
    static func paddedSize(_ d: Dims, _ schedule: Schedule) -> (hp: Int, wp: Int) {
        let p = d.conv.pads, vw = schedule.vectorWidth
        let rowReach = (d.ow + vw - 1) / vw * vw + (d.conv.kernel.1 - 1) * d.conv.dilation.1
        return (d.h + p.top + p.bottom, max(rowReach, p.left + d.w))
    }

    /// Per thread: one im2col panel (K × panel width), or the padded input of the direct kernel.
    static func scratchFloats(_ g: Graph, _ i: Int, schedule: Schedule) -> Int {
        let d = dims(g, i)
        if isDirect(d, schedule) {
            let (hp, wp) = paddedSize(d, schedule)
            return d.cg * hp * wp * schedule.threads
        }
        return d.k * schedule.panelWidth * schedule.threads
    }

    static func emit(_ ctx: EmitContext, _ i: Int) -> KernelCode {
        let node = ctx.graph.nodes[i], d = dims(ctx.graph, i), c = d.conv, p = c.pads
        let act = node.epilogue ?? .identity
        let name = ctx.kernelName(i, "conv\(c.kernel.0)x\(c.kernel.1)")
        var what = "conv2d \(d.c)->\(d.f) kernel \(c.kernel.0)x\(c.kernel.1) stride \(c.stride.0),\(c.stride.1) "
            + "pad \(p.top),\(p.left),\(p.bottom),\(p.right) dilation \(c.dilation.0),\(c.dilation.1) groups \(d.groups)"
        if node.foldedBatchNorm != nil { what += ", batchnorm folded in" }
        if let a = node.epilogue { what += ", fused \(a.name)" }
        let shape = "{\(d.cg), \(d.h), \(d.w), \(c.kernel.0), \(c.kernel.1), \(c.stride.0), \(c.stride.1), "
            + "\(p.top), \(p.left), \(c.dilation.0), \(c.dilation.1), \(d.oh), \(d.ow)}"
        let nr = ctx.schedule.panelWidth, panels = (d.n + nr - 1) / nr
        let xg = "x + ((size_t)b * \(d.c) + (size_t)g * \(d.cg)) * \(d.h * d.w)"
        let yg = "y + ((size_t)b * \(d.f) + (size_t)g * \(d.fg)) * \(d.n)"
        let (hp, wp) = paddedSize(d, ctx.schedule)
        let loops = isDirect(d, ctx.schedule)
            ? """
                /* Direct: few filters per group. Every (image, group) pair is independent. */
                    NN_OMP(parallel for num_threads(NN_THREADS) schedule(static) if (NN_THREADS > 1))
                    for (int t = 0; t < nb * \(d.groups); t++) {
                        const int b = t / \(d.groups), g = t % \(d.groups);
                        float *xp = col + (size_t)NN_THREAD_ID() * \(d.cg * hp * wp);
                        nn_conv_direct(\(xg), s, \(d.fg), \(hp), \(wp), w + (size_t)g * \(d.fg * d.k), w + \(d.f * d.k) + g * \(d.fg), \(act.cCode), \(CSyntax.float(act.alpha)), \(yg), xp);
                    }
                """
            : ctx.schedule.reference
            ? """
                for (int b = 0; b < nb; b++)
                        for (int g = 0; g < \(d.groups); g++)
                            nn_conv_naive(\(xg), s, \(d.fg), w + (size_t)g * \(d.fg * d.k), w + \(d.f * d.k) + g * \(d.fg), \(act.cCode), \(CSyntax.float(act.alpha)), \(yg));
                """
            : """
                /* Every (image, pixel panel) pair is independent: threads share them out. */
                    NN_OMP(parallel for num_threads(NN_THREADS) schedule(static) if (NN_THREADS > 1))
                    for (int t = 0; t < nb * \(panels); t++) {
                        const int b = t / \(panels), p = t % \(panels);
                        float *panel = col + (size_t)NN_THREAD_ID() * \(d.k * nr);
                        for (int g = 0; g < \(d.groups); g++) {
                            nn_im2col_panel(\(xg), s, p, panel);
                            nn_epilogue e = {w + \(d.f * d.k) + g * \(d.fg), 2, 0, \(act.cCode), \(CSyntax.float(act.alpha))};
                            const int nc = \(d.n) - p * \(nr) < \(nr) ? \(d.n) - p * \(nr) : \(nr);
                            nn_gemm(\(d.fg), nc, \(d.k), w + (size_t)g * \(d.fg * d.k), \(d.k), panel, \(yg) + p * \(nr), \(d.n), e);
                        }
                    }
                """
        let definition = """
            \(ctx.banner(i, what))
            static void \(name)(int nb, const float *restrict x, const float *restrict w, float *restrict y, float *restrict col) {
                const nn_conv_shape s = \(shape);
                (void)col;
                \(loops)
            }
            """
        let call = "\(name)(nb, \(ctx.value(node.inputs[0])), \(ctx.packed(i)), \(ctx.value(i)), \(ctx.scratch(i)));"
        let bias = ctx.hasParam(node, "bias") ? ctx.param(node, "bias") : "NULL"
        var packing = """
                /* layer "\(CSyntax.comment(node.name))": conv2d weight [\(d.f), \(d.cg), \(c.kernel.0), \(c.kernel.1)] is the GEMM's A as is */
                memcpy(\(ctx.packed(i)), \(ctx.param(node, "weight")), \(d.f * d.k) * sizeof(float));
                nn_pack_bias(\(d.f), \(d.f), \(bias), \(ctx.packed(i)) + \(d.f * d.k));
            """
        if let bn = node.foldedBatchNorm {
            packing += "\n" + DenseEmitter.foldCall(ctx, bn: bn, channels: d.f, k: d.k, weights: ctx.packed(i),
                                                    packedColumns: false, bias: "\(ctx.packed(i)) + \(d.f * d.k)")
        }
        if ctx.training {
            packing += "\n    for (int g = 0; g < \(d.groups); g++)  /* Wᵀ per group, for ∂x */\n"
                + "        nn_transpose(\(d.fg), \(d.k), \(ctx.param(node, "weight")) + (size_t)g * \(d.fg * d.k), \(transposed(ctx, i)) + (size_t)g * \(d.fg * d.k));"
        }
        return KernelCode(definition: definition, call: call, packing: packing)
    }
}
