import Foundation

/// Reads a custom operator's C file with libclang (Frontend/LibClang.swift), checks the named
/// functions against the two forms of docs/custom-ops.md and prepares the code for the generated C.
/// Every error gives `file:line:col` in the C file; nothing here runs gcc.
public enum CustomSource {
    /// The C file at `path` with `forward` (and `backward`) as a layer of `shape`.
    /// `fail` attributes a message to the model (its file and JSON path, or the ONNX node).
    static func load(path: String, forward: String, backward: String?, shape: CustomOp.Shape,
                     fail: (String) -> NNCCError) throws -> CustomOp {
        let data: Data
        do { data = try FormatIO.readFile(path) } catch let e as NNCCError { throw fail("\(path): \(e.message)") }
        guard data.count <= 1 << 20 else { throw fail("\(path): larger than 1 MiB") }
        guard let text = String(data: data, encoding: .utf8) else { throw fail("\(path): not UTF-8 text") }
        let info = LibClang.read(path: path, text: text)
        func at(_ l: CFileInfo.Location) -> String { "\(path):\(l.line):\(l.column)" }
        if !info.diagnostics.isEmpty {
            throw fail("libclang reports (custom C must compile without warnings under -std=c11 -Wall -Wextra):\n"
                + info.diagnostics.joined(separator: "\n"))
        }
        if let l = info.quotedIncludes.first {
            throw fail("\(at(l)): #include \"...\" is not allowed: the function is copied into the generated C, "
                + "which is self-contained; include only system headers (<math.h>)")
        }
        if let w = info.globalWrites.first {
            throw fail("\(at(w.location)): writes the global variable '\(w.variable)'; a custom operator must not keep "
                + "state between calls (use locals, or const data)")
        }
        let defined = info.functions.filter(\.isDefinition)
        func find(_ name: String, _ role: String) throws -> CFileInfo.Function {
            guard let f = defined.first(where: { $0.name == name }) else {
                let names = defined.map(\.name)
                throw fail("\(path):1:1: no definition of the \(role) function '\(name)'; the file defines "
                    + (names.isEmpty ? "no function" : names.joined(separator: ", ")))
            }
            if f.variadic { throw fail("\(at(f.location)): '\(name)' is variadic; \(expected(role))") }
            return f
        }
        let fwd = try find(forward, "forward")
        let form = try forwardForm(fwd, fail: { fail("\(at(fwd.location)): \($0)") })
        if form == .elementwise, shape != .same {
            throw fail("\(at(fwd.location)): an elementwise function keeps its operand's shape; give \"shape\": \"same\"")
        }
        if let backward {
            let bwd = try find(backward, "backward")
            try checkBackward(bwd, form: form, fail: { fail("\(at(bwd.location)): \($0)") })
        }
        let prefix = "nn_u\(SHA256.hex(text).prefix(8))_"
        let prototypes = defined.filter { $0.name == forward || $0.name == backward }.map { f in
            "static \(f.result.spelling) \(prefix + f.name)(\(f.parameters.map(\.type.spelling).joined(separator: ", ")));"
        }
        return CustomOp(source: path, form: form, shape: shape, forward: forward, cForward: prefix + forward,
                        backward: backward, cBackward: backward.map { prefix + $0 }, forwardLocation: at(fwd.location),
                        prototypes: prototypes.joined(separator: "\n"), code: renamed(text, info, prefix: prefix))
    }

    /// The JSON layer `{"type": "custom", "source": "ops/swish.c", "forward": "swish",
    /// "backward": "swish_grad", "shape": "same"}`; the source is relative to the model's folder.
    static func layer(_ f: Fields, modelFile: String) throws -> Op {
        try f.onlyKeys(LayerDecoder.common + ["source", "forward", "backward", "shape"], what: "a custom layer")
        let source = try f.string("source")
        guard !source.isEmpty else { throw f.fail("source", "expected the path of a C file") }
        let path = source.hasPrefix("/") ? source
            : URL(fileURLWithPath: modelFile).deletingLastPathComponent().appendingPathComponent(source).path
        var shape = CustomOp.Shape.same
        if let v = f.raw("shape"), v != .string("same") {
            guard case let .array(items) = v, (1...Limits.rank).contains(items.count) else {
                throw f.fail("shape", "expected \"same\" or a list of 1 to \(Limits.rank) positive integers")
            }
            let dims = try ModelDecoder.intList(v, path: f.sub("shape"), file: f.file, lo: 1)
            try Limits.check("custom result of shape", dims, limit: Limits.exampleElements) { f.fail("shape", $0) }
            shape = .fixed(dims)
        }
        let backward = f.has("backward") ? try f.string("backward") : nil
        return .custom(try load(path: path, forward: try f.string("forward"), backward: backward, shape: shape) {
            f.fail(backward != nil && $0.contains("'\(backward!)'") ? "backward" : "forward", $0)
        })
    }

