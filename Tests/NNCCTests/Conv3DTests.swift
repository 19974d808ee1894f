import Foundation
import XCTest
@testable import NNCC

/// 3-D layers on [C, D, H, W] (conv3d, maxpool3d, avgpool3d, global_avgpool3d, batchnorm) from
/// JSON: the IR they build (the 2-D ops with a depth axis), their shapes and PyTorch-shaped
/// parameters, and the errors of bad fields. The fixture conv3d_net checks the numbers (forward,
/// a training step, the ONNX export) against PyTorch; ONNXImportTests the ONNX attributes.
final class Conv3DTests: XCTestCase, LayerJSONTesting {

    func assertError(_ layers: String, input: String = "[2, 5, 6, 7]", path: String, _ fragment: String,
                     file: StaticString = #filePath, line: UInt = #line) {
        assertLayerError(layers, input: input, path: path, fragment, file: file, line: line)
    }

    func testJSONLayersAreTheTwoDOpsWithADepthAxis() throws {
        let g = try graph(#"""
            {"type": "conv3d", "filters": 6, "kernel_size": [3, 2, 3], "stride": [1, 2, 1], "padding": [1, 0, 2],
             "dilation": [2, 1, 1], "groups": 2, "bias": false},
            {"type": "batchnorm"},
            {"type": "maxpool3d", "pool_size": [2, 3, 2], "stride": 2, "padding": [1, 1, 0], "dilation": [1, 1, 2], "ceil_mode": true},
            {"type": "conv3d", "filters": 5, "kernel_size": [2, 3, 4], "padding": "same"},
            {"type": "avgpool3d", "pool_size": 2, "stride": [1, 2, 2], "padding": 1, "count_include_pad": false},
            {"type": "global_avgpool3d"}
            """#, input: "[4, 7, 9, 8]")
        var conv = Conv2D(filters: 6, kernel: (2, 3), stride: (2, 1), padding: .explicit(0, 2), dilation: (1, 1), groups: 2, bias: false)
        conv.depth = DepthAxis(kernel: 3, stride: 1, padFront: 1, padBack: 1, dilation: 2)
        XCTAssertEqual(g.nodes[1].op, .conv2d(conv))
        var pool = Pool2D(size: (3, 2), stride: (2, 2), padding: (1, 0), dilation: (1, 2), ceilMode: true)
        pool.depth = DepthAxis(kernel: 2, stride: 2, padFront: 1, padBack: 1)
        XCTAssertEqual(g.nodes[3].op, .maxPool(pool))
        guard case let .conv2d(same) = g.nodes[4].op else { return XCTFail() }
        // PyTorch's "same": the odd padding after, on every axis.
        XCTAssertTrue(same.depth == DepthAxis(kernel: 2, padFront: 0, padBack: 1) && same.pads == (1, 1, 1, 2), "\(same)")
        XCTAssertEqual(g.nodes.map(\.shape), [[4, 7, 9, 8], [6, 5, 4, 10], [6, 5, 4, 10], [6, 3, 3, 5], [5, 3, 3, 5], [5, 4, 2, 3], [5]])
        // PyTorch's state_dict: Conv3d's weight is [F, C/g, kd, kh, kw].
        XCTAssertEqual(g.params.map(\.shape), [[6, 2, 3, 2, 3], [6], [6], [6], [6], [5, 6, 2, 3, 4], [5]])
        XCTAssertEqual(g.nodes.map(\.op.typeName), ["input", "conv3d", "batchnorm", "maxpool3d", "conv3d", "avgpool3d",
                                                   "global_avgpool2d"])
        XCTAssertTrue(printIR(g).contains("conv3d(filters=6, kernel=3x2x3, stride=1x2x1, pad=1,0,2,1,0,2, dilation=2x1x1, groups=2, bias=false)"),
                      printIR(g))
    }

    func testBadFieldsAndRanksAreErrors() {
        assertError(#"{"type": "conv3d", "filters": 2, "kernel_size": 3}"#, input: "[3, 8, 8]", path: "layers[0]",
                    "expected a [C, D, H, W] input, found [3, 8, 8]")
        assertError(#"{"type": "conv2d", "filters": 2, "kernel_size": 3}"#, path: "layers[0]", "expected a [C, H, W] input")
        assertError(#"{"type": "maxpool3d", "pool_size": 2}"#, input: "[3, 8, 8]", path: "layers[0]", "expected a [C, D, H, W] input")
        assertError(#"{"type": "conv3d", "filters": 2, "kernel_size": [3, 3]}"#, path: "layers[0].kernel_size",
                    "expected a positive integer or [d, h, w]")
        assertError(#"{"type": "conv3d", "filters": 2, "kernel_size": [3, 0, 3]}"#, path: "layers[0].kernel_size", "positive integer")
        assertError(#"{"type": "conv3d", "filters": 2, "kernel_size": 3, "padding": "full"}"#, path: "layers[0].padding", "[pd, ph, pw]")
        assertError(#"{"type": "conv3d", "filters": 2, "kernel_size": 3, "stride": 2, "padding": "same"}"#, path: "layers[0]",
                    "padding \"same\" needs stride 1")
        assertError(#"{"type": "conv3d", "filters": 3, "kernel_size": 1, "groups": 2}"#, path: "layers[0]", "groups 2 must divide")
        assertError(#"{"type": "conv3d", "filters": 2, "kernel_size": [7, 1, 1]}"#, path: "layers[0]", "larger than the padded input")
        assertError(#"{"type": "maxpool3d", "pool_size": 2, "padding": [2, 0, 0]}"#, path: "layers[0].padding",
                    "at most half of pool_size (2, 2, 2)")
        assertError(#"{"type": "avgpool3d", "pool_size": 2, "dilation": 2}"#, path: "layers[0].dilation", "unknown key")
        assertError(#"{"type": "avgpool3d", "pool_size": [6, 1, 1]}"#, path: "layers[0]", "leaves no output")
        assertError(#"{"type": "conv3d", "filters": 4, "kernel_size": 9}"#, input: "[16, 64, 64, 64]", path: "layers[0]", "im2col of shape")
    }
}
