/// ONNX operators that only move axes or compute shapes: they change how a
/// layer's result is viewed (Transpose, Squeeze, Flatten, Reshape, Gather of
/// the last time step) or are evaluated at import (Shape, Constant, Concat
/// of integers).
extension ONNXGraphBuilder {
    static let supported = "Abs, Add, AveragePool, BatchNormalization, Cast, Celu, Clip, Concat, Constant, ConstantOfShape, "
        + "Conv, ConvTranspose, DepthToSpace, Div, Dropout, Elu, Erf, Exp, Flatten, Gather, Gelu, Gemm, GlobalAveragePool, GRU, "
        + "HardSigmoid, HardSwish, Identity, LeakyRelu, Log, LogSoftmax, LSTM, MatMul, Max, MaxPool, Min, "
        + "Mish, Mul, Neg, Pad, Pow, PRelu, Reciprocal, ReduceL2, ReduceMax, ReduceMean, ReduceMin, ReduceSum, Relu, "
        + "Reshape, Resize, RNN, Selu, Shape, Shrink, Sigmoid, Sign, Slice, Softmax, Softplus, Softsign, SpaceToDepth, Split, Sqrt, "
        + "Squeeze, Sub, Sum, Tanh, Tile, Transpose, Unsqueeze, Upsample"

    mutating func shapeNode(_ node: ONNXNode) throws {
        switch node.op {
        case "Constant": bind(node, 0, try constant(node))
        case "Identity": bind(node, 0, try value(node.input(0) ?? "", node))
        case "Cast":
            let v = try value(node.input(0) ?? "", node)
            if case .tensor = v, try node.int("to") != Int(Onnx_TensorProto.DataType.float.rawValue), !castIndexesEmbedding(node) {
                throw node.fail("casting a float tensor to another type is not supported (only to integers that index "
                    + "the rows of a float constant by Gather: an embedding)")
            }
            bind(node, 0, v)
        case "Dropout":
            // Inference: the identity. A training_mode input that is set would make it random;
            // opset 6's is_test only says which, and nncc reads inference files either way.
            if let t = node.input(2), try knownInts(t, node) != [0] { throw node.fail("training_mode must be false") }
            try rejectOutputs(node, from: 1, what: "mask")
            bind(node, 0, try value(node.input(0) ?? "", node))
        case "Shape": try shape(node)
        case "ConstantOfShape":
            _ = try value(node.input(0) ?? "", node)
            var fill: Float = 0
            if let t = try node.tensor("value") {
                let c = try ONNXConstant.decode(t, file: file, what: "\(node.origin).value", external: external)
                guard c.count == 1 else { throw node.fail("attribute value: expected one element") }
                fill = c.floats?[0] ?? Float(c.ints![0])
            }
            bind(node, 0, .filled(fill))
        case "Transpose":
            let (n, axes) = try tensor(node.input(0) ?? "", node)
            let perm = try node.ints("perm") ?? Array(axes.indices.reversed())
            guard perm.sorted() == Array(axes.indices) else { throw node.fail("perm \(perm) is not a permutation of rank \(axes.count)") }
            bind(node, 0, .tensor(node: n, axes: perm.map { axes[$0] }))
        case "Squeeze", "Unsqueeze": try squeeze(node)
        case "Expand":
            if case .tensor = try value(node.input(0) ?? "", node) { return try expandTensor(node) }
            // A uniform constant expanded to a batch-dependent shape: the older exporter's zero
            // initial state of an LSTM. (With a shape known at import, folding computed it.)
            let all = known(node.input(0) ?? "").map { $0.floats ?? ($0.ints ?? []).map { Float($0) } } ?? []
            guard let v = all.first, all.allSatisfy({ $0 == v }) else {
                throw node.fail("Expand is supported only for a constant of one repeated value")
            }
            _ = try value(node.input(1) ?? "", node)
            bind(node, 0, .filled(v))
        case "Gather": try gather(node)
        case "Concat": try concatInts(node)
        case "Flatten":
            let (_, axes) = try tensor(node.input(0) ?? "", node)
            let axis = try node.int("axis", default: 1)
            guard axis == 1 || axis == 1 - axes.count else {
                throw node.fail("Flatten at axis \(axis) is not supported; only axis 1 keeps the batch apart")
            }
            let x = try materialize(node.input(0) ?? "", node)
            bind(node, 0, .tensor(node: add(.reshape([-1]), inputs: [x], node), axes: Self.plain(1)))
        case "Reshape": try reshape(node)
        default:
            throw node.fail("operator \(node.op) is not supported; nncc imports: \(Self.supported); "
                + "or map ::\(node.op) to a C function with --custom-op (docs/custom-ops.md)")
        }
    }

