/// ONNX operators on whole tensors: MatMul, Softmax/LogSoftmax on any axis,
/// the reductions, and Slice, Split, Gather, Tile and Expand on layer
/// results. An ONNX axis counts the batch as 0, which none of them may
/// reduce, slice or move; the IR's per-example axis is the ONNX axis less 1.
extension ONNXGraphBuilder {
    /// ONNX axis `axis` of a tensor of ONNX rank `rank` as a per-example axis; `batchAxes` is 0 when
    /// the batch is merged into axis 0 (ONNXLayout), which then holds it as well.
    func exampleAxis(_ axis: Int, rank: Int, _ node: ONNXNode, what: String = "axis", batchAxes: Int = 1) throws -> Int {
        let a = axis < 0 ? axis + rank : axis
        guard (0..<rank).contains(a) else { throw node.fail("\(what) \(axis) is out of range for rank \(rank)") }
        guard a != 0 else {
            throw node.fail("\(what) \(axis) \(batchAxes == 0 ? "holds" : "is") the batch axis; nncc computes each example apart")
        }
        return a - batchAxes
    }

    /// MatMul(A, B): a dense layer for a constant 2-D B [in, units]; otherwise a batched matmul
    /// of two layer results (both with the batch first), or of a result and a constant B of
    /// higher rank (without the batch axis, or 1 there).
    mutating func matMul(_ node: ONNXNode) throws {
        let bName = node.input(1) ?? ""
        guard case let .tensor(_, axesA) = try value(node.input(0) ?? "", node) else {
            throw node.fail("input A: expected a layer result; a constant left operand is not supported")
        }
        if Self.batchMoved(axesA), case let .floats(c) = try value(bName, node), c.shape.count == 2,
           try denseOnView(node, weight: try weight(bName, node, what: "B", rank: 2), name: bName, transposedB: false) != nil {
            return
        }
        let lx = try materializeLayout(node.input(0) ?? "", node, allowMerged: true)
        let x = lx.node, ra = try shapes()[x].count + lx.batchAxes
        switch try value(bName, node) {
        case let .floats(c) where c.shape.count == 2:
            let w = transposed(try weight(node.input(1), node, what: "B", rank: 2))
            let d = add(.dense(units: w.shape[0], bias: false), inputs: [x], node, weightName: bName)
            setWeight(d, "weight", Tensor(shape: w.shape, data: w.floats!), from: bName)
            bind(node, 0, .tensor(node: d, axes: lx.axes(try shapes()[d].count)))
        case let .floats(c):
            var shape = c.shape
            guard shape.count >= 3, shape.count <= ra else {
                throw node.fail("constant B of shape \(c.shape) with A of rank \(ra): expected B of rank 3 to \(ra)")
            }
            if shape.count == ra {
                guard shape[0] == 1 else { throw node.fail("constant B of shape \(c.shape) would broadcast over the batch") }
                shape.removeFirst()
            }
            let m = add(.matmul(constant: shape), inputs: [x], node)
            setWeight(m, "constant", Tensor(shape: shape, data: c.floats!), from: bName)
            bind(node, 0, .tensor(node: m, axes: lx.axes(try shapes()[m].count)))
        case .tensor:
            let ly = try materializeLayout(bName, node, allowMerged: true)
            let y = ly.node, rb = try shapes()[y].count + ly.batchAxes
            guard ly.merged == lx.merged, rb == ra, ra >= 3 else {
                throw node.fail("MatMul of two layer results needs both of rank 3 or more with the batch first "
                    + "(or both merged into their first axis), found \(describe(lx.axes(ra - lx.batchAxes))) and \(describe(ly.axes(rb - ly.batchAxes)))")
            }
            let m = add(.matmul(constant: nil), inputs: [x, y], node)
            bind(node, 0, .tensor(node: m, axes: lx.axes(try shapes()[m].count)))
        default:
            throw node.fail("input B \"\(bName)\": expected a float constant or a layer result")
        }
    }

