/// Reductions over per-example axes: mean, sum, max, min (PyTorch's amax and
/// amin) and l2 (vector_norm), keepdims or not (the same memory either way).
/// One loop nest walks the operand in order, the batch outermost, with the
/// result read at stride 0 along reduced axes; neighbouring axes are merged
/// (not in the reference build), and a reduction over the innermost axes
/// sums a contiguous row into a local. max and min propagate NaN.
/// Backward: ∂x += ∂y (sum), ∂y/count (mean), ∂y·x/y (l2, 0 where y = 0), and
/// for max and min ∂y split evenly among the elements equal to y, as
/// PyTorch's amax and amin do; the tie counts are kept in a training buffer.
enum ReduceOps: OpFamily {
    static func reduction(_ node: Node) -> Reduction {
        guard case let .reduce(r) = node.op else { preconditionFailure("not a reduction: \(node.op)") }
        return r
    }

    static func plan(_ g: Graph, _ i: Int, _ s: Schedule, training: Bool) -> KernelPlan {
        KernelPlan(kernel: .loops, backward: training ? .loops : nil)
    }

    /// One loop: its count and the strides of x and y along it.
    struct Loop { var count, xs, ys: Int }

    /// The loops over the operand `x` (per example), outermost first; merged unless `reference`.
    static func loops(_ x: [Int], _ axes: [Int], reference: Bool) -> [Loop] {
        var ysize = 1
        var out: [Loop] = []
        for k in x.indices.reversed() {
            let reduced = axes.contains(k)
            out.insert(Loop(count: x[k], xs: x[(k + 1)...].reduce(1, *), ys: reduced ? 0 : ysize), at: 0)
            if !reduced { ysize *= x[k] }
        }
        guard !reference else { return out }
        var merged: [Loop] = []
        for l in out where l.count > 1 {
            if let p = merged.last, p.xs == l.xs * l.count, p.ys == l.ys * l.count {
                merged[merged.count - 1] = Loop(count: p.count * l.count, xs: l.xs, ys: l.ys)
            } else {
                merged.append(l)
            }
        }
        return merged.isEmpty ? [Loop(count: 1, xs: 1, ys: 1)] : merged
    }

    /// The nest over the batch and `l`: `body` sees `xo` and `yo`, the offsets of the current
    /// elements. With `hoist`, an innermost loop along which y stays (stride 0) runs as
    /// `hoist.pre` / `body` / `hoist.post` with `yo` fixed.
    static func nest(_ l: [Loop], xsize: Int, ysize: Int, body: String, hoist: (pre: String, body: String, post: String)?) -> String {
        var s = "    for (size_t e = 0; e < (size_t)nb; e++)\n", pad = "    "
        let inner = l.count - 1, hoisted = hoist != nil && l[inner].ys == 0
        func offset(_ v: KeyPath<Loop, Int>, upTo n: Int) -> String {
            ([("e", v == \Loop.xs ? xsize : ysize)] + (0..<n).map { ("i\($0)", l[$0][keyPath: v]) })
                .filter { $0.1 != 0 }.map { $0.1 == 1 ? $0.0 : "\($0.0) * \($0.1)" }.joined(separator: " + ")
        }
        for k in l.indices {
            pad += "    "
            if k == inner && hoisted, let h = hoist {
                s += "\(pad){\n\(pad)    const size_t yo = \(offset(\.ys, upTo: inner));\n\(pad)    \(h.pre)\n"
                s += "\(pad)    for (int i\(k) = 0; i\(k) < \(l[k].count); i\(k)++) {\n"
                s += "\(pad)        const size_t xo = \(offset(\.xs, upTo: l.count));\n\(pad)        \(h.body)\n\(pad)    }\n"
                return s + "\(pad)    \(h.post)\n\(pad)}\n"
            }
            s += "\(pad)for (int i\(k) = 0; i\(k) < \(l[k].count); i\(k)++)\n"
        }
        return s + "\(pad)    {\n\(pad)        const size_t xo = \(offset(\.xs, upTo: l.count)), yo = \(offset(\.ys, upTo: l.count));\n"
            + "\(pad)        \(body)\n\(pad)    }\n"
    }

    /// init, combine(acc, v) and the finishing expression of acc, in C.
    static func rule(_ kind: Reduction.Kind, count: Int) -> (initial: String, combine: String, finish: String) {
        switch kind {
        case .sum: return ("0.0f", "acc + v", "acc")
        case .mean: return ("0.0f", "acc + v", "acc * \(CSyntax.float(1 / Float(count)))")
        case .l2: return ("0.0f", "acc + v * v", "sqrtf(acc)")
        case .max: return ("-INFINITY", "(v > acc || v != v) ? v : acc", "acc")
        case .min: return ("INFINITY", "(v < acc || v != v) ? v : acc", "acc")
        }
    }

