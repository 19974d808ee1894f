/// layernorm, groupnorm and instancenorm (PyTorch's LayerNorm, GroupNorm,
/// InstanceNorm1d/2d): per example, rows of contiguous elements are
/// normalized by their own mean and biased variance, `(x − μ)·rstd` with
/// `rstd = 1/√(σ² + eps)`, then scaled and shifted. Layer norm's rows are
/// the normalized axes and its weights follow the row; a group's row is its
/// channels (each `spatial` long), and instance norm's row one channel, with
/// a weight per channel. The statistics take two passes over the row (sum,
/// then squared deviations), by whole vectors; training keeps μ and rstd.
enum LayerNormOps: OpFamily {
    /// How a node's per-example result splits into rows.
    struct Rows {
        /// Rows per example, and elements per row.
        var count, length: Int
        /// A row holds `channels` runs of `spatial` elements, each with one
        /// weight (layer norm: spatial 1, a weight per element).
        var channels, spatial: Int
        /// Layer norm: every row reads the same weights; otherwise row r
        /// reads those of its channels, from (r mod count)·channels.
        var shared: Bool

        init(_ norm: Norm, _ shape: [Int]) {
            let size = shape.reduce(1, *)
            switch norm.kind {
            case let .layer(normalized):
                length = normalized.reduce(1, *)
                (count, channels, spatial, shared) = (size / length, length, 1, true)
            case let .group(groups):
                let c = shape[0]
                (count, channels, spatial, shared) = (groups, c / groups, size / c, false)
                length = channels * spatial
            case .instance:
                (count, channels, spatial, shared) = (shape[0], 1, size / shape[0], false)
                length = spatial
            }
        }

        /// C: row r's first weight in `p` (w, b, dw, db).
        func weights(_ p: String) -> String { shared || count == 1 ? p : "\(p) + (r % \(count)) * \(channels)" }
    }

    static func plan(_ g: Graph, _ i: Int, _ s: Schedule, training: Bool) -> KernelPlan {
        KernelPlan(kernel: .loops, backward: training ? .loops : nil)
    }

    static func norm(_ node: Node) -> Norm {
        guard case let .norm(n) = node.op else { preconditionFailure("not a layer/group/instance norm: \(node.op)") }
        return n
    }

    /// C that adds Σ_j term(j) over `n` elements into each accumulator (declared by the caller), by whole
    /// vectors first; `at(p)` reads p[j], as a vector or a float. The reference build sums one by one, and so
    /// do rows shorter than the narrowest vector.
    static func sums(_ n: Int, _ terms: [(acc: String, term: ((String) -> String) -> String)], reference: Bool,
                     indent: String = "") -> String {
        let scalar = terms.map { "\($0.acc) += \($0.term { p in "\(p)[j]" });" }.joined(separator: " ")
        if reference || n < 4 { return "for (int j = 0; j < \(n); j++) { \(scalar) }" }
        let vectors = terms.indices.map { "v\($0) = nn_splat(0)" }.joined(separator: ", ")
        let vector = terms.enumerated().map { k, t in "v\(k) += \(t.term { p in "nn_load(\(p) + j)" });" }.joined(separator: " ")
        let fold = terms.indices.map { "\(terms[$0].acc) += v\($0)[k];" }.joined(separator: " ")
        return ["{", "    nn_vf \(vectors);", "    int j = 0;",
                "    for (; j + NN_VW <= \(n); j += NN_VW) { \(vector) }",
                "    for (int k = 0; k < NN_VW; k++) { \(fold) }",
                "    for (; j < \(n); j++) { \(scalar) }", "}"].joined(separator: "\n" + indent)
    }

    static func describe(_ n: Norm, _ rows: Rows) -> String {
        var s: String
        switch n.kind {
        case let .layer(shape): s = "layernorm over the last axes \(CSyntax.list(shape))"
        case let .group(g): s = "groupnorm, \(g) groups of \(rows.channels) channels x \(rows.spatial)"
        case .instance: s = "instancenorm, \(rows.count) channels of \(rows.spatial)"
        }
        s += ": rows of \(rows.length), eps \(n.eps)"
        if !n.weight { s += ", no weight" }
        if !n.bias { s += ", no bias" }
        return s
    }

