/// conv_transpose1d/2d: the adjoint of a conv2d, whose input gradient code it
/// reuses. Per image and group, y = col2im(Wᵀ·x) + bias, Wᵀ packed once at
/// load; backward is that conv: ∂x += W·im2col(∂y) and ∂W += x·im2col(∂y)ᵀ,
/// both on the GEMM (templates/conv_transpose.c). The reference build
/// scatters every operand pixel through every tap with plain loops.
enum ConvTransposeOps: OpFamily {
    static func layer(_ node: Node) -> ConvTranspose {
        guard case let .convTranspose(t) = node.op else { preconditionFailure("not a conv_transpose: \(node.op)") }
        return t
    }

    /// The dims of the conv whose input gradient the layer computes: its input is
    /// the result (C_out channels) and its filters the operand's C_in channels.
    static func dims(_ g: Graph, _ i: Int) -> ConvDims {
        let node = g.nodes[i], t = layer(node)
        let x = PoolOps.imageShape(g.nodes[node.inputs[0]].shape), y = PoolOps.imageShape(node.shape)
        let conv = Conv2D(filters: x.c, kernel: t.kernel, stride: t.stride, padding: .explicit(t.pads.top, t.pads.left),
                          dilation: t.dilation, groups: t.groups, bias: false, is1D: t.is1D)
        return ConvDims(c: y.c, h: y.h, w: y.w, f: x.c, oh: x.h, ow: x.w, groups: t.groups, conv: conv)
    }

    /// The operand packed as row panels, then the columns Wᵀ·x, per image and group.
    static func scratch(_ d: ConvDims, _ s: Schedule) -> Int { d.fg * s.padded(d.n) + d.k * d.n }

    static func plan(_ g: Graph, _ i: Int, _ s: Schedule, training: Bool) -> KernelPlan {
        let d = dims(g, i)
        if s.reference { return KernelPlan(kernel: .naive, backward: training ? .naive : nil) }
        return KernelPlan(kernel: .gemm, scratchFloats: scratch(d, s), packedFloats: d.f * d.k, gemmRows: s.rowsPerTile,
                          backward: training ? .gemm : nil)
    }

    static func templates(_ node: Node) -> [Template] { [.convTranspose] }

    static func describe(_ t: ConvTranspose, _ d: ConvDims) -> String {
        let p = t.pads
        return "\(d.f)->\(d.c) kernel \(t.kernel.0)x\(t.kernel.1) stride \(t.stride.0),\(t.stride.1) "
            + "pad \(p.top),\(p.left),\(p.bottom),\(p.right) output_padding \(t.outputPadding.0),\(t.outputPadding.1) "
            + "dilation \(t.dilation.0),\(t.dilation.1) groups \(t.groups)"
    }

