/// conv2d, per image and group, by one of three kernels:
/// - rows (stride 1 along the width): output pixels in the vector lanes,
///   a block of filters broadcast, tiles of filters × rows × vectors held in
///   registers over all taps and stored straight into NCHW;
/// - implicit GEMM (strided along the width, or rows too narrow to fill a
///   vector): output pixels × filters tiles, filters packed as panels;
/// - Winograd F(2×2, 3×3) for 3×3 stride-1 layers with enough channels (EmitWinograd);
/// - the naive loops, in reference builds.
/// Both tiled kernels read the input in place from a zero-padded copy (no
/// im2col); bias and activation are fused in every one.
enum ConvEmitter {
    struct Dims {
        var c: Int, h: Int, w: Int, f: Int, oh: Int, ow: Int, groups: Int, conv: Conv2D
        var cg: Int { c / groups }
        var fg: Int { f / groups }
        var k: Int { cg * conv.kernel.0 * conv.kernel.1 }
        var n: Int { oh * ow }
    }

    enum Path: Equatable { case implicit, rows(RowsTile), narrow(rows: Int, pixels: Int), winograd(WinogradPlan), reference }

    /// A rows tile: `fb` filters × `rb` output rows × `uv` vectors of a row.
    struct RowsTile: Equatable {
        var fb: Int, rb: Int, uv: Int
    }

    static func dims(_ g: Graph, _ i: Int) -> Dims {
        let node = g.nodes[i], x = g.nodes[node.inputs[0]].shape
        guard case let .conv2d(conv) = node.op else { preconditionFailure("not a conv2d") }
        return Dims(c: x[0], h: x[1], w: x[2], f: conv.filters, oh: node.shape[1], ow: node.shape[2],
                    groups: conv.groups, conv: conv)
    }

    /// The kernel whose vector lanes the layer fills best, weighed by what
    /// each runs at per useful FLOP on full lanes (rows about 1.3× the
    /// implicit GEMM; narrow pays about 10% for its transposed stores):
    /// rows (width stride 1) has pixels of a row in the lanes, narrow at most
    /// one vector of filters, the implicit GEMM two vectors of filters.
    static func path(_ d: Dims, _ schedule: Schedule) -> Path {
        if schedule.reference { return .reference }
        if let plan = WinogradPlan.plan(d, schedule) { return .winograd(plan) }
        let vw = schedule.vectorWidth
        let implicitUse = Double(d.fg) / Double(schedule.padded(d.fg)) * 0.77
        let narrowUse = d.fg <= vw ? Double(d.fg) / Double(vw) * 0.9 : 0
        var rowsUse = 0.0
        let tile = rowsTile(d, schedule)
        if d.conv.stride.1 == 1 {
            let vectorsPerRow = (d.ow + vw - 1) / vw
            rowsUse = Double(d.ow) / Double(vectorsPerRow * vw) * Double(d.fg) / Double(blocks(d.fg, tile.fb) * tile.fb)
        }
        if rowsUse >= max(narrowUse, implicitUse) { return .rows(tile) }
        if narrowUse >= implicitUse {  // 24 or 12 accumulators, of 32 or 16 registers
            let most = vw >= 16 ? 24 : 12, pixels = min(d.ow, most)
            return .narrow(rows: max(1, most / pixels), pixels: pixels)
        }
        return .implicit
    }

    static func blocks(_ n: Int, _ size: Int) -> Int { (n + size - 1) / size }

    /// Filters per tile: the block size from 4 to 12 that wastes the fewest
    /// zero filters, nearest 8 on ties; then as many vectors (at most 4) as
    /// the accumulator budget allows, a whole row if it fits, else more rows.
    /// (On this Zen 4, 16 to 24 accumulators all run at about 95% of peak.)
    static func rowsTile(_ d: Dims, _ schedule: Schedule) -> RowsTile {
        let budget = schedule.vectorWidth >= 16 ? 24 : 12  // of 32 or 16 vector registers
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
        return RowsTile(fb: fb, rb: rb, uv: uv)
    }

