import Foundation

/// Typed access to one ONNX node's attributes and constant inputs. Every
/// error names the node (`graph.node[3] (Conv "/conv1/Conv")`) and what was
/// expected, so a hostile or unsupported file fails with a message.
struct ONNXNode {
    let proto: Onnx_NodeProto
    let index: Int
    let file: String

    var op: String { proto.opType }
    var origin: String {
        "graph.node[\(index)] (\(op)\(proto.name.isEmpty ? "" : " \"\(proto.name)\""))"
    }

    func fail(_ message: String) -> NNCCError { NNCCError(file: file, path: origin, message) }

    private func attribute(_ name: String) -> Onnx_AttributeProto? { proto.attribute.first { $0.name == name } }

    func has(_ name: String) -> Bool { attribute(name) != nil }

    func int(_ name: String, default d: Int? = nil) throws -> Int {
        guard let a = attribute(name) else {
            if let d { return d }
            throw fail("missing attribute \(name)")
        }
        guard a.type == .int || (!a.hasType && a.hasI), let v = Int(exactly: a.i), abs(v) <= 1 << 40 else {
            throw fail("attribute \(name): expected an integer")
        }
        return v
    }

    func ints(_ name: String) throws -> [Int]? {
        guard let a = attribute(name) else { return nil }
        guard a.type == .ints || (!a.hasType && !a.ints.isEmpty), a.ints.count <= 16 else {
            throw fail("attribute \(name): expected a list of at most 16 integers")
        }
        return try a.ints.map {
            guard let v = Int(exactly: $0), abs(v) <= 1 << 40 else { throw fail("attribute \(name): integer out of range") }
            return v
        }
    }

    func float(_ name: String, default d: Float) throws -> Float {
        guard let a = attribute(name) else { return d }
        guard a.type == .float || (!a.hasType && a.hasF), a.f.isFinite else {
            throw fail("attribute \(name): expected a finite float")
        }
        return a.f
    }

    func string(_ name: String, default d: String) throws -> String {
        guard let a = attribute(name) else { return d }
        guard a.type == .string || (!a.hasType && a.hasS), let s = String(data: a.s, encoding: .utf8) else {
            throw fail("attribute \(name): expected a UTF-8 string")
        }
        return s
    }

    func strings(_ name: String) throws -> [String]? {
        guard let a = attribute(name) else { return nil }
        return try a.strings.map {
            guard let s = String(data: $0, encoding: .utf8) else { throw fail("attribute \(name): expected UTF-8 strings") }
            return s
        }
    }

    func tensor(_ name: String) throws -> Onnx_TensorProto? {
        guard let a = attribute(name) else { return nil }
        guard a.hasT else { throw fail("attribute \(name): expected a tensor") }
        return a.t
    }

    /// Attributes that change the result and that the importer does not read
    /// must be absent or at their default.
    func expect(_ name: String, is value: Int) throws {
        if has(name), try int(name) != value {
            throw fail("attribute \(name) = \(try int(name)) is not supported (expected \(value))")
        }
    }

    func rejectAttributes(_ names: [String]) throws {
        for n in names where has(n) { throw fail("attribute \(n) is not supported") }
    }

    /// Input `i`'s value name, or nil when absent or the empty name (an omitted optional input).
    func input(_ i: Int) -> String? {
        i < proto.input.count && !proto.input[i].isEmpty ? proto.input[i] : nil
    }
}

/// A constant tensor of an ONNX file (an initializer or a Constant node):
/// float data, or integers for shapes, axes and indices.
struct ONNXConstant {
    var shape: [Int]
    var floats: [Float]?
    var ints: [Int64]?

    var count: Int { floats?.count ?? ints?.count ?? 0 }

    /// As an import value: float data, integers (a scalar when the shape is empty, else a vector), or
    /// an integer tensor of higher rank.
    var value: ONNXValue {
        if floats != nil { return .floats(self) }
        if shape.count > 1 { return .intTensor(self) }
        return .ints((ints ?? []).map { .value($0) }, scalar: shape.isEmpty)
    }

