/// LayerNormalization, GroupNormalization and InstanceNormalization: the
/// IR's norm op (Ops/LayerNorm.swift), with scale and bias from constants
/// as the layer's `weight` and `bias`.
extension ONNXGraphBuilder {
    mutating func normalization(_ node: ONNXNode) throws {
        let x = try materialize(node.input(0) ?? "", node)
        let shape = try shapes()[x]
        let eps = try node.float("epsilon", default: 1e-5)
        guard eps >= 0, eps.isFinite else { throw node.fail("epsilon must be a finite number ≥ 0, found \(eps)") }
        let kind: Norm.Kind, params: [Int]
        switch node.op {
        case "LayerNormalization":
            try rejectOutputs(node, from: 1, what: "Mean and InvStdDev")
            // axis counts the batch: 1 normalizes every per-example axis, -1 the last.
            let axis = try node.int("axis", default: -1), rank = shape.count + 1
            let a = axis < 0 ? axis + rank : axis
            guard a >= 1, a < rank else {
                throw node.fail("axis \(axis) of a rank-\(rank) input would take statistics across the batch; "
                    + "expected \(rank == 2 ? "1 or -1" : "1 to \(rank - 1), or -\(rank - 1) to -1")")
            }
            kind = .layer(normalizedShape: Array(shape[(a - 1)...]))
            params = Array(shape[(a - 1)...])
        case "InstanceNormalization", "GroupNormalization":
            guard shape.count >= 2 else { throw node.fail("expected an (N, C, D1, ...) input, found rank \(shape.count + 1)") }
            if node.op == "InstanceNormalization" {
                kind = .instance
            } else {
                let groups = try node.int("num_groups")
                guard groups >= 1, shape[0] % groups == 0 else {
                    throw node.fail("num_groups \(groups) must divide the channels \(shape[0])")
                }
                kind = .group(groups)
            }
            params = [shape[0]]
        default:
            throw node.fail("not a normalization")
        }
        let scale = try constantParameter(node, 1, "scale", params, kind)
        let bias = node.input(2) == nil ? nil : try constantParameter(node, 2, "B", params, kind)
        let n = add(.norm(Norm(kind, eps: eps, weight: true, bias: bias != nil)), inputs: [x], node, weightName: node.input(1))
        setWeight(n, "weight", Tensor(shape: params, data: scale), from: node.input(1) ?? "")
        if let bias { setWeight(n, "bias", Tensor(shape: params, data: bias), from: node.input(2) ?? "") }
        bind(node, 0, .tensor(node: n, axes: Self.plain(shape.count)))
    }

    /// Scale or bias as `params` floats: any shape of that many elements whose
    /// axes past leading 1s are `params`'. GroupNormalization before opset 21
    /// takes one per group, repeated here over the group's channels.
    func constantParameter(_ node: ONNXNode, _ input: Int, _ what: String, _ params: [Int], _ kind: Norm.Kind) throws -> [Float] {
        let c = try floats(node.input(input), node, what: what)
        guard let values = c.floats else { throw node.fail("input \(what) is not a float constant") }
        if case let .group(groups) = kind, opset < 21 {
            guard c.shape == [groups] else {
                throw node.fail("input \(what) has shape \(c.shape); GroupNormalization before opset 21 takes one per group, [\(groups)]")
            }
            let perGroup = params[0] / groups
            return (0..<params[0]).map { values[$0 / perGroup] }
        }
        guard Array(c.shape.drop { $0 == 1 }) == Array(params.drop { $0 == 1 }) else {
            throw node.fail("input \(what) has shape \(c.shape), expected \(params)")
        }
        return values
    }
}
