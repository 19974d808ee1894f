import ArgumentParser
import Foundation
import NNCC

struct Summary: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Per layer of the compiled graph: type, output shape, parameters, FLOPs and activation memory per example.",
        discussion: "Totals are the figures `nncc compile` prints for the same options (no C compiler is run).")

    @Argument(help: "Model description (.json) or ONNX file (.onnx).") var model: String
    @OptionGroup var build: BuildFlags<CompileBatch>

    func run() throws {
        let loaded = try Pipeline.load(model)
        let g: Graph
        do { g = try Pipeline.lower(loaded.graph, options: try build.options()) } catch let e as NNCCError { throw e.inFile(model) }
        print(ModelSummary(g).text, terminator: "")
    }
}

struct GraphCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "graph",
        abstract: "Draw the compiled graph (after folding and fusion) with Graphviz: shapes on the edges, fused activations in the nodes.")

    @Argument(help: "Model description (.json) or ONNX file (.onnx).") var model: String
    @Option(name: .shortAndLong, help: ArgumentHelp(
        "Output file: .dot or .gv writes Graphviz DOT text; .svg, .png or .pdf renders it with Graphviz `dot` (default: DOT on stdout).",
        valueName: "file")) var output: String?
    @OptionGroup var build: BuildFlags<CompileBatch>
    @OptionGroup var overwrite: OverwriteFlags

    func validate() throws {
        guard let output else { return }
        let ext = URL(fileURLWithPath: output).pathExtension.lowercased()
        guard ["dot", "gv"].contains(ext) || GraphDot.renderedFormats.contains(ext) else {
            throw ValidationError("-o \(output): expected a .dot, .gv, .svg, .png or .pdf file")
        }
    }

    func run() throws {
        let loaded = try Pipeline.load(model)
        try overwrite.check(inputs: [("the model", model)], outputs: [("-o", output)])
        let g: Graph
        do { g = try Pipeline.lower(loaded.graph, options: try build.options()) } catch let e as NNCCError { throw e.inFile(model) }
        let source = GraphDot.dot(g)
        guard let output else { return print(source, terminator: "") }
        let ext = URL(fileURLWithPath: output).pathExtension.lowercased()
        if GraphDot.renderedFormats.contains(ext) {
            try GraphDot.render(source, format: ext, to: output)
        } else {
            try AtomicFile.write(Data(source.utf8), to: output)
        }
        print("wrote \(output)")
    }
}
