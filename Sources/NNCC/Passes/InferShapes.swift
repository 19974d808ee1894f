/// Shape inference: fills every node's per-example shape and the parameter
/// table, and rejects shape errors at compile time naming the layer. Every
/// size is checked against `Limits` before anything multiplies it further.
public func inferShapes(_ g: Graph, file: String? = nil) throws -> Graph {
    var g = g
    try Limits.check("input of shape", g.input.shape, limit: Limits.exampleElements) {
        NNCCError(file: file, path: g.input.origin, $0)
    }
    var params: [ParamSpec] = [], paramElements = 0, owners: [String: String] = [:]
    for i in 1..<g.nodes.count {
        let n = g.nodes[i]
        let ins = n.inputs.map { g.nodes[$0].shape }
        func fail(_ msg: String) -> NNCCError {
            NNCCError(file: file, path: n.origin, "\(n.op.typeName) layer \"\(n.name)\": \(msg)")
        }
        switch n.op {
        case .add, .concat: break
        case let .binary(b) where b.constant == nil:
            guard ins.count == 2 else { throw fail("expected two inputs, found \(ins.count)") }
        case .matmul(nil):
            guard ins.count == 2 else { throw fail("expected two inputs, found \(ins.count)") }
        default:
            guard ins.count == 1 else { throw fail("expected exactly one input, found \(ins.count)") }
        }
        if let check = n.operandCheck, let x = ins.first,
           x.count != check.shape.count || zip(x, check.shape).contains(where: { $1 != -1 && $0 != $1 }) {
            throw fail("expected \(check.what), found \(shapeText(x))")
        }
        g.nodes[i].op = try resolveAxes(n.op, rank: ins[0].count, shape: ins[0], fail: fail)
        let shape = try outputShape(g.nodes[i].op, ins, fail: fail)
        try Limits.check("result of shape", shape, limit: Limits.exampleElements, fail: fail)
        guard shape.count <= Limits.rank else {
            throw fail("the result has \(shape.count) axes per example; nncc supports at most \(Limits.rank) besides the batch")
        }
        g.nodes[i].shape = shape
        for p in parameters(of: g.nodes[i], input: ins[0]) {
            try Limits.check("parameter \"\(p.name)\" of shape", p.shape, limit: Limits.bufferElements, fail: fail)
            // Layer names may hold dots, so two layers could claim one PyTorch name.
            if let other = owners.updateValue(p.layer, forKey: p.name) {
                throw fail("its parameter \"\(p.name)\" has the name of a parameter of layer \"\(other)\"; rename a layer")
            }
            paramElements += p.size
            guard paramElements <= Limits.parameterElements else {
                throw fail("the parameters up to this layer hold \(paramElements) elements (the limit is "
                    + "\(Limits.show(Limits.parameterElements)) for the whole model)")
            }
            params.append(p)
        }
    }
    g.params = params
    return g
}

