import Foundation

/// The .npy format: magic "\x93NUMPY", version byte pair, a little-endian header
/// length (u16 in 1.0, u32 in 2.0/3.0), a Python dict literal
/// `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }`, then raw data.
public enum NumPy {
    /// numpy itself refuses headers over 10 kB unless told otherwise; 1 MB is generous.
    package static let maxHeaderBytes = 1 << 20

    public static func read(path: String) throws -> NpyArray {
        try parse(FormatIO.readFile(path), file: path)
    }

    public static func parse(_ data: Data, file: String) throws -> NpyArray {
        try parse(data, file: file, member: nil)
    }

    /// `member` names the array inside an .npz, so errors can point at it.
    package static func parse(_ data: Data, file: String, member: String?) throws -> NpyArray {
        try data.withUnsafeBytes { raw in
            try parse(FormatIO.Bytes(raw: raw), fail: { NNCCError(file: file, path: member, $0) })
        }
    }

    /// What an .npy header declares: the array and where its data starts.
    struct Header {
        var shape: [Int], count: Int, descr: String, kind: String, itemSize: Int, dataStart: Int
        /// Header plus data: the size of a well-formed file.
        var fileSize: Int
    }

    /// The size of a well-formed .npy file that begins with `prefix`, or nil when the prefix
    /// ends before the header does. Lets the .npz reader refuse a member whose zip entry and
    /// .npy header disagree before inflating it.
    package static func declaredSize(prefix: Data, fail: (String) -> NNCCError) throws -> Int? {
        try prefix.withUnsafeBytes { raw in
            let b = FormatIO.Bytes(raw: raw)
            guard b.count >= 12 else { return nil }
            let v1 = b.u8(6) == 1
            let headerEnd = (v1 ? 10 : 12) + min(Int(v1 ? UInt32(b.u16(8) ?? 0) : b.u32(8) ?? 0), maxHeaderBytes + 1)
            guard b.count >= headerEnd else { return nil }
            return try header(b, fail: fail).fileSize
        }
    }

    private static func header(_ b: FormatIO.Bytes, fail: (String) -> NNCCError) throws -> Header {
        let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]  // "\x93NUMPY"
        guard b.bytes(0, 6) == magic else { throw fail("expected an .npy file (magic \"\\x93NUMPY\"), found other bytes") }
        guard let major = b.u8(6), let minor = b.u8(7) else { throw fail("file ends inside the .npy preamble") }
        let headerStart: Int, headerLen: Int
        switch (major, minor) {
        case (1, 0):
            guard let l = b.u16(8) else { throw fail("file ends inside the .npy preamble") }
            (headerStart, headerLen) = (10, Int(l))
        case (2, 0), (3, 0):
            guard let l = b.u32(8) else { throw fail("file ends inside the .npy preamble") }
            guard l <= UInt32(maxHeaderBytes) else { throw fail("header length \(l) exceeds the limit of \(maxHeaderBytes) bytes") }
            (headerStart, headerLen) = (12, Int(l))
        default:
            throw fail("expected .npy version 1.0, 2.0 or 3.0, found \(major).\(minor)")
        }
        guard let header = b.bytes(headerStart, headerLen) else {
            throw fail("header length \(headerLen) runs past the end of the file (\(b.count) bytes)")
        }
        var p = PyLiteral(bytes: header)
        guard case let .dict(fields)? = try? p.parse() else {
            throw fail("expected a header dict like {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)}")
        }
        // NumPy's literal_eval keeps the last of a repeated key; a header that says two things is refused.
        var keys = Set<String>()
        for (k, _) in fields where !keys.insert(k).inserted {
            throw fail("header: key '\(k)' appears more than once")
        }
        func field(_ k: String) -> PyLiteral.Value? { fields.first { $0.0 == k }?.1 }
        guard case let .str(descr)? = field("descr") else { throw fail("header: expected 'descr' to be a dtype string") }
        guard case let .bool(fortran)? = field("fortran_order") else { throw fail("header: expected 'fortran_order' True or False") }
        guard case let .tuple(dims)? = field("shape") else { throw fail("header: expected 'shape' to be a tuple of integers") }
        var shape: [Int] = []
        for d in dims {
            guard case let .int(v?) = d, v >= 0 else { throw fail("header: expected 'shape' to be a tuple of non-negative integers") }
            shape.append(v)
        }
        if fortran {
            throw fail("fortran_order True is not supported: save a C-ordered array (np.ascontiguousarray)")
        }
        guard let count = FormatIO.elementCount(shape) else { throw fail("shape \(FormatIO.show(shape)) has too many elements") }

