import Foundation
import XCTest

/// The committed fuzz seeds (Tests/Fuzz/corpus/TARGET) replayed through each fuzz target by the
/// debug build of `nncc-fuzz`: every input ends in a result or an NNCCError naming the file,
/// never a trap. `make fuzz` mutates the same seeds under libFuzzer and ASan (docs/fuzzing.md).
final class FuzzCorpusTests: XCTestCase {
    static let corpus = CLITests.testsDir.deletingLastPathComponent().appendingPathComponent("Fuzz/corpus")

    func replay(_ target: String, _ paths: [String]) throws -> (status: Int32, output: String) {
        let nncc = try XCTUnwrap(CLITests.executable, "nncc executable not found next to the tests; build it first")
        let p = Process()
        p.executableURL = nncc.deletingLastPathComponent().appendingPathComponent("nncc-fuzz")
        p.arguments = paths
        p.environment = ProcessInfo.processInfo.environment.merging(
            ["NNCC_FUZZ_TARGET": target, "SWIFT_BACKTRACE": "enable=no"]) { $1 }
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    func testEverySeedReplaysWithoutFailure() throws {
        for target in ["json", "safetensors", "npy", "npz", "onnx"] {
            let dir = Self.corpus.appendingPathComponent(target)
            let count = try FileManager.default.contentsOfDirectory(atPath: dir.path).count
            XCTAssertGreaterThan(count, 0, target)
            let r = try replay(target, [dir.path])
            XCTAssertEqual(r.status, 0, "\(target): \(r.output)")
            XCTAssertTrue(r.output.contains("\(target): \(count) inputs, no failure"), r.output)
        }
    }

    /// A misspelt target is a usage error, not a silent pass over nothing.
    func testUnknownTargetIsRefused() throws {
        let r = try replay("xml", [Self.corpus.appendingPathComponent("json").path])
        XCTAssertEqual(r.status, 2, r.output)
        XCTAssertTrue(r.output.contains("NNCC_FUZZ_TARGET"), r.output)
    }
}
