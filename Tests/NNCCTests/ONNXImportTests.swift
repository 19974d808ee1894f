import Foundation
import XCTest
@testable import NNCC

/// The ONNX importer on its own (no gcc): what it builds from small
/// hand-made graphs, and that malformed, hostile or unsupported files are
/// errors that name the file and the node, never a crash. GoldenTests runs
/// PyTorch's exports end to end against y.npy.
final class ONNXImportTests: XCTestCase {
    // MARK: - Building test graphs

    static func floats(_ name: String, _ shape: [Int64], _ values: [Float]? = nil) -> Onnx_TensorProto {
        Onnx_TensorProto.with {
            $0.name = name
            $0.dims = shape
            $0.dataType = Int32(Onnx_TensorProto.DataType.float.rawValue)
            let n = Int(shape.reduce(1, *))
            $0.floatData = values ?? (0..<n).map { Float($0 % 7) * 0.125 - 0.25 }
        }
    }

    static func node(_ op: String, _ inputs: [String], _ outputs: [String], _ attrs: [Onnx_AttributeProto] = []) -> Onnx_NodeProto {
        Onnx_NodeProto.with {
            $0.opType = op
            $0.name = "/\(op)_\(outputs.first ?? "")"
            $0.input = inputs
            $0.output = outputs
            $0.attribute = attrs
        }
    }

    static func ints(_ name: String, _ v: [Int64]) -> Onnx_AttributeProto {
        Onnx_AttributeProto.with { $0.name = name; $0.type = .ints; $0.ints = v }
    }

    static func valueInfo(_ name: String, _ dims: [Int64?]) -> Onnx_ValueInfoProto {
        Onnx_ValueInfoProto.with {
            $0.name = name
            $0.type.tensorType.elemType = Int32(Onnx_TensorProto.DataType.float.rawValue)
            $0.type.tensorType.shape.dim = dims.map { d in
                Onnx_TensorShapeProto.Dimension.with { if let d { $0.dimValue = d } else { $0.dimParam = "batch" } }
            }
        }
    }

    /// A model with input "x" of shape `input` (nil: the batch) and output "y".
    static func model(_ nodes: [Onnx_NodeProto], inits: [Onnx_TensorProto] = [], input: [Int64?] = [nil, 4],
                      extraInputs: [Onnx_ValueInfoProto] = [], opset: Int64 = 17) -> Data {
        let m = Onnx_ModelProto.with {
            $0.irVersion = 8
            $0.opsetImport = [Onnx_OperatorSetIdProto.with { $0.version = opset }]
            $0.graph.node = nodes
            $0.graph.initializer = inits
            $0.graph.input = [valueInfo("x", input)] + extraInputs
            $0.graph.output = [valueInfo("y", [nil])]
        }
        return try! m.serializedData()
    }

    func importing(_ data: Data) throws -> ONNXImporter.Imported {
        try ONNXImporter.decode(data, file: "m.onnx", name: "m")
    }

    func assertError(_ data: Data, _ fragments: [String], file: StaticString = #filePath, line: UInt = #line) {
        do {
            _ = try importing(data)
            XCTFail("expected an error containing \(fragments)", file: file, line: line)
        } catch let e as NNCCError {
            XCTAssertEqual(e.file, "m.onnx", file: file, line: line)
            for f in fragments { XCTAssertTrue(e.description.contains(f), "\(e) lacks \"\(f)\"", file: file, line: line) }
        } catch {
            XCTFail("not an NNCCError: \(error)", file: file, line: line)
        }
    }

    // MARK: - What the importer builds

    func testMatMulAndAddBecomeOneDenseLayerWithBias() throws {
        let data = Self.model([Self.node("MatMul", ["x", "fc.weight"], ["h"]), Self.node("Add", ["h", "b"], ["z"]),
                               Self.node("Relu", ["z"], ["y"])],
                              inits: [Self.floats("fc.weight", [4, 3]), Self.floats("b", [3], [1, 2, 3])])
        let m = try importing(data)
        XCTAssertEqual(m.graph.nodes.map(\.op), [.input, .dense(units: 3, bias: true), .activation(.relu)])
        XCTAssertEqual(m.graph.params.map(\.name), ["fc.weight", "fc.bias"])
        // MatMul's [in, units] weight is stored as PyTorch's [units, in].
        let w = try XCTUnwrap(m.weights["fc.weight"])
        XCTAssertEqual(w.shape, [3, 4])
        XCTAssertEqual(w.data[1], Self.floats("", [4, 3]).floatData[3])
        XCTAssertEqual(m.weights["fc.bias"]?.data, [1, 2, 3])
        XCTAssertEqual(m.graph.outputNames, ["y"])
    }