        // Byte order: '<' little, '|' not applicable (1-byte types), '=' native; '>' is big-endian.
        let order = descr.first, kind = String(descr.dropFirst())
        if order == ">" && !["u1", "i1", "b1"].contains(kind) {
            throw fail("big-endian dtype '\(descr)' is not supported: convert with arr.astype('<\(kind)')")
        }
        if kind == "O" { throw fail("object arrays ('\(descr)') are not supported: save a numeric array") }
        let itemSize: Int
        switch kind {
        case "f4", "i4": itemSize = 4
        case "f8", "i8": itemSize = 8
        case "i2": itemSize = 2
        case "u1", "i1": itemSize = 1
        default: throw fail("expected dtype float32, float64 or an integer type, found '\(descr)'")
        }
        guard [">", "<", "|", "="].contains(order) else { throw fail("expected a byte order in dtype, found '\(descr)'") }
        let dataStart = headerStart + headerLen
        guard let bytes = FormatIO.byteCount(count, itemSize), let fileSize = FormatIO.sum(dataStart, bytes) else {
            throw fail("shape \(FormatIO.show(shape)) is too large")
        }
        return Header(shape: shape, count: count, descr: descr, kind: kind, itemSize: itemSize, dataStart: dataStart,
                      fileSize: fileSize)
    }

    private static func parse(_ b: FormatIO.Bytes, fail: (String) -> NNCCError) throws -> NpyArray {
        let h = try header(b, fail: fail)
        let (shape, count, descr, kind, dataStart) = (h.shape, h.count, h.descr, h.kind, h.dataStart)
        let bytes = h.fileSize - dataStart
        let found = b.count - dataStart
        guard bytes == found else {
            throw fail("shape \(FormatIO.show(shape)) of '\(descr)' needs \(bytes) data bytes, found \(found)")
        }
        let o = dataStart
        let result: NpyArray?
        switch kind {
        case "f4": result = b.floats32(o, count).map { .float(Tensor(shape: shape, data: $0)) }
        case "f8":
            let floats = b.array(o, count, of: UInt64.self) { Float(Double(bitPattern: $0)) }
            // A finite float64 beyond float32's range would silently become ±inf.
            if let floats, let i = floats.firstIndex(where: { $0.isInfinite }),
               let j = (i..<count).first(where: { floats[$0].isInfinite && Double(bitPattern: b.u64(o + 8 * $0) ?? 0).isFinite }) {
                let v = Double(bitPattern: b.u64(o + 8 * j) ?? 0)
                throw fail("element \(FormatIO.show(multiIndex(j, shape))) = \(v) is outside float32's range (±\(Float.greatestFiniteMagnitude))")
            }
            result = floats.map { .float(Tensor(shape: shape, data: $0)) }
        case "i8": result = b.array(o, count, of: Int64.self) { $0 }.map { .int(shape: shape, data: $0) }
        case "i4": result = b.array(o, count, of: Int32.self) { Int64($0) }.map { .int(shape: shape, data: $0) }
        case "i2": result = b.array(o, count, of: Int16.self) { Int64($0) }.map { .int(shape: shape, data: $0) }
        case "i1": result = b.array(o, count, of: Int8.self) { Int64($0) }.map { .int(shape: shape, data: $0) }
        default: result = b.array(o, count, of: UInt8.self) { Int64($0) }.map { .int(shape: shape, data: $0) }
        }
        guard let r = result else { throw fail("data runs past the end of the file") }
        return r
    }

    /// The index in each dimension of flat element `i` of a C-ordered array.
    package static func multiIndex(_ i: Int, _ shape: [Int]) -> [Int] {
        var rest = i
        return shape.reversed().map { d in
            defer { rest /= d }
            return rest % d
        }.reversed()
    }

    /// Floats as '<f4', ints as '<i8'; the caller guarantees data matches the shape.
    public static func encode(_ a: NpyArray) -> Data {
        let descr: String
        switch a { case .float: descr = "<f4"; case .int: descr = "<i8" }
        let dims = a.shape.map(String.init)
        let shape = dims.count == 1 ? "(\(dims[0]),)" : "(" + dims.joined(separator: ", ") + ")"
        var header = Array("{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shape), }".utf8)
        // Version 2.0 only when the header outgrows a u16 (thousands of dims).
        let v2 = header.count + 1 + 63 + 10 > 0xFFFF
        let pre = v2 ? 12 : 10
        // Pad with spaces and end with '\n' so the data starts 64-byte aligned, like numpy.
        while (pre + header.count + 1) % 64 != 0 { header.append(0x20) }
        header.append(0x0A)
        var out = Data([0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, v2 ? 2 : 1, 0])
        if v2 { FormatIO.appendLE(&out, UInt32(header.count)) } else { FormatIO.appendLE(&out, UInt16(header.count)) }
        out.append(contentsOf: header)
        switch a {
        case let .float(t): FormatIO.appendFloats(&out, t.data)
        case let .int(_, data):
            out.reserveCapacity(out.count + data.count * 8)
            for v in data { FormatIO.appendLE(&out, v) }
        }
        return out
    }
}