    /// The kernel normalizes; given `mean` and `rstd` (training) it also keeps each row's statistics there.
    static func forward(_ ctx: EmitContext, _ i: Int) -> KernelCode? {
        let node = ctx.graph.nodes[i], n = norm(node), rows = Rows(n, node.shape), L = rows.length
        let ref = ctx.schedule.reference
        var params = ["int nb", "const float *restrict x", "float *restrict y"]
        if n.weight { params.append("const float *restrict w") }
        if n.bias { params.append("const float *restrict b") }
        params += ["float *restrict mean", "float *restrict rstd"]
        // y = (x − μ)·a + t with a = rstd·w and t = b, per element (layer norm) or per channel.
        // wr, br: the row's weights, one per element (spatial 1) or per channel.
        var normalize = n.weight ? "const float *wr = \(rows.weights("w"));\n        " : ""
        normalize += n.bias ? "const float *br = \(rows.weights("b"));\n        " : ""
        if rows.spatial == 1 {
            normalize += "for (int j = 0; j < \(L); j++) yr[j] = (xr[j] - m) * \(n.weight ? "rs * wr[j]" : "rs")\(n.bias ? " + br[j]" : "");"
        } else {
            normalize += """
                for (int c = 0; c < \(rows.channels); c++) {
                            const float a = \(n.weight ? "rs * wr[c]" : "rs");
                            for (int j = c * \(rows.spatial); j < (c + 1) * \(rows.spatial); j++) yr[j] = (xr[j] - m) * a\(n.bias ? " + br[c]" : "");
                        }
                """
        }
        return KernelCode(definition: """
            \(ctx.banner(i, describe(n, rows)))
            static void \(ctx.kernelName(i, node.op.typeName))(\(params.joined(separator: ", "))) {
                for (size_t r = 0; r < (size_t)nb * \(rows.count); r++) {
                    const float *xr = x + r * \(L);
                    float *yr = y + r * \(L);
                    float s = 0, q = 0;
                    \(sums(L, [("s", { at in at("xr") })], reference: ref, indent: "        "))
                    const float m = s / \(L);
                    \(sums(L, [("q", { at in "(\(at("xr")) - m) * (\(at("xr")) - m)" })], reference: ref, indent: "        "))
                    const float rs = 1.0f / sqrtf(q / \(L) + \(CSyntax.float(n.eps)));
                    if (mean) { mean[r] = m; rstd[r] = rs; }
                    \(normalize)
                }
            }
            """, call: call(ctx, i, mean: "NULL", rstd: "NULL"))
    }

    static func call(_ ctx: EmitContext, _ i: Int, mean: String, rstd: String) -> String {
        let node = ctx.graph.nodes[i], n = norm(node)
        var args = ["nb", ctx.value(node.inputs[0]), ctx.value(i)]
        if n.weight { args.append(ctx.param(node, "weight")) }
        if n.bias { args.append(ctx.param(node, "bias")) }
        return "\(ctx.kernelName(i, node.op.typeName))(\((args + [mean, rstd]).joined(separator: ", ")));"
    }

    // MARK: training

    /// Each row's mean and 1/√(σ² + eps), from the training forward.
    struct Saved { var mean, rstd: Slot }

    static func reserve(_ g: Graph, _ i: Int, _ s: Schedule, _ layout: inout TrainLayout) {
        let rows = Rows(norm(g.nodes[i]), g.nodes[i].shape)
        layout.save(i, Saved(mean: layout.take(rows.count * g.maxBatch), rstd: layout.take(rows.count * g.maxBatch)))
    }

    static func trainingForward(_ ctx: EmitContext, _ t: TrainLayout, _ i: Int) -> String? {
        let s = t.saved(i, as: Saved.self)
        return call(ctx, i, mean: s.mean.pointer, rstd: s.rstd.pointer)
    }