    /// Softmax and LogSoftmax on any non-batch axis. Before opset 13 the axis splits the tensor
    /// into 2-D (the softmax runs over everything from it on): a reshape around it.
    mutating func softmax(_ node: ONNXNode) throws {
        let lx = try materializeLayout(node.input(0) ?? "", node, allowMerged: true)
        let x = lx.node, shape = try shapes()[x], rank = shape.count + lx.batchAxes
        let a = try exampleAxis(try node.int("axis", default: opset >= 13 ? -1 : 1), rank: rank, node, batchAxes: lx.batchAxes)
        let log = node.op == "LogSoftmax"
        func op(_ axis: Int) -> Op { log ? .logSoftmax(axis: axis) : .softmax(axis: axis) }
        if opset < 13 && a != shape.count - 1 {
            let flat = add(.reshape(Array(shape[..<a]) + [shape[a...].reduce(1, *)]), inputs: [x], node)
            let s = add(op(-1), inputs: [flat], node)
            return bind(node, 0, .tensor(node: add(.reshape(shape), inputs: [s], node), axes: lx.axes(shape.count)))
        }
        bind(node, 0, .tensor(node: add(op(a), inputs: [x], node), axes: lx.axes(shape.count)))
    }

    /// ReduceMean, ReduceSum, ReduceMax, ReduceMin, ReduceL2 over non-batch axes (an attribute,
    /// or from opset 18, 13 for ReduceSum, an input); ReduceMean over (2, 3) of (N, C, H, W) or
    /// over 2 of (N, C, L) is a global average pool.
    mutating func reduce(_ node: ONNXNode) throws {
        let keep = try node.int("keepdims", default: 1) != 0
        let axes = try node.input(1).map { try knownInts($0, node) } ?? node.ints("axes") ?? []
        if axes.isEmpty {
            guard try node.int("noop_with_empty_axes", default: 0) != 0 else {
                throw node.fail("\(node.op) over every axis (the batch too) is not supported; give the axes")
            }
            return bind(node, 0, try value(node.input(0) ?? "", node))
        }
        let lx = try materializeLayout(node.input(0) ?? "", node, allowMerged: true)
        let x = lx.node, perRank = try shapes()[x].count, rank = perRank + lx.batchAxes
        let per = try axes.map { try exampleAxis($0, rank: rank, node, what: "axes", batchAxes: lx.batchAxes) }
        guard Set(per).count == per.count else { throw node.fail("axes \(axes) repeat an axis") }
        guard keep || per.count < perRank else { throw node.fail("\(node.op) leaves only the batch axis; nncc needs one more") }
        if node.op == "ReduceMean", !lx.merged, (3...5).contains(rank), Set(per) == Set(1..<rank - 1) {
            return try globalAveragePool(node, keep: keep)
        }
        let kinds: [String: Reduction.Kind] = ["ReduceMean": .mean, "ReduceSum": .sum, "ReduceMax": .max, "ReduceMin": .min, "ReduceL2": .l2]
        let r = add(.reduce(Reduction(kinds[node.op] ?? .mean, axes: per.sorted(), keepDims: keep)), inputs: [x], node)
        bind(node, 0, .tensor(node: r, axes: lx.axes(try shapes()[r].count)))
    }
}

/// Slice, Split, Gather, Tile and Expand of a layer's result: one `select` each (per Split output).
extension ONNXGraphBuilder {
    /// Integers of input `i` (clamped to Int), or of the attribute `attribute` when the input is absent.
    func listInput(_ node: ONNXNode, _ i: Int, attribute: String?) throws -> [Int]? {
        if let name = node.input(i) {
            guard let c = known(name) else { throw node.fail("input \"\(name)\": expected integers known at import") }
            return try intList(c, node)
        }
        return try attribute.map { try node.ints($0) } ?? nil
    }

    /// The plain per-example shape of input 0 and its IR node.
    mutating func plainInput(_ node: ONNXNode) throws -> (x: Int, shape: [Int]) {
        let x = try materialize(node.input(0) ?? "", node)
        return (x, try shapes()[x])
    }

