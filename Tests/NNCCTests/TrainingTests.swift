import Foundation
import XCTest
@testable import NNCC
import NNCCRuntime

/// The generated training step against PyTorch: one optimizer step on every
/// training fixture (weights after the step, the loss, and the gradients),
/// and ten steps of a CNN and an LSTM tracking PyTorch's loss curve.
/// Tolerance: atol 1e-4, rtol 1e-3, the conformance check's.
final class TrainingTests: XCTestCase {
    nonisolated(unsafe) static var cache: (dir: URL, previous: String?)?
    override class func setUp() { super.setUp(); cache = FixtureKit.useTempCache("nncc-train-cache") }
    override class func tearDown() { if let c = cache { FixtureKit.restoreCache(c) }; cache = nil; super.tearDown() }

    static let atol: Float = 1e-4, rtol: Float = 1e-3

    /// A context of the case's model built with --train at its batch size, fixture weights loaded.
    func trainingContext(_ dir: URL, reference: Bool = false, largeModelNodes: Int? = nil) throws -> (ModelContext, LoadedModel) {
        let model = try Pipeline.load(dir.appendingPathComponent("model.json").path)
        var options = CompileOptions(train: true, reference: reference)
        if let n = largeModelNodes { options.largeModelNodes = n }
        let products = try Builder.cached(model, options: options)
        let lib = try ModelLibrary(path: products.library.path, name: products.name)
        let ctx = try lib.makeContext()
        try ctx.loadWeights(path: dir.appendingPathComponent("weights.safetensors").path)
        return (ctx, model)
    }

    func step(_ ctx: ModelContext, _ data: Dataset, range: Range<Int>, inputSize: Int, outputSize: Int) throws -> Float {
        let x = Array(data.x[(range.lowerBound * inputSize)..<(range.upperBound * inputSize)])
        return try x.withUnsafeBufferPointer { buf in
            if let labels = data.labels {
                return try ctx.trainStep(buf, labels: Array(labels[range]), batch: range.count)
            }
            let t = data.targets!
            return try ctx.trainStep(buf, targets: Array(t[(range.lowerBound * outputSize)..<(range.upperBound * outputSize)]),
                                     batch: range.count)
        }
    }

    func tensors(_ url: URL) throws -> [String: Tensor] {
        Dictionary(uniqueKeysWithValues: try SafeTensors.read(path: url.path).map { ($0.name, $0.tensor) })
    }

    func testOneStepMatchesPyTorchOnEveryTrainingFixture() throws {
        let dirs = FixtureKit.cases(in: FixtureKit.golden, requiring: "after.safetensors")
            + FixtureKit.cases(in: FixtureKit.torch, requiring: "after.safetensors")
        let (checked, gradsChecked, failures) = oneStep(dirs, reference: false)
        XCTAssertGreaterThanOrEqual(checked, 60, "expected the golden and torch training fixtures")
        XCTAssertGreaterThan(gradsChecked, 150, "gradient tensors compared")
        XCTAssert(failures.isEmpty, "\(failures.count) mismatches:\n" + failures.joined(separator: "\n"))
    }

    /// The naive backward loops (reference builds), kept beside the GEMM-based
    /// ones, against PyTorch on fixtures that reach every backward kernel.
    func testReferenceBackwardMatchesPyTorch() throws {
        let names = ["lenet_like", "conv_avgpool_bn", "lstm_seq", "rnn_tanh"].map { FixtureKit.golden.appendingPathComponent($0) }
            + ["resblock", "concat_seq", "gru_seq_dense", "conv_groups2", "conv_stride21_pad12"].map { FixtureKit.torch.appendingPathComponent($0) }
        let (checked, _, failures) = oneStep(names, reference: true)
        XCTAssertEqual(checked, names.count)
        XCTAssert(failures.isEmpty, "\(failures.count) mismatches:\n" + failures.joined(separator: "\n"))
    }

