import Foundation

/// The one rule set for a weights file: does this safetensors file hold exactly a model's parameters?
/// It is a port of the C loader `nn_st_load` (templates/safetensors.c, in every library as
/// NAME_load_weights), so `nncc run/eval/train --weights`, `Session` and the C API accept and refuse
/// the same files, with the same error class (NNCCError.code = the C return code). The rules:
///
/// - 8-byte little-endian header length N, below 100,000,000 and within the file; else format.
/// - The header is one JSON object (then only spaces, tabs, CR, LF); `__metadata__` holds any value.
///   Every other key is a tensor `{"dtype": string, "shape": [u64...], "data_offsets": [begin, end]}`,
///   each of the three keys exactly once (others skipped), 0 <= begin <= end <= data bytes; else format.
///   Integers have no sign, fraction, exponent or leading zero; dims are at most 2^63-1, at most 1024
///   of them, and their product fits 64 bits. Strings: JSON escapes, no raw control characters, no
///   lone surrogates; other bytes pass as they are, and names compare byte for byte after unescaping.
/// - A tensor named like a parameter: a second one is a format error; dtype other than "F32" or a shape
///   that differs is a shape error; with the right shape, end - begin must be 4 × count (format).
/// - Any other tensor is "extra", except `num_batches_tracked` and `*.num_batches_tracked` (PyTorch's
///   BatchNorm counters, any dtype), which are ignored.
/// - Then every parameter must be present (missing).
/// Format errors stop at once; of the others, the first in file order wins, and missing comes last.
/// Offsets may overlap or leave holes, as in C: only parameters are decoded, so a file costs at most
/// the model's size.
public enum WeightsFile {
    /// NAME_load_weights' codes (NAME_ERR_* in NAME.h), set as `NNCCError.code`.
    public enum Failure: Int32, CaseIterable, Sendable {
        case open = -3, format = -4, missing = -5, shape = -6, extra = -7
    }

    /// The header length must be below this (the C loader's NN_ST_MAX_HEADER).
    static let maxHeaderBytes: UInt64 = 100_000_000
    /// Nesting limit when skipping unknown JSON values (NN_ST_MAX_DEPTH).
    static let maxDepth = 64

    /// PyTorch BatchNorm counters are not parameters: the exact name, or a name ending in ".num_batches_tracked".
    public static func isIgnorable(_ name: some Collection<UInt8>) -> Bool {
        let suffix = Array("num_batches_tracked".utf8)
        guard name.count >= suffix.count, name.suffix(suffix.count).elementsEqual(suffix) else { return false }
        return name.count == suffix.count || Array(name)[name.count - suffix.count - 1] == UInt8(ascii: ".")
    }

    public static func isIgnorable(_ name: String) -> Bool { isIgnorable(Array(name.utf8)) }

    /// Reads `path` and returns one tensor per parameter, in the order of `parameters` (name and PyTorch
    /// shape, as NAME_param_name/NAME_param_shape list them); `model` names the model in messages.
    public static func read(path: String, parameters: [(name: String, shape: [Int])], model: String) throws -> [Tensor] {
        let data: Data
        do { data = try FormatIO.readFile(path) } catch var e as NNCCError {
            e.code = Failure.open.rawValue
            throw e
        }
        return try parse(data, file: path, parameters: parameters, model: model)
    }

    public static func parse(_ data: Data, file: String, parameters: [(name: String, shape: [Int])], model: String) throws
        -> [Tensor] {
        try data.withUnsafeBytes { raw in
            var reader = Reader(bytes: FormatIO.Bytes(raw: raw), file: file, parameters: parameters, model: model)
            return try reader.read()
        }
    }
}

/// One file's check; the JSON scanner mirrors nn_js_* in templates/safetensors.c step for step.
private struct Reader {
    let bytes: FormatIO.Bytes
    let file: String
    let parameters: [(name: String, shape: [Int])]
    let model: String
    var p = 8, end = 8

    init(bytes: FormatIO.Bytes, file: String, parameters: [(name: String, shape: [Int])], model: String) {
        (self.bytes, self.file, self.parameters, self.model) = (bytes, file, parameters, model)
    }

