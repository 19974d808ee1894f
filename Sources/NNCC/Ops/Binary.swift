/// Elementwise functions of two operands with NumPy broadcasting (add, sub,
/// mul, div, pow, maximum, minimum) and PReLU, whose slope is a broadcast
/// parameter. An operand is a layer's result (batched), a frozen constant
/// tensor or the PReLU slope (parameters: one copy for the whole batch), or a
/// literal scalar. Broadcasting is over the per-example axes; the batch is
/// the outermost axis of the loops.
///
/// Forward and backward are one loop nest over the output, with the batch
/// and every axis as loops and each operand read at its own strides (0 on a
/// broadcast axis). Neighbouring axes that every operand walks contiguously
/// are merged, so a same-shape op is one flat loop, a per-channel operand
/// ([C, 1, 1] against [C, H, W]) a loop over batch × channels around a
/// contiguous one, and a scalar a flat loop with a constant: each innermost
/// loop reads at stride 1 or 0 (hoisted out) and gcc vectorizes it; an
/// operand read through sigmoid or tanh (SiLU) goes by whole vectors through
/// nn_vact. The reference build keeps every axis a loop and reads everything
/// in place, scalar.
/// Backward reduces ∂ over the broadcast axes: an operand that is constant
/// along the innermost loop sums it in a local first.
enum BinaryOps: OpFamily {
    static func plan(_ g: Graph, _ i: Int, _ s: Schedule, training: Bool) -> KernelPlan {
        KernelPlan(kernel: .loops, backward: training ? .loops : nil)
    }

    /// One operand as the kernel reads it.
    struct Operand {
        enum Source: Equatable {
            /// A node's result: one slice per example.
            case value(Int)
            /// A parameter of the layer ("constant", or PReLU's "weight"): one copy for the batch.
            case param(String)
            case scalar(Float)
        }
        var source: Source
        /// Per-example shape, right-aligned to the output's rank with leading 1s.
        var shape: [Int]
        var pre: Activation?
        var batched: Bool { if case .value = source { return true } else { return false } }
    }

    /// The function and the two operands of node `i`.
    static func operands(_ g: Graph, _ i: Int) -> (BinaryFunction, Operand, Operand) {
        let node = g.nodes[i], rank = node.shape.count
        func aligned(_ s: [Int]) -> [Int] { Array(repeating: 1, count: rank - s.count) + s }
        func value(_ k: Int, pre: Activation?) -> Operand {
            Operand(source: .value(node.inputs[k]), shape: aligned(g.nodes[node.inputs[k]].shape), pre: pre)
        }
        switch node.op {
        case let .binary(b):
            guard let c = b.constant else {
                return (b.function, value(0, pre: b.pre[0]), value(1, pre: b.pre[1]))
            }
            let k: Operand
            switch c {
            case let .scalar(v): k = Operand(source: .scalar(v), shape: aligned([]))
            case let .tensor(shape): k = Operand(source: .param("constant"), shape: aligned(shape))
            }
            let x = value(0, pre: b.pre[0])
            return (b.function, b.constantFirst ? k : x, b.constantFirst ? x : k)
        case let .prelu(n):
            // The slope runs along axis 0 of the per-example shape (PyTorch's channel axis).
            let slope = [n] + Array(repeating: 1, count: rank - 1)
            return (.prelu, value(0, pre: nil), Operand(source: .param("weight"), shape: slope))
        default:
            preconditionFailure("not a binary op: \(node.op)")
        }
    }

    /// One loop of the nest: its trip count (times nb for the batch loop) and
    /// the stride of y, a and b along it.
    struct Loop: Equatable {
        var count: Int
        var batch: Bool
        var strides: [Int]
        var bound: String { batch ? (count == 1 ? "(size_t)nb" : "(size_t)nb * \(count)") : "\(count)" }
    }