    /// Binds output `k` to `select` of `x` (no node when it selects everything), reshaped to `shape`;
    /// `merged`: the batch stays merged into the first axis (ONNXLayout).
    mutating func bindSelect(_ node: ONNXNode, _ k: Int, _ x: Int, _ sel: [AxisSelection], shape: [Int]? = nil,
                             merged: Bool = false) throws {
        let whole = try zip(sel, shapes()[x]).allSatisfy { $0 == .range(start: 0, step: 1, count: $1) }
        var n = whole ? x : add(.select(sel), inputs: [x], node)
        if let shape, shape != (try shapes()[n]) {
            guard !shape.isEmpty else { throw node.fail("the result would keep only the batch axis") }
            n = add(.reshape(shape), inputs: [n], node)
        }
        bind(node, k, .tensor(node: n, axes: ONNXLayout(node: n, merged: merged).axes(try shapes()[n].count)))
    }

    /// Slice: starts, ends, axes, steps as inputs (opset 10) or attributes. The batch is taken whole;
    /// a 1-D integer vector (a shape) is sliced at import.
    mutating func slice(_ node: ONNXNode) throws {
        let tensorInput: Bool
        if case .tensor = try value(node.input(0) ?? "", node) { tensorInput = true } else { tensorInput = false }
        let new = opset >= 10
        guard let starts = try listInput(node, 1, attribute: new ? nil : "starts"),
              let ends = try listInput(node, 2, attribute: new ? nil : "ends"), starts.count == ends.count else {
            throw node.fail("expected starts and ends of the same length")
        }
        let axes = try listInput(node, 3, attribute: new ? nil : "axes") ?? Array(starts.indices)
        let steps = try (new ? listInput(node, 4, attribute: nil) : nil) ?? [Int](repeating: 1, count: starts.count)
        guard axes.count == starts.count, steps.count == starts.count, Set(axes).count == axes.count, !steps.contains(0) else {
            throw node.fail("starts, ends, axes and steps must have one entry per distinct axis and no zero step")
        }
        guard tensorInput else {
            guard case let .ints(xs, false) = try value(node.input(0) ?? "", node), axes.count == 1, axes[0] == 0 || axes[0] == -1 else {
                throw node.fail("Slice of a constant that is not folded: expected a 1-D integer vector")
            }
            let (f, s, n) = Self.sliceRange(starts[0], ends[0], steps[0], size: xs.count)
            return bind(node, 0, .ints((0..<n).map { xs[f + s * $0] }, scalar: false))
        }
        let (x, shape) = try plainInput(node)
        var sel = shape.map { AxisSelection.range(start: 0, step: 1, count: $0) }
        for (k, axis) in axes.enumerated() {
            let a = axis < 0 ? axis + shape.count + 1 : axis
            if a == 0 {
                guard starts[k] == 0, steps[k] == 1, ends[k] >= Int(Int32.max) else {
                    throw node.fail("slicing the batch axis is not supported; nncc computes each example apart")
                }
                continue
            }
            let e = try exampleAxis(axis, rank: shape.count + 1, node, what: "axes")
            let (f, s, n) = Self.sliceRange(starts[k], ends[k], steps[k], size: shape[e])
            guard n >= 1 else { throw node.fail("the slice of axis \(axis) is empty") }
            sel[e] = .range(start: f, step: s, count: n)
        }
        try bindSelect(node, 0, x, sel)
    }

    /// Split into parts along a non-batch axis: `split` as an input (opset 13) or attribute, or
    /// `num_outputs` (opset 18) / one part per output, equal but for a smaller last one.
    mutating func split(_ node: ONNXNode) throws {
        let (x, shape) = try plainInput(node)
        let a = try exampleAxis(try node.int("axis", default: 0), rank: shape.count + 1, node)
        let n = shape[a]
        var parts = try listInput(node, 1, attribute: opset >= 13 ? nil : "split") ?? []
        if parts.isEmpty {
            let k = try node.int("num_outputs", default: node.proto.output.count)
            guard k >= 1, k <= n else { throw node.fail("num_outputs \(k) must be in 1...\(n), the size of axis \(a + 1)") }
            let each = (n + k - 1) / k
            parts = (0..<k).map { max(0, min(each, n - $0 * each)) }
        }
        guard parts.allSatisfy({ $0 >= 1 }), parts.reduce(0, +) == n, parts.count == node.proto.output.count else {
            throw node.fail("split \(parts) does not divide axis \(a + 1) of size \(n) into \(node.proto.output.count) non-empty parts")
        }
        var start = 0
        for (k, size) in parts.enumerated() {
            var sel = shape.map { AxisSelection.range(start: 0, step: 1, count: $0) }
            sel[a] = .range(start: start, step: 1, count: size)
            start += size
            try bindSelect(node, k, x, sel)
        }
    }

