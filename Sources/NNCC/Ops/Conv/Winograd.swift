/// Winograd F(2×2, 3×3) for conv2d layers that are 3×3, stride 1,
/// undilated and ungrouped, with at least 16 channels and 16 filters: 16
/// multiplies per 2×2 output tile, channel and filter instead of 36, on the
/// GEMM micro-kernel (templates/winograd.c). The transforms only add and
/// halve, so results stay within PyTorch's tolerance in float32.
struct WinogradPlan: Equatable {
    /// Transform vector width (tiles per vector), tile rows and tiles per row, the tile-row
    /// stride (tiles per row rounded up to `tv`), tile rows per block, the padded input size.
    var tv: Int, th: Int, tw: Int, twp: Int, tb: Int, hp: Int, wp: Int

    /// The plan, or nil when the layer does not qualify or a third of the transform lanes would idle.
    static func plan(_ d: ConvDims, _ schedule: Schedule) -> WinogradPlan? {
        let c = d.conv
        guard c.kernel == (3, 3), c.stride == (1, 1), c.dilation == (1, 1), d.groups == 1, d.c >= 16, d.f >= 16,
              d.ow >= 7 else { return nil }
        let th = (d.oh + 1) / 2, tw = (d.ow + 1) / 2
        let tv = [16, 8, 4].first { $0 <= schedule.vectorWidth && $0 <= tw } ?? 4
        let twp = (tw + tv - 1) / tv * tv
        guard Double(twp) <= 4.0 / 3.0 * Double(tw) else { return nil }
        let p = c.pads
        // Blocks of about 64 tiles: V and M of a block stay in L2 beside the padded image.
        return WinogradPlan(tv: tv, th: th, tw: tw, twp: twp, tb: max(1, min(th, 64 / twp)),
                            hp: max(d.h + p.top + p.bottom, 2 * th + 2), wp: max(d.w + p.left + p.right, 2 * twp + 2))
    }

    /// ∂x of a stride-1 3×3 layer is itself such a convolution: of ∂z (F
    /// channels, OH × OW) with the filters transposed and turned 180°, padded
    /// by 2 − p, giving C channels of H × W. Its dims and plan, when it qualifies.
    static func gradient(_ d: ConvDims, _ schedule: Schedule) -> (dims: ConvDims, plan: WinogradPlan)? {
        let p = d.conv.pads
        guard d.conv.kernel == (3, 3), d.conv.stride == (1, 1), d.conv.dilation == (1, 1), d.groups == 1,
              p.top == p.bottom, p.left == p.right, p.top <= 2, p.left <= 2 else { return nil }
        let conv = Conv2D(filters: d.c, kernel: (3, 3), stride: (1, 1), padding: .explicit(2 - p.top, 2 - p.left),
                          dilation: (1, 1), groups: 1, bias: false)
        let t = ConvDims(c: d.f, h: d.oh, w: d.ow, f: d.c, oh: d.h, ow: d.w, groups: 1, conv: conv)
        return plan(t, schedule).map { (t, $0) }
    }

    /// Scratch floats per image (NN_WINO_SCRATCH): the padded input, then V and M of one block.
    func scratchFloats(_ d: ConvDims, _ schedule: Schedule) -> Int {
        let block = (tb * twp + schedule.panelWidth - 1) / schedule.panelWidth * schedule.panelWidth
        return d.c * hp * wp + 16 * (d.c + d.f) * block + 32 * 16  // NN_WINO_SKEW between planes
    }

    /// Scratch floats of ∂W by Winograd (NN_WINO_DW_SCRATCH): the channels-last input, padded ∂z, dM and V of a block.
    func weightGradientScratch(_ d: ConvDims, _ schedule: Schedule) -> Int {
        let nr = schedule.panelWidth, paddedC = (d.c + nr - 1) / nr * nr
        return d.c * hp * wp + d.f * 4 * th * twp + 16 * (d.f * tb * twp + paddedC * tb * twp + 2 * 16)
    }

    /// Packed floats: U [16][F][C], the F biases, then the weights as staged for folding.
    static func packedFloats(_ d: ConvDims) -> Int { 16 * d.f * d.c + d.f + d.f * d.k }

    /// Packed floats of the ∂x transform: U [16][C][F] and C zero biases.
    static func gradientFloats(_ d: ConvDims) -> Int { 16 * d.f * d.c + d.c }

    /// The nn_wino_shape initializer.
    func shapeLiteral(_ d: ConvDims) -> String {
        "{.C = \(d.c), .F = \(d.f), .OH = \(d.oh), .OW = \(d.ow), .TH = \(th), .TW = \(tw), .TWP = \(twp), .TB = \(tb), .Hp = \(hp), .Wp = \(wp)}"
    }

    var description: String {
        "Winograd F(2x2,3x3), \(th)x\(tw) tiles, blocks of \(tb) tile rows, transforms \(tv) tiles wide"
    }

    /// Packing: weights copied to the staging area, batchnorm folded there, then transformed into U.
    static func packing(_ ctx: EmitContext, _ i: Int, _ d: ConvDims) -> String {
        let node = ctx.graph.nodes[i], w = ctx.param(node, "weight"), packed = ctx.packed(i)
        let bias = ctx.hasParam(node, "bias") ? ctx.param(node, "bias") : "NULL"
        let biasAt = "\(packed) + \(16 * d.f * d.c)", staged = "\(packed) + \(16 * d.f * d.c + d.f)"
        var s = """
                /* layer "\(CSyntax.comment(node.name))": conv2d weight [\(d.f), \(d.c), 3, 3] -> Winograd U [16][\(d.f)][\(d.c)], bias [\(d.f)] */
                memcpy(\(staged), \(w), \(d.f * d.k) * sizeof(float));
                nn_pack_bias(\(d.f), \(d.f), \(bias), \(biasAt));
            """
        if let bn = node.foldedBatchNorm {
            s += "\n" + DenseOps.foldCall(ctx, bn: bn, channels: d.f, k: d.k, weights: staged, panel: 0, bias: biasAt)
        }
        return s + "\n    nn_wino_pack(\(d.f), \(d.c), \(staged), \(packed));"
    }
}
