/// dense: y[r, n] = act(Σk x[r, k]·W[n, k] + b[n]) over every row r of the
/// batch (and of the time axis for [T, F] inputs), through the packed GEMM;
/// backward: ∂x = ∂z·W and ∂W = ∂zᵀ·x on the GEMM too.
enum DenseOps: OpFamily {
    struct Dims { var rows: Int, k: Int, n: Int }

    static func dims(_ g: Graph, _ i: Int) -> Dims {
        let n = g.nodes[i], x = g.nodes[n.inputs[0]].shape
        return Dims(rows: x.dropLast().reduce(1, *), k: x.last!, n: n.shape.last!)
    }

    /// The node's block of packed weights: Wᵀ as panels, the bias padded to
    /// whole panels; when backward computes ∂x, W's rows as panels, the B of ∂x = ∂z·W.
    struct Packed { var panels, bias: Region, rows: Region? }

    static func packed(_ d: Dims, _ s: Schedule, dx: Bool) -> Packed {
        var b = RegionBuilder()
        return Packed(panels: b.take(d.k * s.padded(d.n)), bias: b.take(s.padded(d.n)),
                      rows: dx ? b.take(d.n * s.padded(d.k)) : nil)
    }

    /// Whether backward computes ∂x: training, and the input takes a gradient (not a first layer's).
    /// Otherwise the step would repack W's rows for nothing: mlp's 784×512, every step.
    static func needsDx(_ g: Graph, _ i: Int, training: Bool) -> Bool {
        training && g.gradients!.needsGrad[g.nodes[i].inputs[0]]
    }

    static func plan(_ g: Graph, _ i: Int, _ s: Schedule, training: Bool) -> KernelPlan {
        let p = packed(dims(g, i), s, dx: needsDx(g, i, training: training))
        // Backward's GEMMs have the layer's widths as rows.
        let rows = training ? s.rowsPerTile : g.maxBatch * dims(g, i).rows
        return KernelPlan(kernel: s.reference ? .naive : .gemm, packedFloats: (p.rows ?? p.bias).end, gemmRows: rows,
                          backward: training ? (s.reference ? .naive : .gemm) : nil)
    }

    static func templates(_ node: Node) -> [Template] { node.plan.backward == nil ? [.gemm] : [.gemm, .denseTrain] }

