/// A user's C function as a layer (docs/custom-ops.md; read and checked by Frontend/CustomSource.swift).
/// Elementwise `float f(float)` runs as one loop, or at inference inside the dense or conv2d kernel
/// that produces its operand (Passes/FuseEpilogue.swift); the array form is called once per batch.
/// Backward calls the user's gradient function and adds its result into ∂x.
enum CustomOps: OpFamily {
    static func op(_ node: Node) -> CustomOp {
        guard case let .custom(c) = node.op else { preconditionFailure("not a custom op: \(node.op)") }
        return c
    }

    static func plan(_ g: Graph, _ i: Int, _ s: Schedule, training: Bool) -> KernelPlan {
        KernelPlan(kernel: .loops, backward: training ? .loops : nil)
    }

    /// The operand's per-example dims as the `int64_t` arguments after batch.
    static func dims(_ g: Graph, _ i: Int) -> String {
        g.nodes[g.nodes[i].inputs[0]].shape.map { ", \($0)" }.joined()
    }

    static func forward(_ ctx: EmitContext, _ i: Int) -> KernelCode? {
        let node = ctx.graph.nodes[i], c = op(node)
        let name = ctx.kernelName(i, "custom_" + CSyntax.identifier(c.forward))
        let body = c.form == .elementwise
            ? "for (size_t i = 0; i < (size_t)nb * \(node.size); i++) y[i] = \(c.cForward)(x[i]);"
            : "\(c.cForward)(x, y, (int64_t)nb\(dims(ctx.graph, i)));"
        return KernelCode(definition: """
            \(ctx.banner(i, "custom \(c.formName) \(CSyntax.comment(c.forward)) from \(CSyntax.comment(c.source))"))
            \(c.prototypes)
            static void \(name)(int nb, const float *restrict x, float *restrict y) {
                \(body)
            }
            """, call: "\(name)(nb, \(ctx.value(node.inputs[0])), \(ctx.value(i)));")
    }

    /// The statement a dense or conv2d kernel ends with when an elementwise custom function is
    /// fused into it: the function over the kernel's output `y` while it is still in cache.
    static func fusedEpilogue(_ ctx: EmitContext, _ i: Int) -> (prototypes: String, statement: String) {
        let node = ctx.graph.nodes[i]
        guard let c = node.customEpilogue else { return ("", "") }
        return (c.prototypes + "\n", "\n    for (size_t i = 0; i < (size_t)nb * \(node.size); i++) y[i] = \(c.cForward)(y[i]);  /* fused custom \(CSyntax.comment(c.forward)) */")
    }

    /// Each distinct user file once, at the end of the generated C.
    static func userCode(_ g: Graph) -> String {
        var seen = Set<String>(), out = ""
        for n in g.nodes {
            guard let c = n.customEpilogue ?? { if case let .custom(c) = n.op { return c } else { return nil } }(),
                  seen.insert(c.code).inserted else { continue }
            out += "\n/* ---- custom operator code from \(CSyntax.comment(c.source)), its file-scope names prefixed ---- */\n"
            out += c.code + (c.code.hasSuffix("\n") ? "" : "\n")
        }
        return out
    }

    // MARK: training

    /// The array form's ∂x, written by the user's function before it is added to the gradient buffer.
    struct Saved { var dx: Slot }

    static func reserve(_ g: Graph, _ i: Int, _ s: Schedule, _ layout: inout TrainLayout) {
        let node = g.nodes[i], x = node.inputs[0]
        guard case .array = op(node).form, g.gradients!.needsGrad[x] else { return }
        layout.save(i, Saved(dx: layout.take(g.nodes[x].size * g.maxBatch)))
    }

    static func backward(_ ctx: EmitContext, _ t: TrainLayout, _ i: Int) -> BackwardCode {
        let g = ctx.graph, node = g.nodes[i], c = op(node), xi = node.inputs[0]
        guard let grad = c.cBackward, let dx = t.gradPointer(g, xi) else { return BackwardCode() }
        let dy = t.gradPointer(g, i)!, x = ctx.value(xi), y = ctx.value(i), n = "(size_t)nb * \(g.nodes[xi].size)"
        let name = ctx.kernelName(i, "custom_" + CSyntax.identifier(c.backward!))
        var body: String, scratch = ""
        switch c.form {
        case .elementwise:
            body = "for (size_t i = 0; i < \(n); i++) dx[i] += \(grad)(x[i], y[i], dy[i]);"
        case .array:
            // The user's function writes ∂x; the rule adds it (a result may feed several layers).
            scratch = ", \(t.saved(i, as: Saved.self).dx.pointer)"
            body = "\(grad)(x, y, dy, g, (int64_t)nb\(dims(g, i)));\n"
                + "    for (size_t i = 0; i < \(n); i++) dx[i] += g[i];"
        }
        let definition = """
            \(c.prototypes)
            static void \(name)(int nb, const float *restrict x, const float *restrict y, const float *restrict dy, float *restrict dx\(scratch.isEmpty ? "" : ", float *restrict g")) {
                \(body)
            }

            """
        return BackwardCode(definitions: definition, statements: ctx.ruleHead(i) + "    \(name)(nb, \(x), \(y), \(dy), \(dx)\(scratch));\n")
    }
}