    /// Gather of constant indices along a non-batch axis of a layer's result; the indices' shape
    /// replaces the axis (a scalar index removes it).
    mutating func gatherTensor(_ node: ONNXNode, axis: Int) throws {
        let (x, shape) = try plainInput(node)
        let a = try exampleAxis(axis, rank: shape.count + 1, node)
        guard let c = known(node.input(1) ?? ""), let raw = c.ints, !raw.isEmpty else {
            throw node.fail("indices: expected integer constants")
        }
        let idx = try raw.map { i -> Int in
            guard let j = Int(exactly: i), (-shape[a]..<shape[a]).contains(j) else {
                throw node.fail("index \(i) is out of range for \(shape[a]) elements")
            }
            return j < 0 ? j + shape[a] : j
        }
        var sel = shape.map { AxisSelection.range(start: 0, step: 1, count: $0) }
        sel[a] = idx.count == 1 ? .range(start: idx[0], step: 1, count: 1) : .list(idx)
        try bindSelect(node, 0, x, sel, shape: Array(shape[..<a]) + c.shape + shape[(a + 1)...])
    }

    /// Tile: repeats per axis, 1 for the batch.
    mutating func tile(_ node: ONNXNode) throws {
        let (x, shape) = try plainInput(node)
        guard let reps = try listInput(node, 1, attribute: nil), reps.count == shape.count + 1, reps[0] == 1,
              reps.allSatisfy({ $0 >= 1 }) else {
            throw node.fail("repeats: expected \(shape.count + 1) positive integers known at import, 1 for the batch")
        }
        guard zip(shape, reps.dropFirst()).allSatisfy({ $1 <= Limits.dimension / $0 }) else {
            throw node.fail("repeats \(reps) make an axis longer than \(Limits.show(Limits.dimension))")
        }
        try Limits.check("result of shape", zip(shape, reps.dropFirst()).map { $0 * $1 }, limit: Limits.exampleElements) { node.fail($0) }
        let sel = zip(shape, reps.dropFirst()).map { n, r in
            r == 1 ? AxisSelection.range(start: 0, step: 1, count: n) : .list((0..<n * r).map { $0 % n })
        }
        try bindSelect(node, 0, x, sel)
    }

    /// Expand of a layer's result: size-1 axes repeat to the target's size (NumPy's rule); the
    /// target may not add axes before the batch other than 1s. With the batch merged into axis 0
    /// (F.normalize in window attention), that axis keeps its size.
    mutating func expandTensor(_ node: ONNXNode) throws {
        let lx = try materializeLayout(node.input(0) ?? "", node, allowMerged: true)
        let x = lx.node, shape = try shapes()[x]
        guard case let .ints(target, false) = try value(node.input(1) ?? "", node) else {
            throw node.fail("shape: expected a 1-D integer vector known at import")
        }
        let rank = shape.count + lx.batchAxes
        let extra = target.count - rank
        guard target.prefix(max(0, extra)).allSatisfy({ $0 == .value(1) }) else {
            throw node.fail("Expand to \(target) adds axes before the batch")
        }
        let aligned = Array(repeating: ONNXInt.value(1), count: max(0, -extra)) + target.suffix(min(rank, target.count))
        var sel: [AxisSelection] = []
        for (k, n) in shape.enumerated() {
            switch aligned[k + lx.batchAxes] {
            case .value(1): sel.append(.range(start: 0, step: 1, count: n))
            case let .value(t) where Int(t) == n && (k > 0 || !lx.merged || fixedBatchOne):
                sel.append(.range(start: 0, step: 1, count: n))
            case let .batchTimes(t) where Int(t) == n && k == 0 && lx.merged: sel.append(.range(start: 0, step: 1, count: n))
            case let .value(t) where n == 1 && t >= 1 && t <= Limits.dimension && (k > 0 || !lx.merged):
                sel.append(.range(start: 0, step: 0, count: Int(t)))
            default: throw node.fail("Expand of shape \(shape) (besides the batch) to \(target) does not broadcast")
            }
        }
        try bindSelect(node, 0, x, sel, merged: lx.merged)
    }
}