    func testLSTMGatesAreReorderedToPyTorchsOrder() throws {
        // ONNX rows: gates i, o, f, c; PyTorch: i, f, g(=c), o. Gate k's rows hold the value k.
        let h: Int64 = 2, f: Int64 = 3
        let w = (0..<4).flatMap { k in [Float](repeating: Float(k), count: Int(h * f)) }
        let r = (0..<4).flatMap { k in [Float](repeating: Float(k), count: Int(h * h)) }
        let b = (0..<8).flatMap { k in [Float](repeating: Float(k), count: Int(h)) }
        let data = Self.model([Self.node("Transpose", ["x"], ["xt"], [Self.ints("perm", [1, 0, 2])]),
                               Self.node("LSTM", ["xt", "W", "R", "B"], ["", "yh"],
                                         [Onnx_AttributeProto.with { $0.name = "hidden_size"; $0.type = .int; $0.i = h }]),
                               Self.node("Squeeze", ["yh", "axes"], ["y"])],
                              inits: [Self.floats("W", [1, 4 * h, f], w), Self.floats("R", [1, 4 * h, h], r),
                                      Self.floats("B", [1, 8 * h], b),
                                      Onnx_TensorProto.with { $0.name = "axes"; $0.dims = [1]; $0.dataType = 7; $0.int64Data = [0] }],
                              input: [nil, 5, f])
        // (N, T, F) made time-major as PyTorch exports it; Y_h read, so only the last step is kept.
        let m = try importing(data)
        guard case let .recurrent(rec) = m.graph.nodes[1].op else { return XCTFail("\(m.graph.nodes[1].op)") }
        XCTAssertEqual(rec, Recurrent(cell: .lstm, units: 2, returnSequences: false))
        XCTAssertEqual(m.graph.input.shape, [5, 3])
        let name = m.graph.nodes[1].name
        let gateOf = { (t: Tensor?, per: Int) in stride(from: 0, to: t!.data.count, by: per).map { Int(t!.data[$0]) } }
        XCTAssertEqual(gateOf(m.weights["\(name).weight_ih_l0"], Int(h * f)), [0, 2, 3, 1])
        XCTAssertEqual(gateOf(m.weights["\(name).weight_hh_l0"], Int(h * h)), [0, 2, 3, 1])
        XCTAssertEqual(gateOf(m.weights["\(name).bias_ih_l0"], Int(h)), [0, 2, 3, 1])
        XCTAssertEqual(gateOf(m.weights["\(name).bias_hh_l0"], Int(h)), [4, 6, 7, 5])
    }

    func testElementwiseOpsTakeConstantsAndBroadcast() throws {
        let data = Self.model([Self.node("Sub", ["two", "x"], ["a"]),   // a scalar constant on the left
                               Self.node("Mul", ["a", "half"], ["b"]),  // a one-element tensor: a literal too
                               Self.node("Pow", ["b", "c"], ["d"]),     // [1, 4]: a frozen parameter
                               Self.node("Max", ["d", "a", "b"], ["e"]),  // three inputs fold left
                               Self.node("Add", ["e", "a"], ["f"]),     // same shapes: the n-ary add
                               Self.node("PRelu", ["f", "slope"], ["y"])],
                              inits: [Self.floats("two", [], [2]), Self.floats("half", [1], [0.5]),
                                      Self.floats("c", [1, 4], [1, 2, 3, 4]), Self.floats("slope", [4], [0.1, 0.2, 0.3, 0.4])])
        let m = try importing(data)
        XCTAssertEqual(m.graph.nodes.map(\.op), [
            .input, .binary(Binary(.sub, constant: .scalar(2), constantFirst: true)), .binary(Binary(.mul, constant: .scalar(0.5))),
            .binary(Binary(.pow, constant: .tensor([4]))), .binary(Binary(.maximum)), .binary(Binary(.maximum)), .add,
            .prelu(parameters: 4),
        ])
        let pow = m.graph.nodes[3].name
        XCTAssertEqual(m.weights["\(pow).constant"], Tensor(shape: [4], data: [1, 2, 3, 4]))
        XCTAssertEqual(m.graph.param("\(pow).constant")?.trainable, false)
        XCTAssertEqual(m.weights["\(m.graph.nodes[7].name).weight"]?.data, [0.1, 0.2, 0.3, 0.4])
        XCTAssertEqual(m.graph.nodes[7].shape, [4])
    }

