import Foundation

/// Constant folding: a node whose inputs are all known at import (initializers, Constant nodes,
/// shapes without the batch) is evaluated here, whatever it computes. Exporters slice,
/// concatenate, transpose and cast weights (PyTorch's dynamo exporter reorders LSTM gates with
/// Slice and Concat; its older one transposes a Linear's weight) and build shapes with Range,
/// Equal, Where and Expand.
extension ONNXGraphBuilder {
    static let foldable: Set<String> = [
        "Identity", "Cast", "Transpose", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Concat", "Split", "Slice",
        "Gather", "GatherND", "Shape", "Size", "ConstantOfShape", "Range", "Expand", "Tile", "Equal", "Less", "Greater", "Not",
        "Where", "Add", "Sub", "Mul", "Div", "Mod", "Pow", "Neg", "Abs", "Sqrt", "Min", "Max",
        "MatMul", "Relu", "Sigmoid", "Tanh", "Exp", "Log", "ScatterND", "Clip",
    ]

    /// Folded constants larger than this are refused: they would be built element by element.
    static let foldLimit = 1 << 24

    /// The value of `name` as a constant tensor, or nil when it depends on the model input or the batch size.
    func known(_ name: String) -> ONNXConstant? {
        switch values[name] {
        case let .floats(c)?, let .intTensor(c)?: return c
        case let .ints(xs, scalar)?:
            var out: [Int64] = []
            for x in xs {
                guard case let .value(v) = x else { return nil }
                out.append(v)
            }
            return ONNXConstant(shape: scalar ? [] : [out.count], ints: out)
        default: return nil
        }
    }

    /// Evaluates `node` when it is foldable and every input it has is a constant; false otherwise.
    mutating func foldConstants(_ node: ONNXNode) throws -> Bool {
        guard Self.foldable.contains(node.op) else { return false }
        var inputs: [ONNXConstant?] = []
        for name in node.proto.input {
            if name.isEmpty { inputs.append(nil); continue }
            guard let c = known(name) else { return false }
            inputs.append(c)
        }
        guard inputs.first.flatMap({ $0 }) != nil else { return false }
        for (i, c) in try evaluate(node, inputs.map { $0 }).enumerated() { bind(node, i, c.value) }
        return true
    }

