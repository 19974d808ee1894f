/// ONNX operators that grow an image: ConvTranspose, Resize, Upsample,
/// DepthToSpace and SpaceToDepth.
extension ONNXGraphBuilder {
    /// ConvTranspose in 1-D and 2-D: any pads (asymmetric too), output_padding, output_shape
    /// (the pads follow from it), auto_pad, dilations and groups. W is [C_in, C_out/group, k...].
    mutating func convTranspose(_ node: ONNXNode) throws {
        let x = try materialize(node.input(0) ?? "", node)
        let shape = try shapes()[x]
        guard shape.count == 2 || shape.count == 3 else {
            throw node.fail("only 1-D and 2-D transposed convolutions are supported: an (N, C, L) or (N, C, H, W) input")
        }
        let is1D = shape.count == 2, image = PoolOps.imageShape(shape)
        let wName = node.input(1) ?? ""
        let w = try weight(node.input(1), node, what: "W", rank: shape.count + 1)
        let groups = try node.int("group", default: 1)
        guard (1...Limits.filters).contains(groups) else { throw node.fail("group \(groups) must be in 1...\(Limits.filters)") }
        guard w.shape[0] == shape[0] else {
            throw node.fail("weight W has shape \(w.shape); expected the input channels \(shape[0]) first")
        }
        let kernel = is1D ? (1, w.shape[2]) : (w.shape[2], w.shape[3])
        if let ks = try node.ints("kernel_shape"), ks != Array(w.shape.dropFirst(2)) {
            throw node.fail("kernel_shape \(ks) differs from the weight's \(w.shape)")
        }
        let stride = try pair(node, "strides", is1D: is1D, default: 1)
        let dilation = try pair(node, "dilations", is1D: is1D, default: 1)
        var outputPadding = (0, 0)
        if let v = try node.ints("output_padding") {
            guard v.count == (is1D ? 1 : 2), v.allSatisfy({ $0 >= 0 && $0 <= Limits.window }) else {
                throw node.fail("attribute output_padding: expected \(is1D ? "one integer" : "two integers") in 0...\(Limits.window), found \(v)")
            }
            outputPadding = is1D ? (0, v[0]) : (v[0], v[1])
        }
        var pads = try windowPads(node, is1D: is1D)
        let autoPad = try node.string("auto_pad", default: "NOTSET")
        // The padding that leaves `out` of the full result: the odd one first, or last with SAME_UPPER.
        func split(_ n: Int, _ s: Int, _ k: Int, _ d: Int, _ op: Int, _ out: Int) throws -> (Int, Int) {
            let total = s * (n - 1) + op + (k - 1) * d + 1 - out
            guard total >= 0 else { throw node.fail("an output of \(out) is larger than the full result \(out + total)") }
            return autoPad == "SAME_UPPER" ? (total / 2, total - total / 2) : (total - total / 2, total / 2)
        }
        let axes = [(image.h, stride.0, kernel.0, dilation.0, outputPadding.0), (image.w, stride.1, kernel.1, dilation.1, outputPadding.1)]
        var targets: [Int]? = nil
        if let o = try node.ints("output_shape") {
            // The spatial sizes, possibly after N and C.
            let spatial = is1D ? 1 : 2
            guard o.count == spatial || o.count == spatial + 2, o.allSatisfy({ (1...Limits.dimension).contains($0) }) else {
                throw node.fail("attribute output_shape: expected \(spatial) positive sizes, found \(o)")
            }
            targets = (is1D ? [1] : []) + o.suffix(spatial)
        } else {
            switch autoPad {
            case "NOTSET": break
            case "VALID": pads = (0, 0, 0, 0)
            case "SAME_UPPER", "SAME_LOWER": targets = [image.h * stride.0, image.w * stride.1]
            case let other: throw node.fail("auto_pad \"\(other)\" is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID")
            }
        }
        if let t = targets {
            let (top, bottom) = try split(axes[0].0, axes[0].1, axes[0].2, axes[0].3, axes[0].4, t[0])
            let (left, right) = try split(axes[1].0, axes[1].1, axes[1].2, axes[1].3, axes[1].4, t[1])
            pads = (top, left, bottom, right)
        }
        let bias = try node.input(2).map { try floats($0, node, what: "B") }
        let channels = w.shape[1] * groups
        if let b = bias, b.shape != [channels] { throw node.fail("bias B of shape \(b.shape), expected [\(channels)]") }
        let c = ConvTranspose(channels: channels, kernel: kernel, stride: stride, pads: pads, outputPadding: outputPadding,
                              dilation: dilation, groups: groups, bias: bias != nil, is1D: is1D)
        let n = add(.convTranspose(c), inputs: [x], node, weightName: wName)
        setWeight(n, "weight", Tensor(shape: w.shape, data: w.floats!), from: wName)
        if let b = bias { setWeight(n, "bias", Tensor(shape: b.shape, data: b.floats!), from: node.input(2)!) }
        bind(node, 0, .tensor(node: n, axes: Self.plain(shape.count)))
    }