    func testPReluWithASlopeAlongWidthIsAFrozenConstant() throws {
        let m = try importing(Self.model([Self.node("PRelu", ["x", "s"], ["y"])], inits: [Self.floats("s", [5])],
                                         input: [nil, 3, 4, 5]))
        XCTAssertEqual(m.graph.nodes[1].op, .binary(Binary(.prelu, constant: .tensor([5]))))
    }

    func testElementwiseErrorsNameTheNode() {
        assertError(Self.model([Self.node("Mul", ["x", "c"], ["y"])], inits: [Self.floats("c", [3, 4])]),
                    ["graph.node[0] (Mul", "broadcast over the batch"])
        assertError(Self.model([Self.node("Mul", ["x", "c"], ["y"])], inits: [Self.floats("c", [3])]),
                    ["graph.node[0] (Mul", "[4] and [3] do not broadcast"])
        assertError(Self.model([Self.node("Unsqueeze", ["x", "ax"], ["u"]), Self.node("Div", ["x", "u"], ["y"])],
                               inits: [Onnx_TensorProto.with { $0.name = "ax"; $0.dims = [1]; $0.dataType = 7; $0.int64Data = [1] }]),
                    ["graph.node[1] (Div", "different ranks"])
        assertError(Self.model([Self.node("Add", ["c", "c"], ["y"])], inits: [Self.floats("c", [4])]),
                    ["graph.node[0] (Add", "does not fold constant arithmetic"])
    }

    func testFileStemBecomesACIdentifier() {
        XCTAssertEqual(ONNXImporter.cIdentifier("resnet-18.v2"), "resnet_18_v2")
        XCTAssertEqual(ONNXImporter.cIdentifier("3net"), "_3net")
        XCTAssertEqual(ONNXImporter.cIdentifier(""), "model")
        XCTAssertEqual(ONNXImporter.cIdentifier(String(repeating: "é", count: 80)).count, 64)
    }

    // MARK: - Errors

    func testGarbageIsNotAModel() {
        assertError(Data("definitely not protobuf \u{1}\u{2}\u{3}".utf8), ["not a readable ONNX model"])
        assertError(Data(), ["expected an ONNX model with a graph"])
    }

    /// Damaged copies of real exports: each must import or fail with an NNCCError (a trap
    /// would end the test process). NNCC_FUZZ_ITERATIONS raises the 300 mutations per file.
    func testTruncatedAndMutatedFilesNeverCrash() throws {
        let files = ["lstm_last", "lenet_like"].map { FixtureKit.golden.appendingPathComponent("\($0)/model.onnx") }
            + ["gru_seq_dense", "dense_act_gelu", "concat_seq", "resblock", "reshape_img"].map {
                FixtureKit.torch.appendingPathComponent("\($0)/model.onnx")
            }
        let iterations = Int(ProcessInfo.processInfo.environment["NNCC_FUZZ_ITERATIONS"] ?? "") ?? 300
        var errors = 0, tries = 0, seed: UInt64 = 12345
        func next() -> Int {
            seed &+= 0x9E37_79B9_7F4A_7C15
            var z = seed
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return Int(truncatingIfNeeded: (z ^ (z >> 31)) >> 1)
        }
        for url in files {
            let good = try Data(contentsOf: url)
            XCTAssertNoThrow(try importing(good), url.path)
            for cut in stride(from: 1, to: good.count, by: max(1, good.count / 40)) {
                tries += 1
                do { _ = try importing(good.prefix(cut)) } catch is NNCCError { errors += 1 }
            }
            for _ in 0..<iterations {
                var bytes = [UInt8](good)
                for _ in 0..<(1 + next() % 4) { bytes[next() % bytes.count] = UInt8(truncatingIfNeeded: next()) }
                tries += 1
                do { _ = try importing(Data(bytes)) } catch is NNCCError { errors += 1 }
            }
        }
        XCTAssertGreaterThan(errors, tries / 10, "damaged files must be rejected (\(errors) of \(tries))")
    }

    func testUnsupportedOperatorNamesTheNode() {
        assertError(Self.model([Self.node("NonMaxSuppression", ["x", "x"], ["y"])]),
                    ["graph.node[0] (NonMaxSuppression \"/NonMaxSuppression_y\")", "operator NonMaxSuppression is not supported", "Gemm"])
        var custom = Self.node("Relu", ["x"], ["y"])
        custom.domain = "com.microsoft"
        assertError(Self.model([custom]), ["domain \"com.microsoft\""])
    }