    private func evaluate(_ node: ONNXNode, _ inputs: [ONNXConstant?]) throws -> [ONNXConstant] {
        func input(_ i: Int) throws -> ONNXConstant {
            guard i < inputs.count, let c = inputs[i] else { throw node.fail("missing input \(i)") }
            return c
        }
        /// An optional integer-list input, or the attribute of the same name (older opsets).
        func list(_ i: Int, _ attribute: String) throws -> [Int]? {
            if i < inputs.count, let c = inputs[i] { return try intList(c, node) }
            return try node.ints(attribute)
        }
        let x = try input(0)
        switch node.op {
        case "Identity": return [x]
        case "Cast": return [try cast(x, to: node.int("to"), node)]
        case "Transpose":
            let perm = try node.ints("perm") ?? Array(x.shape.indices.reversed())
            guard perm.sorted() == Array(x.shape.indices) else { throw node.fail("perm \(perm) is not a permutation of rank \(x.shape.count)") }
            let strides = Self.strides(x.shape)
            return [try pick(x, perm.map { x.shape[$0] }, perm.map { a in (0..<x.shape[a]).map { $0 * strides[a] } }, node)]
        case "Reshape":
            let allowZero = try node.int("allowzero", default: 0) != 0
            return [try reshaped(x, to: intList(try input(1), node), allowZero: allowZero, node)]
        case "Flatten":
            let axis = try Self.axis(node.int("axis", default: 1), rank: x.shape.count + 1, node)
            let outer = x.shape.prefix(axis).reduce(1, *)
            return [try reshaped(x, to: [outer, -1], allowZero: false, node)]
        case "Squeeze":
            let axes = try list(1, "axes").map { try $0.map { try Self.axis($0, rank: x.shape.count, node) } }
                ?? x.shape.indices.filter { x.shape[$0] == 1 }
            guard axes.allSatisfy({ x.shape[$0] == 1 }) else { throw node.fail("squeezing an axis whose size is not 1") }
            return [reshape(x, x.shape.enumerated().filter { !axes.contains($0.offset) }.map(\.element))]
        case "Unsqueeze":
            guard let a = try list(1, "axes") else { throw node.fail("missing axes") }
            let rank = x.shape.count + a.count
            let axes = Set(try a.map { try Self.axis($0, rank: rank, node) })
            guard axes.count == a.count else { throw node.fail("axes \(a) repeat") }
            var rest = x.shape.makeIterator()
            return [reshape(x, (0..<rank).map { axes.contains($0) ? 1 : rest.next() ?? 1 })]
        case "Concat":
            let parts = inputs.compactMap { $0 }
            return [try concat(parts, axis: Self.axis(node.int("axis"), rank: x.shape.count, node), node)]
        case "Split": return try split(x, node, list(1, "split"))
        case "Slice": return [try slice(x, node, inputs)]
        case "Gather": return [try gather(x, try input(1), axis: Self.axis(node.int("axis", default: 0), rank: x.shape.count, node), node)]
        case "GatherND": return [try gatherND(x, try input(1), node)]
        case "Shape":
            let r = x.shape.count
            func clamp(_ i: Int) -> Int { max(0, min(r, i < 0 ? i + r : i)) }
            let (s, e) = (clamp(try node.int("start", default: 0)), clamp(try node.int("end", default: r)))
            return [ONNXConstant(shape: [max(0, e - s)], ints: s < e ? x.shape[s..<e].map { Int64($0) } : [])]
        case "Size": return [ONNXConstant(shape: [], ints: [Int64(x.count)])]
        case "ConstantOfShape":
            let shape = try intList(x, node)
            try checkShape(shape, node)
            var fill = ONNXConstant(shape: [], floats: [0])
            if let t = try node.tensor("value") {
                fill = try ONNXConstant.decode(t, file: file, what: "\(node.origin).value", external: external)
                guard fill.count == 1 else { throw node.fail("attribute value: expected one element") }
            }
            return [try pick(fill, shape, shape.map { [Int](repeating: 0, count: $0) }, node)]
        case "Range": return [try range(x, try input(1), try input(2), node)]
        case "Expand":
            let target = try intList(try input(1), node)
            let shape = try Self.broadcast(x.shape, target, node)
            try checkShape(shape, node)
            return [try pick(x, shape, Self.broadcastContributions(x.shape, to: shape), node)]
        case "Tile":
            let reps = try intList(try input(1), node)
            guard reps.count == x.shape.count, reps.allSatisfy({ $0 >= 0 }) else { throw node.fail("repeats \(reps) do not fit rank \(x.shape.count)") }
            let shape = zip(x.shape, reps).map { $0 * $1 }
            try checkShape(shape, node)
            let strides = Self.strides(x.shape)
            return [try pick(x, shape, shape.indices.map { a in (0..<shape[a]).map { ($0 % x.shape[a]) * strides[a] } }, node)]
        case "Where":
            let (a, b) = (try input(1), try input(2))
            let shape = try Self.broadcast(Self.broadcast(x.shape, a.shape, node), b.shape, node)
            let (c, ea, eb) = try (expand(x, shape, node), expand(a, shape, node), expand(b, shape, node))
            let cond = c.ints ?? c.floats!.map { $0 != 0 ? 1 : 0 }
            if let fa = ea.floats, let fb = eb.floats {
                return [ONNXConstant(shape: shape, floats: cond.indices.map { cond[$0] != 0 ? fa[$0] : fb[$0] })]
            }
            guard let ia = ea.ints, let ib = eb.ints else { throw node.fail("X and Y must have the same type") }
            return [ONNXConstant(shape: shape, ints: cond.indices.map { cond[$0] != 0 ? ia[$0] : ib[$0] })]
        case "MatMul": return [try matMul(x, try input(1), node)]
        case "Clip":
            // swin_v2's logit_scale.clamp(max = log 100) in the older exporter's files.
            guard let f = x.floats, case let .clip(lo, hi) = try clip(node) else { throw node.fail("Clip of integers is not supported") }
            return [ONNXConstant(shape: x.shape, floats: f.map { $0.isNaN ? $0 : Swift.min(Swift.max($0, lo), hi) })]
        case "ScatterND": return [try scatterND(x, try input(1), try input(2), node)]
        case "Neg", "Abs", "Sqrt", "Not", "Relu", "Sigmoid", "Tanh", "Exp", "Log":
            if let f = x.floats {
                let op: (Float) -> Float
                switch node.op {
                case "Neg": op = { -$0 }
                case "Abs": op = { abs($0) }
                case "Sqrt": op = { $0.squareRoot() }
                case "Relu": op = { $0.isNaN || $0 > 0 ? $0 : 0 }
                case "Sigmoid": op = { 1 / (1 + Foundation.exp(-$0)) }
                case "Tanh": op = { Foundation.tanh($0) }
                case "Exp": op = { Foundation.exp($0) }
                case "Log": op = { Foundation.log($0) }
                default: op = { $0 == 0 ? 1 : 0 }
                }
                return [ONNXConstant(shape: x.shape, floats: f.map(op))]
            }
            let i = x.ints ?? []
            switch node.op {
            case "Neg": return [ONNXConstant(shape: x.shape, ints: i.map { 0 &- $0 })]
            case "Abs": return [ONNXConstant(shape: x.shape, ints: i.map { $0 < 0 ? 0 &- $0 : $0 })]
            case "Not": return [ONNXConstant(shape: x.shape, ints: i.map { $0 == 0 ? 1 : 0 })]
            case "Relu": return [ONNXConstant(shape: x.shape, ints: i.map { Swift.max($0, 0) })]
            default: throw node.fail("\(node.op) of integers is not supported")
            }
        case "Pow":
            // A float base; the exponent may be of an integer type (swin's window-shift arithmetic).
            let e = try input(1)
            guard let base = x.floats, let p = e.floats ?? e.ints?.map(Float.init) else {
                throw node.fail("folding Pow needs a float base")
            }
            let shape = try Self.broadcast(x.shape, e.shape, node)
            let (b, q) = (try expand(ONNXConstant(shape: x.shape, floats: base), shape, node),
                          try expand(ONNXConstant(shape: e.shape, floats: p), shape, node))
            return [ONNXConstant(shape: shape, floats: zip(b.floats ?? [], q.floats ?? []).map { powf($0, $1) })]
        default:
            return [try binary(x, try input(1), node)]
        }
    }