/// Views whose batch is not the first axis: PyTorch's attention works on (T, N, E) and, in files
/// exported at a fixed batch of 1, merges the batch with the heads ((T, N·h, d)) and the sequence
/// ((T·N, E)). Each example is still computed apart: the layer's result holds the per-example
/// axes, and the view records where the batch sits (`batch`, or `batchTimes` merged into an axis).
/// Dense layers on the last axis, Reshape, Transpose and Gather work on such views; other
/// operators need the batch first again.
extension ONNXGraphBuilder {
    static func batchMoved(_ axes: [ONNXAxis]) -> Bool {
        axes.first != .batch || axes.contains {
            switch $0 {
            case .batchTimes, .batchInner: return true
            default: return false
            }
        }
    }

    /// The view of `name` with its layer axes in the view's order (a transpose when they are not),
    /// renumbered; `name` is bound to it.
    mutating func orderedView(_ name: String, _ node: ONNXNode) throws -> (node: Int, axes: [ONNXAxis]) {
        let (n, axes) = try tensor(name, node)
        let order = axes.compactMap(\.layerAxis)
        guard !axes.contains(where: { if case .time = $0 { return true } else { return false } }) else {
            throw node.fail("input \"\(name)\" still has the time axis of a recurrent layer; expected Gather of the last step first")
        }
        if order == Array(order.indices) { return (n, axes) }
        let t = add(.transpose(order), inputs: [n], node)
        var next = 0
        let renumbered = axes.map { a -> ONNXAxis in
            switch a {
            case .dim: next += 1; return .dim(next - 1)
            case .batchTimes: next += 1; return .batchTimes(next - 1)
            case .batchInner: next += 1; return .batchInner(next - 1)
            default: return a
            }
        }
        values[name] = .tensor(node: t, axes: renumbered)
        return (t, renumbered)
    }

    /// Per-example elements before the batch: of the axes before it, and of its axis when it is that axis's inner factor.
    static func elementsBeforeBatch(_ axes: [ONNXAxis], _ shape: [Int]) -> Int? {
        var before = 1
        for a in axes {
            switch a {
            case .batch, .batchTimes: return before
            case let .batchInner(k): return before * shape[k]
            case let .dim(k): before *= shape[k]
            case .unit, .time: break
            }
        }
        return nil
    }

