import Foundation
import XCTest
@testable import NNCC
@testable import NNCCRuntime

/// The non-finite policy (issue 15, defects 2 and 9): NaN propagates through
/// every op as in PyTorch (relu(NaN) = NaN standalone, fused into GEMM and conv
/// epilogues and in recurrent cells; sigmoid and tanh too), and the training
/// step refuses a non-finite loss or gradient, or learning rate, leaving the
/// context as it was.
final class NonFiniteTests: XCTestCase {
    static var tmp: URL!
    nonisolated(unsafe) static var cache: (dir: URL, previous: String?)?

    override class func setUp() {
        super.setUp()
        tmp = FixtureKit.makeTempDir("nncc-nonfinite")
        cache = FixtureKit.useTempCache("nncc-nonfinite-cache")
    }

    override class func tearDown() {
        if let c = cache { FixtureKit.restoreCache(c) }
        try? FileManager.default.removeItem(at: tmp)
        super.tearDown()
    }

    /// The tiled kernels at the host's width and at SSE width, and the naive reference kernels.
    static let builds: [(name: String, options: CompileOptions)] = [
        ("native", CompileOptions(maxBatch: 8)),
        ("portable", CompileOptions(maxBatch: 8, target: .portable)),
        ("reference", CompileOptions(maxBatch: 8, reference: true)),
    ]