    /// The zero-padded input planes: the rows kernels read whole vectors past the row's end.
    static func paddedSize(_ d: Dims, _ schedule: Schedule) -> (hp: Int, wp: Int) {
        if case .rows = path(d, schedule) { return rowsPaddedSize(d, schedule) }
        if case let .winograd(plan) = path(d, schedule) { return (plan.hp, plan.wp) }
        let p = d.conv.pads
        return (d.h + p.top + p.bottom, d.w + p.left + p.right)
    }

    static func rowsPaddedSize(_ d: Dims, _ schedule: Schedule) -> (hp: Int, wp: Int) {
        let p = d.conv.pads, vw = schedule.vectorWidth
        let wp = max(d.w + p.left + p.right, (d.ow + vw - 1) / vw * vw + (d.conv.kernel.1 - 1) * d.conv.dilation.1)
        return (d.h + p.top + p.bottom, wp)
    }

    /// Filters per group as packed: whole panels or whole rows blocks.
    static func packedFilters(_ d: Dims, _ schedule: Schedule) -> Int {
        switch path(d, schedule) {
        case .implicit: return schedule.padded(d.fg)
        case let .rows(t): return blocks(d.fg, t.fb) * t.fb
        case .narrow: return schedule.vectorWidth
        case .reference, .winograd: return d.fg
        }
    }

    /// Forward weights: each group's filters packed as panels [K][NR]
    /// (implicit), blocks [K][fb] (rows) or one vector [K][VW] (narrow),
    /// then the padded biases; the
    /// reference keeps [F][K] then the bias.
    static func forwardFloats(_ d: Dims, _ schedule: Schedule) -> Int {
        if case .winograd = path(d, schedule) { return WinogradPlan.packedFloats(d) }
        return d.groups * (d.k + 1) * packedFilters(d, schedule)
    }

    /// Training builds add what ∂x needs: Winograd's transformed filters when
    /// it qualifies, else each group's Wᵀ [K][F/g], the A of ∂col = Wᵀ·∂z.
    static func packedFloats(_ ctx: EmitContext, _ i: Int) -> Int {
        let d = dims(ctx.graph, i)
        guard ctx.training else { return forwardFloats(d, ctx.schedule) }
        let winograd = WinogradPlan.gradient(d, ctx.schedule) != nil
        return forwardFloats(d, ctx.schedule) + (winograd ? WinogradPlan.gradientFloats(d) : d.f * d.k)
    }

    /// How a training build computes a conv's ∂W.
    enum WeightGradient: Equatable {
        /// nn_conv_dw_rows (width stride 1, few filters): `fb` filters (the largest divisor of F/groups up to 8)
        /// × `tb` taps accumulators, with the fb dz vectors, in the vector registers; no im2col.
        case rows(fb: Int, tb: Int)
        /// dW [F][K] += dz·colᵀ on the GEMM, the taps as its columns.
        case filterRows
        /// dWᵀ [K][F] += col·dzᵀ on the GEMM, the filters as its columns, added into dW once per step.
        case transposed
        /// Winograd, as the forward of the layer: ∂U per tile transform on the GEMM, ∂W = Gᵀ ∂U G once per step.
        case winograd(WinogradPlan)
        /// The naive loops.
        case reference
    }

    /// Few filters would leave the GEMM's panels mostly empty: the taps fill
    /// them better, and by rows is faster still when the width stride is 1.
    /// With full filter panels the GEMM over im2col is the fastest.
    static func weightGradient(_ d: Dims, _ schedule: Schedule) -> WeightGradient {
        if schedule.reference { return .reference }
        if case let .winograd(plan) = path(d, schedule) { return .winograd(plan) }
        let fewFilters = Double(schedule.padded(d.fg)) / Double(d.fg) > Double(schedule.padded(d.k)) / Double(d.k)
        guard fewFilters else { return .transposed }
        guard d.conv.stride.1 == 1 else { return .filterRows }
        let registers = schedule.vectorWidth >= 16 ? 32 : 16
        let fb = (1...min(8, d.fg)).last { d.fg % $0 == 0 }!
        return .rows(fb: fb, tb: max(1, min(8, d.k, (registers - 1 - fb) / fb)))
    }