    func testInitializerDataMustMatchItsShape() {
        var t = Self.floats("w", [3, 4])
        t.floatData = []
        t.rawData = Data(count: 10)
        assertError(Self.model([Self.node("Gemm", ["x", "w"], ["y"])], inits: [t]), ["\"w\"", "raw_data holds 10 bytes"])
        var huge = Self.floats("w", [1 << 20, 1 << 20], [])
        huge.floatData = []
        assertError(Self.model([Self.node("Gemm", ["x", "w"], ["y"])], inits: [huge]), ["too large"])
        var external = Self.floats("w", [3, 4])
        external.dataLocation = .external
        assertError(Self.model([Self.node("Gemm", ["x", "w"], ["y"])], inits: [external]), ["stored outside the file"])
    }

    func testWeightShapeMismatchNamesTheInitializer() {
        let data = Self.model([Self.node("Gemm", ["x", "fc.weight"], ["y"],
                                         [Onnx_AttributeProto.with { $0.name = "transB"; $0.type = .int; $0.i = 1 }])],
                              inits: [Self.floats("fc.weight", [3, 5])])
        assertError(data, ["initializer \"fc.weight\"", "expected shape [3, 4]", "found [3, 5]"])
    }

    func testInputsMustBeOneTensorWithFixedSizes() {
        assertError(Self.model([Self.node("Relu", ["x"], ["y"])], extraInputs: [Self.valueInfo("x2", [nil, 4])]),
                    ["exactly one input", "x2"])
        assertError(Self.model([Self.node("Relu", ["x"], ["y"])], input: [nil, nil]), ["dimension 1 must be a fixed"])
        assertError(Self.model([Self.node("Relu", ["x"], ["y"])], input: [nil, 1 << 20, 1 << 20, 1 << 20]),
                    ["too large"])
    }

    func testConvAndPoolLimits() {
        let w = Self.floats("c.weight", [2, 1, 3, 3])
        assertError(Self.model([Self.node("Conv", ["x", "c.weight"], ["y"], [Self.ints("pads", [1, 1, 0, 0])])],
                               inits: [w], input: [nil, 1, 8, 8]), ["asymmetric pads"])
        assertError(Self.model([Self.node("MaxPool", ["x"], ["y"], [Self.ints("kernel_shape", [2, 2]), Self.ints("pads", [2, 0, 0, 0])])],
                               input: [nil, 1, 8, 8]), ["larger than half the window"])
        assertError(Self.model([Self.node("AveragePool", ["x"], ["y"], [Self.ints("kernel_shape", [2, 2]), Self.ints("dilations", [2, 2])])],
                               input: [nil, 1, 8, 8]), ["dilated average pooling"])
        assertError(Self.model([Self.node("Conv", ["x", "c.weight"], ["y"])], inits: [w], input: [nil, 8]),
                    ["2-D convolutions"])
    }

    /// Pool windows as ONNX writes them: uneven pads, auto_pad, ceil_mode,
    /// dilations and count_include_pad reach the IR with PyTorch's output sizes.
    func testPoolAttributes() throws {
        func pool(_ op: String, _ attrs: [Onnx_AttributeProto], input: [Int64?] = [nil, 1, 8, 7]) throws -> (Pool2D, [Int]) {
            let m = try importing(Self.model([Self.node(op, ["x"], ["y"], [Self.ints("kernel_shape", [3, 3])] + attrs)], input: input))
            let node = try XCTUnwrap(m.graph.nodes.last)
            switch node.op {
            case let .maxPool(p), let .avgPool(p): return (p, try outputShape(node.op, [Array(input.dropFirst().map { Int($0!) })]) { NNCCError($0) })
            default: throw NNCCError("not a pool: \(node.op)")
            }
        }
        func int(_ name: String, _ v: Int64) -> Onnx_AttributeProto { Onnx_AttributeProto.with { $0.name = name; $0.type = .int; $0.i = v } }
        func string(_ name: String, _ v: String) -> Onnx_AttributeProto {
            Onnx_AttributeProto.with { $0.name = name; $0.type = .string; $0.s = Data(v.utf8) }
        }
        var (p, shape) = try pool("MaxPool", [Self.ints("pads", [1, 0, 0, 1]), Self.ints("strides", [2, 2]), int("ceil_mode", 1),
                                             Self.ints("dilations", [1, 2])])
        XCTAssertTrue(p.pads == (1, 0, 0, 1) && p.ceilMode && p.dilation == (1, 2) && p.countIncludePad)
        XCTAssertEqual(shape, [1, 4, 3])   // H: ceil((8 + 1 - 3) / 2) + 1; W: dilated window 5, ceil((7 + 1 - 5) / 2) + 1
        (p, shape) = try pool("AveragePool", [string("auto_pad", "SAME_LOWER"), Self.ints("strides", [2, 2])])
        XCTAssertTrue(p.pads == (1, 1, 0, 1) && !p.countIncludePad && !p.ceilMode)
        XCTAssertEqual(shape, [1, 4, 4])
        (p, shape) = try pool("AveragePool", [string("auto_pad", "SAME_UPPER"), int("count_include_pad", 1)])
        XCTAssertTrue(p.pads == (1, 1, 1, 1) && p.countIncludePad)
        XCTAssertEqual(shape, [1, 8, 7])
    }

