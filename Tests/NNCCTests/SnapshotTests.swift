import Foundation
import XCTest
@testable import NNCC

/// Emitted-C snapshots, and checks that checked-in generated files are current.
///
/// Snapshots are stored as `Snapshots/<name>.c.snap` and `<name>.h.snap`: SwiftPM
/// treats a `.c` file inside a Swift test target as a source and rejects the
/// package ("mixed language source files"), unless the folder is excluded in Package.swift.
final class SnapshotTests: XCTestCase {
    static let testsDir = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    static let root = testsDir.deletingLastPathComponent().deletingLastPathComponent()
    static let snapshots = testsDir.appendingPathComponent("Snapshots")
    static let snapshotSuffix = ".snap"
    static let models = ["dense_relu", "conv_avgpool_bn", "mlp_softmax_ce"]
    static let update = "run RECORD_SNAPSHOTS=1 swift test --filter SnapshotTests to update"

    var recording: Bool { ProcessInfo.processInfo.environment["RECORD_SNAPSHOTS"] == "1" }

    func generate(_ path: String) throws -> GeneratedLibrary {
        try Pipeline.generate(try Pipeline.load(path), options: CompileOptions(target: .portable)).0
    }

    /// Nil when equal; else the first differing line, both versions, and `hint`.
    static func firstDifference(expected: String, actual: String, what: String, hint: String) -> String? {
        if expected == actual { return nil }
        let e = expected.components(separatedBy: "\n"), a = actual.components(separatedBy: "\n")
        var i = 0
        while i < min(e.count, a.count), e[i] == a[i] { i += 1 }
        let want = i < e.count ? e[i] : "<end of file>", got = i < a.count ? a[i] : "<end of file>"
        return """
            \(what) differs at line \(i + 1) (\(e.count) lines expected, \(a.count) generated):
              expected: \(want)
              actual:   \(got)
            \(hint)
            """
    }

    func assertSnapshot(_ actual: String, _ file: String, line: UInt = #line) throws {
        let url = Self.snapshots.appendingPathComponent(file + Self.snapshotSuffix)
        if recording {
            try FileManager.default.createDirectory(at: Self.snapshots, withIntermediateDirectories: true)
            try Data(actual.utf8).write(to: url, options: .atomic)
            return
        }
        guard let expected = try? String(contentsOf: url, encoding: .utf8) else {
            return XCTFail("snapshot \(url.path) is missing; \(Self.update)", line: line)
        }
        if let diff = Self.firstDifference(expected: expected, actual: actual, what: "\(file) snapshot", hint: Self.update) {
            XCTFail(diff, line: line)
        }
    }

    func testEmittedCMatchesSnapshots() throws {
        for name in Self.models {
            let path = Self.testsDir.appendingPathComponent("Fixtures/golden/\(name)/model.json").path
            let lib = try generate(path)
            try assertSnapshot(lib.header, "\(name).h")
            try assertSnapshot(Self.markingTemplates(lib.source), "\(name).c")
        }
    }

    func testGenerationIsDeterministic() throws {
        let path = Self.testsDir.appendingPathComponent("Fixtures/golden/conv_avgpool_bn/model.json").path
        let a = try generate(path), b = try generate(path)
        XCTAssertEqual(a.source, b.source)
        XCTAssertEqual(a.header, b.header)
        XCTAssertFalse(a.source.contains(Self.root.path), "generated C must not embed absolute paths")
    }

    func testFirstDifferenceReport() {
        XCTAssertNil(Self.firstDifference(expected: "a\nb", actual: "a\nb", what: "x", hint: "h"))
        let d = Self.firstDifference(expected: "a\nb\nc", actual: "a\nB\nc", what: "x.c", hint: "h") ?? ""
        XCTAssertTrue(d.contains("x.c differs at line 2"), d)
        XCTAssertTrue(d.contains("expected: b") && d.contains("actual:   B"), d)
        let shorter = Self.firstDifference(expected: "a\nb", actual: "a", what: "x", hint: "h") ?? ""
        XCTAssertTrue(shorter.contains("line 2") && shorter.contains("<end of file>"), shorter)
    }

    /// Each template is built in with the text of templates/NAME.c (less its final newline), and every
    /// file of templates/ is a template.
    func testTemplatesAreTheFilesOfTemplatesFolder() throws {
        let folder = Self.root.appendingPathComponent("templates")
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".c") }
        XCTAssertEqual(Set(files), Set(Template.allCases.map { $0.rawValue + ".c" }))
        for t in Template.allCases {
            let file = try String(contentsOf: folder.appendingPathComponent(t.rawValue + ".c"), encoding: .utf8)
            if let diff = Self.firstDifference(expected: file, actual: t.source + "\n", what: "Template.\(t).source",
                                               hint: "templates/\(t.rawValue).c changed but nncc was not rebuilt") {
                XCTFail(diff)
            }
        }
    }

    /// Snapshots show which templates a library holds, one marker line each, not their text: a template
    /// edit changes no snapshot.
    static func markingTemplates(_ source: String) -> String {
        Template.allCases.reduce(source) { s, t in s.replacingOccurrences(of: t.source + "\n", with: "/* template: \(t.rawValue) */\n") }
    }

    /// generated/NAME.c (and NAME.h, when present) is what nncc emits for examples/NAME.json.
    func testGeneratedFilesAreCurrent() throws {
        let generated = Self.root.appendingPathComponent("generated")
        let files = ((try? FileManager.default.contentsOfDirectory(atPath: generated.path)) ?? [])
            .filter { $0.hasSuffix(".c") }.sorted()
        let hint = "generated/ is stale: run `make generated`"
        for file in files {
            let name = String(file.dropLast(2))
            let model = Self.root.appendingPathComponent("examples/\(name).json")
            guard FileManager.default.fileExists(atPath: model.path) else {
                XCTFail("generated/\(file) has no examples/\(name).json to regenerate it from; \(hint)")
                continue
            }
            let lib: GeneratedLibrary
            do { lib = try generate(model.path) } catch {
                XCTFail("examples/\(name).json: \(error)"); continue
            }
            let source = try String(contentsOf: generated.appendingPathComponent(file), encoding: .utf8)
            if let diff = Self.firstDifference(expected: source, actual: lib.source, what: "generated/\(file)", hint: hint) {
                XCTFail(diff)
            }
            let headerURL = generated.appendingPathComponent("\(name).h")
            if let header = try? String(contentsOf: headerURL, encoding: .utf8),
               let diff = Self.firstDifference(expected: header, actual: lib.header, what: "generated/\(name).h", hint: hint) {
                XCTFail(diff)
            }
        }
    }
}
