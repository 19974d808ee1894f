/// The JSON pad layers (docs/model-format.md): `pad` as PyTorch's F.pad (`pad` holds pairs from
/// the last axis backward, `mode`, `value`), and PyTorch's padding modules by their names.
extension LayerDecoder {
    static let padModules: [String: PadSpec.Mode] = [
        "zeropad1d": .constant, "zeropad2d": .constant, "constantpad1d": .constant, "constantpad2d": .constant,
        "reflectionpad1d": .reflect, "reflectionpad2d": .reflect, "replicationpad1d": .edge, "replicationpad2d": .edge,
        "circularpad1d": .wrap, "circularpad2d": .wrap,
    ]

    static func pad(_ f: Fields, _ type: String, _ keys: ([String]) throws -> Void) throws -> Op {
        // Integers: (before, after) pairs, last axis first, as F.pad takes them.
        func list(_ key: String, _ v: JSON, counts: [Int]) throws -> [Int] {
            let want = "expected " + (counts == [1, 4] ? "an integer or [left, right, top, bottom]"
                : counts == [1, 2] ? "an integer or [left, right]" : "an array of 2, 4, ... integers, pairs from the last dim backward")
            let items: [JSON]
            if case let .array(a) = v { items = a } else if counts.contains(1) { items = [v] } else { throw f.fail(key, want) }
            guard counts.contains(items.count) || (counts.isEmpty && !items.isEmpty && items.count % 2 == 0 && items.count <= 2 * Limits.rank) else {
                throw f.fail(key, want)
            }
            return try items.enumerated().map { j, x in
                try Fields.int(x, lo: -Limits.dimension, hi: Limits.dimension) { NNCCError(file: f.file, path: "\(f.sub(key))[\(j)]", $0) }
            }
        }
        let mode: PadSpec.Mode, raw: [Int], value: Float
        if let m = padModules[type] {
            let constant = type.hasPrefix("constant")
            try keys(constant ? ["padding", "value"] : ["padding"])
            mode = m
            let is1D = type.hasSuffix("1d")
            let given = try list("padding", try f.required("padding"), counts: is1D ? [1, 2] : [1, 4])
            raw = given.count == 1 ? Array(repeating: given[0], count: is1D ? 2 : 4) : given
            value = constant ? try f.float("value") : 0
        } else {
            try keys(["pad", "mode", "value"])
            raw = try list("pad", try f.required("pad"), counts: [])
            let name = try f.string("mode", default: "constant")
            switch name {
            case "constant": mode = .constant
            case "reflect": mode = .reflect
            case "replicate": mode = .edge
            case "circular": mode = .wrap
            default: throw f.fail("mode", "expected \"constant\", \"reflect\", \"replicate\" or \"circular\", found \"\(displayText(name))\"")
            }
            if mode != .constant && f.has("value") { throw f.fail("value", "only mode \"constant\" takes a value") }
            value = try f.float("value", default: 0)
        }
        // Pair j pads the j-th axis from the end; the spec lists axes first to last.
        let pairs = stride(from: 0, to: raw.count, by: 2).map { (raw[$0], raw[$0 + 1]) }.reversed()
        return .pad(PadSpec(mode: mode, value: value, begin: pairs.map(\.0), end: pairs.map(\.1)))
    }
}
