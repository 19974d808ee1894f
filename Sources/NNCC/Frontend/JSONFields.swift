/// Typed access to a JSON object with errors that carry the JSON path,
/// e.g. `layers[3].kernel_size: expected a positive integer or [kh, kw]`.
struct Fields {
    let file: String
    let path: String
    let pairs: [(String, JSON)]

    init(_ value: JSON, file: String, path: String) throws {
        guard case let .object(p) = value else {
            throw NNCCError(file: file, path: path.isEmpty ? nil : path, "expected an object, found \(value.kindName)")
        }
        self.file = file
        self.path = path
        self.pairs = p
    }

    func sub(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    func fail(_ key: String, _ message: String) -> NNCCError {
        NNCCError(file: file, path: sub(key), message)
    }

    func has(_ key: String) -> Bool { pairs.contains { $0.0 == key } }
    func raw(_ key: String) -> JSON? { pairs.first { $0.0 == key }?.1 }

    /// Rejects keys the format does not define: a typo must not be a silent default.
    func onlyKeys(_ allowed: [String], what: String) throws {
        for (k, _) in pairs where !allowed.contains(k) {
            throw fail(k, "unknown key for \(what); expected one of: \(allowed.joined(separator: ", "))")
        }
    }

    func required(_ key: String) throws -> JSON {
        guard let v = raw(key) else { throw NNCCError(file: file, path: path.isEmpty ? nil : path, "missing required key \"\(key)\"") }
        return v
    }

    func int(_ key: String, default d: Int? = nil, min lo: Int = Int.min, max hi: Int = Int.max) throws -> Int {
        guard let v = raw(key) else {
            if let d { return d }
            _ = try required(key)
            return 0
        }
        return try Fields.int(v, lo: lo, hi: hi) { self.fail(key, $0) }
    }

    static func int(_ v: JSON, lo: Int, hi: Int, fail: (String) -> NNCCError) throws -> Int {
        let want = lo == 1 ? "a positive integer" : lo == 0 ? "a non-negative integer" : "an integer"
        guard case let .number(x, isInteger) = v, isInteger else { throw fail("expected \(want), found \(v.kindName)") }
        // Compared as doubles: the bounds are exact there, and x may not fit an Int.
        let lo = max(lo, -Limits.jsonInteger), hi = min(hi, Limits.jsonInteger)
        guard x >= Double(lo) else {
            throw fail(lo == 0 || lo == 1 ? "expected \(want), found \(show(x))" : "expected at least \(lo), found \(show(x))")
        }
        guard x <= Double(hi) else { throw fail("expected at most \(Limits.show(hi)), found \(show(x))") }
        return Int(x)
    }

    /// An integer as written (short exponent form past 21 digits).
    static func show(_ x: Double) -> String {
        x.magnitude < 1e21 ? String(format: "%.0f", x) : String(format: "%.3g", x)
    }

    func float(_ key: String, default d: Float? = nil, min lo: Float = -.infinity, max hi: Float = .infinity,
               openMax: Bool = false) throws -> Float {
        guard let v = raw(key) else {
            if let d { return d }
            _ = try required(key)
            return 0
        }
        guard case let .number(x, _) = v else { throw fail(key, "expected a number, found \(v.kindName)") }
        let f = Float(x)
        guard f.isFinite, f >= lo, openMax ? f < hi : f <= hi else {
            throw fail(key, "expected a number in [\(lo), \(hi)\(openMax ? ")" : "]"), found \(x)")
        }
        return f
    }

    func bool(_ key: String, default d: Bool) throws -> Bool {
        guard let v = raw(key) else { return d }
        guard case let .bool(b) = v else { throw fail(key, "expected true or false, found \(v.kindName)") }
        return b
    }

    func string(_ key: String, default d: String? = nil) throws -> String {
        guard let v = raw(key) else {
            if let d { return d }
            _ = try required(key)
            return ""
        }
        guard case let .string(s) = v else { throw fail(key, "expected a string, found \(v.kindName)") }
        return s
    }

    /// A window's sizes: `pair` for 2-D layers; for 1-D ones an int or `[a]`,
    /// as PyTorch's `_single`, along the width of one row: (1, a), or (0, a)
    /// for a padding (the one with min 0).
    func window(_ key: String, is1D: Bool, default d: Int? = nil, min lo: Int, what: String, names: String = "a, b") throws
        -> (Int, Int) {
        guard is1D else { return try pair(key, default: d.map { ($0, $0) }, min: lo, what: what, names: names) }
        let height = lo == 0 ? 0 : 1
        guard var v = raw(key) else {
            if let d { return (height, d) }
            _ = try required(key)
            return (0, 0)
        }
        if case let .array(items) = v, items.count == 1 { v = items[0] }
        if case let .number(x, true) = v, x > Double(Limits.window) {
            throw fail(key, "expected at most \(Limits.show(Limits.window)), found \(Fields.show(x))")
        }
        return (height, try Fields.int(v, lo: lo, hi: Limits.window) { _ in fail(key, "expected \(what) or [a]") })
    }

    /// An int or a triple `[d, h, w]`, as PyTorch's `_triple`: (depth, (height, width)).
    func triple(_ key: String, default d: Int? = nil, min lo: Int, what: String) throws -> (Int, (Int, Int)) {
        guard let v = raw(key) else {
            if let d { return (d, (d, d)) }
            _ = try required(key)
            return (0, (0, 0))
        }
        let want = "expected \(what) or [d, h, w]"
        guard case let .array(items) = v else {
            let (a, _) = try pair(key, min: lo, what: what, names: "d, h, w")
            return (a, (a, a))
        }
        guard items.count == 3 else { throw fail(key, want) }
        let t = try items.map { v in
            if case let .number(x, true) = v, x > Double(Limits.window) {
                throw fail(key, "expected at most \(Limits.show(Limits.window)), found \(Fields.show(x))")
            }
            return try Fields.int(v, lo: lo, hi: Limits.window) { _ in fail(key, want) }
        }
        return (t[0], (t[1], t[2]))
    }

    /// An int or a pair `[a, b]`, as PyTorch's `_pair`.
    func pair(_ key: String, default d: (Int, Int)? = nil, min lo: Int, what: String, names: String = "a, b") throws
        -> (Int, Int) {
        guard let v = raw(key) else {
            if let d { return d }
            _ = try required(key)
            return (0, 0)
        }
        let want = "expected \(what) or [\(names)]"
        func item(_ v: JSON) throws -> Int {
            if case let .number(x, true) = v, x > Double(Limits.window) {
                throw fail(key, "expected at most \(Limits.show(Limits.window)), found \(Fields.show(x))")
            }
            return try Fields.int(v, lo: lo, hi: Limits.window) { _ in fail(key, want) }
        }
        if case .number = v {
            let i = try item(v)
            return (i, i)
        }
        guard case let .array(items) = v, items.count == 2 else { throw fail(key, want) }
        let a = try item(items[0]), b = try item(items[1])
        return (a, b)
    }
}
