/// ONNX's unary activations, each one IR activation, and the chains
/// PyTorch's exporter writes for SiLU, Mish and softsign.
extension ONNXGraphBuilder {
    static let unaryOps: Set = ["Elu", "Selu", "Celu", "Softplus", "Softsign", "Exp", "Log", "Sqrt", "Reciprocal",
                                "Abs", "Neg", "Erf", "Clip", "HardSigmoid", "HardSwish", "Mish", "Sign", "Shrink"]

    mutating func unary(_ node: ONNXNode) throws {
        switch node.op {
        case "Sigmoid":
            if try silu(node) { return }
            try elementwise(node, .activation(.sigmoid))
        case "Abs":
            if try softsign(node) { return }
            try elementwise(node, .activation(.abs))
        case "Softplus":
            if try mish(node) { return }
            try elementwise(node, .activation(try activation(node)))
        default:
            try elementwise(node, .activation(try activation(node)))
        }
    }

    /// The activation of a one-input ONNX operator, with ONNX's defaults.
    func activation(_ node: ONNXNode) throws -> Activation {
        switch node.op {
        case "Elu": return .elu(alpha: try node.float("alpha", default: 1))
        case "Selu":
            return .selu(alpha: try node.float("alpha", default: Activation.seluDefaults.alpha),
                         scale: try node.float("gamma", default: Activation.seluDefaults.scale))
        case "Celu":
            let a = try node.float("alpha", default: 1)
            guard a != 0 else { throw node.fail("attribute alpha: expected a nonzero value") }
            return .celu(alpha: a)
        case "Softplus": return .softplus(beta: 1, threshold: 20)  // past 20, log(1 + eˣ) = x in float
        case "Softsign": return .softsign
        case "Exp": return .exp
        case "Log": return .log
        case "Sqrt": return .sqrt
        case "Reciprocal": return .reciprocal
        case "Neg": return .neg
        case "Erf": return .erf
        case "Clip": return try clip(node)
        case "HardSigmoid":
            return .hardSigmoid(alpha: try node.float("alpha", default: 0.2), beta: try node.float("beta", default: 0.5))
        case "HardSwish": return .hardSwish
        case "Mish": return .mish
        case "Sign": return .sign
        case "Shrink":
            let lambd = try node.float("lambd", default: 0.5), bias = try node.float("bias", default: 0)
            guard lambd >= 0, lambd.isFinite, bias.isFinite else {
                throw node.fail("attributes lambd \(lambd) and bias \(bias): expected a finite lambd ≥ 0 and a finite bias")
            }
            return .shrink(lambd: lambd, bias: bias)
        case "Gelu":
            switch try node.string("approximate", default: "none") {
            case "none": return .gelu
            case "tanh": return .geluTanh
            case let other: throw node.fail("attribute approximate: expected \"none\" or \"tanh\", found \"\(other)\"")
            }
        default: throw node.fail("operator \(node.op) is not an activation")
        }
    }

    /// Clip's bounds: attributes before opset 11, optional constant inputs from
    /// then on; an absent bound is none (±infinity).
    func clip(_ node: ONNXNode) throws -> Activation {
        if opset < 11 {
            return .clip(min: try node.float("min", default: -.infinity), max: try node.float("max", default: .infinity))
        }
        try node.rejectAttributes(["min", "max"])
        func bound(_ i: Int, _ what: String, _ none: Float) throws -> Float {
            guard let name = node.input(i) else { return none }
            guard let v = constantScalar(name), !v.isNaN else {
                throw node.fail("input \(i) (\(what)) \"\(name)\" must be a constant one-element float that is not NaN")
            }
            return v
        }
        return .clip(min: try bound(1, "min", -.infinity), max: try bound(2, "max", .infinity))
    }

    /// `Sigmoid(x) → Mul(x, ·)`: SiLU, as PyTorch exports `F.silu`.
    mutating func silu(_ node: ONNXNode) throws -> Bool {
        guard let x = node.input(0), let s = node.proto.output.first,
              let (mulAt, _) = soleUser(of: s, op: "Mul"), Set(proto.node[mulAt].input) == [x, s]
        else { return false }
        try replaceChain(node, x, by: .silu, endingAt: mulAt, skipping: [mulAt])
        return true
    }

    /// `Softplus(x) → Tanh → Mul(x, ·)`: Mish, as PyTorch exports `F.mish`.
    mutating func mish(_ node: ONNXNode) throws -> Bool {
        guard let x = node.input(0), let s = node.proto.output.first,
              let (tanhAt, t) = soleUser(of: s, op: "Tanh"),
              let (mulAt, _) = soleUser(of: t, op: "Mul"), Set(proto.node[mulAt].input) == [x, t]
        else { return false }
        try replaceChain(node, x, by: .mish, endingAt: mulAt, skipping: [tanhAt, mulAt])
        return true
    }

    /// `Abs(x) → Add 1 → Div(x, ·)`: softsign, as PyTorch exports `F.softsign`.
    mutating func softsign(_ node: ONNXNode) throws -> Bool {
        guard let x = node.input(0), let a = node.proto.output.first,
              let (addAt, plus1) = soleUser(of: a, op: "Add"),
              constantScalar(proto.node[addAt].input.first { $0 != a }) == 1,
              let (divAt, _) = soleUser(of: plus1, op: "Div"), proto.node[divAt].input == [x, plus1]
        else { return false }
        try replaceChain(node, x, by: .softsign, endingAt: divAt, skipping: [addAt, divAt])
        return true
    }

    /// One activation of `x` stands for the chain from `node` to node `end`, whose output it binds.
    mutating func replaceChain(_ node: ONNXNode, _ x: String, by act: Activation, endingAt end: Int, skipping: [Int]) throws {
        let (n, axes) = try tensor(x, node)
        values[proto.node[end].output[0]] = .tensor(node: add(.activation(act), inputs: [n], node), axes: axes)
        skipped.formUnion(skipping)
    }
}