/// The subset of Python literals numpy writes in .npy headers: dicts, tuples/lists,
/// strings, ints (with Python 2's 'L' suffix), True/False/None. Depth-limited.
private struct PyLiteral {
    indirect enum Value { case dict([(String, Value)]), tuple([Value]), str(String), int(Int?), bool(Bool), none }
    struct Bad: Error {}

    let bytes: [UInt8]
    var pos = 0

    init(bytes: [UInt8]) { self.bytes = bytes }

    mutating func parse() throws -> Value {
        let v = try value(depth: 0)
        skipSpace()
        guard pos == bytes.count else { throw Bad() }
        return v
    }

    private mutating func skipSpace() {
        while pos < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[pos]) { pos += 1 }
    }

    private mutating func eat(_ c: Character) -> Bool {
        skipSpace()
        guard pos < bytes.count, let a = c.asciiValue, bytes[pos] == a else { return false }
        pos += 1
        return true
    }

    private mutating func value(depth: Int) throws -> Value {
        guard depth < 16 else { throw Bad() }
        skipSpace()
        guard pos < bytes.count else { throw Bad() }
        let c = bytes[pos]
        switch c {
        case UInt8(ascii: "{"):
            pos += 1
            var pairs: [(String, Value)] = []
            while !eat("}") {
                guard case let .str(k) = try value(depth: depth + 1), eat(":") else { throw Bad() }
                pairs.append((k, try value(depth: depth + 1)))
                if !eat(",") { guard eat("}") else { throw Bad() }; break }
            }
            return .dict(pairs)
        case UInt8(ascii: "("), UInt8(ascii: "["):
            let close: Character = c == UInt8(ascii: "(") ? ")" : "]"
            pos += 1
            var items: [Value] = []
            while !eat(close) {
                items.append(try value(depth: depth + 1))
                if !eat(",") { guard eat(close) else { throw Bad() }; break }
            }
            return .tuple(items)
        case UInt8(ascii: "'"), UInt8(ascii: "\""):
            pos += 1
            let start = pos
            while pos < bytes.count, bytes[pos] != c {
                guard bytes[pos] != UInt8(ascii: "\\") else { throw Bad() }  // numpy never escapes
                pos += 1
            }
            guard pos < bytes.count, let s = String(validating: bytes[start..<pos], as: UTF8.self) else { throw Bad() }
            pos += 1
            return .str(s)
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"):
            let start = pos
            pos += 1
            while pos < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[pos]) { pos += 1 }
            let text = String(decoding: bytes[start..<pos], as: UTF8.self)
            if pos < bytes.count, bytes[pos] == UInt8(ascii: "L") { pos += 1 }
            guard text != "-" else { throw Bad() }
            return .int(Int(text))  // nil when it overflows: reported as a bad shape
        default:
            for (word, v) in [("True", Value.bool(true)), ("False", .bool(false)), ("None", .none)] {
                let w = Array(word.utf8)
                if pos + w.count <= bytes.count, Array(bytes[pos..<pos + w.count]) == w {
                    pos += w.count
                    return v
                }
            }
            throw Bad()
        }
    }
}
