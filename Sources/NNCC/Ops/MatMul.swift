/// matmul: NumPy's matmul of [..., M, K] and [..., K, N] per example, the
/// leading axes broadcast (attention's q·kᵀ and p·v over heads). The right
/// operand is a second result or a frozen constant. Each output matrix is one
/// product: on the packed GEMM when it is large enough to pay for packing
/// (a constant B is packed once at load, a computed one per product into
/// scratch), else on loops that gcc vectorizes along N; the reference build
/// runs a plain triple loop. Backward: ∂A += ∂Y·Bᵀ and ∂B += Aᵀ·∂Y, summed
/// over broadcast axes; on the GEMM where forward is (Bᵀ packed, Aᵀ copied and
/// ∂Y packed per product, in training scratch), else row dots and axpys.
enum MatMulOps: OpFamily {
    struct Dims {
        var m, k, n: Int
        /// The leading (broadcast) axes of the result, and each operand's matrix stride along them (0 when broadcast).
        var lead: [Int], aStrides: [Int], bStrides: [Int]
        /// Matrices per example of A, B (B: 0 when it is a constant shared by the batch) and Y.
        var aCount, bCount, yCount: Int
        /// Distinct B matrices (a constant's).
        var bMatrices: Int
        var constant: Bool
    }

    static func dims(_ g: Graph, _ i: Int) -> Dims {
        let node = g.nodes[i], a = g.nodes[node.inputs[0]].shape
        guard case let .matmul(c) = node.op else { preconditionFailure("not a matmul: \(node.op)") }
        let b = c ?? g.nodes[node.inputs[1]].shape
        let lead = Array(node.shape.dropLast(2))
        func strides(_ s: [Int]) -> [Int] {
            let l = Array(repeating: 1, count: lead.count - (s.count - 2)) + s.dropLast(2)
            return l.indices.map { l[$0] == 1 ? 0 : l[($0 + 1)...].reduce(1, *) }
        }
        let bm = b.dropLast(2).reduce(1, *)
        return Dims(m: a[a.count - 2], k: a[a.count - 1], n: b[b.count - 1], lead: lead, aStrides: strides(a),
                    bStrides: strides(b), aCount: a.dropLast(2).reduce(1, *), bCount: c == nil ? bm : 0,
                    yCount: lead.reduce(1, *), bMatrices: bm, constant: c != nil)
    }

    static func useGemm(_ d: Dims, _ s: Schedule) -> Bool { !s.reference && d.m * d.n * d.k >= 4096 && d.n >= 8 }

    static func plan(_ g: Graph, _ i: Int, _ s: Schedule, training: Bool) -> KernelPlan {
        let d = dims(g, i)
        guard useGemm(d, s) else {
            return KernelPlan(kernel: s.reference ? .naive : .loops, backward: training ? .loops : nil)
        }
        let panels = d.k * s.padded(d.n)
        return KernelPlan(kernel: .gemm, scratchFloats: d.constant ? 0 : panels, packedFloats: d.constant ? d.bMatrices * panels : 0,
                          gemmRows: training ? max(d.m, d.k) : d.m, backward: training ? .gemm : nil)
    }

    static func templates(_ node: Node) -> [Template] { node.plan.kernel == .gemm ? [.gemm] : [] }

    /// The loops over the batch and the leading axes around `body`, with `am`, `bm`, `ym` (and
    /// `dam`, `dbm`, `dym` when `grads`) pointing at the current matrices.
    static func nest(_ d: Dims, bIndex: Bool, grads: (a: Bool, b: Bool)?, body: String) -> String {
        // Backward reads B for ∂A and A for ∂B only.
        let (readA, readB) = grads.map { ($0.b, $0.a) } ?? (true, true)
        var s = "    for (size_t e = 0; e < (size_t)nb; e++)\n"
        var pad = "    "
        for (k, n) in d.lead.enumerated() {
            pad += "    "
            s += "\(pad)for (int i\(k) = 0; i\(k) < \(n); i\(k)++)\n"
        }
        func index(_ strides: [Int]) -> String {
            let t = strides.indices.filter { strides[$0] != 0 }.map { strides[$0] == 1 ? "i\($0)" : "i\($0) * \(strides[$0])" }
            return t.isEmpty ? "0" : "(" + t.joined(separator: " + ") + ")"
        }
        let yStrides = d.lead.indices.map { d.lead[($0 + 1)...].reduce(1, *) }
        let (mk, kn, mn) = (d.m * d.k, d.k * d.n, d.m * d.n)
        let aAt = "(e * \(d.aCount) + \(index(d.aStrides))) * \(mk)"
        let bAt = "(e * \(d.bCount) + \(index(d.bStrides))) * \(kn)"
        let yAt = "(e * \(d.yCount) + \(index(yStrides))) * \(mn)"
        pad += "    "
        var decl = readA ? "const float *am = a + \(aAt);\n" : ""
        if readB { decl += bIndex ? "const size_t bi = \(index(d.bStrides));\n" : "const float *bm = b + \(bAt);\n" }
        if let grads {
            decl += "const float *gm = dy + \(yAt);\n"
            if grads.a { decl += "float *dam = da + \(aAt);\n" }
            if grads.b { decl += "float *dbm = db + \(bAt);\n" }
        } else {
            decl += "float *ym = y + \(yAt);\n"
        }
        let inner = (decl + body).split(separator: "\n").map { "\(pad)    \($0)\n" }.joined()
        return s + "\(pad.dropLast(4))    {\n" + inner + "\(pad.dropLast(4))    }\n"
    }

