/// pixel_shuffle, pixel_unshuffle, DepthToSpace and SpaceToDepth: the [C, H, W]
/// operand seen as 5 axes, permuted, and read back as [C', H', W']. The kernel
/// and its backward are the transpose family's, on the 5-D view.
extension PixelShuffle {
    /// The operand's 5-D view and the permutation whose result, read as 3-D, is this op's.
    func view(_ x: [Int]) -> (shape: [Int], perm: [Int]) {
        let r = factor, (c, h, w) = (x[0], x[1], x[2])
        switch kind {
        case .crd: return ([c / (r * r), r, r, h, w], [0, 3, 1, 4, 2])  // (c, i, j, h, w) -> (c, h, i, w, j)
        case .dcr: return ([r, r, c / (r * r), h, w], [2, 3, 0, 4, 1])  // (i, j, c, h, w) -> (c, h, i, w, j)
        case .unshuffle: return ([c, h / r, r, w / r, r], [0, 2, 4, 1, 3])  // (c, h, i, w, j) -> (c, i, j, h, w)
        case .spaceToDepth: return ([c, h / r, r, w / r, r], [2, 4, 0, 1, 3])  // (c, h, i, w, j) -> (i, j, c, h, w)
        }
    }

    func outputShape(_ x: [Int], fail: (String) -> NNCCError) throws -> [Int] {
        guard x.count == 3 else { throw fail("expected a [C, H, W] input, found \(shapeText(x))") }
        let r = factor
        guard r >= 1, r <= Limits.window else { throw fail("the factor \(r) must be positive") }
        switch kind {
        case .crd, .dcr:
            guard x[0] % (r * r) == 0 else { throw fail("the channels \(x[0]) are not a multiple of \(r)² = \(r * r)") }
            return [x[0] / (r * r), x[1] * r, x[2] * r]
        case .unshuffle, .spaceToDepth:
            guard x[1] % r == 0, x[2] % r == 0 else { throw fail("the height \(x[1]) and width \(x[2]) are not multiples of \(r)") }
            return [x[0] * r * r, x[1] / r, x[2] / r]
        }
    }
}

enum PixelShuffleOps: OpFamily {
    static func plan(_ g: Graph, _ i: Int, _ s: Schedule, training: Bool) -> KernelPlan {
        KernelPlan(kernel: .loops, backward: training ? .loops : nil)
    }

    static func shuffle(_ node: Node) -> PixelShuffle {
        guard case let .pixelShuffle(p) = node.op else { preconditionFailure("not a pixel shuffle: \(node.op)") }
        return p
    }

    static func forward(_ ctx: EmitContext, _ i: Int) -> KernelCode? {
        let g = ctx.graph, node = g.nodes[i], p = shuffle(node), (shape, perm) = p.view(g.nodes[node.inputs[0]].shape)
        let name = ctx.kernelName(i, node.op.typeName)
        let banner = ctx.banner(i, "\(node.op.typeName) by \(p.factor), " + TransposeOps.describePerm(shape, perm))
        return KernelCode(definition: TransposeOps.kernel(name, banner: banner, shape: shape, perm: perm, accumulate: false,
                                                          reference: ctx.schedule.reference),
                          call: "\(name)(nb, \(ctx.value(node.inputs[0])), \(ctx.value(i)));")
    }

    static func backward(_ ctx: EmitContext, _ t: TrainLayout, _ i: Int) -> BackwardCode {
        let g = ctx.graph, node = g.nodes[i], (shape, perm) = shuffle(node).view(g.nodes[node.inputs[0]].shape)
        guard let dx = t.gradPointer(g, node.inputs[0]), let dy = t.gradPointer(g, i) else { return BackwardCode(statements: ctx.ruleHead(i)) }
        // ∂y seen as the permuted 5-D view, permuted back.
        var inverse = perm
        for (k, a) in perm.enumerated() { inverse[a] = k }
        let permuted = perm.map { shape[$0] }
        let name = ctx.kernelName(i, node.op.typeName + "_backward")
        let banner = "/* ∂ layer \"\(CSyntax.comment(node.name))\": ∂x += ∂y, " + TransposeOps.describePerm(permuted, inverse) + " */"
        return BackwardCode(definitions: TransposeOps.kernel(name, banner: banner, shape: permuted, perm: inverse, accumulate: true,
                                                             reference: ctx.schedule.reference) + "\n",
                            statements: ctx.ruleHead(i) + "    \(name)(nb, \(dy), \(dx));\n")
    }
}
