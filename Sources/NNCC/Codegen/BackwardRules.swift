/// One gradient rule per op: the C statements that, given ∂result in the
/// node's gradient buffer, add ∂operand into the operands' buffers (those
/// that need one) and ∂parameter into the parameter gradients.
enum BackwardRules {
    static func dwPlanName(_ ctx: EmitContext, _ i: Int) -> String { ctx.kernelName(i, "dw_plan") }

    /// File-scope code a rule needs: the ∂W tiles of a conv by rows, with the
    /// layer's shape and padding as constants, and their plan.
    static func definitions(_ ctx: EmitContext, _ i: Int) -> String {
        guard case .conv2d = ctx.graph.nodes[i].op, ctx.graph.gradients!.needsGrad[i] else { return "" }
        let d = ConvEmitter.dims(ctx.graph, i)
        guard case let .rows(fb, tb) = ConvEmitter.weightGradient(d, ctx.schedule) else { return "" }
        let (hp, wp) = ConvEmitter.rowsPaddedSize(d, ctx.schedule), shape = ConvEmitter.shapeLiteral(d)
        func tile(_ taps: Int) -> String {
            let name = ctx.kernelName(i, "dw\(fb)x\(taps)")
            return """
                static void \(name)(int nb, int t0, const float *restrict xp, const float *restrict dz, float *restrict dW) {
                    nn_conv_dw_rows_tile(\(fb), \(taps), (nn_conv_shape)\(shape), \(hp), \(wp), nb, t0, xp, dz, \(d.f * d.n), dW);
                }

                """
        }
        let last = d.k % tb
        return "/* ∂W of layer \"\(CSyntax.comment(ctx.graph.nodes[i].name))\" by rows: tiles of \(fb) filters x \(tb) taps */\n"
            + tile(tb) + (last > 0 ? tile(last) : "")
            + "static const nn_conv_dw_plan \(dwPlanName(ctx, i)) = {\(fb), \(tb), \(ctx.kernelName(i, "dw\(fb)x\(tb)")), "
            + (last > 0 ? ctx.kernelName(i, "dw\(fb)x\(last)") : "NULL") + "};\n\n"
    }