    // MARK: - Helpers

    /// An integer vector (or scalar) constant as Ints.
    func intList(_ c: ONNXConstant, _ node: ONNXNode) throws -> [Int] {
        guard let ints = c.ints, c.shape.count <= 1 else { throw node.fail("expected a 1-D integer constant, found shape \(c.shape)") }
        return ints.map { Int(clamping: $0) }
    }

    static func axis(_ a: Int, rank: Int, _ node: ONNXNode) throws -> Int {
        guard (-rank..<rank).contains(a) else { throw node.fail("axis \(a) out of range for rank \(rank)") }
        return a < 0 ? a + rank : a
    }

    static func strides(_ shape: [Int]) -> [Int] {
        var s = [Int](repeating: 1, count: shape.count)
        for i in shape.indices.dropLast().reversed() { s[i] = s[i + 1] &* shape[i + 1] }
        return s
    }

    func checkShape(_ shape: [Int], _ node: ONNXNode) throws {
        guard shape.count <= 8, shape.allSatisfy({ $0 >= 0 }), let n = FormatIO.elementCount(shape), n <= Self.foldLimit else {
            throw node.fail("the constant result of shape \(shape) is larger than nncc evaluates at import (\(Self.foldLimit) elements)")
        }
    }

    /// The elements of `c` at flat positions Σ contributions[k][i_k] for every index i of `shape`.
    func pick(_ c: ONNXConstant, _ shape: [Int], _ contributions: [[Int]], _ node: ONNXNode) throws -> ONNXConstant {
        try checkShape(shape, node)
        let n = FormatIO.elementCount(shape) ?? 0
        var at = [Int](), index = [Int](repeating: 0, count: shape.count)
        at.reserveCapacity(n)
        for _ in 0..<n {
            var s = 0
            for k in index.indices { s += contributions[k][index[k]] }
            at.append(s)
            var k = shape.count - 1
            while k >= 0 {
                index[k] += 1
                if index[k] < shape[k] { break }
                index[k] = 0
                k -= 1
            }
        }
        guard at.allSatisfy({ $0 >= 0 && $0 < c.count }) else { throw node.fail("index out of range") }
        if let f = c.floats { return ONNXConstant(shape: shape, floats: at.map { f[$0] }) }
        let i = c.ints ?? []
        return ONNXConstant(shape: shape, ints: at.map { i[$0] })
    }