    func testNormalizationsBecomeNormLayers() throws {
        func int(_ name: String, _ v: Int64) -> Onnx_AttributeProto { Onnx_AttributeProto.with { $0.name = name; $0.type = .int; $0.i = v } }
        let eps = Onnx_AttributeProto.with { $0.name = "epsilon"; $0.type = .float; $0.f = 1e-3 }
        // LayerNormalization over the last two axes, without B (its Mean output unread); InstanceNormalization.
        let m = try importing(Self.model([Self.node("LayerNormalization", ["x", "ln.weight"], ["a", "mean"], [int("axis", -2), eps]),
                                          Self.node("InstanceNormalization", ["a", "s", "b"], ["y"])],
                                         inits: [Self.floats("ln.weight", [3, 4]), Self.floats("s", [3]), Self.floats("b", [3])],
                                         input: [nil, 3, 4]))
        XCTAssertEqual(m.graph.nodes.map(\.op), [.input, .norm(Norm(.layer(normalizedShape: [3, 4]), eps: 1e-3, bias: false)),
                                                 .norm(Norm(.instance))])
        XCTAssertEqual(m.graph.params.map(\.name), ["ln.weight", "2.weight", "2.bias"])
        XCTAssertEqual(m.weights["ln.weight"]?.shape, [3, 4])
        // GroupNormalization: one scale per group before opset 21, repeated over the group's channels.
        let group = [Self.node("GroupNormalization", ["x", "s", "b"], ["y"], [int("num_groups", 2)])]
        let g18 = try importing(Self.model(group, inits: [Self.floats("s", [2], [3, 5]), Self.floats("b", [2], [1, 2])],
                                           input: [nil, 4, 5], opset: 18))
        XCTAssertEqual(g18.graph.nodes[1].op, .norm(Norm(.group(2))))
        XCTAssertEqual(g18.weights["1.weight"]?.data, [3, 3, 5, 5])
        XCTAssertEqual(g18.weights["1.bias"]?.data, [1, 1, 2, 2])
        let g21 = try importing(Self.model(group, inits: [Self.floats("s", [4], [1, 2, 3, 4]), Self.floats("b", [4])],
                                           input: [nil, 4, 5], opset: 21))
        XCTAssertEqual(g21.weights["1.weight"]?.data, [1, 2, 3, 4])
        assertError(Self.model(group, inits: [Self.floats("s", [4]), Self.floats("b", [4])], input: [nil, 4, 5], opset: 18),
                    ["graph.node[0] (GroupNormalization", "one per group, [2]"])
        assertError(Self.model([Self.node("LayerNormalization", ["x", "w"], ["y"], [int("axis", 0)])], inits: [Self.floats("w", [4])]),
                    ["graph.node[0] (LayerNormalization", "axis 0 of a rank-2 input would take statistics across the batch; expected 1 or -1"])
        assertError(Self.model([Self.node("LayerNormalization", ["x", "w"], ["a", "mean"]), Self.node("Add", ["a", "mean"], ["y"])],
                               inits: [Self.floats("w", [4])]),
                    ["graph.node[0] (LayerNormalization", "Mean and InvStdDev"])
        assertError(Self.model([Self.node("LayerNormalization", ["x", "w"], ["y"])], inits: [Self.floats("w", [3])]),
                    ["graph.node[0] (LayerNormalization", "input scale has shape [3], expected [4]"])
    }

    func testTransposedViewsAndSoftmaxAxis() {
        assertError(Self.model([Self.node("Transpose", ["x"], ["t"], [Self.ints("perm", [0, 2, 1])]),
                                Self.node("Relu", ["t"], ["r"]), Self.node("Flatten", ["r"], ["y"])],
                               input: [nil, 3, 4]), ["transposed view"])
        assertError(Self.model([Self.node("Softmax", ["x"], ["y"], [Onnx_AttributeProto.with { $0.name = "axis"; $0.type = .int; $0.i = 1 }])],
                               input: [nil, 3, 4]), ["last axis only"])
    }
}