    static func forward(_ ctx: EmitContext, _ i: Int) -> KernelCode? {
        let g = ctx.graph, node = g.nodes[i], d = dims(g, i), s = ctx.schedule
        let name = ctx.kernelName(i, "matmul")
        let b = d.constant ? ctx.param(node, "constant") : ctx.value(node.inputs[1])
        let what = "matmul [\(d.m), \(d.k)] x [\(d.k), \(d.n)]" + (d.lead.isEmpty ? "" : " over \(CSyntax.list(d.lead))")
            + (d.constant ? ", B constant" : "")
        let (m, k, n) = (d.m, d.k, d.n)
        switch node.plan.kernel {
        case .gemm:
            let panels = k * s.padded(n)
            let body: String, packing: String
            if d.constant {
                body = "nn_gemm(\(m), \(n), \(k), am, \(k), bp + bi * \(panels), ym, \(n), e0);"
                packing = """
                        /* layer "\(CSyntax.comment(node.name))": matmul constant B, \(d.bMatrices) matrices [\(k), \(n)] -> panels of \(s.panelWidth) */
                        for (int j = 0; j < \(d.bMatrices); j++)
                            nn_pack_rows(\(k), \(n), \(b) + (size_t)j * \(k * n), \(n), \(ctx.packed(i)) + (size_t)j * \(panels));
                    """
            } else {
                body = "nn_pack_rows(\(k), \(n), bm, \(n), bp);\nnn_gemm(\(m), \(n), \(k), am, \(k), bp, ym, \(n), e0);"
                packing = ""
            }
            return KernelCode(definition: """
                \(ctx.banner(i, what + ", on the GEMM"))
                static void \(name)(int nb, const float *restrict a, \(d.constant ? "" : "const float *restrict b, ")float *restrict y, \(d.constant ? "const " : "")float *restrict bp) {
                    const nn_epilogue e0 = {.act = NN_ACT_NONE};
                \(nest(d, bIndex: d.constant, grads: nil, body: body))}
                """, call: "\(name)(nb, \(ctx.value(node.inputs[0])), \(d.constant ? "" : b + ", ")\(ctx.value(i)), \(d.constant ? ctx.packed(i) : ctx.scratch(i)));",
                packing: packing)
        case .naive:
            let body = """
                for (int r = 0; r < \(m); r++)
                    for (int c = 0; c < \(n); c++) {
                        float s = 0;
                        for (int j = 0; j < \(k); j++) s += am[r * \(k) + j] * bm[j * \(n) + c];
                        ym[r * \(n) + c] = s;
                    }
                """
            return KernelCode(definition: """
                \(ctx.banner(i, what + ", naive"))
                static void \(name)(int nb, const float *restrict a, const float *restrict b, float *restrict y) {
                \(nest(d, bIndex: false, grads: nil, body: body))}
                """, call: "\(name)(nb, \(ctx.value(node.inputs[0])), \(b), \(ctx.value(i)));")
        default:
            let body = """
                for (int r = 0; r < \(m); r++) {
                    float *yr = ym + r * \(n);
                    for (int c = 0; c < \(n); c++) yr[c] = 0;
                    for (int j = 0; j < \(k); j++) {
                        const float av = am[r * \(k) + j], *br = bm + j * \(n);
                        for (int c = 0; c < \(n); c++) yr[c] += av * br[c];
                    }
                }
                """
            return KernelCode(definition: """
                \(ctx.banner(i, what))
                static void \(name)(int nb, const float *restrict a, const float *restrict b, float *restrict y) {
                \(nest(d, bIndex: false, grads: nil, body: body))}
                """, call: "\(name)(nb, \(ctx.value(node.inputs[0])), \(b), \(ctx.value(i)));")
        }
    }

    // MARK: training

    /// GEMM backward's scratch: Bᵀ as panels (for ∂A), Aᵀ and ∂Y as panels (for ∂B).
    struct Saved { var bt, at, dyp: Slot }

    static func reserve(_ g: Graph, _ i: Int, _ s: Schedule, _ layout: inout TrainLayout) {
        guard g.gradients!.needsGrad[i], g.nodes[i].plan.backward == .gemm else { return }
        let d = dims(g, i)
        layout.save(i, Saved(bt: layout.take(d.n * s.padded(d.k)), at: layout.take(d.k * d.m), dyp: layout.take(d.m * s.padded(d.n))))
    }

