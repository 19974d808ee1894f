import Foundation

/// The safetensors format: an 8-byte little-endian u64 header length N, N bytes
/// of JSON header `{"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]},
/// "__metadata__": {...}}`, then raw little-endian data; offsets are relative to
/// the end of the header.
public enum SafeTensors {
    /// The reference implementation caps the header at 100 MB; so do we, before allocating anything.
    static let maxHeaderBytes = 100_000_000

    /// Reads every tensor, in header order. Only F32 is accepted, except that PyTorch's BatchNorm
    /// counters (`WeightsFile.isIgnorable`, any other dtype) are skipped. A general reader: whether a
    /// file holds a model's weights is `WeightsFile`'s decision, the same as NAME_load_weights'.
    public static func read(path: String) throws -> [(name: String, tensor: Tensor)] {
        try parse(FormatIO.readFile(path), file: path)
    }

    public static func parse(_ data: Data, file: String) throws -> [(name: String, tensor: Tensor)] {
        try data.withUnsafeBytes { try parse(FormatIO.Bytes(raw: $0), file: file).tensors }
    }

    /// The tensors and the header's `__metadata__` (string values only, as the format defines it).
    public static func readWithMetadata(path: String) throws -> (tensors: [(name: String, tensor: Tensor)], metadata: [String: String]) {
        try FormatIO.readFile(path).withUnsafeBytes { try parse(FormatIO.Bytes(raw: $0), file: path) }
    }

    private static func parse(_ b: FormatIO.Bytes, file: String) throws
        -> (tensors: [(name: String, tensor: Tensor)], metadata: [String: String]) {
        func fail(_ path: String?, _ msg: String) -> NNCCError { NNCCError(file: file, path: path, msg) }
        guard let n64 = b.u64(0) else {
            throw fail(nil, "file is \(b.count) bytes, too short for the 8-byte header length")
        }
        guard n64 <= UInt64(maxHeaderBytes) else {
            throw fail(nil, "header length \(n64) exceeds the limit of \(maxHeaderBytes) bytes")
        }
        let n = Int(n64)
        guard b.has(8, n), let headerBytes = b.data(8, n) else {
            throw fail(nil, "header length \(n) runs past the end of the file (\(b.count - 8) bytes follow the length field)")
        }
        let json: JSON
        do {
            json = try JSONReader.parse(headerBytes)
        } catch {
            throw fail("header", "expected valid JSON: \(error)")
        }
        guard case let .object(entries) = json else {
            throw fail("header", "expected a JSON object, found \(json.kindName)")
        }
        let dataStart = 8 + n
        let dataLen = b.count - dataStart
        var out: [(name: String, tensor: Tensor)] = [], metadata: [String: String] = [:]
        if case let .object(pairs)? = json["__metadata__"] {
            for case let (key, .string(value)) in pairs { metadata[key] = value }
        }
        // Total of all tensors' bytes: aliased offsets could otherwise make a small file decode to terabytes.
        var decoded = 0
        for (name, v) in entries where name != "__metadata__" {
            guard case .object = v else {
                throw fail(name, "expected an object with dtype, shape and data_offsets, found \(v.kindName)")
            }
            guard case let .string(dtype)? = v["dtype"] else { throw fail(name, "expected a string \"dtype\"") }
            let shape = try integers(v["shape"], key: "shape", file: file, name: name)
            let offsets = try integers(v["data_offsets"], key: "data_offsets", file: file, name: name)
            guard offsets.count == 2 else {
                throw fail(name, "expected data_offsets [begin, end], found \(offsets.count) numbers")
            }
            let (begin, end) = (offsets[0], offsets[1])
            guard begin <= end else { throw fail(name, "expected data_offsets [begin, end] with begin <= end, found [\(begin), \(end)]") }
            guard end <= dataLen else {
                throw fail(name, "data_offsets [\(begin), \(end)] lie outside the data section of \(dataLen) bytes")
            }
            guard let count = FormatIO.elementCount(shape) else {
                throw fail(name, "shape \(FormatIO.show(shape)) has too many elements")
            }
            if dtype != "F32" {
                if WeightsFile.isIgnorable(name) { continue }
                throw fail(name, "expected dtype F32, found \(dtype)")
            }
            guard let bytes = FormatIO.byteCount(count, 4) else {
                throw fail(name, "shape \(FormatIO.show(shape)) is too large")
            }
            guard bytes == end - begin else {
                throw fail(name, "shape \(FormatIO.show(shape)) needs \(bytes) bytes of F32 data, "
                    + "but data_offsets [\(begin), \(end)] span \(end - begin) bytes")
            }
            decoded += bytes  // cannot overflow: each term is at most dataLen, checked below
            guard decoded <= dataLen else {
                throw fail(name, "tensors claim more than the \(dataLen) bytes of the data section: overlapping data_offsets are not supported")
            }
            guard let values = b.floats32(dataStart + begin, count) else {
                throw fail(name, "data runs past the end of the file")
            }
            out.append((name, Tensor(shape: shape, data: values)))
        }
        return (out, metadata)
    }

