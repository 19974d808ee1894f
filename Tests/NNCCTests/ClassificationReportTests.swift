import Foundation
import XCTest
@testable import NNCC
#if canImport(FoundationXML)
import FoundationXML
#endif

/// Per-class figures as scikit-learn's classification_report computes them (no C compiler needed).
final class ClassificationReportTests: XCTestCase {
    // labels [0, 0, 1, 2, 2, 2], predictions [0, 1, 1, 2, 2, 0]
    let confusion = [[1, 1, 0], [0, 1, 0], [1, 0, 2]]

    func testFigures() {
        let r = ClassificationReport(confusion: confusion)
        XCTAssertEqual(r.classes.map(\.support), [2, 1, 3])
        XCTAssertEqual(r.classes.map(\.precision), [0.5, 0.5, 1])
        XCTAssertEqual(r.classes[0].recall, 0.5, accuracy: 1e-12)
        XCTAssertEqual(r.classes[1].f1, 2.0 / 3, accuracy: 1e-12)
        XCTAssertEqual(r.classes[2].f1, 0.8, accuracy: 1e-12)
        XCTAssertEqual(r.accuracy, 4.0 / 6, accuracy: 1e-12)
        XCTAssertEqual(r.macro.recall, (0.5 + 1 + 2.0 / 3) / 3, accuracy: 1e-12)
        XCTAssertEqual(r.weighted.precision, 0.75, accuracy: 1e-12)
        XCTAssertEqual(r.weighted.f1, (1 + 2.0 / 3 + 2.4) / 6, accuracy: 1e-12)
        XCTAssertEqual(r.macro.support, 6)
    }

    func testTextLayout() {
        let lines = ClassificationReport(confusion: confusion).text.split(separator: "\n", omittingEmptySubsequences: false)
        XCTAssertEqual(lines[0], "              precision    recall  f1-score   support")
        XCTAssertEqual(lines[2], "           0       0.50      0.50      0.50         2")
        XCTAssertEqual(lines[6], "    accuracy                           0.67         6")
        XCTAssertEqual(lines[7], "   macro avg       0.67      0.72      0.66         6")
        XCTAssertEqual(lines[8], "weighted avg       0.75      0.67      0.68         6")
    }

    /// A class neither in the labels nor predicted is left out; one predicted but never true has recall 0.
    func testAbsentClasses() {
        let r = ClassificationReport(confusion: [[2, 1, 0], [0, 0, 0], [0, 0, 0]])
        XCTAssertEqual(r.classes.map(\.name), ["0", "1"])
        XCTAssertEqual(r.classes[1].precision, 0)
        XCTAssertEqual(r.classes[1].support, 0)
        XCTAssertEqual(r.macro.recall, (2.0 / 3 + 0) / 2, accuracy: 1e-12)
    }

    func testConfusionSVG() {
        let svg = ClassificationReport.confusionSVG(confusion, title: "m <1>: confusion")
        for f in ["<svg", "</svg>", "m &lt;1&gt;: confusion", "predicted class", "true class", ">2</text>", "4 of 6 on the diagonal"] {
            XCTAssertTrue(svg.contains(f), "SVG lacks \(f)")
        }
        #if canImport(FoundationXML) || canImport(Darwin)
        XCTAssertTrue(XMLParser(data: Data(svg.utf8)).parse(), "SVG is not well-formed XML")
        #endif
    }
}
