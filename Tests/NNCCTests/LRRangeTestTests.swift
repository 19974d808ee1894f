import Foundation
import XCTest
@testable import NNCC

/// The range test's algorithm on synthetic loss curves (no compiler): the digits figures are in docs/training.md.
final class LRRangeTestTests: XCTestCase {
    /// A loss that falls fastest at lr = 10^-2.5 (a logistic step in log lr), with deterministic noise,
    /// and blows up past lr = 1.
    static func loss(_ lr: Double, _ i: Int) -> Double {
        let x = log10(lr), noise = 0.08 * sin(Double(i) * 2.7) * cos(Double(i) * 1.3)
        return 2.3 - 1.5 / (1 + exp(-4 * (x + 2.5))) + exp(3 * x) + noise
    }

    func testSuggestsTheSteepestFallAndStopsAtDivergence() {
        var i = 0
        let r = LRRangeTest().run { lr in defer { i += 1 }; return Self.loss(lr, i) }
        XCTAssertTrue(r.diverged)
        XCTAssertLessThan(r.lrs.count, 400)
        XCTAssertEqual(r.lrs.count, r.losses.count)
        XCTAssertEqual(r.smoothed.count, r.losses.count)
        XCTAssertEqual(r.lrs.first!, 1e-7, accuracy: 1e-12)
        let suggested = try! XCTUnwrap(r.suggestedLR)
        XCTAssertEqual(log10(suggested), -2.5, accuracy: 0.25, "suggested \(suggested)")
        // The one-sided running average alone would lag the fall by about β/(1 − β) = 49 steps, 1 decade.
        let lagging = LRRangeTest.steepest(LRRangeTest.runningAverage(r.losses, 0.98), skipStart: 10, skipEnd: 5)!
        XCTAssertGreaterThan(log10(r.lrs[lagging]), -2.2)
    }

    func testNonFiniteLossStopsAndTooFewStepsGiveNoSuggestion() {
        var t = LRRangeTest()
        t.steps = 50
        let r = t.run { lr in lr > 1e-5 ? nil : 1.0 }
        XCTAssertTrue(r.diverged)
        XCTAssertEqual(r.lrs.count, 13)  // 1e-7 · 1e8^(i/49) ≤ 1e-5 for i ≤ 12; step 13 is refused
        XCTAssertNil(r.suggestion)  // the loss never fell
        XCTAssertNil(LRRangeTest.steepest([2, 1], skipStart: 10, skipEnd: 5))
    }

    /// A fall after a blow-up (a classifier collapsing to uniform predictions) is not the suggestion.
    func testSteepestStopsAtTheLowestPoint() {
        let y = [3.0, 3, 3, 2.9, 2.6, 2.2, 2.0, 1.9, 5, 9, 4, 2.5, 2.4]
        XCTAssertEqual(LRRangeTest.steepest(y, skipStart: 1, skipEnd: 0), 4)
    }
}
