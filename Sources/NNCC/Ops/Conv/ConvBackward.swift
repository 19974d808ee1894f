/// conv2d's gradient, by the ∂x and ∂W strategies ConvPlan.swift chose:
/// im2col and the GEMM (∂W as dz·colᵀ or col·dzᵀ, ∂x as Wᵀ·∂z then col2im),
/// ∂W by rows without im2col, Winograd for both when the layer qualifies,
/// or the naive loops.
extension ConvOps {
    /// The training block's buffers of one conv; a strategy leaves the ones it does not use empty (NULL).
    struct Saved {
        /// im2col of one image and group, its transpose, ∂z transposed and padded to panels.
        var col, dzT, colT, dzp: Slot
        /// ∂Wᵀ of the transposed strategy; the padded inputs of ∂W by rows; ∂col of the naive loops.
        var dWt, xp, dcol: Slot
        /// Winograd: ∂x's scratch, ∂U, and ∂W's scratch.
        var wino, dU, wdw: Slot
        /// Depthwise: one channel's planes, ∂z on the grid and ∂P.
        var depthwise: Slot = .empty
    }

    static func reserve(_ g: Graph, _ i: Int, _ s: Schedule, _ layout: inout TrainLayout) {
        guard g.gradients!.needsGrad[i] else { return }
        guard case let .conv(dx, dW)? = g.nodes[i].plan.backward else { return reserveNaive(g, i, &layout) }
        let d = ConvDims(g, i), B = g.maxBatch
        if case let .conv(.depthwise(plan)) = g.nodes[i].plan.kernel {
            return layout.save(i, Saved(col: .empty, dzT: .empty, colT: .empty, dzp: .empty, dWt: .empty, xp: .empty, dcol: .empty,
                                        wino: .empty, dU: .empty, wdw: .empty, depthwise: layout.take(plan.backwardScratch(d, s))))
        }
        let winogradDx: (ConvDims, WinogradPlan)? = if case let .winograd(td, plan) = dx { (td, plan) } else { nil }
        let winogradDW: WinogradPlan? = if case let .winograd(plan) = dW { plan } else { nil }
        let filterRows = dW == .filterRows, transposed = dW == .transposed
        // im2col, or ∂col of ∂x; a plain 1×1 conv's image is its own
        let direct = d.isPlainPointwise && { if case .conv(.pointwise) = g.nodes[i].plan.kernel { true } else { false } }()
        let dxOnGEMM = dx == .gemm || dx == .pointwise, col = !direct && (dxOnGEMM || filterRows || transposed)
        let byRows = if case .rows = dW { true } else { false }
        let (hp, wp) = rowsPaddedSize(d, s)
        func take(_ n: Int) -> Slot { layout.take(n) }
        layout.save(i, Saved(col: take(col ? d.k * d.n : 0), dzT: take(transposed ? d.n * s.padded(d.fg) : 0),
                             colT: take(filterRows ? d.n * s.padded(d.k) : 0), dzp: take(dxOnGEMM ? d.fg * s.padded(d.n) : 0),
                             dWt: take(transposed ? d.f * d.k : 0), xp: take(byRows ? B * d.cg * hp * wp : 0),
                             dcol: .empty,
                             wino: take(winogradDx.map { $0.1.scratchFloats($0.0, s) } ?? 0),
                             dU: take(winogradDW != nil ? 16 * d.c * d.f : 0),
                             wdw: take(winogradDW?.weightGradientScratch(d, s) ?? 0)))
    }

    private static func reserveNaive(_ g: Graph, _ i: Int, _ layout: inout TrainLayout) {
        let d = ConvDims(g, i)
        layout.save(i, Saved(col: layout.take(d.k * d.n), dzT: .empty, colT: .empty, dzp: .empty, dWt: .empty, xp: .empty,
                             dcol: layout.take(d.k * d.n), wino: .empty, dU: .empty, wdw: .empty))
    }

