/// conv2d's depthwise kernel (groups = channels = filters, at most 25 taps),
/// forward and backward, in templates/depthwise.c. By default a channel at a
/// time, its padded input laid out as stride × stride phase planes of hq × wq,
/// so that every tap is one vector load at a constant offset. Bandwidth-bound,
/// so each channel's planes stay in L1 between the copy in and the taps.
/// Images whose rows fill few lanes (dscnn's 25×5) put a block of channels in
/// the lanes instead (nn_dw_lanes); the backward is always per channel.
struct DepthwisePlan: Equatable, CustomStringConvertible {
    /// What the vector lanes hold.
    enum Lanes: Equatable {
        /// Pixels along each output row, stored straight into y (the last vector masked).
        case rows
        /// Pixels of the whole hq × wq grid in full vectors, its rows then copied out
        /// (rows narrower than a vector waste fewer lanes).
        case grid
        /// A block of vectorWidth channels, gathered into an interleaved padded image of hp × wp pixels.
        case channels(hp: Int, wp: Int)
    }

    /// Rows and columns of a phase plane: the output's, plus what the taps reach past it (also the backward's).
    var hq: Int, wq: Int
    var lanes: Lanes
    var taps: Int

    static let maxTaps = 25  // NN_DW_MAX_TAPS

    /// Per channel, rows or the grid, whichever fills more lanes (the grid's copy out costs about
    /// 15%). Channels in the lanes when cheaper by a cost per output row, in vectors of work,
    /// fitted to AVX2 timings of 3×3 layers (3×3 to 48×48, strides 1 and 2): a per-channel layout
    /// pays about one vector more per row (its row copy and masked store), and twice all that when
    /// strided (the phase planes gather strided scalars); channels in the lanes about 1.9 per
    /// vector of pixels (the two transposes), more for a last block of few channels.
    static func plan(_ d: ConvDims, _ s: Schedule) -> DepthwisePlan? {
        let c = d.conv, taps = c.kernel.0 * c.kernel.1
        guard d.groups > 1, d.cg == 1, d.fg == 1, taps <= maxTaps else { return nil }
        let hq = d.oh + (c.kernel.0 - 1) * c.dilation.0 / c.stride.0
        let wq = d.ow + (c.kernel.1 - 1) * c.dilation.1 / c.stride.1
        let vw = Double(s.vectorWidth), ow = Double(d.ow)
        let rowsUse = ow / ((ow / vw).rounded(.up) * vw)
        let gridUse = ow / Double(wq) * 0.85
        let perChannel = (rowsUse >= gridUse ? ow / vw / rowsUse : Double(wq) / vw / 0.85) + 1
        let strided = c.stride != (1, 1) ? 2.0 : 1.0
        let channels = ow / vw * 1.9 * (Double(d.c) / vw).rounded(.up) * vw / Double(d.c)
        let lanes: Lanes
        if channels < perChannel * strided {
            lanes = .channels(hp: (d.oh - 1) * c.stride.0 + (c.kernel.0 - 1) * c.dilation.0 + 1,
                              wp: (d.ow - 1) * c.stride.1 + (c.kernel.1 - 1) * c.dilation.1 + 1)
        } else {
            lanes = rowsUse >= gridUse ? .rows : .grid
        }
        return DepthwisePlan(hq: hq, wq: wq, lanes: lanes, taps: taps)
    }

    var description: String {
        switch lanes {  // the kernel's name up to the first comma (ClangTests tells kernels apart by it)
        case .rows: "depthwise, \(taps) taps in registers, vectors along each row"
        case .grid: "depthwise, \(taps) taps in registers, vectors over the \(hq)x\(wq) grid"
        case let .channels(hp, wp): "depthwise with channels in the vector lanes, \(taps) taps in registers, over the padded \(hp)x\(wp) image"
        }
    }

    /// Iterations of the layer's loop per image, and the first channel of iteration u: a channel
    /// each, or a block of vectorWidth channels.
    func units(_ d: ConvDims, _ s: Schedule) -> (count: Int, firstChannel: String) {
        guard case .channels = lanes else { return (d.groups, "") }
        return (ConvOps.blocks(d.c, s.vectorWidth), " * \(s.vectorWidth)")
    }

    /// The phase planes of one channel, each with its NN_VW zeros after (nn_dw_plane).
    func inputFloats(_ d: ConvDims, _ s: Schedule) -> Int { d.conv.stride.0 * d.conv.stride.1 * (hq * wq + s.vectorWidth) }

    /// Per thread: the phase planes, and the grid when not by rows; or the interleaved padded image.
    func forwardScratch(_ d: ConvDims, _ s: Schedule) -> Int {
        switch lanes {
        case .rows: return inputFloats(d, s)
        case .grid: return inputFloats(d, s) + (d.oh - 1) * wq + d.ow + s.vectorWidth
        case let .channels(hp, wp): return hp * wp * s.vectorWidth
        }
    }

    /// Backward: the planes P, ∂z on the grid after `lead` zeros, and ∂P (nn_dw_backward_channel).
    func backwardScratch(_ d: ConvDims, _ s: Schedule) -> Int { 2 * inputFloats(d, s) + gridFloats(d, s) }

    private func gridFloats(_ d: ConvDims, _ s: Schedule) -> Int {
        let c = d.conv
        let lead = (c.kernel.0 - 1) * c.dilation.0 / c.stride.0 * wq + (c.kernel.1 - 1) * c.dilation.1 / c.stride.1
        return lead + hq * wq + 2 * s.vectorWidth
    }

    // MARK: emission

