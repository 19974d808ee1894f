/// upsample (Resize in IR/Op.swift): each result index of a resized axis maps
/// to a coordinate of the input axis. Nearest reads the element there, so
/// inferShapes lowers it to a `select` (whose backward sums the copies);
/// linear, this family, reads the two elements around it with weights
/// 1 − λ and λ, one factor per resized axis (bilinear: four terms). The
/// indices and weights are tables computed here with PyTorch's arithmetic
/// (JSON layers) or ONNX Runtime's (ONNX files), so nearest rounds alike.
/// Backward adds ∂y into the same elements with the same weights.
extension Resize {
    /// Result sizes and the scale of each resized axis for an operand of shape `x`.
    func resolve(_ x: [Int], fail: (String) -> NNCCError) throws -> [(input: Int, output: Int, scale: Float?)] {
        let k = axes
        guard k >= 1, k <= x.count else {
            throw fail("resizes \(k) axes of an input of \(x.count) axes per example \(shapeText(x))")
        }
        return try (0..<k).map { a in
            let n = x[x.count - k + a]
            let scale = scales?[a]
            var out: Int
            if let s = sizes?[a] {
                out = s
            } else if let s = scale {
                guard s.isFinite, s > 0 else { throw fail("scale \(s) must be a positive number") }
                // floor(n · scale): PyTorch multiplies in Double, ONNX Runtime in Float.
                let v = reciprocal ? (Double(n) * Double(s)).rounded(.down) : Double((Float(n) * s).rounded(.down))
                guard v <= Double(Limits.dimension) else { throw fail("scale \(s) makes axis \(x.count - k + a) too large") }
                out = Int(v)
            } else {
                throw fail("neither sizes nor scales are given")
            }
            guard out >= 1, out <= Limits.dimension else {
                throw fail("axis \(x.count - k + a) of \(shapeText(x)) would resize to \(out)")
            }
            return (n, out, scale)
        }
    }

    func outputShape(_ x: [Int], fail: (String) -> NNCCError) throws -> [Int] {
        if case .linear = mode, axes > 3 { throw fail("linear resizing of more than 3 axes is not supported") }
        return Array(x.dropLast(axes)) + (try resolve(x, fail: fail).map(\.output))
    }

    /// The input coordinate of result index `o` of an axis of `n` resized to `out`.
    func coordinate(_ o: Int, input n: Int, output out: Int, scale: Float?) -> Float {
        // x / scale: PyTorch multiplies by the reciprocal of the given scale (else by n / out) in
        // Float; ONNX Runtime's results are those of dividing by the scale (else by out / n) in Double.
        func scaled(_ x: Float) -> Float {
            if reciprocal { return x * (scale.map { Float(1 / Double($0)) } ?? Float(n) / Float(out)) }
            return Float(Double(x) / (scale.map(Double.init) ?? Double(out) / Double(n)))
        }
        // ONNX Runtime copies an axis that keeps its length, whatever the scale.
        if !reciprocal && out == n { return Float(o) }
        switch coordinates {
        case .alignCorners: return out > 1 ? Float(o) * (Float(n - 1) / Float(out - 1)) : 0
        case .asymmetric: return scaled(Float(o))
        case .halfPixel: return scaled(Float(o) + 0.5) - 0.5
        case .pytorchHalfPixel: return out > 1 ? scaled(Float(o) + 0.5) - 0.5 : 0
        }
    }