    static func forward(_ ctx: EmitContext, _ i: Int) -> KernelCode? {
        let node = ctx.graph.nodes[i], d = dims(ctx.graph, i), t = layer(node), s = ctx.schedule
        let reference = node.plan.kernel == .naive
        let name = ctx.kernelName(i, "conv_transpose\(t.kernel.0)x\(t.kernel.1)")
        let what = "\(node.op.typeName) \(describe(t, d)), " + (reference ? "naive reference" : "GEMM Wᵀ·x then col2im")
        let xg = "x + ((size_t)b * \(d.f) + (size_t)g * \(d.fg)) * \(d.n)"
        let yg = "y + ((size_t)b * \(d.c) + (size_t)g * \(d.cg)) * \(d.h * d.w)"
        let wg = "w + (size_t)g * \(d.fg * d.k)", bg = "bias ? bias + g * \(d.cg) : NULL"
        let body = reference
            ? "nn_conv_transpose_naive(\(xg), s, \(d.fg), \(wg), \(bg), \(yg));"
            : "nn_conv_transpose_gemm(\(xg), s, \(d.fg), \(wg), \(bg), \(yg), scratch, scratch + \(d.fg * s.padded(d.n)));"
        let definition = """
            \(ctx.banner(i, what))
            static void \(name)(int nb, const float *restrict x, const float *restrict w, const float *bias, float *restrict y,
                    float *restrict scratch) {
                const nn_conv_shape s = \(d.shapeLiteral);
                (void)scratch;
                for (int b = 0; b < nb; b++)
                    for (int g = 0; g < \(d.groups); g++)
                        \(body)
            }
            """
        let weight = ctx.param(node, "weight"), bias = ctx.hasParam(node, "bias") ? ctx.param(node, "bias") : "NULL"
        let call = "\(name)(nb, \(ctx.value(node.inputs[0])), \(reference ? weight : ctx.packed(i)), \(bias), \(ctx.value(i)), \(ctx.scratch(i)));"
        let packing = reference ? "" : """
                /* layer "\(CSyntax.comment(node.name))": \(node.op.typeName) weight [\(d.f), \(d.cg), \(t.is1D ? "" : "\(t.kernel.0), ")\(t.kernel.1)] -> Wᵀ [\(d.k)][\(d.fg)] per group */
                for (int g = 0; g < \(d.groups); g++)
                    nn_transpose(\(d.fg), \(d.k), \(weight) + (size_t)g * \(d.fg * d.k), \(ctx.packed(i)) + (size_t)g * \(d.fg * d.k));
            """
        return KernelCode(definition: definition, call: call, packing: packing)
    }

    // MARK: training

    /// im2col of ∂y for one image and group, its transpose as panels (for ∂W) and as row panels (for ∂x).
    struct Saved { var col, colT, colp: Slot }

    static func reserve(_ g: Graph, _ i: Int, _ s: Schedule, _ layout: inout TrainLayout) {
        guard g.gradients!.needsGrad[i], !s.reference else { return }
        let d = dims(g, i)
        layout.save(i, Saved(col: layout.take(d.k * d.n), colT: layout.take(d.n * s.padded(d.k)),
                             colp: layout.take(d.k * s.padded(d.n))))
    }

    static func backward(_ ctx: EmitContext, _ t: TrainLayout, _ i: Int) -> BackwardCode {
        let g = ctx.graph, node = g.nodes[i], d = dims(g, i)
        guard let dy = t.gradPointer(g, i) else { return BackwardCode(statements: ctx.ruleHead(i)) }
        let x = ctx.value(node.inputs[0])
        let xg = "\(x) + ((size_t)b * \(d.f) + (size_t)gr * \(d.fg)) * \(d.n)"
        let dxg = t.gradPointer(g, node.inputs[0]).map { "\($0) + ((size_t)b * \(d.f) + (size_t)gr * \(d.fg)) * \(d.n)" } ?? "NULL"
        let dyg = "\(dy) + ((size_t)b * \(d.c) + (size_t)gr * \(d.cg)) * \(d.h * d.w)"
        let w = "\(ctx.param(node, "weight")) + (size_t)gr * \(d.fg * d.k)", dW = "\(ctx.grad(node, "weight")) + (size_t)gr * \(d.fg * d.k)"
        let db = ctx.hasParam(node, "bias") ? "\(ctx.grad(node, "bias")) + gr * \(d.cg)" : "NULL"
        let call: String
        if node.plan.backward == .naive {
            call = "nn_conv_transpose_backward_naive(\(xg), s, \(d.fg), \(w), \(dyg), \(dxg), \(dW), \(db));"
        } else {
            let saved = t.saved(i, as: Saved.self)
            call = "nn_conv_transpose_backward_gemm(\(xg), s, \(d.fg), \(w), \(dyg), \(dxg), \(dW), \(db), "
                + "\(saved.col.pointer), \(saved.colT.pointer), \(saved.colp.pointer));"
        }
        return BackwardCode(statements: ctx.ruleHead(i) + """
                {
                    const nn_conv_shape s = \(d.shapeLiteral);
                    for (int b = 0; b < nb; b++)
                        for (int gr = 0; gr < \(d.groups); gr++)
                            \(call)
                }

            """)
    }
}
