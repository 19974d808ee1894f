/// conv2d's depthwise kernel (groups = channels = filters, at most 25 taps),
/// forward and backward, in templates/depthwise.c: a channel at a time, its
/// padded input laid out as stride × stride phase planes of hq × wq, so that
/// every tap is one vector load at a constant offset. Bandwidth-bound, so
/// each channel's planes stay in L1 between the copy in and the taps.
struct DepthwisePlan: Equatable, CustomStringConvertible {
    /// Rows and columns of a phase plane: the output's, plus what the taps reach past it.
    var hq: Int, wq: Int
    /// Vectors along each output row, stored straight into y (the last one masked); else the whole
    /// hq × wq grid in full vectors, its rows then copied out (rows narrower than a vector waste fewer lanes).
    var byRows: Bool
    var taps: Int

    static let maxTaps = 25  // NN_DW_MAX_TAPS

    static func plan(_ d: ConvDims, _ s: Schedule) -> DepthwisePlan? {
        let c = d.conv, taps = c.kernel.0 * c.kernel.1
        guard d.groups > 1, d.cg == 1, d.fg == 1, taps <= maxTaps else { return nil }
        let hq = d.oh + (c.kernel.0 - 1) * c.dilation.0 / c.stride.0
        let wq = d.ow + (c.kernel.1 - 1) * c.dilation.1 / c.stride.1
        let vw = s.vectorWidth
        let rowsUse = Double(d.ow) / Double((d.ow + vw - 1) / vw * vw)
        let gridUse = Double(d.ow) / Double(wq) * 0.85  // the copy out costs about 15%
        return DepthwisePlan(hq: hq, wq: wq, byRows: rowsUse >= gridUse, taps: taps)
    }

    var description: String {
        "depthwise, \(taps) taps in registers, " + (byRows ? "vectors along each row" : "vectors over the \(hq)x\(wq) grid")
    }

    /// The phase planes of one channel, each with its NN_VW zeros after (nn_dw_plane).
    func inputFloats(_ d: ConvDims, _ s: Schedule) -> Int { d.conv.stride.0 * d.conv.stride.1 * (hq * wq + s.vectorWidth) }

    /// Per thread: the phase planes, and the grid when not by rows.
    func forwardScratch(_ d: ConvDims, _ s: Schedule) -> Int {
        inputFloats(d, s) + (byRows ? 0 : (d.oh - 1) * wq + d.ow + s.vectorWidth)
    }

    /// Backward: the planes P, ∂z on the grid after `lead` zeros, and ∂P (nn_dw_backward_channel).
    func backwardScratch(_ d: ConvDims, _ s: Schedule) -> Int { 2 * inputFloats(d, s) + gridFloats(d, s) }

    private func gridFloats(_ d: ConvDims, _ s: Schedule) -> Int {
        let c = d.conv
        let lead = (c.kernel.0 - 1) * c.dilation.0 / c.stride.0 * wq + (c.kernel.1 - 1) * c.dilation.1 / c.stride.1
        return lead + hq * wq + 2 * s.vectorWidth
    }

    // MARK: emission

    /// The layer's channel function, the shape and activation as constants, and the loop body that
    /// runs it on channel g of image b, its planes in xp.
    func forward(_ name: String, _ d: ConvDims, xg: String, yg: String, act: String, s: Schedule) -> (tiles: String, body: String) {
        let channel = "\(name)_channel"
        let tiles = """
            static void \(channel)(const float *restrict x, float *restrict P, const float *restrict w, float bias, float *restrict y,
                    float *restrict q) {
                nn_dw_channel(\(taps), (nn_conv_shape)\(d.shapeLiteral), \(hq), \(wq), \(byRows ? 1 : 0), x, P, w, bias, \(act), y, q);
            }

            """
        let body = "(void)s;  /* the channel function has the shape as constants */\n        \(channel)(\(xg), xp, w + (size_t)g * \(taps), w[\(d.groups * taps) + g], \(yg), xp + \(inputFloats(d, s)));"
        return (tiles, body)
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
