import Foundation
import Testing
@testable import NNCC
import NNCCRuntime

/// Custom C operators (docs/custom-ops.md): libclang's checks of the user's declarations (no gcc),
/// and the two forms inside models against PyTorch running the built-in layer they re-implement
/// (Fixtures/custom, scripts/make_custom_fixtures.py): Swish against SiLU, a moving average
/// against avg_pool1d(3, stride=1). Three gcc builds in all.
@Suite struct CustomOpTests {
    static let dir = FixtureKit.root.appendingPathComponent("custom", isDirectory: true)
    static func fixture(_ name: String) -> Fixture { Fixture(dir: dir.appendingPathComponent(name, isDirectory: true)) }

    /// A model `dense(4) -> custom` over `source` (written to a temporary folder), loaded.
    func load(_ source: String, forward: String, backward: String? = nil, train: Bool = false) throws -> LoadedModel {
        let tmp = FixtureKit.makeTempDir("nncc-custom")
        defer { try? FileManager.default.removeItem(at: tmp) }
        try source.write(to: tmp.appendingPathComponent("op.c"), atomically: true, encoding: .utf8)
        let custom = "{\"type\": \"custom\", \"name\": \"op\", \"source\": \"op.c\", \"forward\": \"\(forward)\""
            + (backward.map { ", \"backward\": \"\($0)\"" } ?? "") + "}"
        let trainSection = train ? ", \"train\": {\"loss\": \"mse\", \"optimizer\": {\"type\": \"sgd\", \"lr\": 0.1}, \"batch_size\": 2}" : ""
        let model = tmp.appendingPathComponent("m.json")
        try """
            {"format": 1, "name": "m", "input": {"shape": [3]}, "layers": [{"type": "dense", "units": 4}, \(custom)]\(trainSection)}
            """.write(to: model, atomically: true, encoding: .utf8)
        return try Pipeline.load(model.path)
    }

    /// The error of loading a model over this C, which must name op.c:line:col.
    func failure(_ source: String, forward: String = "f") -> String {
        do {
            _ = try load(source, forward: forward)
            return "no error"
        } catch {
            return "\(error)"
        }
    }

    @Test(arguments: [
        ("wrong return type", "double f(float x) { return x; }", "op.c:1:8: 'f' returns 'double'"),
        ("missing function", "float g(float x) { return x; }", "op.c:1:1: no definition of the forward function 'f'; the file defines g"),
        ("pointer to double", "#include <stdint.h>\nvoid f(const double *x, float *y, int64_t batch, int64_t n) { (void)x; (void)y; (void)batch; (void)n; }",
         "op.c:2:6: parameter 1 ('x') of 'f' is 'const double *', expected 'const float *'"),
        ("syntax error", "float f(float x) { return x +; }", "op.c:1:30: error: expected expression"),
        ("global write", "static int calls;\nfloat f(float x) { calls++; return x; }", "op.c:2:20: writes the global variable 'calls'"),
        ("variadic", "float f(float x, ...) { return x; }", "op.c:1:7: 'f' is variadic"),
        ("warning", "float f(float x) { int unused; return x; }", "op.c:1:24: warning: unused variable 'unused'"),
        ("quoted include", "#include \"mine.h\"\nfloat f(float x) { return x; }", "file not found"),
    ])
    func badDeclarationIsRefusedWithItsPlace(_ c: (String, String, String)) {
        let message = failure(c.1)
        #expect(message.contains(c.2), "\(c.0): \(message)")
        #expect(message.contains("layers[1].forward"), "\(c.0): the model's place too: \(message)")
    }

    @Test func arrayFormChecksItsDimensionsAndBackward() {
        let wrongDims = "#include <stdint.h>\nvoid f(const float *x, float *y, int64_t b, int64_t c, int64_t l) { (void)x; (void)y; (void)b; (void)c; (void)l; }"
        #expect(failure(wrongDims).contains("op.c:2:6: 'f' takes 2 int64_t dimensions after batch, but its operand [4] has 1"))
        let badGrad = "float f(float x) { return x; }\nfloat g(float x, float y) { return x + y; }"
        let e = #expect(throws: NNCCError.self) { try load(badGrad, forward: "f", backward: "g") }
        #expect(e?.description.contains("op.c:2:7: 'g' takes 2 parameters; expected float g(float x, float y, float dy)") == true)
        #expect(e?.path == "layers[1].backward")
    }

    /// Training through a custom layer without a backward stops before any C is emitted, naming the layer.
    @Test func trainingWithoutBackwardNamesTheLayer() throws {
        let model = try load("float f(float x) { return 2 * x; }", forward: "f", train: true)
        let e = #expect(throws: NNCCError.self) { try Pipeline.generate(model, options: CompileOptions(train: true)) }
        #expect(e?.description.contains("custom layer \"op\" has no \"backward\" function") == true, "\(String(describing: e))")
        // Inference needs none; the file's names are prefixed and made static in the C.
        let (lib, _) = try Pipeline.generate(model, options: CompileOptions())
        #expect(lib.source.contains("NN_UNUSED static float nn_u"), "the copied definition")
        #expect(!lib.source.contains("float f(float x)"))
    }

    /// Swish in C against PyTorch's SiLU: at inference fused into the dense kernel before it, and
    /// one SGD step (loss, gradients, weights) through the user's gradient.
    @Test func swishMatchesBuiltInSiLU() throws {
        let f = Self.fixture("swish")
        let g = try Pipeline.lower(try Pipeline.load(f.modelJSON).graph, options: CompileOptions())
        #expect(g.nodes[1].customEpilogue?.forward == "swish", "fused into dense d1")
        try expectForward(f)
        try TrainingTests().oneStep(f, reference: false)
    }

    /// The 1-D moving average kernel (array form, [C, L] -> [C, L-2]) in a conv1d/dense model:
    /// forward, then one step through its backward.
    @Test func movingAverageArrayKernelTrains() throws {
        let f = Self.fixture("movavg")
        try TrainingTests().oneStep(f, reference: false)
        let (ctx, _) = try TrainingTests().trainingContext(f)
        try expectForward(f, ctx)
    }

    func expectForward(_ f: Fixture, _ given: ModelContext? = nil) throws {
        let x = try FixtureKit.floats(f.file("x.npy")), y = try FixtureKit.floats(f.file("y.npy"))
        let n = x.shape[0]
        let ctx = try given ?? Libraries.context(f.modelJSON, options: CompileOptions(maxBatch: n)).0
        let got = try x.data.withUnsafeBufferPointer { try ctx.forward($0, batch: n) }
        let problem = FixtureKit.assertClose(got, y.data, atol: 1e-4, rtol: 1e-3)
        #expect(problem == nil, "\(f): forward differs from PyTorch: \(problem ?? "")")
    }
}
