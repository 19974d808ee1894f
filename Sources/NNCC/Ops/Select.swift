/// select: y[i0, i1, ...] = x[s0(i0), s1(i1), ...] per example, each axis a
/// range (start, step; step 0 repeats one element) or a table of indices.
/// ONNX's Slice (steps too), Split (one select per part), Gather on constant
/// indices, Tile and Expand are all this. A loop per result axis, the batch
/// outermost; a range with step 1 on the innermost axis is a contiguous copy.
/// Backward adds ∂y back at the same places (repeated elements sum).
enum SelectOps: OpFamily {
    static func plan(_ g: Graph, _ i: Int, _ s: Schedule, training: Bool) -> KernelPlan {
        KernelPlan(kernel: .loops, backward: training ? .loops : nil)
    }

    static func selection(_ node: Node) -> [AxisSelection] {
        guard case let .select(s) = node.op else { preconditionFailure("not a select: \(node.op)") }
        return s
    }

    /// File-scope index tables, and a function `name(nb, src, dst)` moving elements between
    /// x (operand) and y (result): y = x forward, ∂x += ∂y backward.
    static func kernel(_ name: String, banner: String, x: [Int], axes: [AxisSelection], backward: Bool) -> String {
        let y = axes.map(\.count), xsize = x.reduce(1, *), ysize = y.reduce(1, *)
        let xs = x.indices.map { x[($0 + 1)...].reduce(1, *) }, ys = y.indices.map { y[($0 + 1)...].reduce(1, *) }
        var tables = "", base = 0, terms: [String] = []
        for (k, a) in axes.enumerated() {
            // An axis of one element is a constant offset, without a loop.
            if a.count == 1 { base += a.index(0) * xs[k]; continue }
            switch a {
            case let .range(start, step, _):
                base += start * xs[k]
                if step != 0 { terms.append(step * xs[k] == 1 ? "i\(k)" : "i\(k) * \(step * xs[k])") }
            case let .list(l):
                tables += "static const int \(name)_t\(k)[\(l.count)] = {\(l.map { String($0 * xs[k]) }.joined(separator: ", "))};\n"
                terms.append("\(name)_t\(k)[i\(k)]")
            }
        }
        let xo = ([base == 0 && !terms.isEmpty ? nil : String(base)].compactMap { $0 } + terms).joined(separator: " + ")
        let yo = y.indices.filter { y[$0] > 1 }.map { ys[$0] == 1 ? "i\($0)" : "i\($0) * \(ys[$0])" }.joined(separator: " + ")
        var s = tables + banner + "\n" + EmitContext.perExample(name, backward: backward, xsize: xsize, ysize: ysize)
        var pad = "        "
        for k in y.indices where y[k] > 1 {
            s += "\(pad)for (int i\(k) = 0; i\(k) < \(y[k]); i\(k)++)\n"
            pad += "    "
        }
        s += backward ? "\(pad)xb[\(xo)] += yb[\(yo.isEmpty ? "0" : yo)];\n" : "\(pad)yb[\(yo.isEmpty ? "0" : yo)] = xb[\(xo)];\n"
        return s + "    }\n}\n"
    }

    static func describe(_ axes: [AxisSelection]) -> String { NNCC.describe(.select(axes)) }

    static func forward(_ ctx: EmitContext, _ i: Int) -> KernelCode? {
        let g = ctx.graph, node = g.nodes[i], x = g.nodes[node.inputs[0]].shape
        let name = ctx.kernelName(i, "select")
        return KernelCode(definition: kernel(name, banner: ctx.banner(i, describe(selection(node))), x: x,
                                             axes: selection(node), backward: false),
                          call: "\(name)(nb, \(ctx.value(node.inputs[0])), \(ctx.value(i)));")
    }

    static func backward(_ ctx: EmitContext, _ t: TrainLayout, _ i: Int) -> BackwardCode {
        let g = ctx.graph, node = g.nodes[i], x = g.nodes[node.inputs[0]].shape
        guard let dx = t.gradPointer(g, node.inputs[0]), let dy = t.gradPointer(g, i) else { return BackwardCode(statements: ctx.ruleHead(i)) }
        let name = ctx.kernelName(i, "select_backward")
        let banner = "/* ∂ layer \"\(CSyntax.comment(node.name))\": ∂x += ∂y at \(describe(selection(node))) */"
        return BackwardCode(definitions: kernel(name, banner: banner, x: x, axes: selection(node), backward: true) + "\n",
                            statements: ctx.ruleHead(i) + "    \(name)(nb, \(dy), \(dx));\n")
    }
}
