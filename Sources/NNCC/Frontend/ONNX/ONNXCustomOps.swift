import Foundation

/// `--custom-op DOMAIN::OpType=file.c:function[:backward][:shape=D0,D1,...]`: the nodes of one ONNX
/// operator become a custom C layer (docs/custom-ops.md), read and checked by CustomSource.
public struct CustomOpMapping: Equatable {
    /// The domain as given; "" and "ai.onnx" both name the standard operators.
    public var domain: String, opType: String
    /// The C file, relative to the current directory, and its functions.
    public var source: String, forward: String, backward: String?
    /// The result's per-example shape (`shape=4,10`); nil: the ONNX graph's value_info, else the operand's.
    public var shape: [Int]?

    /// `DOMAIN::OpType` as messages show it.
    public var key: String { "\(domain)::\(opType)" }

    public static let syntax = "DOMAIN::OpType=file.c:function[:backward][:shape=D0,D1,...]"

    /// Reads one option value; errors name `--custom-op` and the syntax (the CLI makes them exit 2).
    public static func parse(_ spec: String) throws -> CustomOpMapping {
        func fail(_ why: String) -> NNCCError {
            NNCCError(path: "--custom-op", "'\(spec)': \(why) (the form is \(syntax))")
        }
        guard let eq = spec.firstIndex(of: "=") else { throw fail("no '='") }
        let op = spec[..<eq], target = spec[spec.index(after: eq)...]
        guard let sep = op.range(of: "::") else { throw fail("the operator must be DOMAIN::OpType (::OpType for a standard one)") }
        let domain = String(op[..<sep.lowerBound]), opType = String(op[sep.upperBound...])
        guard !opType.isEmpty, !opType.contains(where: { $0.isWhitespace || $0 == ":" }) else {
            throw fail("'\(opType)' is not an operator type")
        }
        var parts = target.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        var shape: [Int]?
        if let last = parts.last, last.hasPrefix("shape=") {
            parts.removeLast()
            let items = last.dropFirst("shape=".count).split(separator: ",", omittingEmptySubsequences: false)
            let fixed = items.compactMap { Int($0) }.filter { $0 >= 1 }
            guard (1...Limits.rank).contains(items.count), fixed.count == items.count else {
                throw fail("shape= takes 1 to \(Limits.rank) positive integers separated by commas (the result's per-example shape)")
            }
            try Limits.check("custom result of shape", fixed, limit: Limits.exampleElements, fail: fail)
            shape = fixed
        }
        guard (2...3).contains(parts.count), !parts[0].isEmpty else {
            throw fail("expected the C file, the forward function and optionally the backward, separated by ':'")
        }
        for name in parts.dropFirst() where !isCIdentifier(name) {
            throw fail("'\(name)' is not a C function name")
        }
        return CustomOpMapping(domain: domain, opType: opType, source: parts[0], forward: parts[1],
                               backward: parts.count == 3 ? parts[2] : nil, shape: shape)
    }

    /// Reads every value of the repeated option; one operator mapped twice is an error.
    public static func parseAll(_ specs: [String]) throws -> [CustomOpMapping] {
        var out = [CustomOpMapping]()
        for spec in specs {
            let m = try parse(spec)
            if out.contains(where: { $0.matches(domain: m.domain, opType: m.opType) }) {
                throw NNCCError(path: "--custom-op", "\(m.key) is mapped twice")
            }
            out.append(m)
        }
        return out
    }

    func matches(domain d: String, opType t: String) -> Bool {
        func standard(_ d: String) -> String { d == "ai.onnx" ? "" : d }
        return t == opType && standard(d) == standard(domain)
    }

    static func isCIdentifier(_ s: String) -> Bool {
        guard let first = s.unicodeScalars.first, first == "_" || (first.isASCII && first.properties.isAlphabetic) else { return false }
        return s.unicodeScalars.allSatisfy { $0 == "_" || ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) }
    }
}

extension ONNXGraphBuilder {
    /// The mapping for this node's operator, if `--custom-op` gave one.
    func customMapping(_ node: ONNXNode) -> CustomOpMapping? {
        customOps.first { $0.matches(domain: node.proto.domain, opType: node.op) }
    }

    /// A node mapped by `--custom-op`: one tensor in, one out, the user's function between. The
    /// result's shape is the option's `shape=`, else the graph's value_info for the output when it
    /// gives fixed per-example dims, else the operand's. ONNX attributes do not reach the C.
    mutating func customLayer(_ node: ONNXNode, _ m: CustomOpMapping) throws {
        let inputs = node.proto.input.filter { !$0.isEmpty }
        guard inputs.count == 1 else {
            throw node.fail("--custom-op \(m.key) maps it to a custom C layer, which takes one tensor input; the node has \(inputs.count)")
        }
        try rejectOutputs(node, from: 1, what: "a custom C layer computes one result")
        let x = try materialize(inputs[0], node)
        let operand = try shapes()[x]
        let dims = m.shape ?? declaredShape(node.proto.output[0])
        let shape: CustomOp.Shape = dims == nil || dims == operand ? .same : .fixed(dims!)
        let op = try CustomSource.load(path: m.source, forward: m.forward, backward: m.backward, shape: shape) {
            node.fail("--custom-op \(m.key): \($0)")
        }
        let n = add(.custom(op), inputs: [x], node)
        bind(node, 0, .tensor(node: n, axes: Self.plain(dims?.count ?? operand.count)))
    }

    /// The per-example dims value_info (or a graph output) declares for `name`: (N, d0, ...) with every d fixed.
    func declaredShape(_ name: String) -> [Int]? {
        guard let info = (proto.valueInfo + proto.output).first(where: { $0.name == name }) else { return nil }
        let dims = info.type.tensorType.shape.dim.dropFirst()
        let fixed = dims.compactMap { d -> Int? in
            if case let .dimValue(v)? = d.value, (1...Int64(Limits.dimension)).contains(v) { return Int(v) }
            return nil
        }
        return (1...Limits.rank).contains(dims.count) && fixed.count == dims.count ? fixed : nil
    }
}
