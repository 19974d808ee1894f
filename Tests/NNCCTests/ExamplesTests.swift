import Foundation
import XCTest
@testable import NNCC
import NNCCRuntime

/// The example programs of examples/ and the Python binding, all on one library compiled through the
/// cache (examples/mlp.json, max batch 4, with the training step): the C app linked against libmlp.so,
/// the Swift app on NNCCRuntime alone with no gcc on PATH, and NAME.py against `nncc run`.
final class ExamplesTests: XCTestCase {
    nonisolated(unsafe) static var cache: (dir: URL, previous: String?)?
    override class func setUp() { super.setUp(); cache = FixtureKit.useTempCache("nncc-examples-cache") }
    override class func tearDown() { if let c = cache { FixtureKit.restoreCache(c) }; cache = nil; super.tearDown() }

    static let examples = FixtureKit.root.deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("examples")
    var mlp: String { Self.examples.appendingPathComponent("mlp.json").path }
    var weights: String { Self.examples.appendingPathComponent("mlp.safetensors").path }
    var inputs: String { Self.examples.appendingPathComponent("mlp_x.npy").path }

    /// The shared library: compiled once per cache (`make test` shares one across test processes).
    func compiledMLP() throws -> BuildProducts {
        try Builder.cached(try Pipeline.load(mlp), options: CompileOptions(maxBatch: 4, train: true))
    }

    /// "example i: argmax k" for every example, from the library called one example at a time.
    func expectedLines(_ products: BuildProducts) throws -> [String] {
        let context = try ModelLibrary(path: products.library.path, name: products.name).makeContext()
        try context.loadWeights(path: weights)
        let x = try FixtureKit.floats(URL(fileURLWithPath: inputs))
        let k = context.library.outputSize, per = context.library.inputSize
        return try (0..<x.shape[0]).map { e in
            let row = try x.data[(e * per)..<((e + 1) * per)].withUnsafeBufferPointer { try context.forward($0, batch: 1) }
            return "example \(e): argmax \(row.indices.max { row[$0] < row[$1] }!)"
        }
    }

    func testCAppLinkedAgainstTheLibrary() throws {
        let products = try compiledMLP()
        let tmp = FixtureKit.makeTempDir("nncc-c-app")
        defer { try? FileManager.default.removeItem(at: tmp) }
        let x = try FixtureKit.floats(URL(fileURLWithPath: inputs))
        let raw = tmp.appendingPathComponent("x.f32")
        try x.data.withUnsafeBytes { try Data($0).write(to: raw) }
        let app = tmp.appendingPathComponent("mlp-app").path
        let lib = products.directory.path
        try GCC.run([try GCC.path(), "-std=c11", "-Wall", "-Wextra", "-Werror", "-O2", "-I", lib,
                     Self.examples.appendingPathComponent("c-app/main.c").path, "-L", lib, "-lmlp",
                     "-Wl,-rpath,\(lib)", "-o", app])
        let r = try FixtureKit.run(app, [weights, raw.path], in: tmp)
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        let lines = r.stdout.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.filter { $0.hasPrefix("example ") }, try expectedLines(products))
        XCTAssert(r.stdout.contains("batch 0 rejected: batch size outside 1..4"), r.stdout)
    }

    /// The Swift app loads the prebuilt library through NNCCRuntime: it runs with no gcc on PATH.
    func testSwiftAppOnThePrebuiltLibraryWithoutACompiler() throws {
        guard let nncc = CLITests.executable else { return XCTFail("nncc executable not found; run swift build first") }
        let app = nncc.deletingLastPathComponent().appendingPathComponent("nncc-swift-example")
        guard FileManager.default.isExecutableFile(atPath: app.path) else {
            return XCTFail("\(app.path) missing; `swift build` builds it (make test does)")
        }
        let products = try compiledMLP()
        let noCompiler = ["PATH": "/nonexistent", "NNCC_CC": "/nonexistent/gcc"]
        let r = try FixtureKit.run(app.path, [products.directory.path, weights, inputs], environment: noCompiler, in: Self.examples)
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertEqual(r.stdout.split(separator: "\n").map(String.init), try expectedLines(products))
        let bad = try FixtureKit.run(app.path, [products.directory.path, inputs], in: Self.examples)
        XCTAssertEqual(bad.status, 1)
        XCTAssert(bad.stderr.contains("usage"), bad.stderr)
        let empty = FixtureKit.makeTempDir("nncc-no-manifest")
        defer { try? FileManager.default.removeItem(at: empty) }
        let missing = try FixtureKit.run(app.path, [empty.path, weights, inputs], in: Self.examples)
        XCTAssertEqual(missing.status, 1)
        XCTAssert(missing.stderr.contains("no NAME.manifest.json"), missing.stderr)
    }
}