    func constant(_ node: ONNXNode) throws -> ONNXValue {
        if let t = try node.tensor("value") {
            return try ONNXConstant.decode(t, file: file, what: "\(node.origin).value", external: external).value
        }
        if node.has("value_float") { return .floats(ONNXConstant(shape: [], floats: [try node.float("value_float", default: 0)])) }
        if node.has("value_int") { return .ints([.value(Int64(try node.int("value_int")))], scalar: true) }
        if let v = try node.ints("value_ints") { return .ints(v.map { .value(Int64($0)) }, scalar: false) }
        throw node.fail("expected a value, value_float, value_int or value_ints attribute")
    }

    mutating func shape(_ node: ONNXNode) throws {
        let (n, axes) = try tensor(node.input(0) ?? "", node)
        let s = try shapes()[n]
        var dims: [ONNXInt] = axes.map {
            switch $0 {
            case .batch: return .batch
            case .unit: return .value(1)
            case let .dim(k): return .value(Int64(s[k]))
            case let .time(t): return .value(Int64(t))
            case let .batchTimes(k), let .batchInner(k): return fixedBatchOne ? .value(Int64(s[k])) : .batchTimes(Int64(s[k]))
            }
        }
        let r = dims.count
        func clamp(_ i: Int) -> Int { max(0, min(r, i < 0 ? i + r : i)) }
        let start = clamp(try node.int("start", default: 0)), end = clamp(try node.int("end", default: r))
        dims = start < end ? Array(dims[start..<end]) : []
        bind(node, 0, .ints(dims, scalar: false))
    }

    mutating func squeeze(_ node: ONNXNode) throws {
        let axesArg = try node.input(1).map { try knownInts($0, node) } ?? node.ints("axes")
        let v = try value(node.input(0) ?? "", node)
        let isSqueeze = node.op == "Squeeze"
        switch v {
        case let .ints(xs, scalar):
            // Shape arithmetic: a scalar becomes [x] and back.
            guard axesArg == [0] || axesArg == [-1], scalar != isSqueeze, !isSqueeze || xs.count == 1 else {
                throw node.fail("\(node.op) of an integer \(scalar ? "scalar" : "vector") on axes \(axesArg ?? []) is not supported")
            }
            bind(node, 0, .ints(xs, scalar: isSqueeze))
        case let .tensor(n, axes):
            guard let a = axesArg, !a.isEmpty else {
                throw node.fail("\(node.op) without axes depends on the batch size; give the axes")
            }
            let rank = isSqueeze ? axes.count : axes.count + a.count
            let norm = Set(a.map { $0 < 0 ? $0 + rank : $0 })
            guard norm.count == a.count, norm.allSatisfy({ (0..<rank).contains($0) }) else {
                throw node.fail("axes \(a) out of range for rank \(rank)")
            }
            var out: [ONNXAxis] = []
            if isSqueeze {
                if norm.contains(where: { axes[$0] != .unit }) { return try squeezeLayerAxes(node, norm) }
                out = axes.enumerated().filter { !norm.contains($0.offset) }.map(\.element)
            } else {
                var rest = axes.makeIterator()
                for i in 0..<rank { out.append(norm.contains(i) ? .unit : rest.next()!) }
            }
            bind(node, 0, .tensor(node: n, axes: out))
        default:
            throw node.fail("\(node.op) of a float constant is not supported")
        }
    }

    /// nn.Embedding's export: a layer result cast to integers (INT64 or INT32) that only Gathers read,
    /// each as the indices into a float constant. The cast stays a float tensor of ids, which the
    /// embedding checks (an id that is not an integer in range is an error, NAME_ERR_INPUT).
    func castIndexesEmbedding(_ node: ONNXNode) -> Bool {
        let ints = [Onnx_TensorProto.DataType.int64, .int32].map { Int($0.rawValue) }
        guard let to = try? node.int("to"), ints.contains(to), let out = node.proto.output.first, !out.isEmpty,
              !proto.output.contains(where: { $0.name == out }) else { return false }
        let readers = proto.node.filter { $0.input.contains(out) }
        return !readers.isEmpty && readers.allSatisfy { r in
            r.opType == "Gather" && r.input.count == 2 && r.input[1] == out && r.input[0] != out
                && known(r.input[0])?.floats != nil
        }
    }

