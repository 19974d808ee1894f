import Foundation
import SwiftProtobuf

/// Reads an ONNX model (as PyTorch's exporter writes them) into the same IR
/// graph the JSON frontend builds, with the initializers as weights under
/// the format's PyTorch names.
///
/// ONNX tensors carry the batch as a dimension and may be transposed,
/// squeezed or unsqueezed views of a layer's result; the importer tracks each
/// ONNX value as an IR node plus the role of each of its axes, so that
/// layout-only nodes (Transpose, Squeeze, Unsqueeze, Flatten) need no IR op,
/// and computes shape arithmetic (Shape → Gather → Concat → Reshape) at import.
public enum ONNXImporter {
    public struct Imported {
        public var graph: Graph
        public var weights: [String: Tensor]
    }

    /// Opsets of the default domain the importer follows: from 6 (the first without
    /// `consumed_inputs`) to 22, the handled operators change only in ways it tells apart
    /// (attributes that became inputs, broadcasting before 7, `is_test` in 6), or by new types
    /// (docs/onnx.md).
    public static let supportedOpsets = 6...22

    /// `customOps`: the `--custom-op` mappings of operators to C functions (docs/custom-ops.md).
    public static func load(path: String, customOps: [CustomOpMapping] = []) throws -> Imported {
        let data = try FormatIO.readFile(path)
        guard data.count < 1 << 31 else { throw NNCCError(file: path, "ONNX file larger than 2 GiB") }
        let url = URL(fileURLWithPath: path)
        return try decode(data, file: path, name: cIdentifier(url.deletingPathExtension().lastPathComponent),
                          folder: url.deletingLastPathComponent().path, customOps: customOps)
    }

    /// Reads the model in `data`; `folder` is where its external data files may be (nil: nowhere).
    public static func decode(_ data: Data, file: String, name: String, folder: String? = nil,
                              customOps: [CustomOpMapping] = []) throws -> Imported {
        let model: Onnx_ModelProto
        do {
            var options = BinaryDecodingOptions()
            options.messageDepthLimit = 64
            model = try Onnx_ModelProto(serializedBytes: data, options: options)
        } catch {
            throw NNCCError(file: file, "not a readable ONNX model (protobuf decoding failed: \(error))")
        }
        guard model.hasGraph, !model.graph.node.isEmpty else {
            throw NNCCError(file: file, "expected an ONNX model with a graph of at least one node")
        }
        guard let imported = model.opsetImport.first(where: { $0.domain.isEmpty || $0.domain == "ai.onnx" }) else {
            throw NNCCError(file: file, path: "opset_import", "expected an opset for the default ONNX domain, found none")
        }
        let opset = Int(clamping: imported.version)
        guard supportedOpsets.contains(opset) else {
            throw NNCCError(file: file, path: "opset_import",
                            "the default ONNX domain's opset \(opset) is outside the range nncc imports "
                                + "(\(supportedOpsets.lowerBound) to \(supportedOpsets.upperBound)); export with an opset in that range, e.g. 17")
        }
        var importer = try ONNXGraphBuilder(graph: model.graph, file: file, name: name, opset: opset,
                                            external: folder.map(ONNXExternalData.init))
        importer.customOps = customOps
        for (i, node) in model.graph.node.enumerated() {
            try importer.importNode(ONNXNode(proto: node, index: i, file: file))
        }
        return try importer.finish()
    }

    /// The file's stem as a C identifier: other characters become `_`, a leading digit gets `_`,
    /// and a reserved name (`nn_*`, `math`, ...) gets the prefix `onnx_`.
    static func cIdentifier(_ s: String) -> String {
        var out = String(s.unicodeScalars.map { c -> Character in
            c.isASCII && (c.properties.isAlphabetic || ("0"..."9").contains(c) || c == "_") ? Character(c) : "_"
        }.prefix(64))
        if out.isEmpty { out = "model" }
        if out.first!.isNumber { out = "_" + out.dropLast(out.count == 64 ? 1 : 0) }
        if (try? ModelDecoder.validateName(out) { NNCCError($0) }) == nil { out = String(("onnx_" + out).prefix(64)) }
        return out
    }
}

