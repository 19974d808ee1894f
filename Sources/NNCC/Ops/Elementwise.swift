/// Ops that touch each element a fixed number of times: standalone
/// activations, add, concat and dropout (identity at inference; training
/// draws a mask). Activations after dense and conv2d are fused into their
/// epilogue instead (Passes/FuseEpilogue.swift).
enum ElementwiseOps: OpFamily {
    static func plan(_ g: Graph, _ i: Int, _ s: Schedule, training: Bool) -> KernelPlan {
        KernelPlan(kernel: .loops, backward: training ? .loops : nil)
    }

    static func forward(_ ctx: EmitContext, _ i: Int) -> KernelCode? {
        let node = ctx.graph.nodes[i], size = node.size
        let ins = node.inputs.map { ctx.value($0) }
        let x = ins[0], y = ctx.value(i)
        switch node.op {
        case let .activation(act):
            let name = ctx.kernelName(i, CSyntax.identifier(act.name))
            return KernelCode(definition: """
                \(ctx.banner(i, act.name))
                static void \(name)(int nb, const float *restrict x, float *restrict y) {
                    for (size_t i = 0; i < (size_t)nb * \(size); i++) y[i] = nn_act(\(act.cArgs), x[i]);
                }
                """, call: "\(name)(nb, \(x), \(y));")
        case .add:
            let name = ctx.kernelName(i, "add\(ins.count)")
            let params = ins.indices.map { "const float *restrict x\($0)" }.joined(separator: ", ")
            let sum = ins.indices.map { "x\($0)[i]" }.joined(separator: " + ")
            return KernelCode(definition: """
                \(ctx.banner(i, "sum of \(ins.count) inputs"))
                static void \(name)(int nb, \(params), float *restrict y) {
                    for (size_t i = 0; i < (size_t)nb * \(size); i++) y[i] = \(sum);
                }
                """, call: "\(name)(nb, \(ins.joined(separator: ", ")), \(y));")
        case let .concat(axis):
            return concat(ctx, i, axis: axis)
        case .dropout:
            // Only training builds keep dropout; their inference forward copies.
            let name = ctx.kernelName(i, "dropout_inference")
            return KernelCode(definition: """
                \(ctx.banner(i, "dropout at inference: identity"))
                static void \(name)(int nb, const float *restrict x, float *restrict y) {
                    memcpy(y, x, (size_t)nb * \(size) * sizeof(float));
                }
                """, call: "\(name)(nb, \(x), \(y));")
        default:
            preconditionFailure("not an elementwise op: \(node.op)")
        }
    }

    /// Concat on `axis`: per example, the output is `outer` blocks; block o is
    /// the inputs' o-th slices (each `inner × dim_axis` floats) one after another.
    static func concatBlocks(_ g: Graph, _ i: Int, axis: Int) -> (outer: Int, chunks: [Int]) {
        let node = g.nodes[i], a = axis < 0 ? axis + node.shape.count : axis
        let inner = node.shape[(a + 1)...].reduce(1, *)
        return (node.shape[..<a].reduce(1, *), node.inputs.map { g.nodes[$0].shape[a] * inner })
    }

    static func concat(_ ctx: EmitContext, _ i: Int, axis: Int) -> KernelCode {
        let node = ctx.graph.nodes[i], (outer, chunks) = concatBlocks(ctx.graph, i, axis: axis)
        let name = ctx.kernelName(i, "concat\(node.inputs.count)")
        let params = node.inputs.indices.map { "const float *restrict x\($0)" }.joined(separator: ", ")
        var copies = "", at = 0
        for (j, chunk) in chunks.enumerated() {
            copies += "\n            memcpy(yo + \(at), x\(j) + (size_t)b * \(ctx.graph.nodes[node.inputs[j]].size) + (size_t)o * \(chunk), \(chunk) * sizeof(float));"
            at += chunk
        }
        return KernelCode(definition: """
            \(ctx.banner(i, "concat of \(node.inputs.count) inputs on axis \(axis < 0 ? axis + node.shape.count : axis)"))
            static void \(name)(int nb, \(params), float *restrict y) {
                for (int b = 0; b < nb; b++)
                    for (int o = 0; o < \(outer); o++) {
                        float *yo = y + (size_t)b * \(node.size) + (size_t)o * \(at);\(copies)
                    }
            }
            """, call: "\(name)(nb, \(node.inputs.map { ctx.value($0) }.joined(separator: ", ")), \(ctx.value(i)));")
    }

    // MARK: training

    /// Dropout's mask, saved by the training forward.
    struct DropoutSaved { var mask: Slot }

    static func reserve(_ g: Graph, _ i: Int, _ s: Schedule, _ layout: inout TrainLayout) {
        guard case .dropout = g.nodes[i].op else { return }
        layout.save(i, DropoutSaved(mask: layout.take(g.nodes[i].size * g.maxBatch)))
    }

    static func trainingForward(_ ctx: EmitContext, _ t: TrainLayout, _ i: Int) -> String? {
        let n = ctx.graph.nodes[i]
        guard case let .dropout(rate) = n.op else { return nil }
        return "nn_dropout_train((size_t)nb * \(n.size), \(ctx.value(n.inputs[0])), \(ctx.value(i)), "
            + "\(t.saved(i, as: DropoutSaved.self).mask.pointer), \(CSyntax.float(rate)), &c->rng);"
    }

    static func backward(_ ctx: EmitContext, _ t: TrainLayout, _ i: Int) -> BackwardCode {
        let g = ctx.graph, node = g.nodes[i], n = "(size_t)nb * \(node.size)"
        let dy = t.gradPointer(g, i)!, dx = t.gradPointer(g, node.inputs[0]) ?? "NULL"
        let body: String
        switch node.op {
        case let .activation(act):
            body = "    nn_act_backward(\(n), \(act.cArgs), \(ctx.value(node.inputs[0])), \(ctx.value(i)), \(dy), \(dx));\n"
        case .dropout:
            body = "    for (size_t i = 0; i < \(n); i++) (\(dx))[i] += (\(dy))[i] * (\(t.saved(i, as: DropoutSaved.self).mask.pointer))[i];\n"
        case .add:
            body = node.inputs.compactMap { t.gradPointer(g, $0) }.map {
                "    for (size_t i = 0; i < \(n); i++) (\($0))[i] += (\(dy))[i];\n"
            }.joined()
        case let .concat(axis):
            let (outer, chunks) = concatBlocks(g, i, axis: axis)
            var s = "", at = 0
            for (k, chunk) in zip(node.inputs, chunks) {
                if let dk = t.gradPointer(g, k) {
                    s += """
                            for (int b = 0; b < nb; b++)
                                for (int o = 0; o < \(outer); o++)
                                    nn_axpy(\(chunk), 1.0f, \(dy) + (size_t)b * \(node.size) + (size_t)o * \(node.size / outer) + \(at), \(dk) + (size_t)b * \(g.nodes[k].size) + (size_t)o * \(chunk));

                        """
                }
                at += chunk
            }
            body = s
        default:
            preconditionFailure("not an elementwise op: \(node.op)")
        }
        return BackwardCode(statements: ctx.ruleHead(i) + body)
    }
}