    static func forward(_ ctx: EmitContext, _ i: Int) -> KernelCode? {
        let g = ctx.graph, node = g.nodes[i], r = reduction(node), x = g.nodes[node.inputs[0]].shape
        let xsize = x.reduce(1, *), ysize = node.size, count = xsize / ysize
        let l = loops(x, r.axes, reference: ctx.schedule.reference)
        let (initial, combine, finish) = rule(r.kind, count: count)
        let name = ctx.kernelName(i, "reduce_\(r.kind.rawValue)")
        let body = "const float v = x[xo], acc = y[yo];\n            y[yo] = \(combine);"
        let hoist = ctx.schedule.reference ? nil
            : (pre: "float acc = y[yo];", body: "const float v = x[xo];\n            acc = \(combine);", post: "y[yo] = acc;")
        let needsFinish = r.kind == .mean || r.kind == .l2
        return KernelCode(definition: """
            \(ctx.banner(i, "reduce \(r.kind.rawValue) of \(CSyntax.list(x)) over axes \(CSyntax.list(r.axes))\(r.keepDims ? ", keepdims" : "")"))
            static void \(name)(int nb, const float *restrict x, float *restrict y) {
                for (size_t t = 0; t < (size_t)nb * \(ysize); t++) y[t] = \(initial);
            \(nest(l, xsize: xsize, ysize: ysize, body: body, hoist: hoist))\(needsFinish ? "    for (size_t t = 0; t < (size_t)nb * \(ysize); t++) { const float acc = y[t]; y[t] = \(finish); }\n" : "")}
            """, call: "\(name)(nb, \(ctx.value(node.inputs[0])), \(ctx.value(i)));")
    }

    // MARK: training

    /// max and min: how many elements tie with each result.
    struct Saved { var ties: Slot }

    static func reserve(_ g: Graph, _ i: Int, _ s: Schedule, _ layout: inout TrainLayout) {
        let r = reduction(g.nodes[i])
        guard g.gradients!.needsGrad[i], r.kind == .max || r.kind == .min else { return }
        layout.save(i, Saved(ties: layout.take(g.maxBatch * g.nodes[i].size)))
    }

    static func backward(_ ctx: EmitContext, _ t: TrainLayout, _ i: Int) -> BackwardCode {
        let g = ctx.graph, node = g.nodes[i], r = reduction(node), x = g.nodes[node.inputs[0]].shape
        guard let dx = t.gradPointer(g, node.inputs[0]), let dy = t.gradPointer(g, i) else { return BackwardCode(statements: ctx.ruleHead(i)) }
        let xsize = x.reduce(1, *), ysize = node.size, count = xsize / ysize
        let l = loops(x, r.axes, reference: ctx.schedule.reference)
        let name = ctx.kernelName(i, "reduce_\(r.kind.rawValue)_backward")
        var params = ["int nb"], args = ["nb"], code = ""
        switch r.kind {
        case .sum: code = nest(l, xsize: xsize, ysize: ysize, body: "dx[xo] += dy[yo];", hoist: nil)
        case .mean:
            code = nest(l, xsize: xsize, ysize: ysize, body: "dx[xo] += dy[yo] * \(CSyntax.float(1 / Float(count)));", hoist: nil)
        case .l2:
            params += ["const float *restrict x", "const float *restrict y"]
            args += [ctx.value(node.inputs[0]), ctx.value(i)]
            code = nest(l, xsize: xsize, ysize: ysize, body: "dx[xo] += y[yo] == 0 ? 0.0f : dy[yo] * x[xo] / y[yo];", hoist: nil)
        case .max, .min:
            let ties = t.saved(i, as: Saved.self).ties.pointer
            params += ["const float *restrict x", "const float *restrict y", "float *restrict ties"]
            args += [ctx.value(node.inputs[0]), ctx.value(i), ties]
            code = "    for (size_t t = 0; t < (size_t)nb * \(ysize); t++) ties[t] = 0;\n"
                + nest(l, xsize: xsize, ysize: ysize, body: "ties[yo] += x[xo] == y[yo];", hoist: nil)
                + nest(l, xsize: xsize, ysize: ysize, body: "if (x[xo] == y[yo]) dx[xo] += dy[yo] / ties[yo];", hoist: nil)
        }
        params += ["const float *restrict dy", "float *restrict dx"]
        args += [dy, dx]
        return BackwardCode(definitions: """
            /* ∂ layer "\(CSyntax.comment(node.name))": reduce \(r.kind.rawValue) of \(CSyntax.list(x)) over axes \(CSyntax.list(r.axes)) */
            static void \(name)(\(params.joined(separator: ", "))) {
            \(code)}

            """, statements: ctx.ruleHead(i) + "    \(name)(\(args.joined(separator: ", ")));\n")
    }
}
