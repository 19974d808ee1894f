import Foundation
import XCTest
@testable import NNCC
import NNCCRuntime

/// The two example programs of examples/: the C app linked against a
/// compiled libmlp.so, and the Swift app using NNCCRuntime. Both must run and
/// print the same argmax per example as the library through Session.
final class ExamplesTests: XCTestCase {
    nonisolated(unsafe) static var cache: (dir: URL, previous: String?)?
    override class func setUp() { super.setUp(); cache = FixtureKit.useTempCache("nncc-examples-cache") }
    override class func tearDown() { if let c = cache { FixtureKit.restoreCache(c) }; cache = nil; super.tearDown() }

    static let examples = FixtureKit.root.deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("examples")
    var mlp: String { Self.examples.appendingPathComponent("mlp.json").path }
    var inputs: String { Self.examples.appendingPathComponent("mlp_x.npy").path }

    /// "example i: argmax k" for every example, from the library itself.
    func expectedLines() throws -> [String] {
        let session = try Session(modelPath: mlp)
        let x = try FixtureKit.floats(URL(fileURLWithPath: inputs))
        let y = try session.predict(x.data, count: x.shape[0])
        let k = session.library.outputSize
        return (0..<x.shape[0]).map { e in
            let row = y[(e * k)..<((e + 1) * k)]
            return "example \(e): argmax \(row.indices.max { row[$0] < row[$1] }! - e * k)"
        }
    }

    func testCAppLinkedAgainstTheLibrary() throws {
        let tmp = FixtureKit.makeTempDir("nncc-c-app")
        defer { try? FileManager.default.removeItem(at: tmp) }
        let products = try Builder.build(try Pipeline.load(mlp), options: CompileOptions(maxBatch: 4), into: tmp)
        let x = try FixtureKit.floats(URL(fileURLWithPath: inputs))
        let raw = tmp.appendingPathComponent("x.f32")
        try x.data.withUnsafeBytes { try Data($0).write(to: raw) }
        let app = tmp.appendingPathComponent("mlp-app").path
        try GCC.run([try GCC.path(), "-std=c11", "-Wall", "-Wextra", "-Werror", "-O2", "-I", tmp.path,
                     Self.examples.appendingPathComponent("c-app/main.c").path, "-L", tmp.path, "-lmlp",
                     "-Wl,-rpath,\(tmp.path)", "-o", app])
        let r = try FixtureKit.run(app, [Self.examples.appendingPathComponent("mlp.safetensors").path, raw.path], in: tmp)
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        let lines = r.stdout.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.filter { $0.hasPrefix("example ") }, try expectedLines())
        XCTAssert(r.stdout.contains("batch 0 rejected: batch size outside 1..4"), r.stdout)
        XCTAssert(FileManager.default.fileExists(atPath: products.library.path))
    }

    func testSwiftAppThroughNNCCRuntime() throws {
        guard let nncc = CLITests.executable else { return XCTFail("nncc executable not found; run swift build first") }
        let app = nncc.deletingLastPathComponent().appendingPathComponent("nncc-swift-example")
        guard FileManager.default.isExecutableFile(atPath: app.path) else {
            return XCTFail("\(app.path) missing; `swift build` builds it (make test does)")
        }
        let r = try FixtureKit.run(app.path, [mlp, inputs], in: Self.examples)
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertEqual(r.stdout.split(separator: "\n").map(String.init), try expectedLines())
        let bad = try FixtureKit.run(app.path, [mlp], in: Self.examples)
        XCTAssertEqual(bad.status, 1)
        XCTAssert(bad.stderr.contains("usage"), bad.stderr)
    }
}
