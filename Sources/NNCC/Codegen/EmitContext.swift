/// What a per-op printer knows while emitting one node's kernel: the graph,
/// the schedule, where parameters and packed weights live, and the C
/// expression of every value's buffer.
struct EmitContext {
    /// `var` only for ForwardSlices, which re-plans its memory for one slice of the batch.
    var graph: Graph
    let schedule: Schedule
    /// Float offset of each parameter (PyTorch layout) in `c->params`.
    let paramOffsets: [String: Int]
    /// Float offset of each node's packed weights in `c->packed`.
    var packedOffsets: [Int: Int] = [:]
    /// Training builds also pack the operands of the backward GEMMs.
    var training = false
    /// The train step also sums gradient statistics (GradStats, --grad-stats).
    var gradientStats = false
    /// Calls inside the sliced forward (ForwardSlices): the graph is planned for one slice of the
    /// batch, its buffers live in the running thread's arena `a`, and its input starts at example `b0`.
    var batchSlice = false

    /// `direct`: the parameters forward reads in place; they come first, so an inference
    /// context keeps just the first `directFloats` of the table (ContextEmitter).
    init(graph: Graph, schedule: Schedule, direct: Set<String> = []) {
        self.graph = graph
        self.schedule = schedule
        var offsets = [String: Int](), at = 0
        let ordered = graph.params.filter { direct.contains($0.name) } + graph.params.filter { !direct.contains($0.name) }
        for p in ordered {
            offsets[p.name] = at
            at += (p.size + 15) / 16 * 16  // each tensor 64-byte aligned
        }
        paramOffsets = offsets
        paramFloats = at
        directFloats = ordered.prefix { direct.contains($0.name) }.reduce(0) { $0 + ($1.size + 15) / 16 * 16 }
    }

    let paramFloats: Int
    let directFloats: Int

    /// `c->params + N` for a parameter of the node's layer, e.g. `param(n, "weight")`.
    func param(_ node: Node, _ suffix: String) -> String {
        param(named: node.paramName(suffix))
    }

    func param(named name: String) -> String {
        guard let off = paramOffsets[name] else { preconditionFailure("no parameter \(name)") }
        return "c->params + \(off)"
    }

    /// `c->grads + N`: the gradient of a parameter lives at the parameter's offset.
    func grad(_ node: Node, _ suffix: String) -> String {
        guard let off = paramOffsets[node.paramName(suffix)] else { preconditionFailure("no parameter \(node.paramName(suffix))") }
        return "c->grads + \(off)"
    }

    func hasParam(_ node: Node, _ suffix: String) -> Bool { paramOffsets[node.paramName(suffix)] != nil }

    func packed(_ i: Int) -> String { "c->packed + \(packedOffsets[i] ?? 0)" }

    /// The C expression of node `i`'s result buffer inside `forward`.
    func value(_ i: Int) -> String {
        let root = graph.storageRoot(i)
        switch graph.nodes[root].storage {
        case .input: return batchSlice ? "x + (size_t)b0 * \(graph.nodes[root].size)" : "x"
        case let .arena(offset): return "\(arena) + \(offset)"
        case .unplanned, .view: preconditionFailure("value \(i) has no storage; run planMemory first")
        }
    }

    func scratch(_ i: Int) -> String { graph.nodes[i].scratchOffset.map { "\(arena) + \($0)" } ?? "NULL" }

    private var arena: String { batchSlice ? "a" : "c->arena" }

    /// Header comment of a kernel: the layer it implements and its shapes.
    func banner(_ i: Int, _ what: String) -> String {
        let n = graph.nodes[i]
        let ins = n.inputs.map { CSyntax.list(graph.nodes[$0].shape) }.joined(separator: ", ")
        return "/* layer \"\(CSyntax.comment(n.name))\" (\(CSyntax.comment(n.origin))): \(what)\n"
            + "   per example \(ins) -> \(CSyntax.list(n.shape)); batch nb <= \(graph.maxBatch) */"
    }

    /// Kernel function name: node index, op and shape, e.g. `k3_dense_784x512_relu`.
    func kernelName(_ i: Int, _ op: String) -> String {
        let n = graph.nodes[i]
        var name = "k\(i)_\(op)_\(CSyntax.shape(n.shape))"
        if let act = n.epilogue { name += "_" + CSyntax.identifier(act.name) }
        if let c = n.customEpilogue { name += "_" + CSyntax.identifier(c.forward) }
        return name
    }
}