    /// Reshape of a view whose batch is not first, or to a target whose batch is not first. The
    /// batch keeps its place in the element order: a `.batch` entry (from Shape) or, in a file at
    /// batch 1, a literal 1 with as many elements before it, or the axis that starts there.
    mutating func reshapeMovingBatch(_ node: ONNXNode, _ written: [ONNXInt]) throws {
        let (n, axes) = try orderedView(node.input(0) ?? "", node)
        let shape = try shapes()[n], total = shape.reduce(1, *)
        func unsupported(_ why: String) -> NNCCError { node.fail("Reshape to \(written) is not supported: \(why)") }
        // A leading -1 before known sizes is the batch times what is left of an example ((N·windows, ...)).
        var target = written
        let sizes = written.dropFirst().compactMap { d -> Int? in if case let .value(v) = d, v > 0 { Int(v) } else { nil } }
        if !fixedBatchOne, written.first == .value(-1), sizes.count == written.count - 1,
           let known = FormatIO.elementCount(sizes), known > 0, total % known == 0 {
            target[0] = .batchTimes(Int64(total / known))
        }
        guard let before = Self.elementsBeforeBatch(axes, shape) else { throw unsupported("the input has no batch axis") }
        var dims: [Int] = [], batchAt: Int?
        for (i, d) in target.enumerated() {
            switch d {
            case .batch:
                guard batchAt == nil else { throw unsupported("the batch appears twice") }
                batchAt = i
                dims.append(1)
            case let .batchTimes(k):
                guard batchAt == nil else { throw unsupported("the batch appears twice") }
                guard k >= 1, k <= Int64(Limits.dimension) else { throw unsupported("shape[\(i)]: the batch times \(k)") }
                batchAt = i
                dims.append(Int(k))
            case .value(0):
                guard i < axes.count else { throw unsupported("shape[\(i)] = 0 copies a dimension the input lacks") }
                switch axes[i] {
                case .batch: batchAt = i; dims.append(1)
                case let .dim(k): dims.append(shape[k])
                case .unit: dims.append(1)
                default: throw unsupported("shape[\(i)] = 0 copies an axis that holds the batch")
                }
            case let .value(v):
                guard v >= -1, v != 0, v <= Limits.dimension else { throw unsupported("shape[\(i)]: expected -1, 0 or a positive size") }
                dims.append(Int(v))
            }
        }
        guard FormatIO.elementCount(dims.map { max($0, 1) }) != nil else { throw unsupported("too many elements") }
        let merged = target.contains { if case .batchTimes = $0 { return true } else { return false } }
        if let free = dims.firstIndex(of: -1) {
            let known = dims.enumerated().filter { $0.offset != free && ($0.offset != batchAt || merged) }.map(\.element).reduce(1, *)
            guard dims.filter({ $0 == -1 }).count == 1, known > 0, total % known == 0 else { throw unsupported("at most one -1 that fits") }
            dims[free] = total / known
        }
        var separate = batchAt != nil && !merged
        if batchAt == nil {
            guard fixedBatchOne else { throw unsupported("the batch must stay a dimension of its own (0 or taken from Shape)") }
            // A literal 1 right where the batch sits, else the axis that starts there carries it.
            let starts = dims.indices.filter { dims[..<$0].reduce(1, *) == before }
            if let p = starts.first(where: { dims[$0] == 1 }) { batchAt = p; separate = true }
            else if let p = starts.first { batchAt = p }
            else { throw unsupported("the batch's place in the element order (after \(before) elements per example) falls inside an axis") }
        }
        guard let p = batchAt else { throw unsupported("no place for the batch") }
        var per = dims
        if separate { per.remove(at: p) }
        // A merged batch is its axis's outer factor when the elements before the axis are those before the batch, else its inner one.
        let inner = !separate && per[..<p].reduce(1, *) != before
        guard per.reduce(1, *) == total, !per.isEmpty, per[..<(inner ? p + 1 : min(p, per.count))].reduce(1, *) == before else {
            throw unsupported("it moves the batch among the other axes or changes the number of elements (\(total) per example)")
        }
        let r = per == shape ? n : add(.reshape(per), inputs: [n], node)
        var out: [ONNXAxis] = per.indices.map { .dim($0) }
        if separate { out.insert(.batch, at: p) } else { out[p] = inner ? .batchInner(p) : .batchTimes(p) }
        bind(node, 0, .tensor(node: r, axes: out))
    }

    /// A dense layer on the last axis of a view whose batch is not first: the view is kept.
    mutating func denseOnView(_ node: ONNXNode, weight: ONNXConstant, name: String, transposedB: Bool) throws -> Int? {
        let (n, axes) = try orderedView(node.input(0) ?? "", node)
        let rank = try shapes()[n].count
        guard axes.last == .dim(rank - 1) || axes.last == .batchTimes(rank - 1) else { return nil }
        let w = transposedB ? weight : transposed(weight)
        let d = add(.dense(units: w.shape[0], bias: false), inputs: [n], node, weightName: name)
        setWeight(d, "weight", Tensor(shape: w.shape, data: w.floats!), from: name)
        bind(node, 0, .tensor(node: d, axes: axes))
        return d
    }

