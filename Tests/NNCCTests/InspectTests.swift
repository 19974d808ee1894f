import Foundation
import XCTest
@testable import NNCC

/// `nncc summary` and `nncc graph` on the compiled graph; no C compiler runs.
final class InspectTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let golden = root.appendingPathComponent("Tests/NNCCTests/Fixtures/golden")

    /// The C and manifest `nncc compile` would write (everything but gcc), and the graph they come from.
    func compiled(_ path: String, _ options: CompileOptions = CompileOptions()) throws -> (manifest: [String: Any], graph: Graph) {
        let model = try Pipeline.load(path)
        let (lib, g) = try Pipeline.generate(model, options: options)
        let text = Manifest.json(g, lib: lib, model: model, options: options, gcc: [],
                                 compiler: Compiler(path: "gcc", family: .gcc, versionText: "gcc (no compiler runs here)", major: 12))
        return (try XCTUnwrap(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]), g)
    }

    /// The summary's rows add up to what compile reports: parameter floats (a folded batchnorm's and the
    /// running statistics included), FLOPs per example and the planned arena. JSON and ONNX models, and
    /// layers lowered to many nodes (attention).
    func testSummaryTotalsEqualCompile() throws {
        let attention = FileManager.default.temporaryDirectory.appendingPathComponent("nncc-summary-\(UUID().uuidString).json")
        defer { try? FileManager.default.removeItem(at: attention) }
        try Data(#"""
            {"format": 1, "name": "attention", "input": {"shape": [4, 8]}, "layers": [
             {"type": "multihead_attention", "embed_dim": 8, "num_heads": 2, "name": "mha"},
             {"type": "transformer_encoder_layer", "d_model": 8, "nhead": 2, "dim_feedforward": 6, "name": "enc", "dropout": 0},
             {"type": "flatten"}, {"type": "dense", "units": 3}]}
            """#.utf8).write(to: attention)
        let models = ["examples/cnn_bn.json", "examples/lstm.json", "examples/digits_cnn.json"].map { Self.root.appendingPathComponent($0).path }
            + [Self.golden.appendingPathComponent("mlp_softmax_ce/model.onnx").path, attention.path]
        for path in models {
            for options in [CompileOptions(), CompileOptions(maxBatch: 8)] {
                let (manifest, g) = try compiled(path, options)
                let s = ModelSummary(g)
                let params = try XCTUnwrap(manifest["params"] as? [[String: Any]]).map { ($0["shape"] as! [Int]).reduce(1, *) }
                XCTAssertEqual(s.params, params.reduce(0, +), path)
                XCTAssertEqual(s.rows.map(\.params).reduce(0, +), params.reduce(0, +), path)
                XCTAssertEqual(s.flops, manifest["flops_per_example"] as? Int, path)
                XCTAssertEqual(s.rows.map(\.flops).reduce(0, +), manifest["flops_per_example"] as? Int, path)
                XCTAssertEqual(s.arenaBytes, manifest["arena_bytes"] as? Int, path)
                XCTAssertEqual(s.maxBatch, manifest["max_batch"] as? Int, path)
                XCTAssertTrue(s.text.contains("arena: \(s.arenaBytes) bytes for batch \(s.maxBatch)"), s.text)
            }
        }
    }

    /// One row per node after folding and fusion: cnn_bn's convs carry their batchnorm (its four tensors
    /// counted with the conv) and relu; the flatten is a view with no memory of its own.
    func testSummaryRows() throws {
        let g = try compiled(Self.root.appendingPathComponent("examples/cnn_bn.json").path).graph
        let s = ModelSummary(g)
        XCTAssertEqual(s.rows.count, g.nodes.count)
        let conv = try XCTUnwrap(s.rows.first { $0.type.hasPrefix("conv2d") })
        XCTAssertEqual(conv.type, "conv2d+batchnorm(1)+relu")
        XCTAssertEqual(conv.params, 32 * 3 * 9 + 4 * 32)
        XCTAssertEqual(conv.flops, 2 * 32 * 32 * 32 * 3 * 9)
        XCTAssertEqual(conv.activationBytes, 32 * 32 * 32 * 4)
        XCTAssertEqual(s.rows.first { $0.type == "reshape" }?.activationBytes, 0)
        XCTAssertEqual(s.trainableParams, s.params - 4 * (32 + 32 + 64 + 64) / 2)
        XCTAssertTrue(s.text.contains("1,117,546 floats"), s.text)
    }

    /// The DOT names every node, puts fused activations and folded batchnorms inside, labels each edge
    /// with its shape, and escapes quotes; Graphviz's `dot` parses it.
    func testGraphDot() throws {
        var (_, g) = try compiled(Self.root.appendingPathComponent("examples/cnn_bn.json").path)
        g.nodes[1].name = "conv \"one\"\\"
        let text = GraphDot.dot(g)
        for f in ["digraph \"cnn_bn\" {", "+ relu (fused)", "+ batchnorm 1 (folded)", "n0 -> n1 [label=\"[3, 32, 32]\"]",
                  "-> out0 [label=\"[10]\"]", "conv \\\"one\\\"\\\\\\n"] {
            XCTAssertTrue(text.contains(f), "DOT lacks \(f):\n\(text)")
        }
        XCTAssertEqual(text.components(separatedBy: " -> ").count - 1, g.nodes.reduce(0) { $0 + $1.inputs.count } + g.outputs.count)
        try assertDotParses(text)
        // An ONNX model with a softmax output.
        try assertDotParses(GraphDot.dot(try compiled(Self.golden.appendingPathComponent("mlp_softmax_ce/model.onnx").path).graph))
    }

    func assertDotParses(_ text: String, file: StaticString = #filePath, line: UInt = #line) throws {
        guard let dot = GCC.which("dot") else {
            print("note: Graphviz `dot` is not installed; the DOT was not parsed (.ci/run installs graphviz)")
            return
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: dot)
        p.arguments = ["-Tsvg"]
        let input = Pipe(), output = Pipe(), errors = Pipe()
        (p.standardInput, p.standardOutput, p.standardError) = (input, output, errors)
        try p.run()
        input.fileHandleForWriting.write(Data(text.utf8))
        try input.fileHandleForWriting.close()
        let svg = output.fileHandleForReading.readDataToEndOfFile()
        let err = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0, "dot refused the DOT: \(err)", file: file, line: line)
        XCTAssertTrue(err.isEmpty, "dot warned: \(err)", file: file, line: line)
        XCTAssertTrue(String(decoding: svg, as: UTF8.self).contains("<svg"), file: file, line: line)
    }
}
