import Foundation

/// `nncc summary`: one row per node of the compiled graph (after folding and fusion), like
/// torchinfo's summary, with totals that are the figures `nncc compile` prints and writes in
/// the manifest: parameter floats, FLOPs per example and the planned arena.
public struct ModelSummary {
    public struct Row: Equatable {
        public var index: Int
        public var name: String
        /// The op, with a folded batchnorm and a fused activation: `conv2d+batchnorm+relu`.
        public var type: String
        public var shape: [Int]
        /// Floats of the parameters the layer owns (a folded batchnorm's included).
        public var params: Int
        public var flops: Int
        /// Bytes of the result per example; a view (reshape, flatten) and the input take none of their own.
        public var activationBytes: Int
    }

    public var name: String
    public var rows: [Row]
    public var params: Int
    public var trainableParams: Int
    public var flops: Int
    public var activationBytes: Int
    /// The arena after memory planning shares buffers whose lifetimes do not overlap; for `maxBatch`.
    public var arenaBytes: Int
    public var maxBatch: Int

    /// `g` is a lowered graph (Pipeline.lower), as compile builds it.
    public init(_ g: Graph) {
        var owned = Set<String>()
        rows = g.nodes.indices.map { i in
            let n = g.nodes[i]
            let layers = [n.name] + (n.foldedBatchNorm.map { [$0.name] } ?? [])
            // The first node of a layer lowered to several nodes of one name takes its parameters.
            let mine = g.params.filter { layers.contains($0.layer) && !owned.contains($0.name) }
            owned.formUnion(mine.map(\.name))
            var type = n.op.typeName
            if let bn = n.foldedBatchNorm { type += "+batchnorm(\(bn.name))" }
            if let act = n.epilogue { type += "+\(act.name)" }
            let stored: Bool
            switch n.storage { case .arena, .unplanned: stored = i != 0; case .input, .view: stored = false }
            return Row(index: i, name: n.name, type: type, shape: n.shape, params: mine.reduce(0) { $0 + $1.size },
                       flops: flopsPerExample(g, node: i), activationBytes: stored ? n.size * 4 : 0)
        }
        // Parameters no node names as its own (a layer lowered to nodes of other names) still count.
        let rest = g.params.filter { !owned.contains($0.name) }
        if !rest.isEmpty {
            rows.append(Row(index: -1, name: rest.map(\.layer).first ?? "", type: "(other parameters)", shape: [],
                            params: rest.reduce(0) { $0 + $1.size }, flops: 0, activationBytes: 0))
        }
        name = g.name
        params = rows.reduce(0) { $0 + $1.params }
        trainableParams = g.params.filter(\.trainable).reduce(0) { $0 + $1.size }
        flops = rows.reduce(0) { $0 + $1.flops }
        activationBytes = rows.reduce(0) { $0 + $1.activationBytes }
        arenaBytes = g.arenaFloats * 4
        maxBatch = g.maxBatch
    }

    /// A table with a column per figure, then the totals.
    public var text: String {
        let header = ["#", "layer", "type", "output shape", "params", "FLOPs/example", "activations"]
        let body = rows.map { r in
            [r.index < 0 ? "" : String(r.index), r.name, r.type, r.index < 0 ? "" : shapeText(r.shape), Self.grouped(r.params),
             Self.grouped(r.flops), Self.bytes(r.activationBytes)]
        }
        let widths = header.indices.map { c in ([header] + body).map { $0[c].count }.max() ?? 0 }
        // Numbers right-aligned, text left-aligned.
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { c, s in
                let pad = String(repeating: " ", count: widths[c] - s.count)
                return (c == 0 || c >= 4) ? pad + s : s + pad
            }.joined(separator: "  ").replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression)
        }
        let rule = String(repeating: "-", count: widths.reduce(0, +) + 2 * (widths.count - 1))
        var s = "\(name)\n" + line(header) + "\n" + rule + "\n" + body.map { line($0) + "\n" }.joined() + rule + "\n"
        s += "parameters: \(Self.grouped(params)) floats (\(Self.bytes(params * 4)))"
        if trainableParams != params { s += ", \(Self.grouped(trainableParams)) trainable" }
        s += "\nFLOPs per example: \(Self.grouped(flops)) (a multiply-add counts two)\n"
        s += "activations per example: \(Self.bytes(activationBytes)) (every result)\n"
        s += "arena: \(arenaBytes) bytes for batch \(maxBatch) (after memory planning shares buffers)\n"
        return s
    }

    static func grouped(_ v: Int) -> String {
        let digits = String(v)
        return String(digits.reversed().enumerated().map { $0.offset > 0 && $0.offset % 3 == 0 ? [",", $0.element] : [$0.element] }
            .joined().reversed())
    }

    static func bytes(_ b: Int) -> String {
        if b < 1024 { return "\(b) B" }
        if b < 1 << 20 { return String(format: "%.1f KiB", Double(b) / 1024) }
        return String(format: "%.1f MiB", Double(b) / Double(1 << 20))
    }
}
