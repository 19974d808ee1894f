import Foundation
import XCTest
@testable import NNCC

/// The learning-rate range test on real data: on examples/digits_mlp.json (UCI digits), the rate
/// `nncc lr-find` suggests trains, from the same initial weights and for the model's 10 epochs, to
/// within 1% of the test accuracy of the hand-set rate (0.1 with momentum 0.9). One library, three
/// contexts: the range test, the hand-set run and the suggested run each start from the seeded weights.
final class LRFindDigitsTests: XCTestCase {
    func testSuggestedRateTrainsAsWellAsTheHandSetOne() throws {
        let examples = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../examples").standardized
        let model = try Pipeline.load(examples.appendingPathComponent("digits_mlp.json").path)
        let cfg = try XCTUnwrap(model.graph.train)
        let train = try Dataset.load(path: examples.appendingPathComponent("digits/train.npz").path, model: model, loss: cfg.loss)
        let test = try Dataset.load(path: examples.appendingPathComponent("digits/test.npz").path, model: model, loss: cfg.loss)
        let session = try Session(model: model, options: CompileOptions(maxBatch: cfg.batchSize, train: true))

        func trainer(lr: Double? = nil) throws -> Trainer {
            var c = cfg
            if let lr { c.optimizer.lr = Float(lr) }
            return try Trainer(context: try session.library.makeContext(), graph: model.graph, config: c)
        }
        let found = try trainer().rangeTest(train)
        let suggested = try XCTUnwrap(found.suggestedLR, "no suggestion; losses \(found.smoothed.prefix(20))")
        XCTAssertTrue((1e-4...1).contains(suggested), "suggested \(suggested)")

        func accuracy(_ t: Trainer) throws -> Double {
            try t.fit(train)
            return try XCTUnwrap(try t.evaluate(test).accuracy)
        }
        let hand = try accuracy(try trainer())
        let auto = try accuracy(try trainer(lr: suggested))
        XCTAssertGreaterThan(hand, 0.9, "the hand-set rate should train digits_mlp")
        XCTAssertGreaterThanOrEqual(auto, hand - 0.01, "lr \(suggested): \(auto) vs hand-set \(cfg.optimizer.lr): \(hand)")
    }
}
