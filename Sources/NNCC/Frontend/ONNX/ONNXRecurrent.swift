/// ONNX's RNN, LSTM and GRU as nncc recurrent layers: forward direction,
/// zero initial state, PyTorch's cell equations. ONNX orders the gates
/// i, o, f, c (LSTM) and z, r, h (GRU); PyTorch i, f, g, o and r, z, n.
extension ONNXGraphBuilder {
    mutating func recurrent(_ node: ONNXNode) throws {
        let (cell, onnxGate): (CellKind, [Int])
        switch node.op {
        case "LSTM":
            (cell, onnxGate) = (.lstm, [0, 2, 3, 1])
            try node.expect("input_forget", is: 0)
            try expectActivations(node, ["Sigmoid", "Tanh", "Tanh"])
        case "GRU":
            (cell, onnxGate) = (.gru, [1, 0, 2])
            guard try node.int("linear_before_reset", default: 0) == 1 else {
                throw node.fail("GRU with linear_before_reset = 0 is not supported; PyTorch's GRU (and nncc's) "
                    + "applies the reset gate after the hidden linear map (linear_before_reset = 1)")
            }
            try expectActivations(node, ["Sigmoid", "Tanh"])
        default:
            let acts = try node.strings("activations") ?? ["Tanh"]
            guard acts == ["Tanh"] || acts == ["Relu"] else {
                throw node.fail("RNN activations \(acts) are not supported; expected [Tanh] or [Relu]")
            }
            (cell, onnxGate) = (acts == ["Relu"] ? .rnnRelu : .rnnTanh, [0])
        }
        try node.rejectAttributes(["clip", "activation_alpha", "activation_beta"])
        guard try node.string("direction", default: "forward") == "forward" else {
            throw node.fail("only the forward direction is supported")
        }
        let layout = try node.int("layout", default: 0)
        guard layout == 0 || layout == 1 else { throw node.fail("layout must be 0 or 1") }

        let (x, axes) = try tensor(node.input(0) ?? "", node)
        let shape = try shapes()[x]
        let want: [ONNXAxis] = layout == 0 ? [.dim(0), .batch, .dim(1)] : [.batch, .dim(0), .dim(1)]
        guard shape.count == 2, axes == want else {
            throw node.fail("input X is \(describe(axes)); expected \(layout == 0 ? "(time, batch, features)" : "(batch, time, features)")")
        }
        let (steps, features) = (shape[0], shape[1])
        let h = try node.int("hidden_size")
        guard (1...Limits.filters).contains(h) else { throw node.fail("hidden_size must be in 1...\(Limits.filters)") }
        let g = onnxGate.count
        let w = try weight(node.input(1), node, what: "W", rank: 3), r = try weight(node.input(2), node, what: "R", rank: 3)
        guard w.shape == [1, g * h, features], r.shape == [1, g * h, h] else {
            throw node.fail("weights W \(w.shape) and R \(r.shape); expected [1, \(g * h), \(features)] and [1, \(g * h), \(h)]")
        }
        let b = try node.input(3).map { try floats($0, node, what: "B") }
        if let b, b.shape != [1, 2 * g * h] { throw node.fail("bias B \(b.shape); expected [1, \(2 * g * h)]") }
        if node.input(4) != nil { throw node.fail("sequence_lens is not supported; every sequence has the full length") }
        for i in 5..<8 {
            guard let name = node.input(i) else { continue }
            guard i < 7 else { throw node.fail("peephole weights P are not supported") }
            switch try value(name, node) {
            case .filled(0): continue
            case let .floats(c) where c.floats!.allSatisfy({ $0 == 0 }): continue
            default: throw node.fail("input \"\(name)\": only a zero initial state is supported")
            }
        }
        try rejectOutputs(node, from: 2, what: "the last cell state Y_c")

        let uses = try sequenceUses(node)
        if uses.last && uses.whole {
            throw node.fail("both the whole output sequence and its last step are used; nncc's recurrent layers give "
                + "one or the other")
        }
        let n = add(.recurrent(Recurrent(cell: cell, units: h, returnSequences: !uses.last)), inputs: [x], node,
                    weightName: node.input(1))
        // Rows of block k of PyTorch's layout come from ONNX block onnxGate[k].
        func reorder(_ data: ArraySlice<Float>, cols: Int) -> [Float] {
            onnxGate.flatMap { k in data[(data.startIndex + k * h * cols)..<(data.startIndex + (k + 1) * h * cols)] }
        }
        let bias = b?.floats ?? [Float](repeating: 0, count: 2 * g * h)
        setWeight(n, "weight_ih_l0", Tensor(shape: [g * h, features], data: reorder(w.floats![...], cols: features)),
                  from: node.input(1)!)
        setWeight(n, "weight_hh_l0", Tensor(shape: [g * h, h], data: reorder(r.floats![...], cols: h)), from: node.input(2)!)
        setWeight(n, "bias_ih_l0", Tensor(shape: [g * h], data: reorder(bias[..<(g * h)], cols: 1)), from: node.input(3) ?? "B")
        setWeight(n, "bias_hh_l0", Tensor(shape: [g * h], data: reorder(bias[(g * h)...], cols: 1)), from: node.input(3) ?? "B")

        // Y is (T, 1, N, H) or (N, T, 1, H); Y_h is (1, N, H) or (N, 1, H).
        let time: ONNXAxis = uses.last ? .time(steps) : .dim(0), hidden: ONNXAxis = .dim(uses.last ? 0 : 1)
        bind(node, 0, .tensor(node: n, axes: layout == 0 ? [time, .unit, .batch, hidden] : [.batch, time, .unit, hidden]))
        if uses.last { bind(node, 1, .tensor(node: n, axes: layout == 0 ? [.unit, .batch, .dim(0)] : [.batch, .unit, .dim(0)])) }
    }

    func expectActivations(_ node: ONNXNode, _ defaults: [String]) throws {
        if let a = try node.strings("activations"), a != defaults {
            throw node.fail("activations \(a) are not supported; expected \(defaults)")
        }
    }

    /// Whether the graph reads the layer's last step (Y_h, or a Gather on
    /// the output sequence after layout-only ops) and whether it reads the
    /// whole sequence (anything else).
    func sequenceUses(_ node: ONNXNode) throws -> (last: Bool, whole: Bool) {
        let outs = node.proto.output
        var last = outs.count > 1 && !outs[1].isEmpty && uses[outs[1], default: 0] > 0
        var whole = false
        var pending = outs.first.map { [$0] } ?? []
        let graphOutputs = Set(proto.output.map(\.name))
        while let v = pending.popLast() {
            if graphOutputs.contains(v) { whole = true }
            for c in proto.node where c.input.first == v {
                switch c.opType {
                case "Squeeze", "Unsqueeze", "Transpose", "Identity", "Dropout", "Cast", "Reshape": pending += c.output.prefix(1)
                case "Gather": last = true
                case "Shape": break
                default: whole = true
                }
            }
            if proto.node.contains(where: { $0.input.dropFirst().contains(v) }) { whole = true }
        }
        return (last, whole)
    }
}
