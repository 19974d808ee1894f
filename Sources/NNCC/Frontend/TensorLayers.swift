/// The JSON layers of tensor ops (docs/model-format.md): `transpose`, `permute`, `matmul`, the
/// reductions `mean`, `sum`, `amax`, `amin`, and softmax's axis. A `dim` counts axes as PyTorch
/// does, the batch being dim 0 (which these layers may not name); a negative dim counts from the
/// end. `axis` (softmax) counts per example, as `concat`'s does.
enum TensorLayers {
    /// Softmax's axis per example: `dim` or `axis`, the last axis by default.
    static func axis(_ f: Fields) throws -> Int {
        if f.has("dim") && f.has("axis") { throw f.fail("axis", "give either dim (PyTorch's numbering) or axis, not both") }
        if let v = f.raw("dim") { return try dim(v) { f.fail("dim", $0) } }
        return try f.int("axis", default: -1, min: -Limits.rank, max: Limits.rank - 1)
    }

    /// A PyTorch dim as a per-example axis: 1 is axis 0, -1 stays the last axis.
    static func dim(_ v: JSON, fail: (String) -> NNCCError) throws -> Int {
        let d = try Fields.int(v, lo: -Limits.rank, hi: Limits.rank, fail: fail)
        guard d != 0 else { throw fail("dim 0 is the batch; expected a dim from 1 (or negative, from the end)") }
        return d > 0 ? d - 1 : d
    }

    static func decode(_ f: Fields, _ type: String, _ keys: ([String]) throws -> Void) throws -> Op {
        switch type {
        case "transpose":
            try keys(["dim0", "dim1"])
            return .swapAxes(try dim(try f.required("dim0")) { f.fail("dim0", $0) },
                             try dim(try f.required("dim1")) { f.fail("dim1", $0) })
        case "permute":
            try keys(["dims"])
            guard case let .array(items) = try f.required("dims"), (2...Limits.rank + 1).contains(items.count) else {
                throw f.fail("dims", "expected an array of 2 to \(Limits.rank + 1) dims, the batch's 0 first")
            }
            let r = items.count
            let dims = try items.enumerated().map { j, v -> Int in
                let d = try Fields.int(v, lo: -r, hi: r - 1) { NNCCError(file: f.file, path: "\(f.sub("dims"))[\(j)]", $0) }
                return d < 0 ? d + r : d
            }
            guard dims.first == 0, dims.sorted() == Array(0..<r) else {
                throw f.fail("dims", "expected a permutation of 0..<\(r) that keeps the batch (0) first, found \(dims)")
            }
            return .transpose(dims.dropFirst().map { $0 - 1 })
        case "slice":
            try keys(["dim", "start", "end", "step"])
            let end: Int? = f.has("end") ? try f.int("end", min: -Limits.jsonInteger, max: Limits.jsonInteger) : nil
            return .slice(axis: try dim(try f.required("dim")) { f.fail("dim", $0) },
                          start: try f.int("start", default: 0, min: -Limits.jsonInteger, max: Limits.jsonInteger), end: end,
                          step: try f.int("step", default: 1, min: 1, max: Limits.dimension))
        case "matmul":
            try keys([])
            return .matmul(constant: nil)
        default:  // mean, sum, amax, amin
            try keys(["dim", "keepdim"])
            let v = try f.required("dim")
            var axes: [Int]
            if case let .array(items) = v {
                guard !items.isEmpty, items.count <= Limits.rank else {
                    throw f.fail("dim", "expected a dim or an array of 1 to \(Limits.rank) dims")
                }
                axes = try items.enumerated().map { j, x in
                    try dim(x) { NNCCError(file: f.file, path: "\(f.sub("dim"))[\(j)]", $0) }
                }
            } else {
                axes = [try dim(v) { f.fail("dim", $0) }]
            }
            let kind: Reduction.Kind = ["mean": .mean, "sum": .sum, "amax": .max, "amin": .min][type] ?? .mean
            return .reduce(Reduction(kind, axes: axes, keepDims: try f.bool("keepdim", default: false)))
        }
    }
}