    /// Gather of one constant index on an axis of a view whose batch is not first: that axis goes.
    /// On a whole example flattened with its batch (a file at batch 1), indices whose first axis is
    /// 1 bring the batch back there: PyTorch's dynamo exporter writes as_strided this way.
    mutating func gatherOnView(_ node: ONNXNode, axis: Int) throws {
        let (n, axes) = try tensor(node.input(0) ?? "", node)
        if axes == [.batchTimes(0)], axis == 0 || axis == -1, let c = known(node.input(1) ?? ""), let raw = c.ints,
           c.shape.count >= 2, c.shape.first == 1, !raw.isEmpty {
            let size = try shapes()[n][0]
            let idx = try raw.map { i -> Int in
                guard let j = Int(exactly: i), (0..<size).contains(j) else {
                    throw node.fail("index \(i) reaches past the example (\(size) elements) of a tensor flattened with its batch")
                }
                return j
            }
            let s = add(.select([.list(idx)]), inputs: [n], node)
            let shape = Array(c.shape.dropFirst())
            let r = add(.reshape(shape), inputs: [s], node)
            return bind(node, 0, .tensor(node: r, axes: Self.plain(shape.count)))
        }
        let a = axis < 0 ? axis + axes.count : axis
        guard axes.indices.contains(a), case let .dim(k) = axes[a], let c = known(node.input(1) ?? ""), c.shape.isEmpty,
              let i = c.ints?.first.flatMap({ Int(exactly: $0) }) else {
            throw node.fail("Gather on a view whose batch is not first: expected one constant index on a layer's axis")
        }
        let shape = try shapes()[n]
        guard (-shape[k]..<shape[k]).contains(i) else { throw node.fail("index \(i) is out of range for \(shape[k]) elements") }
        var sel = shape.map { AxisSelection.range(start: 0, step: 1, count: $0) }
        sel[k] = .range(start: i < 0 ? i + shape[k] : i, step: 1, count: 1)
        var rest = shape
        rest.remove(at: k)
        guard !rest.isEmpty else { throw node.fail("the result would keep only the batch axis") }
        let r = add(.reshape(rest), inputs: [add(.select(sel), inputs: [n], node)], node)
        var out = axes
        out.remove(at: a)
        out = out.map { r in
            switch r {
            case let .dim(j) where j > k: return .dim(j - 1)
            case let .batchTimes(j) where j > k: return .batchTimes(j - 1)
            case let .batchInner(j) where j > k: return .batchInner(j - 1)
            default: return r
            }
        }
        bind(node, 0, .tensor(node: r, axes: out))
    }
}

extension ONNXGraphBuilder {
    /// Shape arithmetic on the batch (Mul and Div of integer scalars or vectors, one of them
    /// holding N): N·k and N·k / k, as the older exporter computes attention's (T, N·h, d).
    /// False when the inputs are not such integers.
    mutating func batchArithmetic(_ node: ONNXNode) throws -> Bool {
        guard ["Mul", "Div"].contains(node.op), let a = node.input(0), let b = node.input(1),
              case let .ints(xs, xScalar)? = values[a], case let .ints(ys, yScalar)? = values[b],
              xs.count == ys.count || xs.count == 1 || ys.count == 1 else { return false }
        let n = max(xs.count, ys.count)
        let out = try (0..<n).map { i -> ONNXInt in
            let (x, y) = (xs[xs.count == 1 ? 0 : i], ys[ys.count == 1 ? 0 : i])
            func scaled(_ k: Int64) -> ONNXInt { k == 1 ? .batch : .batchTimes(k) }
            switch (node.op, x, y) {
            case let ("Mul", .value(p), .value(q)): return .value(p &* q)
            case let ("Div", .value(p), .value(q)) where q != 0 && !(p == .min && q == -1): return .value(p / q)
            case let ("Mul", .batch, .value(k)) where k >= 1, let ("Mul", .value(k), .batch) where k >= 1: return scaled(k)
            case let ("Mul", .batchTimes(a), .value(k)) where k >= 1, let ("Mul", .value(k), .batchTimes(a)) where k >= 1:
                return scaled(a &* k)
            case let ("Div", .batchTimes(a), .value(k)) where k >= 1 && a % k == 0: return scaled(a / k)
            case ("Div", .batch, .value(1)): return .batch
            default: throw node.fail("shape arithmetic \(x) \(node.op == "Mul" ? "·" : "/") \(y) on the batch is not supported")
            }
        }
        bind(node, 0, .ints(out, scalar: xScalar && yScalar))
        return true
    }
}