    static func backward(_ ctx: EmitContext, _ t: TrainLayout, _ i: Int) -> BackwardCode {
        let g = ctx.graph, node = g.nodes[i], d = dims(g, i)
        let da = t.gradPointer(g, node.inputs[0]), db = d.constant ? nil : t.gradPointer(g, node.inputs[1])
        guard da != nil || db != nil, let dy = t.gradPointer(g, i) else { return BackwardCode(statements: ctx.ruleHead(i)) }
        let (m, k, n) = (d.m, d.k, d.n)
        if node.plan.backward == .gemm { return gemmBackward(ctx, t, i, d, da: da, db: db, dy: dy) }
        var body = "for (int r = 0; r < \(m); r++) {\n    const float *gr = gm + r * \(n);\n"
        if da != nil {
            body += """
                    for (int j = 0; j < \(k); j++) {
                        const float *br = bm + j * \(n);
                        float s = 0;
                        for (int c = 0; c < \(n); c++) s += gr[c] * br[c];
                        dam[r * \(k) + j] += s;
                    }

                """
        }
        if db != nil {
            body += """
                    for (int j = 0; j < \(k); j++) {
                        const float av = am[r * \(k) + j];
                        float *dbr = dbm + j * \(n);
                        for (int c = 0; c < \(n); c++) dbr[c] += av * gr[c];
                    }

                """
        }
        body += "}\n"
        // ∂A and ∂B may be one buffer (x·xᵀ of one result): no restrict on them.
        var params = ["int nb"], args = ["nb"]
        if db != nil { params.append("const float *restrict a"); args.append(ctx.value(node.inputs[0])) }
        if da != nil {
            params.append("const float *restrict b")
            args.append(d.constant ? ctx.param(node, "constant") : ctx.value(node.inputs[1]))
        }
        params.append("const float *restrict dy")
        args.append(dy)
        if let da { params.append("float *da"); args.append(da) }
        if let db { params.append("float *db"); args.append(db) }
        let code = nest(d, bIndex: false, grads: (da != nil, db != nil), body: body)
        let name = ctx.kernelName(i, "matmul_backward")
        return BackwardCode(definitions: """
            /* ∂ layer "\(CSyntax.comment(node.name))": matmul [\(m), \(k)] x [\(k), \(n)]: ∂A += ∂Y·Bᵀ, ∂B += Aᵀ·∂Y */
            static void \(name)(\(params.joined(separator: ", "))) {
            \(code)}

            """, statements: ctx.ruleHead(i) + "    \(name)(\(args.joined(separator: ", ")));\n")
    }
}

extension MatMulOps {
    /// ∂A += ∂Y·Bᵀ and ∂B += Aᵀ·∂Y on the packed GEMM, one product per matrix pair.
    static func gemmBackward(_ ctx: EmitContext, _ t: TrainLayout, _ i: Int, _ d: Dims, da: String?, db: String?, dy: String) -> BackwardCode {
        let g = ctx.graph, node = g.nodes[i], (m, k, n) = (d.m, d.k, d.n), s = t.saved(i, as: Saved.self)
        var body = ""
        if da != nil {
            body += "nn_pack_transposed(\(k), \(n), bm, bt);\nnn_gemm(\(m), \(k), \(n), gm, \(n), bt, dam, \(k), add);\n"
        }
        if db != nil {
            body += "nn_transpose(\(m), \(k), am, at);\nnn_pack_rows(\(m), \(n), gm, \(n), dyp);\n"
            body += "nn_gemm(\(k), \(n), \(m), at, \(m), dyp, dbm, \(n), add);\n"
        }
        var params = ["int nb"], args = ["nb"]
        if db != nil { params += ["const float *restrict a", "float *restrict at", "float *restrict dyp"]; args += [ctx.value(node.inputs[0]), s.at.pointer, s.dyp.pointer] }
        if da != nil {
            params += ["const float *restrict b", "float *restrict bt"]
            args += [d.constant ? ctx.param(node, "constant") : ctx.value(node.inputs[1]), s.bt.pointer]
        }
        params.append("const float *restrict dy")
        args.append(dy)
        if let da { params.append("float *da"); args.append(da) }
        if let db { params.append("float *db"); args.append(db) }
        let name = ctx.kernelName(i, "matmul_backward")
        return BackwardCode(definitions: """
            /* ∂ layer "\(CSyntax.comment(node.name))": matmul [\(m), \(k)] x [\(k), \(n)] on the GEMM: ∂A += ∂Y·Bᵀ, ∂B += Aᵀ·∂Y */
            static void \(name)(\(params.joined(separator: ", "))) {
                const nn_epilogue add = {.accumulate = 1, .act = NN_ACT_NONE};
            \(nest(d, bIndex: false, grads: (da != nil, db != nil), body: body))}

            """, statements: ctx.ruleHead(i) + "    \(name)(\(args.joined(separator: ", ")));\n")
    }
}
