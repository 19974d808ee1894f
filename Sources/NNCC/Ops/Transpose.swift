/// transpose: a permutation of the per-example axes (the batch stays first).
/// The loops run over the result in order and read the operand at permuted
/// strides. Result axes that stay neighbours in the operand are merged, so a
/// channel shuffle's [g, C/g, H·W] → [C/g, g, H·W] copies whole rows. When the
/// two innermost axes swap ([.., C, R] → [.., R, C], attention's kᵀ), the
/// kernel moves 8×8 tiles so both sides stay in cache lines. The reference
/// build keeps every axis a loop. Backward is the inverse permutation of ∂y,
/// added into ∂x by the same kernel.
enum TransposeOps: OpFamily {
    static func plan(_ g: Graph, _ i: Int, _ s: Schedule, training: Bool) -> KernelPlan {
        KernelPlan(kernel: .loops, backward: training ? .loops : nil)
    }

    static func perm(_ node: Node) -> [Int] {
        guard case let .transpose(p) = node.op else { preconditionFailure("not a transpose: \(node.op)") }
        return p
    }

    /// A kernel `name(nb, x, y)` writing (or adding, with `accumulate`) x of per-example shape
    /// `shape` permuted by `perm` into y.
    static func kernel(_ name: String, banner: String, shape: [Int], perm: [Int], accumulate: Bool, reference: Bool) -> String {
        let size = shape.reduce(1, *), op = accumulate ? "+=" : "="
        let xs = shape.indices.map { shape[($0 + 1)...].reduce(1, *) }
        // (count, stride in x) of each result axis, outermost first.
        var loops = perm.map { (count: shape[$0], stride: xs[$0]) }
        if !reference {
            loops = loops.filter { $0.count > 1 }
            var merged: [(count: Int, stride: Int)] = []
            for l in loops {
                if let p = merged.last, p.stride == l.stride * l.count {
                    merged[merged.count - 1] = (p.count * l.count, l.stride)
                } else {
                    merged.append(l)
                }
            }
            loops = merged
        }
        let head = "\(banner)\nstatic void \(name)(int nb, const float *restrict x, float *restrict y) {\n"
        if !reference, loops.count <= 1 {
            // The identity order (size-1 axes moved): one flat copy.
            return head + "    for (size_t t = 0; t < (size_t)nb * \(size); t++) y[t] \(op) x[t];\n}\n"
        }
        let ys = loops.indices.map { k in loops[(k + 1)...].reduce(1) { $0 * $1.count } }
        let n = loops.count
        let tiled = !reference && n >= 2 && loops[n - 2].stride == 1 && loops[n - 1].stride == loops[n - 2].count
        let outer = tiled ? n - 2 : n
        var s = head + "    for (size_t b = 0; b < (size_t)nb; b++) {\n"
        s += "        const float *xb = x + b * \(size);\n        float *yb = y + b * \(size);\n"
        var pad = "        "
        for k in 0..<outer {
            s += "\(pad)for (int i\(k) = 0; i\(k) < \(loops[k].count); i\(k)++)\n"
            pad += "    "
        }
        func offset(_ strides: [Int]) -> String {
            let terms = (0..<outer).filter { strides[$0] != 0 }.map { strides[$0] == 1 ? "i\($0)" : "i\($0) * \(strides[$0])" }
            return terms.isEmpty ? "0" : terms.joined(separator: " + ")
        }
        let xo = offset(loops.map(\.stride)), yo = offset(ys)
        if tiled {
            let (r, c) = (loops[n - 2].count, loops[n - 1].count)
            s += """
                \(pad){
                \(pad)    const float *xo = xb + \(xo);
                \(pad)    float *yo = yb + \(yo);
                \(pad)    for (int r0 = 0; r0 < \(r); r0 += 8)
                \(pad)        for (int c0 = 0; c0 < \(c); c0 += 8) {
                \(pad)            const int re = r0 + 8 < \(r) ? r0 + 8 : \(r), ce = c0 + 8 < \(c) ? c0 + 8 : \(c);
                \(pad)            for (int r = r0; r < re; r++)
                \(pad)                for (int c = c0; c < ce; c++) yo[r * \(c) + c] \(op) xo[c * \(r) + r];
                \(pad)        }
                \(pad)}

                """
        } else {
            s += "\(pad)yb[\(yo)] \(op) xb[\(xo)];\n"
        }
        return s + "    }\n}\n"
    }

    static func describePerm(_ shape: [Int], _ perm: [Int]) -> String {
        "\(CSyntax.list(shape)) permuted by \(CSyntax.list(perm))"
    }

    static func forward(_ ctx: EmitContext, _ i: Int) -> KernelCode? {
        let g = ctx.graph, node = g.nodes[i], p = perm(node), x = g.nodes[node.inputs[0]].shape
        let name = ctx.kernelName(i, "transpose")
        return KernelCode(definition: kernel(name, banner: ctx.banner(i, "transpose, " + describePerm(x, p)), shape: x, perm: p,
                                             accumulate: false, reference: ctx.schedule.reference),
                          call: "\(name)(nb, \(ctx.value(node.inputs[0])), \(ctx.value(i)));")
    }

    static func backward(_ ctx: EmitContext, _ t: TrainLayout, _ i: Int) -> BackwardCode {
        let g = ctx.graph, node = g.nodes[i], p = perm(node)
        guard let dx = t.gradPointer(g, node.inputs[0]), let dy = t.gradPointer(g, i) else { return BackwardCode(statements: ctx.ruleHead(i)) }
        var inverse = p
        for (k, a) in p.enumerated() { inverse[a] = k }
        let name = ctx.kernelName(i, "transpose_backward")
        let banner = "/* ∂ layer \"\(CSyntax.comment(node.name))\": ∂x += ∂y, " + describePerm(node.shape, inverse) + " */"
        return BackwardCode(definitions: kernel(name, banner: banner, shape: node.shape, perm: inverse, accumulate: true,
                                                reference: ctx.schedule.reference) + "\n",
                            statements: ctx.ruleHead(i) + "    \(name)(nb, \(dy), \(dx));\n")
    }
}