    /// The loops over node `i`'s output; merged where every operand allows, unless `reference`.
    static func loops(_ shape: [Int], _ a: Operand, _ b: Operand, reference: Bool) -> [Loop] {
        func strides(_ s: [Int]) -> [Int] {
            s.indices.map { k in s[k] == 1 ? 0 : s[(k + 1)...].reduce(1, *) }
        }
        let size = shape.reduce(1, *)
        let ys = shape.indices.map { shape[($0 + 1)...].reduce(1, *) }, as_ = strides(a.shape), bs = strides(b.shape)
        var out = [Loop(count: 1, batch: true, strides: [size, a.batched ? a.shape.reduce(1, *) : 0,
                                                         b.batched ? b.shape.reduce(1, *) : 0])]
        for k in shape.indices where reference || shape[k] > 1 {
            out.append(Loop(count: shape[k], batch: false, strides: [ys[k], as_[k], bs[k]]))
        }
        guard !reference else { return out }
        var merged = [out[0]]
        for l in out.dropFirst() {
            let p = merged[merged.count - 1]
            if (0..<3).allSatisfy({ p.strides[$0] == l.strides[$0] * l.count }) {
                merged[merged.count - 1] = Loop(count: p.count * l.count, batch: p.batch, strides: l.strides)
            } else {
                merged.append(l)
            }
        }
        return merged
    }

    /// C offset of operand `k` (0 y, 1 a, 2 b) in the nest: over the outer loops only, or all.
    static func offset(_ loops: [Loop], _ k: Int, inner: Bool) -> String {
        let terms = loops.indices.filter { (inner || $0 < loops.count - 1) && loops[$0].strides[k] != 0 }
            .map { loops[$0].strides[k] == 1 ? "i\($0)" : "i\($0) * \(loops[$0].strides[k])" }
        return terms.isEmpty ? "0" : terms.joined(separator: " + ")
    }

    /// The loop nest: `hoist` runs before the innermost loop, `body` in it, `post` after it.
    /// With `vector`, the innermost loop first runs whole vectors of NN_VW (its variable steps
    /// by NN_VW) and `body` does the rest.
    static func nest(_ loops: [Loop], hoist: String, body: String, post: String, vector: String? = nil) -> String {
        var s = "", pad = "    "
        let block = !hoist.isEmpty || !post.isEmpty || vector != nil
        for (d, l) in loops.enumerated() {
            let i = "i\(d)"
            guard d == loops.count - 1 else {
                s += "\(pad)for (size_t \(i) = 0; \(i) < \(l.bound); \(i)++)\n"
                pad += "    "
                continue
            }
            if block {
                s += "\(pad){\n" + hoist.indented(pad + "    ")
                pad += "    "
            }
            if let vector {
                s += "\(pad)size_t \(i) = 0;\n\(pad)for (; \(i) + NN_VW <= \(l.bound); \(i) += NN_VW) {\n"
                s += vector.indented(pad + "    ") + "\(pad)}\n\(pad)for (; \(i) < \(l.bound); \(i)++) {\n"
            } else {
                s += "\(pad)for (size_t \(i) = 0; \(i) < \(l.bound); \(i)++) {\n"
            }
            pad += "    "
        }
        s += body.indented(pad)
        pad.removeLast(4)
        s += "\(pad)}\n"
        guard block else { return s }
        s += post.indented(pad)
        pad.removeLast(4)
        return s + "\(pad)}\n"
    }

    /// The vector body of a forward loop whose operand is read through sigmoid or tanh: gcc does
    /// not vectorize the scalar expf, so whole vectors go through nn_vact (x · sigmoid(x) is SiLU).
    /// Only for functions that GCC's vector extensions spell like scalars (add, sub, mul, div).
    static func vectorBody(_ l: [Loop], _ f: BinaryFunction, _ a: Operand, _ b: Operand) -> String? {
        let inner = l[l.count - 1].strides
        guard [.add, .sub, .mul, .div].contains(f),
              [(1, a), (2, b)].contains(where: { inner[$0.0] != 0 && ($0.1.pre == .sigmoid || $0.1.pre == .tanh) })
        else { return nil }
        // xa and xb: the vectors of va and vb (a hoisted va is splat).
        var body = ""
        for (k, o, v) in [(1, a, "va"), (2, b, "vb")] {
            let expr: String
            switch o.source {
            case let .scalar(x): expr = "nn_splat(\(CSyntax.float(x)))"
            case .value, .param:
                guard inner[k] != 0 else { expr = "nn_splat(\(v))"; break }
                let load = "nn_load(\(k == 1 ? "a" : "b") + \(offset(l, k, inner: true)))"
                expr = o.pre.map { "nn_vact(\($0.cArgs), \(load))" } ?? load
            }
            body += "const nn_vf x\(k == 1 ? "a" : "b") = \(expr);\n"
        }
        let y = f.cForward.replacingOccurrences(of: "va", with: "xa").replacingOccurrences(of: "vb", with: "xb")
        return body + "nn_store(y + \(offset(l, 0, inner: true)), \(y));\n"
    }

