/// dense: y[r, n] = act(Σk x[r, k]·W[n, k] + b[n]) over every row r of the
/// batch (and of the time axis for [T, F] inputs), through the packed GEMM.
enum DenseEmitter {
    static func dims(_ ctx: EmitContext, _ i: Int) -> (rows: Int, k: Int, n: Int) {
        let n = ctx.graph.nodes[i], x = ctx.graph.nodes[n.inputs[0]].shape
        return (x.dropLast().reduce(1, *), x.last!, n.shape.last!)
    }

    /// Weights packed as Wᵀ panels, then the bias padded to whole panels;
    /// training builds add W's rows as panels, the B of ∂x = ∂z·W.
    static func packedFloats(_ ctx: EmitContext, _ i: Int) -> Int {
        let d = dims(ctx, i)
        return d.k * ctx.schedule.padded(d.n) + ctx.schedule.padded(d.n) + (ctx.training ? rowPanelsFloats(ctx, i) : 0)
    }

    static func rowPanelsFloats(_ ctx: EmitContext, _ i: Int) -> Int {
        let d = dims(ctx, i)
        return d.n * ctx.schedule.padded(d.k)
    }

    /// Where the training build's row panels of W start in the node's packed block.
    static func rowPanels(_ ctx: EmitContext, _ i: Int) -> String {
        let d = dims(ctx, i)
        return "\(ctx.packed(i)) + \(d.k * ctx.schedule.padded(d.n) + ctx.schedule.padded(d.n))"
    }

    static func emit(_ ctx: EmitContext, _ i: Int) -> KernelCode {
        let node = ctx.graph.nodes[i], d = dims(ctx, i), np = ctx.schedule.padded(d.n)
        let act = node.epilogue ?? .identity
        let name = ctx.kernelName(i, "dense")
        let gemm = ctx.schedule.reference ? "nn_gemm_naive" : "nn_gemm"
        var what = "dense \(d.k) -> \(d.n)"
        if node.foldedBatchNorm != nil { what += ", batchnorm folded in" }
        if let a = node.epilogue { what += ", fused \(a.name)" }
        let definition = """
            \(ctx.banner(i, what))
            static void \(name)(int nb, const float *restrict x, const float *restrict w, float *restrict y) {
                nn_epilogue e = {w + \(d.k * np), 1, 0, \(act.cCode), \(CSyntax.float(act.alpha))};
                \(gemm)(nb * \(d.rows), \(d.n), \(d.k), x, \(d.k), w, y, \(d.n), e);
            }
            """
        let call = "\(name)(nb, \(ctx.value(node.inputs[0])), \(ctx.packed(i)), \(ctx.value(i)));"
        let bias = ctx.hasParam(node, "bias") ? ctx.param(node, "bias") : "NULL"
        var packing = """
                /* layer "\(CSyntax.comment(node.name))": dense weight [\(d.n), \(d.k)] -> transposed panels of \(ctx.schedule.panelWidth) */
                nn_pack_transposed(\(d.n), \(d.k), \(ctx.param(node, "weight")), \(ctx.packed(i)));
                nn_pack_bias(\(d.n), \(np), \(bias), \(ctx.packed(i)) + \(d.k * np));
            """
        if let bn = node.foldedBatchNorm {
            packing += "\n" + foldCall(ctx, bn: bn, channels: d.n, k: d.k, weights: ctx.packed(i), panel: ctx.schedule.panelWidth,
                                       bias: "\(ctx.packed(i)) + \(d.k * np)")
        }
        if ctx.training {
            packing += "\n    nn_pack_rows(\(d.n), \(d.k), \(ctx.param(node, "weight")), \(d.k), \(rowPanels(ctx, i)));  /* for ∂x */"
        }
        return KernelCode(definition: definition, call: call, packing: packing)
    }

    /// The call that folds a batchnorm's statistics into packed weights and bias.
    /// `panel` is the width of the weights' column panels, 0 for row-major [channels][k];
    /// `channelOffset` selects one group's statistics.
    static func foldCall(_ ctx: EmitContext, bn: FoldedBatchNorm, channels: Int, k: Int, weights: String,
                         panel: Int, bias: String, channelOffset: String = "") -> String {
        func p(_ s: String) -> String { ctx.param(named: "\(bn.name).\(s)") + channelOffset }
        return """
                /* batchnorm "\(CSyntax.comment(bn.name))" folded: scale = weight / sqrt(running_var + eps) */
                nn_fold_bn(\(channels), \(k), \(weights), \(panel), \(bias), \(p("weight")), \(p("bias")),
                           \(p("running_mean")), \(p("running_var")), \(CSyntax.float(bn.eps)));
            """
    }
}