    static func backward(_ ctx: EmitContext, _ t: TrainLayout, _ i: Int) -> BackwardCode {
        let g = ctx.graph, node = g.nodes[i], d = ConvDims(g, i), saved = t.saved(i, as: Saved.self)
        let x = ctx.value(node.inputs[0]), dy = t.gradPointer(g, i)!
        let dx = t.gradPointer(g, node.inputs[0]) ?? "NULL"
        let dxg = dx == "NULL" ? "NULL" : "\(dx) + ((size_t)b * \(d.c) + (size_t)gr * \(d.cg)) * \(d.h * d.w)"
        let db = ctx.hasParam(node, "bias") ? "\(ctx.grad(node, "bias")) + gr * \(d.fg)" : "NULL"
        let xg = "\(x) + ((size_t)b * \(d.c) + (size_t)gr * \(d.cg)) * \(d.h * d.w)"
        let dzg = "\(dy) + ((size_t)b * \(d.f) + (size_t)gr * \(d.fg)) * \(d.n)"
        let dWfull = ctx.grad(node, "weight"), dWg = "\(dWfull) + (size_t)gr * \(d.fg * d.k)"
        let head = ctx.ruleHead(i) + ctx.epilogueBackward(i, dy: dy)
        let shape = "const nn_conv_shape s = \(d.shapeLiteral);"
        guard case let .conv(dxWay, dWWay)? = node.plan.backward else {
            let call = "nn_conv_backward(\(xg), s, \(d.fg), \(ctx.param(node, "weight")) + (size_t)gr * \(d.fg * d.k), \(dzg), \(dxg), \(dWg), \(db), \(saved.col.pointer), \(saved.dcol.pointer));"
            return BackwardCode(statements: head + loops(shape: shape, groups: d.groups, call: call))
        }
        precondition((dx == "NULL") == (dxWay == .none), "conv \(i): the plan's ∂x disagrees with the gradient buffers")
        if case let .conv(.depthwise(plan)) = node.plan.kernel {
            let name = ctx.kernelName(i, "dw_backward")
            let call = "\(name)(\(xg), \(ctx.param(node, "weight")) + gr * \(plan.taps), \(dzg), \(dxg), \(dWg), \(db), \(saved.depthwise.pointer));"
            return BackwardCode(definitions: plan.backwardDefinition(name, CSyntax.comment(node.name), d, ctx.schedule),
                                statements: head + loops(shape: "/* per image and channel */", groups: d.groups, call: call))
        }
        let filters = dxFilters(ctx, i).map { "\($0) + (size_t)gr * \(d.fg * d.k)" } ?? "NULL"
        // ∂x by Winograd when it qualifies and is needed: the GEMM call then computes ∂W and ∂b only.
        let winogradDx: (ConvDims, WinogradPlan)? = if case let .winograd(td, plan) = dxWay, dx != "NULL" { (td, plan) } else { nil }
        let dW = dWWay == .filterRows ? "\(dWg), NULL"
            : dWWay == .transposed ? "NULL, \(saved.dWt.pointer) + (size_t)gr * \(d.fg * d.k)" : "NULL, NULL"
        let buffers = [saved.col, saved.colT, saved.dzT, saved.dzp].map(\.pointer).joined(separator: ", ")
        var call = "nn_conv_backward_gemm(\(xg), s, \(d.fg), \(filters), \(dzg), \(winogradDx == nil ? dxg : "NULL"), \(dW), \(db), \(buffers));"
        if d.isPlainPointwise, case .conv(.pointwise) = node.plan.kernel {  // the image is its own im2col
            call = "nn_conv1x1_backward(\(xg), s, \(d.fg), \(filters), \(dzg), \(dxg), \(dW), \(db), "
                + [saved.colT, saved.dzT, saved.dzp].map(\.pointer).joined(separator: ", ") + ");"
        }
        if let (td, plan) = winogradDx {
            call = "{\n                static const nn_conv_shape ts = \(td.shapeLiteral);\n"
                + "                static const nn_wino_shape ws = \(plan.shapeLiteral(td));\n"
                + "                \(call)\n"
                + "                nn_wino_image(\(plan.tv), 1, ws, ts, \(dzg), \(dxFilters(ctx, i)!), NN_ACT_NONE, 0.0f, 0.0f, \(dxg), \(saved.wino.pointer));\n"
                + "            }"
        }
        var before = "", after = "", definitions = ""
        switch dWWay {
        case .transposed:
            before = "        memset(\(saved.dWt.pointer), 0, \(d.f * d.k) * sizeof(float));\n"
            after = "        for (int gr = 0; gr < \(d.groups); gr++)\n"
                + "            nn_add_transposed(\(d.fg), \(d.k), \(saved.dWt.pointer) + (size_t)gr * \(d.fg * d.k), \(dWg));\n"
        case let .rows(fb, tb):  // ∂W over the whole batch, a group at a time, from padded copies of the input
            let (hp, wp) = rowsPaddedSize(d, ctx.schedule), xp = saved.xp.pointer
            definitions = dwRowsTiles(ctx, i, d, fb: fb, tb: tb)
            before = """
                    for (int gr = 0; gr < \(d.groups); gr++) {
                        for (int b = 0; b < nb; b++) nn_conv_pad(\(xg), s, \(hp), \(wp), \(xp) + (size_t)b * \(d.cg * hp * wp));
                        nn_conv_dw_rows(s, \(d.fg), nb, \(hp), \(wp), \(xp), \(dy) + (size_t)gr * \(d.fg * d.n), \(d.f * d.n), \(dWg), &\(dwPlanName(ctx, i)));
                    }

            """
        case let .winograd(plan):  // ∂U summed over the batch, then ∂W = Gᵀ ∂U G
            let dU = saved.dU.pointer
            before = """
                    memset(\(dU), 0, \(16 * d.c * d.f) * sizeof(float));
                    {
                        static const nn_wino_shape ws = \(plan.shapeLiteral(d));
                        for (int b = 0; b < nb; b++)
                            nn_wino_dw_image(\(plan.tv), ws, s, \(x) + (size_t)b * \(d.c * d.h * d.w), \(dy) + (size_t)b * \(d.f * d.n), \(dU), \(saved.wdw.pointer));
                    }
                    nn_wino_dw_finish(\(d.f), \(d.c), \(dU), \(dWfull));

            """
        case .filterRows, .naive, .depthwise:  // depthwise returned above
            break
        }
        return BackwardCode(definitions: definitions,
                            statements: head + loops(shape: shape, groups: d.groups, call: call, before: before, after: after))
    }

