import Foundation
import XCTest
@testable import NNCC
@testable import NNCCRuntime

/// `nncc train --grad-report` and NAME_grad_stats: two libraries, a deep sigmoid MLP (its first layers'
/// gradients vanish) and the same MLP with batchnorm and relu (they do not), each compiled once and
/// shared by the CLI run and the checks through the Swift API (same options, same cache entry).
final class GradReportTests: XCTestCase {
    static var tmp: URL!
    nonisolated(unsafe) static var cache: (dir: URL, previous: String?)?
    static let digits = TrainKit.examples.appendingPathComponent("digits/train.npz").path

    override class func setUp() {
        super.setUp()
        tmp = TrainKit.tempDir("nncc-grad-report")
        cache = FixtureKit.useTempCache("nncc-grad-report-cache")
    }

    override class func tearDown() {
        if let c = cache { FixtureKit.restoreCache(c) }
        try? FileManager.default.removeItem(at: tmp)
        super.tearDown()
    }

    /// 8 hidden dense layers of 32 on the 8×8 digits, SGD with momentum, batch 32.
    func deepMLP(_ name: String, activation: String, batchnorm: Bool) throws -> String {
        let hidden = (1...8).map { i in
            #"{"type": "dense", "units": 32, "name": "fc\#(i)"}, "# + (batchnorm ? #"{"type": "batchnorm", "name": "bn\#(i)"}, "# : "")
                + #"{"type": "\#(activation)"}"#
        }
        let layers = ([#"{"type": "flatten"}"#] + hidden + [#"{"type": "dense", "units": 10, "name": "out"}"#]).joined(separator: ", ")
        return try TrainKit.writeModel(Self.tmp, name, input: [1, 8, 8], layers: layers, extra: #", "seed": 0, "train": "#
            + #"{"loss": "cross_entropy", "optimizer": {"type": "sgd", "lr": 0.1, "momentum": 0.9}, "batch_size": 32}"#)
    }

    func train(_ model: String, report: String) throws -> (status: Int32, stderr: String) {
        let p = Process()
        p.executableURL = try XCTUnwrap(CLITests.executable, "nncc executable not found; build it first")
        p.arguments = ["train", model, "--data", Self.digits, "--epochs", "2", "--grad-report", report]
        let err = Pipe()
        (p.standardOutput, p.standardError) = (FileHandle.nullDevice, err)
        try p.run()
        let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        return (p.terminationStatus, text)
    }

    /// The library the CLI built for the run above: the same options, so the same cache entry.
    func session(_ model: String) throws -> Session {
        var options = CompileOptions(maxBatch: 32, train: true)
        options.gradientStats = true
        return try Session(model: Pipeline.load(model), options: options)
    }

    func testWarningFiresOnDeepSigmoidMLP() throws {
        let model = try deepMLP("deep_sigmoid", activation: "sigmoid", batchnorm: false)
        let report = Self.tmp.appendingPathComponent("sigmoid.svg").path
        let r = try train(model, report: report)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("warning: layer fc1 (dense): gradient norm"), r.stderr)
        XCTAssertTrue(r.stderr.contains("is below 1e-6: its gradients vanish"), r.stderr)
        XCTAssertFalse(r.stderr.contains("layer out (dense)"), "the output layer's gradients are healthy: \(r.stderr)")
        XCTAssertEqual(r.stderr.components(separatedBy: "warning: layer fc1 ").count - 1, 1, "warned once over two epochs")
        let svg = try String(contentsOfFile: report, encoding: .utf8)
        for f in ["deep_sigmoid: gradient health per layer", "weight gradient L2 norm (log scale)", "update / weight (log scale)",
                  "fc1 (dense)", "out (dense)"] {
            XCTAssertTrue(svg.contains(f), "report lacks \(f)")
        }
        try assertSumsMatchTheStep(session(model))
    }

    func testNoWarningWithReLUAndBatchnorm() throws {
        let model = try deepMLP("deep_relu_bn", activation: "relu", batchnorm: true)
        let r = try train(model, report: Self.tmp.appendingPathComponent("relu_bn.svg").path)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertFalse(r.stderr.contains("warning:"), r.stderr)
        // Through the Trainer: each epoch carries its layers, fc1 first, batchnorm's gamma counted as a layer's weight.
        let s = try session(model)
        let trainer = try Trainer(session: s)
        let data = try Dataset.load(path: Self.digits, model: s.model, loss: .crossEntropy)
        let layers = try XCTUnwrap(trainer.runEpoch(data, epoch: 1).gradients)
        XCTAssertEqual(layers.map(\.layer), (1...8).flatMap { ["fc\($0)", "bn\($0)"] } + ["out"])
        XCTAssertTrue(layers.allSatisfy { $0.gradNorm > 1e-4 && $0.updateRatio > 0 && $0.updateRatio < 1 }, "\(layers)")
        try assertSumsMatchTheStep(s)
    }

    /// After one step, NAME_grad_stats holds ‖∂W‖² as get_grad returns it (no clipping here), ‖ΔW‖² and
    /// ‖W‖² from get_param before and after; zeros for running statistics; reset starts over.
    func assertSumsMatchTheStep(_ s: Session, file: StaticString = #filePath, line: UInt = #line) throws {
        let c = s.context, data = try Dataset.load(path: Self.digits, model: s.model, loss: .crossEntropy)
        let names = c.paramNames(), trainable = Set(s.model.graph.params.filter(\.trainable).map(\.name))
        _ = try c.gradientSums(reset: true)
        let before = names.indices.map { c.getParam($0) }
        _ = try data.x.withUnsafeBufferPointer { x in
            try c.trainStep(UnsafeBufferPointer(rebasing: x[0..<(32 * 64)]), labels: Array(data.labels![0..<32]), batch: 32)
        }
        let (steps, sums) = try XCTUnwrap(c.gradientSums(reset: true))
        XCTAssertEqual(steps, 1, file: file, line: line)
        func squares(_ v: [Float]) -> Double { v.reduce(0) { $0 + Double($1) * Double($1) } }
        for (i, name) in names.enumerated() {
            let expected = trainable.contains(name)
                ? [squares(c.getGrad(i)), squares(zip(c.getParam(i), before[i]).map { $0 - $1 }), squares(before[i])]
                : [0, 0, 0]
            for k in 0..<3 {
                XCTAssertEqual(sums[3 * i + k], expected[k], accuracy: 1e-5 * expected[k] + 1e-30, "\(name)[\(k)]", file: file, line: line)
            }
        }
        let (none, zeros) = try XCTUnwrap(c.gradientSums(reset: false))
        XCTAssertEqual(none, 0, file: file, line: line)
        XCTAssertTrue(zeros.allSatisfy { $0 == 0 }, file: file, line: line)
    }

    /// Warnings: vanishing below 1e-6, exploding over 1000 times the first epoch, each once per layer.
    func testWarnings() {
        var r = GradientReport(model: "m")
        func layer(_ norm: Double) -> [LayerGradient] { [LayerGradient(layer: "rnn", type: "rnn", gradNorm: norm, updateRatio: 1e-3)] }
        XCTAssertEqual(r.append(layer(0.5)), [])
        XCTAssertEqual(r.append(layer(400)), [])
        let exploding = r.append(layer(600))
        XCTAssertEqual(exploding.count, 1)
        XCTAssertTrue(exploding[0].contains("layer rnn (rnn): gradient norm 600 at epoch 3 is over 1000 times its first-epoch 0.5"), exploding[0])
        XCTAssertTrue(exploding[0].contains("clip_grad_norm"))
        XCTAssertEqual(r.append(layer(5000)), [])
        XCTAssertEqual(r.append(layer(1e-7)).count, 1)
        XCTAssertEqual(r.append(layer(1e-8)), [])
        XCTAssertTrue(r.svg().contains("rnn (rnn)"))
    }
}