    /// Gather of rows of a float constant [V, D] by a layer's result: nn.Embedding.
    mutating func embedding(_ node: ONNXNode, axis: Int) throws {
        let dataName = node.input(0) ?? "", c = try weight(dataName, node, what: "data", rank: 2)
        guard axis == 0 || axis == -2 else {
            throw node.fail("Gather of a float constant by a layer's result: only rows (axis 0, an embedding) are supported")
        }
        guard c.shape[0] <= Limits.dimension else {
            throw node.fail("an embedding of \(c.shape[0]) rows; at most \(Limits.dimension) (ids are floats)")
        }
        let x = try materialize(node.input(1) ?? "", node)
        let e = add(.embedding(Embedding(count: c.shape[0], dim: c.shape[1])), inputs: [x], node, weightName: dataName)
        setWeight(e, "weight", Tensor(shape: c.shape, data: c.floats!), from: dataName)
        bind(node, 0, .tensor(node: e, axes: Self.plain(try shapes()[e].count)))
    }

    /// Gather of integers (shape arithmetic), of the last time step of a
    /// recurrent layer's sequence, or of an embedding's rows.
    mutating func gather(_ node: ONNXNode) throws {
        let axis = try node.int("axis", default: 0)
        let indexName = node.input(1) ?? ""
        if case .floats = try value(node.input(0) ?? "", node), case .tensor = try value(indexName, node) {
            return try embedding(node, axis: axis)
        }
        // Indices of rank 2 or more on a layer's result (the dynamo exporter's as_strided).
        if case .intTensor = try value(indexName, node), case let .tensor(_, axes) = try value(node.input(0) ?? "", node) {
            return Self.batchMoved(axes) ? try gatherOnView(node, axis: axis) : try gatherTensor(node, axis: axis)
        }
        guard case let .ints(idx, scalar) = try value(indexName, node) else {
            throw node.fail("indices \"\(indexName)\": expected integer constants")
        }
        switch try value(node.input(0) ?? "", node) {
        case let .ints(xs, _):
            guard axis == 0 else { throw node.fail("axis must be 0 for a 1-D integer input") }
            let picked = try idx.map { i -> ONNXInt in
                guard case let .value(v) = i, let j = Int(exactly: v), (-xs.count..<xs.count).contains(j) else {
                    throw node.fail("index out of range for \(xs.count) elements")
                }
                return xs[j < 0 ? j + xs.count : j]
            }
            bind(node, 0, .ints(picked, scalar: scalar))
        case let .tensor(n, axes):
            let a = axis < 0 ? axis + axes.count : axis
            guard axes.indices.contains(a), case let .time(t) = axes[a] else {
                return Self.batchMoved(axes) ? try gatherOnView(node, axis: axis) : try gatherTensor(node, axis: axis)
            }
            guard scalar, case let .value(i)? = idx.first, i == -1 || i == Int64(t) - 1 else {
                throw node.fail("Gather on a recurrent layer's sequence is supported only to take the last time step "
                    + "(a scalar index -1 or T-1)")
            }
            var out = axes
            out.remove(at: a)
            bind(node, 0, .tensor(node: n, axes: out))
        default:
            throw node.fail("Gather of a float constant is not supported")
        }
    }

    mutating func concatInts(_ node: ONNXNode) throws {
        var out: [ONNXInt] = []
        for name in node.proto.input where !name.isEmpty {
            guard case let .ints(xs, false) = try value(name, node) else {
                throw node.fail("input \"\(name)\": expected a 1-D integer vector")
            }
            out += xs
        }
        bind(node, 0, .ints(out, scalar: false))
    }

