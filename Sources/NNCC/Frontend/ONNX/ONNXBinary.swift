/// ONNX's elementwise operators of two (Sum, Max, Min: one or more) inputs
/// with NumPy broadcasting, and PRelu. ONNX tensors carry the batch as axis
/// 0; the IR broadcasts per example, so two layer results must both have it
/// (the same rank), and a constant either lacks it or has 1 there. A one-
/// element constant becomes a literal in the C, any other a frozen parameter
/// `LAYER.constant` holding the initializer (docs/onnx.md).
extension ONNXGraphBuilder {
    static let binaryFunctions: [String: BinaryFunction] = [
        "Add": .add, "Sum": .add, "Sub": .sub, "Mul": .mul, "Div": .div, "Pow": .pow, "Max": .maximum, "Min": .minimum,
    ]

    /// One operand: an IR node (plain, or with the batch merged into its first axis) or a constant.
    enum BinaryOperand { case node(ONNXLayout), constant(ONNXConstant, name: String) }

    mutating func binary(_ node: ONNXNode) throws {
        guard let f = Self.binaryFunctions[node.op] else { throw node.fail("not an elementwise operator") }
        if try batchArithmetic(node) { return }
        let names = node.proto.input.filter { !$0.isEmpty }
        let variadic = ["Sum", "Max", "Min"].contains(node.op)
        guard variadic ? !names.isEmpty : names.count == 2 else {
            throw node.fail("expected \(variadic ? "one or more inputs" : "two inputs"), found \(names.count)")
        }
        var acc = try binaryOperand(names[0], node)
        for name in names.dropFirst() { acc = .node(try apply(f, acc, try binaryOperand(name, node), node)) }
        guard case let .node(n) = acc else {
            throw node.fail("expected an input computed from the model input; nncc does not fold constant arithmetic")
        }
        bind(node, 0, .tensor(node: n.node, axes: n.axes(try shapes()[n.node].count)))
    }

    mutating func binaryOperand(_ name: String, _ node: ONNXNode) throws -> BinaryOperand {
        switch try value(name, node) {
        case .tensor: return .node(try materializeLayout(name, node, allowMerged: true))
        case let .floats(c): return .constant(c, name: name)
        case let .ints(xs, _):
            let values = try xs.map { x -> Float in
                guard case let .value(v) = x else { throw node.fail("input \"\(name)\": expected integers known before run time") }
                return Float(v)
            }
            return .constant(ONNXConstant(shape: xs.count == 1 ? [] : [xs.count], floats: values), name: name)
        case let .intTensor(c):
            return .constant(ONNXConstant(shape: c.shape, floats: (c.ints ?? []).map { Float($0) }), name: name)
        case .filled:
            throw node.fail("input \"\(name)\": a ConstantOfShape result is not supported as an operand")
        }
    }

    /// f(a, b) as an IR node. Same-shape addition of two results is the n-ary add layer.
    mutating func apply(_ f: BinaryFunction, _ lhs: BinaryOperand, _ rhs: BinaryOperand, _ node: ONNXNode) throws -> ONNXLayout {
        switch (lhs, rhs) {
        case let (.node(lx), .node(ly)):
            let (x, y) = (lx.node, ly.node)
            let (sx, sy) = (try shapes()[x], try shapes()[y])
            guard lx.merged == ly.merged else {
                throw node.fail("one input has the batch as its own axis, the other merged into its first axis; nncc broadcasts "
                    + "two layer results only when both hold the batch alike")
            }
            guard sx.count == sy.count else {
                throw node.fail("inputs of shapes (N, \(sx.map(String.init).joined(separator: ", "))) and "
                    + "(N, \(sy.map(String.init).joined(separator: ", "))) have different ranks; nncc broadcasts two "
                    + "layer results only when both have the batch axis first")
            }
            let op: Op = f == .add && sx == sy ? .add : .binary(Binary(f))
            return ONNXLayout(node: add(op, inputs: [x, y], node), merged: lx.merged)
        case let (.node(x), .constant(c, name)):
            return try withConstant(f, x, c, name, first: false, node)
        case let (.constant(c, name), .node(x)):
            return try withConstant(f, x, c, name, first: true, node)
        case (.constant, .constant):
            throw node.fail("expected an input computed from the model input; nncc does not fold constant arithmetic")
        }
    }

    mutating func withConstant(_ f: BinaryFunction, _ lx: ONNXLayout, _ c: ONNXConstant, _ name: String, first: Bool,
                               _ node: ONNXNode) throws -> ONNXLayout {
        let x = lx.node, rank = try shapes()[x].count + lx.batchAxes
        guard let values = c.floats, !values.isEmpty else { throw node.fail("constant \"\(name)\" is empty") }
        guard c.shape.count <= rank, c.shape.count < rank || c.shape[0] == 1 else {
            throw node.fail("constant \"\(name)\" of shape \(c.shape) would broadcast over the batch of a rank-\(rank) "
                + "tensor; nncc applies one constant to every example (its axis 0 must be 1 or absent)")
        }
        let shape = c.shape.count == rank ? Array(c.shape.dropFirst()) : c.shape
        if values.count == 1, values[0].isFinite {
            return ONNXLayout(node: add(.binary(Binary(f, constant: .scalar(values[0]), constantFirst: first)), inputs: [x], node),
                              merged: lx.merged)
        }
        let n = add(.binary(Binary(f, constant: .tensor(shape), constantFirst: first)), inputs: [x], node)
        setWeight(n, "constant", Tensor(shape: shape, data: values), from: name)
        return ONNXLayout(node: n, merged: lx.merged)
    }

    /// PRelu(X, slope): one slope per channel (axis 1) or one for all is PyTorch's nn.PReLU, a
    /// learnable `weight`; a slope of any other broadcast shape is a frozen constant.
    mutating func prelu(_ node: ONNXNode) throws {
        let x = try materialize(node.input(0) ?? "", node)
        let shape = try shapes()[x]
        let sName = node.input(1) ?? ""
        let slope = try floats(node.input(1), node, what: "slope")
        guard let values = slope.floats, !values.isEmpty else { throw node.fail("slope \"\(sName)\" is empty") }
        // Aligned on the right with X (rank + 1 with the batch), the slope is per channel when only axis 1 exceeds 1.
        // Before opset 7 a 1-D slope of C values is per channel (axis 1) whatever X's rank.
        let legacyChannels = opset < 7 && slope.shape.count == 1 && shape.count >= 2 && slope.shape[0] == shape[0]
        let aligned = legacyChannels ? [1, shape[0]] + Array(repeating: 1, count: shape.count - 1)
            : Array(repeating: 1, count: max(0, shape.count + 1 - slope.shape.count)) + slope.shape
        let perChannel = aligned.count == shape.count + 1 && aligned[0] == 1 && aligned.dropFirst(2).allSatisfy { $0 == 1 }
            && (aligned[1] == shape[0] || aligned[1] == 1)
        let n: Int
        if perChannel {
            n = add(.prelu(parameters: values.count), inputs: [x], node, weightName: sName)
            setWeight(n, "weight", Tensor(shape: [values.count], data: values), from: sName)
        } else {
            n = try withConstant(.prelu, ONNXLayout(node: x, merged: false), slope, sName, first: false, node).node
        }
        bind(node, 0, .tensor(node: n, axes: Self.plain(shape.count)))
    }
}