func outputShape(_ op: Op, _ ins: [[Int]], fail: (String) -> NNCCError) throws -> [Int] {
    let x = ins.first ?? []
    func shapeText(_ s: [Int]) -> String { "[" + s.map(String.init).joined(separator: ", ") + "]" }
    /// (C, H, W) of a 2-D layer's [C, H, W] input, or (C, 1, L) of a 1-D layer's [C, L].
    func image(is1D: Bool = false) throws -> (Int, Int, Int) {
        if is1D {
            guard x.count == 2 else { throw fail("expected a [C, L] input, found \(shapeText(x))") }
            return (x[0], 1, x[1])
        }
        guard x.count == 3 else { throw fail("expected a [C, H, W] input, found \(shapeText(x))") }
        return (x[0], x[1], x[2])
    }
    /// [C, H, W], or [C, L] for a 1-D layer (its height is 1).
    func result(_ c: Int, _ h: Int, _ w: Int, is1D: Bool) -> [Int] { is1D ? [c, w] : [c, h, w] }
    switch op {
    case .input:
        return x
    case let .dense(units, _):
        return Array(x.dropLast()) + [units]
    case let .conv2d(c) where c.depth != nil:
        return try conv3DShape(c, x, fail: fail)
    case let .maxPool(p) where p.depth != nil, let .avgPool(p) where p.depth != nil:
        return try pool3DShape(p, x, fail: fail)
    case let .conv2d(c):
        let (ch, h, w) = try image(is1D: c.is1D)
        if c.is1D && (c.kernel.0, c.stride.0, c.dilation.0, c.pads.top, c.pads.bottom) != (1, 1, 1, 0, 0) {
            throw fail("a 1-D convolution has a kernel, stride and dilation of 1 and no padding along the height")
        }
        // The kernels read a zero-padded copy of the input.
        let p = c.pads
        try Limits.check("padded input of shape", [ch, h + p.top + p.bottom, w + p.left + p.right],
                         limit: Limits.exampleElements, fail: fail)
        guard ch % c.groups == 0, c.filters % c.groups == 0 else {
            throw fail("groups \(c.groups) must divide both the input channels \(ch) and filters \(c.filters)")
        }
        if c.padding == .same && (c.stride.0 != 1 || c.stride.1 != 1) {
            throw fail("padding \"same\" needs stride 1 (as PyTorch)")
        }
        let ekh = c.dilation.0 * (c.kernel.0 - 1) + 1, ekw = c.dilation.1 * (c.kernel.1 - 1) + 1
        guard ekh <= h + p.top + p.bottom, ekw <= w + p.left + p.right else {
            throw fail("kernel \(ekh)×\(ekw) (dilated) is larger than the padded input "
                + "\(h + p.top + p.bottom)×\(w + p.left + p.right)")
        }
        let (oh, ow) = c.outputSize(h, w)
        return result(c.filters, oh, ow, is1D: c.is1D)
    case let .convTranspose(c):
        let (ch, h, w) = try image(is1D: c.is1D)
        let p = c.pads
        if c.is1D && (c.kernel.0, c.stride.0, c.dilation.0, p.top, p.bottom, c.outputPadding.0) != (1, 1, 1, 0, 0, 0) {
            throw fail("a 1-D transposed convolution has a kernel, stride and dilation of 1 and no padding along the height")
        }
        guard ch % c.groups == 0, c.channels % c.groups == 0 else {
            throw fail("groups \(c.groups) must divide both the input channels \(ch) and the output channels \(c.channels)")
        }
        let (oh, ow) = c.outputSize(h, w)
        guard oh >= 1, ow >= 1 else { throw fail("the padding leaves no output on a \(h)×\(w) input (\(oh)×\(ow))") }
        try Limits.check("columns of shape", [c.channels / c.groups * c.kernel.0 * c.kernel.1, h * w],
                         limit: Limits.exampleElements, fail: fail)
        return result(c.channels, oh, ow, is1D: c.is1D)
    case let .resize(r):
        return try r.outputShape(x, fail: fail)
    case let .pixelShuffle(p):
        return try p.outputShape(x, fail: fail)
    case let .maxPool(p), let .avgPool(p):
        let (ch, h, w) = try image(is1D: p.is1D)
        if p.is1D && (p.size.0, p.stride.0, p.dilation.0, p.pads.top, p.pads.bottom) != (1, 1, 1, 0, 0) {
            throw fail("a 1-D pool has a window, stride and dilation of 1 and no padding along the height")
        }
        let (oh, ow) = p.outputSize(h, w)
        guard oh >= 1, ow >= 1 else {
            throw fail("pool \(p.size.0)×\(p.size.1) leaves no output on a \(h)×\(w) input")
        }
        return result(ch, oh, ow, is1D: p.is1D)
    case .globalAvgPool:
        // Over every axis after the channels: [C, L], [C, H, W] or [C, D, H, W].
        guard (2...4).contains(x.count) else { throw fail("expected a [C, L], [C, H, W] or [C, D, H, W] input, found \(shapeText(x))") }
        return [x[0]]
    case let .reshape(target):
        let total = x.reduce(1, *)  // checked when x was inferred
        guard let known = FormatIO.elementCount(target.filter { $0 != -1 }) else {
            throw fail("cannot reshape \(shapeText(x)) (\(total) values) to \(shapeText(target))")
        }
        if target.contains(-1) {
            guard total % known == 0 else { throw fail("cannot reshape \(shapeText(x)) to \(shapeText(target))") }
            return target.map { $0 == -1 ? total / known : $0 }
        }
        guard known == total else { throw fail("cannot reshape \(shapeText(x)) (\(total) values) to \(shapeText(target))") }
        return target
    case .activation, .softmax, .logSoftmax, .dropout:
        return x
    case let .transpose(perm):
        guard perm.sorted() == Array(x.indices) else {
            throw fail("perm \(shapeText(perm)) is not a permutation of the \(x.count) axes of \(shapeText(x))")
        }
        return perm.map { x[$0] }
    case .swapAxes, .slice:
        throw fail("unresolved \(op.typeName)")  // resolveAxes replaced it
    case let .matmul(constant):
        let b = constant ?? (ins.count > 1 ? ins[1] : [])
        guard x.count >= 2, b.count >= 2, b.allSatisfy({ $0 >= 1 }) else {
            throw fail("matmul needs two operands of rank 2 or more per example ([..., M, K] and [..., K, N]), "
                + "found \(shapeText(x)) and \(shapeText(b))")
        }
        guard x[x.count - 1] == b[b.count - 2] else {
            throw fail("matmul of \(shapeText(x)) and \(shapeText(b)): K differs (\(x[x.count - 1]) and \(b[b.count - 2]))")
        }
        guard let lead = broadcast([Array(x.dropLast(2)), Array(b.dropLast(2))]) else {
            throw fail("matmul of \(shapeText(x)) and \(shapeText(b)): the leading axes do not broadcast (NumPy's rule)")
        }
        return lead + [x[x.count - 2], b[b.count - 1]]
    case let .reduce(r):
        guard r.keepDims || r.axes.count < x.count else {
            throw fail("reducing every axis of \(shapeText(x)) leaves none per example; keep the dims or reduce fewer")
        }
        return r.keepDims ? x.indices.map { r.axes.contains($0) ? 1 : x[$0] }
                          : x.indices.filter { !r.axes.contains($0) }.map { x[$0] }
    case let .select(axes):
        guard axes.count == x.count else { throw fail("expected \(x.count) axis selections, found \(axes.count)") }
        for (k, a) in axes.enumerated() {
            guard a.count >= 1, a.count <= Limits.dimension else { throw fail("axis \(k) selects \(a.count) elements") }
            // A range's ends and every listed index lie inside the axis.
            let ends: [Int]
            switch a {
            case let .range(start, step, n): ends = [start, start + step * (n - 1)]
            case let .list(l): ends = l
            }
            guard ends.allSatisfy({ (0..<x[k]).contains($0) }) else {
                throw fail("axis \(k) of \(shapeText(x)): an index is out of range")
            }
        }
        return axes.map(\.count)
    case let .custom(c):
        if case let .array(dims) = c.form, dims != x.count {
            throw fail("\(c.forwardLocation): '\(c.forward)' takes \(dims) int64_t dimension\(dims == 1 ? "" : "s") after batch, "
                + "but its operand \(shapeText(x)) has \(x.count)")
        }
        if case let .fixed(shape) = c.shape { return shape }
        return x
    case let .pad(p):
        guard p.begin.count == x.count, p.end.count == x.count else { throw fail("expected pads for each of the \(x.count) axes") }
        return try x.indices.map { k in
            let (n, b, e) = (x[k], p.begin[k], p.end[k])
            // Bounded first, so the sums below cannot overflow.
            guard abs(b) <= Limits.dimension, abs(e) <= Limits.dimension else {
                throw fail("pads \(b), \(e) of axis \(k) exceed \(Limits.show(Limits.dimension)) elements")
            }
            guard n - max(-b, 0) - max(-e, 0) >= 1 else {
                throw fail("pads \(b), \(e) crop all \(n) elements of axis \(k) of \(shapeText(x))")
            }
            guard p.mode != .reflect || (b < n && e < n) else {
                throw fail("reflect pads \(b), \(e) of axis \(k) must be smaller than its size \(n) (as PyTorch)")
            }
            return n + b + e
        }
    case .batchNorm:
        return x
    case let .embedding(e):
        // Token ids of any shape; each gains an axis of embedding_dim.
        return x + [e.dim]
    case let .norm(n):
        switch n.kind {
        case let .layer(shape):
            guard !shape.isEmpty, shape.count <= x.count, Array(x.suffix(shape.count)) == shape else {
                throw fail("normalized_shape \(shapeText(shape)) must be the last axes of the input \(shapeText(x))")
            }
        case let .group(groups):
            guard let c = x.first, groups >= 1, c % groups == 0 else {
                throw fail("num_groups \(groups) must divide the channels (axis 0) of the input \(shapeText(x))")
            }
        case .instance:
            guard x.count >= 2 else { throw fail("expected a [C, L] or [C, H, W] input, found \(shapeText(x))") }
        }
        return x
    case let .recurrent(r):
        guard x.count == 2 else { throw fail("expected a [T, F] sequence input, found \(shapeText(x))") }
        return r.returnSequences ? [x[0], r.units] : [r.units]
    case .add:
        guard ins.count >= 2 else { throw fail("expected two or more inputs, found \(ins.count)") }
        for s in ins where s != x {
            throw fail("inputs have different shapes: \(ins.map(shapeText).joined(separator: " and "))")
        }
        return x
    case let .binary(b):
        var shapes = ins
        if case let .tensor(c)? = b.constant { shapes.insert(c, at: b.constantFirst ? 0 : 1) }
        guard let out = broadcast(shapes) else {
            throw fail("shapes \(shapes.map(shapeText).joined(separator: " and ")) do not broadcast (NumPy's rule, per example)")
        }
        return out
    case let .prelu(n):
        guard n == 1 || n == x.first else {
            throw fail("num_parameters \(n) must be 1 or the channels (axis 0) of the input \(shapeText(x))")
        }
        return x
    case let .concat(axis):
        guard ins.count >= 2 else { throw fail("expected two or more inputs, found \(ins.count)") }
        let a = axis < 0 ? axis + x.count : axis
        guard a >= 0, a < x.count else { throw fail("axis \(axis) is out of range for rank \(x.count)") }
        var out = x
        out[a] = 0
        for s in ins {
            var t = s
            guard s.count == x.count else { throw fail("inputs have different ranks: \(ins.map(shapeText).joined(separator: " and "))") }
            out[a] += s[a]
            t[a] = x[a]
            guard t == x else {
                throw fail("inputs differ outside axis \(axis): \(ins.map(shapeText).joined(separator: " and "))")
            }
        }
        return out
    }
}