/// The role of one axis of an ONNX tensor: the batch, axis `k` of the IR
/// node's per-example result, an inserted axis of size 1, or the time axis
/// (of size T) of a recurrent layer of which only the last step is read.
/// `batchTimes(k)` is the batch merged into axis `k` as its outer factor (ONNX size N·shape[k]), as
/// PyTorch's attention merges batch and heads ((T, N·h, d)); `batchInner(k)` as its inner factor
/// (the older exporter's (T·N, E)).
enum ONNXAxis: Equatable {
    case batch, dim(Int), unit, time(Int), batchTimes(Int), batchInner(Int)

    /// The layer axis it is or holds with the batch (nil: the batch alone, a unit or time axis).
    var layerAxis: Int? {
        switch self {
        case let .dim(k), let .batchTimes(k), let .batchInner(k): return k
        default: return nil
        }
    }
}

/// A layer result computed as ONNX sees it: plain, (N, d0, d1, ...), or `merged`, (N·d0, d1, ...),
/// the batch the outer factor of the first axis. ONNX axis i is per-example axis i − `batchAxes`.
struct ONNXLayout {
    let node: Int
    let merged: Bool
    /// ONNX axes before the per-example ones: the batch's own, or none when it is merged.
    var batchAxes: Int { merged ? 0 : 1 }
    /// The view of this node of per-example rank `rank`.
    func axes(_ rank: Int) -> [ONNXAxis] {
        merged ? [.batchTimes(0)] + (1..<max(rank, 1)).map { .dim($0) } : ONNXGraphBuilder.plain(rank)
    }
}

/// An integer known at import time, or the batch size (known only at run time).
enum ONNXInt: Equatable, CustomStringConvertible {
    /// `batchTimes(k)`: the batch times k, as attention's shape arithmetic merges batch and heads.
    case value(Int64), batch, batchTimes(Int64)
    /// As messages show it: the number, or N for the batch.
    var description: String {
        switch self {
        case let .value(v): return String(v)
        case .batch: return "N"
        case let .batchTimes(k): return "N·\(k)"
        }
    }
}

/// What an ONNX value name stands for during import.
enum ONNXValue {
    /// A layer's result, seen through `axes`.
    case tensor(node: Int, axes: [ONNXAxis])
    /// Float constant: initializer or Constant node.
    case floats(ONNXConstant)
    /// Integer scalar or vector (shapes, axes, indices).
    case ints([ONNXInt], scalar: Bool)
    /// Integer (or boolean) constant of rank 2 or more, for constant folding.
    case intTensor(ONNXConstant)
    /// ConstantOfShape's result: every element `value`, shape possibly batch-dependent.
    case filled(Float)
}

/// The import state: IR nodes so far, ONNX values by name, and weights.
struct ONNXGraphBuilder {
    let proto: Onnx_GraphProto
    let file: String
    let name: String
    let opset: Int
    let external: ONNXExternalData?
    /// The graph input's batch dimension is fixed at 1 (an export at batch 1 without dynamic
    /// axes): a literal 1 in a Reshape's target may stand for the batch.
    let fixedBatchOne: Bool
    /// `--custom-op` mappings: nodes of these operators become custom C layers.
    var customOps: [CustomOpMapping] = []
    var nodes: [Node]
    var values: [String: ONNXValue] = [:]
    var weights: [String: Tensor] = [:]
    /// Which initializer each weight came from, for messages.
    var weightSource: [String: String] = [:]
    /// How many node inputs and graph outputs read each value name.
    let uses: [String: Int]
    /// Nodes already imported as part of a pattern (the erf form of GELU).
    var skipped: Set<Int> = []
    private var layerNames: Set<String> = ["input"]
    private var shapeCache: (count: Int, shapes: [[Int]]) = (0, [])

