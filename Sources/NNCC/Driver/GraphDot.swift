import Foundation

/// `nncc graph`: the compiled graph (after folding and fusion) as Graphviz DOT, one box per
/// node with its op, its folded batchnorm and its fused activation inside, each edge labelled
/// with the shape of the tensor it carries (per example); rendered with Graphviz `dot`.
public enum GraphDot {
    public static func dot(_ g: Graph) -> String {
        var s = """
            digraph \(quote(g.name)) {
              graph [rankdir=TB, fontname="Helvetica", label=\(quote("\(g.name): input \(shapeText(g.input.shape)), \(flopsPerExample(g)) FLOPs per example")), labelloc=t];
              node [shape=box, style="rounded,filled", fillcolor="#eef3fa", color="#1f5fa8", fontname="Helvetica", fontsize=11];
              edge [fontname="Helvetica", fontsize=9, color="#555555"];

            """
        for (i, n) in g.nodes.enumerated() {
            var lines = i == 0 ? [n.name == "input" ? "input" : "\(n.name) (input)"] : [n.name, describe(n.op)]
            if let bn = n.foldedBatchNorm { lines.append("+ batchnorm \(bn.name) (folded)") }
            if let act = n.epilogue { lines.append("+ \(act.name) (fused)") }
            var attributes = "label=\(quote(lines.joined(separator: "\n")))"
            if i == 0 { attributes += ", shape=ellipse, fillcolor=\"#f3f3f3\"" }
            if case .view = n.storage { attributes += ", style=\"rounded,dashed\"" }
            if g.outputs.contains(i) { attributes += ", peripheries=2" }
            s += "  n\(i) [\(attributes)];\n"
        }
        for (i, n) in g.nodes.enumerated() {
            for j in n.inputs { s += "  n\(j) -> n\(i) [label=\(quote(shapeText(g.nodes[j].shape)))];\n" }
        }
        for (k, o) in g.outputs.enumerated() {
            s += "  out\(k) [label=\(quote(g.outputs.count == 1 ? "output" : "output \(k)")), shape=plaintext, style=\"\"];\n"
            s += "  n\(o) -> out\(k) [label=\(quote(shapeText(g.nodes[o].shape)))];\n"
        }
        return s + "}\n"
    }

    /// A DOT string: quotes and backslashes escaped, newlines as DOT's centred line break.
    static func quote(_ s: String) -> String {
        "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n") + "\""
    }

    /// The formats `dot` renders for `-o`, by file extension.
    public static let renderedFormats = ["svg", "png", "pdf"]

    /// Renders `source` with Graphviz `dot -T<format>` into `path` (temporary file, then rename).
    public static func render(_ source: String, format: String, to path: String) throws {
        guard let dot = GCC.which("dot") else {
            throw NNCCError(file: path, "Graphviz `dot` is not installed, so the graph cannot be rendered as .\(format); "
                + "install it (apt-get install graphviz), or write DOT text with -o FILE.dot")
        }
        try AtomicFile.replace(path) { tmp in
            let input = tmp + ".dot"
            try Interrupt.removingOnInterrupt([input]) {
                defer { try? FileManager.default.removeItem(atPath: input) }
                try AtomicFile.write(Data(source.utf8), to: input)
                let r = try GCC.capture([dot, "-T\(format)", "-o", tmp, input])
                guard r.status == 0 else { throw NNCCError(file: path, "dot failed (exit \(r.status)): \(r.output)") }
            }
        }
    }
}