/// Normalizes the axes an op names for an operand of `rank` per-example axes: negative axes count
/// from the end, reduction axes are sorted, and the JSON transpose becomes a permutation. A softmax
/// over the last axis stays -1.
func resolveAxes(_ op: Op, rank: Int, shape: [Int]? = nil, fail: (String) -> NNCCError) throws -> Op {
    func axis(_ a: Int) throws -> Int {
        guard (-rank..<rank).contains(a) else {
            throw fail("axis \(a) is out of range for \(rank) axes per example (the batch is not counted)")
        }
        return a < 0 ? a + rank : a
    }
    switch op {
    case let .softmax(a): let k = try axis(a); return .softmax(axis: k == rank - 1 ? -1 : k)
    case let .logSoftmax(a): let k = try axis(a); return .logSoftmax(axis: k == rank - 1 ? -1 : k)
    case let .swapAxes(a, b):
        var perm = Array(0..<rank)
        perm.swapAt(try axis(a), try axis(b))
        return .transpose(perm)
    case let .slice(a, start, end, step):
        guard let shape else { return op }
        let k = try axis(a), n = shape[k]
        // PyTorch's clamping: negative ends count from the end, then both are clamped to [0, n].
        func clamp(_ v: Int) -> Int { max(0, min(n, v < 0 ? v + n : v)) }
        let (b, e) = (clamp(start), clamp(end ?? n))
        guard e > b else { throw fail("slice \(start):\(end.map(String.init) ?? ""):\(step) of axis \(a) (size \(n)) is empty") }
        var sel = shape.map { AxisSelection.range(start: 0, step: 1, count: $0) }
        sel[k] = .range(start: b, step: step, count: (e - b - 1) / step + 1)
        return .select(sel)
    case var .resize(r):
        if r.spatial {
            // Every axis after the channel, a single value repeated.
            let n = rank - 1, given = r.axes
            guard n >= 1 else { throw fail("expected an input with a channel axis and at least one more, found \(rank) axes") }
            if given == 1 && n > 1 {
                r.sizes = r.sizes.map { Array(repeating: $0[0], count: n) }
                r.scales = r.scales.map { Array(repeating: $0[0], count: n) }
            }
            guard r.axes == n else { throw fail("\(given) sizes or scales for the \(n) axes after the channel") }
            r.spatial = false
        }
        // Nearest reads one element per result index: a select, with its backward.
        guard let shape, case .nearest = r.mode else { return .resize(r) }
        return .select(try r.nearestSelection(shape, fail: fail))
    case var .reduce(r):
        let axes = try r.axes.map(axis)
        guard Set(axes).count == axes.count, !axes.isEmpty else { throw fail("axes \(r.axes) repeat an axis or are empty") }
        r.axes = axes.sorted()
        return .reduce(r)
    case var .pad(p):
        guard p.begin.count == p.end.count, p.begin.count <= rank else {
            throw fail("\(p.begin.count) pairs of pads for \(rank) axes per example; the batch (dim 0) cannot be padded")
        }
        let missing = Array(repeating: 0, count: rank - p.begin.count)
        p.begin = missing + p.begin
        p.end = missing + p.end
        return .pad(p)
    default:
        return op
    }
}