    init(graph: Onnx_GraphProto, file: String, name: String, opset: Int, external: ONNXExternalData? = nil) throws {
        proto = graph
        self.file = file
        self.name = name
        self.opset = opset
        self.external = external
        uses = (graph.node.flatMap(\.input) + graph.output.map(\.name)).reduce(into: [:]) { $0[$1, default: 0] += 1 }
        // Initializer names become parameter names (weights files, C string literals, where a NUL
        // ends the name) and output names go to the manifest: no control characters in either.
        for (what, names) in [("initializer", graph.initializer.map(\.name)), ("output", graph.output.map(\.name))] {
            for (i, n) in names.enumerated() {
                if let c = n.unicodeScalars.first(where: isControlCharacter) {
                    throw NNCCError(file: file, path: "graph.\(what)[\(i)]",
                                    "names may not contain control characters, found U+\(String(format: "%04X", c.value))")
                }
            }
        }
        var constants: [String: ONNXValue] = [:]
        for (i, t) in graph.initializer.enumerated() {
            constants[t.name] = try ONNXConstant.decode(t, file: file, what: "graph.initializer[\(i)] \"\(t.name)\"",
                                                        external: external).value
        }
        let inputs = graph.input.filter { constants[$0.name] == nil }
        guard inputs.count == 1, let input = inputs.first else {
            throw NNCCError(file: file, path: "graph.input",
                            "expected exactly one input besides the initializers, found \(inputs.count) "
                                + "(\(inputs.map(\.name).joined(separator: ", ")))")
        }
        let shape = try Self.inputShape(input, file: file)
        if case .dimValue(1)? = input.type.tensorType.shape.dim.first?.value { fixedBatchOne = true } else { fixedBatchOne = false }
        nodes = [Node(name: "input", op: .input, inputs: [], shape: shape, origin: "graph.input \"\(input.name)\"")]
        values = constants
        // A rank-1 input (N,) holds one value per example: per-example shape [1], the batch merged into it.
        let rank1 = input.type.tensorType.shape.dim.count == 1
        values[input.name] = .tensor(node: 0, axes: rank1 ? [.batchTimes(0)] : [.batch] + shape.indices.map { .dim($0) })
    }

    static func inputShape(_ v: Onnx_ValueInfoProto, file: String) throws -> [Int] {
        func fail(_ m: String) -> NNCCError { NNCCError(file: file, path: "graph.input \"\(v.name)\"", m) }
        guard v.type.tensorType.elemType == Int32(Onnx_TensorProto.DataType.float.rawValue) else {
            throw fail("expected a float32 tensor input")
        }
        let dims = v.type.tensorType.shape.dim
        if dims.count == 1 { return [1] }  // (N,): one value per example
        guard (2...Limits.rank + 1).contains(dims.count) else {
            throw fail("expected a batch dimension and 0 to \(Limits.rank) more (N, ...), found rank \(dims.count)")
        }
        let shape = try dims.dropFirst().enumerated().map { i, d in
            guard case let .dimValue(n)? = d.value, n >= 1, n <= Limits.dimension else {
                throw fail("dimension \(i + 1) must be a fixed positive size; only the batch (dimension 0) may vary")
            }
            return Int(n)
        }
        try Limits.check("input of shape", shape, limit: Limits.exampleElements, fail: fail)
        return shape
    }

    // MARK: - Values

    func value(_ name: String, _ node: ONNXNode) throws -> ONNXValue {
        guard let v = values[name] else { throw node.fail("input \"\(name)\" is not produced by an earlier node") }
        return v
    }

    func tensor(_ name: String, _ node: ONNXNode) throws -> (node: Int, axes: [ONNXAxis]) {
        guard case let .tensor(n, axes) = try value(name, node) else {
            throw node.fail("input \"\(name)\": expected a tensor computed from the model input, found a constant")
        }
        return (n, axes)
    }

    func floats(_ name: String?, _ node: ONNXNode, what: String) throws -> ONNXConstant {
        guard let name else { throw node.fail("missing input \(what)") }
        guard case let .floats(c) = try value(name, node) else {
            throw node.fail("input \(what) \"\(name)\": expected a float constant (an initializer)")
        }
        return c
    }

