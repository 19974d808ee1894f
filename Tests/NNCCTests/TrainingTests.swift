import Foundation
import Testing
@testable import NNCC
import NNCCRuntime

/// The generated training step against PyTorch: one optimizer step on every
/// training fixture (weights after the step, the loss, and the gradients),
/// and ten steps of CNNs, an LSTM and a transformer tracking PyTorch's loss curve.
/// Tolerance: atol 1e-4, rtol 1e-3, the conformance check's. One test case
/// per fixture, run in parallel.
@Suite struct TrainingTests {
    static let atol: Float = 1e-4, rtol: Float = 1e-3

    /// A context of the case's model built with --train at its batch size, fixture weights loaded.
    func trainingContext(_ fixture: Fixture, reference: Bool = false, largeModelNodes: Int? = nil, target: Target = .native,
                         cc: String? = nil, optLevel: Int? = nil, threads: Int = 1) throws -> (ModelContext, LoadedModel) {
        var options = CompileOptions(train: true, target: target, threads: threads, reference: reference, cc: cc)
        options.optLevel = optLevel
        if let n = largeModelNodes { options.largeModelNodes = n }
        // A steps case's one-step check runs on its whole training set: four batches.
        if fixture.has("losses.npy") && fixture.has("after.safetensors") {
            options.maxBatch = 4 * (try Pipeline.load(fixture.modelJSON).graph.train?.batchSize ?? 1)
        }
        let (ctx, model, _) = try Libraries.context(fixture.modelJSON, options: options,
                                                    weights: fixture.file("weights.safetensors").path)
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

    static func tensors(_ url: URL) throws -> [String: Tensor] {
        Dictionary(uniqueKeysWithValues: try SafeTensors.read(path: url.path).map { ($0.name, $0.tensor) })
    }

    @Test(arguments: Fixture.training)
    func oneStepMatchesPyTorch(_ fixture: Fixture) throws {
        try oneStep(fixture, reference: false)
    }

    /// Two depthwise layers of one geometry on images of different sizes run on one function in a
    /// training build (Depthwise.swift) at 8 and 16 lanes (at 4, the larger image runs by rows). Trained
    /// at every width the host runs, with one thread and two.
    @Test(arguments: [Target.x86_64_v2, .x86_64_v3, .x86_64_v4, .portable])
    func sharedDepthwiseHelperTrainsAtEveryWidth(_ target: Target) throws {
        let fixture = Fixture.torch("conv_dw_shared")
        let (lib, _) = try Pipeline.generate(try Pipeline.load(fixture.modelJSON), options: CompileOptions(train: true, target: target))
        if target.vectorWidth >= 8 {
            let helper = "dw_lanes\(target.vectorWidth)_3x3_s1x1_d1x1_relu("
            #expect(lib.source.components(separatedBy: "void " + helper).count == 2, "one definition")
            #expect(lib.source.contains(helper + "s, 11, 9,") && lib.source.contains(helper + "s, 7, 6,"), "called at 9x7 and 5x4")
        }
        guard target.missingOnHost == nil else { return }  // x86-64-v4 on an AVX2 host: emitted, not run
        try oneStep(fixture, reference: false, target: target)
        try oneStep(fixture, reference: false, target: target, threads: 2)  // each thread its own scratch
    }

    /// A first dense layer computes no ∂x, so the step does not repack its W's rows for one (mlp: 784×512
    /// every step); the second layer's are packed. The one-step cases above check the numbers.
    @Test func firstDenseLayerPacksNoRowsForDx() throws {
        let (lib, _) = try Pipeline.generate(try Pipeline.load(Fixture.golden("dense_relu").modelJSON),
                                             options: CompileOptions(train: true))
        #expect(lib.source.components(separatedBy: "/* for ∂x */").count - 1 == 1)
        #expect(lib.source.contains("nn_pack_rows(4, 16, "), "the second layer's W [4, 16] as rows")
    }

    /// The fixtures hold PyTorch's gradients for most models (clip_norm's are not compared: clipping
    /// rescales them), so the one-step cases compare many gradient tensors, not only weights.
    @Test func trainingFixturesCarryGradients() throws {
        #expect(Fixture.training.count >= 60, "expected the golden and torch training fixtures")
        var compared = 0
        for f in Fixture.training where f.has("grads.safetensors") {
            let model = try Pipeline.load(f.modelJSON)
            guard (model.graph.train?.clipGradNorm ?? 0) == 0 else { continue }
            let grads = try Self.tensors(f.file("grads.safetensors"))
            compared += model.graph.params.filter { grads[$0.name] != nil }.count
        }
        #expect(compared > 150, "gradient tensors compared by oneStepMatchesPyTorch")
    }

    /// Fixtures that train conv (or dense) -> batchnorm -> relu on odd sizes (planes of 7x11, 9x13, 1x29, one
    /// value): their relu is fused into the batchnorm (FuseEpilogue), so oneStepMatchesPyTorch and the steps
    /// cases check that path's forward and backward against PyTorch.
    @Test func batchNormReluFixturesTrainFused() throws {
        for name in ["bn_conv_fold", "bn_dense_fold", "conv_winograd", "conv1d_net", "steps_cnn1d"] {
            let g = try Pipeline.lower(try Pipeline.load(Fixture.torch(name).modelJSON).graph, options: CompileOptions(train: true))
            let fused = g.nodes.filter { if case .batchNorm = $0.op { return $0.epilogue == .relu } else { return false } }
            #expect(!fused.isEmpty, "\(name): no batchnorm + relu")
            #expect(!g.nodes.contains { $0.op == .activation(.relu) }, "\(name): a relu left standalone")
        }
    }

    /// The naive backward loops (reference builds), kept beside the GEMM-based
    /// ones, against PyTorch on fixtures that reach every backward kernel.
    @Test(arguments: ["lenet_like", "conv_avgpool_bn", "lstm_seq", "rnn_tanh"].map(Fixture.golden)
            + ["resblock", "concat_seq", "gru_seq_dense", "conv_groups2", "conv_stride21_pad12", "upsample_decoder",
               "upsample_1d"].map(Fixture.torch))
    func referenceBackwardMatchesPyTorch(_ fixture: Fixture) throws {
        try oneStep(fixture, reference: true)
    }

    /// One step on the case: the loss, every parameter after the step and, unless the gradients are
    /// clipped, every gradient the fixture holds (at least one when it has grads.safetensors).
    func oneStep(_ fixture: Fixture, reference: Bool, largeModelNodes: Int? = nil, target: Target = .native,
                 cc: String? = nil, optLevel: Int? = nil, threads: Int = 1) throws {
        let (ctx, model) = try trainingContext(fixture, reference: reference, largeModelNodes: largeModelNodes, target: target,
                                               cc: cc, optLevel: optLevel, threads: threads)
        let lib = ctx.library
        let data = try Dataset.load(path: fixture.file("train.npz").path, model: model, loss: model.graph.train!.loss)
        let loss = try step(ctx, data, range: 0..<data.count, inputSize: lib.inputSize, outputSize: lib.outputSize)
        let want = try #require(Float(try String(contentsOf: fixture.file("loss.txt"), encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)))
        let lossProblem = FixtureKit.assertClose([loss], [want], atol: Self.atol, rtol: Self.rtol)
        #expect(lossProblem == nil, "loss: \(lossProblem ?? "")")
        let after = try Self.tensors(fixture.file("after.safetensors"))
        let grads = fixture.has("grads.safetensors") ? try Self.tensors(fixture.file("grads.safetensors")) : [:]
        let clipped = (model.graph.train?.clipGradNorm ?? 0) > 0
        var gradsChecked = 0
        for (i, pname) in ctx.paramNames().enumerated() {
            if let w = after[pname] {
                let e = FixtureKit.assertClose(ctx.getParam(i), w.data, atol: Self.atol, rtol: Self.rtol)
                #expect(e == nil, "\(pname) after one step: \(e ?? "")")
            }
            if !clipped, let gw = grads[pname] {
                gradsChecked += 1
                let e = FixtureKit.assertClose(ctx.getGrad(i), gw.data, atol: Self.atol, rtol: Self.rtol)
                #expect(e == nil, "∂\(pname): \(e ?? "")")
            }
        }
        #expect(clipped || grads.isEmpty || gradsChecked > 0, "no gradient of grads.safetensors matched a parameter name")
    }

    /// Ten steps over four batches cycled in order, as scripts/make_fixtures.py's "steps" cases.
    @Test(arguments: ["steps_lenet", "steps_lstm", "steps_winograd", "steps_cnn1d", "steps_transformer",
                      "steps_mobilenet_block"].map(Fixture.torch))
    func tenStepsTrackPyTorchLossCurve(_ fixture: Fixture) throws {
        let (ctx, model) = try trainingContext(fixture)
        let data = try Dataset.load(path: fixture.file("train.npz").path, model: model, loss: model.graph.train!.loss)
        let want = try FixtureKit.floats(fixture.file("losses.npy")).data
        let b = model.graph.train!.batchSize
        try #require(data.count == 4 * b)
        var got = [Float]()
        for s in 0..<want.count {
            let start = (s % 4) * b
            got.append(try step(ctx, data, range: start..<(start + b), inputSize: ctx.library.inputSize,
                                outputSize: ctx.library.outputSize))
        }
        #expect(FixtureKit.assertClose(got, want, atol: Self.atol, rtol: Self.rtol) == nil, "losses \(got) vs \(want)")
        let after = try Self.tensors(fixture.file("after_steps.safetensors"))
        for (i, pname) in ctx.paramNames().enumerated() {
            guard let w = after[pname] else { continue }
            // Looser: errors compound over steps.
            let e = FixtureKit.assertClose(ctx.getParam(i), w.data, atol: 1e-3, rtol: 1e-2)
            #expect(e == nil, "\(pname) after 10 steps: \(e ?? "")")
        }
    }

    /// An embedding's token id that is not an integer in 0..num_embeddings-1 (out of range, fractional, NaN)
    /// makes forward and train_step return NAME_ERR_INPUT (-14) before anything runs, as PyTorch raises;
    /// valid ids, the padding id 0 among them, run.
    @Test func invalidTokenIdsAreRejected() throws {
        let (ctx, _) = try trainingContext(Fixture.torch("steps_transformer"))
        let n = ctx.library.inputSize, before = ctx.getParam(0)
        let good = (0..<n).map { Float($0 % 11) }
        #expect(try good.withUnsafeBufferPointer { try ctx.forward($0, batch: 1) }.allSatisfy(\.isFinite))
        for bad: Float in [11, -1, 2.5, .nan, .infinity, 1e30] {
            var x = good
            x[n - 1] = bad
            for call in ["forward", "train_step"] {
                let e = #expect(throws: NNCCError.self) {
                    try x.withUnsafeBufferPointer { p in
                        if call == "forward" { _ = try ctx.forward(p, batch: 1) } else { _ = try ctx.trainStep(p, labels: [1], batch: 1) }
                    }
                }
                #expect(e?.code == -14 && "\(e.map { "\($0)" } ?? "")".contains("token id"), "\(call) of id \(bad): \(String(describing: e))")
            }
        }
        #expect(ctx.getParam(0) == before, "a rejected step changed the embedding")
    }