/// NumPy broadcasting: shapes aligned on the right, each axis equal or 1.
func broadcast(_ shapes: [[Int]]) -> [Int]? {
    let rank = shapes.map(\.count).max() ?? 0
    var out = Array(repeating: 1, count: rank)
    for s in shapes {
        for (k, d) in s.enumerated() {
            let o = rank - s.count + k
            if out[o] == 1 { out[o] = d } else if d != 1 && d != out[o] { return nil }
        }
    }
    return out
}

/// The state tensors of one layer with PyTorch names, layouts and initialisers;
/// `x` is the shape of its (first) input.
func parameters(of n: Node, input x: [Int]) -> [ParamSpec] {
    var out: [ParamSpec] = []
    func add(_ p: String, _ shape: [Int], _ i: ParamInit, trainable: Bool = true) {
        out.append(ParamSpec(name: n.paramName(p), layer: n.name, shape: shape, initializer: i, trainable: trainable))
    }
    switch n.op {
    case let .dense(units, bias):
        let bound = 1 / Float(x.last!).squareRoot()
        add("weight", [units, x.last!], .uniform(bound: bound))
        if bias { add("bias", [units], .uniform(bound: bound)) }
    case let .conv2d(c):
        let kd = c.depth.map { [$0.kernel] } ?? []
        let fanIn = x[0] / c.groups * c.kernel.0 * c.kernel.1 * (kd.first ?? 1)
        let bound = 1 / Float(fanIn).squareRoot()
        // Conv1d's weight is [F, C/g, k]: the layout of [F, C/g, 1, k]; Conv3d's [F, C/g, kd, kh, kw].
        add("weight", [c.filters, x[0] / c.groups] + kd + (c.is1D ? [] : [c.kernel.0]) + [c.kernel.1], .uniform(bound: bound))
        if c.bias { add("bias", [c.filters], .uniform(bound: bound)) }
    case let .convTranspose(c):
        // As PyTorch: the fan-in is the weight's dim 1 times the kernel.
        let bound = 1 / Float(c.channels / c.groups * c.kernel.0 * c.kernel.1).squareRoot()
        add("weight", [x[0], c.channels / c.groups] + (c.is1D ? [] : [c.kernel.0]) + [c.kernel.1], .uniform(bound: bound))
        if c.bias { add("bias", [c.channels], .uniform(bound: bound)) }
    case .batchNorm:
        add("weight", [x[0]], .constant(1))
        add("bias", [x[0]], .constant(0))
        add("running_mean", [x[0]], .constant(0), trainable: false)
        add("running_var", [x[0]], .constant(1), trainable: false)
    case let .binary(b):
        // A constant operand is frozen: loaded like a weight, never trained (no initialiser applies).
        if case let .tensor(shape)? = b.constant { add("constant", shape, .constant(0), trainable: false) }
    case let .matmul(shape?):
        add("constant", shape, .constant(0), trainable: false)
    case let .prelu(count):
        add("weight", [count], .constant(0.25))
    case let .embedding(e):
        add("weight", [e.count, e.dim], .normal(std: 1, zeroRow: e.paddingIdx))
    case let .norm(norm):
        var shape = [x[0]]
        if case let .layer(s) = norm.kind { shape = s }
        if norm.weight { add("weight", shape, .constant(1)) }
        if norm.bias { add("bias", shape, .constant(0)) }
    case let .recurrent(r):
        let g = r.cell.gates * r.units, bound = 1 / Float(r.units).squareRoot()
        add("weight_ih_l0", [g, x[1]], .uniform(bound: bound))
        add("weight_hh_l0", [g, r.units], .uniform(bound: bound))
        add("bias_ih_l0", [g], .uniform(bound: bound))
        add("bias_hh_l0", [g], .uniform(bound: bound))
    default:
        break
    }
    return out
}

