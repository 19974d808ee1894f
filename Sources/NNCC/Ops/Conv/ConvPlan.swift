/// conv2d's kernel choice: the family's one decision site. A layer runs,
/// per image and group, by one of six kernels:
/// - depthwise (groups = channels = filters): a channel at a time, vectors
///   along the output row over the input laid out by stride phase (Depthwise.swift);
/// - pointwise (1×1): the GEMM W·X, a plain 1×1 image read in place as its B (only a last
///   partial panel packed; nn_gemm_in_place), else the pixels gathered and packed as its B,
///   those of all images side by side when an image has few;
/// - rows (stride 1 along the width): output pixels in the vector lanes,
///   a block of filters broadcast, tiles of filters × rows × vectors held in
///   registers over all taps and stored straight into NCHW;
/// - implicit GEMM (strided along the width, or rows too narrow to fill a
///   vector): output pixels × filters tiles, filters packed as panels, the
///   layer's tiles emitted with its shape as constants; a plain 1×1 conv's
///   image read in place as one row, its tiles spanning rows;
/// - narrow: the implicit GEMM with one vector of filters, for few filters;
/// - Winograd F(2×2, 3×3) for 3×3 stride-1 layers with enough channels (Winograd.swift);
/// and the naive loops in reference builds.
struct ConvDims: Equatable {
    var c: Int, h: Int, w: Int, f: Int, oh: Int, ow: Int, groups: Int, conv: Conv2D
    var cg: Int { c / groups }
    var fg: Int { f / groups }
    var k: Int { cg * conv.kernel.0 * conv.kernel.1 }
    var n: Int { oh * ow }
    /// A 1×1 conv of stride 1 without padding: the image is its own im2col.
    var isPlainPointwise: Bool {
        conv.kernel == (1, 1) && groups == 1 && conv.stride == (1, 1) && conv.pads.top == 0 && conv.pads.left == 0
            && oh == h && ow == w
    }

    /// A plain 1×1 conv's image as one row of all its pixels (the same convolution, read in place).
    var asOneRow: ConvDims { ConvDims(c: c, h: 1, w: h * w, f: f, oh: 1, ow: oh * ow, groups: groups, conv: conv) }

    init(c: Int, h: Int, w: Int, f: Int, oh: Int, ow: Int, groups: Int, conv: Conv2D) {
        (self.c, self.h, self.w, self.f, self.oh, self.ow, self.groups, self.conv) = (c, h, w, f, oh, ow, groups, conv)
    }

    init(_ g: Graph, _ i: Int) {
        let node = g.nodes[i]
        guard case let .conv2d(conv) = node.op else { preconditionFailure("not a conv2d") }
        // A 1-D layer's [C, L] is one row: [C, 1, L].
        let x = PoolOps.imageShape(g.nodes[node.inputs[0]].shape), y = PoolOps.imageShape(node.shape)
        self.init(c: x.c, h: x.h, w: x.w, f: conv.filters, oh: y.h, ow: y.w, groups: conv.groups, conv: conv)
    }

    /// The nn_conv_shape initializer of one group of the layer.
    var shapeLiteral: String {
        let c = conv, p = c.pads
        return "{.C = \(cg), .H = \(h), .W = \(w), .kh = \(c.kernel.0), .kw = \(c.kernel.1), .sh = \(c.stride.0), .sw = \(c.stride.1), "
            + ".pt = \(p.top), .pl = \(p.left), .dh = \(c.dilation.0), .dw = \(c.dilation.1), .OH = \(oh), .OW = \(ow)}"
    }
}

/// The forward kernel of a conv2d.
enum ConvPath: Equatable, CustomStringConvertible {
    /// Output pixels × filters tiles, the filters packed as panels. `flat`: a plain 1×1 conv
    /// (isPlainPointwise) reads its image in place as one row of all its pixels, so tiles span
    /// rows: a 3×3 image fills the 6-pixel tiles as 6 + 3 rather than 3 + 3 + 3, and no copy.
    case implicit(flat: Bool)
    /// Tiles of `fb` filters × `rb` output rows × `uv` vectors of a row.
    case rows(fb: Int, rb: Int, uv: Int)
    /// Tiles of one vector of filters × `rows` output rows × `pixels` pixels.
    case narrow(rows: Int, pixels: Int)
    case winograd(WinogradPlan)
    case depthwise(DepthwisePlan)
    /// 1×1: the GEMM W [F×C] · X [C×pixels], X read in place (isPlainPointwise) or gathered into packed panels: per image (batch 1), or
    /// the pixels of up to `batch` images side by side as one GEMM's columns, then copied out per image.
    case pointwise(batch: Int)
    /// A plain 1×1 layer between layers that keep their images channels-last (chooseLayouts): one GEMM
    /// X [nb·pixels][C] · Wᵀ over the batch's pixels, the filters packed as panels, the output channels-last too.
    case channelsLast

