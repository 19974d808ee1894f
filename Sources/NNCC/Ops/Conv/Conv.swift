/// conv2d's forward kernels and weight packing, for the path ConvPlan.swift
/// chose. The tiled kernels read the input in place from a zero-padded copy
/// (no im2col); bias, a folded batchnorm and the activation are fused in
/// every one. Training: ConvBackward.swift.
enum ConvOps: OpFamily {
    static func forward(_ ctx: EmitContext, _ i: Int) -> KernelCode? {
        let node = ctx.graph.nodes[i], d = ConvDims(ctx.graph, i), c = d.conv, p = c.pads
        let path: ConvPath? = if case let .conv(path) = node.plan.kernel { path } else { nil }
        let act = node.epilogue ?? .identity
        let name = ctx.kernelName(i, "conv\(c.kernel.0)x\(c.kernel.1)")
        var what = "\(node.op.typeName) \(d.c)->\(d.f) kernel \(c.kernel.0)x\(c.kernel.1) stride \(c.stride.0),\(c.stride.1) "
            + "pad \(p.top),\(p.left),\(p.bottom),\(p.right) dilation \(c.dilation.0),\(c.dilation.1) groups \(d.groups), "
            + (path?.description ?? "naive reference")
        let channelsLast = (input: node.plan.inputChannelsLast, output: node.plan.outputChannelsLast)
        what += node.plan.layoutNote
        if node.foldedBatchNorm != nil { what += ", batchnorm folded in" }
        if let a = node.epilogue { what += ", fused \(a.name)" }
        let shape = d.shapeLiteral
        // Image b's group g: planes in NCHW, or its first channel in a channels-last image (chooseLayouts).
        let xg = channelsLast.input ? "x + (size_t)b * \(d.c * d.h * d.w) + (size_t)g * \(d.cg)"
            : "x + ((size_t)b * \(d.c) + (size_t)g * \(d.cg)) * \(d.h * d.w)"
        let yg = channelsLast.output ? "y + (size_t)b * \(d.f * d.n) + (size_t)g * \(d.fg)"
            : "y + ((size_t)b * \(d.f) + (size_t)g * \(d.fg)) * \(d.n)"
        let (hp, wp) = paddedSize(d, path, ctx.schedule), pfg = packedFilters(d, path, ctx.schedule).filters
        let weights = "w + (size_t)g * \(d.k * pfg)", bias = "w + \(d.groups * d.k * pfg) + g * \(pfg)"
        let actArgs = act.cArgs
        let pad = "nn_conv_pad(\(xg), s, \(hp), \(wp), xp);\n        "
        var tiles = "", body: String, helpers: [String] = []
        // The loop runs over (image, group) pairs, or (image, block of channels) for depthwise channels in the lanes.
        var (units, firstChannel) = (d.groups, "")
        if case let .depthwise(plan)? = path { (units, firstChannel) = plan.units(d, ctx.schedule) }
        switch path {
        case let .implicit(flat)?:
            (tiles, body) = implicit(name, d, flat: flat, xg: xg, yg: yg, weights: weights, bias: bias, act: actArgs,
                                     padded: (hp, wp), s: ctx.schedule, channelsLast: channelsLast.output)
        case let .rows(fb, rb, uv)?:
            let (instances, plan) = rowsTiles(name, d, fb: fb, rb: rb, uv: uv, shape: shape, hp: hp, wp: wp, act: actArgs,
                                              schedule: ctx.schedule)
            tiles = instances + "\n"
            body = "static const nn_conv_rows_plan plan = \(plan);\n        "
                + (c.stride.1 > 1 ? "nn_conv_pad_phases(\(xg), s, \(hp), \(wp), xp);\n        " : pad) + "nn_conv_rows(s, \(d.fg), xp, \(weights), \(bias), \(yg), &plan);"
        case let .narrow(rows, pixels)?:
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
        case let .winograd(plan)?:
            body = "static const nn_wino_shape ws = \(plan.shapeLiteral(d));\n        "
                + "nn_wino_image(\(plan.tv), 0, ws, s, \(xg), w, \(actArgs), \(yg), xp);"
        case let .depthwise(plan)?:
            (tiles, body, helpers) = plan.forward(name, d, xg: xg, yg: yg, act: actArgs, s: ctx.schedule, channelsLast: channelsLast,
                                                      shared: ctx.training)
        case .pointwise? where d.isPlainPointwise:
            body = "(void)s;\n        /* X [\(d.c)][\(d.n)] read in place, its last \(d.n % ctx.schedule.panelWidth) pixels packed */\n        "
                + "nn_gemm_in_place(\(d.f), \(d.n), \(d.c), w, \(xg), xp, \(yg), \(pointwiseEpilogue(act, bias: bias)));"
        case .pointwise?:
            body = "nn_pack_pixels(\(xg), s, xp);  /* X [\(d.c)][\(d.n)] as panels */\n        "
                + "nn_gemm(\(d.f), \(d.n), \(d.c), w, \(d.c), xp, \(yg), \(d.n), \(pointwiseEpilogue(act, bias: bias)));"
        case .channelsLast?:
            body = ""  // one GEMM over the batch, below
        case nil:
            body = "nn_conv_naive(\(xg), s, \(d.fg), \(weights), \(bias), \(actArgs), \(yg));"
        }
        let scratch = path.map { "scratch + (size_t)NN_THREAD_ID() * \(perThreadScratch(d, $0, ctx.schedule))" } ?? "NULL"
        let custom = CustomOps.fusedEpilogue(ctx, i)
        var definition = """
            \(ctx.banner(i, what))
            \(custom.prototypes)\(tiles)static void \(name)(int nb, const float *restrict x, const float *restrict w, float *restrict y, float *restrict scratch) {
                const nn_conv_shape s = \(shape);
                (void)scratch;
                /* Every (image, group) pair is independent: with threads, each takes a share. */
                NN_OMP(parallel for num_threads(NN_THREADS) schedule(static) if (NN_THREADS > 1))
                for (int t = 0; t < nb * \(units); t++) {
                    \(units == 1 ? "const int b = t, g = 0;" : "const int b = t / \(units), g = t % \(units)\(firstChannel);")
                    float *xp = \(scratch);
                    (void)xp;
                    \(body)
                }\(custom.statement)
            }
            """
        if case let .pointwise(batch)? = path, batch > 1 {  // one GEMM over the batch, outside the per-image loop
            let batched = """
                /* X [\(d.c)][nb·\(d.n)] as panels, then W·X [\(d.f)][nb·\(d.n)] copied out per image */
                    nn_conv1x1_batched(nb, s, \(d.f), x, w, \(pointwiseEpilogue(act, bias: "w + \(d.f * d.c)")), scratch,
                                       scratch + \(d.c * ctx.schedule.padded(batch * d.n)), y);
                """
            var body = batched
            // Fewer images run on the implicit GEMM, as a batch-1 build does, from their own copy of the filters.
            if let few = fewImagesFilters(ctx, i) {
                let pf = packedFilters(d, .implicit(flat: true), ctx.schedule).filters
                let implicitBody: String
                (tiles, implicitBody) = implicit(name, d, flat: true, xg: xg, yg: yg, weights: "w + \(few)",
                                                 bias: "w + \(few + d.k * pf)", act: actArgs, padded: (hp, wp), s: ctx.schedule)
                body = """
                    if (nb < \(pointwiseBatchFrom(d, ctx.schedule, maxBatch: batch))) {  /* so few images fill the batched GEMM's panels worse than the implicit GEMM one image */
                            NN_OMP(parallel for num_threads(NN_THREADS) schedule(static) if (NN_THREADS > 1))
                            for (int b = 0; b < nb; b++) {
                                const int g = 0;
                                \(implicitBody.replacingOccurrences(of: "\n", with: "\n    "))
                            }
                        } else {
                            \(batched.split(separator: "\n").joined(separator: "\n    "))
                        }
                    """
            }
            definition = """
                \(ctx.banner(i, what))
                \(custom.prototypes)\(tiles)static void \(name)(int nb, const float *restrict x, const float *restrict w, float *restrict y, float *restrict scratch) {
                    const nn_conv_shape s = \(shape);
                    \(body)\(custom.statement)
                }
                """
        }
        if path == .channelsLast {
            definition = """
                \(ctx.banner(i, what))
                \(custom.prototypes)static void \(name)(int nb, const float *restrict x, const float *restrict w, float *restrict y, float *restrict scratch) {
                    (void)scratch;
                    /* X [nb·\(d.n)][\(d.c)] · Wᵀ [\(d.c)][\(d.f)] -> y [nb·\(d.n)][\(d.f)], every image channels-last */
                    nn_gemm(nb * \(d.n), \(d.f), \(d.c), x, \(d.c), w, y, \(d.f),
                            \(pointwiseEpilogue(act, bias: "w + \(d.k * pfg)", perColumn: true)));\(custom.statement)
                }
                """
        }
        let call = "\(name)(nb, \(ctx.value(node.inputs[0])), \(ctx.packed(i)), \(ctx.value(i)), \(ctx.scratch(i)));"
        return KernelCode(definition: definition, call: call, packing: packing(ctx, i, d, path),
                          separatePacking: dxFiltersPacking(ctx, i, d), helpers: helpers)
    }

