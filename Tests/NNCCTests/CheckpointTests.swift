import Foundation
import XCTest
#if canImport(FoundationXML)
import FoundationXML
#endif
@testable import NNCC
@testable import NNCCRuntime

/// `nncc train --checkpoint / --resume / --early-stopping` and Ctrl-C, through the executable, on one small
/// model with shuffling, dropout, augmentation and Adam on: one compile for the whole class.
final class CheckpointTests: XCTestCase {
    static let cache = FixtureKit.classCache("nncc-checkpoint-cache")
    var tmp: URL!

    override func setUpWithError() throws {
        tmp = TrainKit.tempDir("nncc-checkpoint")
        try FileManager.default.createDirectory(at: Self.cache, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: tmp) }
    override class func tearDown() { FixtureKit.removeClassCache(cache) }

    /// Digits through a small dense net with dropout; crops, flips and brightness; Adam (moments to resume).
    func model() throws -> String {
        try TrainKit.writeModel(tmp, "ckpt", input: [1, 8, 8], layers: """
            {"type": "flatten"}, {"type": "dense", "units": 24, "activation": "relu"}, {"type": "dropout", "rate": 0.3},
            {"type": "dense", "units": 10}
            """, extra: """
            , "seed": 3, "train": {"loss": "cross_entropy", "optimizer": "adam", "batch_size": 64, "shuffle": true,
              "augment": {"crop_padding": 1, "hflip": true, "brightness": 0.1},
              "lr_schedule": {"type": "step", "step_size": 1, "gamma": 0.7}}
            """)
    }

    var data: [String] {
        let d = TrainKit.examples.appendingPathComponent("digits")
        return ["--data", d.appendingPathComponent("train.npz").path, "--val", d.appendingPathComponent("test.npz").path]
    }

    func start(_ args: [String]) throws -> (Process, stdout: URL) {
        let p = try CLITests.process(args, in: tmp, cache: Self.cache)
        let out = tmp.appendingPathComponent("stdout-\(UUID().uuidString)")
        FileManager.default.createFile(atPath: out.path, contents: nil)
        p.standardOutput = try FileHandle(forWritingTo: out)
        p.standardError = try FileHandle(forWritingTo: out)
        try p.run()
        return (p, out)
    }

    @discardableResult
    func nncc(_ args: [String], status: Int32 = 0) throws -> String {
        let (p, out) = try start(args)
        p.waitUntilExit()
        let text = try String(contentsOf: out, encoding: .utf8)
        XCTAssertEqual(p.terminationStatus, status, "nncc \(args.joined(separator: " ")):\n\(text)")
        return text
    }

    func bytes(_ name: String) throws -> Data { try Data(contentsOf: tmp.appendingPathComponent(name)) }

