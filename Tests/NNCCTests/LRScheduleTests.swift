import Foundation
import XCTest
@testable import NNCC
@testable import NNCCRuntime

/// lr_schedule against torch.optim.lr_scheduler (Fixtures/schedules, made by scripts/make_lr_schedules.py),
/// the optimizer shorthands and defaults, and --lr-schedule's shorthand. Pure Swift: no compiler.
final class LRScheduleTests: XCTestCase {
    static let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures/schedules/lr_schedules.json")

    struct Case: Decodable {
        var name: String, lr: Double, epochs: Int, steps_per_epoch: Int, lrs: [Double]
        var val_losses: [Double]?
    }

    func testEverySchedulePerStepMatchesPyTorch() throws {
        let data = try Data(contentsOf: Self.fixture)
        struct File: Decodable { var cases: [Case] }
        let cases = try JSONDecoder().decode(File.self, from: data).cases
        guard case let .array(raw)? = try JSONReader.parse(data)["cases"] else { return XCTFail("no cases") }
        XCTAssertEqual(cases.count, 10)
        for (c, json) in zip(cases, raw) {
            let schedule = try LRScheduleDecoder.decode(try XCTUnwrap(json["schedule"]), file: "fixture", path: c.name)
            var s = LRScheduler(schedule, baseLR: c.lr, totalSteps: c.epochs * c.steps_per_epoch)
            XCTAssertEqual(c.lrs.count, c.epochs * c.steps_per_epoch, c.name)
            for e in 0..<c.epochs {
                for k in 0..<c.steps_per_epoch {
                    let t = e * c.steps_per_epoch + k, want = c.lrs[t], got = s.lr(epoch: e, step: t)
                    XCTAssertEqual(got, want, accuracy: 1e-9 + 1e-7 * abs(want), "\(c.name): epoch \(e), step \(t)")
                }
                s.epochEnded(validationLoss: c.val_losses?[e])
            }
        }
    }

    private func train(_ section: String) throws -> TrainConfig {
        try TrainDecoder.decode(try JSONReader.parse(Data(section.utf8)), file: "m.json")
    }

    func testOptimizerShorthandsAndDefaults() throws {
        let adam = try train(#"{"loss": "mse", "optimizer": "adam"}"#)
        XCTAssertEqual(adam.optimizer.kind, .adam)
        XCTAssertEqual(adam.optimizer.lr, 1e-3)
        XCTAssertEqual(adam.optimizer.betas.0, 0.9)
        XCTAssertEqual(adam.optimizer.eps, 1e-8)
        XCTAssertEqual(adam.epochs, 1)
        XCTAssertEqual(adam.batchSize, 32)
        XCTAssertNil(adam.lrSchedule)
        let sgd = try train(#"{"loss": "mse", "optimizer": {"type": "sgd", "momentum": 0.9}}"#)
        XCTAssertEqual(sgd.optimizer.kind, .sgd)
        XCTAssertEqual(sgd.optimizer.lr, 1e-2)
        XCTAssertEqual(sgd.optimizer.momentum, 0.9)
        XCTAssertEqual(try train(#"{"loss": "mse", "optimizer": {"type": "adam", "lr": 0.5}}"#).optimizer.lr, 0.5)
        XCTAssertThrowsError(try train(#"{"loss": "mse", "optimizer": "rmsprop"}"#)) {
            XCTAssertTrue("\($0)".contains("train.optimizer.type: expected \"sgd\" or \"adam\", found \"rmsprop\""), "\($0)")
        }
        let s = try train(#"{"loss": "mse", "optimizer": "sgd", "lr_schedule": {"type": "step", "step_size": 5}}"#)
        XCTAssertEqual(s.lrSchedule, .step(stepSize: 5, gamma: 0.1))
        XCTAssertThrowsError(try train(#"{"loss": "mse", "optimizer": "sgd", "lr_schedule": {"type": "step"}}"#)) {
            XCTAssertTrue("\($0)".contains("train.lr_schedule: missing required key \"step_size\""), "\($0)")
        }
        XCTAssertThrowsError(try train(#"{"loss": "mse", "optimizer": "sgd", "lr_schedule": {"type": "cosine", "warmup": 3}}"#)) {
            XCTAssertTrue("\($0)".contains("train.lr_schedule.warmup: unknown key for the cosine schedule"), "\($0)")
        }
    }

    func testCommandLineShorthand() throws {
        XCTAssertEqual(try LRScheduleDecoder.parse(option: "multi_step:milestones=[5,8],gamma=0.5"),
                       .multiStep(milestones: [5, 8], gamma: 0.5))
        XCTAssertEqual(try LRScheduleDecoder.parse(option: "cosine:warmup_steps=100"),
                       .cosine(warmupSteps: 100, warmupStartFactor: 0.01, etaMin: 0))
        XCTAssertEqual(try LRScheduleDecoder.parse(option: #"{"type": "exponential", "gamma": 0.9}"#), .exponential(gamma: 0.9))
        var linear = LRSchedule.OneCycle()
        (linear.maxLR, linear.linear) = (0.1, true)
        XCTAssertEqual(try LRScheduleDecoder.parse(option: "one_cycle:max_lr=0.1,anneal_strategy=linear"), .oneCycle(linear))
        for (bad, message) in [("cosine:warmup_steps", "--lr-schedule: expected key=value, found \"warmup_steps\""),
                               ("step:step_size=0", "--lr-schedule: step_size: expected a positive integer, found 0"),
                               ("wavy", "--lr-schedule: type: expected one of \"step\""),
                               ("reduce_on_plateau:factor=2", "--lr-schedule: factor: expected a number in (0.0, 1.0], found 2.0")] {
            XCTAssertThrowsError(try LRScheduleDecoder.parse(option: bad)) { XCTAssertTrue("\($0)".contains(message), "\($0)") }
        }
    }
}
