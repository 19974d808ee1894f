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

    /// As an import value: float data, or integers (a scalar when the shape is empty).
    var value: ONNXValue { floats != nil ? .floats(self) : .ints(ints!.map { .value($0) }, scalar: shape.isEmpty) }

    /// Decodes a TensorProto; `what` names it in errors. Only data held in the
    /// file is read: external data would make nncc open paths the file names.
    static func decode(_ t: Onnx_TensorProto, file: String, what: String) throws -> ONNXConstant {
        func fail(_ m: String) -> NNCCError { NNCCError(file: file, path: what, m) }
        guard t.dataLocation != .external, t.externalData.isEmpty else {
            throw fail("tensor data is stored outside the file; save the model with its weights inside "
                + "(onnx.save_model(..., save_as_external_data=False))")
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
        default:
            throw fail("data type \(t.dataType) is not supported (expected float, double, int32 or int64)")
        }
    }
}
