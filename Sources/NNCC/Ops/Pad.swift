/// pad: each per-example axis grows by `begin` elements before and `end` after (negative
/// counts crop), the new elements a constant or, for reflect, edge and wrap, copies of source
/// elements (IR/Op.swift, `PadSpec`). The kernel walks the result row by row: a result row
/// whose outer indices fall in a constant border is filled, any other reads one source row,
/// whose middle is one memcpy and whose few border elements map one by one. The reference
/// build maps every element on its own. Backward runs the same walk in reverse: ∂x += ∂y at
/// the source of every element, so a constant border gives ∂x the interior of ∂y and the
/// copied borders add their gradient to the elements they copied.
enum PadOps: OpFamily {
    static func plan(_ g: Graph, _ i: Int, _ s: Schedule, training: Bool) -> KernelPlan {
        KernelPlan(kernel: .loops, backward: training ? .loops : nil)
    }

    static func spec(_ node: Node) -> PadSpec {
        guard case let .pad(p) = node.op else { preconditionFailure("not a pad: \(node.op)") }
        return p
    }

    static func cValue(_ v: Float) -> String { v.isNaN ? "NAN" : CSyntax.float(v) }

    /// `name_src(s, n)`: the source index of offset s (result index − begin) on an axis of size
    /// n, or −1 for the constant.
    static func sourceFunction(_ name: String, _ mode: PadSpec.Mode) -> String {
        let outside: String
        switch mode {
        case .constant: outside = "-1"
        case .reflect: outside = "s < 0 ? -s : 2 * (n - 1) - s"
        case .edge: outside = "s < 0 ? 0 : n - 1"
        case .wrap: outside = "(s % n + n) % n"
        }
        return "NN_UNUSED static inline int \(name)_src(int s, int n) { return s >= 0 && s < n ? s : \(outside); }\n"
    }