    /// With g = ∂y·w and x̂ = (x − μ)·rstd over a row of L:
    /// ∂x += rstd·(g − Σg/L − x̂·Σ(g·x̂)/L), ∂w += Σ ∂y·x̂, ∂b += Σ ∂y.
    static func backward(_ ctx: EmitContext, _ t: TrainLayout, _ i: Int) -> BackwardCode {
        let g = ctx.graph, node = g.nodes[i], n = norm(node), rows = Rows(n, node.shape), L = rows.length
        let dx = t.gradPointer(g, node.inputs[0]), s = t.saved(i, as: Saved.self)
        guard let dy = t.gradPointer(g, i), dx != nil || n.weight || n.bias else { return BackwardCode() }
        let name = ctx.kernelName(i, node.op.typeName + "_backward"), ref = ctx.schedule.reference
        var params = ["int nb", "const float *restrict x"], args = ["nb", ctx.value(node.inputs[0])]
        if n.weight && dx != nil { params.append("const float *restrict w"); args.append(ctx.param(node, "weight")) }
        params += ["const float *restrict mean", "const float *restrict rstd", "const float *restrict dy"]
        args += [s.mean.pointer, s.rstd.pointer, dy]
        if let dx { params.append("float *restrict dx"); args.append(dx) }
        if n.weight { params.append("float *restrict dw"); args.append(ctx.grad(node, "weight")) }
        if n.bias { params.append("float *restrict db"); args.append(ctx.grad(node, "bias")) }
        let wdx = n.weight && dx != nil
        // Only ∂b: the row's input and statistics go unread.
        var body = dx == nil && !n.weight ? "(void)xr; (void)m; (void)rs;\n" : ""
        if rows.spatial == 1 {
            // Weights per element: Σg and Σg·(x − μ) first, then one pass for ∂x, ∂w and ∂b.
            let gTerm = { (at: (String) -> String) in wdx ? "\(at("gr")) * \(at("wr"))" : at("gr") }
            if wdx { body += "const float *wr = \(rows.weights("w"));\n" }
            if n.weight { body += "float *dwr = \(rows.weights("dw"));\n" }
            if n.bias { body += "float *dbr = \(rows.weights("db"));\n" }
            var each: [String] = []
            if dx != nil {
                body += "float sg = 0, sgx = 0;\n"
                body += sums(L, [("sg", gTerm), ("sgx", { at in "\(gTerm(at)) * (\(at("xr")) - m)" })], reference: ref) + "\n"
                body += "const float k1 = sg / \(L), k2 = sgx * rs * rs / \(L);\n"
                each.append("dxr[j] += rs * (\(gTerm { "\($0)[j]" }) - k1 - (xr[j] - m) * k2);")
            }
            if n.weight { each.append("dwr[j] += gr[j] * (xr[j] - m) * rs;") }
            if n.bias { each.append("dbr[j] += gr[j];") }
            body += "for (int j = 0; j < \(L); j++) { \(each.joined(separator: " ")) }\n"
        } else {
            // A weight per channel: each channel's Σ∂y and Σ∂y·(x − μ) give ∂w, ∂b and the row's sums.
            let S = rows.spatial
            if wdx { body += "const float *wr = \(rows.weights("w"));\n" }
            if n.weight { body += "float *dwr = \(rows.weights("dw"));\n" }
            if n.bias { body += "float *dbr = \(rows.weights("db"));\n" }
            let wc = wdx ? "wr[c] * " : ""
            if dx != nil { body += "float sg = 0, sgx = 0;\n" }
            body += "for (int c = 0; c < \(rows.channels); c++) {\n"
            body += "    const float *xc = xr + c * \(S), *gc = gr + c * \(S);\n"
            body += "    float sd = 0, sdx = 0;\n"
            body += "    " + sums(S, [("sd", { at in at("gc") }), ("sdx", { at in "\(at("gc")) * (\(at("xc")) - m)" })], reference: ref, indent: "    ") + "\n"
            if n.weight { body += "    dwr[c] += sdx * rs;\n" }
            if n.bias { body += "    dbr[c] += sd;\n" }
            if dx != nil { body += "    sg += \(wc)sd;\n    sgx += \(wc)sdx;\n" }
            body += "}\n"
            if dx != nil {
                body += "const float k1 = sg / \(L), k2 = sgx * rs * rs / \(L);\n"
                body += "for (int c = 0; c < \(rows.channels); c++) {\n"
                body += "    const float a = rs\(wdx ? " * wr[c]" : "");\n"
                body += "    for (int j = c * \(S); j < (c + 1) * \(S); j++) dxr[j] += a * gr[j] - rs * (k1 + (xr[j] - m) * k2);\n"
                body += "}\n"
            }
        }
        let indented = body.split(separator: "\n").map { "        " + $0 }.joined(separator: "\n")
        let definition = """
            \(ctx.banner(i, describe(n, rows) + "; backward"))
            static void \(name)(\(params.joined(separator: ", "))) {
                for (size_t r = 0; r < (size_t)nb * \(rows.count); r++) {
                    const float *xr = x + r * \(L), *gr = dy + r * \(L);
                    \(dx != nil ? "float *dxr = dx + r * \(L);\n        " : "")const float m = mean[r], rs = rstd[r];
            \(indented)
                }
            }

            """
        return BackwardCode(definitions: definition, statements: ctx.ruleHead(i) + "    \(name)(\(args.joined(separator: ", ")));\n")
    }
}