    /// Both ∂W and ∂x run as Winograd: the layer's backward needs no im2col buffers.
    static func allWinograd(_ d: Dims, _ schedule: Schedule) -> Bool {
        guard case .winograd = weightGradient(d, schedule) else { return false }
        return WinogradPlan.gradient(d, schedule) != nil
    }

    /// The nn_conv_shape initializer of one group of the layer.
    static func shapeLiteral(_ d: Dims) -> String {
        let c = d.conv, p = c.pads
        return "{\(d.cg), \(d.h), \(d.w), \(c.kernel.0), \(c.kernel.1), \(c.stride.0), \(c.stride.1), "
            + "\(p.top), \(p.left), \(c.dilation.0), \(c.dilation.1), \(d.oh), \(d.ow)}"
    }

    /// Training builds: where ∂x's filters start (Wᵀ, or Winograd's U for ∂x).
    static func transposed(_ ctx: EmitContext, _ i: Int) -> String {
        "\(ctx.packed(i)) + \(forwardFloats(dims(ctx.graph, i), ctx.schedule))"
    }

    /// Per thread, the padded input of one image and group (and Winograd's transformed tiles).
    static func scratchFloats(_ g: Graph, _ i: Int, schedule: Schedule) -> Int {
        perThreadScratch(dims(g, i), schedule) * schedule.threads
    }

    static func perThreadScratch(_ d: Dims, _ schedule: Schedule) -> Int {
        switch path(d, schedule) {
        case .reference: return 0
        case let .winograd(plan): return plan.scratchFloats(d, schedule)
        default:
            let (hp, wp) = paddedSize(d, schedule)
            return d.cg * hp * wp
        }
    }