    /// Decodes a TensorProto; `what` names it in errors. Data held in another file is read through
    /// `external` (only inside the model's folder); without it, such data is refused.
    static func decode(_ t: Onnx_TensorProto, file: String, what: String, external: ONNXExternalData? = nil) throws
        -> ONNXConstant {
        func fail(_ m: String) -> NNCCError { NNCCError(file: file, path: what, m) }
        var t = t
        if t.dataLocation == .external || !t.externalData.isEmpty {
            guard let external else {
                throw fail("tensor data is stored outside the file, and nncc was not given the model's folder; save "
                    + "the model with its weights inside (onnx.save_model(..., save_as_external_data=False))")
            }
            t = try external.resolve(t, fail: fail)
        }
        guard t.dims.count <= 8 else { throw fail("expected at most 8 dimensions, found \(t.dims.count)") }
        let shape = try t.dims.map { d -> Int in
            guard d >= 0, d <= 1 << 31 else { throw fail("dimension \(d) is out of range") }
            return Int(d)
        }
        try Limits.check("tensor of shape", shape, limit: Limits.bufferElements, fail: fail)
        let n = FormatIO.elementCount(shape)!
        /// raw_data as n little-endian T, converted; nil when the values are in the typed field instead.
        func fromRaw<T: FixedWidthInteger, V>(_: T.Type, _ convert: (T) -> V) throws -> [V]? {
            guard t.hasRawData else { return nil }
            let width = MemoryLayout<T>.size
            guard t.rawData.count == n * width else {
                throw fail("raw_data holds \(t.rawData.count) bytes; shape \(shape) needs \(n * width)")
            }
            return t.rawData.withUnsafeBytes { b in
                (0..<n).map { convert(T(littleEndian: b.loadUnaligned(fromByteOffset: width * $0, as: T.self))) }
            }
        }
        func counted<V>(_ values: [V]) throws -> [V] {
            guard values.count == n else { throw fail("holds \(values.count) values; shape \(shape) needs \(n)") }
            return values
        }
        switch Onnx_TensorProto.DataType(rawValue: Int(t.dataType)) {
        case .float?:
            return ONNXConstant(shape: shape, floats: try fromRaw(UInt32.self) { Float(bitPattern: $0) } ?? counted(t.floatData))
        case .double?:
            return ONNXConstant(shape: shape, floats: try fromRaw(UInt64.self) { Float(Double(bitPattern: $0)) }
                ?? counted(t.doubleData.map { Float($0) }))
        case .int64?:
            return ONNXConstant(shape: shape, ints: try fromRaw(Int64.self) { $0 } ?? counted(t.int64Data))
        case .int32?:
            return ONNXConstant(shape: shape, ints: try fromRaw(Int32.self) { Int64($0) } ?? counted(t.int32Data.map { Int64($0) }))
        case .bool?, .uint8?:
            // Booleans and uint8 sit one per byte in raw_data, one per int32_data entry otherwise.
            return ONNXConstant(shape: shape, ints: try fromRaw(UInt8.self) { Int64($0) } ?? counted(t.int32Data.map { Int64($0) }))
        case .int8?:
            return ONNXConstant(shape: shape, ints: try fromRaw(Int8.self) { Int64($0) } ?? counted(t.int32Data.map { Int64($0) }))
        default:
            throw fail("data type \(t.dataType) is not supported (expected float, double, int32, int64, int8, uint8 or bool)")
        }
    }
}

/// Tensor data an ONNX file keeps in other files (PyTorch's exporter writes `NAME.onnx.data`):
/// TensorProto.external_data holds `location` (relative to the model's folder), `offset` and
/// `length`. Only files inside that folder are read; each is read once.
final class ONNXExternalData {
    let folder: String
    private var files: [String: Data] = [:]

    init(folder: String) { self.folder = folder }

    /// `t` with its bytes in raw_data.
    func resolve(_ t: Onnx_TensorProto, fail: (String) -> NNCCError) throws -> Onnx_TensorProto {
        var entries: [String: String] = [:]
        for e in t.externalData { entries[e.key] = e.value }
        guard let location = entries["location"], !location.isEmpty else {
            throw fail("external data without a location")
        }
        let shown = "external data file \"\(location)\""
        func number(_ key: String) throws -> Int? {
            guard let s = entries[key] else { return nil }
            guard let v = Int(s), v >= 0 else { throw fail("\(shown): \(key) \"\(s)\" is not a non-negative integer") }
            return v
        }
        let parts = location.split(separator: "/", omittingEmptySubsequences: true)
        guard !location.hasPrefix("/"), !location.contains("\\"), !location.unicodeScalars.contains(where: isControlCharacter),
              !parts.isEmpty, !parts.contains("..") else {
            throw fail("\(shown) must be a path inside the model's folder (relative, without \"..\")")
        }
        let path = URL(fileURLWithPath: folder).appendingPathComponent(location)
        // A symbolic link may not lead out of the folder either.
        let base = URL(fileURLWithPath: folder).resolvingSymlinksInPath().path
        guard path.resolvingSymlinksInPath().path.hasPrefix(base.hasSuffix("/") ? base : base + "/") else {
            throw fail("\(shown) leads outside the model's folder")
        }
        let data: Data
        if let d = files[path.path] {
            data = d
        } else {
            do { data = try FormatIO.readFile(path.path) } catch let e as NNCCError { throw fail("\(shown): \(e.message)") }
            files[path.path] = data
        }
        let offset = try number("offset") ?? 0
        let length = try number("length") ?? max(0, data.count - offset)
        guard offset <= data.count, length <= data.count - offset else {
            throw fail("\(shown) holds \(data.count) bytes; the tensor needs bytes \(offset) to \(offset &+ length)")
        }
        var out = t
        out.rawData = data.subdata(in: (data.startIndex + offset)..<(data.startIndex + offset + length))
        out.externalData = []
        out.dataLocation = .default
        return out
    }
}