    /// Nearest: the index each result index reads, rounded as `mode` says and clamped into the axis.
    func nearestSelection(_ x: [Int], fail: (String) -> NNCCError) throws -> [AxisSelection] {
        guard case let .nearest(rounding) = mode else { preconditionFailure("not a nearest resize") }
        let lead = x.dropLast(axes).map { AxisSelection.range(start: 0, step: 1, count: $0) }
        return lead + (try resolve(x, fail: fail)).map { n, out, scale in
            .list((0..<out).map { o in
                // PyTorch's nearest copies an axis that keeps its length, whatever the scale.
                if reciprocal && rounding == .floor && out == n { return o }
                let c = coordinate(o, input: n, output: out, scale: scale), f = c.rounded(.down)
                let r: Float
                switch rounding {
                case .floor: r = f
                case .ceil: r = c.rounded(.up)
                case .roundPreferFloor: r = c - f == 0.5 ? f : c.rounded()
                case .roundPreferCeil: r = c - f == 0.5 ? f + 1 : c.rounded()
                }
                return r.isFinite ? Int(max(0, min(Float(n - 1), r))) : 0
            })
        }
    }

    /// Linear: per result index, the two input indices and their weights.
    func linearTables(_ n: Int, _ out: Int, _ scale: Float?) -> [(i0: Int, i1: Int, w0: Float, w1: Float)] {
        (0..<out).map { o in
            let c = max(0, min(Float(n - 1), coordinate(o, input: n, output: out, scale: scale)))
            let i0 = Int(c), i1 = i0 < n - 1 ? i0 + 1 : i0
            let l1 = c - Float(i0)
            return (i0, i1, 1 - l1, l1)
        }
    }
}

enum ResizeOps: OpFamily {
    static func plan(_ g: Graph, _ i: Int, _ s: Schedule, training: Bool) -> KernelPlan {
        KernelPlan(kernel: s.reference ? .naive : .loops, backward: training ? (s.reference ? .naive : .loops) : nil)
    }

    static func resize(_ node: Node) -> Resize {
        guard case let .resize(r) = node.op else { preconditionFailure("not a resize: \(node.op)") }
        return r
    }

    /// A function `name(nb, x, y)` computing y (forward), or adding ∂y into ∂x (backward), with
    /// file-scope tables. Each result element is a sum of 2^k terms over the k resized axes that
    /// change; an axis that keeps its size and coordinates is a plain loop. The reference build
    /// decodes each element's indices from a flat loop and tables every resized axis.
    static func kernel(_ name: String, banner: String, r: Resize, x: [Int], backward: Bool, reference: Bool) -> String {
        let rank = x.count, k = r.axes
        let dims = (try? r.resolve(x) { NNCCError($0) }) ?? []
        let y = Array(x.dropLast(k)) + dims.map(\.output)
        let xs = x.indices.map { x[($0 + 1)...].reduce(1, *) }, ys = y.indices.map { y[($0 + 1)...].reduce(1, *) }
        var tables = ""
        // Per axis, the (offset, weight) terms it contributes.
        var terms: [[(offset: String, weight: String?)]] = []
        for a in 0..<rank {
            let j = a - (rank - k)
            guard j >= 0 else { terms.append([(a == rank - 1 ? "i\(a)" : "i\(a) * \(xs[a])", nil)]); continue }
            let t = r.linearTables(dims[j].input, dims[j].output, dims[j].scale)
            if !reference && t.enumerated().allSatisfy({ $0.element.i0 == $0.offset && $0.element.w1 == 0 }) {
                terms.append([(xs[a] == 1 ? "i\(a)" : "i\(a) * \(xs[a])", nil)])
                continue
            }
            let p = "\(name)_a\(a)"
            func ints(_ v: [Int]) -> String { v.map(String.init).joined(separator: ", ") }
            func floats(_ v: [Float]) -> String { v.map(CSyntax.float).joined(separator: ", ") }
            tables += "static const int \(p)_i0[\(t.count)] = {\(ints(t.map { $0.i0 * xs[a] }))};\n"
            tables += "static const int \(p)_i1[\(t.count)] = {\(ints(t.map { $0.i1 * xs[a] }))};\n"
            tables += "static const float \(p)_w0[\(t.count)] = {\(floats(t.map(\.w0)))};\n"
            tables += "static const float \(p)_w1[\(t.count)] = {\(floats(t.map(\.w1)))};\n"
            terms.append([("\(p)_i0[i\(a)]", "\(p)_w0[i\(a)]"), ("\(p)_i1[i\(a)]", "\(p)_w1[i\(a)]")])
        }
        // Every combination of one term per axis.
        var combos: [(offsets: [String], weights: [String])] = [([], [])]
        for axis in terms {
            combos = combos.flatMap { c in axis.map { (c.offsets + [$0.offset], c.weights + ($0.weight.map { [$0] } ?? [])) } }
        }
        let xsize = x.reduce(1, *), ysize = y.reduce(1, *)
        var s = tables + banner + "\n" + EmitContext.perExample(name, backward: backward, xsize: xsize, ysize: ysize)
        var pad = "        "
        let yo: String
        if reference {
            s += "\(pad)for (int o = 0; o < \(ysize); o++) {\n"
            pad += "    "
            for a in 0..<rank { s += "\(pad)const int i\(a) = o / \(ys[a]) % \(y[a]);\n" }
            yo = "o"
        } else {
            for a in 0..<rank {
                s += "\(pad)for (int i\(a) = 0; i\(a) < \(y[a]); i\(a)++)\n"
                pad += "    "
            }
            s += "\(pad){\n"
            pad += "    "
            yo = y.indices.map { ys[$0] == 1 ? "i\($0)" : "i\($0) * \(ys[$0])" }.joined(separator: " + ")
        }
        func term(_ c: (offsets: [String], weights: [String])) -> (String, String) {
            (c.offsets.joined(separator: " + "), c.weights.isEmpty ? "1.0f" : c.weights.joined(separator: " * "))
        }
        if backward {
            s += "\(pad)const float g = yb[\(yo)];\n"
            for c in combos {
                let (o, w) = term(c)
                s += "\(pad)xb[\(o)] += \(w) * g;\n"
            }
        } else {
            s += "\(pad)yb[\(yo)] = " + combos.map { c in let (o, w) = term(c); return "\(w) * xb[\(o)]" }
                .joined(separator: "\n\(pad)    + ") + ";\n"
        }
        pad.removeLast(4)
        s += "\(pad)}\n"
        return s + "    }\n}\n"
    }