    /// A JSON array of non-negative integers (exact in a Double, so at most 2^53).
    private static func integers(_ v: JSON?, key: String, file: String, name: String) throws -> [Int] {
        let fail = NNCCError(file: file, path: name, "expected \"\(key)\" to be an array of non-negative integers")
        guard case let .array(items)? = v else { throw fail }
        return try items.map { item in
            guard case let .number(x, isInteger) = item, isInteger, x >= 0, x <= 9_007_199_254_740_992 else { throw fail }
            return Int(x)
        }
    }

    /// Writes F32 tensors in the given order (header keys in that order, data contiguous, offsets ascending), atomically.
    public static func write(_ tensors: [(name: String, tensor: Tensor)], metadata: [String: String] = [:], to path: String) throws {
        var seen = Set<String>()
        for (name, t) in tensors {
            guard name != "__metadata__", seen.insert(name).inserted else {
                throw NNCCError(file: path, path: name, "tensor name is reserved or used twice")
            }
            try FormatIO.checkConsistent(t.shape, t.data.count, file: path, path: name)
        }
        try AtomicFile.write(encode(tensors, metadata: metadata), to: path)
    }

    /// The caller guarantees each tensor's data matches its shape (`write` checks this).
    public static func encode(_ tensors: [(name: String, tensor: Tensor)], metadata: [String: String] = [:]) -> Data {
        var header = "{"
        if !metadata.isEmpty {
            header += "\"__metadata__\":{" + metadata.sorted { $0.key < $1.key }
                .map { jsonString($0.key) + ":" + jsonString($0.value) }.joined(separator: ",") + "}"
            if !tensors.isEmpty { header += "," }
        }
        var offset = 0
        for (i, (name, t)) in tensors.enumerated() {
            let end = offset + t.data.count * 4
            if i > 0 { header += "," }
            header += jsonString(name) + ":{\"dtype\":\"F32\",\"shape\":[" + t.shape.map(String.init).joined(separator: ",")
                + "],\"data_offsets\":[\(offset),\(end)]}"
            offset = end
        }
        header += "}"
        var h = Data(header.utf8)
        // Pad with spaces so the data starts 8-byte aligned, as the reference writer does.
        while (8 + h.count) % 8 != 0 { h.append(0x20) }
        var out = Data()
        out.reserveCapacity(8 + h.count + offset)
        FormatIO.appendLE(&out, UInt64(h.count))
        out.append(h)
        for (_, t) in tensors { FormatIO.appendFloats(&out, t.data) }
        return out
    }

    private static func jsonString(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case _ where u.value < 0x20: out += String(format: "\\u%04x", u.value)
            default: out.unicodeScalars.append(u)
            }
        }
        return out + "\""
    }
}
