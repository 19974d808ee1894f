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

    static func int(_ name: String, _ v: Int64) -> Onnx_AttributeProto {
        Onnx_AttributeProto.with { $0.name = name; $0.type = .int; $0.i = v }
    }

    static func float(_ name: String, _ v: Float) -> Onnx_AttributeProto {
        Onnx_AttributeProto.with { $0.name = name; $0.type = .float; $0.f = v }
    }

    /// An int64 initializer; `scalar` gives it no dimensions.
    static func int64s(_ name: String, _ v: [Int64], scalar: Bool = false) -> Onnx_TensorProto {
        Onnx_TensorProto.with { $0.name = name; $0.dims = scalar ? [] : [Int64(v.count)]; $0.dataType = 7; $0.int64Data = v }
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
        // Constant arithmetic is folded at import; a graph output that is a constant is refused.
        assertError(Self.model([Self.node("Add", ["c", "c"], ["y"])], inits: [Self.floats("c", [4])]),
                    ["output \"y\"", "expected a tensor computed from the model input"])
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
        assertError(Self.model([Self.node("Conv", ["x", "c.weight"], ["y"], [Self.ints("pads", [1, 1, 0])])],
                               inits: [w], input: [nil, 1, 8, 8]), ["pads: expected four integers"])
        assertError(Self.model([Self.node("MaxPool", ["x"], ["y"], [Self.ints("kernel_shape", [2, 2]), Self.ints("pads", [2, 0, 0, 0])])],
                               input: [nil, 1, 8, 8]), ["larger than half the window"])
        assertError(Self.model([Self.node("AveragePool", ["x"], ["y"], [Self.ints("kernel_shape", [2, 2]), Self.ints("dilations", [2, 2])])],
                               input: [nil, 1, 8, 8]), ["dilated average pooling"])
        assertError(Self.model([Self.node("Conv", ["x", "c.weight"], ["y"])], inits: [w], input: [nil, 8]),
                    ["3-D convolutions"])
    }

    /// 3-D windows as ONNX writes them: six pads (uneven ones too), auto_pad at any stride, ceil_mode, dilations;
    /// a bad attribute names the node.
    func testConv3DAndPool3DAttributes() throws {
        func string(_ name: String, _ v: String) -> Onnx_AttributeProto {
            Onnx_AttributeProto.with { $0.name = name; $0.type = .string; $0.s = Data(v.utf8) }
        }
        func layer(_ op: String, _ attrs: [Onnx_AttributeProto], weight: [Int64]? = nil) throws -> (Op, [Int]) {
            let inits = weight.map { [Self.floats("c.weight", $0)] } ?? []
            let m = try importing(Self.model([Self.node(op, ["x"] + (weight == nil ? [] : ["c.weight"]), ["y"], attrs)],
                                             inits: inits, input: [nil, 3, 5, 7, 6]))
            let op = try XCTUnwrap(m.graph.nodes.last).op
            return (op, try outputShape(op, [[3, 5, 7, 6]]) { NNCCError($0) })
        }
        var (op, shape) = try layer("Conv", [Self.ints("pads", [1, 0, 2, 0, 1, 1]), Self.ints("strides", [2, 1, 2])], weight: [4, 3, 2, 3, 2])
        guard case let .conv2d(c) = op else { return XCTFail("not a conv: \(op)") }
        XCTAssertTrue(c.depth == DepthAxis(kernel: 2, stride: 2, padFront: 1, padBack: 0) && c.pads == (0, 2, 1, 1) && c.stride == (1, 2))
        XCTAssertEqual(op.typeName, "conv3d")
        XCTAssertEqual(shape, [4, 3, 6, 4])
        // SAME_LOWER at stride 2: output ceil(n / 2), the odd pad before.
        (op, shape) = try layer("Conv", [string("auto_pad", "SAME_LOWER"), Self.ints("strides", [2, 2, 1])], weight: [4, 3, 2, 3, 2])
        guard case let .conv2d(c2) = op else { return XCTFail("not a conv: \(op)") }
        XCTAssertTrue(c2.depth == DepthAxis(kernel: 2, stride: 2, padFront: 1, padBack: 0) && c2.pads == (1, 1, 1, 0))
        XCTAssertEqual(shape, [4, 3, 4, 6])
        (op, shape) = try layer("MaxPool", [Self.ints("kernel_shape", [2, 2, 3]), Self.ints("dilations", [2, 1, 2]),
                                            Self.ints("pads", [1, 1, 0, 0, 1, 2]), Self.ints("strides", [2, 3, 2]),
                                            Onnx_AttributeProto.with { $0.name = "ceil_mode"; $0.type = .int; $0.i = 1 }])
        guard case let .maxPool(p) = op else { return XCTFail("not a max pool: \(op)") }
        XCTAssertTrue(p.depth == DepthAxis(kernel: 2, stride: 2, padFront: 1, padBack: 0, dilation: 2) && p.pads == (1, 0, 1, 2) && p.ceilMode)
        XCTAssertEqual(shape, [3, 3, 3, 3])
        (op, shape) = try layer("AveragePool", [Self.ints("kernel_shape", [3, 2, 3]), string("auto_pad", "SAME_UPPER")])
        guard case let .avgPool(a) = op else { return XCTFail("not an average pool: \(op)") }
        XCTAssertTrue(a.depth == DepthAxis(kernel: 3, padFront: 1, padBack: 1) && a.pads == (0, 1, 1, 1) && !a.countIncludePad)
        XCTAssertEqual(shape, [3, 5, 7, 6])
        let x5: [Int64?] = [nil, 3, 5, 7, 6]
        assertError(Self.model([Self.node("MaxPool", ["x"], ["y"], [Self.ints("kernel_shape", [2, 2])])], input: x5),
                    ["graph.node[0] (MaxPool", "kernel_shape: expected three integers"])
        assertError(Self.model([Self.node("AveragePool", ["x"], ["y"], [Self.ints("kernel_shape", [2, 2, 2]), Self.ints("pads", [1, 1, 1])])],
                               input: x5), ["graph.node[0] (AveragePool", "pads: expected six integers"])
        assertError(Self.model([Self.node("MaxPool", ["x"], ["y"], [Self.ints("kernel_shape", [2, 2, 2]), Self.ints("pads", [2, 0, 0, 0, 0, 0])])],
                               input: x5), ["larger than half the window"])
        assertError(Self.model([Self.node("Conv", ["x", "c.weight"], ["y"], [Self.ints("strides", [1, 0, 1])])],
                               inits: [Self.floats("c.weight", [4, 3, 2, 2, 2])], input: x5),
                    ["graph.node[0] (Conv", "strides: expected three integers"])
        assertError(Self.model([Self.node("Conv", ["x", "c.weight"], ["y"], [string("auto_pad", "SAME")])],
                               inits: [Self.floats("c.weight", [4, 3, 2, 2, 2])], input: x5), ["auto_pad \"SAME\""])
        assertError(Self.model([Self.node("Conv", ["x", "c.weight"], ["y"])], inits: [Self.floats("c.weight", [4, 3, 2, 2])], input: x5),
                    ["graph.node[0] (Conv"])
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

    func testTensorOpsMapOntoSelectReduceAndMatMul() throws {
        // x (N, 3, 4, 5): Slice with a step, Gather of one index (the axis goes), Tile, ReduceMax over
        // two axes, a MatMul of two results and a Split into two parts.
        let m = try importing(Self.model([
            Self.node("Slice", ["x", "st", "en", "ax", "sp"], ["s"]),                  // (N, 3, 2, 5): rows 0 and 2
            Self.node("Gather", ["s", "i"], ["g"], [Self.int("axis", 1)]),              // (N, 2, 5)
            Self.node("Tile", ["g", "rep"], ["t"]),                                     // (N, 2, 10)
            Self.node("Transpose", ["t"], ["tt"], [Self.ints("perm", [0, 2, 1])]),      // (N, 10, 2)
            Self.node("MatMul", ["tt", "g"], ["mm"]),                                    // (N, 10, 5)
            Self.node("ReduceMax", ["mm"], ["r"], [Self.ints("axes", [-1]), Self.int("keepdims", 0)]),  // (N, 10)
            Self.node("Split", ["r"], ["y", "z"], [Self.int("axis", 1), Self.ints("split", [4, 6])]),
        ], inits: [Self.int64s("st", [0]), Self.int64s("en", [Int64.max]), Self.int64s("ax", [2]), Self.int64s("sp", [2]),
                   Self.int64s("i", [-1], scalar: true), Self.int64s("rep", [1, 1, 2])], input: [nil, 3, 4, 5], opset: 12))
        XCTAssertEqual(m.graph.nodes.map(\.op), [
            .input, .select([.range(start: 0, step: 1, count: 3), .range(start: 0, step: 2, count: 2), .range(start: 0, step: 1, count: 5)]),
            .select([.range(start: 2, step: 1, count: 1), .range(start: 0, step: 1, count: 2), .range(start: 0, step: 1, count: 5)]),
            .reshape([2, 5]), .select([.range(start: 0, step: 1, count: 2), .list([0, 1, 2, 3, 4, 0, 1, 2, 3, 4])]),
            .transpose([1, 0]), .matmul(constant: nil), .reduce(Reduction(.max, axes: [1], keepDims: false)),
            .select([.range(start: 0, step: 1, count: 4)]),
        ])
        XCTAssertEqual(m.graph.nodes.last?.shape, [4])
        assertError(Self.model([Self.node("ReduceSum", ["x", "a"], ["y"])], inits: [Self.int64s("a", [0])], input: [nil, 3, 4]),
                    ["graph.node[0] (ReduceSum", "axes 0 is the batch axis"])
        assertError(Self.model([Self.node("Slice", ["x", "st", "en", "ax"], ["y"])],
                               inits: [Self.int64s("st", [1]), Self.int64s("en", [2]), Self.int64s("ax", [0])], input: [nil, 3, 4]),
                    ["graph.node[0] (Slice", "slicing the batch axis"])
    }

    func testMatMulAndActivationsOfConstantsFold() throws {
        // swin_v2's relative position bias: an MLP on a constant table, folded at import.
        let m = try importing(Self.model([Self.node("MatMul", ["a", "b"], ["ab"]), Self.node("Relu", ["ab"], ["r"]),
                                          Self.node("Add", ["x", "r"], ["y"])],
                                         inits: [Self.floats("a", [1, 2, 3], [1, -2, 3, 4, 5, -6]), Self.floats("b", [3, 2], [1, 0, 0, 1, 1, 1])],
                                         input: [nil, 2, 2]))
        XCTAssertEqual(m.graph.nodes.map(\.op), [.input, .binary(Binary(.add, constant: .tensor([2, 2])))])
        XCTAssertEqual(m.weights["\(m.graph.nodes[1].name).constant"]?.data, [4, 1, 0, 0])   // [[4, 1], [-2, -1]] after relu
    }

    func testGatherNDAndPowOfConstantsFold() throws {
        // swin_v2's dynamo export reads its relative position table with GatherND.
        let idx = Onnx_TensorProto.with { $0.name = "i"; $0.dims = [2, 2]; $0.dataType = 7; $0.int64Data = [1, 0, 0, -1] }
        let m = try importing(Self.model([Self.node("GatherND", ["t", "i"], ["g"]), Self.node("Add", ["x", "g"], ["y"])],
                                         inits: [Self.floats("t", [2, 3], [1, 2, 3, 4, 5, 6]), idx], input: [nil, 2]))
        XCTAssertEqual(m.weights["\(m.graph.nodes[1].name).constant"]?.data, [4, 3])
        let rows = Onnx_TensorProto.with { $0.name = "i"; $0.dims = [1, 1]; $0.dataType = 7; $0.int64Data = [1] }
        let r = try importing(Self.model([Self.node("GatherND", ["t", "i"], ["g"]), Self.node("Add", ["x", "g"], ["y"])],
                                         inits: [Self.floats("t", [2, 3], [1, 2, 3, 4, 5, 6]), rows], input: [nil, 1, 3]))
        XCTAssertEqual(r.weights["\(r.graph.nodes[1].name).constant"]?.data, [4, 5, 6])
        let bad = Onnx_TensorProto.with { $0.name = "i"; $0.dims = [1, 2]; $0.dataType = 7; $0.int64Data = [2, 0] }
        assertError(Self.model([Self.node("GatherND", ["t", "i"], ["g"]), Self.node("Add", ["x", "g"], ["y"])],
                               inits: [Self.floats("t", [2, 3]), bad], input: [nil, 1]),
                    ["graph.node[0] (GatherND", "index 2 out of range for 2 elements"])
        // Pow of a float base by an integer exponent (swin's legacy export).
        let two = Onnx_TensorProto.with { $0.name = "e"; $0.dims = []; $0.dataType = 7; $0.int64Data = [2] }
        let p = try importing(Self.model([Self.node("Pow", ["t", "e"], ["g"]), Self.node("Add", ["x", "g"], ["y"])],
                                         inits: [Self.floats("t", [2], [3, -1.5]), two], input: [nil, 2]))
        XCTAssertEqual(p.weights["\(p.graph.nodes[1].name).constant"]?.data, [9, 2.25])
    }

    func testGatherOfIndexTensors() throws {
        func ints(_ name: String, _ dims: [Int64], _ v: [Int64]) -> Onnx_TensorProto {
            Onnx_TensorProto.with { $0.name = name; $0.dims = dims; $0.dataType = 7; $0.int64Data = v }
        }
        // Indices of rank 2 replace the axis; on a batch-1 file flattened with its batch, a leading 1 is the batch.
        var m = try importing(Self.model([Self.node("Gather", ["x", "i"], ["y"], [Self.int("axis", 1)])],
                                         inits: [ints("i", [2, 2], [0, 1, 4, -1])], input: [nil, 5]))
        XCTAssertEqual(m.graph.nodes.map(\.op), [.input, .select([.list([0, 1, 4, 4])]), .reshape([2, 2])])
        m = try importing(Self.model([Self.node("Reshape", ["x", "flat"], ["f"]), Self.node("Gather", ["f", "i"], ["y"])],
                                     inits: [Self.int64s("flat", [-1]), ints("i", [1, 4, 1], [3, 2, 1, 0])], input: [1, 4]))
        XCTAssertEqual(m.graph.nodes.map(\.op), [.input, .select([.list([3, 2, 1, 0])]), .reshape([4, 1])])
    }

    /// nn.Embedding's export, Cast of the input to INT64 then Gather of the weight's rows, is an embedding
    /// named after its weight; a cast that anything else reads, or rows of a 1-D table, stay errors.
    func testCastAndGatherOfATableIsAnEmbedding() throws {
        let m = try importing(Self.model([Self.node("Cast", ["x"], ["ids"], [Self.int("to", 7)]),
                                          Self.node("Gather", ["emb.weight", "ids"], ["y"])],
                                         inits: [Self.floats("emb.weight", [9, 3])], input: [nil, 5]))
        XCTAssertEqual(m.graph.nodes.map(\.op), [.input, .embedding(Embedding(count: 9, dim: 3))])
        XCTAssertEqual(m.graph.nodes[1].shape, [5, 3])
        XCTAssertEqual(m.weights["emb.weight"]?.shape, [9, 3])
        assertError(Self.model([Self.node("Cast", ["x"], ["i"], [Self.int("to", 7)]), Self.node("Relu", ["i"], ["y"])]),
                    ["Cast", "only to integers that index the rows of a float constant"])
        assertError(Self.model([Self.node("Cast", ["x"], ["ids"], [Self.int("to", 7)]), Self.node("Gather", ["t", "ids"], ["y"])],
                               inits: [Self.floats("t", [9])]), ["Gather", "expected 2 dimensions"])
        assertError(Self.model([Self.node("Cast", ["x"], ["ids"], [Self.int("to", 7)]),
                                Self.node("Gather", ["t", "ids"], ["y"], [Self.int("axis", 1)])],
                               inits: [Self.floats("t", [9, 3])]), ["Gather", "only rows (axis 0"])
    }

    func testTransposedViewsAndSoftmaxAxis() throws {
        // A transposed view read by a layer becomes a real transpose; softmax runs on any non-batch axis.
        let axis1 = Onnx_AttributeProto.with { $0.name = "axis"; $0.type = .int; $0.i = 1 }
        var m = try importing(Self.model([Self.node("Transpose", ["x"], ["t"], [Self.ints("perm", [0, 2, 1])]),
                                          Self.node("Relu", ["t"], ["r"]), Self.node("Softmax", ["r"], ["y"], [axis1])],
                                         input: [nil, 3, 4]))
        XCTAssertEqual(m.graph.nodes.map(\.op), [.input, .activation(.relu), .transpose([1, 0]), .softmax(axis: 0)])
        XCTAssertEqual(m.graph.nodes[3].shape, [4, 3])
        // Two readers of one transposed view share the transpose.
        m = try importing(Self.model([Self.node("Transpose", ["x"], ["t"], [Self.ints("perm", [0, 2, 1])]),
                                      Self.node("Mul", ["t", "t"], ["y"])], input: [nil, 3, 4]))
        XCTAssertEqual(m.graph.nodes.map(\.op), [.input, .transpose([1, 0]), .binary(Binary(.mul))])
        assertError(Self.model([Self.node("Softmax", ["x"], ["y"], [Onnx_AttributeProto.with { $0.name = "axis"; $0.type = .int; $0.i = 0 }])],
                               input: [nil, 3, 4]), ["graph.node[0] (Softmax", "axis 0 is the batch axis"])
        assertError(Self.model([Self.node("Transpose", ["x"], ["t"], [Self.ints("perm", [1, 0, 2])]),
                                Self.node("Relu", ["t"], ["r"]), Self.node("Flatten", ["r"], ["y"])], input: [nil, 3, 4]),
                    ["graph.node[2] (Flatten", "expected the batch first"])
    }

    // MARK: - Generality: external data, old opsets, constant folding, views

    /// Weights in a file beside the model (PyTorch's `NAME.onnx.data`), at an offset.
    func testExternalDataIsReadFromTheModelsFolder() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nncc-ext-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let values: [Float] = (0..<12).map { Float($0) - 5.5 }
        var bytes = Data([1, 2, 3, 4])  // the tensor starts at offset 4
        for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { bytes.append(contentsOf: $0) } }
        try bytes.write(to: dir.appendingPathComponent("m.onnx.data"))
        func model(_ entries: [String: String]) throws -> URL {
            var w = Self.floats("fc.weight", [3, 4], [])
            w.floatData = []
            w.dataLocation = .external
            w.externalData = entries.sorted(by: { $0.key < $1.key }).map { k, v in
                Onnx_StringStringEntryProto.with { $0.key = k; $0.value = v }
            }
            let url = dir.appendingPathComponent("m.onnx")
            try Self.model([Self.node("Gemm", ["x", "fc.weight"], ["y"], [Self.int("transB", 1)])], inits: [w]).write(to: url)
            return url
        }
        let m = try ONNXImporter.load(path: try model(["location": "m.onnx.data", "offset": "4", "length": "48"]).path)
        XCTAssertEqual(m.weights["fc.weight"]?.data, values)
        XCTAssertNoThrow(try ONNXImporter.load(path: try model(["location": "./m.onnx.data", "offset": "4"]).path))
        for (entries, fragment) in [(["location": "../m.onnx.data"], "inside the model's folder"),
                                    (["location": "/etc/passwd"], "inside the model's folder"),
                                    (["location": "missing.data"], "external data file \"missing.data\": file not found"),
                                    (["location": "m.onnx.data", "offset": "8", "length": "48"], "holds 52 bytes"),
                                    (["location": "m.onnx.data", "offset": "-1"], "not a non-negative integer"),
                                    (["offset": "4"], "without a location")] {
            let url = try model(entries)
            XCTAssertThrowsError(try ONNXImporter.load(path: url.path), "\(entries)") { error in
                let e = error as? NNCCError
                XCTAssertEqual(e?.file, url.path)
                XCTAssertTrue(e?.description.contains("initializer[0] \"fc.weight\"") ?? false, "\(error)")
                XCTAssertTrue(e?.description.contains(fragment) ?? false, "\(error) lacks \(fragment)")
            }
        }
        // A symbolic link inside the folder may not lead out of it.
        try FileManager.default.createSymbolicLink(atPath: dir.appendingPathComponent("link").path, withDestinationPath: "/etc")
        XCTAssertThrowsError(try ONNXImporter.load(path: try model(["location": "link/passwd"]).path)) {
            XCTAssertTrue("\($0)".contains("leads outside the model's folder"), "\($0)")
        }
    }

    /// Opset 6 (ONNX's pytorch-converted backend data): Add broadcasts a bias from axis 1 with
    /// `broadcast = 1`; BatchNormalization needs is_test = 1.
    func testOpset6BroadcastAndBatchNorm() throws {
        let conv = Self.node("Conv", ["x", "c.weight"], ["c"])
        let add = Self.node("Add", ["c", "b"], ["y"], [Self.int("broadcast", 1), Self.int("axis", 1)])
        let inits = [Self.floats("c.weight", [2, 1, 3, 3]), Self.floats("b", [2], [5, 6])]
        let m = try importing(Self.model([conv, add], inits: inits, input: [nil, 1, 6, 6], opset: 6))
        guard case let .conv2d(c) = m.graph.nodes[1].op else { return XCTFail("\(m.graph.nodes)") }
        XCTAssertTrue(c.bias)
        XCTAssertEqual(m.weights["c.bias"]?.data, [5, 6])
        let bnInits = ["s", "bb", "mu", "v"].map { Self.floats($0, [1], [1]) }
        let bn = { (attrs: [Onnx_AttributeProto]) in
            Self.model([Self.node("BatchNormalization", ["x", "s", "bb", "mu", "v"], ["y"], attrs)], inits: bnInits,
                       input: [nil, 1, 4, 4], opset: 6)
        }
        XCTAssertNoThrow(try importing(bn([Self.int("is_test", 1)])))
        assertError(bn([]), ["is_test = 0"])
        assertError(Self.model([Self.node("Relu", ["x"], ["y"])], opset: 5), ["outside the range nncc imports (6 to 22)"])
    }

    /// Nodes whose inputs are all constants are evaluated at import: a transposed, cast, sliced,
    /// split and re-concatenated weight, and a Reshape target computed with ConstantOfShape,
    /// Range, Equal, Where and Expand.
    func testConstantSubgraphsAreFolded() throws {
        let w: [Float] = (0..<20).map { Float($0) }  // [5, 4]: 5 outputs of 4 inputs, as PyTorch's Linear
        let nodes = [
            Self.node("Transpose", ["w"], ["wt"]),  // [4, 5]
            Self.node("Cast", ["wt"], ["wc"], [Self.int("to", 1)]),
            Self.node("Identity", ["wc"], ["wi"]),
            Self.node("Slice", ["wi", "zero", "three", "one"], ["ws"]),  // rows 0..<3 along axis 1: [4, 3]
            Self.node("Split", ["ws", "split"], ["p0", "p1"], [Self.int("axis", 1)]),  // [4, 1] and [4, 2]
            Self.node("Concat", ["p1", "p0"], ["wcat"], [Self.int("axis", 1)]),
            Self.node("MatMul", ["x", "wcat"], ["h"]),  // (N, 3)
            Self.node("ConstantOfShape", ["one"], ["zeros"], [Onnx_AttributeProto.with {
                $0.name = "value"; $0.type = .tensor; $0.t = Self.int64s("", [0])
            }]),
            Self.node("Range", ["s0", "s3", "s1"], ["r"]),  // [0, 1, 2]
            Self.node("Equal", ["r", "one"], ["eq"]),  // [0, 1, 0]
            Self.node("Expand", ["three", "three"], ["e3"]),  // [3, 3, 3]
            Self.node("Where", ["eq", "one", "e3"], ["dims"]),  // [3, 1, 3]
            Self.node("Slice", ["dims", "one", "three"], ["tail"]),  // [1, 3]
            Self.node("Concat", ["zeros", "tail"], ["target"], [Self.int("axis", 0)]),
            Self.node("Reshape", ["h", "target"], ["y"]),
        ]
        let inits = [Self.floats("w", [5, 4], w), Self.int64s("zero", [0]), Self.int64s("one", [1]),
                     Self.int64s("three", [3]), Self.int64s("split", [1, 2]), Self.int64s("s0", [0], scalar: true),
                     Self.int64s("s3", [3], scalar: true), Self.int64s("s1", [1], scalar: true)]
        let m = try importing(Self.model(nodes, inits: inits))
        XCTAssertEqual(m.graph.nodes.map(\.op), [.input, .dense(units: 3, bias: false), .reshape([1, 3])])
        // wcat[i][j] = w[perm[j]][i] with output order (1, 2, 0); dense weights are [units, in].
        let expected = [1, 2, 0].flatMap { o in (0..<4).map { w[o * 4 + $0] } }
        XCTAssertEqual(m.weights.first?.value.data, expected)
        // The older Slice and Split read their attributes (opset 9).
        let old = [Self.node("Slice", ["w"], ["ws"], [Self.ints("starts", [1]), Self.ints("ends", [3]), Self.ints("axes", [0])]),
                   Self.node("Split", ["ws"], ["a", "b"], [Self.ints("split", [1, 1])]),
                   Self.node("Gemm", ["x", "b"], ["y"], [Self.int("transB", 1), Self.float("alpha", 2)])]
        let o = try importing(Self.model(old, inits: [Self.floats("w", [5, 4], w)], opset: 9))
        XCTAssertEqual(o.weights.first?.value.data, (8..<12).map { 2 * Float($0) })
        assertError(Self.model([Self.node("ConstantOfShape", ["big"], ["z"]), Self.node("Add", ["x", "z"], ["y"])],
                               inits: [Self.int64s("big", [1 << 20, 1 << 20])]), ["larger than nncc evaluates at import"])
    }

    /// Reshape: allowzero = 1 without a zero, a literal 1 for a batch fixed at 1, and a Reshape
    /// that only drops size-1 axes of a view. Also a one-input Concat, ReduceMean over (-1, -2),
    /// and Squeeze of a layer's own size-1 axis.
    func testReshapeViewsAndSmallShapeOps() throws {
        let target = Self.int64s("t", [1, 12])
        let r = try importing(Self.model([Self.node("Relu", ["x"], ["a"]), Self.node("Concat", ["a"], ["c"], [Self.int("axis", 1)]),
                                          Self.node("Reshape", ["c", "t"], ["y"], [Self.int("allowzero", 1)])],
                                         inits: [target], input: [1, 3, 4]))
        XCTAssertEqual(r.graph.nodes.map(\.op), [.input, .activation(.relu), .reshape([12])])
        assertError(Self.model([Self.node("Reshape", ["x", "t"], ["y"])], inits: [target], input: [nil, 3, 4]),
                    ["Reshape to [1, 12] is not supported"])
        assertError(Self.model([Self.node("Reshape", ["x", "t"], ["y"], [Self.int("allowzero", 1)])],
                               inits: [Self.int64s("t", [0, 12])], input: [nil, 3, 4]), ["allowzero = 1 with a 0"])
        // (N, 4) → Unsqueeze → (N, 1, 4) → Reshape [1, 4] at batch 1: the same view.
        let u = try importing(Self.model([Self.node("Unsqueeze", ["x", "one"], ["u"]), Self.node("Relu", ["u"], ["v"]),
                                          Self.node("Reshape", ["v", "t"], ["y"])],
                                         inits: [Self.int64s("one", [1]), Self.int64s("t", [1, 4])], input: [1, 4]))
        XCTAssertEqual(u.graph.nodes.map(\.op), [.input, .activation(.relu)])
        let g = try importing(Self.model([Self.node("ReduceMean", ["x", "axes"], ["m"], [Self.int("keepdims", 0)]),
                                          Self.node("Relu", ["m"], ["y"])],
                                         inits: [Self.int64s("axes", [-1, -2])], input: [nil, 2, 3, 3], opset: 18))
        XCTAssertEqual(g.graph.nodes.map(\.op), [.input, .globalAvgPool, .activation(.relu)])
        // A 1-D pool exported as a 2-D one: Unsqueeze, pool, Squeeze of the pool's size-1 axis.
        let p = try importing(Self.model([Self.node("Unsqueeze", ["x", "three"], ["u"]),
                                          Self.node("AveragePool", ["u"], ["p"], [Self.ints("kernel_shape", [2, 1])]),
                                          Self.node("Squeeze", ["p", "three"], ["y"])],
                                         inits: [Self.int64s("three", [3])], input: [nil, 2, 6]))
        XCTAssertEqual(p.graph.nodes.map(\.op).last, .reshape([2, 5]))
    }
}