    /// Reshape to (batch, d1, ...): the first target dimension must keep the
    /// batch (0, -1, or the batch taken from Shape); 0 elsewhere copies.
    mutating func reshape(_ node: ONNXNode) throws {
        let shapeName = node.input(1) ?? ""
        guard case let .ints(target, false) = try value(shapeName, node), let first = target.first else {
            throw node.fail("shape \"\(shapeName)\": expected a 1-D integer vector known at import")
        }
        // allowzero = 1 makes a 0 mean an empty dimension; without a 0 it changes nothing.
        if try node.int("allowzero", default: 0) != 0, target.contains(.value(0)) {
            throw node.fail("allowzero = 1 with a 0 in the shape \(target) (an empty tensor) is not supported")
        }
        if let view = try unitReshape(node, target) { return bind(node, 0, view) }
        let batchInside = target.dropFirst().contains(.batch) || target.contains { if case .batchTimes = $0 { return true } else { return false } }
        if case let .tensor(_, axes) = try value(node.input(0) ?? "", node), Self.batchMoved(axes) || batchInside {
            return try reshapeMovingBatch(node, target)
        }
        let x = try materialize(node.input(0) ?? "", node)
        let per = try shapes()[x]
        var rest = try target.dropFirst().enumerated().map { i, d -> Int in
            guard case let .value(v) = d, v >= -1, v <= Limits.dimension else {
                throw node.fail("shape[\(i + 1)]: expected -1, 0 or a positive size")
            }
            if v == 0 {
                guard i < per.count else { throw node.fail("shape[\(i + 1)] = 0 copies a dimension the input lacks") }
                return per[i]
            }
            return Int(v)
        }
        let keepsBatch: Bool
        switch first {
        case .batch, .value(0): keepsBatch = true
        case .value(1) where fixedBatchOne: keepsBatch = true
        case .value(-1): keepsBatch = !rest.contains(-1) && FormatIO.elementCount(rest) == FormatIO.elementCount(per)
        default: keepsBatch = false
        }
        guard keepsBatch, rest.filter({ $0 == -1 }).count <= 1, (1...Limits.rank).contains(rest.count) else {
            // A leading -1 that takes several rows of each example folds them into the batch, (N·k, ...).
            if fixedBatchOne || target.dropFirst().contains(.batch) || first == .value(-1) { return try reshapeMovingBatch(node, target) }
            throw node.fail("Reshape to \(target) is not supported: expected (batch, d1, ...) of at most \(Limits.rank + 1) axes with the batch "
                + "kept first (0, -1 or taken from Shape) and at most one -1")
        }
        if rest == per { rest = [] }
        let n = rest.isEmpty ? x : add(.reshape(rest), inputs: [x], node)
        bind(node, 0, .tensor(node: n, axes: Self.plain(try shapes()[n].count)))
    }
}

extension ONNXGraphBuilder {
    /// A Reshape that only removes or inserts size-1 axes of a view is a view too: each target
    /// dimension is the next axis of the view (same size, or the batch as N, 0 in its place, or
    /// 1 when the model's batch is fixed at 1), or an inserted 1. PyTorch's dynamo exporter
    /// squeezes an LSTM's direction axis this way.
    mutating func unitReshape(_ node: ONNXNode, _ target: [ONNXInt]) throws -> ONNXValue? {
        guard case let .tensor(n, axes) = try value(node.input(0) ?? "", node) else { return nil }
        let shape = try shapes()[n]
        let kept = axes.enumerated().filter { $0.element != .unit }
        var out: [ONNXAxis] = [], next = 0
        for (i, d) in target.enumerated() {
            if next < kept.count {
                let (at, a) = kept[next]
                let matches: Bool
                switch (a, d) {
                case (.batch, .batch): matches = true
                case (.batch, .value(1)): matches = fixedBatchOne
                case (_, .value(0)): matches = at == i
                case let (.dim(k), .value(v)): matches = Int64(shape[k]) == v
                case let (.time(t), .value(v)): matches = Int64(t) == v
                default: matches = false
                }
                if matches {
                    out.append(a)
                    next += 1
                    continue
                }
            }
            guard d == .value(1) else { return nil }
            out.append(.unit)
        }
        return next == kept.count ? .tensor(node: n, axes: out) : nil
    }
}

extension ONNXGraphBuilder {
    /// Squeeze of a layer's own size-1 axes (a 1-D pool exported as a 2-D one on an unsqueezed
    /// input): a reshape of the plain result.
    mutating func squeezeLayerAxes(_ node: ONNXNode, _ axes: Set<Int>) throws -> Void {
        let x = try materialize(node.input(0) ?? "", node)
        let shape = try shapes()[x]
        guard !axes.contains(0), axes.allSatisfy({ shape[$0 - 1] == 1 }) else {
            throw node.fail("squeezing the batch or an axis whose size is not 1 (shape \(shape) besides the batch)")
        }
        let dims = shape.enumerated().filter { !axes.contains($0.offset + 1) }.map(\.element)
        guard (1...Limits.rank).contains(dims.count) else {
            throw node.fail("the result has \(dims.count) dimensions besides the batch; nncc supports 1 to \(Limits.rank)")
        }
        bind(node, 0, .tensor(node: add(.reshape(dims), inputs: [x], node), axes: Self.plain(dims.count)))
    }
}
