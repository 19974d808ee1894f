import Foundation
import XCTest
import Testing
@testable import NNCC
import NNCCRuntime

/// Deep models take the large-model code shape (CodeSize: shared kernels,
/// straight-line functions split into parts) and still compute the same
/// numbers: a 1,000-layer MLP against a naive forward and SGD step in Swift,
/// a mixed conv stack against the reference build. No timing here: the
/// figures are in docs/compile-time.md.
final class CompileTimeTests: XCTestCase {
    nonisolated(unsafe) static var cache: (dir: URL, previous: String?)?
    var tmp: URL!

    override class func setUp() {
        super.setUp()
        cache = FixtureKit.useTempCache("nncc-compiletime-cache")
    }

    override class func tearDown() {
        if let c = cache { FixtureKit.restoreCache(c) }
        cache = nil
        super.tearDown()
    }

    override func setUpWithError() throws { tmp = FixtureKit.makeTempDir("nncc-compiletime") }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: tmp) }

    func load(_ json: String, _ name: String) throws -> LoadedModel {
        let url = tmp.appendingPathComponent("\(name).json")
        try json.write(to: url, atomically: true, encoding: .utf8)
        return try Pipeline.load(url.path)
    }

    func deepMLP(layers: Int, width: Int, batch: Int, name: String) -> String {
        let pair = "{\"type\": \"dense\", \"units\": \(width)}, {\"type\": \"relu\"}"
        return """
            {"format": 1, "name": "\(name)", "input": {"shape": [\(width)]},
             "layers": [\(Array(repeating: pair, count: layers / 2).joined(separator: ", "))],
             "train": {"loss": "mse", "optimizer": {"type": "sgd", "lr": 0.01}, "batch_size": \(batch)}}
            """
    }

    func count(_ s: String, _ needle: String) -> Int { s.components(separatedBy: needle).count - 1 }

    /// 1,000 layers (500 dense 16→16 + relu): one shared dense kernel, every
    /// long function in parts; forward and one SGD step on mse match Swift.
    func testDeepMLPMatchesNaiveForwardAndTrainStep() throws {
        let width = 16, batch = 4, depth = 500, lr: Float = 0.01
        let model = try load(deepMLP(layers: 2 * depth, width: width, batch: batch, name: "deep"), "deep")
        let products = try Builder.build(model, options: CompileOptions(maxBatch: batch, train: true),
                                         into: tmp.appendingPathComponent("out"))
        let source = try String(contentsOf: products.source, encoding: .utf8)
        // The code shape: a handful of kernels for 500 dense layers, and parts.
        XCTAssertLessThanOrEqual(count(source, "\nstatic void k"), 4, "identical layers should share one kernel")
        for part in ["deep_run_part0(", "deep_pack_part0(", "deep_backward_part0(", "deep_train_forward_part0("] {
            XCTAssertTrue(source.contains(part), "missing \(part)")
        }

        let ctx = try ModelLibrary(path: products.library.path, name: products.name).makeContext()
        // Near-permutation weights and a positive bias keep the values O(1) and away from relu's kink.
        var rng = SplitMix64(seed: 15)
        var ws: [[Float]] = [], bs: [[Float]] = []
        for l in 0..<depth {
            var w = (0..<width * width).map { _ in Float.random(in: -0.02...0.02, using: &rng) }
            for r in 0..<width { w[r * width + (r + l) % width] += 0.97 }
            ws.append(w)
            bs.append((0..<width).map { _ in Float.random(in: 0.02...0.06, using: &rng) })
            try ctx.setParam(2 * l, w)
            try ctx.setParam(2 * l + 1, bs[l])
        }
        let x = (0..<batch * width).map { _ in Float.random(in: 0.2...1, using: &rng) }
        let targets = (0..<batch * width).map { _ in Float.random(in: 0...1, using: &rng) }

        // Naive forward, keeping every layer's output for backward.
        var acts = [x]
        for l in 0..<depth {
            let a = acts[l]
            acts.append((0..<batch * width).map { e in
                let b = e / width, o = e % width
                var s = bs[l][o]
                for k in 0..<width { s += ws[l][o * width + k] * a[b * width + k] }
                return max(s, 0)
            })
        }
        let y = try x.withUnsafeBufferPointer { try ctx.forward($0, batch: batch) }
        assertClose(y, acts[depth], "forward")

        // One SGD step on mse: backward through relu and dense, W -= lr·∂W.
        let n = Float(batch * width)
        let loss = zip(acts[depth], targets).map { ($0 - $1) * ($0 - $1) }.reduce(0, +) / n
        var dy = zip(acts[depth], targets).map { 2 * ($0 - $1) / n }
        var newW = ws, newB = bs
        for l in stride(from: depth - 1, through: 0, by: -1) {
            let dz = (0..<batch * width).map { acts[l + 1][$0] > 0 ? dy[$0] : 0 }
            var dx = [Float](repeating: 0, count: batch * width)
            for b in 0..<batch {
                for o in 0..<width {
                    let g = dz[b * width + o]
                    newB[l][o] -= lr * g
                    for k in 0..<width {
                        newW[l][o * width + k] -= lr * g * acts[l][b * width + k]
                        dx[b * width + k] += g * ws[l][o * width + k]
                    }
                }
            }
            dy = dx
        }
        let got = try x.withUnsafeBufferPointer { try ctx.trainStep($0, targets: targets, batch: batch) }
        XCTAssertEqual(got, loss, accuracy: 1e-4 + 1e-3 * abs(loss))
        for l in [0, 1, depth / 2, depth - 1] {
            assertClose(ctx.getParam(2 * l), newW[l], "weight of dense \(l) after the step")
            assertClose(ctx.getParam(2 * l + 1), newB[l], "bias of dense \(l) after the step")
        }
    }

    /// Initialisation loops over a table at every size (it was one call per tensor
    /// below the large-model threshold), and a large model draws the first
    /// layer's weights as a small one does: the generator runs in table order.
    func testLargeModelInitialisesParametersLikeSmallOnes() throws {
        func firstWeight(_ layers: Int) throws -> [Float] {
            let model = try load(deepMLP(layers: layers, width: 8, batch: 1, name: "init\(layers)"), "init\(layers)")
            let products = try Builder.build(model, options: CompileOptions(), into: tmp.appendingPathComponent("init\(layers)"))
            let source = try String(contentsOf: products.source, encoding: .utf8)
            XCTAssertTrue(source.contains("t[i].kind"))
            return try ModelLibrary(path: products.library.path, name: products.name).makeContext().getParam(0)
        }
        XCTAssertEqual(try firstWeight(200), try firstWeight(4))
    }

    /// 160 layers (80 nodes once activations are fused) mixing two conv shapes:
    /// kernels are shared only between identical layers, and the result
    /// matches the naive build.
    func testSharedConvKernelsMatchReferenceBuild() throws {
        let block = """
            {"type": "conv2d", "filters": 6, "kernel_size": 3, "padding": 1}, {"type": "tanh"},
            {"type": "conv2d", "filters": 4, "kernel_size": 1}, {"type": "relu"}
            """
        let json = """
            {"format": 1, "name": "convstack", "input": {"shape": [4, 9, 11]},
             "layers": [\(Array(repeating: block, count: 40).joined(separator: ", "))]}
            """
        let model = try load(json, "convstack")
        var outputs: [[Float]] = []
        var rng = SplitMix64(seed: 7)
        let batch = 3, x = (0..<batch * 4 * 9 * 11).map { _ in Float.random(in: -1...1, using: &rng) }
        for reference in [false, true] {
            let products = try Builder.build(model, options: CompileOptions(maxBatch: batch, reference: reference),
                                             into: tmp.appendingPathComponent("ref\(reference)"))
            let source = try String(contentsOf: products.source, encoding: .utf8)
            XCTAssertEqual(count(source, "(int nb, const float *restrict x, const float *restrict w, float *restrict y, float *restrict scratch)"), 2,
                           "one conv kernel per distinct layer (3x3 4->6 with tanh, 1x1 6->4 with relu)")
            let ctx = try ModelLibrary(path: products.library.path, name: products.name).makeContext()
            outputs.append(try x.withUnsafeBufferPointer { try ctx.forward($0, batch: batch) })
        }
        XCTAssertGreaterThan(outputs[1].map(abs).max() ?? 0, 1e-3, "the output must not vanish")
        assertClose(outputs[0], outputs[1], "tiled vs reference")
    }

    /// Past the layer limit the model is refused with the JSON path, before any layer is decoded.
    func testLayerLimitNamesTheJSONPath() throws {
        let limit = Limits.layers
        XCTAssertNoThrow(try load(deepMLP(layers: limit, width: 2, batch: 1, name: "atlimit"), "atlimit"))
        XCTAssertThrowsError(try load(deepMLP(layers: limit + 2, width: 2, batch: 1, name: "over"), "over")) { e in
            let e = e as? NNCCError
            XCTAssertEqual(e?.path, "layers")
            XCTAssertEqual(e?.message, "\(limit + 2) layers; at most \(limit) (docs/compile-time.md)")
            XCTAssertTrue(e?.file?.hasSuffix("over.json") ?? false)
        }
    }

    func assertClose(_ got: [Float], _ want: [Float], _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(got.count, want.count, what, file: file, line: line)
        let scale = want.map(abs).max() ?? 1
        for (i, (g, w)) in zip(got, want).enumerated() where !(abs(g - w) <= 1e-4 * scale + 1e-3 * abs(w)) {
            XCTFail("\(what): element \(i) is \(g), expected \(w)", file: file, line: line)
            return
        }
    }
}

extension TrainingTests {
    /// Training fixtures built in the large-model shape (threshold 0: shared
    /// kernels and statements, every function in parts) still take PyTorch's
    /// step; between them they reach every op's forward, backward and packing.
    @Test(arguments: ["lenet_like", "conv_avgpool_bn", "lstm_seq", "rnn_tanh"].map(Fixture.golden)
            + ["resblock", "concat_seq", "gru_seq_dense", "conv_groups2", "conv_stride21_pad12", "conv_winograd",
               "bn_after_relu_img", "dropout_zero_train", "dense_act_gelu", "clip_norm", "opt_adam", "groupnorm_cnn"].map(Fixture.torch))
    func largeModelShapeMatchesPyTorch(_ fixture: Fixture) throws {
        try oneStep(fixture, reference: false, largeModelNodes: 0)
    }
}