extension EmitContext {
    /// The opening of a kernel that maps each example's x (forward) or dy (backward) on its own:
    /// the signature and the loop over examples, with `xb` and `yb` pointing at one example.
    static func perExample(_ name: String, backward: Bool, xsize: Int, ysize: Int) -> String {
        var s = backward ? "static void \(name)(int nb, const float *restrict dy, float *restrict dx) {\n"
                         : "static void \(name)(int nb, const float *restrict x, float *restrict y) {\n"
        s += "    for (size_t e = 0; e < (size_t)nb; e++) {\n"
        s += backward ? "        const float *yb = dy + e * \(ysize);\n        float *xb = dx + e * \(xsize);\n"
                      : "        const float *xb = x + e * \(xsize);\n        float *yb = y + e * \(ysize);\n"
        return s
    }

    /// The comment that opens node `i`'s gradient rule.
    func ruleHead(_ i: Int) -> String {
        let n = graph.nodes[i]
        return "    /* ∂ layer \"\(CSyntax.comment(n.name))\" (\(CSyntax.comment(n.origin))): \(n.op.typeName) */\n"
    }

    /// ∂ through an activation fused into node `i`'s epilogue, in place in `dy`, before the op's own rule.
    func epilogueBackward(_ i: Int, dy: String) -> String {
        let n = graph.nodes[i]
        guard let act = n.epilogue else { return "" }
        return "    nn_epilogue_backward((size_t)nb * \(n.size), \(act.cArgs), \(value(i)), \(dy));\n"
    }
}

/// The C that one node contributes: a kernel definition, the statement
/// that calls it from forward, and weight packing run after every load.
struct KernelCode {
    var definition: String
    var call: String
    var packing: String = ""
    /// Packing statements that read only parameters and write packed slots no other statement of the
    /// node reads or writes (the transposed copies for ∂x): the threaded train step may run them on
    /// another thread than `packing`. NAME_pack runs them right after it.
    var separatePacking: String = ""
    /// Functions the kernel calls that other layers' kernels may call too (a depthwise geometry's):
    /// the library defines each distinct one once, before the kernels.
    var helpers: [String] = []

    /// Every packing statement of the node, in NAME_pack's order.
    var allPacking: String { separatePacking.isEmpty ? packing : packing + "\n" + separatePacking }
}

/// C code and parameters of an activation (`nn_act` in templates/prologue.c).
extension Activation {
    var cCode: String {
        switch self {
        case .relu: return "NN_ACT_RELU"
        case .sigmoid: return "NN_ACT_SIGMOID"
        case .tanh: return "NN_ACT_TANH"
        case .gelu: return "NN_ACT_GELU"
        case .leakyRelu: return "NN_ACT_LEAKY_RELU"
        case .identity: return "NN_ACT_NONE"
        case .geluTanh: return "NN_ACT_GELU_TANH"
        case .elu: return "NN_ACT_ELU"
        case .selu: return "NN_ACT_SELU"
        case .celu: return "NN_ACT_CELU"
        case .softplus: return "NN_ACT_SOFTPLUS"
        case .softsign: return "NN_ACT_SOFTSIGN"
        case .exp: return "NN_ACT_EXP"
        case .log: return "NN_ACT_LOG"
        case .sqrt: return "NN_ACT_SQRT"
        case .reciprocal: return "NN_ACT_RECIPROCAL"
        case .abs: return "NN_ACT_ABS"
        case .neg: return "NN_ACT_NEG"
        case .erf: return "NN_ACT_ERF"
        case .clip: return "NN_ACT_CLIP"
        case .hardSigmoid: return "NN_ACT_HARDSIGMOID"
        case .hardSwish: return "NN_ACT_HARDSWISH"
        case .silu: return "NN_ACT_SILU"
        case .mish: return "NN_ACT_MISH"
        case .sign: return "NN_ACT_SIGN"
        case .shrink: return "NN_ACT_SHRINK"
        }
    }

    /// The two parameters `nn_act` reads as alpha and beta.
    var parameters: (Float, Float) {
        switch self {
        case let .leakyRelu(a), let .elu(a), let .celu(a): return (a, 0)
        case let .softplus(b, t): return (b, t)
        case let .clip(lo, hi): return (lo, hi)
        case let .selu(a, s): return (a, s)
        case let .hardSigmoid(a, b): return (a, b)
        case let .shrink(l, b): return (l, b)
        default: return (0, 0)
        }
    }

    /// `NN_ACT_X, alpha, beta`: the arguments every activation call takes.
    var cArgs: String {
        "\(cCode), \(CSyntax.float(parameters.0)), \(CSyntax.float(parameters.1))"
    }

    /// The epilogue's initializer fields.
    var cEpilogue: String {
        ".act = \(cCode), .alpha = \(CSyntax.float(parameters.0)), .beta = \(CSyntax.float(parameters.1))"
    }
}