    static func expected(_ role: String) -> String {
        role == "forward"
            ? "expected float f(float x) (elementwise) or void f(const float *x, float *y, int64_t batch, int64_t d0, ...) (array)"
            : "expected float g(float x, float y, float dy) (elementwise) or "
                + "void g(const float *x, const float *y, const float *dy, float *dx, int64_t batch, int64_t d0, ...) (array)"
    }

    static let input = CFileInfo.TypeKind.pointer(.float, const: true), output = CFileInfo.TypeKind.pointer(.float, const: false)

    /// The form the forward's declaration has, or what is wrong with it.
    static func forwardForm(_ f: CFileInfo.Function, fail: (String) -> NNCCError) throws -> CustomOp.Form {
        switch f.result.kind {
        case .float:
            try parameters(f, [.float], exactly: true, fail: fail)
            return .elementwise
        case .void:
            try parameters(f, [input, output, .int64], exactly: false, fail: fail)
            return .array(dims: f.parameters.count - 3)
        default:
            throw fail("'\(f.name)' returns '\(f.result.spelling)'; \(expected("forward"))")
        }
    }

    static func checkBackward(_ f: CFileInfo.Function, form: CustomOp.Form, fail: (String) -> NNCCError) throws {
        switch form {
        case .elementwise:
            guard f.result.kind == .float else { throw fail("'\(f.name)' returns '\(f.result.spelling)'; \(expected("backward"))") }
            try parameters(f, [.float, .float, .float], exactly: true, role: "backward", fail: fail)
        case let .array(dims):
            guard f.result.kind == .void else { throw fail("'\(f.name)' returns '\(f.result.spelling)'; \(expected("backward"))") }
            try parameters(f, [input, input, input, output] + Array(repeating: .int64, count: 1 + dims), exactly: true, role: "backward", fail: fail)
        }
    }

    /// The parameters match `kinds`, then (unless `exactly`) any number of int64_t.
    static func parameters(_ f: CFileInfo.Function, _ kinds: [CFileInfo.TypeKind], exactly: Bool, role: String = "forward",
                           fail: (String) -> NNCCError) throws {
        guard exactly ? f.parameters.count == kinds.count : f.parameters.count >= kinds.count else {
            throw fail("'\(f.name)' takes \(f.parameters.count) parameter\(f.parameters.count == 1 ? "" : "s"); \(expected(role))")
        }
        for (j, p) in f.parameters.enumerated() {
            let want = j < kinds.count ? kinds[j] : .int64
            guard p.type.kind != want else { continue }
            throw fail("parameter \(j + 1) ('\(p.name)') of '\(f.name)' is '\(p.type.spelling)', expected '\(spelling(want))'; \(expected(role))")
        }
    }

    static func spelling(_ k: CFileInfo.TypeKind) -> String {
        switch k {
        case .float: return "float"
        case .int64: return "int64_t"
        case let .pointer(_, const): return const ? "const float *" : "float *"
        default: return "?"
        }
    }

    /// The file with every name it defines at file scope prefixed (no clash with the model's
    /// symbols or another file's) and made `static` and `NN_UNUSED` (an inference build does not
    /// call the backward).
    static func renamed(_ text: String, _ info: CFileInfo, prefix: String) -> String {
        let definedFunctions = Set(info.functions.filter(\.isDefinition).map(\.name))
        // Declared functions without a body here (libc's) keep their names; extern variables too.
        let names = Set(info.declarations.filter { d in
            !d.isExtern && (definedFunctions.contains(d.name) || !info.functions.contains { $0.name == d.name })
        }.map(\.name))
        var edits = [(offset: Int, remove: Int, insert: String)]()
        var starts = Set<Int>()
        for d in info.declarations where names.contains(d.name) && starts.insert(d.start).inserted {
            edits.append((d.start, 0, d.isStatic ? "NN_UNUSED " : "NN_UNUSED static "))
        }
        for t in info.identifiers where names.contains(t.spelling) {
            edits.append((t.offset, t.spelling.utf8.count, prefix + t.spelling))
        }
        var bytes = Array(text.utf8)
        for e in edits.sorted(by: { $0.offset > $1.offset }) {
            bytes.replaceSubrange(e.offset..<(e.offset + e.remove), with: Array(e.insert.utf8))
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
