/// Operator chains that exporters write for one nncc layer.
extension ONNXGraphBuilder {
    /// PyTorch exports the exact GELU before opset 20 as
    /// `0.5 · (x · (1 + erf(x / √2)))`: Div, Erf, Add, Mul, Mul. The chain
    /// becomes one gelu activation; false when the Div starts no such chain.
    mutating func gelu(_ node: ONNXNode) throws -> Bool {
        guard let x = node.input(0), let div = node.proto.output.first,
              let s = constantScalar(node.input(1)), abs(s - Float(2).squareRoot()) < 1e-6,
              let (erfAt, erf) = soleUser(of: div, op: "Erf"),
              let (addAt, add1) = soleUser(of: erf, op: "Add"),
              constantScalar(proto.node[addAt].input.first { $0 != erf }) == 1,
              let (mulAt, mul) = soleUser(of: add1, op: "Mul"),
              proto.node[mulAt].input.contains(x),
              let (halfAt, _) = soleUser(of: mul, op: "Mul"),
              constantScalar(proto.node[halfAt].input.first { $0 != mul }) == 0.5
        else { return false }
        let (n, axes) = try tensor(x, node)
        let result = ONNXValue.tensor(node: add(.activation(.gelu), inputs: [n], node), axes: axes)
        values[proto.node[halfAt].output[0]] = result
        skipped.formUnion([erfAt, addAt, mulAt, halfAt])
        return true
    }

    /// The one node reading `value`, when it is an `op` with one output.
    func soleUser(of value: String, op: String) -> (Int, String)? {
        guard uses[value, default: 0] == 1,
              let i = proto.node.firstIndex(where: { $0.input.contains(value) }),
              proto.node[i].opType == op, proto.node[i].output.count == 1 else { return nil }
        return (i, proto.node[i].output[0])
    }

    /// A one-element float constant, from an initializer or a Constant node anywhere in the graph
    /// (the chain's constants may come after the node that starts it).
    func constantScalar(_ name: String?) -> Float? {
        guard let name else { return nil }
        var v = values[name]
        if v == nil, let i = proto.node.firstIndex(where: { $0.opType == "Constant" && $0.output.first == name }) {
            v = try? constant(ONNXNode(proto: proto.node[i], index: i, file: file))
        }
        guard case let .floats(c)? = v, c.count == 1 else { return nil }
        return c.floats![0]
    }
}
