import Foundation
import XCTest
@testable import NNCC

/// 1-D layers on [C, L] (conv1d, maxpool1d, avgpool1d, global_avgpool1d,
/// batchnorm) from JSON and ONNX: the IR they build, their shapes and
/// PyTorch-shaped parameters, and the errors of a layer given the wrong rank.
/// The golden fixtures conv1d_net, pool1d_modes and conv1d_wide check the
/// numbers (forward and a training step) against PyTorch.
final class Conv1DTests: XCTestCase, LayerJSONTesting {

    func assertError(_ layers: String, input: String, path: String, _ fragment: String,
                     file: StaticString = #filePath, line: UInt = #line) {
        assertLayerError(layers, input: input, path: path, fragment, file: file, line: line)
    }

    func testJSONLayersAreTheTwoDOpsOnOneRow() throws {
        let g = try graph(#"""
            {"type": "conv1d", "filters": 6, "kernel_size": 3, "stride": 2, "padding": [1], "dilation": 2, "groups": 2, "bias": false},
            {"type": "batchnorm"},
            {"type": "maxpool1d", "pool_size": 3, "stride": 2, "padding": 1, "ceil_mode": true},
            {"type": "avgpool1d", "pool_size": [2], "count_include_pad": false},
            {"type": "conv1d", "filters": 4, "kernel_size": 4, "padding": "same"},
            {"type": "global_avgpool1d"}
            """#, input: "[4, 29]")
        XCTAssertEqual(g.nodes[1].op, .conv2d(Conv2D(filters: 6, kernel: (1, 3), stride: (1, 2), padding: .explicit(0, 1),
                                                     dilation: (1, 2), groups: 2, bias: false, is1D: true)))
        XCTAssertEqual(g.nodes[3].op, .maxPool(Pool2D(size: (1, 3), stride: (1, 2), padding: (0, 1), ceilMode: true, is1D: true)))
        XCTAssertEqual(g.nodes[4].op, .avgPool(Pool2D(size: (1, 2), stride: (1, 2), padding: (0, 0), countIncludePad: false,
                                                      is1D: true)))
        // (29 + 2 - 2·2 - 1) / 2 + 1 = 14; ceil((14 + 2 - 3) / 2) + 1 = 8; 8 / 2 = 4; "same" keeps 4.
        XCTAssertEqual(g.nodes.map(\.shape), [[4, 29], [6, 14], [6, 14], [6, 8], [6, 4], [4, 4], [4]])
        guard case let .conv2d(same) = g.nodes[5].op else { return XCTFail() }
        XCTAssertTrue(same.pads == (0, 1, 0, 2), "\(same.pads)")  // PyTorch: the odd padding on the right
        // PyTorch's state_dict: Conv1d's weight is [F, C/g, k].
        XCTAssertEqual(g.params.map(\.name), ["0.weight", "1.weight", "1.bias", "1.running_mean", "1.running_var",
                                               "4.weight", "4.bias"])
        XCTAssertEqual(g.params.map(\.shape), [[6, 2, 3], [6], [6], [6], [6], [4, 6, 4], [4]])
        XCTAssertEqual(g.nodes.map(\.op.typeName), ["input", "conv1d", "batchnorm", "maxpool1d", "avgpool1d", "conv1d",
                                                   "global_avgpool2d"])
        XCTAssertTrue(printIR(g).contains("conv1d(filters=6, kernel=3, stride=2, pad=1,1, dilation=2, groups=2, bias=false)"),
                      printIR(g))
    }

    func testWrongRankAndTwoDSizesAreErrors() {
        assertError(#"{"type": "conv1d", "filters": 2, "kernel_size": 3}"#, input: "[3, 8, 8]", path: "layers[0]",
                    "expected a [C, L] input, found [3, 8, 8]")
        assertError(#"{"type": "conv2d", "filters": 2, "kernel_size": 3}"#, input: "[3, 8]", path: "layers[0]",
                    "expected a [C, H, W] input, found [3, 8]")
        assertError(#"{"type": "maxpool1d", "pool_size": 2}"#, input: "[3, 8, 8]", path: "layers[0]", "expected a [C, L] input")
        assertError(#"{"type": "avgpool2d", "pool_size": 2}"#, input: "[3, 8]", path: "layers[0]", "expected a [C, H, W] input")
        assertError(#"{"type": "conv1d", "filters": 2, "kernel_size": [3, 3]}"#, input: "[3, 8]", path: "layers[0].kernel_size",
                    "expected a positive integer or [a]")
        assertError(#"{"type": "conv1d", "filters": 2, "kernel_size": 3, "padding": "full"}"#, input: "[3, 8]",
                    path: "layers[0].padding", "[p]")
        assertError(#"{"type": "conv1d", "filters": 2, "kernel_size": 3, "stride": 0}"#, input: "[3, 8]",
                    path: "layers[0].stride", "positive integer")
        assertError(#"{"type": "maxpool1d", "pool_size": 2, "padding": 2}"#, input: "[3, 8]", path: "layers[0].padding",
                    "at most half of pool_size (2)")
        assertError(#"{"type": "conv1d", "filters": 2, "kernel_size": 9}"#, input: "[3, 8]", path: "layers[0]",
                    "larger than the padded input")
        assertError(#"{"type": "avgpool1d", "pool_size": 9}"#, input: "[3, 8]", path: "layers[0]", "leaves no output")
    }

    // MARK: - ONNX

    typealias O = ONNXImportTests

    func importing(_ nodes: [Onnx_NodeProto], inits: [Onnx_TensorProto] = [], input: [Int64?] = [nil, 4, 11]) throws
        -> ONNXImporter.Imported {
        try ONNXImporter.decode(O.model(nodes, inits: inits, input: input), file: "m.onnx", name: "m")
    }

    func testONNXRankThreeInputsImportAsOneDLayers() throws {
        let m = try importing([O.node("Conv", ["x", "c.weight"], ["c"], [O.ints("strides", [2]), O.ints("pads", [1, 1]),
                                                                        O.ints("dilations", [2]), O.ints("kernel_shape", [3])]),
                               O.node("Add", ["c", "b"], ["cb"]),
                               O.node("BatchNormalization", ["cb", "s", "t", "mu", "var"], ["n"]),
                               O.node("MaxPool", ["n"], ["p"], [O.ints("kernel_shape", [2]), O.ints("pads", [0, 1])]),
                               O.node("AveragePool", ["p"], ["a"], [O.ints("kernel_shape", [2]), O.ints("strides", [1])]),
                               O.node("GlobalAveragePool", ["a"], ["y"])],
                              inits: [O.floats("c.weight", [5, 4, 3]), O.floats("b", [5, 1]), O.floats("s", [5]),
                                      O.floats("t", [5]), O.floats("mu", [5]), O.floats("var", [5], [1, 1, 1, 1, 1])])
        let g = m.graph
        XCTAssertEqual(g.nodes[1].op, .conv2d(Conv2D(filters: 5, kernel: (1, 3), stride: (1, 2), padding: .explicit(0, 1),
                                                     dilation: (1, 2), groups: 1, bias: true, is1D: true)))
        XCTAssertEqual(g.nodes[3].op, .maxPool(Pool2D(size: (1, 2), stride: (1, 1), pads: (0, 0, 0, 1), is1D: true)))
        XCTAssertEqual(g.nodes[4].op, .avgPool(Pool2D(size: (1, 2), stride: (1, 1), padding: (0, 0), countIncludePad: false,
                                                      is1D: true)))
        XCTAssertEqual(g.nodes.map(\.shape), [[4, 11], [5, 5], [5, 5], [5, 5], [5, 4], [5], [5, 1]])  // the output keeps (N, C, 1)
        XCTAssertEqual(m.weights["c.weight"]?.shape, [5, 4, 3])
        XCTAssertEqual(g.params.first { $0.name == "c.weight" }?.shape, [5, 4, 3])
        XCTAssertEqual(m.weights["c.bias"]?.shape, [5])  // the Add of a [F, 1] constant is the bias
    }

    /// Uneven pads, and auto_pad SAME_* at a stride, pad one side more (the importer's shapes; the
    /// results against onnxruntime: GoldenTests.convPadsMatchONNXRuntime).
    func testONNXUnevenConvPads() throws {
        func conv(_ attrs: [Onnx_AttributeProto]) throws -> (Conv2D, [Int]) {
            let g = try importing([O.node("Conv", ["x", "c.weight"], ["y"], attrs)], inits: [O.floats("c.weight", [5, 4, 4])]).graph
            guard case let .conv2d(c) = g.nodes[1].op else { throw NNCCError("not a conv") }
            return (c, g.nodes[1].shape)
        }
        func string(_ name: String, _ v: String) -> Onnx_AttributeProto {
            Onnx_AttributeProto.with { $0.name = name; $0.type = .string; $0.s = Data(v.utf8) }
        }
        var (c, shape) = try conv([O.ints("pads", [2, 0])])
        XCTAssertTrue(c.padding == .asymmetric(0, 2, 0, 0) && shape == [5, 10], "\(c.padding) \(shape)")
        // 11 at stride 3: 4 outputs need 3·3 + 4 − 11 = 2 pads, one each side; SAME_LOWER at stride 2: 6 outputs need 3, 2 before.
        (c, shape) = try conv([string("auto_pad", "SAME_UPPER"), O.ints("strides", [3])])
        XCTAssertTrue(c.padding == .explicit(0, 1) && shape == [5, 4], "\(c.padding) \(shape)")
        (c, shape) = try conv([string("auto_pad", "SAME_LOWER"), O.ints("strides", [2])])
        XCTAssertTrue(c.padding == .asymmetric(0, 2, 0, 1) && shape == [5, 6], "\(c.padding) \(shape)")
    }

    func testONNXReduceMeanOverTheLength() throws {
        let m = try importing([O.node("ReduceMean", ["x"], ["y"], [O.ints("axes", [-1]),
                                                                   Onnx_AttributeProto.with { $0.name = "keepdims"; $0.type = .int; $0.i = 0 }])])
        XCTAssertEqual(m.graph.nodes.map(\.op), [.input, .globalAvgPool])
        XCTAssertEqual(m.graph.nodes.last?.shape, [4])
        let image = try importing([O.node("ReduceMean", ["x"], ["y"], [O.ints("axes", [3, -2])])], input: [nil, 4, 5, 6])
        XCTAssertEqual(image.graph.nodes[1].op, .globalAvgPool)
    }

    func testONNXOneDAttributeErrorsNameTheNode() {
        func fails(_ nodes: [Onnx_NodeProto], inits: [Onnx_TensorProto] = [], _ fragment: String, line: UInt = #line) {
            XCTAssertThrowsError(try importing(nodes, inits: inits), line: line) { e in
                XCTAssertTrue("\(e)".contains(fragment) && "\(e)".contains("m.onnx: graph.node[0]"), "\(e)", line: line)
            }
        }
        let w = O.floats("c.weight", [5, 4, 3])
        fails([O.node("Conv", ["x", "c.weight"], ["y"], [O.ints("pads", [1, 1, 1, 1])])], inits: [w], "expected two integers")
        fails([O.node("Conv", ["x", "c.weight"], ["y"], [O.ints("pads", [1])])], inits: [w], "expected two integers")
        fails([O.node("Conv", ["x", "c.weight"], ["y"], [O.ints("strides", [1, 1])])], inits: [w], "expected one integer")
        fails([O.node("Conv", ["x", "c.weight"], ["y"], [O.ints("kernel_shape", [1, 3])])], inits: [w], "kernel_shape")
        fails([O.node("Conv", ["x", "c.weight"], ["y"])], inits: [O.floats("c.weight", [5, 4, 1, 3])], "3 dimensions")
        fails([O.node("MaxPool", ["x"], ["y"], [O.ints("kernel_shape", [2, 2])])], "expected one integer")
        fails([O.node("AveragePool", ["x"], ["y"], [O.ints("kernel_shape", [2]), O.ints("pads", [2, 0])])], "larger than half")
    }
}