    func reshape(_ c: ONNXConstant, _ shape: [Int]) -> ONNXConstant {
        var out = c
        out.shape = shape
        return out
    }

    func reshaped(_ x: ONNXConstant, to target: [Int], allowZero: Bool, _ node: ONNXNode) throws -> ONNXConstant {
        var shape = try target.enumerated().map { i, d -> Int in
            guard d == 0, !allowZero else { return d }
            guard i < x.shape.count else { throw node.fail("shape[\(i)] = 0 copies a dimension the input lacks") }
            return x.shape[i]
        }
        let known = shape.filter { $0 != -1 }
        guard shape.filter({ $0 == -1 }).count <= 1, known.allSatisfy({ $0 >= 0 }) else {
            throw node.fail("Reshape to \(target): expected sizes, 0 or one -1")
        }
        let rest = known.reduce(1) { $0 &* $1 }
        if let i = shape.firstIndex(of: -1) {
            guard rest > 0, x.count % rest == 0 else { throw node.fail("cannot reshape \(x.shape) to \(target)") }
            shape[i] = x.count / rest
        }
        guard FormatIO.elementCount(shape) == x.count else { throw node.fail("cannot reshape \(x.shape) to \(target)") }
        return reshape(x, shape)
    }

    func cast(_ x: ONNXConstant, to: Int, _ node: ONNXNode) throws -> ONNXConstant {
        typealias T = Onnx_TensorProto.DataType
        switch T(rawValue: to) {
        case .float?, .double?, .float16?, .bfloat16?:
            return x.floats != nil ? x : ONNXConstant(shape: x.shape, floats: (x.ints ?? []).map { Float($0) })
        case .bool?:
            return ONNXConstant(shape: x.shape, ints: x.floats.map { $0.map { $0 != 0 ? 1 : 0 } } ?? (x.ints ?? []).map { $0 != 0 ? 1 : 0 })
        case .int8?, .int16?, .int32?, .int64?, .uint8?, .uint16?, .uint32?, .uint64?:
            guard let f = x.floats else { return x }
            return ONNXConstant(shape: x.shape, ints: try f.map {
                guard $0.isFinite, abs($0) < 9e18 else { throw node.fail("casting \($0) to an integer") }
                return Int64($0)
            })
        default: throw node.fail("Cast to type \(to) is not supported")
        }
    }

