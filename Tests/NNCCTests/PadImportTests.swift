import Foundation
import XCTest
@testable import NNCC

/// ONNX Pad of each opset form, a rank-1 model input, Sign and Shrink, ScatterND folding, and the errors of bad pads.
extension ONNXImportTests {
    func testPadOfEveryOpsetAndItsErrors() throws {
        func pad(_ inputs: [String], _ attrs: [Onnx_AttributeProto] = [], inits: [Onnx_TensorProto] = [], opset: Int64 = 17) -> Data {
            Self.model([Self.node("Pad", inputs, ["y"], attrs)], inits: inits, input: [nil, 2, 5, 6], opset: opset)
        }
        func mode(_ m: String) -> Onnx_AttributeProto { Onnx_AttributeProto.with { $0.name = "mode"; $0.type = .string; $0.s = Data(m.utf8) } }
        // Opset 11+: pads as an input, begins then ends over (N, C, H, W); negative crops.
        var m = try importing(pad(["x", "p"], [mode("reflect")], inits: [Self.int64s("p", [0, 0, 1, 2, 0, 0, 3, -1])]))
        XCTAssertEqual(m.graph.nodes.last?.op, .pad(PadSpec(mode: .reflect, begin: [0, 1, 2], end: [0, 3, -1])))
        XCTAssertEqual(m.graph.nodes.last?.shape, [2, 9, 7])
        // Opset 18: axes, and constant_value.
        m = try importing(pad(["x", "p", "v", "a"], inits: [Self.int64s("p", [1, 2]), Self.floats("v", [], [2.5]), Self.int64s("a", [-1])],
                              opset: 18))
        XCTAssertEqual(m.graph.nodes.last?.op, .pad(PadSpec(mode: .constant, value: 2.5, begin: [0, 0, 1], end: [0, 0, 2])))
        // Opset 6: attributes.
        m = try importing(pad(["x"], [mode("edge"), Self.ints("pads", [0, 1, 0, 0, 0, 0, 0, 4]), Self.float("value", 0)], opset: 6))
        XCTAssertEqual(m.graph.nodes.last?.op, .pad(PadSpec(mode: .edge, begin: [1, 0, 0], end: [0, 0, 4])))
        m = try importing(pad(["x", "p"], [mode("wrap")], inits: [Self.int64s("p", [0, 0, 0, 7, 0, 0, 0, 0])], opset: 19))
        XCTAssertEqual(m.graph.nodes.last?.shape, [2, 5, 13])

        assertError(pad(["x", "p"], inits: [Self.int64s("p", [1, 0, 0, 0, 0, 0, 0, 0])]), ["Pad", "on the batch axis"])
        assertError(pad(["x", "p"], [mode("mirror")], inits: [Self.int64s("p", [0, 0, 0, 1, 0, 0, 0, 1])]), ["attribute mode", "mirror"])
        assertError(pad(["x", "p"], inits: [Self.int64s("p", [0, 1, 0, 1])]), ["pads has 4 values; expected 8"])
        assertError(pad(["x", "p"], inits: [Self.int64s("p", [0, 0, 0, 1 << 40, 0, 0, 0, 0])]), ["exceed"])
        assertError(pad(["x", "p"], inits: [Self.int64s("p", [0, 0, 0, 1 << 23, 0, 0, 1 << 23, 0])]), ["too large"])
        assertError(pad(["x", "p"], [mode("reflect")], inits: [Self.int64s("p", [0, 0, 0, 6, 0, 0, 0, 0])]), ["must be smaller than its size 6"])
        assertError(pad(["x", "p"], inits: [Self.int64s("p", [0, 0, 0, -3, 0, 0, 0, -3])]), ["crop all 6 elements"])
        assertError(pad(["x", "p", "", "a"], inits: [Self.int64s("p", [1, 1]), Self.int64s("a", [3])], opset: 17), ["axes needs opset 18"])
    }

