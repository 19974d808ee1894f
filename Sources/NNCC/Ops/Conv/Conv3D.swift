/// conv3d (a conv2d with a depth axis, PyTorch's Conv3d) on [C, D, H, W]:
/// per image and group, im2col over the (kd, kh, kw) taps then the packed
/// GEMM, `y = W·col + b` with the activation (and a folded batchnorm) in the
/// epilogue; backward ∂W = ∂z·colᵀ and ∂x = col2im(Wᵀ·∂z) on the GEMM. The
/// reference build runs the direct loops (templates/conv3d.c). The 2-D
/// paths (rows, narrow, implicit GEMM, Winograd) are 2-D only.
enum Conv3DOps: OpFamily {
    struct Dims {
        var c: Int, d: Int, h: Int, w: Int, f: Int, od: Int, oh: Int, ow: Int, conv: Conv2D, depth: DepthAxis
        var groups: Int { conv.groups }
        var cg: Int { c / groups }
        var fg: Int { f / groups }
        /// Taps per filter: C/g · kd · kh · kw.
        var k: Int { cg * depth.kernel * conv.kernel.0 * conv.kernel.1 }
        /// Output pixels per filter.
        var n: Int { od * oh * ow }
        var volume: Int { d * h * w }

        /// The nn_conv3_shape initializer of one group of the layer.
        var shapeLiteral: String {
            let c = conv, p = c.pads, t = depth
            return "{.C = \(cg), .D = \(d), .H = \(h), .W = \(w), .kd = \(t.kernel), .kh = \(c.kernel.0), .kw = \(c.kernel.1), "
                + ".sd = \(t.stride), .sh = \(c.stride.0), .sw = \(c.stride.1), .pf = \(t.padFront), .pt = \(p.top), .pl = \(p.left), "
                + ".dd = \(t.dilation), .dh = \(c.dilation.0), .dw = \(c.dilation.1), .OD = \(od), .OH = \(oh), .OW = \(ow)}"
        }
    }

    static func dims(_ g: Graph, _ i: Int) -> Dims {
        let node = g.nodes[i], x = g.nodes[node.inputs[0]].shape, y = node.shape
        guard case let .conv2d(conv) = node.op, let depth = conv.depth, x.count == 4, y.count == 4 else {
            preconditionFailure("not a conv3d after shape inference")
        }
        return Dims(c: x[0], d: x[1], h: x[2], w: x[3], f: conv.filters, od: y[1], oh: y[2], ow: y[3], conv: conv, depth: depth)
    }

    /// The node's packed block: the weights as they are ([F][K], batchnorm folded in) and the bias
    /// [F]; training builds with ∂x add each group's Wᵀ [K][F/g].
    struct Packed { var weights, bias: Region, transposed: Region? }

    static func packed(_ d: Dims, dx: Bool) -> Packed {
        var b = RegionBuilder()
        return Packed(weights: b.take(d.f * d.k), bias: b.take(d.f), transposed: dx ? b.take(d.f * d.k) : nil)
    }

    /// Whether backward computes ∂x: training, and the input takes a gradient.
    static func needsDx(_ g: Graph, _ i: Int, training: Bool) -> Bool {
        training && g.gradients!.needsGrad[g.nodes[i].inputs[0]]
    }

    /// The plan computes ∂x on the GEMM, from Wᵀ packed at load.
    static func dxOnGEMM(_ node: Node) -> Bool {
        if case .conv(dx: .gemm, _)? = node.plan.backward { return true }
        return false
    }

    static func plan(_ g: Graph, _ i: Int, _ s: Schedule, training: Bool) -> KernelPlan {
        let d = dims(g, i)
        if s.reference {
            return KernelPlan(kernel: .naive, packedFloats: packed(d, dx: false).bias.end, backward: training ? .naive : nil)
        }
        let dx = needsDx(g, i, training: training), p = packed(d, dx: dx)
        // Forward's scratch: im2col of one image and group, and the same packed as the GEMM's panels.
        return KernelPlan(kernel: .gemm, scratchFloats: d.k * d.n + d.k * s.padded(d.n), packedFloats: (p.transposed ?? p.bias).end,
                          gemmRows: training ? s.rowsPerTile : d.fg,  // backward's ∂x GEMM has the taps as rows
                          backward: training ? .conv(dx: dx ? .gemm : .none, dW: .filterRows) : nil)
    }

    static func templates(_ node: Node) -> [Template] { [.conv3d] }