    var description: String {
        switch self {
        case let .implicit(flat): return flat ? "implicit GEMM, the image as one row of pixels" : "implicit GEMM"
        case let .depthwise(plan): return plan.description
        case let .pointwise(batch): return batch == 1 ? "pointwise GEMM W·X per image" : "pointwise GEMM W·X over the batch's pixels"
        case let .rows(fb, rb, uv): return "rows, tiles of \(fb) filters x \(rb) rows x \(uv) vectors"
        case let .narrow(rows, pixels): return "narrow implicit GEMM, tiles of one vector of filters x \(rows) rows x \(pixels) pixels"
        case let .winograd(plan): return plan.description
        case .channelsLast: return "pointwise GEMM over channels-last pixels, X·Wᵀ"
        }
    }
}

/// How a training build computes a conv's ∂x.
enum ConvInputGradient: Equatable, CustomStringConvertible {
    /// ∂col = Wᵀ·∂z on the GEMM, then col2im.
    case gemm
    /// ∂x of a stride-1 3×3 layer is itself such a convolution (of ∂z with the
    /// filters transposed and turned 180°), run by Winograd with these dims.
    case winograd(ConvDims, WinogradPlan)
    case naive
    /// The layer's input takes no gradient (it is the model's input, or depends on no parameter).
    case none
    /// Depthwise: per channel, the adjoint of the forward's phase planes (Depthwise.swift).
    case depthwise
    /// A plain 1×1 conv (isPlainPointwise): Wᵀ·∂z on the GEMM, added straight into ∂x.
    case pointwise

    var description: String {
        switch self {
        case .none: return "none"
        case .depthwise: return "depthwise adjoint"
        case .pointwise: return "GEMM Wᵀ·∂z into ∂x"
        case .gemm: return "GEMM Wᵀ·∂z + col2im"
        case .winograd: return "Winograd"
        case .naive: return "naive"
        }
    }
}

/// How a training build computes a conv's ∂W.
enum ConvWeightGradient: Equatable, CustomStringConvertible {
    /// nn_conv_dw_rows (width stride 1, few filters): `fb` filters (the largest divisor of F/groups up to 8)
    /// × `tb` taps accumulators, with the fb dz vectors, in the vector registers; no im2col.
    case rows(fb: Int, tb: Int)
    /// dW [F][K] += dz·colᵀ on the GEMM, the taps as its columns.
    case filterRows
    /// dWᵀ [K][F] += col·dzᵀ on the GEMM, the filters as its columns, added into dW once per step.
    case transposed
    /// Winograd, as the forward of the layer: ∂U per tile transform on the GEMM, ∂W = Gᵀ ∂U G once per step.
    case winograd(WinogradPlan)
    /// Depthwise: per channel and image, one vector accumulator per tap.
    case depthwise
    case naive

    var description: String {
        switch self {
        case let .rows(fb, tb): return "by rows, tiles of \(fb) filters x \(tb) taps"
        case .depthwise: return "depthwise, a vector per tap"
        case .filterRows: return "GEMM ∂z·colᵀ"
        case .transposed: return "GEMM col·∂zᵀ"
        case .winograd: return "Winograd"
        case .naive: return "naive"
        }
    }
}