    func fail(_ kind: WeightsFile.Failure, _ name: String? = nil, _ message: String) -> NNCCError {
        var e = NNCCError(file: file, path: name, message)
        e.code = kind.rawValue
        return e
    }

    /// A JSON syntax error at the cursor.
    func syntax(_ expected: String) -> NNCCError {
        fail(.format, "header", "expected \(expected) at byte \(p - 8) of the header")
    }

    mutating func read() throws -> [Tensor] {
        guard let hlen = bytes.u64(0) else {
            throw fail(.format, nil, "file is \(bytes.count) bytes, too short for the 8-byte header length")
        }
        guard hlen < WeightsFile.maxHeaderBytes else {
            throw fail(.format, nil, "header length \(hlen) is not below the limit of \(WeightsFile.maxHeaderBytes) bytes")
        }
        guard hlen <= UInt64(bytes.count - 8) else {
            throw fail(.format, nil, "header length \(hlen) runs past the end of the file (\(bytes.count - 8) bytes follow the length field)")
        }
        end = 8 + Int(hlen)
        let dataStart = end, dataLen = UInt64(bytes.count - end)
        var offsets = [UInt64?](repeating: nil, count: parameters.count)
        var firstError: NNCCError?
        let names = parameters.map { Array($0.name.utf8) }

        guard eat("{") else { throw syntax("a JSON object") }
        if !eat("}") {
            repeat {
                let key = try string("a tensor name")
                guard eat(":") else { throw syntax("':' after a tensor name") }
                let name = String(decoding: key, as: UTF8.self)
                if key.elementsEqual("__metadata__".utf8) {
                    try skip(depth: 1)
                    continue
                }
                let e = try entry(name)
                guard e.begin <= e.end else {
                    throw fail(.format, name, "expected data_offsets [begin, end] with begin <= end, found [\(e.begin), \(e.end)]")
                }
                guard e.end <= dataLen else {
                    throw fail(.format, name, "data_offsets [\(e.begin), \(e.end)] lie outside the data section of \(dataLen) bytes")
                }
                guard let i = names.firstIndex(where: { $0 == key }) else {
                    if !WeightsFile.isIgnorable(key) && firstError == nil {
                        firstError = fail(.extra, name, "tensor is not a parameter of model \"\(model)\"; "
                            + "expected only: \(parameters.map(\.name).joined(separator: ", "))")
                    }
                    continue
                }
                guard offsets[i] == nil else { throw fail(.format, name, "tensor given twice") }
                offsets[i] = e.begin
                let want = parameters[i].shape
                guard e.dtype.elementsEqual("F32".utf8) else {
                    if firstError == nil {
                        firstError = fail(.shape, name, "expected dtype F32, found \(String(decoding: e.dtype, as: UTF8.self))")
                    }
                    continue
                }
                guard e.shape.count == want.count, zip(e.shape, want).allSatisfy({ $0 == UInt64($1) }) else {
                    if firstError == nil {
                        firstError = fail(.shape, name, "expected shape \(FormatIO.show(want)), found [\(e.shape.map(String.init).joined(separator: ", "))]")
                    }
                    continue
                }
                guard e.end - e.begin == 4 * e.count else {
                    throw fail(.format, name, "shape \(FormatIO.show(want)) needs \(4 * e.count) bytes of F32 data, "
                        + "but data_offsets [\(e.begin), \(e.end)] span \(e.end - e.begin) bytes")
                }
            } while eat(",")
            guard eat("}") else { throw syntax("',' or '}' after a tensor") }
        }
        whitespace()  // writers pad the header with spaces
        guard p == end else { throw syntax("only spaces after the header object") }
        if let firstError { throw firstError }
        if let i = offsets.firstIndex(where: { $0 == nil }) {
            throw fail(.missing, parameters[i].name, "missing tensor, expected shape \(FormatIO.show(parameters[i].shape))")
        }
        return try parameters.indices.map { i in
            let count = parameters[i].shape.reduce(1, *)
            // In bounds: begin + 4 × count = end <= the data section.
            guard let values = bytes.floats32(dataStart + Int(offsets[i]!), count) else {
                throw fail(.format, parameters[i].name, "data runs past the end of the file")
            }
            return Tensor(shape: parameters[i].shape, data: values)
        }
    }