    /// The C expressions reading operands a and b (`va`, `vb`) at the innermost
    /// loop, and the declarations hoisted out of it for those constant along it.
    static func reads(_ loops: [Loop], _ a: Operand, _ b: Operand, reference: Bool,
                      needs: Set<String> = ["va", "vb"]) -> (hoist: String, body: String) {
        var hoist = "", body = ""
        for (k, o, v) in [(1, a, "va"), (2, b, "vb")] where needs.contains(v) {
            let expr: String
            switch o.source {
            case let .scalar(x): expr = CSyntax.float(x)
            case .value, .param:
                let p = k == 1 ? "a" : "b"
                let outer = !reference && loops[loops.count - 1].strides[k] == 0
                let raw = "\(p)[\(offset(loops, k, inner: !outer))]"
                expr = o.pre.map { "nn_act(\($0.cArgs), \(raw))" } ?? raw
                if outer { hoist += "const float \(v) = \(expr);\n"; continue }
            }
            body += "const float \(v) = \(expr);\n"
        }
        return (hoist, body)
    }

    static func forward(_ ctx: EmitContext, _ i: Int) -> KernelCode? {
        let g = ctx.graph, node = g.nodes[i], (f, a, b) = operands(g, i)
        let reference = ctx.schedule.reference
        let l = loops(node.shape, a, b, reference: reference)
        let (hoist, body) = reads(l, a, b, reference: reference)
        let name = ctx.kernelName(i, node.op.typeName)
        var params = ["int nb"], args = ["nb"]
        for (p, o) in [("a", a), ("b", b)] {
            guard let ptr = pointer(ctx, node, o) else { continue }
            params.append("const float *restrict \(p)")
            args.append(ptr)
        }
        params.append("float *restrict y")
        args.append(ctx.value(i))
        return KernelCode(definition: """
            \(ctx.banner(i, "\(describe(node.op)) of \(what(a)) and \(what(b))"))
            static void \(name)(\(params.joined(separator: ", "))) {
            \(nest(l, hoist: hoist, body: body + "y[\(offset(l, 0, inner: true))] = \(f.cForward);\n", post: "",
                   vector: reference ? nil : vectorBody(l, f, a, b)))}
            """, call: "\(name)(\(args.joined(separator: ", ")));")
    }

    /// The C pointer an operand is read from; nil for a literal.
    static func pointer(_ ctx: EmitContext, _ node: Node, _ o: Operand) -> String? {
        switch o.source {
        case let .value(j): return ctx.value(j)
        case let .param(p): return ctx.param(node, p)
        case .scalar: return nil
        }
    }

    /// For the banner: "[C, 1, 1] sigmoid(%3)".
    static func what(_ o: Operand) -> String {
        let name: String
        switch o.source {
        case let .value(j): name = "%\(j)"
        case let .param(p): name = p
        case let .scalar(x): return "\(x)"
        }
        return CSyntax.list(o.shape) + " " + (o.pre.map { "\($0.name)(\(name))" } ?? name)
    }

    // MARK: training

