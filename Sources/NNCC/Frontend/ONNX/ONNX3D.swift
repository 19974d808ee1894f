/// Conv, MaxPool and AveragePool on (N, C, D, H, W) inputs: the IR's conv2d
/// and pools with a depth axis (`DepthAxis`). Pads may be uneven (ONNX's
/// [d0, h0, w0, d1, h1, w1]) and auto_pad SAME_UPPER / SAME_LOWER works at any stride.
extension ONNXGraphBuilder {
    /// strides or dilations of a 3-D window: three integers, 1 each when absent.
    func triple(_ node: ONNXNode, _ name: String) throws -> [Int] {
        guard let v = try node.ints(name) else { return [1, 1, 1] }
        guard v.count == 3, v.allSatisfy({ $0 >= 1 && $0 <= Limits.window }) else {
            throw node.fail("attribute \(name): expected three integers in 1...\(Limits.window), found \(v)")
        }
        return v
    }

    /// The pads of a 3-D window as [d0, h0, w0, d1, h1, w1], from `pads` or `auto_pad`, and whether
    /// SAME chose them (ceil_mode then does not apply).
    func pads3D(_ node: ONNXNode, sizes: [Int], stride: [Int], extent: [Int]) throws -> (pads: [Int], auto: Bool) {
        switch try node.string("auto_pad", default: "NOTSET") {
        case "NOTSET":
            guard let p = try node.ints("pads") else { return ([0, 0, 0, 0, 0, 0], false) }
            guard p.count == 6, p.allSatisfy({ $0 >= 0 && $0 <= Limits.window }) else {
                throw node.fail("attribute pads: expected six integers in 0...\(Limits.window), found \(p)")
            }
            return (p, false)
        case "VALID": return ([0, 0, 0, 0, 0, 0], false)
        case let same where same == "SAME_UPPER" || same == "SAME_LOWER":
            let split = (0..<3).map { Self.samePads(sizes[$0], stride[$0], extent[$0], upper: same == "SAME_UPPER") }
            return (split.map(\.0) + split.map(\.1), true)
        case let other: throw node.fail("auto_pad \"\(other)\" is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID")
        }
    }

    mutating func conv3D(_ node: ONNXNode, _ x: Int) throws {
        let shape = try shapes()[x], wName = node.input(1) ?? ""
        let w = try weight(node.input(1), node, what: "W", rank: 5)
        let k = Array(w.shape.dropFirst(2))
        if let ks = try node.ints("kernel_shape"), ks != k { throw node.fail("kernel_shape \(ks) differs from the weight's \(w.shape)") }
        let stride = try triple(node, "strides"), dilation = try triple(node, "dilations")
        let extent = (0..<3).map { dilation[$0] * (k[$0] - 1) + 1 }
        let p = try pads3D(node, sizes: Array(shape.dropFirst()), stride: stride, extent: extent).pads
        let bias = try node.input(2).map { try floats($0, node, what: "B") }
        if let b = bias, b.shape != [w.shape[0]] { throw node.fail("bias B of shape \(b.shape), expected [\(w.shape[0])]") }
        let padding: Conv2D.Padding = p[1] == p[4] && p[2] == p[5] ? .explicit(p[1], p[2]) : .asymmetric(p[1], p[2], p[4], p[5])
        var c = Conv2D(filters: w.shape[0], kernel: (k[1], k[2]), stride: (stride[1], stride[2]), padding: padding,
                       dilation: (dilation[1], dilation[2]), groups: try node.int("group", default: 1), bias: bias != nil)
        c.depth = DepthAxis(kernel: k[0], stride: stride[0], padFront: p[0], padBack: p[3], dilation: dilation[0])
        guard c.groups >= 1, c.groups <= Limits.filters else { throw node.fail("group must be in 1...\(Limits.filters)") }
        let n = add(.conv2d(c), inputs: [x], node, weightName: wName)
        setWeight(n, "weight", Tensor(shape: w.shape, data: w.floats!), from: wName)
        if let b = bias { setWeight(n, "bias", Tensor(shape: b.shape, data: b.floats!), from: node.input(2)!) }
        bind(node, 0, .tensor(node: n, axes: Self.plain(4)))
    }

    mutating func pool3D(_ node: ONNXNode, _ x: Int, _ shape: [Int]) throws {
        let k = try node.ints("kernel_shape") ?? []
        guard k.count == 3, k.allSatisfy({ $0 >= 1 && $0 <= Limits.window }) else {
            throw node.fail("attribute kernel_shape: expected three integers in 1...\(Limits.window)")
        }
        try node.expect("storage_order", is: 0)
        let isMax = node.op == "MaxPool"
        let stride = try triple(node, "strides"), dilation = try triple(node, "dilations")
        if !isMax && dilation != [1, 1, 1] { throw node.fail("dilated average pooling is not supported") }
        let extent = (0..<3).map { dilation[$0] * (k[$0] - 1) + 1 }
        let (p, auto) = try pads3D(node, sizes: Array(shape.dropFirst()), stride: stride, extent: extent)
        guard (0..<3).allSatisfy({ max(p[$0], p[$0 + 3]) * 2 <= extent[$0] }) else {
            throw node.fail("pads \(p) larger than half the window \(k) (PyTorch's limit) are not supported")
        }
        var pool = Pool2D(size: (k[1], k[2]), stride: (stride[1], stride[2]), pads: (p[1], p[2], p[4], p[5]),
                          dilation: (dilation[1], dilation[2]), ceilMode: try !auto && node.int("ceil_mode", default: 0) != 0,
                          countIncludePad: try isMax || node.int("count_include_pad", default: 0) != 0)
        pool.depth = DepthAxis(kernel: k[0], stride: stride[0], padFront: p[0], padBack: p[3], dilation: dilation[0])
        try rejectOutputs(node, from: 1, what: "indices")
        bind(node, 0, .tensor(node: add(isMax ? .maxPool(pool) : .avgPool(pool), inputs: [x], node), axes: Self.plain(4)))
    }
}