extension ConvOps {
    static func plan(_ g: Graph, _ i: Int, _ s: Schedule, training: Bool) -> KernelPlan {
        let d = ConvDims(g, i)
        guard !s.reference else {
            return KernelPlan(kernel: .naive, packedFloats: packedFloats(d, nil, s, training: training, dx: .naive),
                              backward: training ? .naive : nil)
        }
        let p = path(d, s, maxBatch: g.maxBatch, training: training)
        var dx: ConvInputGradient
        switch p {
        case .depthwise: dx = .depthwise
        case .pointwise where d.isPlainPointwise: dx = .pointwise
        default: dx = WinogradPlan.gradient(d, s).map { .winograd($0.dims, $0.plan) } ?? .gemm
        }
        if training, !g.gradients!.needsGrad[g.nodes[i].inputs[0]] { dx = .none }
        // Winograd's, pointwise's and backward's GEMMs have filters or widths as rows; the other kernels use no GEMM.
        let onGEMM = switch p { case .winograd, .pointwise, .channelsLast: true; default: false }
        return KernelPlan(kernel: .conv(p), scratchFloats: perThreadScratch(d, p, s) * s.threads,
                          packedFloats: packedFloats(d, p, s, training: training, dx: dx),
                          gemmRows: training || onGEMM ? s.rowsPerTile : 0,
                          backward: training ? .conv(dx: dx, dW: weightGradient(d, p, s)) : nil)
    }

    /// A plain 1×1 layer's plan once chooseLayouts keeps its input and output channels-last.
    static func channelsLastPlan(_ d: ConvDims, _ s: Schedule) -> KernelPlan {
        KernelPlan(kernel: .conv(.channelsLast), packedFloats: packedFloats(d, .channelsLast, s, training: false, dx: .none),
                   gemmRows: s.rowsPerTile, inputChannelsLast: true, outputChannelsLast: true)
    }

    static func templates(_ node: Node) -> [Template] {
        var t: [Template] = [.conv]
        if case .conv(.winograd) = node.plan.kernel { t.append(.winograd) }
        if case .conv(.depthwise) = node.plan.kernel { t.append(.depthwise) }
        switch node.plan.backward {
        case nil: break
        case let .conv(dx, dW)?:
            t.append(.convTrain)
            if case .winograd = dx { t.append(.winograd) }
            if case .winograd = dW { t.append(.winogradTrain) }
        default: t.append(.convTrain)
        }
        return t
    }

    /// The kernel whose vector lanes the layer fills best, weighed by what
    /// each runs at per useful FLOP on full lanes (rows about 1.3× the
    /// implicit GEMM; narrow pays about 10% for its transposed stores):
    /// rows (width stride 1) has pixels of a row in the lanes, narrow at most
    /// one vector of filters, the implicit GEMM two vectors of filters.
    /// Rows strided along the width read phase planes (nn_conv_pad_phases), in inference only (the
    /// backward reads the plain padded input) and for fewer filters than a vector, where the implicit
    /// GEMM fills its panels badly (mobilenet_vww's 3 -> 8 stride-2 stem: 20% of peak narrow); with
    /// 32 filters (resnet8's b1a) the implicit GEMM stayed faster.
    static func path(_ d: ConvDims, _ schedule: Schedule, maxBatch: Int, training: Bool = false) -> ConvPath {
        if let plan = DepthwisePlan.plan(d, schedule) { return .depthwise(plan) }
        if let plan = WinogradPlan.plan(d, schedule) { return .winograd(plan) }
        let vw = schedule.vectorWidth
        let implicitUse = implicitUse(d, schedule)
        let narrowUse = d.fg <= vw ? Double(d.fg) / Double(vw) * 0.9 : 0
        var rowsUse = 0.0
        let tile = rowsTile(d, schedule)
        if d.conv.stride.1 == 1 || (!training && d.fg < vw) {
            let vectorsPerRow = (d.ow + vw - 1) / vw
            rowsUse = Double(d.ow) / Double(vectorsPerRow * vw) * Double(d.fg) / Double(blocks(d.fg, tile.fb) * tile.fb)
        }
        // 1×1: the GEMM with pixels in its panels, stored straight into NCHW rows; an image of few pixels
        // fills them badly, the pixels of the whole batch well (then copied out, about 10%).
        if d.conv.kernel == (1, 1), d.groups == 1 {
            let imageUse = Double(d.n) / Double(schedule.padded(d.n))
            let batchUse = batchedUse(d, schedule, images: maxBatch)
            if max(imageUse, batchUse) >= max(rowsUse, narrowUse, implicitUse) {
                return .pointwise(batch: imageUse >= batchUse ? 1 : maxBatch)
            }
        }
        if rowsUse >= max(narrowUse, implicitUse) { return .rows(fb: tile.fb, rb: tile.rb, uv: tile.uv) }
        if narrowUse >= implicitUse {  // accumulators in 3/4 of the registers: 24 of 32, 12 of 16
            let most = schedule.vectorRegisters * 3 / 4, pixels = min(d.ow, most)
            // A 1-D layer has one row: more would compute copies of it.
            return .narrow(rows: d.conv.is1D ? 1 : max(1, most / pixels), pixels: pixels)
        }
        return .implicit(flat: d.isPlainPointwise)
    }