    /// Resize (opset 10 on) and Upsample (before): nearest or linear over the trailing axes that
    /// change, from constant scales or sizes. The batch must keep its size.
    mutating func resize(_ node: ONNXNode) throws {
        let x = try materialize(node.input(0) ?? "", node)
        let shape = try shapes()[x], rank = shape.count + 1
        let legacy = node.op == "Upsample" || opset < 11  // Upsample and opset-10 Resize: X, scales
        let mode = try node.string("mode", default: "nearest")
        let coordinates: Resize.Coordinates, rounding: Resize.Rounding
        if legacy {
            coordinates = .asymmetric
            rounding = .floor
        } else {
            let c = try node.string("coordinate_transformation_mode", default: "half_pixel")
            guard let parsed = Resize.Coordinates(rawValue: c) else {
                throw node.fail("coordinate_transformation_mode \"\(c)\" is not supported (half_pixel, pytorch_half_pixel, asymmetric, align_corners)")
            }
            coordinates = parsed
            let r = try node.string("nearest_mode", default: "round_prefer_floor")
            guard let parsedRounding = Resize.Rounding(rawValue: r) else {
                throw node.fail("nearest_mode \"\(r)\" is not one of round_prefer_floor, round_prefer_ceil, floor, ceil")
            }
            rounding = parsedRounding
            try node.expect("antialias", is: 0)
            try node.expect("exclude_outside", is: 0)
            let policy = try node.string("keep_aspect_ratio_policy", default: "stretch")
            guard policy == "stretch" else { throw node.fail("keep_aspect_ratio_policy \"\(policy)\" is not supported (only stretch)") }
        }
        let resizeMode: Resize.Mode
        switch mode {
        case "nearest": resizeMode = .nearest(rounding)
        case "linear": resizeMode = .linear
        case "bilinear" where legacy: resizeMode = .linear  // Upsample before opset 9
        case "cubic": throw node.fail("mode cubic is not supported (only nearest and linear)")
        default: throw node.fail("mode \"\(mode)\" is not one of nearest, linear")
        }
        // Which axes the scales or sizes list (opset 18's axes), as axes of the ONNX tensor.
        var listed = Array(0..<rank)
        if let a = try node.ints("axes") {
            listed = try a.map {
                guard (-rank..<rank).contains($0) else { throw node.fail("axis \($0) is out of range for rank \(rank)") }
                return $0 < 0 ? $0 + rank : $0
            }
            guard Set(listed).count == listed.count else { throw node.fail("attribute axes repeats an axis: \(a)") }
        }
        var scales: [Float]? = nil, sizes: [Int]? = nil
        if node.op == "Upsample" && opset < 9 {
            guard let a = node.proto.attribute.first(where: { $0.name == "scales" }) else { throw node.fail("missing attribute scales") }
            scales = a.floats
        } else if let name = node.input(legacy ? 1 : 2), case let .floats(c) = try value(name, node), c.count > 0 {
            scales = c.floats
        }
        if !legacy, scales == nil, let name = node.input(3) {
            guard case let .ints(v, _) = try value(name, node) else { throw node.fail("input sizes \"\(name)\": expected integer constants") }
            sizes = try v.enumerated().map { i, s in
                if i < listed.count, listed[i] == 0 { return 1 }  // the batch, whatever the export's
                guard case let .value(n) = s, let k = Int(exactly: n), k >= 1, k <= Limits.dimension else {
                    throw node.fail("input sizes: expected positive sizes known before run time, found \(v)")
                }
                return k
            }
        }
        guard let count = scales?.count ?? sizes?.count else { throw node.fail("expected constant scales or sizes") }
        guard count == listed.count else { throw node.fail("\(count) scales or sizes for \(listed.count) axes") }
        // Per axis of the tensor: its scale (or size); unlisted axes keep theirs.
        var scale = [Float](repeating: 1, count: rank), size = [1] + shape
        for (i, a) in listed.enumerated() {
            if let s = scales {
                guard s[i].isFinite, s[i] > 0 else { throw node.fail("scale \(s[i]) must be a positive number") }
                scale[a] = s[i]
            }
            if let s = sizes { size[a] = s[i] }
        }
        let changes = (1..<rank).filter { scales != nil ? scale[$0] != 1 : size[$0] != shape[$0 - 1] }
        if scales != nil ? scale[0] != 1 : size[0] != 1 { throw node.fail("resizing the batch axis is not supported") }
        guard let first = changes.first else { return bind(node, 0, .tensor(node: x, axes: Self.plain(shape.count))) }
        let r = Resize(resizeMode, coordinates: coordinates, sizes: sizes.map { _ in Array(size[first...]) },
                       scales: scales.map { _ in Array(scale[first...]) })
        if case .linear = resizeMode, rank - first > 3 { throw node.fail("linear resizing of more than 3 axes is not supported") }
        bind(node, 0, .tensor(node: add(.resize(r), inputs: [x], node), axes: Self.plain(shape.count)))
    }

    /// DepthToSpace (modes DCR and CRD) and SpaceToDepth of an (N, C, H, W) tensor.
    mutating func depthToSpace(_ node: ONNXNode) throws {
        let x = try materialize(node.input(0) ?? "", node)
        guard try shapes()[x].count == 3 else { throw node.fail("expected an (N, C, H, W) input") }
        let factor = try node.int("blocksize")
        guard (1...Limits.window).contains(factor) else { throw node.fail("blocksize \(factor) must be positive") }
        var kind = PixelShuffle.Kind.spaceToDepth
        if node.op == "DepthToSpace" {
            switch try node.string("mode", default: "DCR") {
            case "DCR": kind = .dcr
            case "CRD": kind = .crd
            case let other: throw node.fail("mode \"\(other)\" is not one of DCR, CRD")
            }
        }
        bind(node, 0, .tensor(node: add(.pixelShuffle(PixelShuffle(kind, factor: factor)), inputs: [x], node), axes: Self.plain(3)))
    }
}