    static func forward(_ ctx: EmitContext, _ i: Int) -> KernelCode? {
        let node = ctx.graph.nodes[i], d = dims(ctx.graph, i), s = ctx.schedule
        let p = packed(d, s, dx: needsDx(ctx.graph, i, training: ctx.training)), w = ctx.packed(i)
        let act = node.epilogue ?? .identity
        let name = ctx.kernelName(i, "dense")
        let gemm = node.plan.kernel == .naive ? "nn_gemm_naive" : "nn_gemm"
        var what = "dense \(d.k) -> \(d.n)"
        if node.foldedBatchNorm != nil { what += ", batchnorm folded in" }
        if let a = node.epilogue { what += ", fused \(a.name)" }
        let custom = CustomOps.fusedEpilogue(ctx, i)
        let definition = """
            \(ctx.banner(i, what))
            \(custom.prototypes)static void \(name)(int nb, const float *restrict x, const float *restrict w, float *restrict y) {
                nn_epilogue e = {.bias = w + \(p.bias.offset), .bias_mode = 1, \(act.cEpilogue)};
                \(gemm)(nb * \(d.rows), \(d.n), \(d.k), x, \(d.k), w, y, \(d.n), e);\(custom.statement)
            }
            """
        let call = "\(name)(nb, \(ctx.value(node.inputs[0])), \(w), \(ctx.value(i)));"
        let bias = ctx.hasParam(node, "bias") ? ctx.param(node, "bias") : "NULL"
        var packing = """
                /* layer "\(CSyntax.comment(node.name))": dense weight [\(d.n), \(d.k)] -> transposed panels of \(s.panelWidth) */
                nn_pack_transposed(\(d.n), \(d.k), \(ctx.param(node, "weight")), \(w));
                nn_pack_bias(\(d.n), \(s.padded(d.n)), \(bias), \(p.bias.at(w)));
            """
        if let bn = node.foldedBatchNorm {
            packing += "\n" + foldCall(ctx, bn: bn, channels: d.n, k: d.k, weights: w, panel: s.panelWidth, bias: p.bias.at(w))
        }
        var separate = ""
        if let rows = p.rows {
            separate = "    nn_pack_rows(\(d.n), \(d.k), \(ctx.param(node, "weight")), \(d.k), \(rows.at(w)));  /* for ∂x */"
        }
        return KernelCode(definition: definition, call: call, packing: packing, separatePacking: separate)
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

    // MARK: training

    /// ∂z transposed and x padded to panels: the GEMM operands of ∂W.
    struct Saved { var dzT, xp: Slot }

    static func reserve(_ g: Graph, _ i: Int, _ s: Schedule, _ layout: inout TrainLayout) {
        guard g.gradients!.needsGrad[i] else { return }
        let d = dims(g, i), B = g.maxBatch
        layout.save(i, Saved(dzT: layout.take(B * d.rows * d.n), xp: layout.take(B * d.rows * s.padded(d.k))))
    }

    /// `weightGradient` false: a share of a split train step, whose ∂W and ∂b the team computes after
    /// (nn_dense_dw_team, `teamWeightGradients`) from the ∂zᵀ and packed x this leaves in the share's block.
    static func backward(_ ctx: EmitContext, _ t: TrainLayout, _ i: Int) -> BackwardCode {
        backward(ctx, t, i, weightGradient: true)
    }

    static func backward(_ ctx: EmitContext, _ t: TrainLayout, _ i: Int, weightGradient: Bool) -> BackwardCode {
        let g = ctx.graph, node = g.nodes[i], d = dims(g, i), x = ctx.value(node.inputs[0])
        let dy = t.gradPointer(g, i)!, dx = t.gradPointer(g, node.inputs[0]) ?? "NULL"
        let db = ctx.hasParam(node, "bias") && weightGradient ? ctx.grad(node, "bias") : "NULL"
        let head = ctx.ruleHead(i) + ctx.epilogueBackward(i, dy: dy)
        if node.plan.backward == .naive {
            return BackwardCode(statements: head + "    nn_dense_backward(nb * \(d.rows), \(d.k), \(d.n), \(x), \(ctx.param(node, "weight")), \(dy), \(dx), \(ctx.grad(node, "weight")), \(db));\n")
        }
        let s = t.saved(i, as: Saved.self)
        // W's rows are packed exactly when ∂x is computed.
        let rows = packed(d, ctx.schedule, dx: needsDx(g, i, training: true)).rows?.at(ctx.packed(i))
        let dW = weightGradient ? ctx.grad(node, "weight") : "NULL"
        return BackwardCode(statements: head + "    nn_dense_backward_gemm(nb * \(d.rows), \(d.k), \(d.n), \(x), \(rows ?? "NULL"), \(dy), \(rows == nil ? "NULL" : dx), \(dW), \(db), \(s.dzT.pointer), \(s.xp.pointer));\n")
    }

    /// The dense layers whose ∂W and ∂b a train step split across threads computes after the shares,
    /// over the whole batch (nn_dense_dw_team), instead of summing per-share copies: those on the GEMM
    /// whose parameters are their own (no other node's gradient adds to them).
    static func teamWeightGradients(_ g: Graph) -> [Int] {
        let tied = Set(g.nodes.flatMap { $0.paramNames.values })
        return g.gradients!.order.filter { i in
            let n = g.nodes[i]
            guard case .dense = n.op, n.plan.backward == .gemm, n.paramNames.isEmpty else { return false }
            return !tied.contains(n.paramName("weight")) && !tied.contains(n.paramName("bias"))
        }
    }

    /// The team's statement for layer i in NAME_train_split (TrainThreads): `share` is a share's training
    /// layout, the first share's at `shareAt` floats into the step's training block, each next one
    /// NAME_TRAIN_BLOCK floats further.
    static func teamWeightGradient(_ ctx: EmitContext, share: TrainLayout, _ i: Int, shareAt: Int, prefix p: String) -> String {
        let node = ctx.graph.nodes[i], d = dims(ctx.graph, i), s = share.saved(i, as: Saved.self)
        let db = ctx.hasParam(node, "bias") ? ctx.grad(node, "bias") : "NULL"
        return "/* ∂W, ∂b of layer \"\(CSyntax.comment(node.name))\": dense \(d.k) -> \(d.n) */\n"
            + "nn_dense_dw_team(t, team, nb, \(d.rows), \(d.k), \(d.n), c->train + \(shareAt + s.dzT.offset), "
            + "c->train + \(shareAt + s.xp.offset), \(p)_TRAIN_BLOCK, \(ctx.grad(node, "weight")), \(db));"
    }
}
