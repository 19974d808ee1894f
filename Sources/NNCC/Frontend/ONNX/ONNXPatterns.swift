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

    /// PyTorch exports LayerNorm before opset 17 as ReduceMean, Sub, Pow 2,
    /// ReduceMean, Add ε, Sqrt, Div, then Mul by the weight and Add of the bias
    /// (when constants of the normalized shape). The chain becomes one layernorm;
    /// false when the ReduceMean starts no such chain.
    mutating func layerNormChain(_ node: ONNXNode) throws -> Bool {
        func axes(_ n: Onnx_NodeProto) -> [Int]? {
            let attr = n.attribute.first { $0.name == "axes" }.map { $0.ints.map(Int.init) }
            let input = n.input.count > 1 ? (try? knownInts(n.input[1], node)) : nil
            let keep = n.attribute.first { $0.name == "keepdims" }.map { $0.i != 0 } ?? true
            return keep ? attr ?? input : nil
        }
        guard let x = node.input(0), case .tensor? = values[x], let mean = node.proto.output.first,
              let reduced = axes(node.proto),
              let (subAt, d) = soleUser(of: mean, op: "Sub"), proto.node[subAt].input == [x, mean],
              uses[d, default: 0] == 2,
              let powAt = proto.node.firstIndex(where: { $0.opType == "Pow" && $0.input.first == d }),
              constantScalar(proto.node[powAt].input.last) == 2,
              let (varAt, variance) = soleUser(of: proto.node[powAt].output[0], op: "ReduceMean"),
              axes(proto.node[varAt]) == reduced,
              let (addAt, shifted) = soleUser(of: variance, op: "Add"),
              let eps = constantScalar(proto.node[addAt].input.first { $0 != variance }), eps >= 0,
              let (sqrtAt, sd) = soleUser(of: shifted, op: "Sqrt"),
              let (divAt, normalized) = soleUser(of: sd, op: "Div"), proto.node[divAt].input == [d, sd]
        else { return false }
        let n = try materialize(x, node)
        let shape = try shapes()[n], rank = shape.count + 1
        let last = Set(reduced.map { $0 < 0 ? $0 + rank : $0 })
        guard let first = last.min(), first >= 1, last == Set(first..<rank) else { return false }
        let normalizedShape = Array(shape[(first - 1)...])
        // The affine part: Mul by a constant, then Add of one, of the normalized shape.
        func affine(after value: String, _ op: String) -> (at: Int, out: String, name: String, data: [Float])? {
            guard let (at, out) = soleUser(of: value, op: op),
                  let name = proto.node[at].input.first(where: { $0 != value }),
                  case let .floats(c)? = values[name], let data = c.floats,
                  Array(c.shape.drop { $0 == 1 }) == Array(normalizedShape.drop { $0 == 1 }) else { return nil }
            return (at, out, name, data)
        }
        let weight = affine(after: normalized, "Mul"), bias = weight.flatMap { affine(after: $0.out, "Add") }
        let norm = Norm(.layer(normalizedShape: normalizedShape), eps: eps, weight: weight != nil, bias: bias != nil)
        let ln = add(.norm(norm), inputs: [n], node, weightName: weight?.name)
        if let weight { setWeight(ln, "weight", Tensor(shape: normalizedShape, data: weight.data), from: weight.name) }
        if let bias { setWeight(ln, "bias", Tensor(shape: normalizedShape, data: bias.data), from: bias.name) }
        values[bias?.out ?? weight?.out ?? normalized] = .tensor(node: ln, axes: Self.plain(shape.count))
        skipped.formUnion([subAt, powAt, varAt, addAt, sqrtAt, divAt] + [weight?.at, bias?.at].compactMap { $0 })
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
