import Foundation
import Testing
@testable import NNCC
import NNCCRuntime

/// `--custom-op` (ONNX nodes as custom C layers) and check-grad's error measure, without gcc:
/// the option's syntax, the import of a custom-domain node in both forms, and the errors naming the node.
@Suite struct CustomOpMappingTests {
    static let ops = CustomOpTests.dir.appendingPathComponent("ops", isDirectory: true)
    static let movingAverage = ops.appendingPathComponent("moving_average.c").path

    @Test func optionSyntax() throws {
        let m = try CustomOpMapping.parse("com.example::MovAvg=ops/m.c:moving_average:moving_average_grad:shape=4,10")
        #expect(m == CustomOpMapping(domain: "com.example", opType: "MovAvg", source: "ops/m.c", forward: "moving_average",
                                     backward: "moving_average_grad", shape: [4, 10]))
        let standard = try CustomOpMapping.parse("::Erf=erf.c:my_erf")
        #expect(standard.domain == "" && standard.backward == nil && standard.shape == nil)
        #expect(try CustomOpMapping.parseAll(["::Erf=a.c:f", "ai.onnx::Celu=a.c:g"]).count == 2)
    }

    @Test(arguments: [
        ("Swish", "no '='"),
        ("Swish=a.c:f", "must be DOMAIN::OpType"),
        ("d::=a.c:f", "is not an operator type"),
        ("d::Op=a.c", "expected the C file, the forward function"),
        ("d::Op=:f", "expected the C file, the forward function"),
        ("d::Op=a.c:f:g:h", "expected the C file, the forward function"),
        ("d::Op=a.c:2f", "'2f' is not a C function name"),
        ("d::Op=a.c:f:shape=4,0", "shape= takes 1 to 6 positive integers"),
        ("d::Op=a.c:f:shape=", "shape= takes 1 to 6 positive integers"),
    ])
    func malformedOptionsNameTheOptionAndTheForm(_ c: (String, String)) {
        let e = #expect(throws: NNCCError.self) { try CustomOpMapping.parse(c.0) }
        #expect(e?.path == "--custom-op")
        #expect(e?.message.contains(c.1) == true, "\(String(describing: e))")
        #expect(e?.message.contains("DOMAIN::OpType=file.c:function[:backward][:shape=D0,D1,...]") == true)
    }

    @Test func anOperatorMappedTwiceIsAnError() {
        let e = #expect(throws: NNCCError.self) { try CustomOpMapping.parseAll(["::Erf=a.c:f", "ai.onnx::Erf=b.c:g"]) }
        #expect(e?.message == "ai.onnx::Erf is mapped twice")
    }

    /// (N, 3, 12) -> com.example::MovAvg -> y, the output declared `output` (nil: batch).
    func movingAverageModel(output: [Int64?]) throws -> Data {
        var node = ONNXImportTests.node("MovAvg", ["x"], ["y"])
        node.name = "avg"
        node.domain = "com.example"
        let m = Onnx_ModelProto.with {
            $0.irVersion = 8
            $0.opsetImport = [Onnx_OperatorSetIdProto.with { $0.version = 17 }]
            $0.graph.node = [node]
            $0.graph.input = [ONNXImportTests.valueInfo("x", [nil, 3, 12])]
            $0.graph.output = [ONNXImportTests.valueInfo("y", output)]
        }
        return try m.serializedData()
    }

    func importing(_ data: Data, _ specs: [String]) throws -> Graph {
        try ONNXImporter.decode(data, file: "m.onnx", name: "m", customOps: try CustomOpMapping.parseAll(specs)).graph
    }

    /// The array form's result shape from `shape=`, else from the graph's declared output.
    @Test func arrayFormTakesItsShapeFromTheOptionOrTheGraph() throws {
        let spec = "com.example::MovAvg=\(Self.movingAverage):moving_average:moving_average_grad"
        let fromOption = try importing(try movingAverageModel(output: [nil]), [spec + ":shape=3,10"])
        #expect(fromOption.nodes.map(\.shape) == [[3, 12], [3, 10]])
        guard case let .custom(c) = fromOption.nodes[1].op else { Issue.record("not custom: \(fromOption.nodes[1].op)"); return }
        #expect(c.form == .array(dims: 2) && c.cBackward != nil)
        let fromGraph = try importing(try movingAverageModel(output: [nil, 3, 10]), [spec])
        #expect(fromGraph.nodes.map(\.shape) == [[3, 12], [3, 10]])
    }

    @Test func errorsNameTheNode() throws {
        let data = try movingAverageModel(output: [nil])
        let unmapped = #expect(throws: NNCCError.self) { try importing(data, []) }
        #expect(unmapped?.description == "m.onnx: graph.node[0] (MovAvg \"avg\"): operator domain \"com.example\" is not supported "
            + "(only the standard ONNX operators); map com.example::MovAvg to a C function with --custom-op (docs/custom-ops.md)")
        let wrongFunction = #expect(throws: NNCCError.self) {
            try importing(data, ["com.example::MovAvg=\(Self.movingAverage):moving_avg"])
        }
        #expect(wrongFunction?.path == "graph.node[0] (MovAvg \"avg\")")
        #expect(wrongFunction?.message.contains("--custom-op com.example::MovAvg: \(Self.movingAverage):1:1: no definition of the "
            + "forward function 'moving_avg'; the file defines moving_average, moving_average_grad") == true,
            "\(String(describing: wrongFunction))")
        let missing = #expect(throws: NNCCError.self) { try importing(data, ["com.example::MovAvg=/nonexistent/m.c:f"]) }
        #expect(missing?.description.contains("graph.node[0] (MovAvg \"avg\"): --custom-op com.example::MovAvg: /nonexistent/m.c") == true)
        let unsupported = #expect(throws: NNCCError.self) {
            try importing(ONNXImportTests.model([ONNXImportTests.node("Hardmax", ["x"], ["y"])]), [])
        }
        #expect(unsupported?.message.contains("or map ::Hardmax to a C function with --custom-op") == true)
    }

    /// check-grad's measure: relative where the gradient is large, absolute at 1% of the layer's
    /// largest value where it nearly vanishes, infinite for a value that is not finite.
    @Test func gradientErrorMeasure() {
        let e = GradCheck.errors(analytic: [2.0, 1e-6, 0.0, 1.0, .nan], numeric: [2.02, 0.0, 0.0, 1.0, 1.0])
        #expect(abs(e[0] - 0.02 / 2.02) < 1e-12)
        #expect(abs(e[1] - 1e-6 / (0.01 * 2.02)) < 1e-12, "the floor, not 1e-6 itself")
        #expect(e[2] == 0 && e[3] == 0)
        #expect(e[4] == .infinity)
    }
}
