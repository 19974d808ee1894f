/// ONNX operators that become IR layers: Gemm/MatMul, Conv, pools,
/// activations (ONNXActivations.swift), softmax, batch normalization (the
/// other normalizations: ONNXNorms.swift), Add and Concat; the other elementwise operators and PRelu are in ONNXBinary.swift.
extension ONNXGraphBuilder {
    mutating func importNode(_ node: ONNXNode) throws {
        if let m = customMapping(node) { return try customLayer(node, m) }
        guard node.proto.domain.isEmpty || node.proto.domain == "ai.onnx" else {
            throw node.fail("operator domain \"\(node.proto.domain)\" is not supported (only the standard ONNX operators); "
                + "map \(node.proto.domain)::\(node.op) to a C function with --custom-op (docs/custom-ops.md)")
        }
        guard !node.proto.output.isEmpty else { throw node.fail("expected at least one output") }
        if skipped.contains(node.index) { return }
        let node = try legacyBroadcast(node)
        if try foldConstants(node) { return }
        switch node.op {
        case "Gemm": try gemm(node)
        case "MatMul": try matMul(node)
        case "Conv": try conv(node)
        case "MaxPool", "AveragePool": try pool(node)
        case "GlobalAveragePool": try globalAveragePool(node)
        case "ReduceMean": if try !layerNormChain(node) { try reduce(node) }
        case "ReduceSum", "ReduceMax", "ReduceMin", "ReduceL2": try reduce(node)
        case "Div": if try !gelu(node) { try binary(node) }
        case "Sub", "Mul", "Pow", "Max", "Min": try binary(node)
        case "PRelu": try prelu(node)
        case "Relu": try elementwise(node, .activation(.relu))
        case "Tanh": try elementwise(node, .activation(.tanh))
        case "LeakyRelu": try elementwise(node, .activation(.leakyRelu(alpha: node.float("alpha", default: 0.01))))
        case "Sigmoid", "Gelu": try unary(node)
        case let op where Self.unaryOps.contains(op): try unary(node)
        case "Softmax", "LogSoftmax": try softmax(node)
        case "BatchNormalization": try batchNorm(node)
        case "LayerNormalization", "GroupNormalization", "InstanceNormalization": try normalization(node)
        case "Add", "Sum": try addition(node)
        case "Concat": try concat(node)
        case "Slice": try slice(node)
        case "Split": try split(node)
        case "Tile": try tile(node)
        case "ConvTranspose": try convTranspose(node)
        case "Resize", "Upsample": try resize(node)
        case "DepthToSpace", "SpaceToDepth": try depthToSpace(node)
        case "Pad": try pad(node)
        case "LSTM", "GRU", "RNN": try recurrent(node)
        default: try shapeNode(node)
        }
    }

    /// GlobalAveragePool, or ReduceMean over the spatial axes of an (N, C, L), (N, C, H, W) or
    /// (N, C, D, H, W) tensor (PyTorch's x.mean(2), x.mean((2, 3)) and x.mean((2, 3, 4))).
    mutating func globalAveragePool(_ node: ONNXNode, keep: Bool = true) throws {
        let x = try materialize(node.input(0) ?? "", node)
        let rank = try shapes()[x].count
        guard (2...4).contains(rank) else { throw node.fail("expected an (N, C, L), (N, C, H, W) or (N, C, D, H, W) input") }
        let n = add(.globalAvgPool, inputs: [x], node)
        bind(node, 0, .tensor(node: n, axes: keep ? Self.plain(1) + Array(repeating: .unit, count: rank - 1) : Self.plain(1)))
    }

    /// An op that keeps the shape: applied to the IR node whatever the view.
    mutating func elementwise(_ node: ONNXNode, _ op: Op) throws {
        let (x, axes) = try tensor(node.input(0) ?? "", node)
        bind(node, 0, .tensor(node: add(op, inputs: [x], node), axes: axes))
    }