    static func emit(_ ctx: EmitContext, _ i: Int) -> KernelCode {
        let node = ctx.graph.nodes[i], d = dims(ctx.graph, i), c = d.conv, p = c.pads
        let kind = path(d, ctx.schedule)
        let act = node.epilogue ?? .identity
        let name = ctx.kernelName(i, "conv\(c.kernel.0)x\(c.kernel.1)")
        var what = "conv2d \(d.c)->\(d.f) kernel \(c.kernel.0)x\(c.kernel.1) stride \(c.stride.0),\(c.stride.1) "
            + "pad \(p.top),\(p.left),\(p.bottom),\(p.right) dilation \(c.dilation.0),\(c.dilation.1) groups \(d.groups), "
        switch kind {
        case .implicit: what += "implicit GEMM"
        case let .rows(t): what += "rows, tiles of \(t.fb) filters x \(t.rb) rows x \(t.uv) vectors"
        case let .narrow(rows, pixels): what += "narrow implicit GEMM, tiles of one vector of filters x \(rows) rows x \(pixels) pixels"
        case let .winograd(plan): what += plan.description
        case .reference: what += "naive reference"
        }
        if node.foldedBatchNorm != nil { what += ", batchnorm folded in" }
        if let a = node.epilogue { what += ", fused \(a.name)" }
        let shape = shapeLiteral(d)
        let xg = "x + ((size_t)b * \(d.c) + (size_t)g * \(d.cg)) * \(d.h * d.w)"
        let yg = "y + ((size_t)b * \(d.f) + (size_t)g * \(d.fg)) * \(d.n)"
        let (hp, wp) = paddedSize(d, ctx.schedule), pfg = packedFilters(d, ctx.schedule)
        let weights = "w + (size_t)g * \(d.k * pfg)", bias = "w + \(d.groups * d.k * pfg) + g * \(pfg)"
        let actArgs = "\(act.cCode), \(CSyntax.float(act.alpha))"
        let pad = "nn_conv_pad(\(xg), s, \(hp), \(wp), xp);\n        "
        var tiles = "", body: String
        switch kind {
        case .implicit:
            body = pad + "nn_conv_implicit(s, \(d.fg), \(hp), \(wp), xp, \(weights), \(bias), \(actArgs), \(yg));"
        case let .rows(t):
            let (instances, plan) = rowsTiles(name, d, t, shape: shape, hp: hp, wp: wp, act: actArgs, schedule: ctx.schedule)
            tiles = instances + "\n"
            body = pad + "nn_conv_rows(s, \(d.fg), xp, \(weights), \(bias), \(yg), &plan);"
            body = "static const nn_conv_rows_plan plan = \(plan);\n        " + body
        case let .narrow(rows, pixels):
            func tile(_ w: Int) -> String {
                guard w > 0 else { return "NULL" }
                let tileName = "\(name)_tile\(rows)x\(w)"
                tiles += """
                    static void \(tileName)(int oh0, int ow0, const float *restrict xp, const float *restrict wk,
                            const float *restrict bias, float *restrict y) {
                        nn_conv_narrow_tile(\(rows), \(w), (nn_conv_shape)\(shape), \(hp), \(wp), oh0, ow0, xp, wk, bias, \(actArgs), y, \(d.fg));
                    }

                    """
                return tileName
            }
            let full = tile(pixels), last = tile(d.ow % pixels)
            body = pad + "nn_conv_narrow(s, \(rows), \(pixels), xp, \(weights), \(bias), \(yg), \(full), \(last));"
        case let .winograd(plan):
            body = "static const nn_wino_shape ws = \(plan.shapeLiteral(d));\n        "
                + "nn_wino_image(\(plan.tv), 0, ws, s, \(xg), w, \(actArgs), \(yg), xp);"
        case .reference:
            body = "nn_conv_naive(\(xg), s, \(d.fg), \(weights), \(bias), \(actArgs), \(yg));"
        }
        let definition = """
            \(ctx.banner(i, what))
            \(tiles)static void \(name)(int nb, const float *restrict x, const float *restrict w, float *restrict y, float *restrict scratch) {
                const nn_conv_shape s = \(shape);
                (void)scratch;
                /* Every (image, group) pair is independent: with threads, each takes a share. */
                NN_OMP(parallel for num_threads(NN_THREADS) schedule(static) if (NN_THREADS > 1))
                for (int t = 0; t < nb * \(d.groups); t++) {
                    const int b = t / \(d.groups), g = t % \(d.groups);
                    float *xp = \(kind == .reference ? "NULL" : "scratch + (size_t)NN_THREAD_ID() * \(perThreadScratch(d, ctx.schedule))");
                    (void)xp;
                    \(body)
                }
            }
            """
        let call = "\(name)(nb, \(ctx.value(node.inputs[0])), \(ctx.packed(i)), \(ctx.value(i)), \(ctx.scratch(i)));"
        return KernelCode(definition: definition, call: call, packing: packing(ctx, i, d, kind))
    }

    /// The layer's rows tiles, with the shape, padding and activation as
    /// constants. Beside the main tile, one for the last rows (OH % rb) and one for the
    /// last vectors of a row, when the tile does not divide them.
    static func rowsTiles(_ name: String, _ d: Dims, _ t: RowsTile, shape: String, hp: Int, wp: Int, act: String,
                          schedule: Schedule) -> (instances: String, plan: String) {
        let vectorsPerRow = blocks(d.ow, schedule.vectorWidth)
        let lastRows = d.oh % t.rb, lastVectors = vectorsPerRow % t.uv
        var instances: [String] = []
        func tile(_ rb: Int, _ uv: Int) -> String {
            guard rb > 0, uv > 0 else { return "NULL" }
            let tileName = "\(name)_tile\(t.fb)x\(rb)x\(uv)"
            instances.append("""
                static void \(tileName)(int oh, int ow0, const float *restrict xp, const float *restrict wk,
                        const float *restrict bias, float *restrict y, int nf) {
                    nn_conv_rows_tile(\(t.fb), \(rb), \(uv), (nn_conv_shape)\(shape), \(hp), \(wp), oh, ow0, xp, wk, bias, \(act), y, nf);
                }
                """)
            return tileName
        }
        let fields = [tile(t.rb, t.uv), tile(lastRows, t.uv), tile(t.rb, lastVectors), tile(lastRows, lastVectors)]
        return (instances.joined(separator: "\n"), "{\(t.fb), \(t.rb), \(t.uv), \(fields.joined(separator: ", "))}")
    }