    static func forward(_ ctx: EmitContext, _ i: Int) -> KernelCode? {
        let node = ctx.graph.nodes[i], d = dims(ctx.graph, i), c = d.conv, p = c.pads, t = d.depth
        let act = node.epilogue ?? .identity, naive = node.plan.kernel == .naive
        let w = ctx.packed(i), layout = packed(d, dx: false)
        let name = ctx.kernelName(i, "conv\(t.kernel)x\(c.kernel.0)x\(c.kernel.1)")
        var what = "conv3d \(d.c)->\(d.f) kernel \(t.kernel)x\(c.kernel.0)x\(c.kernel.1) stride \(t.stride),\(c.stride.0),\(c.stride.1) "
            + "pad \(t.padFront),\(p.top),\(p.left),\(t.padBack),\(p.bottom),\(p.right) "
            + "dilation \(t.dilation),\(c.dilation.0),\(c.dilation.1) groups \(d.groups), "
            + (naive ? "naive reference" : "im2col + GEMM")
        if node.foldedBatchNorm != nil { what += ", batchnorm folded in" }
        if let a = node.epilogue { what += ", fused \(a.name)" }
        let xg = "x + ((size_t)b * \(d.c) + (size_t)g * \(d.cg)) * \(d.volume)"
        let yg = "y + ((size_t)b * \(d.f) + (size_t)g * \(d.fg)) * \(d.n)"
        let weights = "w + (size_t)g * \(d.fg * d.k)", bias = "w + \(layout.bias.offset) + g * \(d.fg)"
        let body = naive
            ? "nn_conv3_naive(\(xg), s, \(d.fg), \(weights), \(bias), \(act.cArgs), \(yg));"
            : "nn_conv3_gemm(\(xg), s, \(d.fg), \(weights), \(bias), \(act.cArgs), \(yg), scratch, scratch + \(d.k * d.n));"
        // The GEMM spreads its panels over the threads: the images and groups run one after another.
        let definition = """
            \(ctx.banner(i, what))
            static void \(name)(int nb, const float *restrict x, const float *restrict w, float *restrict y, float *restrict scratch) {
                const nn_conv3_shape s = \(d.shapeLiteral);
                (void)scratch;
                for (int b = 0; b < nb; b++)
                    for (int g = 0; g < \(d.groups); g++)
                        \(body)
            }
            """
        let call = "\(name)(nb, \(ctx.value(node.inputs[0])), \(w), \(ctx.value(i)), \(ctx.scratch(i)));"
        return KernelCode(definition: definition, call: call, packing: packing(ctx, i, d))
    }

    static func packing(_ ctx: EmitContext, _ i: Int, _ d: Dims) -> String {
        let node = ctx.graph.nodes[i], w = ctx.packed(i), weight = ctx.param(node, "weight")
        let p = packed(d, dx: dxOnGEMM(node))
        let bias = ctx.hasParam(node, "bias") ? ctx.param(node, "bias") : "NULL"
        let c = d.conv, t = d.depth
        var s = """
                /* layer "\(CSyntax.comment(node.name))": conv3d weight [\(d.f), \(d.cg), \(t.kernel), \(c.kernel.0), \(c.kernel.1)] is used as it is */
                memcpy(\(w), \(weight), \(d.f * d.k) * sizeof(float));
                nn_pack_bias(\(d.f), \(d.f), \(bias), \(p.bias.at(w)));
            """
        if let bn = node.foldedBatchNorm {
            s += "\n" + DenseOps.foldCall(ctx, bn: bn, channels: d.f, k: d.k, weights: w, panel: 0, bias: p.bias.at(w))
        }
        if let wt = p.transposed {
            s += "\n    for (int g = 0; g < \(d.groups); g++)  /* Wᵀ per group, for ∂x */\n"
                + "        nn_transpose(\(d.fg), \(d.k), \(weight) + (size_t)g * \(d.fg * d.k), \(wt.at(w)) + (size_t)g * \(d.fg * d.k));"
        }
        return s
    }

    // MARK: training

    /// Backward's buffers: im2col of one image and group, colᵀ packed as panels, ∂z packed as panels.
    struct Saved { var col, colT, dzp: Slot }

    static func reserve(_ g: Graph, _ i: Int, _ s: Schedule, _ layout: inout TrainLayout) {
        guard g.gradients!.needsGrad[i], !s.reference else { return }
        let d = dims(g, i), dx = needsDx(g, i, training: true)
        layout.save(i, Saved(col: layout.take(d.k * d.n), colT: layout.take(d.n * s.padded(d.k)),
                             dzp: layout.take(dx ? d.fg * s.padded(d.n) : 0)))
    }

    static func backward(_ ctx: EmitContext, _ t: TrainLayout, _ i: Int) -> BackwardCode {
        let g = ctx.graph, node = g.nodes[i], d = dims(g, i)
        let dy = t.gradPointer(g, i)!, dx = t.gradPointer(g, node.inputs[0]) ?? "NULL"
        let group = "((size_t)b * \(d.c) + (size_t)gr * \(d.cg)) * \(d.volume)"
        let xg = "\(ctx.value(node.inputs[0])) + \(group)", dxg = dx == "NULL" ? "NULL" : "\(dx) + \(group)"
        let dzg = "\(dy) + ((size_t)b * \(d.f) + (size_t)gr * \(d.fg)) * \(d.n)"
        let dWg = "\(ctx.grad(node, "weight")) + (size_t)gr * \(d.fg * d.k)"
        let db = ctx.hasParam(node, "bias") ? "\(ctx.grad(node, "bias")) + gr * \(d.fg)" : "NULL"
        let call: String
        if node.plan.kernel == .naive {
            call = "nn_conv3_backward_naive(\(xg), s, \(d.fg), \(ctx.param(node, "weight")) + (size_t)gr * \(d.fg * d.k), "
                + "\(dzg), \(dxg), \(dWg), \(db));"
        } else {
            let saved = t.saved(i, as: Saved.self)
            precondition((dx == "NULL") != dxOnGEMM(node), "conv3d \(i): the plan's ∂x disagrees with the gradient buffers")
            let wt = packed(d, dx: true).transposed.map { "\($0.at(ctx.packed(i))) + (size_t)gr * \(d.fg * d.k)" } ?? "NULL"
            call = "nn_conv3_backward_gemm(\(xg), s, \(d.fg), \(wt), \(dzg), \(dxg), \(dWg), \(db), "
                + "\(saved.col.pointer), \(saved.colT.pointer), \(saved.dzp.pointer));"
        }
        return BackwardCode(statements: ctx.ruleHead(i) + ctx.epilogueBackward(i, dy: dy) + """
                {
                    const nn_conv3_shape s = \(d.shapeLiteral);
                    for (int b = 0; b < nb; b++)
                        for (int gr = 0; gr < \(d.groups); gr++)
                            \(call)
                }

            """)
    }
}