    /// A rank-1 input (N,) is one value per example: Sign and Shrink of it keep that shape.
    func testRankOneInputAndSignShrink() throws {
        let shrink = Self.node("Shrink", ["s"], ["y"], [Self.float("lambd", 1.5), Self.float("bias", 0.5)])
        let m = try importing(Self.model([Self.node("Sign", ["x"], ["s"]), shrink], input: [nil]))
        XCTAssertEqual(m.graph.nodes.map(\.op), [.input, .activation(.sign), .activation(.shrink(lambd: 1.5, bias: 0.5))])
        XCTAssertEqual(m.graph.nodes.map(\.shape), [[1], [1], [1]])
        assertError(Self.model([Self.node("Shrink", ["x"], ["y"], [Self.float("lambd", -1)])], input: [nil]), ["lambd"])
    }

    /// ScatterND of constants folds (swin_v2's `qkv_bias[C:2C].zero_()`).
    func testScatterNDOfConstantsFolds() throws {
        let idx = Onnx_TensorProto.with { $0.name = "i"; $0.dims = [1, 1]; $0.dataType = 7; $0.int64Data = [-2] }
        let nodes = [Self.node("ScatterND", ["b", "i", "u"], ["b2"]), Self.node("Mul", ["x", "b2"], ["y"])]
        let m = try importing(Self.model(nodes, inits: [Self.floats("b", [4], [1, 2, 3, 4]), idx, Self.floats("u", [1], [9])]))
        XCTAssertEqual(m.weights.values.first?.data, [1, 2, 9, 4])
        let bad = Onnx_TensorProto.with { $0.name = "i"; $0.dims = [1, 1]; $0.dataType = 7; $0.int64Data = [4] }
        assertError(Self.model(nodes, inits: [Self.floats("b", [4], [1, 2, 3, 4]), bad, Self.floats("u", [1], [9])]), ["ScatterND", "out of range"])
    }
}

/// The JSON pad layers' errors name the layer and the field.
extension ShapeTests {
    func testPadLayerErrors() {
        assertShapeError(#"{"type": "pad", "pad": [1, 1, 1, 1, 1, 1]}"#, input: "[3, 8]", path: "layers[0]",
                         "3 pairs of pads for 2 axes per example; the batch (dim 0) cannot be padded")
        assertShapeError(#"{"type": "pad", "pad": [8, 0], "mode": "reflect"}"#, input: "[3, 8]", path: "layers[0]",
                         "must be smaller than its size 8")
        assertShapeError(#"{"type": "pad", "pad": [1, 2, 3]}"#, input: "[3, 8]", path: "layers[0].pad", "pairs from the last dim backward")
        assertShapeError(#"{"type": "pad", "pad": [1, 2], "mode": "mirror"}"#, input: "[3, 8]", path: "layers[0].mode", "mirror")
        assertShapeError(#"{"type": "pad", "pad": [1, 2], "mode": "reflect", "value": 1}"#, input: "[3, 8]", path: "layers[0].value",
                         "only mode \"constant\"")
        assertShapeError(#"{"type": "pad", "pad": [1, 99999999999]}"#, input: "[3, 8]", path: "layers[0].pad[1]", "at most 2^24")
        assertShapeError(#"{"type": "pad", "pad": [16777216, 16777216, 16777216, 0]}"#, input: "[3, 8]", path: "layers[0]", "too large")
        assertShapeError(#"{"type": "zeropad2d", "padding": [1, 2]}"#, input: "[3, 8, 8]", path: "layers[0].padding",
                         "[left, right, top, bottom]")
        assertShapeError(#"{"type": "reflectionpad1d", "padding": 2, "value": 1}"#, input: "[3, 8]", path: "layers[0].value", "unknown key")
    }
}

extension TrainSanitizerTests {
    /// Pad of every mode (row copies, borders, cropping) forward and backward under ASan/UBSan, no allocation per step.
    func testPad() {
        check(FixtureKit.torch, "pad_image")
        check(FixtureKit.torch, "pad_seq")
    }
}
