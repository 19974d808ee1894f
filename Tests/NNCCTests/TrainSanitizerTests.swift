import Foundation
import XCTest
@testable import NNCC
import NNCCRuntime

/// The training step's C alone, built with -Wall -Wextra -Werror: clean under
/// ASan/UBSan/LSan (exit 0, empty stderr), one step matching PyTorch's weights
/// (atol 1e-4, rtol 1e-3), bad arguments rejected without side effects, and
/// zero allocations in 10 steps at batch 64 (counted by the sanitizer's hook).
final class TrainSanitizerTests: XCTestCase {
    var tmp: URL!
    override func setUpWithError() throws { tmp = FixtureKit.makeTempDir("nncc-train-sanitizer") }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: tmp) }

    func drive(_ fixture: URL) throws -> [String] {
        let model = try Pipeline.load(fixture.appendingPathComponent("model.json").path)
        let (lib, graph) = try Pipeline.generate(model, options: CompileOptions(maxBatch: 64, train: true))
        let name = graph.name, dir = tmp.appendingPathComponent(name, isDirectory: true)
        let (source, header) = try DriverFiles.writeSources(lib, name: name, in: dir)
        let args = try DriverFiles.trainArguments(fixture, model: model, graph: graph, in: dir)
        let common = ["-std=c11", "-Wall", "-Wextra", "-Werror", "-O0", "-g"] + Target.native.compilerFlags
            + DriverFiles.defines(name, header: header) + ["-o"]
        let cc = try GCC.path()
        var problems = [String]()

        let asan = dir.appendingPathComponent("train_asan").path
        try GCC.run([cc] + common + [asan, "-fsanitize=address,undefined", "-fno-sanitize-recover=all",
                                     DriverFiles.trainDriver.path, source.path, "-lm"])
        let r = try FixtureKit.run(asan, args, environment: [
            "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0:exitcode=86",
            "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1",
        ], in: dir)
        if r.status != 0 || !r.stderr.isEmpty || !r.stdout.contains(": 0 failures") {
            problems.append("sanitizer build: exit \(r.status)\n\(r.stdout)\(r.stderr.prefix(6000))")
        }
        problems += try DriverFiles.trainProblems(fixture, saved: args[5])

        // The sanitizer's allocation hook counts (count_malloc.h): no second build.
        if !r.stdout.contains("allocations during 10 train steps at batch 64: 0\n") {
            problems.append("train_step allocated, or the allocation count is missing:\n\(r.stdout)")
        }
        return problems
    }

    func check(_ root: URL, _ name: String, file: StaticString = #filePath, line: UInt = #line) {
        do {
            let problems = try drive(root.appendingPathComponent(name, isDirectory: true))
            if !problems.isEmpty { XCTFail("\(name):\n" + problems.joined(separator: "\n"), file: file, line: line) }
        } catch {
            XCTFail("\(name): \(error)", file: file, line: line)
        }
    }

    /// Conv, pooling, dense, cross entropy, SGD with momentum.
    func testLenetLike() { check(FixtureKit.golden, "lenet_like") }
    /// Batchnorm in training mode (batch statistics, running statistics) and average pooling.
    func testBatchNorm() { check(FixtureKit.golden, "conv_avgpool_bn") }
    /// LSTM through time, mse, Adam.
    func testLSTM() { check(FixtureKit.golden, "lstm_seq") }
    /// A residual block (fan-out and add) and GRU/LSTM concatenation.
    func testGraphs() {
        check(FixtureKit.torch, "resblock")
        check(FixtureKit.torch, "concat_seq")
    }
    /// Winograd forward and ∂x (accumulated into the gradient buffer), batchnorm in training mode.
    func testWinograd() { check(FixtureKit.torch, "conv_winograd") }
    /// Dropout in training mode, binary cross entropy on logits.
    func testDropoutAndBCE() {
        check(FixtureKit.torch, "dropout_zero_train")
        check(FixtureKit.golden, "sigmoid_bce")
    }
    /// A 1-D CNN on [C, L]: conv1d (strided, dilated, grouped), BatchNorm1d in training mode, 1-D pools.
    func testConv1D() { check(FixtureKit.torch, "conv1d_net") }
    /// A 3-D CNN on [C, D, H, W]: conv3d's ∂W and ∂x on the GEMM, BatchNorm3d in training mode, 3-D pools.
    func testConv3D() { check(FixtureKit.torch, "conv3d_net") }
    /// A user's C kernel and its backward (docs/custom-ops.md): the moving average of Fixtures/custom.
    func testCustomOperator() { check(FixtureKit.root.appendingPathComponent("custom"), "movavg") }

    /// The architectures of issue 11: a 1-D CNN, a transformer encoder on token ids (embedding, attention,
    /// layernorm, gelu), a MobileNetV2 block (depthwise conv, relu6, residual add, batchnorm).
    func testModelArchitectures() {
        check(FixtureKit.torch, "steps_cnn1d")
        check(FixtureKit.torch, "steps_transformer")
        check(FixtureKit.torch, "steps_mobilenet_block")
    }

    /// Transpose (tiled and row copies), matmul on loops and on the GEMM (forward and backward), softmax
    /// over strided axes, reductions with tie counts, and slices.
    func testTensorOps() {
        check(FixtureKit.torch, "attention")
        check(FixtureKit.torch, "channel_shuffle")
        check(FixtureKit.torch, "reductions")
        check(FixtureKit.torch, "slices")
    }
}