    func concat(_ parts: [ONNXConstant], axis: Int, _ node: ONNXNode) throws -> ONNXConstant {
        let first = parts[0]
        var shape = first.shape
        guard parts.allSatisfy({ $0.shape.count == shape.count && ($0.floats == nil) == (first.floats == nil)
            && $0.shape.enumerated().allSatisfy { $0.offset == axis || $0.element == shape[$0.offset] } }) else {
            throw node.fail("Concat of constants with shapes \(parts.map(\.shape)) or mixed types")
        }
        shape[axis] = parts.map { $0.shape[axis] }.reduce(0, +)
        try checkShape(shape, node)
        let outer = shape.prefix(axis).reduce(1, *)
        var floats: [Float] = [], ints: [Int64] = []
        for o in 0..<outer {
            for p in parts {
                let block = p.shape.suffix(from: axis).reduce(1, *)
                if let f = p.floats { floats += f[(o * block)..<((o + 1) * block)] }
                if let i = p.ints { ints += i[(o * block)..<((o + 1) * block)] }
            }
        }
        return first.floats != nil ? ONNXConstant(shape: shape, floats: floats) : ONNXConstant(shape: shape, ints: ints)
    }

    /// Split: sizes from the `split` input (opset 13) or attribute, else `num_outputs` (18) or
    /// one equal part per output (the last one smaller).
    func split(_ x: ONNXConstant, _ node: ONNXNode, _ sizes: [Int]?) throws -> [ONNXConstant] {
        let axis = try Self.axis(node.int("axis", default: 0), rank: x.shape.count, node)
        let n = x.shape[axis]
        var parts = sizes ?? []
        if sizes == nil {
            let k = try node.int("num_outputs", default: node.proto.output.count)
            guard k >= 1, k <= Self.foldLimit else { throw node.fail("num_outputs must be in 1...\(Self.foldLimit)") }
            let each = (n + k - 1) / k
            parts = (0..<k).map { max(0, min(each, n - $0 * each)) }
        }
        guard parts.allSatisfy({ $0 >= 0 }), parts.reduce(0, +) == n, parts.count >= node.proto.output.count else {
            throw node.fail("split \(parts) does not divide axis \(axis) of size \(n)")
        }
        let strides = Self.strides(x.shape)
        var start = 0
        return try parts.map { size in
            var shape = x.shape
            shape[axis] = size
            let c = shape.indices.map { a in (0..<shape[a]).map { (a == axis ? $0 + start : $0) * strides[a] } }
            start += size
            return try pick(x, shape, c, node)
        }
    }

    /// Slice with starts/ends/axes/steps as inputs (opset 10) or attributes (before 10).
    func slice(_ x: ONNXConstant, _ node: ONNXNode, _ inputs: [ONNXConstant?]) throws -> ONNXConstant {
        func get(_ i: Int, _ attr: String) throws -> [Int]? {
            if opset >= 10 { return i < inputs.count ? try inputs[i].map { try intList($0, node) } : nil }
            return try node.ints(attr)
        }
        guard let starts = try get(1, "starts"), let ends = try get(2, "ends"), starts.count == ends.count else {
            throw node.fail("expected starts and ends of the same length")
        }
        let axes = try (get(3, "axes") ?? Array(starts.indices)).map { try Self.axis($0, rank: x.shape.count, node) }
        let steps = try (get(4, "") ?? [Int](repeating: 1, count: starts.count)).map { max(-(1 << 40), min(1 << 40, $0)) }
        guard axes.count == starts.count, steps.count == starts.count, Set(axes).count == axes.count, !steps.contains(0) else {
            throw node.fail("starts, ends, axes and steps must have one entry per distinct axis and no zero step")
        }
        var shape = x.shape, first = [Int](repeating: 0, count: x.shape.count), step = [Int](repeating: 1, count: x.shape.count)
        for (k, a) in axes.enumerated() {
            (first[a], step[a], shape[a]) = Self.sliceRange(starts[k], ends[k], steps[k], size: x.shape[a])
        }
        let strides = Self.strides(x.shape)
        return try pick(x, shape, shape.indices.map { a in (0..<shape[a]).map { (first[a] + $0 * step[a]) * strides[a] } }, node)
    }

