import Foundation
import XCTest
@testable import NNCC

/// `nncc check-grad` and `--custom-op` through the executable (docs/custom-ops.md). Two gcc builds:
/// the check-grad harness of Fixtures/custom/gradcheck (every custom layer of the model in one
/// library, so the passing and the failing layer share it), and swish.onnx's library.
extension CLITests {
    static let custom = testsDir.appendingPathComponent("Fixtures/custom")
    func custom(_ path: String) -> String { Self.custom.appendingPathComponent(path).path }

    /// The user's gradients of Fixtures/custom/ops pass, in both forms; swish_grad_wrong (the
    /// x·(1 − s) term dropped) is flagged with its worst point.
    func testCheckGradPassesCorrectBackwardsAndFlagsAWrongOne() throws {
        let m = custom("gradcheck/model.json")
        for (layer, form) in [("swish", "elementwise"), ("movavg", "array")] {
            let r = try nncc(["check-grad", m, "--layer", layer])
            XCTAssertEqual(r.status, 0, "\(layer): \(r.stderr)")
            XCTAssertTrue(r.stdout.hasPrefix("ok: custom layer \"\(layer)\"") && r.stdout.contains(form)
                          && r.stdout.contains("<= tolerance 0.01"), r.stdout)
        }
        try expect(1, ["check-grad", m, "--layer", "swish_wrong"], stderr: [
            "mismatch: custom layer \"swish_wrong\" (swish_grad_wrong against swish, elementwise): worst relative error",
            "> tolerance 0.01 at x = ", "points out of tolerance"])
        // A looser tolerance is the user's to choose; the same harness, from the cache.
        try expect(0, ["check-grad", m, "--layer", "swish_wrong", "--tolerance", "10"])
        // Layers check-grad cannot check: before any compile.
        try expect(1, ["check-grad", m, "--layer", "nope"],
                   stderr: ["--layer: no layer named \"nope\"; its custom layers: swish, swish_wrong, movavg, no_backward"])
        try expect(1, ["check-grad", m, "--layer", "d"], stderr: ["layer \"d\" is a dense layer; check-grad checks the backward of a custom C layer"])
        try expect(1, ["check-grad", m, "--layer", "no_backward"], stderr: ["custom layer \"no_backward\" has no \"backward\" function to check"])
        try expect(2, ["check-grad", m, "--layer", "swish", "--tolerance", "0"], stderr: ["--tolerance must be a finite number > 0"])
        try expect(2, ["check-grad", m])
    }

    /// swish.onnx (scripts/make_custom_onnx.py): Gemm, a com.example::Swish node, Gemm; mapped to
    /// ops/swish.c it gives PyTorch's Linear → SiLU → Linear outputs of the JSON swish fixture.
    func testCustomOpRunsAnONNXNode() throws {
        let onnx = custom("swish.onnx"), x = custom("swish/x.npy"), y = custom("swish/y.npy")
        let map = "com.example::Swish=\(custom("ops/swish.c")):swish:swish_grad"
        try expect(0, ["check", onnx, "--custom-op", map, "--input", x, "--expect", y, "--atol", "1e-4", "--rtol", "1e-3"])
        try expect(1, ["ir", onnx], stderr: [onnx, "graph.node[1] (Swish \"act\"): operator domain \"com.example\" is not supported",
                                             "map com.example::Swish to a C function with --custom-op"])
        try expect(1, ["ir", onnx, "--custom-op", "com.example::Swish=\(custom("ops/swish.c")):swish_grad"],
                   stderr: ["graph.node[1] (Swish \"act\"): --custom-op com.example::Swish: ", "swish.c:9:7: 'swish_grad' takes 3 parameters"])
        try expect(2, ["ir", onnx, "--custom-op", "com.example::Swish=swish.c"],
                   stderr: ["--custom-op: 'com.example::Swish=swish.c': expected the C file, the forward function"])
        try expect(2, ["ir", custom("swish/model.json"), "--custom-op", map], stderr: ["--custom-op applies to ONNX models"])
        // The mapped layer is fused into the Gemm before it, like the JSON model's.
        let ir = try nncc(["ir", onnx, "--custom-op", map])
        XCTAssertTrue(ir.stdout.contains("dense(units=8) %0 + custom swish"), ir.stdout)
    }
}