    static func describe(_ r: Resize, _ x: [Int], _ y: [Int]) -> String {
        "linear resize of the last \(r.axes) axes, \(r.coordinates.rawValue), \(shapeText(x)) -> \(shapeText(y))"
    }

    static func forward(_ ctx: EmitContext, _ i: Int) -> KernelCode? {
        let g = ctx.graph, node = g.nodes[i], x = g.nodes[node.inputs[0]].shape, r = resize(node)
        let name = ctx.kernelName(i, "resize")
        return KernelCode(definition: kernel(name, banner: ctx.banner(i, describe(r, x, node.shape)), r: r, x: x, backward: false,
                                             reference: node.plan.kernel == .naive),
                          call: "\(name)(nb, \(ctx.value(node.inputs[0])), \(ctx.value(i)));")
    }

    static func backward(_ ctx: EmitContext, _ t: TrainLayout, _ i: Int) -> BackwardCode {
        let g = ctx.graph, node = g.nodes[i], x = g.nodes[node.inputs[0]].shape, r = resize(node)
        guard let dx = t.gradPointer(g, node.inputs[0]), let dy = t.gradPointer(g, i) else { return BackwardCode(statements: ctx.ruleHead(i)) }
        let name = ctx.kernelName(i, "resize_backward")
        let banner = "/* ∂ layer \"\(CSyntax.comment(node.name))\": ∂x += ∂y through the \(describe(r, x, node.shape)) */"
        return BackwardCode(definitions: kernel(name, banner: banner, r: r, x: x, backward: true, reference: node.plan.backward == .naive) + "\n",
                            statements: ctx.ruleHead(i) + "    \(name)(nb, \(dy), \(dx));\n")
    }
}