    static func backward(_ ctx: EmitContext, _ t: TrainLayout, _ i: Int) -> BackwardCode {
        let g = ctx.graph, node = g.nodes[i], (f, a, b) = operands(g, i)
        func grad(_ o: Operand) -> String? {
            switch o.source {
            case let .value(j): return t.gradPointer(g, j)
            case let .param(p): return g.param(node.paramName(p))?.trainable == true ? ctx.grad(node, p) : nil
            case .scalar: return nil
            }
        }
        let (da, db) = (grad(a), grad(b))
        guard da != nil || db != nil, let dy = t.gradPointer(g, i) else { return BackwardCode(statements: ctx.ruleHead(i)) }
        let reference = ctx.schedule.reference
        let l = loops(node.shape, a, b, reference: reference)
        // Only the values the gradients read (add and sub read none).
        let used = [(da, f.cBackward.a, a.pre, "va"), (db, f.cBackward.b, b.pre, "vb")].filter { $0.0 != nil }
        let needs = Set(used.flatMap { u in ["va", "vb"].filter { u.1.contains($0) } + (u.2 != nil ? [u.3] : []) })
        var (hoist, body) = reads(l, a, b, reference: reference, needs: needs)
        body = "const float g = dy[\(offset(l, 0, inner: true))];\n" + body
        var post = ""
        var params = ["int nb"], args = ["nb"]
        for (p, o) in [("a", a), ("b", b)] where needs.contains("v" + p) {
            guard let ptr = pointer(ctx, node, o) else { continue }
            params.append("const float *restrict \(p)")
            args.append(ptr)
        }
        // ∂a and ∂b may be one buffer (x · x); the values never alias them.
        params.append("const float *restrict dy")
        args.append(dy)
        for (k, o, d, expr) in [(1, a, da, f.cBackward.a), (2, b, db, f.cBackward.b)] {
            guard let d else { continue }
            let p = k == 1 ? "da" : "db", v = k == 1 ? "va" : "vb"
            params.append("float *\(p)")
            args.append(d)
            // Through an operand's fused activation: ∂raw = ∂v · act'(raw), the same along the loop.
            let outer = !reference && l[l.count - 1].strides[k] == 0
            let at = offset(l, k, inner: !outer)
            let chain = o.pre.map {
                " * nn_act_grad(\($0.cArgs), \(k == 1 ? "a" : "b")[\(at)], \(v))"
            } ?? ""
            if outer {
                hoist += "float s\(p) = 0;\n"
                body += "s\(p) += \(expr);\n"
                post += "\(p)[\(at)] += s\(p)\(chain);\n"
            } else {
                body += "\(p)[\(at)] += (\(expr))\(chain);\n"
            }
        }
        let name = ctx.kernelName(i, node.op.typeName + "_backward")
        return BackwardCode(definitions: """
            /* ∂ layer "\(CSyntax.comment(node.name))": \(describe(node.op)) of \(what(a)) and \(what(b)) -> \(CSyntax.list(node.shape)) */
            static void \(name)(\(params.joined(separator: ", "))) {
            \(nest(l, hoist: hoist, body: body, post: post))}

            """, statements: ctx.ruleHead(i) + "    \(name)(\(args.joined(separator: ", ")));\n")
    }
}

private extension String {
    /// Each line prefixed with `pad`.
    func indented(_ pad: String) -> String {
        split(separator: "\n", omittingEmptySubsequences: false).dropLast().map { pad + $0 + "\n" }.joined()
    }
}

extension BinaryFunction {
    /// The C of f(va, vb).
    var cForward: String {
        switch self {
        case .add: return "va + vb"
        case .sub: return "va - vb"
        case .mul: return "va * vb"
        case .div: return "va / vb"
        case .pow: return "powf(va, vb)"
        // torch.maximum/minimum: a NaN in either operand wins.
        case .maximum: return "(va > vb || va != va) ? va : vb"
        case .minimum: return "(va < vb || va != va) ? va : vb"
        case .prelu: return "va > 0 ? va : vb * va"
        }
    }

    /// The C of g·∂f/∂a and g·∂f/∂b, as PyTorch's autograd (derivatives.yaml): pow's ∂a is 0
    /// where b = 0 and its ∂b is 0 where a = 0 and b ≥ 0; maximum and minimum give each side of
    /// a tie half the gradient.
    var cBackward: (a: String, b: String) {
        switch self {
        case .add: return ("g", "g")
        case .sub: return ("g", "-g")
        case .mul: return ("g * vb", "g * va")
        case .div: return ("g / vb", "-g * ((va / vb) / vb)")
        case .pow: return ("vb == 0 ? 0.0f : g * (vb * powf(va, vb - 1.0f))",
                           "(va == 0 && vb >= 0) ? 0.0f : g * (powf(va, vb) * logf(va))")
        case .maximum: return ("va == vb ? g * 0.5f : va < vb ? 0.0f : g", "va == vb ? g * 0.5f : va > vb ? 0.0f : g")
        case .minimum: return ("va == vb ? g * 0.5f : va > vb ? 0.0f : g", "va == vb ? g * 0.5f : va < vb ? 0.0f : g")
        case .prelu: return ("va > 0 ? g : vb * g", "va > 0 ? 0.0f : va * g")
        }
    }
}