    /// The rule's block: the shape, then `call` for each image and group.
    private static func loops(shape: String, groups: Int, call: String, before: String = "", after: String = "") -> String {
        """
            {
                \(shape)
        \(before)        for (int b = 0; b < nb; b++)
                    for (int gr = 0; gr < \(groups); gr++)
                        \(call)
        \(after)    }

        """
    }

    static func dwPlanName(_ ctx: EmitContext, _ i: Int) -> String { ctx.kernelName(i, "dw_plan") }

    /// The ∂W-by-rows tiles, with the layer's shape and padding as constants, and their plan.
    static func dwRowsTiles(_ ctx: EmitContext, _ i: Int, _ d: ConvDims, fb: Int, tb: Int) -> String {
        let (hp, wp) = rowsPaddedSize(d, ctx.schedule)
        func tile(_ taps: Int) -> String {
            let name = ctx.kernelName(i, "dw\(fb)x\(taps)")
            return """
                static void \(name)(int nb, int t0, const float *restrict xp, const float *restrict dz, float *restrict dW) {
                    nn_conv_dw_rows_tile(\(fb), \(taps), (nn_conv_shape)\(d.shapeLiteral), \(hp), \(wp), nb, t0, xp, dz, \(d.f * d.n), dW);
                }

                """
        }
        let last = d.k % tb
        return "/* ∂W of layer \"\(CSyntax.comment(ctx.graph.nodes[i].name))\" by rows: tiles of \(fb) filters x \(tb) taps */\n"
            + tile(tb) + (last > 0 ? tile(last) : "")
            + "static const nn_conv_dw_plan \(dwPlanName(ctx, i)) = {.fb = \(fb), .tb = \(tb), .full = \(ctx.kernelName(i, "dw\(fb)x\(tb)")), "
            + ".last_taps = " + (last > 0 ? ctx.kernelName(i, "dw\(fb)x\(last)") : "NULL") + "};\n\n"
    }
}