    /// Gemm(A, B, C) = A·B' + C with B' = Bᵀ when transB: a dense layer.
    /// alpha and beta scale the constants B and C; beta = 0 drops C.
    mutating func gemm(_ node: ONNXNode) throws {
        let alpha = try node.float("alpha", default: 1), beta = try node.float("beta", default: 1)
        try node.expect("transA", is: 0)
        // A: (N, features), or a 2-D view whose batch is merged into an axis (attention's (T·N, E)).
        var x: Int, axes: [ONNXAxis]
        if case let .tensor(_, a) = try value(node.input(0) ?? "", node), Self.batchMoved(a) {
            (x, axes) = try orderedView(node.input(0) ?? "", node)
            guard axes.count == 2, axes.last == .dim(1) || axes.last == .batchTimes(1) else {
                throw node.fail("expected a 2-D input A, found a view \(describe(axes))")
            }
        } else {
            x = try materialize(node.input(0) ?? "", node)
            axes = Self.plain(1)
            guard try shapes()[x].count == 1 else { throw node.fail("expected a 2-D (N, features) input A") }
        }
        let wName = node.input(1) ?? ""
        var b = try weight(node.input(1), node, what: "B", rank: 2)
        if alpha != 1 { b.floats = b.floats!.map { $0 * alpha } }
        let w = try node.int("transB", default: 0) != 0 ? b : transposed(b)
        let units = w.shape[0]
        var bias = beta == 0 ? nil : try node.input(2).map { try floats($0, node, what: "C") }
        if beta != 1, let c = bias { bias?.floats = c.floats!.map { $0 * beta } }
        if let c = bias, c.count != units || c.shape.count > 2 {
            throw node.fail("bias C of shape \(c.shape) does not broadcast as one value per output (\(units))")
        }
        let d = add(.dense(units: units, bias: bias != nil), inputs: [x], node, weightName: wName)
        setWeight(d, "weight", Tensor(shape: w.shape, data: w.floats!), from: wName)
        if let c = bias { setWeight(d, "bias", Tensor(shape: [units], data: c.floats!), from: node.input(2)!) }
        bind(node, 0, .tensor(node: d, axes: axes))
    }

    func transposed(_ c: ONNXConstant) -> ONNXConstant {
        let (r, k) = (c.shape[0], c.shape[1]), f = c.floats!
        var t = [Float](repeating: 0, count: f.count)
        for i in 0..<r { for j in 0..<k { t[j * r + i] = f[i * k + j] } }
        return ONNXConstant(shape: [k, r], floats: t)
    }

    /// Add of layer results of one shape, or of a layer without bias and a
    /// constant that is exactly that layer's bias (MatMul + Add, Conv + Add);
    /// any other addition broadcasts (ONNXBinary.swift).
    mutating func addition(_ node: ONNXNode) throws {
        let names = node.proto.input.filter { !$0.isEmpty }
        guard names.count >= 2 else { throw node.fail("expected two or more inputs") }
        let constants = try names.filter { if case .tensor = try value($0, node) { return false } else { return true } }
        if constants.isEmpty {
            let xs = try names.map { try materializeLayout($0, node, allowMerged: true) }
            guard Set(xs.map(\.merged)).count == 1, try Set(xs.map { try shapes()[$0.node] }).count == 1 else { return try binary(node) }
            bind(node, 0, .tensor(node: add(.add, inputs: xs.map(\.node), node), axes: xs[0].axes(try shapes()[xs[0].node].count)))
            return
        }
        guard node.op == "Add", names.count == 2, constants.count == 1, let cName = constants.first else {
            return try binary(node)
        }
        let c = try floats(cName, node, what: "bias")
        let xName = names.first { $0 != cName }!
        // A view whose batch is not first keeps its axes (a bias on its last axis only).
        var axes: [ONNXAxis]? = nil, x: Int
        if case let .tensor(_, a) = try value(xName, node), Self.batchMoved(a) {
            let v = try orderedView(xName, node)
            (x, axes) = (v.node, v.axes)
        } else {
            x = try materialize(xName, node)
        }
        // The bias may be folded only when nothing else reads the layer's result.
        let used = uses[xName, default: 0] > 1 || nodes.contains { $0.inputs.contains(x) }
        let shape = try shapes()[x], ones = Array(repeating: 1, count: max(shape.count - 1, 0))
        switch nodes[x].op {
        case let .dense(units, false) where !used && c.count == units && c.shape.last == units:
            nodes[x].op = .dense(units: units, bias: true)
            setWeight(x, "bias", Tensor(shape: [units], data: c.floats!), from: cName)
        case var .conv2d(cv) where !used && !cv.bias && c.count == cv.filters
            && (c.shape == [cv.filters] + ones || c.shape == [1, cv.filters] + ones):
            cv.bias = true
            nodes[x].op = .conv2d(cv)
            setWeight(x, "bias", Tensor(shape: [cv.filters], data: c.floats!), from: cName)
        case var .convTranspose(ct) where !used && !ct.bias && c.count == ct.channels
            && (c.shape == [ct.channels] + ones || c.shape == [1, ct.channels] + ones):
            ct.bias = true
            nodes[x].op = .convTranspose(ct)
            setWeight(x, "bias", Tensor(shape: [ct.channels], data: c.floats!), from: cName)
        default:
            return try binary(node)
        }
        bind(node, 0, .tensor(node: x, axes: axes ?? Self.plain(shape.count)))
    }