    /// How full the batched 1×1 GEMM's panels are with the pixels of `images` images (copied out, about 10%).
    static func batchedUse(_ d: ConvDims, _ schedule: Schedule, images: Int) -> Double {
        Double(images * d.n) / Double(schedule.padded(images * d.n)) * 0.9
    }

    /// The implicit GEMM's estimate: two vectors of filters in its panels.
    static func implicitUse(_ d: ConvDims, _ schedule: Schedule) -> Double { Double(d.fg) / Double(schedule.padded(d.fg)) * 0.77 }

    /// The fewest images a 1×1 layer's batched GEMM fills better than the implicit GEMM runs one:
    /// a library built for a large batch runs fewer on the implicit GEMM, as a batch-1 build does
    /// (mobilenet_vww's 7×7 layers at batch 1: the batched GEMM took about 1.5× as long).
    static func pointwiseBatchFrom(_ d: ConvDims, _ schedule: Schedule, maxBatch: Int) -> Int {
        (1...max(1, maxBatch)).first { batchedUse(d, schedule, images: $0) > implicitUse(d, schedule) } ?? maxBatch
    }

    static func blocks(_ n: Int, _ size: Int) -> Int { (n + size - 1) / size }

    /// Filters per tile: the block size from 4 to 12 that wastes the fewest
    /// zero filters, nearest 8 on ties; then as many vectors (at most 4) as
    /// the accumulator budget allows, a whole row if it fits, else more rows.
    /// (On this Zen 4, 16 to 24 accumulators all run at about 95% of peak.)
    static func rowsTile(_ d: ConvDims, _ schedule: Schedule) -> (fb: Int, rb: Int, uv: Int) {
        let budget = schedule.vectorRegisters * 3 / 4  // 24 of 32 vector registers, 12 of 16
        let fb = d.fg < 4 ? d.fg : (4...min(12, budget / 2)).min { a, b in
            let wa = blocks(d.fg, a) * a - d.fg, wb = blocks(d.fg, b) * b - d.fg
            return wa != wb ? wa < wb : abs(a - 8) < abs(b - 8)
        }!
        let vectors = max(1, min(4, budget / fb))
        let vectorsPerRow = (d.ow + schedule.vectorWidth - 1) / schedule.vectorWidth
        let uv = min(vectorsPerRow, vectors)
        // Rows per tile: the most that divide OH (no thin last-rows tile), else the most that fit.
        let most = max(1, min(d.oh, vectors / uv))
        let rb = (1...most).last { d.oh % $0 == 0 && $0 > 1 } ?? most
        return (fb, rb, uv)
    }

    /// Few filters would leave the GEMM's panels mostly empty: the taps fill
    /// them better, and by rows is faster still when the width stride is 1.
    /// With full filter panels the GEMM over im2col is the fastest.
    static func weightGradient(_ d: ConvDims, _ path: ConvPath, _ schedule: Schedule) -> ConvWeightGradient {
        if case let .winograd(plan) = path { return .winograd(plan) }
        if case .depthwise = path { return .depthwise }
        let fewFilters = Double(schedule.padded(d.fg)) / Double(d.fg) > Double(schedule.padded(d.k)) / Double(d.k)
        guard fewFilters else { return .transposed }
        guard d.conv.stride.1 == 1 else { return .filterRows }
        let registers = schedule.vectorRegisters
        let fb = (1...min(8, d.fg)).last { d.fg % $0 == 0 }!
        return .rows(fb: fb, tb: max(1, min(8, d.k, (registers - 1 - fb) / fb)))
    }

    // MARK: layout of the chosen kernels

    /// The zero-padded input planes: the rows kernels read whole vectors past the row's end.
    static func paddedSize(_ d: ConvDims, _ path: ConvPath?, _ schedule: Schedule) -> (hp: Int, wp: Int) {
        switch path {
        case .rows?: return rowsPaddedSize(d, schedule)
        case let .winograd(plan)?: return (plan.hp, plan.wp)
        default:
            let p = d.conv.pads
            return (d.h + p.top + p.bottom, d.w + p.left + p.right)
        }
    }