    /// One step on each case: (cases checked, gradient tensors compared, failures).
    func oneStep(_ dirs: [URL], reference: Bool, largeModelNodes: Int? = nil) -> (Int, Int, [String]) {
        var failures = [String](), checked = 0, gradsChecked = 0
        for dir in dirs {
            let name = dir.lastPathComponent
            do {
                let (ctx, model) = try trainingContext(dir, reference: reference, largeModelNodes: largeModelNodes)
                let lib = ctx.library
                let data = try Dataset.load(path: dir.appendingPathComponent("train.npz").path, model: model,
                                            loss: model.graph.train!.loss)
                let loss = try step(ctx, data, range: 0..<data.count, inputSize: lib.inputSize, outputSize: lib.outputSize)
                let want = Float(try String(contentsOf: dir.appendingPathComponent("loss.txt"), encoding: .utf8)
                    .trimmingCharacters(in: .whitespacesAndNewlines))!
                if let e = FixtureKit.assertClose([loss], [want], atol: Self.atol, rtol: Self.rtol) { failures.append("\(name) loss: \(e)") }
                let after = try tensors(dir.appendingPathComponent("after.safetensors"))
                let grads = FileManager.default.fileExists(atPath: dir.appendingPathComponent("grads.safetensors").path)
                    ? try tensors(dir.appendingPathComponent("grads.safetensors")) : [:]
                let clipped = (model.graph.train?.clipGradNorm ?? 0) > 0
                for (i, pname) in ctx.paramNames().enumerated() {
                    if let w = after[pname], let e = FixtureKit.assertClose(ctx.getParam(i), w.data, atol: Self.atol, rtol: Self.rtol) {
                        failures.append("\(name) \(pname) after one step: \(e)")
                    }
                    if !clipped, let gw = grads[pname] {
                        gradsChecked += 1
                        if let e = FixtureKit.assertClose(ctx.getGrad(i), gw.data, atol: Self.atol, rtol: Self.rtol) {
                            failures.append("\(name) ∂\(pname): \(e)")
                        }
                    }
                }
                checked += 1
            } catch {
                failures.append("\(name): \(error)")
            }
        }
        return (checked, gradsChecked, failures)
    }

    /// Ten steps over four batches cycled in order, as scripts/make_fixtures.py's "steps" cases.
    func testTenStepsTrackPyTorchLossCurve() throws {
        for name in ["steps_lenet", "steps_lstm", "steps_winograd"] {
            let dir = FixtureKit.torch.appendingPathComponent(name)
            let (ctx, model) = try trainingContext(dir)
            let data = try Dataset.load(path: dir.appendingPathComponent("train.npz").path, model: model,
                                        loss: model.graph.train!.loss)
            let want = try FixtureKit.floats(dir.appendingPathComponent("losses.npy")).data
            let b = model.graph.train!.batchSize
            XCTAssertEqual(data.count, 4 * b, name)
            var got = [Float]()
            for s in 0..<want.count {
                let start = (s % 4) * b
                got.append(try step(ctx, data, range: start..<(start + b), inputSize: ctx.library.inputSize,
                                    outputSize: ctx.library.outputSize))
            }
            XCTAssertNil(FixtureKit.assertClose(got, want, atol: Self.atol, rtol: Self.rtol), "\(name) losses \(got) vs \(want)")
            let after = try tensors(dir.appendingPathComponent("after_steps.safetensors"))
            for (i, pname) in ctx.paramNames().enumerated() {
                guard let w = after[pname] else { continue }
                XCTAssertNil(FixtureKit.assertClose(ctx.getParam(i), w.data, atol: 1e-3, rtol: 1e-2),
                             "\(name) \(pname) after 10 steps (looser: errors compound over steps)")
            }
        }
    }

    /// Labels outside the classes are rejected by the library itself, and nothing changes.
    func testLabelOutOfRangeIsRejectedWithoutSideEffects() throws {
        let dir = FixtureKit.golden.appendingPathComponent("mlp_softmax_ce")
        let (ctx, _) = try trainingContext(dir)
        let before = ctx.getParam(0)
        let x = [Float](repeating: 0.5, count: ctx.library.inputSize)
        XCTAssertThrowsError(try x.withUnsafeBufferPointer { try ctx.trainStep($0, labels: [10], batch: 1) })
        XCTAssertEqual(ctx.getParam(0), before)
    }

    /// A loss that does not fit the output: cross entropy on a [T, H] output is a compile-time error naming the file.
    func testCrossEntropyNeedsClassVector() throws {
        let json = #"{"format": 1, "name": "seq", "input": {"shape": [4, 3]}, "layers": [{"type": "lstm", "units": 5, "return_sequences": true}], "train": {"loss": "cross_entropy", "optimizer": {"type": "sgd", "lr": 0.1}}}"#
        let url = FixtureKit.makeTempDir("nncc-ce").appendingPathComponent("seq.json")
        try Data(json.utf8).write(to: url)
        let model = try Pipeline.load(url.path)
        XCTAssertThrowsError(try Pipeline.generate(model, options: CompileOptions(train: true))) { e in
            let text = "\(e)"
            XCTAssert(text.contains("seq.json") && text.contains("cross_entropy") && text.contains("[4, 5]"), text)
        }
    }
}