    mutating func concat(_ node: ONNXNode) throws {
        let names = node.proto.input.filter { !$0.isEmpty }
        if names.count == 1 { return bind(node, 0, try value(names[0], node)) }
        if case .ints = try value(names.first ?? "", node) { return try shapeNode(node) }
        let xs = try names.map { try materialize($0, node) }
        let rank = try shapes()[xs[0]].count
        let axis = try node.int("axis")
        let a = axis < 0 ? axis + rank + 1 : axis
        guard (1...rank).contains(a) else { throw node.fail("axis \(axis) must name a non-batch axis of rank \(rank + 1)") }
        bind(node, 0, .tensor(node: add(.concat(axis: a - 1), inputs: xs, node), axes: Self.plain(rank)))
    }

    mutating func conv(_ node: ONNXNode) throws {
        let x = try materialize(node.input(0) ?? "", node)
        let rank = try shapes()[x].count
        guard (2...4).contains(rank) else {
            throw node.fail("only 1-D, 2-D and 3-D convolutions are supported: an (N, C, L), (N, C, H, W) or (N, C, D, H, W) input")
        }
        if rank == 4 { return try conv3D(node, x) }
        // Conv1d: one row, its [F, C/g, k] weight laid out as [F, C/g, 1, k].
        let is1D = rank == 2
        let wName = node.input(1) ?? ""
        let w = try weight(node.input(1), node, what: "W", rank: rank + 1)
        let kernel = is1D ? (1, w.shape[2]) : (w.shape[2], w.shape[3])
        if let ks = try node.ints("kernel_shape"), ks != Array(w.shape.dropFirst(2)) {
            throw node.fail("kernel_shape \(ks) differs from the weight's \(w.shape)")
        }
        let stride = try pair(node, "strides", is1D: is1D, default: 1)
        let dilation = try pair(node, "dilations", is1D: is1D, default: 1)
        let image = PoolOps.imageShape(try shapes()[x])
        let padding = try convPadding(node, is1D: is1D, image: (image.h, image.w), stride: stride,
                                      extent: (dilation.0 * (kernel.0 - 1) + 1, dilation.1 * (kernel.1 - 1) + 1))
        let bias = try node.input(2).map { try floats($0, node, what: "B") }
        if let b = bias, b.shape != [w.shape[0]] { throw node.fail("bias B of shape \(b.shape), expected [\(w.shape[0])]") }
        let c = Conv2D(filters: w.shape[0], kernel: kernel, stride: stride, padding: padding, dilation: dilation,
                       groups: try node.int("group", default: 1), bias: bias != nil, is1D: is1D)
        guard c.groups >= 1 else { throw node.fail("group must be positive") }
        let n = add(.conv2d(c), inputs: [x], node, weightName: wName)
        setWeight(n, "weight", Tensor(shape: w.shape, data: w.floats!), from: wName)
        if let b = bias { setWeight(n, "bias", Tensor(shape: b.shape, data: b.floats!), from: node.input(2)!) }
        bind(node, 0, .tensor(node: n, axes: Self.plain(rank)))
    }

    /// Strides or dilations: two integers, or one for a 1-D layer (its height's is 1).
    func pair(_ node: ONNXNode, _ name: String, is1D: Bool, default d: Int) throws -> (Int, Int) {
        guard let v = try node.ints(name) else { return (is1D ? 1 : d, d) }
        guard v.count == (is1D ? 1 : 2), v.allSatisfy({ $0 >= 1 && $0 <= Limits.window }) else {
            throw node.fail("attribute \(name): expected \(is1D ? "one integer" : "two integers") in 1...\(Limits.window), found \(v)")
        }
        return is1D ? (1, v[0]) : (v[0], v[1])
    }