    /// The implicit GEMM's tiles and its call for image `b`: a plain 1×1 conv's tiles (`flat`) see its
    /// image as one row of all its pixels, read in place; the others read the padded copy `xp`. The
    /// output NCHW, or channels-last (`channelsLast`, one group): a vector store per pixel and panel.
    static func implicit(_ name: String, _ d: ConvDims, flat: Bool, xg: String, yg: String, weights: String, bias: String,
                         act: String, padded: (Int, Int), s schedule: Schedule, channelsLast: Bool = false)
        -> (tiles: String, body: String) {
        let ys = channelsLast ? d.f : 0
        let td = flat ? d.asOneRow : d, (thp, twp) = flat ? (1, d.n) : padded, mr = schedule.rowsPerTile
        var tiles = ""
        func tile(_ rows: Int) -> String {
            guard rows > 0 else { return "NULL" }
            let tileName = "\(name)_tile\(rows)"
            tiles += """
                static void \(tileName)(int oh, int ow0, const float *restrict xp, const float *restrict B, int nc,
                        const float *restrict bias, float *restrict y) {
                    nn_conv_tile(\(rows), (nn_conv_shape)\(td.shapeLiteral), \(thp), \(twp), oh, ow0, xp, B, nc, bias, \(act), y, \(ys));
                }

                """
            return tileName
        }
        let tileArgs = "\(d.fg), \(flat ? xg : "xp"), \(weights), \(bias), \(yg), \(td.ow >= mr ? tile(mr) : "NULL"), \(tile(td.ow % mr)), \(ys)"
        let body = flat
            ? "static const nn_conv_shape row = \(td.shapeLiteral);  /* [\(d.c)][\(d.n)] as one row, in place */\n        "
                + "(void)s;\n        nn_conv_implicit(row, \(tileArgs));"
            : "nn_conv_pad(\(xg), s, \(padded.0), \(padded.1), xp);\n        nn_conv_implicit(s, \(tileArgs));"
        return (tiles, body)
    }