    /// A kernel `name(nb, x, y)`: y = pad(x) forward; with `backward`, `name(nb, dy, dx)` adds
    /// ∂y into ∂x at the sources. `x` is the operand's per-example shape.
    static func kernel(_ name: String, banner: String, x: [Int], p: PadSpec, backward: Bool, reference: Bool) -> String {
        let r = x.count
        let y = x.indices.map { x[$0] + p.begin[$0] + p.end[$0] }
        let xs = x.indices.map { x[($0 + 1)...].reduce(1, *) }, ys = y.indices.map { y[($0 + 1)...].reduce(1, *) }
        let xsize = x.reduce(1, *), ysize = y.reduce(1, *)
        let constant = p.mode == .constant, v = cValue(p.value)
        var s = sourceFunction(name, p.mode) + banner + "\n"
            + EmitContext.perExample(name, backward: backward, xsize: xsize, ysize: ysize)
        if reference {
            // Every element on its own: split the flat index, map each axis.
            s += "        for (size_t t = 0; t < \(ysize); t++) {\n"
            s += "            size_t rest = t, at = 0;\n            int inside = 1;\n"
            for k in (0..<r).reversed() {
                s += "            { int sk = \(name)_src((int)(rest % \(y[k])) - (\(p.begin[k])), \(x[k])); rest /= \(y[k]); "
                s += "if (sk < 0) inside = 0; else at += (size_t)sk * \(xs[k]); }\n"
            }
            s += backward ? "            if (inside) xb[at] += yb[t];\n"
                          : "            yb[t] = inside ? xb[at] : \(v);\n"
            return s + "        }\n    }\n}\n"
        }
        var ind = "        "
        var xo: [String] = [], yo: [String] = []
        func term(_ v: String, _ stride: Int) -> String { stride == 1 ? v : "\(v) * \(stride)" }
        // The outer axes: one loop each; a padded one maps its index, a constant border fills the block.
        for k in 0..<(r - 1) {
            s += "\(ind)for (int i\(k) = 0; i\(k) < \(y[k]); i\(k)++) {\n"
            ind += "    "
            yo.append(term("i\(k)", ys[k]))
            if p.begin[k] == 0 && p.end[k] == 0 {
                xo.append(term("i\(k)", xs[k]))
                continue
            }
            s += "\(ind)const int s\(k) = \(name)_src(i\(k) - (\(p.begin[k])), \(x[k]));\n"
            if constant {
                s += "\(ind)if (s\(k) < 0) {\n"
                if !backward {
                    s += "\(ind)    float *yf = yb + \(yo.joined(separator: " + "));\n"
                    s += "\(ind)    for (int j = 0; j < \(ys[k]); j++) yf[j] = \(v);\n"
                }
                s += "\(ind)    continue;\n\(ind)}\n"
            }
            xo.append(term("s\(k)", xs[k]))
        }
        // The innermost axis: `lo` border elements, `mid` copied from `from`, the rest border.
        let n = x[r - 1], b = p.begin[r - 1], width = y[r - 1]
        let lo = max(b, 0), from = max(-b, 0), mid = n - from - max(-p.end[r - 1], 0)
        func offset(_ terms: [String]) -> String { terms.isEmpty ? "" : " + " + terms.joined(separator: " + ") }
        s += "\(ind)\(backward ? "float" : "const float") *xr = xb\(offset(xo));\n"
        s += "\(ind)\(backward ? "const float" : "float") *yr = yb\(offset(yo));\n"
        func border(_ range: String) -> String {
            if constant { return backward ? "" : "\(ind)for (int j = \(range); j++) yr[j] = \(v);\n" }
            let src = "xr[\(name)_src(j - (\(b)), \(n))]"
            return "\(ind)for (int j = \(range); j++) " + (backward ? "\(src) += yr[j];\n" : "yr[j] = \(src);\n")
        }
        if lo > 0 { s += border("0; j < \(lo)") }
        s += backward ? "\(ind)for (int j = 0; j < \(mid); j++) xr[\(from) + j] += yr[\(lo) + j];\n"
                      : "\(ind)memcpy(yr + \(lo), xr + \(from), \(mid) * sizeof(float));\n"
        if lo + mid < width { s += border("\(lo + mid); j < \(width)") }
        for _ in 0..<(r - 1) {
            ind.removeLast(4)
            s += "\(ind)}\n"
        }
        return s + "    }\n}\n"
    }

    static func forward(_ ctx: EmitContext, _ i: Int) -> KernelCode? {
        let g = ctx.graph, node = g.nodes[i], x = g.nodes[node.inputs[0]].shape
        let name = ctx.kernelName(i, "pad")
        return KernelCode(definition: kernel(name, banner: ctx.banner(i, describe(node.op)), x: x, p: spec(node),
                                             backward: false, reference: ctx.schedule.reference),
                          call: "\(name)(nb, \(ctx.value(node.inputs[0])), \(ctx.value(i)));")
    }

    static func backward(_ ctx: EmitContext, _ t: TrainLayout, _ i: Int) -> BackwardCode {
        let g = ctx.graph, node = g.nodes[i], x = g.nodes[node.inputs[0]].shape
        guard let dx = t.gradPointer(g, node.inputs[0]), let dy = t.gradPointer(g, i) else { return BackwardCode(statements: ctx.ruleHead(i)) }
        let name = ctx.kernelName(i, "pad_backward")
        let banner = "/* ∂ layer \"\(CSyntax.comment(node.name))\": ∂x += ∂y at the sources of \(describe(node.op)), "
            + "\(CSyntax.list(x)) -> \(CSyntax.list(node.shape)) */"
        return BackwardCode(definitions: kernel(name, banner: banner, x: x, p: spec(node), backward: true,
                                                reference: ctx.schedule.reference) + "\n",
                            statements: ctx.ruleHead(i) + "    \(name)(nb, \(dy), \(dx));\n")
    }
}