    /// ONNX Slice on one axis of `size`: the first index, the step and the count, after clamping.
    static func sliceRange(_ start: Int, _ end: Int, _ step: Int, size n: Int) -> (first: Int, step: Int, count: Int) {
        func clamp(_ v: Int, _ lo: Int, _ hi: Int) -> Int { max(lo, min(hi, v < 0 ? v &+ n : v)) }
        let b = step > 0 ? clamp(start, 0, n) : clamp(start, -1, n - 1)
        let e = step > 0 ? clamp(end, 0, n) : clamp(end, -1, n - 1)
        return (b, step, step > 0 ? (e > b ? (e - b - 1) / step + 1 : 0) : (b > e ? (b - e - 1) / -step + 1 : 0))
    }

    func gather(_ x: ONNXConstant, _ indices: ONNXConstant, axis: Int, _ node: ONNXNode) throws -> ONNXConstant {
        let n = x.shape[axis]
        guard let idx = indices.ints else { throw node.fail("indices must be integers") }
        let picked = try idx.map { i -> Int in
            guard let j = Int(exactly: i), (-n..<n).contains(j) else { throw node.fail("index \(i) out of range for \(n) elements") }
            return j < 0 ? j + n : j
        }
        // Gather along `axis` with the indices flattened, then the indices' shape in its place.
        var flat = x.shape
        flat[axis] = picked.count
        let strides = Self.strides(x.shape)
        let c = flat.indices.map { a in (0..<flat[a]).map { (a == axis ? picked[$0] : $0) * strides[a] } }
        let out = try pick(x, flat, c, node)
        return reshape(out, Array(x.shape[..<axis]) + indices.shape + Array(x.shape[(axis + 1)...]))
    }

    /// GatherND with batch_dims 0: each row of the indices' last axis picks one element or slice.
    /// swin_v2's dynamo export reads its relative position table (a constant) this way.
    func gatherND(_ x: ONNXConstant, _ indices: ONNXConstant, _ node: ONNXNode) throws -> ONNXConstant {
        try node.expect("batch_dims", is: 0)
        guard let idx = indices.ints, let k = indices.shape.last, k >= 1, k <= x.shape.count else {
            throw node.fail("indices must be integers whose last axis is 1 to \(x.shape.count) long")
        }
        let strides = Self.strides(x.shape)
        let tuples = idx.count / k
        let offsets = try (0..<tuples).map { t -> Int in
            try (0..<k).reduce(0) { sum, a in
                let n = x.shape[a]
                guard let j = Int(exactly: idx[t * k + a]), (-n..<n).contains(j) else {
                    throw node.fail("index \(idx[t * k + a]) out of range for \(n) elements")
                }
                return sum + (j < 0 ? j + n : j) * strides[a]
            }
        }
        let slice = Array(x.shape[k...])
        let size = slice.reduce(1, *)
        let out = try pick(x, [tuples, size], [offsets, Array(0..<size)], node)
        return reshape(out, Array(indices.shape.dropLast()) + slice)
    }

    func range(_ start: ONNXConstant, _ limit: ONNXConstant, _ delta: ONNXConstant, _ node: ONNXNode) throws -> ONNXConstant {
        guard start.count == 1, limit.count == 1, delta.count == 1 else { throw node.fail("start, limit and delta must be scalars") }
        if let s = start.ints?[0], let l = limit.ints?[0], let d = delta.ints?[0] {
            guard d != 0 else { throw node.fail("delta must not be 0") }
            let count = max(0, ((Double(l) - Double(s)) / Double(d)).rounded(.up))
            guard count <= Double(Self.foldLimit) else { throw node.fail("Range of \(count) elements is too large") }
            return ONNXConstant(shape: [Int(count)], ints: (0..<Int(count)).map { s &+ Int64($0) &* d })
        }
        guard let s = start.floats?[0], let l = limit.floats?[0], let d = delta.floats?[0], d != 0, s.isFinite, l.isFinite else {
            throw node.fail("start, limit and delta must be finite numbers of one type, delta not 0")
        }
        let count = max(0, ((l - s) / d).rounded(.up))
        guard count <= Float(Self.foldLimit) else { throw node.fail("Range of \(count) elements is too large") }
        return ONNXConstant(shape: [Int(count)], floats: (0..<Int(count)).map { s + Float($0) * d })
    }

