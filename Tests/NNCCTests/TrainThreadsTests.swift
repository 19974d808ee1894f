import Foundation
@testable import NNCC
import NNCCRuntime
#if canImport(Testing)
import Testing
#endif

/// `--threads 2` splits the train step's batch across the threads (TrainThreads): each share's forward,
/// loss and backward in its own block, the gradients summed in thread order. The batch sums (∂W, batchnorm's
/// statistics, the loss) are added in another order than one thread adds them, so the step matches one
/// thread's within float rounding, not bit for bit, and is the same from run to run. Two gcc compiles per case:
/// the model as it is, and emitted as a large model (CodeSize: shared kernels, out-of-line parts).
struct TrainThreadsTests {
    /// conv, batchnorm (statistics summed across the threads), dropout (the same masks), dense, SGD with
    /// momentum; batches that split unevenly (7 → 3 + 4), a batch of one (not split) and two.
    static let model = #"""
        {"format": 1, "name": "split_step", "input": {"shape": [3, 6, 5]}, "seed": 11,
         "layers": [{"type": "conv2d", "filters": 4, "kernel_size": 3, "padding": 1},
                    {"type": "batchnorm"}, {"type": "relu"}, {"type": "dropout", "rate": 0.3},
                    {"type": "flatten"}, {"type": "dense", "units": 5}],
         "train": {"loss": "cross_entropy", "optimizer": {"type": "sgd", "lr": 0.1, "momentum": 0.9}, "batch_size": 7}}
        """#

    @Test(arguments: [nil, 2]) func splitStepMatchesOneThread(largeModelNodes: Int?) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nncc-trainthreads-\(getpid())-\(largeModelNodes ?? 0)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("split_step.json").path
        try Self.model.write(toFile: path, atomically: true, encoding: .utf8)

        var runs: [(losses: [Float], params: [[Float]], rng: UInt64)] = []
        var trainFloats: [Int] = []
        for threads in [1, 2, 2] {
            var options = CompileOptions(train: true, threads: threads)
            if let n = largeModelNodes { options.largeModelNodes = n }
            let (ctx, _, products) = try Libraries.context(path, options: options)
            let source = try String(contentsOf: products.source, encoding: .utf8)
            #expect(source.contains("_train_split(") == (threads == 2))
            #expect(source.contains("_batchnorm_4x6x5_relu("), "the relu is fused into the batchnorm")
            #expect(source.contains("split_step_pack_unit(c, u)") == (threads == 2), "the repacking is shared out too")
            #expect(source.contains("split_step_share_backward_part0(") == (threads == 2 && largeModelNodes != nil))
            let floats = source.split(separator: "\n").first { $0.hasPrefix("#define split_step_TRAIN_FLOATS ") }?.split(separator: " ").last
            trainFloats.append((try #require(floats.flatMap { Int($0) })))
            var losses: [Float] = []
            for (k, batch) in [7, 7, 1, 2, 7].enumerated() {
                let x = FixtureKit.randomFloats(batch * ctx.library.inputSize, seed: 31 &+ UInt64(k))
                let labels = (0..<batch).map { Int32(($0 * 3 + k) % 5) }
                losses.append(try x.withUnsafeBufferPointer { try ctx.trainStep($0, labels: labels, batch: batch) })
            }
            runs.append((losses, (0..<ctx.library.numParams).map { ctx.getParam($0) }, try ctx.optimizerState().rng))
        }
        let (one, two, again) = (runs[0], runs[1], runs[2])
        #expect(two.losses == again.losses && two.params == again.params, "the split step differs from run to run")
        #expect(two.rng == one.rng, "dropout drew another count than one thread")
        let lossProblem = FixtureKit.assertClose(two.losses, one.losses, atol: 1e-5, rtol: 1e-5)
        #expect(lossProblem == nil, "losses: \(lossProblem ?? "")")
        // Running mean and variance of batchnorm included: its statistics are the whole batch's.
        for (i, (a, b)) in zip(two.params, one.params).enumerated() {
            let e = FixtureKit.assertClose(a, b, atol: 1e-5, rtol: 1e-4)
            #expect(e == nil, "parameter \(i) after five steps: \(e ?? "")")
        }
        #expect(trainFloats[1] > trainFloats[0], "TRAIN_FLOATS counts the per-thread blocks: \(trainFloats)")
    }

    /// Dense layers' ∂W and ∂b are not summed from per-share copies: after the shares, each thread
    /// computes whole micro-kernel rows of them over the batch (nn_dense_dw_team), so the shares neither
    /// zero nor write them. One step against PyTorch, gradients included, at two threads: dense over a
    /// sequence (rows per example), without a bias, after a folded batchnorm, and after a GRU; batches
    /// of 5 and 6 split 2 + 3 and 3 + 3.
    @Test(arguments: ["dense_seq", "dense_nobias", "bn_dense_fold", "gru_seq_dense"])
    func denseWeightGradientsComeFromTheTeam(_ name: String) throws {
        let fixture = Fixture.torch(name)
        let options = CompileOptions(train: true, threads: 2)
        let (lib, _) = try Pipeline.generate(try Pipeline.load(fixture.modelJSON), options: options)
        #expect(lib.source.contains("nn_dense_dw_team(t, team, nb,"), "the team computes ∂W")
        try TrainingTests().oneStep(fixture, reference: false, threads: 2)
    }
}