    /// The layer's channel (or channel block) functions, and the loop body that runs them on channel (or
    /// first channel) g of image b, its scratch in xp. Their shape and activation are constants, but for
    /// NCHW blocks in a `shared` build (training, whose compile time they dominated): these are helpers
    /// of every layer of a geometry (`helpers`, emitted once), the image's size an argument. That costs
    /// the small images of mobilenet_vww 10–50% of their depthwise time, about 1% of its train step,
    /// and saves gcc 0.7 s of CPU (docs/compile-time.md). Channels in the lanes may read or write channels-last images
    /// (KernelPlan.inputChannelsLast; xg and yg then point at the block's first channel of image b).
    func forward(_ name: String, _ d: ConvDims, xg: String, yg: String, act: String, s: Schedule,
                 channelsLast: (input: Bool, output: Bool), shared: Bool) -> (tiles: String, body: String, helpers: [String]) {
        let note = "(void)s;  /* the shape is constant in the functions below */\n        "
        guard case let .channels(hp, wp) = lanes else {
            let channel = "\(name)_channel"
            let tiles = """
                static void \(channel)(const float *restrict x, float *restrict P, const float *restrict w, float bias, float *restrict y,
                        float *restrict q) {
                    nn_dw_channel(\(taps), (nn_conv_shape)\(d.shapeLiteral), \(hq), \(wq), \(lanes == .rows ? 1 : 0), x, P, w, bias, \(act), y, q);
                }

                """
            return (tiles, note + "\(channel)(\(xg), xp, w + (size_t)g * \(taps), w[\(d.groups * taps) + g], \(yg), xp + \(inputFloats(d, s)));", [])
        }
        // One helper for the full blocks of vectorWidth channels, one for the last C % vectorWidth.
        let vw = s.vectorWidth, last = d.c % vw
        var tiles = "", helpers: [String] = []
        func block(_ n: Int) -> String {
            let arguments = "\(xg), w + (size_t)g * \(taps), w + \(d.groups * taps) + g, \(yg), xp);"
            guard shared, !channelsLast.input, !channelsLast.output else {
                tiles += """
                    static void \(name)_lanes\(n)(const float *restrict x, const float *restrict w, const float *restrict bias, float *restrict y,
                            float *restrict P) {
                        nn_dw_lanes(\(taps), (nn_conv_shape)\(d.shapeLiteral), \(hp), \(wp), \(n), \(channelsLast.input ? d.c : 0), \(channelsLast.output ? d.c : 0),
                                    x, w, bias, \(act), y, P);
                    }

                    """
                return "\(name)_lanes\(n)(" + arguments
            }
            let (helper, definition) = lanesHelper(d, n: n, act: act)
            helpers.append(definition)
            return "\(helper)(s, \(hp), \(wp), " + arguments
        }
        let body = switch (d.c >= vw, last > 0) {
        case (true, false): block(vw)
        case (false, _): block(last)
        case (true, true): "if (g + \(vw) <= \(d.c)) \(block(vw))\n        else \(block(last))"
        }
        return (tiles, (helpers.isEmpty ? note : "") + body, helpers)
    }

    /// The name and definition of the function running n channels in the lanes, NCHW in and out, for
    /// every layer with this geometry: taps, stride and dilation constant (the taps unroll, their offsets
    /// multiples of Wp), the image's size and padding from `s`, Hp and Wp.
    private func lanesHelper(_ d: ConvDims, n: Int, act: String) -> (name: String, definition: String) {
        let c = d.conv
        let activation = act.hasSuffix(", 0.0f, 0.0f") ? String(act.dropLast(12)) : act
        let actName = activation.lowercased().replacingOccurrences(of: "nn_act_", with: "")
            .map { $0.isLetter || $0.isNumber ? String($0) : "_" }.joined()
        let name = "dw_lanes\(n)_\(c.kernel.0)x\(c.kernel.1)_s\(c.stride.0)x\(c.stride.1)_d\(c.dilation.0)x\(c.dilation.1)_\(actName)"
        let definition = """
            /* depthwise \(c.kernel.0)x\(c.kernel.1) stride \(c.stride.0),\(c.stride.1) dilation \(c.dilation.0),\(c.dilation.1), \(activation): \(n) channels of an NCHW image in the vector lanes;
               every layer of this geometry calls it, the image's size in s, Hp and Wp */
            static NN_ONCE void \(name)(nn_conv_shape s, int Hp, int Wp, const float *restrict x, const float *restrict w,
                    const float *restrict bias, float *restrict y, float *restrict P) {
                s.kh = \(c.kernel.0); s.kw = \(c.kernel.1); s.sh = \(c.stride.0); s.sw = \(c.stride.1); s.dh = \(c.dilation.0); s.dw = \(c.dilation.1);
                nn_dw_lanes(\(taps), s, Hp, Wp, \(n), 0, 0, x, w, bias, \(act), y, P);
            }
            """
        return (name, definition)
    }

    /// The layer's backward of one channel and image, the shape as constants.
    func backwardDefinition(_ name: String, _ layer: String, _ d: ConvDims, _ s: Schedule) -> String {
        let input = inputFloats(d, s)
        return """
            /* ∂x and ∂W of depthwise layer "\(layer)": the adjoint of its phase planes, a vector per tap */
            static void \(name)(const float *restrict x, const float *restrict w, const float *restrict dz, float *restrict dx,
                    float *restrict dW, float *restrict db, float *restrict scratch) {
                nn_dw_backward_channel(\(taps), (nn_conv_shape)\(d.shapeLiteral), \(hq), \(wq), x, w, dz, dx, dW, db,
                                       scratch, scratch + \(input), scratch + \(input + gridFloats(d, s)));
            }


            """
    }
}