    /// A pointwise layer's GEMM epilogue: the bias per row (filter), or per column when the filters
    /// are the GEMM's columns (channels-last), and the activation.
    static func pointwiseEpilogue(_ act: Activation, bias: String, perColumn: Bool = false) -> String {
        "(nn_epilogue){.bias = \(bias), .bias_mode = \(perColumn ? 1 : 2), .act = \(act.cCode), "
            + ".alpha = \(CSyntax.float(act.parameters.0)), .beta = \(CSyntax.float(act.parameters.1))}"
    }

    /// The layer's rows tiles, with the shape, padding and activation as
    /// constants. Beside the main tile, one for the last rows (OH % rb) and one for the
    /// last vectors of a row, when the tile does not divide them.
    static func rowsTiles(_ name: String, _ d: ConvDims, fb: Int, rb: Int, uv: Int, shape: String, hp: Int, wp: Int, act: String,
                          schedule: Schedule) -> (instances: String, plan: String) {
        let vectorsPerRow = blocks(d.ow, schedule.vectorWidth)
        let lastRows = d.oh % rb, lastVectors = vectorsPerRow % uv
        var instances: [String] = []
        func tile(_ rb: Int, _ uv: Int) -> String {
            guard rb > 0, uv > 0 else { return "NULL" }
            let tileName = "\(name)_tile\(fb)x\(rb)x\(uv)"
            instances.append("""
                static void \(tileName)(int oh, int ow0, const float *restrict xp, const float *restrict wk,
                        const float *restrict bias, float *restrict y, int nf) {
                    nn_conv_rows_tile(\(fb), \(rb), \(uv), (nn_conv_shape)\(shape), \(hp), \(wp), oh, ow0, xp, wk, bias, \(act), y, nf);
                }
                """)
            return tileName
        }
        let plan = "{.fb = \(fb), .rb = \(rb), .uv = \(uv), .full = \(tile(rb, uv)), .last_rows = \(tile(lastRows, uv)), "
            + ".last_vectors = \(tile(rb, lastVectors)), .last_both = \(tile(lastRows, lastVectors))}"
        return (instances.joined(separator: "\n"), plan)
    }

    static func packing(_ ctx: EmitContext, _ i: Int, _ d: ConvDims, _ path: ConvPath?) -> String {
        if case .winograd? = path { return WinogradPlan.packing(ctx, i, d) }
        guard let few = fewImagesFilters(ctx, i) else { return packing(ctx, i, d, path, into: ctx.packed(i)) }
        return packing(ctx, i, d, path, into: ctx.packed(i)) + "\n"
            + packing(ctx, i, d, .implicit(flat: true), into: "\(ctx.packed(i)) + \(few)", note: " (for fewer images)")
    }