    /// NumPy broadcasting of two shapes.
    static func broadcast(_ a: [Int], _ b: [Int], _ node: ONNXNode) throws -> [Int] {
        let r = max(a.count, b.count)
        let pa = [Int](repeating: 1, count: r - a.count) + a, pb = [Int](repeating: 1, count: r - b.count) + b
        return try zip(pa, pb).map { x, y in
            guard x == y || x == 1 || y == 1 else { throw node.fail("shapes \(a) and \(b) do not broadcast") }
            return x == 1 ? y : x
        }
    }

    /// Contributions reading a tensor of shape `from` broadcast to `shape`.
    static func broadcastContributions(_ from: [Int], to shape: [Int]) -> [[Int]] {
        let padded = [Int](repeating: 1, count: shape.count - from.count) + from
        let strides = Self.strides(padded)
        return shape.indices.map { a in (0..<shape[a]).map { padded[a] == 1 ? 0 : $0 * strides[a] } }
    }

    func expand(_ x: ONNXConstant, _ shape: [Int], _ node: ONNXNode) throws -> ONNXConstant {
        x.shape == shape ? x : try pick(x, shape, Self.broadcastContributions(x.shape, to: shape), node)
    }

    func binary(_ a: ONNXConstant, _ b: ONNXConstant, _ node: ONNXNode) throws -> ONNXConstant {
        let shape = try Self.broadcast(a.shape, b.shape, node)
        let (x, y) = (try expand(a, shape, node), try expand(b, shape, node))
        let compare = ["Equal", "Less", "Greater"].contains(node.op)
        if let f = x.floats, let g = y.floats {
            if compare {
                let op: (Float, Float) -> Bool
                switch node.op {
                case "Equal": op = { $0 == $1 }
                case "Less": op = { $0 < $1 }
                default: op = { $0 > $1 }
                }
                return ONNXConstant(shape: shape, ints: zip(f, g).map { (p: Float, q: Float) -> Int64 in op(p, q) ? 1 : 0 })
            }
            let op: (Float, Float) -> Float
            switch node.op {
            case "Add": op = { $0 + $1 }
            case "Sub": op = { $0 - $1 }
            case "Mul": op = { $0 * $1 }
            case "Div": op = { $0 / $1 }
            // Mod: fmod = 1 keeps the dividend's sign (C's fmod); fmod = 0 is only for integers.
            case "Mod": op = { fmodf($0, $1) }
            case "Min": op = { $0.isNaN || $1.isNaN ? .nan : Swift.min($0, $1) }
            default: op = { $0.isNaN || $1.isNaN ? .nan : Swift.max($0, $1) }
            }
            return ONNXConstant(shape: shape, floats: zip(f, g).map(op))
        }
        guard let i = x.ints, let j = y.ints else { throw node.fail("inputs of different types") }
        if compare {
            let op: (Int64, Int64) -> Bool
            switch node.op {
            case "Equal": op = { $0 == $1 }
            case "Less": op = { $0 < $1 }
            default: op = { $0 > $1 }
            }
            return ONNXConstant(shape: shape, ints: zip(i, j).map { (p: Int64, q: Int64) -> Int64 in op(p, q) ? 1 : 0 })
        }
        return ONNXConstant(shape: shape, ints: try zip(i, j).map { p, q in
            switch node.op {
            case "Add": return p &+ q
            case "Sub": return p &- q
            case "Mul": return p &* q
            case "Div":
                guard q != 0, !(p == .min && q == -1) else { throw node.fail("integer division by zero") }
                return p / q
            case "Mod":
                // fmod = 0: the divisor's sign (Python's %); fmod = 1: the dividend's (C's %).
                guard q != 0, !(p == .min && q == -1) else { throw node.fail("integer modulo by zero") }
                let r = p % q
                return try node.int("fmod", default: 0) == 0 && r != 0 && (r < 0) != (q < 0) ? r + q : r
            case "Min": return Swift.min(p, q)
            default: return Swift.max(p, q)
            }
        })
    }