    /// Two epochs with a checkpoint, then two more resumed from it, equal four in one run byte for byte;
    /// the checkpoint holds Adam's moments and counters; best.safetensors loads as weights.
    func testResumeIsBitForBitAndCtrlCSavesAResumableCheckpoint() throws {
        let m = try model()
        try nncc(["train", m] + data + ["--epochs", "2", "--checkpoint", "C"])
        let (tensors, metadata) = try SafeTensors.readWithMetadata(path: tmp.appendingPathComponent("C/last.safetensors").path)
        XCTAssertEqual(tensors.map(\.name), ["1.weight", "1.bias", "3.weight", "3.bias",
                                             "optimizer.0.1.weight", "optimizer.0.1.bias", "optimizer.0.3.weight", "optimizer.0.3.bias",
                                             "optimizer.1.1.weight", "optimizer.1.1.bias", "optimizer.1.3.weight", "optimizer.1.3.bias"])
        XCTAssertTrue(tensors[4].tensor.data.contains { $0 != 0 } && tensors[8].tensor.data.allSatisfy { $0 >= 0 })
        let info = try XCTUnwrap(metadata["nncc.checkpoint"])
        XCTAssertTrue(info.contains(#""epoch":2"#) && info.contains(#""step":46"#), info)  // 2 × ⌈1437 / 64⌉ steps
        try nncc(["eval", m, "--data", data[1], "--weights", "C/best.safetensors"])

        let resumed = try nncc(["train", m] + data + ["--epochs", "4", "--resume", "C", "--save", "B.safetensors"])
        XCTAssertTrue(resumed.contains("resuming from C after epoch 2"), resumed)
        XCTAssertTrue(resumed.contains("epoch 3/4") && !resumed.contains("epoch 2/4"), resumed)
        XCTAssertTrue(resumed.contains("lr 0.000343"), resumed)  // 0.001 · 0.7³ in epoch 4
        try nncc(["train", m] + data + ["--epochs", "4", "--save", "A.safetensors"])
        XCTAssertEqual(try bytes("A.safetensors"), try bytes("B.safetensors"), "resumed run differs from the uninterrupted one")

        // Ctrl-C in a long run: the step ends, a checkpoint is saved, exit 130; resuming it to the epoch where
        // it stopped gives the uninterrupted run's weights (interrupted mid-epoch or not).
        let (p, out) = try start(["train", m] + data + ["--epochs", "100000", "--checkpoint", "D"])
        let deadline = Date().addingTimeInterval(120)
        while p.isRunning, Date() < deadline, !(try String(contentsOf: out, encoding: .utf8)).contains("epoch 1/") { usleep(20_000) }
        kill(p.processIdentifier, SIGINT)
        let killAt = Date().addingTimeInterval(60)
        while p.isRunning, Date() < killAt { usleep(20_000) }
        if p.isRunning { kill(p.processIdentifier, SIGKILL) }
        p.waitUntilExit()
        let text = try String(contentsOf: out, encoding: .utf8)
        XCTAssertEqual(p.terminationReason, .exit, text)
        XCTAssertEqual(p.terminationStatus, 130, text)
        let stopped = try XCTUnwrap(text.firstMatch(of: #/interrupted in epoch (\d+): saved D\/last.safetensors; continue with --resume D/#),
                                    text).1
        try nncc(["train", m] + data + ["--epochs", String(stopped), "--resume", "D", "--save", "R.safetensors"])
        try nncc(["train", m] + data + ["--epochs", String(stopped), "--save", "F.safetensors"])
        XCTAssertEqual(try bytes("R.safetensors"), try bytes("F.safetensors"), "run resumed after Ctrl-C in epoch \(stopped) differs")
    }

    /// A long run's checkpoint keeps the step losses of its latest epochs only.
    func testHistoryKeepsTheRecentStepLosses() {
        let epochs = (1...5).map { EpochStats(epoch: $0, loss: 1, stepLosses: Array(repeating: Double($0), count: 4)) }
        let records = Checkpoint.EpochRecord.bounded(epochs, maxStepLosses: 10)
        XCTAssertEqual(records.map(\.stepLosses.count), [0, 0, 0, 4, 4])
        XCTAssertEqual(records.map(\.stats.epoch), [1, 2, 3, 4, 5])
    }

    func testEarlyStoppingAndRefusals() throws {
        let m = try model()
        // A rate this high makes the validation loss stall at once: patience 1 stops long before 50 epochs.
        let text = try nncc(["train", m] + data + ["--epochs", "50", "--lr", "3", "--early-stopping", "1", "--checkpoint", "E"])
        let stop = try XCTUnwrap(text.firstMatch(of: #/early stopping after epoch (\d+): no lower validation loss for 1 epochs; the lowest was epoch (\d+) \(E\/best.safetensors\)/#), text)
        XCTAssertEqual(Int(stop.1)! - 1, Int(stop.2)!)
        XCTAssertLessThan(Int(stop.1)!, 50)
        XCTAssertTrue(text.contains("epoch \(stop.1)/50") && !text.contains("epoch \(Int(stop.1)! + 1)/50"), text)

        // lr-find on the same library (a cache hit): a suggestion, the chart and the per-step log.
        let found = try nncc(["lr-find", m, "--data", data[1], "--steps", "100", "-o", "lr.svg", "--log", "lr.csv"])
        XCTAssertTrue(found.contains("suggested learning rate: "), found)
        XCTAssertNoThrow(try XMLDocument(contentsOf: tmp.appendingPathComponent("lr.svg")))
        let rows = try String(contentsOf: tmp.appendingPathComponent("lr.csv"), encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(rows.first, "step,lr,loss,smoothed_loss")
        XCTAssertTrue((20...101).contains(rows.count), "\(rows.count) rows")

        let noVal = try nncc(["train", m, "--data", data[1], "--early-stopping", "2"], status: 2)
        XCTAssertTrue(noVal.contains("--early-stopping watches the validation loss: give --val"), noVal)
        let bad = try nncc(["train", m] + data + ["--lr-schedule", "step:gamma=0.5"], status: 2)
        XCTAssertTrue(bad.contains("--lr-schedule: missing required key \"step_size\""), bad)
        let missing = try nncc(["train", m] + data + ["--resume", "nowhere"], status: 1)
        XCTAssertTrue(missing.contains("nowhere/last.safetensors: file not found"), missing)
    }
}