    static func emit(_ ctx: EmitContext, _ t: TrainLayout, _ i: Int) -> String {
        let g = ctx.graph, node = g.nodes[i]
        let x = node.inputs.first.map { ctx.value($0) } ?? "x", y = ctx.value(i)
        let dy = t.gradPointer(g, i)!
        let dx = node.inputs.first.flatMap { t.gradPointer(g, $0) } ?? "NULL"
        let n = "(size_t)nb * \(node.size)"
        func grad(_ suffix: String) -> String { ctx.grad(node, suffix) }
        func optionalGrad(_ suffix: String) -> String { ctx.hasParam(node, suffix) ? grad(suffix) : "NULL" }
        let head = "    /* ∂ layer \"\(CSyntax.comment(node.name))\" (\(CSyntax.comment(node.origin))): \(node.op.typeName) */\n"
        var epilogue = ""
        if let act = node.epilogue {
            epilogue = "    nn_epilogue_backward(\(n), \(act.cCode), \(CSyntax.float(act.alpha)), \(y), \(dy));\n"
        }
        switch node.op {
        case .dense:
            let d = DenseEmitter.dims(ctx, i)
            if ctx.schedule.reference {
                return head + epilogue + "    nn_dense_backward(nb * \(d.rows), \(d.k), \(d.n), \(x), \(ctx.param(node, "weight")), \(dy), \(dx), \(grad("weight")), \(optionalGrad("bias")));\n"
            }
            return head + epilogue + "    nn_dense_backward_gemm(nb * \(d.rows), \(d.k), \(d.n), \(x), \(DenseEmitter.rowPanels(ctx, i)), \(dy), \(dx), \(grad("weight")), \(optionalGrad("bias")), \(t.savedPointer(i, "dzT")), \(t.savedPointer(i, "xp")));\n"
        case .conv2d:
            let d = ConvEmitter.dims(g, i)
            let dxg = dx == "NULL" ? "NULL" : "\(dx) + ((size_t)b * \(d.c) + (size_t)gr * \(d.cg)) * \(d.h * d.w)"
            let db = ctx.hasParam(node, "bias") ? "\(grad("bias")) + gr * \(d.fg)" : "NULL"
            let xg = "\(x) + ((size_t)b * \(d.c) + (size_t)gr * \(d.cg)) * \(d.h * d.w)"
            let dzg = "\(dy) + ((size_t)b * \(d.f) + (size_t)gr * \(d.fg)) * \(d.n)"
            let dWg = "\(grad("weight")) + (size_t)gr * \(d.fg * d.k)"
            let way = ConvEmitter.weightGradient(d, ctx.schedule)
            let dWt = t.savedPointer(i, "dWt")
            // ∂x by Winograd when it qualifies: the GEMM call then computes ∂W and ∂b only.
            let winograd = dx == "NULL" ? nil : WinogradPlan.gradient(d, ctx.schedule)
            // Buffers a way does not use are zero-sized: NULL, not an alias of the next one.
            let needed: Set = way == .transposed ? ["col", "dzT", "dzp"] : way == .filterRows ? ["col", "colT", "dzp"]
                : ConvEmitter.allWinograd(d, ctx.schedule) ? [] : ["col", "dzp"]
            let saved = ["col", "colT", "dzT", "dzp"].map { needed.contains($0) ? t.savedPointer(i, $0) : "NULL" }
                .joined(separator: ", ")
            let dW = way == .filterRows ? "\(dWg), NULL" : way == .transposed ? "NULL, \(dWt) + (size_t)gr * \(d.fg * d.k)" : "NULL, NULL"
            var convCall = way == .reference
                ? "nn_conv_backward(\(xg), s, \(d.fg), \(ctx.param(node, "weight")) + (size_t)gr * \(d.fg * d.k), \(dzg), \(dxg), \(dWg), \(db), \(t.savedPointer(i, "col")), \(t.savedPointer(i, "dcol")));"
                : "nn_conv_backward_gemm(\(xg), s, \(d.fg), \(ConvEmitter.transposed(ctx, i)) + (size_t)gr * \(d.fg * d.k), \(dzg), \(winograd == nil ? dxg : "NULL"), \(dW), \(db), \(saved));"
            if let (td, plan) = winograd {
                convCall = "{\n                static const nn_conv_shape ts = \(ConvEmitter.shapeLiteral(td));\n"
                    + "                static const nn_wino_shape ws = \(plan.shapeLiteral(td));\n"
                    + "                \(convCall)\n"
                    + "                nn_wino_image(\(plan.tv), 1, ws, ts, \(dzg), \(ConvEmitter.transposed(ctx, i)), NN_ACT_NONE, 0.0f, \(dxg), \(t.savedPointer(i, "wino")));\n"
                    + "            }"
            }
            var before = "", after = ""
            switch way {
            case .transposed:
                before = "        memset(\(dWt), 0, \(d.f * d.k) * sizeof(float));\n"
                after = "        for (int gr = 0; gr < \(d.groups); gr++)\n"
                    + "            nn_add_transposed(\(d.fg), \(d.k), \(dWt) + (size_t)gr * \(d.fg * d.k), \(grad("weight")) + (size_t)gr * \(d.fg * d.k));\n"
            case .rows:  // ∂W over the whole batch, a group at a time, from padded copies of the input
                let (hp, wp) = ConvEmitter.rowsPaddedSize(d, ctx.schedule), xp = t.savedPointer(i, "xp")
                before = """
                        for (int gr = 0; gr < \(d.groups); gr++) {
                            for (int b = 0; b < nb; b++) nn_conv_pad(\(xg), s, \(hp), \(wp), \(xp) + (size_t)b * \(d.cg * hp * wp));
                            nn_conv_dw_rows(s, \(d.fg), nb, \(hp), \(wp), \(xp), \(dy) + (size_t)gr * \(d.fg * d.n), \(d.f * d.n), \(dWg), &\(dwPlanName(ctx, i)));
                        }

                """
            case let .winograd(plan):  // ∂U summed over the batch, then ∂W = Gᵀ ∂U G
                let dU = t.savedPointer(i, "dU")
                before = """
                        memset(\(dU), 0, \(16 * d.c * d.f) * sizeof(float));
                        {
                            static const nn_wino_shape ws = \(plan.shapeLiteral(d));
                            for (int b = 0; b < nb; b++)
                                nn_wino_dw_image(\(plan.tv), ws, s, \(x) + (size_t)b * \(d.c * d.h * d.w), \(dy) + (size_t)b * \(d.f * d.n), \(dU), \(t.savedPointer(i, "wdw")));
                        }
                        nn_wino_dw_finish(\(d.f), \(d.c), \(dU), \(grad("weight")));

                """
            case .filterRows, .reference:
                break
            }
            return head + epilogue + """
                    {
                        const nn_conv_shape s = \(ConvEmitter.shapeLiteral(d));
                \(before)        for (int b = 0; b < nb; b++)
                            for (int gr = 0; gr < \(d.groups); gr++)
                                \(convCall)
                \(after)    }

                """
        case let .maxPool(p), let .avgPool(p):
            let xs = g.nodes[node.inputs[0]].shape
            let isMax: Int
            if case .maxPool = node.op { isMax = 1 } else { isMax = 0 }
            return head + """
                    for (size_t p = 0; p < (size_t)nb * \(xs[0]); p++)
                        nn_pool_backward(\(isMax), \(x) + p * \(xs[1] * xs[2]), \(xs[1]), \(xs[2]), \(p.size.0), \(p.size.1), \(p.stride.0), \(p.stride.1), \(p.padding.0), \(p.padding.1), \(node.shape[1]), \(node.shape[2]), \(dy) + p * \(node.shape[1] * node.shape[2]), \(dx) + p * \(xs[1] * xs[2]));

                """
        case .globalAvgPool:
            let hw = g.nodes[node.inputs[0]].size / node.size
            return head + "    for (size_t p = 0; p < \(n); p++) for (int i = 0; i < \(hw); i++) (\(dx))[p * \(hw) + i] += (\(dy))[p] * (1.0f / \(hw));\n"
        case let .activation(act):
            return head + "    nn_act_backward(\(n), \(act.cCode), \(CSyntax.float(act.alpha)), \(x), \(y), \(dy), \(dx));\n"
        case .softmax, .logSoftmax:
            let last = node.shape.last!
            return head + "    nn_softmax_backward(\(node.op == .logSoftmax ? 1 : 0), (size_t)nb * \(node.size / last), \(last), \(y), \(dy), \(dx));\n"
        case .dropout:
            return head + "    for (size_t i = 0; i < \(n); i++) (\(dx))[i] += (\(dy))[i] * (\(t.savedPointer(i, "mask")))[i];\n"
        case .batchNorm:
            let ch = node.shape[0]
            return head + "    nn_bn_backward(nb, \(ch), \(node.size / ch), \(x), \(ctx.param(node, "weight")), \(t.savedPointer(i, "mean")), \(t.savedPointer(i, "invstd")), \(dy), \(dx), \(grad("weight")), \(grad("bias")));\n"
        case .reshape:
            return ""  // a view: its gradient buffer is its operand's
        case .add:
            return head + node.inputs.compactMap { t.gradPointer(g, $0) }.map {
                "    for (size_t i = 0; i < \(n); i++) (\($0))[i] += (\(dy))[i];\n"
            }.joined()
        case let .concat(axis):
            let a = axis < 0 ? axis + node.shape.count : axis
            let outer = node.shape[..<a].reduce(1, *), inner = node.shape[(a + 1)...].reduce(1, *)
            var s = head, at = 0
            for k in node.inputs {
                let chunk = g.nodes[k].shape[a] * inner, total = g.nodes[k].size
                if let dk = t.gradPointer(g, k) {
                    s += """
                            for (int b = 0; b < nb; b++)
                                for (int o = 0; o < \(outer); o++)
                                    nn_axpy(\(chunk), 1.0f, \(dy) + (size_t)b * \(node.size) + (size_t)o * \(node.size / outer) + \(at), \(dk) + (size_t)b * \(total) + (size_t)o * \(chunk));

                        """
                }
                at += chunk
            }
            return s
        case .recurrent where !ctx.schedule.reference:
            let r = RecurrentEmitter.rowPanels(ctx, i)
            return head + "    nn_rnn_backward_gemm(\(RecurrentTraining.shape(g, i)), nb, \(x), \(r.wih), \(r.whh), "
                + "\(t.savedPointer(i, "gates")), \(t.savedPointer(i, "hs")), \(t.savedPointer(i, "cs")), \(t.savedPointer(i, "hn")), \(dy), \(dx), "
                + "\(grad("weight_ih_l0")), \(grad("weight_hh_l0")), \(grad("bias_ih_l0")), \(grad("bias_hh_l0")), "
                + "\(t.savedPointer(i, "dP")), \(t.savedPointer(i, "dPh")), \(t.savedPointer(i, "dh")), \(t.savedPointer(i, "dc")), "
                + "\(t.savedPointer(i, "tr")), \(t.savedPointer(i, "hprev")), \(t.savedPointer(i, "panels")));\n"
        case .recurrent:
            return head + "    nn_rnn_backward(\(RecurrentTraining.shape(g, i)), nb, \(x), \(ctx.param(node, "weight_ih_l0")), \(ctx.param(node, "weight_hh_l0")), "
                + "\(t.savedPointer(i, "gates")), \(t.savedPointer(i, "hs")), \(t.savedPointer(i, "cs")), \(t.savedPointer(i, "hn")), \(dy), \(dx), "
                + "\(grad("weight_ih_l0")), \(grad("weight_hh_l0")), \(grad("bias_ih_l0")), \(grad("bias_hh_l0")), "
                + "\(t.savedPointer(i, "dP")), \(t.savedPointer(i, "dPh")), \(t.savedPointer(i, "dh")), \(t.savedPointer(i, "dc")));\n"
        case .input:
            return ""
        }
    }
}

/// The recurrent kernels' shape literal shared by training forward and backward.
enum RecurrentTraining {
    static func shape(_ g: Graph, _ i: Int) -> String {
        let d = RecurrentEmitter.dims(g, i)
        let cell: Int
        switch d.r.cell {
        case .rnnTanh: cell = 0
        case .rnnRelu: cell = 1
        case .lstm: cell = 2
        case .gru: cell = 3
        }
        return "(nn_rnn_shape){\(cell), \(d.t), \(d.f), \(d.h), \(d.g), \(d.r.returnSequences ? 1 : 0)}"
    }
}