    /// A layer's weight: a float constant of `rank` dimensions, each 1...2^20.
    func weight(_ name: String?, _ node: ONNXNode, what: String, rank: Int) throws -> ONNXConstant {
        let c = try floats(name, node, what: what)
        guard c.shape.count == rank, c.shape.allSatisfy({ (1...(1 << 20)).contains($0) }) else {
            throw node.fail("weight \(what) has shape \(c.shape); expected \(rank) dimensions of size 1 to 2^20")
        }
        return c
    }

    /// Integers known at import time (axes, indices, shapes without the batch).
    func knownInts(_ name: String, _ node: ONNXNode) throws -> [Int] {
        guard case let .ints(xs, _) = try value(name, node) else {
            throw node.fail("input \"\(name)\": expected an integer constant")
        }
        return try xs.map {
            guard case let .value(v) = $0, let i = Int(exactly: v), abs(i) <= 1 << 40 else {
                throw node.fail("input \"\(name)\": expected integers known before run time")
            }
            return i
        }
    }

    /// Per-example shapes of the IR nodes so far.
    mutating func shapes() throws -> [[Int]] {
        if shapeCache.count != nodes.count {
            let g = try inferShapes(Graph(name: name, nodes: nodes, outputs: [nodes.count - 1]), file: file)
            shapeCache = (nodes.count, g.nodes.map(\.shape))
        }
        return shapeCache.shapes
    }

    /// The IR node holding `name` in plain (N, d0, d1, ...) layout, inserting
    /// a transpose when the view permutes the layer's axes and a reshape when
    /// the ONNX tensor has extra size-1 axes; `name` is then bound to it, so
    /// other readers reuse it. The batch must come first.
    mutating func materialize(_ name: String, _ node: ONNXNode) throws -> Int {
        try materializeLayout(name, node, allowMerged: false).node
    }

    /// As `materialize`, and with `allowMerged` also a view whose first axis is the batch merged
    /// into a layer axis as its outer factor, (N·d0, d1, ...): window attention folds its windows
    /// into the batch so. Each example's windows are its own, so per example that tensor is the
    /// IR's (d0, d1, ...), computed by the same transpose and reshape.
    mutating func materializeLayout(_ name: String, _ node: ONNXNode, allowMerged: Bool) throws -> ONNXLayout {
        let (n, axes) = try tensor(name, node)
        if axes.contains(where: { if case .time = $0 { return true } else { return false } }) {
            throw node.fail("input \"\(name)\" still has the time axis of a recurrent layer whose last step "
                + "only is read; expected Gather of the last step first")
        }
        // (N,) of one value per example (a rank-1 model input and what follows it elementwise) is the
        // IR's [1] as it is; the value keeps its rank-1 view.
        if axes == [.batchTimes(0)], try shapes()[n] == [1] { return ONNXLayout(node: n, merged: false) }
        let merged: Bool
        if case .batchTimes = axes.first, allowMerged { merged = true } else { merged = false }
        let perExample = merged ? axes : Array(axes.dropFirst())
        let rank = try shapes()[n].count
        let dims = perExample.enumerated().compactMap { i, a -> Int? in
            switch a {
            case let .dim(k): return k
            case let .batchTimes(k) where merged && i == 0: return k
            default: return nil
            }
        }
        guard merged || axes.first == .batch, dims.count == rank, perExample.filter({ $0 != .unit }).count == rank else {
            throw node.fail("input \"\(name)\" is a view (\(describe(axes))) that nncc cannot compute; "
                + "expected the batch first\(allowMerged ? " or merged into the first axis" : "")")
        }
        // A transposed view becomes a real transpose of the layer's result.
        var x = n
        if dims != Array(0..<rank) { x = add(.transpose(dims), inputs: [n], node) }
        let layout = ONNXLayout(node: x, merged: merged)
        if perExample.count == rank {
            values[name] = .tensor(node: x, axes: layout.axes(rank))
            return layout
        }
        let shape = try shapes()[x]
        var k = 0
        let sizes = perExample.map { a -> Int in
            if a == .unit { return 1 }
            k += 1
            return shape[k - 1]
        }
        guard sizes.count <= Limits.rank else {
            throw node.fail("input \"\(name)\" has \(sizes.count) dimensions besides the batch; nncc supports 1 to \(Limits.rank)")
        }
        let r = ONNXLayout(node: add(.reshape(sizes), inputs: [x], node), merged: merged)
        values[name] = .tensor(node: r.node, axes: r.axes(sizes.count))
        return r
    }

