import Foundation
import XCTest
@testable import NNCC

/// The commands of issue 14 that need no C compiler: summary, graph, and eval's refusals.
extension CLITests {
    func testSummaryAndGraphCommands() throws {
        let onnx = fixture("mlp_softmax_ce", "model.onnx")
        let s = try nncc(["summary", onnx, "--batch", "4"])
        XCTAssertEqual(s.status, 0, s.stderr)
        for f in ["output shape", "FLOPs/example", "dense", "arena: ", "bytes for batch 4"] { XCTAssertTrue(s.stdout.contains(f), s.stdout) }
        let dotFile = temp("g.dot")
        try expect(0, ["graph", model("dense_relu"), "-o", dotFile])
        XCTAssertTrue(try String(contentsOfFile: dotFile, encoding: .utf8).contains("+ relu (fused)"))
        let printed = try nncc(["graph", model("dense_relu")])
        XCTAssertTrue(printed.stdout.hasPrefix("digraph"), printed.stdout)
        try expect(2, ["graph", onnx, "-o", temp("g.txt")], stderr: ["-o", "expected a .dot, .gv, .svg, .png or .pdf file"])
        try FileManager.default.createSymbolicLink(atPath: temp("link.dot"), withDestinationPath: model("dense_relu"))
        try expect(2, ["graph", model("dense_relu"), "-o", temp("link.dot")], stderr: ["would overwrite the model"])
        // Without Graphviz an .svg is refused by name, and nothing is written.
        let empty = tmp.appendingPathComponent("empty-path")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        try expect(1, ["graph", onnx, "-o", temp("g.svg")], env: ["PATH": empty.path],
                   stderr: ["Graphviz `dot` is not installed", "apt-get install graphviz", "-o FILE.dot"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: temp("g.svg")))
        if GCC.which("dot") != nil {
            try expect(0, ["graph", onnx, "-o", temp("g.svg")])
            XCTAssertTrue(try String(contentsOfFile: temp("g.svg"), encoding: .utf8).contains("<svg"))
            XCTAssertEqual(listing(tmp).filter { $0.hasPrefix(".") }, [], "temporary files left behind")
        } else {
            print("note: Graphviz `dot` is not installed; nncc graph -o .svg was not run (.ci/run installs graphviz)")
        }
        for sub in ["summary", "graph"] {
            let help = try nncc([sub, "--help"])
            XCTAssertTrue(help.status == 0 && help.stdout.contains("USAGE"), help.stdout)
        }
        try expect(2, ["compile", onnx, "--grad-stats"], stderr: ["--grad-stats needs --train"])
        // --confusion is for classifiers.
        let regression = fixture("sigmoid_bce", "train.npz")
        try expect(2, ["eval", model("sigmoid_bce"), "--data", regression, "--confusion", temp("c.svg")],
                   stderr: ["--confusion needs a classifier"])
    }

    /// eval's per-class report and confusion matrix. The library is testONNXModels' `check` build
    /// (same file name, same options), so the class cache compiles it once for both.
    func testEvalReportsPerClass() throws {
        let onnx = temp("my-mlp.onnx")
        try FileManager.default.copyItem(atPath: fixture("mlp_softmax_ce", "model.onnx"), toPath: onnx)
        let r = try nncc(["eval", onnx, "--data", fixture("mlp_softmax_ce", "train.npz"), "--confusion", temp("c.svg")])
        XCTAssertEqual(r.status, 0, r.stderr)
        for f in ["accuracy ", "              precision    recall  f1-score   support", "   macro avg ", "weighted avg ", "wrote "] {
            XCTAssertTrue(r.stdout.contains(f), "eval printed: \(r.stdout)")
        }
        let svg = try String(contentsOfFile: temp("c.svg"), encoding: .utf8)
        XCTAssertTrue(svg.contains("my_mlp: confusion matrix") && svg.contains("of 6 on the diagonal"), svg)
        try expect(2, ["eval", onnx, "--data", fixture("mlp_softmax_ce", "train.npz"), "--confusion", onnx], stderr: ["would overwrite the model"])
    }
}