    static func packing(_ ctx: EmitContext, _ i: Int, _ d: Dims, _ kind: Path) -> String {
        if case .winograd = kind { return WinogradPlan.packing(ctx, i, d) + dxFiltersPacking(ctx, i, d) }
        let node = ctx.graph.nodes[i], c = d.conv, w = ctx.param(node, "weight"), packed = ctx.packed(i)
        let bias = ctx.hasParam(node, "bias") ? ctx.param(node, "bias") : "NULL"
        let pfg = packedFilters(d, ctx.schedule)
        let panel: Int
        switch kind {
        case .implicit: panel = ctx.schedule.panelWidth
        case let .rows(t): panel = t.fb
        case .narrow: panel = ctx.schedule.vectorWidth
        case .reference, .winograd: panel = 0
        }
        let biasAt = "\(packed) + \(d.groups * d.k * pfg) + g * \(pfg)"
        let layout = panel == 0 ? "is used as it is" : "-> per group, filter blocks [K][\(panel)]"
        let copy = panel == 0
            ? "memcpy(\(packed) + (size_t)g * \(d.fg * d.k), \(w) + (size_t)g * \(d.fg * d.k), \(d.fg * d.k) * sizeof(float));"
            : "nn_pack_panels(\(d.fg), \(d.k), \(w) + (size_t)g * \(d.fg * d.k), \(panel), \(packed) + (size_t)g * \(d.k * pfg));"
        var s = """
                /* layer "\(CSyntax.comment(node.name))": conv2d weight [\(d.f), \(d.cg), \(c.kernel.0), \(c.kernel.1)] \(layout) */
                for (int g = 0; g < \(d.groups); g++) {
                    \(copy)
                    nn_pack_bias(\(d.fg), \(pfg), \(bias == "NULL" ? "NULL" : "\(bias) + g * \(d.fg)"), \(biasAt));
            """
        if let bn = node.foldedBatchNorm {
            s += "\n" + DenseEmitter.foldCall(ctx, bn: bn, channels: d.fg, k: d.k, weights: "\(packed) + (size_t)g * \(d.k * pfg)",
                                              panel: panel, bias: biasAt, channelOffset: " + g * \(d.fg)")
                .split(separator: "\n").map { "    " + $0 }.joined(separator: "\n")
        }
        return s + "\n    }" + dxFiltersPacking(ctx, i, d)
    }

    /// Training builds: after the forward weights, what ∂x needs: the filters
    /// transposed and turned 180° for Winograd, else each group's Wᵀ.
    static func dxFiltersPacking(_ ctx: EmitContext, _ i: Int, _ d: Dims) -> String {
        guard ctx.training else { return "" }
        let w = ctx.param(ctx.graph.nodes[i], "weight"), at = transposed(ctx, i)
        if WinogradPlan.gradient(d, ctx.schedule) != nil {
            return "\n    /* ∂x by Winograd: the filters transposed and turned 180°, U [16][\(d.c)][\(d.f)] */\n"
                + "    nn_wino_pack_grad(\(d.f), \(d.c), \(w), \(at));\n"
                + "    nn_pack_bias(\(d.c), \(d.c), NULL, \(at) + \(16 * d.f * d.c));"
        }
        return "\n    for (int g = 0; g < \(d.groups); g++)  /* Wᵀ per group, for ∂x */\n"
            + "        nn_transpose(\(d.fg), \(d.k), \(w) + (size_t)g * \(d.fg * d.k), \(at) + (size_t)g * \(d.fg * d.k));"
    }
}