    /// NumPy's matmul of two float constants of rank 2 or more, the leading axes broadcast.
    func matMul(_ a: ONNXConstant, _ b: ONNXConstant, _ node: ONNXNode) throws -> ONNXConstant {
        guard let fa = a.floats, let fb = b.floats, a.shape.count >= 2, b.shape.count >= 2 else {
            throw node.fail("folding MatMul needs two float constants of rank 2 or more")
        }
        let (m, k, n) = (a.shape[a.shape.count - 2], a.shape[a.shape.count - 1], b.shape[b.shape.count - 1])
        guard b.shape[b.shape.count - 2] == k else { throw node.fail("MatMul of shapes \(a.shape) and \(b.shape): K differs") }
        let lead = try Self.broadcast(Array(a.shape.dropLast(2)), Array(b.shape.dropLast(2)), node)
        let shape = lead + [m, n]
        try checkShape(shape, node)
        guard let work = FormatIO.elementCount(shape + [k]), work <= Self.foldLimit else {
            throw node.fail("folding MatMul of shapes \(a.shape) and \(b.shape) is too much work")
        }
        let (ea, eb) = (try expand(ONNXConstant(shape: a.shape, floats: fa), lead + [m, k], node),
                        try expand(ONNXConstant(shape: b.shape, floats: fb), lead + [k, n], node))
        let (xa, xb) = (ea.floats ?? [], eb.floats ?? [])
        var out = [Float](repeating: 0, count: lead.reduce(1, *) * m * n)
        for l in 0..<lead.reduce(1, *) {
            for r in 0..<m {
                for j in 0..<k {
                    let v = xa[(l * m + r) * k + j]
                    for c in 0..<n { out[(l * m + r) * n + c] += v * xb[(l * k + j) * n + c] }
                }
            }
        }
        return ONNXConstant(shape: shape, floats: out)
    }
}

extension ONNXGraphBuilder {
    /// ScatterND without reduction: a copy of `x` with the slices `x[indices[i]]` replaced by
    /// `updates[i]` (swin_v2's `qkv_bias[C:2C].zero_()` in the older exporter's files).
    func scatterND(_ x: ONNXConstant, _ indices: ONNXConstant, _ updates: ONNXConstant, _ node: ONNXNode) throws -> ONNXConstant {
        guard try node.string("reduction", default: "none") == "none" else { throw node.fail("attribute reduction: only \"none\" is supported") }
        guard let idx = indices.ints, let k = indices.shape.last, k >= 1, k <= x.shape.count else {
            throw node.fail("indices of shape \(indices.shape) do not index data of shape \(x.shape)")
        }
        let slice = x.shape[k...].reduce(1, *), rows = idx.count / k
        guard updates.shape == Array(indices.shape.dropLast()) + Array(x.shape[k...]), updates.count == rows * slice else {
            throw node.fail("updates of shape \(updates.shape) do not fit indices \(indices.shape) and data \(x.shape)")
        }
        let strides = Self.strides(x.shape)
        var out = x
        for r in 0..<rows {
            var at = 0
            for j in 0..<k {
                let n = x.shape[j], v = Int(clamping: idx[r * k + j])
                guard (-n..<n).contains(v) else { throw node.fail("index \(v) is out of range for axis \(j) of size \(n)") }
                at += (v < 0 ? v + n : v) * strides[j]
            }
            if let u = updates.floats, out.floats != nil {
                out.floats!.replaceSubrange(at..<at + slice, with: u[(r * slice)..<(r * slice + slice)])
            } else if let u = updates.ints, out.ints != nil {
                out.ints!.replaceSubrange(at..<at + slice, with: u[(r * slice)..<(r * slice + slice)])
            } else {
                throw node.fail("data and updates must have the same type")
            }
        }
        return out
    }
}