    /// One layout of the layer's filters and biases, at `packed`.
    static func packing(_ ctx: EmitContext, _ i: Int, _ d: ConvDims, _ path: ConvPath?, into packed: String, note: String = "") -> String {
        let node = ctx.graph.nodes[i], c = d.conv, w = ctx.param(node, "weight")
        let bias = ctx.hasParam(node, "bias") ? ctx.param(node, "bias") : "NULL"
        let (pfg, panel) = packedFilters(d, path, ctx.schedule)
        let biasAt = "\(packed) + \(d.groups * d.k * pfg) + g * \(pfg)"
        let layout = panel == 0 ? "is used as it is" : "-> per group, filter blocks [K][\(panel)]"
        let copy = panel == 0
            ? "memcpy(\(packed) + (size_t)g * \(d.fg * d.k), \(w) + (size_t)g * \(d.fg * d.k), \(d.fg * d.k) * sizeof(float));"
            : "nn_pack_panels(\(d.fg), \(d.k), \(w) + (size_t)g * \(d.fg * d.k), \(panel), \(packed) + (size_t)g * \(d.k * pfg));"
        var s = """
                /* layer "\(CSyntax.comment(node.name))": \(node.op.typeName) weight [\(d.f), \(d.cg), \(c.is1D ? "" : "\(c.kernel.0), ")\(c.kernel.1)] \(layout)\(note) */
                for (int g = 0; g < \(d.groups); g++) {
                    \(copy)
                    nn_pack_bias(\(d.fg), \(pfg), \(bias == "NULL" ? "NULL" : "\(bias) + g * \(d.fg)"), \(biasAt));
            """
        if let bn = node.foldedBatchNorm {
            s += "\n" + DenseOps.foldCall(ctx, bn: bn, channels: d.fg, k: d.k, weights: "\(packed) + (size_t)g * \(d.k * pfg)",
                                          panel: panel, bias: biasAt, channelOffset: " + g * \(d.fg)")
                .split(separator: "\n").map { "    " + $0 }.joined(separator: "\n")
        }
        return s + "\n    }"
    }

    /// Training builds: after the forward weights, what ∂x needs: the filters
    /// transposed and turned 180° for Winograd, else each group's Wᵀ. They read only the
    /// weights, so the threaded train step may pack them on another thread (KernelCode).
    static func dxFiltersPacking(_ ctx: EmitContext, _ i: Int, _ d: ConvDims) -> String {
        guard case let .conv(dx, _)? = ctx.graph.nodes[i].plan.backward, let at = dxFilters(ctx, i) else { return "" }
        let w = ctx.param(ctx.graph.nodes[i], "weight")
        if case .winograd = dx {
            return "    /* ∂x by Winograd: the filters transposed and turned 180°, U [16][\(d.c)][\(d.f)] */\n"
                + "    nn_wino_pack_grad(\(d.f), \(d.c), \(w), \(at));\n"
                + "    nn_pack_bias(\(d.c), \(d.c), NULL, \(at) + \(16 * d.f * d.c));"
        }
        return "    for (int g = 0; g < \(d.groups); g++)  /* Wᵀ per group, for ∂x */\n"
            + "        nn_transpose(\(d.fg), \(d.k), \(w) + (size_t)g * \(d.fg * d.k), \(at) + (size_t)g * \(d.fg * d.k));"
    }

    /// Training builds: where ∂x's filters start in the node's packed block (Wᵀ, or Winograd's U for ∂x).
    static func dxFilters(_ ctx: EmitContext, _ i: Int) -> String? { plannedPacking(ctx, i).dx?.at(ctx.packed(i)) }

    /// Where the node's filters for fewer images start in its packed block (Packed.fewImages), as planned.
    static func fewImagesFilters(_ ctx: EmitContext, _ i: Int) -> Int? { plannedPacking(ctx, i).fewImages?.offset }

    /// The node's packed block as its plan laid it out.
    static func plannedPacking(_ ctx: EmitContext, _ i: Int) -> Packed {
        let node = ctx.graph.nodes[i]
        let path: ConvPath? = if case let .conv(p) = node.plan.kernel { p } else { nil }
        let dx: ConvInputGradient = if case let .conv(dx, _)? = node.plan.backward { dx } else { .none }
        return packed(ConvDims(ctx.graph, i), path, ctx.schedule, training: node.plan.backward != nil, dx: dx)
    }
}