/// Conv3d on a [C, D, H, W] input: [F, D', H', W'].
func conv3DShape(_ c: Conv2D, _ x: [Int], fail: (String) -> NNCCError) throws -> [Int] {
    guard let d = c.depth, x.count == 4 else { throw fail("expected a [C, D, H, W] input, found \(shapeText(x))") }
    let p = c.pads
    let padded = [x[1] + d.padFront + d.padBack, x[2] + p.top + p.bottom, x[3] + p.left + p.right]
    // The kernels read a zero-padded copy (the naive reference) or im2col of the input.
    try Limits.check("padded input of shape", [x[0]] + padded, limit: Limits.exampleElements, fail: fail)
    guard x[0] % c.groups == 0, c.filters % c.groups == 0 else {
        throw fail("groups \(c.groups) must divide both the input channels \(x[0]) and filters \(c.filters)")
    }
    let extent = [d.extent, c.dilation.0 * (c.kernel.0 - 1) + 1, c.dilation.1 * (c.kernel.1 - 1) + 1]
    guard zip(extent, padded).allSatisfy({ $0 <= $1 }) else {
        throw fail("kernel \(extent.map(String.init).joined(separator: "×")) (dilated) is larger than the padded input "
            + padded.map(String.init).joined(separator: "×"))
    }
    let stride = [d.stride, c.stride.0, c.stride.1]
    if c.padding == .same && stride != [1, 1, 1] { throw fail("padding \"same\" needs stride 1 (as PyTorch)") }
    let out = (0..<3).map { (padded[$0] - extent[$0]) / stride[$0] + 1 }
    // The GEMM kernel's im2col: a row per tap of one group, a column per output pixel.
    try Limits.check("im2col of shape", [x[0] / c.groups * d.kernel * c.kernel.0 * c.kernel.1, out[0] * out[1] * out[2]],
                     limit: Limits.bufferElements, fail: fail)
    return [c.filters] + out
}

/// MaxPool3d / AvgPool3d on a [C, D, H, W] input: [C, D', H', W'].
func pool3DShape(_ p: Pool2D, _ x: [Int], fail: (String) -> NNCCError) throws -> [Int] {
    guard let d = p.depth, x.count == 4 else { throw fail("expected a [C, D, H, W] input, found \(shapeText(x))") }
    let od = Pool2D.outputLength(x[1], d.kernel, d.stride, d.padFront, d.padBack, d.dilation, ceil: p.ceilMode)
    let (oh, ow) = p.outputSize(x[2], x[3])
    guard od >= 1, oh >= 1, ow >= 1 else {
        throw fail("pool \(d.kernel)×\(p.size.0)×\(p.size.1) leaves no output on a \(x[1])×\(x[2])×\(x[3]) input")
    }
    return [x[0], od, oh, ow]
}