    /// ONNX pads are (top, left, bottom, right), or (left, right) in 1-D; uneven ones, and auto_pad
    /// SAME_UPPER / SAME_LOWER at any stride (output ceil(n / stride), the odd pad after or before),
    /// become `.asymmetric`. `extent` is the dilated kernel's.
    func convPadding(_ node: ONNXNode, is1D: Bool, image: (h: Int, w: Int), stride: (Int, Int),
                     extent: (Int, Int)) throws -> Conv2D.Padding {
        let p: (top: Int, left: Int, bottom: Int, right: Int)
        switch try node.string("auto_pad", default: "NOTSET") {
        case "VALID": return .valid
        case "NOTSET": p = try windowPads(node, is1D: is1D)
        case let same where same == "SAME_UPPER" || same == "SAME_LOWER":
            let (t, b) = Self.samePads(image.h, stride.0, extent.0, upper: same == "SAME_UPPER")
            let (l, r) = Self.samePads(image.w, stride.1, extent.1, upper: same == "SAME_UPPER")
            p = (t, l, b, r)
        case let other: throw node.fail("auto_pad \"\(other)\" is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID")
        }
        return p.top == p.bottom && p.left == p.right ? .explicit(p.top, p.left) : .asymmetric(p.top, p.left, p.bottom, p.right)
    }

    /// MaxPool and AveragePool: any pads (or auto_pad), strides, ceil_mode,
    /// dilated max windows, and average divisors with or without the padding.
    mutating func pool(_ node: ONNXNode) throws {
        let x = try materialize(node.input(0) ?? "", node)
        let shape = try shapes()[x]
        guard (2...4).contains(shape.count) else { throw node.fail("expected an (N, C, L), (N, C, H, W) or (N, C, D, H, W) input") }
        if shape.count == 4 { return try pool3D(node, x, shape) }
        // A 1-D pool is one row: a 1 × k window.
        let is1D = shape.count == 2, image = PoolOps.imageShape(shape)
        let window = try node.ints("kernel_shape") ?? []
        guard window.count == shape.count - 1, window.allSatisfy({ $0 >= 1 && $0 <= Limits.window }) else {
            throw node.fail("attribute kernel_shape: expected \(is1D ? "one integer" : "two integers") in 1...\(Limits.window)")
        }
        let k = is1D ? [1] + window : window
        try node.expect("storage_order", is: 0)
        let isMax = node.op == "MaxPool"
        let stride = try pair(node, "strides", is1D: is1D, default: 1)
        let dilation = try pair(node, "dilations", is1D: is1D, default: 1)
        if !isMax && dilation != (1, 1) { throw node.fail("dilated average pooling is not supported") }
        let extent = (dilation.0 * (k[0] - 1) + 1, dilation.1 * (k[1] - 1) + 1)
        var pads = try windowPads(node, is1D: is1D)
        var ceil = try node.int("ceil_mode", default: 0) != 0
        switch try node.string("auto_pad", default: "NOTSET") {
        case "NOTSET": break
        case "VALID": pads = (0, 0, 0, 0)
        case let same where same == "SAME_UPPER" || same == "SAME_LOWER":
            let upper = same == "SAME_UPPER"
            let (t, b) = Self.samePads(image.h, stride.0, extent.0, upper: upper)
            let (l, r) = Self.samePads(image.w, stride.1, extent.1, upper: upper)
            pads = (t, l, b, r)
            ceil = false
        case let other: throw node.fail("auto_pad \"\(other)\" is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID")
        }
        guard max(pads.top, pads.bottom) * 2 <= extent.0, max(pads.left, pads.right) * 2 <= extent.1 else {
            throw node.fail("pads \(pads) larger than half the window \(k) (PyTorch's limit) are not supported")
        }
        let includePad = try isMax || node.int("count_include_pad", default: 0) != 0
        let p = Pool2D(size: (k[0], k[1]), stride: stride, pads: pads, dilation: dilation, ceilMode: ceil,
                       countIncludePad: includePad, is1D: is1D)
        try rejectOutputs(node, from: 1, what: "indices")
        bind(node, 0, .tensor(node: add(isMax ? .maxPool(p) : .avgPool(p), inputs: [x], node), axes: Self.plain(shape.count)))
    }

    /// ONNX `pads` of a 2-D window: (top, left, bottom, right); of a 1-D one: (left, right).
    func windowPads(_ node: ONNXNode, is1D: Bool) throws -> (top: Int, left: Int, bottom: Int, right: Int) {
        guard let p = try node.ints("pads") else { return (0, 0, 0, 0) }
        guard p.count == (is1D ? 2 : 4), p.allSatisfy({ $0 >= 0 && $0 <= Limits.window }) else {
            throw node.fail("attribute pads: expected \(is1D ? "two" : "four") integers in 0...\(Limits.window), found \(p)")
        }
        return is1D ? (0, p[0], 0, p[1]) : (p[0], p[1], p[2], p[3])
    }