    static func rowsPaddedSize(_ d: ConvDims, _ schedule: Schedule) -> (hp: Int, wp: Int) {
        let p = d.conv.pads, vw = schedule.vectorWidth, sw = d.conv.stride.1
        // Strided: sw phase segments, each past the last tap's reach of whole output vectors.
        let segment = max((d.w + p.left + p.right + sw - 1) / sw,
                          (d.ow + vw - 1) / vw * vw + (d.conv.kernel.1 - 1) * d.conv.dilation.1 / sw)
        return (d.h + p.top + p.bottom, sw * segment)
    }

    /// Filters per group as packed, and the width of their blocks (0: as they are):
    /// whole panels (implicit), whole rows blocks, or one vector (narrow).
    static func packedFilters(_ d: ConvDims, _ path: ConvPath?, _ schedule: Schedule) -> (filters: Int, panel: Int) {
        switch path {
        case .implicit?, .channelsLast?: return (schedule.padded(d.fg), schedule.panelWidth)
        case let .rows(fb, _, _)?: return (blocks(d.fg, fb) * fb, fb)
        case .narrow?: return (schedule.vectorWidth, schedule.vectorWidth)
        case nil, .winograd?, .depthwise?, .pointwise?: return (d.fg, 0)
        }
    }

    /// The node's block of packed weights: the forward's (each group's filter
    /// blocks then the padded biases, or Winograd's U), then in training builds
    /// what ∂x needs (each group's Wᵀ, or Winograd's transposed U); last, for a 1×1 layer on the
    /// batched GEMM, the implicit GEMM's panels that fewer images run on (`pointwiseBatchFrom`).
    struct Packed { var forward: Region, dx: Region?, fewImages: Region? }

    static func packed(_ d: ConvDims, _ path: ConvPath?, _ schedule: Schedule, training: Bool, dx: ConvInputGradient) -> Packed {
        var b = RegionBuilder()
        let forward: Region
        if case .winograd? = path {
            forward = b.take(WinogradPlan.packedFloats(d))
        } else {
            forward = b.take(d.groups * (d.k + 1) * packedFilters(d, path, schedule).filters)
        }
        let dxRegion: Region?
        switch (training, dx) {
        case (false, _), (_, .naive), (_, .none): dxRegion = nil
        case (true, .winograd): dxRegion = b.take(WinogradPlan.gradientFloats(d))
        case (true, .gemm), (true, .pointwise): dxRegion = b.take(d.f * d.k)
        case (true, .depthwise): dxRegion = nil  // the weights as they are
        }
        var fewImages: Region?
        if case let .pointwise(batch)? = path, batch > 1, pointwiseBatchFrom(d, schedule, maxBatch: batch) > 1 {
            fewImages = b.take(d.groups * (d.k + 1) * packedFilters(d, .implicit(flat: true), schedule).filters)
        }
        return Packed(forward: forward, dx: dxRegion, fewImages: fewImages)
    }

    static func packedFloats(_ d: ConvDims, _ path: ConvPath?, _ s: Schedule, training: Bool, dx: ConvInputGradient) -> Int {
        let p = packed(d, path, s, training: training, dx: dx)
        return (p.fewImages ?? p.dx ?? p.forward).end
    }

    /// Per thread, the padded input of one image and group (and Winograd's transformed tiles).
    static func perThreadScratch(_ d: ConvDims, _ path: ConvPath, _ schedule: Schedule) -> Int {
        switch path {
        case let .winograd(plan): return plan.scratchFloats(d, schedule)
        case let .depthwise(plan): return plan.forwardScratch(d, schedule)
        case .implicit(flat: true), .channelsLast: return 0  // the image read in place
        case let .pointwise(batch) where batch > 1:  // the batch's pixels and the GEMM's output, shared by the threads
            return (d.c * schedule.padded(batch * d.n) + d.f * batch * d.n + schedule.threads - 1) / schedule.threads
        case .pointwise where d.isPlainPointwise:  // only the last partial panel is packed (nn_gemm_in_place)
            return d.n % schedule.panelWidth == 0 ? 0 : d.cg * schedule.panelWidth
        case .pointwise: return d.cg * schedule.padded(d.n)
        default: break
        }
        let (hp, wp) = paddedSize(d, path, schedule)
        return d.cg * hp * wp
    }
}
