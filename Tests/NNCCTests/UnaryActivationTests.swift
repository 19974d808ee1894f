import Foundation
import XCTest
@testable import NNCC
@testable import NNCCRuntime

/// The unary activations beyond what the unary_* fixtures show: each one's vector form in a dense
/// epilogue and its scalar form in the reference build against PyTorch's formula, NaN included; the
/// parameters an ONNX export cannot carry (softplus' beta and threshold); the ONNX chains and Clip's
/// two forms; and the errors of bad fields and attributes.
final class UnaryActivationTests: XCTestCase {
    static var tmp: URL!
    nonisolated(unsafe) static var cache: (dir: URL, previous: String?)?

    override class func setUp() {
        super.setUp()
        tmp = FixtureKit.makeTempDir("nncc-unary")
        cache = FixtureKit.useTempCache("nncc-unary-cache")
    }

    override class func tearDown() {
        if let c = cache { FixtureKit.restoreCache(c) }
        try? FileManager.default.removeItem(at: tmp)
        super.tearDown()
    }

    /// Each activation as `activation` of a dense layer (JSON fields when it has any), and PyTorch's formula.
    static let activations: [(name: String, fields: String, f: (Double) -> Double)] = [
        ("gelu_tanh", #""type": "gelu", "approximate": "tanh""#,
         { 0.5 * $0 * (1 + tanh(0.7978845608028654 * ($0 + 0.044715 * $0 * $0 * $0))) }),
        ("elu", #""type": "elu", "alpha": 0.5"#, { $0 > 0 ? $0 : 0.5 * expm1($0) }),
        ("selu", #""type": "selu""#, { 1.0507009873554805 * ($0 > 0 ? $0 : 1.6732632423543772 * expm1($0)) }),
        ("celu", #""type": "celu", "alpha": 0.7"#, { $0 > 0 ? $0 : 0.7 * expm1($0 / 0.7) }),
        ("softplus", #""type": "softplus", "beta": 2, "threshold": 3"#, { 2 * $0 > 3 ? $0 : log1p(exp(2 * $0)) / 2 }),
        ("softsign", #""type": "softsign""#, { $0 / (1 + abs($0)) }),
        ("exp", #""type": "exp""#, { exp($0) }),
        ("log", #""type": "log""#, { log($0) }),
        ("sqrt", #""type": "sqrt""#, { $0.squareRoot() }),
        ("reciprocal", #""type": "reciprocal""#, { 1 / $0 }),
        ("abs", #""type": "abs""#, { abs($0) }),
        ("neg", #""type": "neg""#, { -$0 }),
        ("erf", #""type": "erf""#, { erf($0) }),
        ("relu6", #""type": "relu6""#, { min(max($0, 0), 6) }),
        ("hardtanh", #""type": "hardtanh", "min_val": -0.5, "max_val": 2"#, { min(max($0, -0.5), 2) }),
        ("hardsigmoid", #""type": "hardsigmoid""#, { min(max($0 + 3, 0), 6) / 6 }),
        ("hardswish", #""type": "hardswish""#, { $0 * min(max($0 + 3, 0), 6) / 6 }),
        ("silu", #""type": "silu""#, { $0 / (1 + exp(-$0)) }),
        ("mish", #""type": "mish""#, { $0 * tanh(log1p(exp($0))) }),
    ]

    /// One dense branch per activation, each y = act(x + b) with identity weights, so the activation runs
    /// in the GEMM epilogue (vector form, masked tail) and, in the reference build, in the naive GEMM
    /// (scalar form). A NaN bias makes its unit NaN; every other unit matches the formula.
    func testFusedActivationsMatchPyTorchsFormulasAndKeepNaN() throws {
        let n = 37
        var x = FixtureKit.randomFloats(n, seed: 11).map { $0 * 4 }
        for (i, v) in [-3, 0, 3, 6, -0.5, 2, 1.5, -1].enumerated() { x[1 + 2 * i] = Float(v) }  // kinks, softplus' threshold
        var bias = [Float](repeating: 0, count: n)
        let nans = [0, 17, 36]
        for i in nans { bias[i] = .nan }
        let identity = (0..<n * n).map { $0 / n == $0 % n ? Float(1) : 0 }
        let layers = Self.activations.map { a -> String in
            // The activation as its own layer after the dense one: the fusion pass moves it into the epilogue.
            #"{"type": "dense", "units": \#(n), "name": "d_\#(a.name)", "inputs": ["input"]}, "#
                + #"{\#(a.fields), "name": "\#(a.name)", "inputs": ["d_\#(a.name)"]}"#
        }.joined(separator: ", ")
        let outputs = "[" + Self.activations.map { #""\#($0.name)""# }.joined(separator: ", ") + "]"
        let path = try TrainKit.writeModel(Self.tmp, "fused", input: [n], layers: layers, extra: #", "outputs": \#(outputs)"#)
        let lowered = try Pipeline.lower(try Pipeline.load(path).graph, options: CompileOptions())
        XCTAssertEqual(lowered.nodes.filter { $0.epilogue != nil }.count, Self.activations.count, "every activation fuses")
        for (build, options) in NonFiniteTests.builds {
            let products = try Builder.cached(try Pipeline.load(path), options: options)
            let ctx = try ModelLibrary(path: products.library.path, name: products.name).makeContext()
            for j in Self.activations.indices {
                try ctx.setParam(2 * j, identity)
                try ctx.setParam(2 * j + 1, bias)
            }
            let ys = try x.withUnsafeBufferPointer { try ctx.forwardAll($0, batch: 1) }
            XCTAssertEqual(ys.count, Self.activations.count)
            for (a, y) in zip(Self.activations, ys) {
                for i in 0..<n {
                    let want = Float(a.f(Double(x[i])))
                    if nans.contains(i) || want.isNaN {
                        XCTAssertTrue(y[i].isNaN, "\(a.name) \(build): y[\(i)] = \(y[i]) for x \(x[i]), want NaN")
                    } else {
                        XCTAssertEqual(y[i], want, accuracy: 1e-5 + 1e-4 * abs(want), "\(a.name) \(build): x = \(x[i])")
                    }
                }
            }
        }
    }

    // MARK: - ONNX

    func importing(_ data: Data) throws -> ONNXImporter.Imported {
        try ONNXImporter.decode(data, file: "m.onnx", name: "m")
    }

    func N(_ op: String, _ inputs: [String], _ outputs: [String], _ attrs: [Onnx_AttributeProto] = []) -> Onnx_NodeProto {
        ONNXImportTests.node(op, inputs, outputs, attrs)
    }

    static func scalar(_ name: String, _ v: Float) -> Onnx_TensorProto { ONNXImportTests.floats(name, [], [v]) }

    static func float(_ name: String, _ v: Float) -> Onnx_AttributeProto {
        Onnx_AttributeProto.with { $0.name = name; $0.type = .float; $0.f = v }
    }

    static func atOpset(_ data: Data, _ opset: Int64) throws -> Data {
        var m = try Onnx_ModelProto(serializedBytes: data)
        m.opsetImport = [Onnx_OperatorSetIdProto.with { $0.version = opset }]
        return try m.serializedData()
    }

    /// PyTorch's chains for SiLU, Mish and softsign become one activation each; the others map one to one.
    func testONNXChainsAndOperatorsBecomeOneActivationEach() throws {
        let data = ONNXImportTests.model([
            N("Sigmoid", ["x"], ["s"]), N("Mul", ["x", "s"], ["silu"]),
            N("Softplus", ["silu"], ["sp"]), N("Tanh", ["sp"], ["t"]), N("Mul", ["t", "silu"], ["mish"]),
            N("Abs", ["mish"], ["a"]), N("Add", ["a", "one"], ["a1"]), N("Div", ["mish", "a1"], ["softsign"]),
            N("HardSigmoid", ["softsign"], ["hs"]), N("Selu", ["hs"], ["se"], [Self.float("gamma", 2)]),
            N("Clip", ["se", "lo"], ["c1"]), N("Clip", ["c1", "", "hi"], ["c2"]), N("Softplus", ["c2"], ["y"]),
        ], inits: [Self.scalar("one", 1), Self.scalar("lo", -0.25), Self.scalar("hi", 4)])
        let acts = try importing(data).graph.nodes.dropFirst().map(\.op)
        XCTAssertEqual(acts, [.activation(.silu), .activation(.mish), .activation(.softsign),
                              .activation(.hardSigmoid(alpha: 0.2, beta: 0.5)),
                              .activation(.selu(alpha: Activation.seluDefaults.alpha, scale: 2)),
                              .activation(.clip(min: -0.25, max: .infinity)), .activation(.clip(min: -.infinity, max: 4)),
                              .activation(.softplus(beta: 1, threshold: 20))])
    }

    /// Clip's bounds are attributes before opset 11 and constant inputs from then on.
    func testONNXClipBoundsByOpset() throws {
        let attrs = ONNXImportTests.model([N("Clip", ["x"], ["y"], [Self.float("min", 0), Self.float("max", 6)])])
        XCTAssertEqual(try importing(try Self.atOpset(attrs, 10)).graph.nodes.last?.op, .activation(.clip(min: 0, max: 6)))
        let bare = ONNXImportTests.model([N("Clip", ["x"], ["y"])])
        XCTAssertEqual(try importing(try Self.atOpset(bare, 9)).graph.nodes.last?.op,
                       .activation(.clip(min: -.infinity, max: .infinity)))
        assertError(attrs, ["graph.node[0] (Clip", "attribute min is not supported"])
        let computed = ONNXImportTests.model([N("Relu", ["x"], ["m"]), N("Clip", ["x", "m"], ["y"])])
        assertError(computed, ["graph.node[1] (Clip", "input 1 (min) \"m\" must be a constant"])
        let nan = ONNXImportTests.model([N("Clip", ["x", "", "m"], ["y"])], inits: [Self.scalar("m", .nan)])
        assertError(nan, ["input 2 (max) \"m\" must be a constant one-element float that is not NaN"])
    }

    func testONNXBadAttributesAreErrors() {
        let approx = Onnx_AttributeProto.with { $0.name = "approximate"; $0.type = .string; $0.s = Data("fast".utf8) }
        assertError(ONNXImportTests.model([N("Gelu", ["x"], ["y"], [approx])]),
                    ["graph.node[0] (Gelu", "approximate: expected \"none\" or \"tanh\", found \"fast\""])
        assertError(ONNXImportTests.model([N("Celu", ["x"], ["y"], [Self.float("alpha", 0)])]),
                    ["graph.node[0] (Celu", "alpha: expected a nonzero value"])
        assertError(ONNXImportTests.model([N("Elu", ["x"], ["y"], [Self.float("alpha", .infinity)])]),
                    ["graph.node[0] (Elu", "attribute alpha: expected a finite float"])
    }

    func assertError(_ data: Data, _ fragments: [String], file: StaticString = #filePath, line: UInt = #line) {
        do {
            _ = try importing(data)
            XCTFail("expected an error containing \(fragments)", file: file, line: line)
        } catch let e as NNCCError {
            for f in fragments { XCTAssertTrue(e.description.contains(f), "\(e) lacks \"\(f)\"", file: file, line: line) }
        } catch {
            XCTFail("not an NNCCError: \(error)", file: file, line: line)
        }
    }

    // MARK: - JSON

    func testJSONFieldsAndErrors() throws {
        func decode(_ layer: String) throws -> Op? {
            let json = #"{"format": 1, "name": "m", "input": {"shape": [4]}, "layers": [\#(layer)]}"#
            return try ModelDecoder.decode(Data(json.utf8), file: "m.json").graph.nodes.last?.op
        }
        XCTAssertEqual(try decode(#"{"type": "relu6"}"#), .activation(.clip(min: 0, max: 6)))
        XCTAssertEqual(try decode(#"{"type": "hardtanh"}"#), .activation(.clip(min: -1, max: 1)))
        XCTAssertEqual(try decode(#"{"type": "gelu"}"#), .activation(.gelu))
        XCTAssertEqual(try decode(#"{"type": "dense", "units": 3, "activation": "mish"}"#), .activation(.mish))
        XCTAssertEqual(try decode(#"{"type": "softplus", "threshold": 5}"#), .activation(.softplus(beta: 1, threshold: 5)))
        let errors: [(String, String, String)] = [
            (#"{"type": "celu", "alpha": 0}"#, "layers[0].alpha", "expected a nonzero number"),
            (#"{"type": "softplus", "beta": 0}"#, "layers[0].beta", "expected a nonzero number"),
            (#"{"type": "hardtanh", "min_val": 1, "max_val": 1}"#, "layers[0].max_val", "greater than min_val"),
            (#"{"type": "gelu", "approximate": "fast"}"#, "layers[0].approximate", #"expected "none" or "tanh""#),
            (#"{"type": "relu6", "max_val": 5}"#, "layers[0].max_val", "unknown key for a relu6 layer"),
            (#"{"type": "dense", "units": 3, "activation": "swish"}"#, "layers[0].activation", "hardswish, silu, mish"),
        ]
        for (layer, path, fragment) in errors {
            XCTAssertThrowsError(try decode(layer), layer) { e in
                guard let e = e as? NNCCError else { return XCTFail("\(e)") }
                XCTAssertEqual(e.path, path, layer)
                XCTAssertTrue(e.message.contains(fragment), "\(layer): \(e.message)")
            }
        }
    }
}