    /// auto_pad SAME_UPPER / SAME_LOWER on one axis of size n: output ceil(n / stride), the
    /// padding the windows (extent e) need, the odd one after (UPPER) or before.
    static func samePads(_ n: Int, _ s: Int, _ e: Int, upper: Bool) -> (Int, Int) {
        let total = max(((n + s - 1) / s - 1) * s + e - n, 0)
        return upper ? (total / 2, total - total / 2) : (total - total / 2, total / 2)
    }

    mutating func batchNorm(_ node: ONNXNode) throws {
        try node.expect("training_mode", is: 0)
        // Opset 6 computes batch statistics unless is_test = 1.
        if opset < 7, try node.int("is_test", default: 0) != 1 {
            throw node.fail("is_test = 0 (training mode) is not supported; nncc imports inference (is_test = 1)")
        }
        try node.expect("spatial", is: 1)
        try rejectOutputs(node, from: 1, what: "running statistics in training mode")
        let x = try materialize(node.input(0) ?? "", node)
        let shape = try shapes()[x]
        guard (1...4).contains(shape.count) else { throw node.fail("expected an (N, C), (N, C, L), (N, C, H, W) or (N, C, D, H, W) input") }
        let parts = try (1...4).map { try floats(node.input($0), node, what: ["", "scale", "B", "mean", "var"][$0]) }
        for (i, t) in parts.enumerated() where t.shape != [shape[0]] {
            throw node.fail("input \(["scale", "B", "mean", "var"][i]) has shape \(t.shape), expected [\(shape[0])]")
        }
        let eps = try node.float("epsilon", default: 1e-5)
        let momentum = try node.float("momentum", default: 0.9)
        guard eps >= 0, (0...1).contains(momentum) else { throw node.fail("epsilon must be ≥ 0 and momentum in [0, 1]") }
        // ONNX keeps `momentum` of the old statistics; PyTorch's momentum weighs the new ones.
        let n = add(.batchNorm(eps: eps, momentum: 1 - momentum), inputs: [x], node, weightName: node.input(1))
        for (param, i) in [("weight", 0), ("bias", 1), ("running_mean", 2), ("running_var", 3)] {
            setWeight(n, param, Tensor(shape: [shape[0]], data: parts[i].floats!), from: node.input(i + 1)!)
        }
        bind(node, 0, .tensor(node: n, axes: Self.plain(shape.count)))
    }
}

extension ONNXGraphBuilder {
    static let legacyBroadcasting: Set<String> = ["Add", "Sub", "Mul", "Div", "Pow", "And", "Or", "Xor", "Equal", "Greater", "Less"]

    /// Before opset 7, binary operators broadcast only with `broadcast = 1`, and align B's axes
    /// with A's from `axis` on (default: the trailing ones, as NumPy does). A constant B aligned
    /// elsewhere gets trailing size-1 axes, so that NumPy's rule gives the same result; the node
    /// is then read as at opset 7.
    mutating func legacyBroadcast(_ node: ONNXNode) throws -> ONNXNode {
        guard opset < 7, Self.legacyBroadcasting.contains(node.op), node.has("broadcast") || node.has("axis") else { return node }
        var proto = node.proto
        proto.attribute.removeAll { $0.name == "broadcast" || $0.name == "axis" }
        let rewritten = ONNXNode(proto: proto, index: node.index, file: node.file)
        guard try node.int("broadcast", default: 0) == 1, node.has("axis"), let a = node.input(0), let b = node.input(1) else {
            return rewritten
        }
        func rank(_ name: String) throws -> Int {
            switch try value(name, node) {
            case let .tensor(_, axes): return axes.count
            case let .floats(c), let .intTensor(c): return c.shape.count
            case let .ints(_, scalar): return scalar ? 0 : 1
            case .filled: throw node.fail("broadcasting with axis needs the rank of \"\(name)\"")
            }
        }
        let (ra, rb) = (try rank(a), try rank(b))
        let axis = try node.int("axis")
        let start = axis < 0 ? axis + ra : axis
        let trailing = ra - start - rb
        guard start >= 0, trailing >= 0 else { throw node.fail("axis \(axis) does not fit B of rank \(rb) in A of rank \(ra)") }
        if trailing == 0 { return rewritten }
        guard var c = known(b) else {
            throw node.fail("broadcasting a computed B from axis \(axis) is not supported; only a constant B")
        }
        c.shape += [Int](repeating: 1, count: trailing)
        let name = "\(b)#broadcast\(axis)"
        values[name] = c.value
        proto.input[1] = name
        return ONNXNode(proto: proto, index: node.index, file: node.file)
    }
}