    /// Labels outside the classes are rejected by the library itself, and nothing changes.
    @Test func labelOutOfRangeIsRejectedWithoutSideEffects() throws {
        let (ctx, _) = try trainingContext(Fixture.golden("mlp_softmax_ce"))
        let before = ctx.getParam(0)
        let x = [Float](repeating: 0.5, count: ctx.library.inputSize)
        #expect(throws: (any Error).self) { try x.withUnsafeBufferPointer { try ctx.trainStep($0, labels: [10], batch: 1) } }
        #expect(ctx.getParam(0) == before)
    }

    /// A loss that does not fit the output: cross entropy on a [T, H] output is a compile-time error naming the file.
    @Test func crossEntropyNeedsClassVector() throws {
        let json = #"{"format": 1, "name": "seq", "input": {"shape": [4, 3]}, "layers": [{"type": "lstm", "units": 5, "return_sequences": true}], "train": {"loss": "cross_entropy", "optimizer": {"type": "sgd", "lr": 0.1}}}"#
        let dir = FixtureKit.makeTempDir("nncc-ce")
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("seq.json")
        try Data(json.utf8).write(to: url)
        let model = try Pipeline.load(url.path)
        let e = #expect(throws: (any Error).self) { try Pipeline.generate(model, options: CompileOptions(train: true)) }
        let text = "\(e.map { "\($0)" } ?? "")"
        #expect(text.contains("seq.json") && text.contains("cross_entropy") && text.contains("[4, 5]"), "\(text)")
    }
}