    func writeModel(_ name: String, input: [Int], layers: String, train: String? = nil, outputs: String? = nil) throws -> String {
        let extra = (train.map { #", "train": \#($0)"# } ?? "") + (outputs.map { #", "outputs": \#($0)"# } ?? "")
        return try TrainKit.writeModel(Self.tmp, name, input: input, layers: layers, extra: extra)
    }

    func context(_ path: String, _ options: CompileOptions) throws -> ModelContext {
        let products = try Builder.cached(try Pipeline.load(path), options: options)
        return try ModelLibrary(path: products.library.path, name: products.name).makeContext()
    }

    func forward(_ ctx: ModelContext, _ x: [Float], batch: Int) throws -> [Float] {
        try x.withUnsafeBufferPointer { try ctx.forward($0, batch: batch) }
    }

    /// PyTorch's activations in Swift, for the finite elements.
    static func act(_ name: String, _ z: Float) -> Float {
        switch name {
        case "relu": return z.isNaN ? z : max(z, 0)
        case "leaky_relu": return z > 0 ? z : 0.01 * z
        case "sigmoid": return 1 / (1 + exp(-z))
        case "tanh": return tanh(z)
        default: preconditionFailure(name)
        }
    }

    // MARK: - NaN propagates (defect 2)

    func testStandaloneActivationsPropagateNaNAndInfinity() throws {
        // 37 elements: whole vectors and a scalar tail at every width.
        var x = FixtureKit.randomFloats(37, seed: 1).map { $0 * 3 }
        let nans = [0, 17, 36], infs = [5: Float.infinity, 20: -Float.infinity]
        for i in nans { x[i] = .nan }
        for (i, v) in infs { x[i] = v }
        let expectInf: [String: (Float, Float)] = ["relu": (.infinity, 0), "leaky_relu": (.infinity, -.infinity),
                                                   "sigmoid": (1, 0), "tanh": (1, -1)]
        // One model, one branch per activation (one library per build instead of one per activation).
        let acts = ["relu", "leaky_relu", "sigmoid", "tanh", "gelu"]
        let layers = acts.map { #"{"type": "\#($0)", "name": "\#($0)", "inputs": ["input"]}"# }.joined(separator: ", ")
        let outputs = acts.map { #""\#($0)""# }.joined(separator: ", ")
        let path = try writeModel("standalone", input: [37], layers: layers, train: nil, outputs: "[\(outputs)]")
        for (build, options) in Self.builds {
            let ys = try x.withUnsafeBufferPointer { try context(path, options).forwardAll($0, batch: 1) }
            XCTAssertEqual(ys.count, acts.count, build)
            for (act, y) in zip(acts, ys) {
                for i in nans { XCTAssertTrue(y[i].isNaN, "\(act) \(build): y[\(i)] = \(y[i]), want NaN") }
                if let (pos, neg) = expectInf[act] {
                    XCTAssertEqual(y[5], pos, "\(act)(inf) \(build)")
                    XCTAssertEqual(y[20], neg, "\(act)(-inf) \(build)")
                    for i in x.indices where x[i].isFinite {
                        XCTAssertEqual(y[i], Self.act(act, x[i]), accuracy: 1e-5, "\(act) \(build) [\(i)]")
                    }
                }
            }
        }
    }

    /// A training build fuses a relu into the batchnorm before it (FuseEpilogue). Its forward (running statistics)
    /// keeps NaN through the fused relu as PyTorch's relu does: the next dense layer's units are NaN in the example
    /// with a NaN feature (all zeros there if the relu dropped it) and finite in the other.
    func testBatchNormWithFusedReluPropagatesNaN() throws {
        let path = try writeModel("bn_relu", input: [5], layers: #"{"type": "batchnorm"}, {"type": "relu"}, {"type": "dense", "units": 3}"#,
                                  train: #"{"loss": "cross_entropy", "optimizer": {"type": "sgd", "lr": 0.1}, "batch_size": 2}"#)
        let options = CompileOptions(maxBatch: 2, train: true)
        let lowered = try Pipeline.lower(try Pipeline.load(path).graph, options: options)
        XCTAssertTrue(lowered.nodes.contains { n in
            if case .batchNorm = n.op { return n.epilogue == .relu } else { return false }
        }, "the relu is not fused:\n\(printIR(lowered))")
        var x = FixtureKit.randomFloats(10, seed: 5)
        x[2] = .nan
        let y = try forward(try context(path, options), x, batch: 2)
        XCTAssertEqual(y.count, 6)
        for u in 0..<3 where y.count == 6 {
            XCTAssertTrue(y[u].isNaN, "example 0, unit \(u): \(y[u]), want NaN")
            XCTAssertTrue(y[3 + u].isFinite, "example 1, unit \(u): \(y[3 + u])")
        }
        // Training forward: the NaN makes the batch's statistics NaN, and the fused relu passes them, so the loss is
        // NaN and the step stops before backward (its gradients stay zeroed). Had the relu turned NaN into 0, the loss
        // would be finite and the step refused later, for NaN gradients.
        let ctx = try context(path, options)
        XCTAssertThrowsError(try step(ctx, x, [0, 1])) { e in XCTAssertEqual((e as? NNCCError)?.code, ModelLibrary.errorNonFinite, "\(e)") }
        for i in 0..<ctx.library.numParams where ctx.paramNames()[i].hasSuffix("weight") {
            XCTAssertEqual(ctx.getGrad(i).filter { $0 != 0 }.count, 0, "\(ctx.paramNames()[i]): backward ran, so the loss was finite")
        }
    }

    /// Dense layers with the activation in the GEMM epilogue: a NaN weight makes its unit NaN in every
    /// example (a full-vector lane and a lane of the masked tail), a NaN input its example's whole row.
    func testDenseWithFusedActivationPropagatesNaN() throws {
        let k = 9, units = 40, batch = 5
        var w = FixtureKit.randomFloats(units * k, seed: 2)
        let b = FixtureKit.randomFloats(units, seed: 3)
        w[3 * k + 2] = .nan
        w[38 * k + 5] = .nan
        var x = FixtureKit.randomFloats(batch * k, seed: 4)
        x[4 * k + 7] = .nan  // example 4
        // One model, one dense branch per activation, each with the same weights.
        let acts = ["relu", "leaky_relu", "sigmoid", "tanh"]
        let layers = acts.map {
            #"{"type": "dense", "units": \#(units), "activation": "\#($0)", "name": "\#($0)", "inputs": ["input"]}"#
        }.joined(separator: ", ")
        let path = try writeModel("dense", input: [k], layers: layers,
                                  outputs: "[" + acts.map { #""\#($0)""# }.joined(separator: ", ") + "]")
        let lowered = try Pipeline.lower(try Pipeline.load(path).graph, options: CompileOptions())
        XCTAssertEqual(lowered.nodes.dropFirst().filter { $0.epilogue != nil }.count, acts.count,
                       "every activation should fuse into its dense layer")
        for (build, options) in Self.builds {
            let ctx = try context(path, options)
            for j in acts.indices {
                try ctx.setParam(2 * j, w)
                try ctx.setParam(2 * j + 1, b)
            }
            let ys = try x.withUnsafeBufferPointer { try ctx.forwardAll($0, batch: batch) }
            XCTAssertEqual(ys.count, acts.count, build)
            for (act, y) in zip(acts, ys) {
                for r in 0..<batch {
                    for u in 0..<units {
                        let got = y[r * units + u]
                        if r == 4 || u == 3 || u == 38 {
                            XCTAssertTrue(got.isNaN, "\(act) \(build): y[\(r)][\(u)] = \(got), want NaN")
                            continue
                        }
                        var z = b[u]
                        for j in 0..<k { z += x[r * k + j] * w[u * k + j] }
                        XCTAssertEqual(got, Self.act(act, z), accuracy: 1e-4, "\(act) \(build): y[\(r)][\(u)]")
                    }
                }
            }
        }
    }

    /// Every convolution kernel (rows, narrow, implicit GEMM, Winograd) with a fused activation: one NaN
    /// weight makes its filter's whole output plane NaN; the other planes match the reference build.
    func testConvolutionWithFusedActivationPropagatesNaN() throws {
        let cases: [(name: String, input: [Int], kernel: Int, layer: String)] = [
            ("rows", [3, 12, 20], 3, #""filters": 8, "padding": 1"#),
            ("narrow", [6, 14, 14], 5, #""filters": 16"#),
            ("strided", [4, 11, 11], 3, #""filters": 20, "stride": 2"#),
            ("winograd", [16, 9, 13], 3, #""filters": 16, "padding": 1"#),
        ]
        for c in cases {
            // tanh once, on Winograd's separate activation pass; the dense test covers it in epilogues.
            for act in c.name == "winograd" ? ["relu", "tanh"] : ["relu"] {
                let path = try writeModel("conv_\(c.name)_\(act)", input: c.input,
                                          layers: #"{"type": "conv2d", "kernel_size": \#(c.kernel), \#(c.layer), "activation": "\#(act)"}"#)
                let node = try XCTUnwrap(try Pipeline.lower(try Pipeline.load(path).graph, options: CompileOptions()).nodes.last)
                XCTAssertNotNil(node.epilogue, "\(c.name): the activation should fuse")
                let filters = node.shape[0], plane = node.shape[1] * node.shape[2]
                let wCount = filters * c.input[0] * c.kernel * c.kernel
                var w = FixtureKit.randomFloats(wCount, seed: 5).map { $0 * 0.3 }
                let nanFilter = filters - 3
                w[nanFilter * (wCount / filters) + 4] = .nan
                let x = FixtureKit.randomFloats(2 * c.input.reduce(1, *), seed: 6)
                var outputs: [String: [Float]] = [:]
                for (build, options) in Self.builds {
                    let ctx = try context(path, options)
                    try ctx.setParam(0, w)
                    let y = try forward(ctx, x, batch: 2)
                    for e in 0..<2 {
                        let at = (e * filters + nanFilter) * plane
                        XCTAssertTrue(y[at..<(at + plane)].allSatisfy(\.isNaN), "\(c.name) \(act) \(build): plane of the NaN filter")
                    }
                    outputs[build] = y.map { $0.isNaN ? 0 : $0 }
                }
                for build in ["native", "portable"] {
                    if let e = FixtureKit.assertClose(outputs[build]!, outputs["reference"]!, atol: 1e-5, rtol: 1e-4) {
                        XCTFail("\(c.name) \(act) \(build) vs reference: \(e)")
                    }
                }
            }
        }
    }

    /// relu, sigmoid and tanh on whole vectors in the recurrent cells: a NaN input at step 2 makes
    /// every later output NaN, the earlier ones stay finite.
    func testRecurrentCellsPropagateNaN() throws {
        for (cell, layer) in [("rnn_relu", #"{"type": "rnn", "units": 20, "activation": "relu", "return_sequences": true}"#),
                              ("lstm", #"{"type": "lstm", "units": 20, "return_sequences": true}"#),
                              ("gru", #"{"type": "gru", "units": 20, "return_sequences": true}"#)] {
            let path = try writeModel("seq_\(cell)", input: [5, 4], layers: layer)
            var x = FixtureKit.randomFloats(20, seed: 7)
            x[2 * 4 + 1] = .nan
            for (build, options) in Self.builds {
                let y = try forward(try context(path, options), x, batch: 1)
                XCTAssertTrue(y[0..<40].allSatisfy(\.isFinite), "\(cell) \(build): steps 0 and 1")
                XCTAssertTrue(y[40...].allSatisfy(\.isNaN), "\(cell) \(build): steps 2 to 4 \(Array(y[40...]))")
            }
        }
    }

    /// An ONNX initializer holding a NaN gives NaN outputs (MatMul + Add + Relu, fused).
    func testONNXNaNInitializerGivesNaNOutput() throws {
        var w = (0..<12).map { Float($0) * 0.1 - 0.5 }
        w[1 * 3 + 2] = .nan  // [in 4, out 3]: input 1 to output 2
        let data = ONNXImportTests.model(
            [ONNXImportTests.node("MatMul", ["x", "fc.weight"], ["h"]), ONNXImportTests.node("Add", ["h", "b"], ["z"]),
             ONNXImportTests.node("Relu", ["z"], ["y"])],
            inits: [ONNXImportTests.floats("fc.weight", [4, 3], w), ONNXImportTests.floats("b", [3], [0.1, 0.2, 0.3])])
        let path = Self.tmp.appendingPathComponent("nan_init.onnx")
        try data.write(to: path)
        let session = try Session(modelPath: path.path)
        let y = try session.predict([1, 2, 3, 4, -1, -2, -3, -4], count: 2)
        XCTAssertTrue(y[2].isNaN && y[5].isNaN, "output 2 reads the NaN weight: \(y)")
        // Example 0: 1.0 + 0.1 and 2.0 + 0.2; example 1 is below zero before the relu.
        for (got, want) in zip(Array(y[0..<2]) + Array(y[3..<5]), [Float(1.1), 2.2, 0, 0]) {
            XCTAssertEqual(got, want, accuracy: 1e-5, "the other outputs: \(y)")
        }
    }

    // MARK: - The training step refuses non-finite numbers (defect 9)

    static let classifier = #"{"type": "dense", "units": 12}, {"type": "batchnorm"}, {"type": "relu"}, {"type": "dropout", "rate": 0.3}, {"type": "dense", "units": 3}"#

    func trainingContext(_ name: String, optimizer: String, options: CompileOptions = CompileOptions(maxBatch: 4, train: true))
        throws -> ModelContext {
        let path = try writeModel(name, input: [5], layers: Self.classifier,
                                  train: #"{"loss": "cross_entropy", "optimizer": \#(optimizer), "batch_size": 4}"#)
        return try context(path, options)
    }

    func step(_ ctx: ModelContext, _ x: [Float], _ labels: [Int32]) throws -> Float {
        try x.withUnsafeBufferPointer { try ctx.trainStep($0, labels: labels, batch: labels.count) }
    }

    /// Every parameter (batchnorm's running statistics included) as bit patterns: NaN-safe, -0 ≠ +0.
    func bits(_ ctx: ModelContext) -> [[UInt32]] {
        (0..<ctx.library.numParams).map { ctx.getParam($0).map(\.bitPattern) }
    }

    let good1 = FixtureKit.randomFloats(20, seed: 8), good2 = FixtureKit.randomFloats(20, seed: 9)
    let labels: [Int32] = [0, 2, 1, 2]

    func assertRefused(_ ctx: ModelContext, _ x: [Float], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try step(ctx, x, labels), file: file, line: line) { e in
            XCTAssertEqual((e as? NNCCError)?.code, ModelLibrary.errorNonFinite, "\(e)", file: file, line: line)
            XCTAssertTrue("\(e)".contains("not finite"), "\(e)", file: file, line: line)
        }
    }

    /// A NaN input is refused and changes nothing: parameters, running statistics, momentum or Adam
    /// moments and step count, and the dropout generator: good, NaN, good ends bit-identical to good, good.
    func testNaNInputStepIsRefusedAndChangesNothing() throws {
        var bad = good1
        bad[7] = .nan
        for (optimizer, options) in [(#"{"type": "adam", "lr": 0.01}"#, CompileOptions(maxBatch: 4, train: true)),
                                     (#"{"type": "sgd", "lr": 0.1, "momentum": 0.9}"#, CompileOptions(maxBatch: 4, train: true)),
                                     (#"{"type": "adam", "lr": 0.01}"#, CompileOptions(maxBatch: 4, train: true, reference: true))] {
            let name = "refuse_\(optimizer.contains("adam") ? "adam" : "sgd")"
            let a = try trainingContext(name, optimizer: optimizer, options: options)
            let b = try trainingContext(name, optimizer: optimizer, options: options)
            // A refused first step must not count as the first (SGD's momentum buffer starts at step 0).
            let initial = bits(a)
            assertRefused(a, bad)
            XCTAssertEqual(bits(a), initial, "\(name): a refused first step changed the parameters")
            _ = try step(a, good1, labels)
            let afterOne = bits(a)
            assertRefused(a, bad)
            XCTAssertEqual(bits(a), afterOne, "\(name): the refused step changed the parameters")
            let la = try step(a, good2, labels)
            _ = try step(b, good1, labels)
            let lb = try step(b, good2, labels)
            XCTAssertEqual(la.bitPattern, lb.bitPattern, "\(name): loss of the step after the refused one")
            XCTAssertEqual(bits(a), bits(b), "\(name): state after good, NaN, good differs from good, good")
        }
    }

    /// A finite loss with an infinite gradient: y = w·x with w = 1e-30, x = 3e38 gives the loss
    /// 9e16 but ∂w = 2·3e8·3e38, beyond float. The step is refused before the update. With two threads
    /// a batch of two is split (TrainThreads), and each thread checks its part of the summed gradients.
    func testInfiniteGradientWithFiniteLossIsRefused() throws {
        let path = try writeModel("grad_overflow", input: [1], layers: #"{"type": "dense", "units": 1, "bias": false}"#,
                                  train: #"{"loss": "mse", "optimizer": {"type": "sgd", "lr": 0.1}, "batch_size": 1}"#)
        for (options, batch) in [(CompileOptions(maxBatch: 1, train: true), 1), (CompileOptions(maxBatch: 1, train: true, reference: true), 1),
                                 (CompileOptions(maxBatch: 2, train: true, threads: 2), 2)] {
            let ctx = try context(path, options)
            try ctx.setParam(0, [1e-30])
            let huge = [Float](repeating: 3e38, count: batch), zeros = [Float](repeating: 0, count: batch)
            XCTAssertThrowsError(try huge.withUnsafeBufferPointer { try ctx.trainStep($0, targets: zeros, batch: batch) }) { e in
                XCTAssertEqual((e as? NNCCError)?.code, ModelLibrary.errorNonFinite, "\(e)")
            }
            XCTAssertEqual(ctx.getParam(0), [1e-30])
            let ones = [Float](repeating: 1, count: batch)
            let loss = try ones.withUnsafeBufferPointer { try ctx.trainStep($0, targets: ones, batch: batch) }
            XCTAssertEqual(loss, 1, accuracy: 1e-6)
            XCTAssertEqual(ctx.getParam(0)[0], 0.2, accuracy: 1e-6)  // w − 0.1·2(w·1 − 1)
        }
    }

    func testLearningRateMustBeFiniteAndNonNegative() throws {
        let optimizer = #"{"type": "sgd", "lr": 0.1, "momentum": 0.9}"#
        let a = try trainingContext("lr_check", optimizer: optimizer), b = try trainingContext("lr_check", optimizer: optimizer)
        for lr in [Float.nan, .infinity, -.infinity, -1, -Float.leastNonzeroMagnitude] {
            XCTAssertThrowsError(try a.setLearningRate(lr), "set_lr(\(lr))") { e in
                XCTAssertEqual((e as? NNCCError)?.code, ModelLibrary.errorLearningRate, "\(e)")
                XCTAssertTrue("\(e)".contains("learning rate is not a finite number >= 0"), "\(e)")
            }
        }
        // The refused rates left the compiled 0.1 in place.
        _ = try step(a, good1, labels)
        _ = try step(b, good1, labels)
        XCTAssertEqual(bits(a), bits(b))
        try a.setLearningRate(0)
        let frozen = bits(a)
        _ = try step(a, good2, labels)
        XCTAssertEqual(bits(a).enumerated().filter { a.paramNames()[$0.offset].contains("running") == false }.map(\.element),
                       frozen.enumerated().filter { a.paramNames()[$0.offset].contains("running") == false }.map(\.element),
                       "lr 0 moves no trainable parameter")
        XCTAssertNoThrow(try a.setLearningRate(1e-3))
    }

    /// Trainer hands its rate to set_lr when an epoch starts: a NaN rate stops it before any step.
    func testTrainerRefusesANonFiniteLearningRate() throws {
        let path = try writeModel("trainer_lr", input: [5], layers: Self.classifier,
                                  train: #"{"loss": "cross_entropy", "optimizer": {"type": "sgd", "lr": 0.1}, "batch_size": 4}"#)
        let session = try Session(modelPath: path, options: CompileOptions(maxBatch: 4, train: true))
        let trainer = try Trainer(session: session)
        let before = bits(session.context)
        trainer.learningRate = .nan
        let data = Dataset(x: good1, count: 4, labels: labels)
        XCTAssertThrowsError(try trainer.runEpoch(data, epoch: 1)) { e in
            XCTAssertEqual((e as? NNCCError)?.code, ModelLibrary.errorLearningRate, "\(e)")
        }
        XCTAssertEqual(bits(session.context), before)
        trainer.learningRate = 0.1
        XCTAssertEqual(try trainer.runEpoch(data, epoch: 1).stepLosses.count, 1)
    }

    /// The header documents set_lr's int return and both codes; their values are the runtime's.
    func testHeaderDeclaresTheCodes() throws {
        let path = try writeModel("codes", input: [5], layers: Self.classifier,
                                  train: #"{"loss": "cross_entropy", "optimizer": {"type": "sgd", "lr": 0.1}}"#)
        let products = try Builder.cached(try Pipeline.load(path), options: CompileOptions(train: true))
        let header = try String(contentsOf: products.header, encoding: .utf8)
        XCTAssertTrue(header.contains("int         codes_set_lr(codes_ctx *, float lr);"), header)
        XCTAssertTrue(header.contains("#define codes_ERR_NONFINITE  (\(ModelLibrary.errorNonFinite))"), header)
        XCTAssertTrue(header.contains("#define codes_ERR_LR         (\(ModelLibrary.errorLearningRate))"), header)
    }

    // MARK: - nncc train

    /// NaN in the data, a diverging learning rate, a NaN initial weight: exit 1 with a message that says
    /// which, and no weights file written.
    func testTrainCommandStopsOnNonFiniteNumbers() throws {
        let dir = Self.tmp.appendingPathComponent("cli")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let model = try writeModel("cli_train", input: [5], layers: #"{"type": "dense", "units": 8}, {"type": "relu"}, {"type": "dense", "units": 3}"#,
                                   train: #"{"loss": "cross_entropy", "optimizer": {"type": "sgd", "lr": 0.1}, "batch_size": 2, "epochs": 3}"#)
        let x = FixtureKit.randomFloats(40, seed: 10), y: [Int64] = [0, 1, 2, 0, 1, 2, 0, 1]
        func data(_ name: String, _ x: [Float]) throws -> String {
            let path = dir.appendingPathComponent(name).path
            try Npz.write([("x", .float(Tensor(shape: [8, 5], data: x))), ("y", .int(shape: [8], data: y))], to: path)
            return path
        }
        let good = try data("good.npz", x)
        var nanX = x
        nanX[13] = .nan
        let save = dir.appendingPathComponent("w.safetensors").path
        func train(_ args: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
            let exe = try XCTUnwrap(CLITests.executable, "nncc executable not found; build it first")
            return try FixtureKit.run(exe.path, ["train", model, "--save", save, "--no-shuffle"] + args, in: dir)
        }

        var r = try train(["--data", try data("nan.npz", nanX)])
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("nan.npz: x: example 2, element 3 is not finite (nan)"), r.stderr)

        r = try train(["--data", good, "--lr", "1e30"])
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("loss became NaN or infinite at epoch "), r.stderr)
        XCTAssertTrue(r.stderr.contains("(learning rate 1e+30); the step was not taken; try a lower learning rate"), r.stderr)
        XCTAssertFalse(r.stderr.contains("parameter"), r.stderr)

        var w = FixtureKit.randomFloats(40, seed: 11)
        w[6] = .nan
        let weights = dir.appendingPathComponent("nan_init.safetensors").path
        try SafeTensors.write([("0.weight", Tensor(shape: [8, 5], data: w)), ("0.bias", Tensor(shape: [8], data: Array(repeating: 0, count: 8))),
                               ("2.weight", Tensor(shape: [3, 8], data: FixtureKit.randomFloats(24, seed: 12))),
                               ("2.bias", Tensor(shape: [3], data: [0, 0, 0]))], to: weights)
        r = try train(["--data", good, "--weights", weights])
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("epoch 1, step 1: parameter \"0.weight\" holds nan in the initial weights, so the loss is not finite; fix the weights"),
                      r.stderr)

        XCTAssertFalse(FileManager.default.fileExists(atPath: save), "no weights saved after a refused step")
        r = try train(["--data", good])
        XCTAssertEqual(r.status, 0, r.stderr)
    }
}