    func describe(_ axes: [ONNXAxis]) -> String {
        "(" + axes.map { a -> String in
            switch a {
            case .batch: return "batch"
            case .unit: return "1"
            case let .dim(k): return "d\(k)"
            case let .time(t): return "time \(t)"
            case let .batchTimes(k): return "batch·d\(k)"
            case let .batchInner(k): return "d\(k)·batch"
            }
        }.joined(separator: ", ") + ")"
    }

    /// Canonical axes of an IR node of per-example rank `rank`.
    static func plain(_ rank: Int) -> [ONNXAxis] { [.batch] + (0..<rank).map { .dim($0) } }

    // MARK: - Nodes and weights

    /// Appends an IR node. Layers with weights are named after their weight
    /// initializer (`layers.0.mod.weight` → `layers.0.mod`) so saved weights
    /// keep PyTorch's names; others get their node index.
    mutating func add(_ op: Op, inputs: [Int], _ node: ONNXNode, weightName: String? = nil) -> Int {
        var layer = String(nodes.count)
        if let w = weightName, w.hasSuffix(".weight") {
            let prefix = String(w.dropLast(".weight".count))
            if !prefix.isEmpty, !layerNames.contains(prefix), !prefix.contains("/") { layer = prefix }
        }
        while layerNames.contains(layer) { layer += "_" }
        layerNames.insert(layer)
        nodes.append(Node(name: layer, op: op, inputs: inputs, origin: node.origin))
        return nodes.count - 1
    }

    mutating func setWeight(_ layer: Int, _ param: String, _ t: Tensor, from source: String) {
        let key = "\(nodes[layer].name).\(param)"
        weights[key] = t
        weightSource[key] = source
    }

    /// Binds a node's output `i` to `v`; extra outputs nobody reads may be ignored.
    mutating func bind(_ node: ONNXNode, _ i: Int, _ v: ONNXValue) {
        if i < node.proto.output.count, !node.proto.output[i].isEmpty { values[node.proto.output[i]] = v }
    }

    /// Outputs from `from` on must be unused: the importer does not compute them.
    func rejectOutputs(_ node: ONNXNode, from: Int, what: String) throws {
        for o in node.proto.output.dropFirst(from) where uses[o, default: 0] > 0 {
            throw node.fail("output \"\(o)\" (\(what)) is used, but nncc does not compute it")
        }
    }

    // MARK: - Finish

    /// Binds the graph outputs, infers shapes and checks every weight
    /// against the parameter table.
    mutating func finish() throws -> ONNXImporter.Imported {
        var outs: [Int] = [], seen = Set<Int>()
        for (i, o) in proto.output.enumerated() {
            let at = ONNXNode(proto: Onnx_NodeProto.with { $0.opType = "output"; $0.name = o.name }, index: i, file: file)
            var n = try materialize(o.name, at)
            if n == 0 { n = add(.activation(.identity), inputs: [0], at) }
            guard seen.insert(n).inserted else { throw NNCCError(file: file, path: "graph.output", "output \"\(o.name)\" repeats another output") }
            outs.append(n)
        }
        var g = Graph(name: name, nodes: nodes, outputs: outs)
        g.outputNames = proto.output.map(\.name)
        g = try inferShapes(g.compacted(), file: file)
        var used = Set<String>()
        for p in g.params {
            guard let t = weights[p.name] else {
                throw NNCCError(file: file, path: p.name, "no initializer gives this parameter (shape \(p.shape))")
            }
            guard t.shape == p.shape else {
                throw NNCCError(file: file, path: "initializer \"\(weightSource[p.name] ?? p.name)\"",
                                "expected shape \(p.shape) for \(p.name), found \(t.shape)")
            }
            used.insert(p.name)
        }
        return .init(graph: g, weights: weights.filter { used.contains($0.key) })
    }
}