    // MARK: - JSON scanner over the header bytes 8..<end

    func byte(_ at: Int) -> UInt8 { bytes.raw[at] }

    mutating func whitespace() {
        while p < end, [0x20, 0x09, 0x0A, 0x0D].contains(byte(p)) { p += 1 }
    }

    /// Consumes `c` after optional whitespace; true if it was there.
    mutating func eat(_ c: Character) -> Bool {
        whitespace()
        guard p < end, byte(p) == c.asciiValue! else { return false }
        p += 1
        return true
    }

    mutating func hex4() -> UInt32? {
        guard end - p >= 4 else { return nil }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = byte(p)
            let d: UInt8
            switch c {
            case 0x30...0x39: d = c - 0x30
            case 0x61...0x66: d = c - 0x61 + 10
            case 0x41...0x46: d = c - 0x41 + 10
            default: return nil
            }
            v = v << 4 | UInt32(d)
            p += 1
        }
        return v
    }

    /// A string with its escapes decoded; may hold any bytes but raw control characters.
    mutating func string(_ what: String) throws -> [UInt8] {
        guard eat("\"") else { throw syntax(what) }
        var out: [UInt8] = []
        while p < end {
            let c = byte(p)
            p += 1
            if c == UInt8(ascii: "\"") { return out }
            guard c >= 0x20 else { p -= 1; throw syntax("no raw control character in a string") }
            guard c == UInt8(ascii: "\\") else { out.append(c); continue }
            guard p < end else { break }
            let e = byte(p)
            p += 1
            if e != UInt8(ascii: "u") {
                let simple: [UInt8: UInt8] = [0x22: 0x22, 0x5C: 0x5C, 0x2F: 0x2F, 0x62: 0x08, 0x66: 0x0C, 0x6E: 0x0A, 0x72: 0x0D, 0x74: 0x09]
                guard let d = simple[e] else { throw syntax("a valid escape") }
                out.append(d)
                continue
            }
            guard var u = hex4(), !(0xDC00...0xDFFF).contains(u) else { throw syntax("\\u and 4 hex digits, not a lone low surrogate") }
            if (0xD800...0xDBFF).contains(u) {
                guard end - p >= 2, byte(p) == UInt8(ascii: "\\"), byte(p + 1) == UInt8(ascii: "u") else {
                    throw syntax("a low surrogate after a high one")
                }
                p += 2
                guard let lo = hex4(), (0xDC00...0xDFFF).contains(lo) else { throw syntax("a low surrogate after a high one") }
                u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00)
            }
            out += Array(String(Unicode.Scalar(u)!).utf8)
        }
        throw syntax("the end of a string")
    }

    mutating func digits() -> Bool {
        let p0 = p
        while p < end, (0x30...0x39).contains(byte(p)) { p += 1 }
        return p > p0
    }

    /// A non-negative integer: no sign, fraction, exponent, leading zero or overflow.
    mutating func u64(_ what: String) throws -> UInt64 {
        whitespace()
        func isDigit(_ at: Int) -> Bool { at < end && (0x30...0x39).contains(byte(at)) }
        guard isDigit(p), !(byte(p) == 0x30 && isDigit(p + 1)) else { throw syntax(what) }
        var v: UInt64 = 0
        while isDigit(p) {
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (s, o2) = m.addingReportingOverflow(UInt64(byte(p) - 0x30))
            guard !o1, !o2 else { throw syntax("\(what) below 2^64") }
            v = s
            p += 1
        }
        guard !(p < end && [UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E")].contains(byte(p))) else { throw syntax(what) }
        return v
    }

    /// Skips any JSON value, nested at most 64 deep.
    mutating func skip(depth: Int) throws {
        whitespace()
        guard depth <= WeightsFile.maxDepth else { throw syntax("at most \(WeightsFile.maxDepth) levels of nesting") }
        guard p < end else { throw syntax("a JSON value") }
        let c = byte(p)
        if c == UInt8(ascii: "\"") { _ = try string("a string"); return }
        if c == UInt8(ascii: "{") || c == UInt8(ascii: "[") {
            p += 1
            let object = c == UInt8(ascii: "{"), close: Character = object ? "}" : "]"
            if eat(close) { return }
            repeat {
                if object {
                    _ = try string("a key")
                    guard eat(":") else { throw syntax("':' after a key") }
                }
                try skip(depth: depth + 1)
            } while eat(",")
            guard eat(close) else { throw syntax("',' or '\(close)'") }
            return
        }
        for word in ["true", "false", "null"] where end - p >= word.utf8.count {
            if (0..<word.utf8.count).allSatisfy({ byte(p + $0) == Array(word.utf8)[$0] }) { p += word.utf8.count; return }
        }
        if c == UInt8(ascii: "-") { p += 1 }  // number: -?digits(.digits)?([eE][+-]?digits)?
        guard digits() else { throw syntax("a JSON value") }
        if p < end, byte(p) == UInt8(ascii: ".") { p += 1; guard digits() else { throw syntax("digits after '.'") } }
        if p < end, byte(p) == UInt8(ascii: "e") || byte(p) == UInt8(ascii: "E") {
            p += 1
            if p < end, byte(p) == UInt8(ascii: "+") || byte(p) == UInt8(ascii: "-") { p += 1 }
            guard digits() else { throw syntax("digits in the exponent") }
        }
    }

    struct Entry { var dtype: [UInt8] = [], shape: [UInt64] = [], count: UInt64 = 1, begin: UInt64 = 0, end: UInt64 = 0 }

    /// {"dtype": ..., "shape": [...], "data_offsets": [b, e]} in any order, unknown keys skipped, each of the three once.
    mutating func entry(_ name: String) throws -> Entry {
        var e = Entry(), seen = Set<String>()
        func once(_ key: String) throws {
            guard seen.insert(key).inserted else { throw fail(.format, name, "\"\(key)\" given twice") }
        }
        guard eat("{") else { throw fail(.format, name, "expected an object with dtype, shape and data_offsets") }
        repeat {
            let key = try string("a key")
            guard eat(":") else { throw syntax("':' after a key") }
            switch key {
            case Array("dtype".utf8):
                try once("dtype")
                e.dtype = try string("a string dtype")
            case Array("shape".utf8):
                try once("shape")
                guard eat("[") else { throw fail(.format, name, "expected \"shape\" to be an array of non-negative integers") }
                if eat("]") { continue }  // a scalar
                repeat {
                    let d = try u64("a non-negative integer dimension")
                    guard d <= UInt64(Int64.max), e.shape.count < 1024 else {
                        throw fail(.format, name, "shape has a dimension above 2^63-1 or more than 1024 dimensions")
                    }
                    let (c, overflow) = e.count.multipliedReportingOverflow(by: d)
                    guard !overflow else { throw fail(.format, name, "shape has too many elements") }
                    e.count = c
                    e.shape.append(d)
                } while eat(",")
                guard eat("]") else { throw syntax("',' or ']' in a shape") }
            case Array("data_offsets".utf8):
                try once("data_offsets")
                guard eat("[") else { throw fail(.format, name, "expected data_offsets [begin, end]") }
                e.begin = try u64("a non-negative integer offset")
                guard eat(",") else { throw fail(.format, name, "expected data_offsets [begin, end]") }
                e.end = try u64("a non-negative integer offset")
                guard eat("]") else { throw fail(.format, name, "expected data_offsets [begin, end]") }
            default:
                try skip(depth: 1)
            }
        } while eat(",")
        guard eat("}") else { throw syntax("',' or '}' in a tensor entry") }
        guard seen.count == 3 else {
            throw fail(.format, name, "expected dtype, shape and data_offsets, found only \(seen.sorted().joined(separator: ", "))")
        }
        return e
    }
}
