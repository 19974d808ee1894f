import Foundation
import XCTest
@testable import NNCC
import NNCCRuntime

/// Fixture lookup, .npy reading, tolerant comparison and a per-class build
/// cache, shared by GoldenTests, ReferenceKernelTests and SanitizerTests.
enum FixtureKit {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
    /// Hand-made goldens (a copy of /work/shared/golden) and PyTorch cases from scripts/make_fixtures.py.
    static let golden = root.appendingPathComponent("golden", isDirectory: true)
    static let torch = root.appendingPathComponent("torch", isDirectory: true)

    /// Case folders (sorted) under `dir` holding model.json and, when `requiring` is given, that file too.
    static func cases(in dir: URL, requiring file: String? = nil) -> [URL] {
        let fm = FileManager.default
        let names = (try? fm.contentsOfDirectory(atPath: dir.path)) ?? []
        return names.sorted().map { dir.appendingPathComponent($0, isDirectory: true) }.filter { c in
            fm.fileExists(atPath: c.appendingPathComponent("model.json").path)
                && (file.map { fm.fileExists(atPath: c.appendingPathComponent($0).path) } ?? true)
        }
    }

    /// A float .npy file as (shape, data); integer arrays are an error here.
    static func floats(_ url: URL) throws -> Tensor {
        switch try NumPy.read(path: url.path) {
        case let .float(t): return t
        case .int: throw NNCCError(file: url.path, "expected a float array")
        }
    }

    /// nil when every element satisfies |got - want| <= atol + rtol·|want| (NaN never does),
    /// else a one-line description: how many elements fail and the worst one.
    static func assertClose(_ got: [Float], _ want: [Float], atol: Float, rtol: Float) -> String? {
        guard got.count == want.count else { return "size mismatch: got \(got.count) values, want \(want.count)" }
        var bad = 0, worst = -1
        var worstExcess = -Float.infinity, maxAbs: Float = 0
        for i in got.indices {
            let err = abs(got[i] - want[i]), bound = atol + rtol * abs(want[i])
            if err.isNaN || !(err <= bound) {
                bad += 1
                let excess = err.isNaN ? Float.infinity : err - bound
                if worst < 0 || excess > worstExcess { worst = i; worstExcess = excess }
            }
            if err.isNaN || err > maxAbs { maxAbs = err.isNaN ? .nan : err }
        }
        guard bad > 0 else { return nil }
        return "\(bad) of \(got.count) values out of tolerance (atol \(atol), rtol \(rtol)); worst [\(worst)]: "
            + "got \(got[worst]), want \(want[worst]), |err| \(abs(got[worst] - want[worst])); max |err| \(maxAbs)"
    }

    /// Deterministic uniform floats in [-1, 1) (SplitMix64), so random inputs are reproducible.
    static func randomFloats(_ n: Int, seed: UInt64) -> [Float] {
        var s = seed
        return (0..<n).map { _ in
            s &+= 0x9E37_79B9_7F4A_7C15
            var z = s
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            z ^= z >> 31
            return Float(z >> 40) / Float(1 << 24) * 2 - 1
        }
    }

    /// Runs an executable directly (no shell) with stdout and stderr captured separately
    /// through files, so a chatty child can never block on a full pipe.
    static func run(_ exe: String, _ args: [String], environment: [String: String]? = nil, in dir: URL) throws
        -> (status: Int32, stdout: String, stderr: String) {
        let out = dir.appendingPathComponent("stdout-\(UUID().uuidString)"), err = dir.appendingPathComponent("stderr-\(UUID().uuidString)")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        _ = FileManager.default.createFile(atPath: err.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: out); try? FileManager.default.removeItem(at: err) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = args
        if let environment { p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        let outHandle = try FileHandle(forWritingTo: out), errHandle = try FileHandle(forWritingTo: err)
        p.standardOutput = outHandle
        p.standardError = errHandle
        p.standardInput = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        try? outHandle.close()
        try? errHandle.close()
        let status = p.terminationReason == .exit ? p.terminationStatus : 128 + p.terminationStatus
        return (status, (try? String(contentsOf: out, encoding: .utf8)) ?? "", (try? String(contentsOf: err, encoding: .utf8)) ?? "")
    }

    /// An error's text cut to a few lines, so one case's gcc log cannot bury the others in a summary.
    static func brief(_ error: Error, lines: Int = 6) -> String {
        let all = "\(error)".split(separator: "\n", omittingEmptySubsequences: false)
        return all.prefix(lines).joined(separator: "\n") + (all.count > lines ? "\n  ... (\(all.count - lines) more lines)" : "")
    }

    static func makeTempDir(_ prefix: String) -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)",
                                                                                 isDirectory: true)
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    /// Keeps $NNCC_CACHE when the caller set one (`make test` shares one cache
    /// across classes, so each library is compiled once); otherwise points it at
    /// a fresh temp dir for one test class, which `restoreCache` removes.
    static func useTempCache(_ prefix: String) -> (dir: URL, previous: String?) {
        if let existing = ProcessInfo.processInfo.environment["NNCC_CACHE"], !existing.isEmpty {
            return (URL(fileURLWithPath: existing), existing)
        }
        let dir = makeTempDir(prefix)
        setenv("NNCC_CACHE", dir.path, 1)
        return (dir, nil)
    }

    static func restoreCache(_ saved: (dir: URL, previous: String?)) {
        guard saved.previous == nil else { return }
        unsetenv("NNCC_CACHE")
        try? FileManager.default.removeItem(at: saved.dir)
    }
}

/// Inference through the whole pipeline (Session: load → passes → C → gcc →
/// dlopen) against the committed PyTorch outputs, for every fixture with y.npy.
final class GoldenTests: XCTestCase {
    nonisolated(unsafe) static var cache: (dir: URL, previous: String?)?

    override class func setUp() {
        super.setUp()
        cache = FixtureKit.useTempCache("nncc-golden-cache")
    }

    override class func tearDown() {
        if let c = cache { FixtureKit.restoreCache(c) }
        cache = nil
        super.tearDown()
    }

    /// The conformance tolerance.
    static let atol: Float = 1e-4, rtol: Float = 1e-3

    func assertClose(_ got: [Float], _ want: [Float], atol: Float, rtol: Float) -> String? {
        FixtureKit.assertClose(got, want, atol: atol, rtol: rtol)
    }

    /// Runs `model` of every case of `root` that has it and returns "case: problem" lines for the failures.
    func failures(in root: URL, model: String = "model.json") -> (checked: Int, failed: [String]) {
        let cases = FixtureKit.cases(in: root, requiring: "y.npy").filter {
            FileManager.default.fileExists(atPath: $0.appendingPathComponent(model).path)
        }
        var failed: [String] = []
        for dir in cases {
            let name = dir.lastPathComponent
            do {
                let x = try FixtureKit.floats(dir.appendingPathComponent("x.npy"))
                let y = try FixtureKit.floats(dir.appendingPathComponent("y.npy"))
                let count = x.shape.first ?? 0
                // Max batch 4: five examples run as a full batch then a partial one.
                let session = try Session(modelPath: dir.appendingPathComponent(model).path,
                                          options: CompileOptions(maxBatch: 4))
                let got = try session.predict(x.data, count: count)
                if let problem = assertClose(got, y.data, atol: Self.atol, rtol: Self.rtol) {
                    failed.append("\(name): \(problem)")
                }
            } catch {
                failed.append("\(name): threw \(FixtureKit.brief(error))")
            }
        }
        return (cases.count, failed)
    }

    func check(_ root: URL, model: String = "model.json", minimumCases: Int) {
        let (checked, failed) = failures(in: root, model: model)
        XCTAssertGreaterThanOrEqual(checked, minimumCases, "fixture cases not found under \(root.path)")
        if !failed.isEmpty {
            XCTFail("\(failed.count) of \(checked) \(model) cases under \(root.lastPathComponent)/ differ from y.npy:\n"
                + failed.joined(separator: "\n"))
        }
    }

    /// Every hand-made golden case matches PyTorch's y.npy within atol 1e-4, rtol 1e-3.
    func testGoldenFixtures() {
        check(FixtureKit.golden, minimumCases: 10)
    }

    /// Every scripts/make_fixtures.py case (68, recurrent included) matches y.npy within atol 1e-4, rtol 1e-3.
    func testTorchFixtures() {
        check(FixtureKit.torch, minimumCases: 60)
    }

    /// The golden cases' ONNX exports (PyTorch's exporter: Gemm, Conv with batchnorm folded in,
    /// AveragePool, LSTM behind Shape/Gather/ConstantOfShape/Transpose/Squeeze) match y.npy.
    func testGoldenONNXExports() {
        check(FixtureKit.golden, model: "model.onnx", minimumCases: 4)
    }

    /// scripts/make_onnx_fixtures.py's exports of the PyTorch cases (every layer kind, the
    /// erf form of GELU, ReduceMean, MatMul + Add, GRU and RNN gate orders) match y.npy.
    func testTorchONNXExports() {
        check(FixtureKit.torch, model: "model.onnx", minimumCases: 55)
    }

    /// The comparison helper itself: passes within tolerance, reports count and worst element, catches NaN.
    func testAssertCloseHelper() {
        XCTAssertNil(assertClose([1, 2.00005], [1, 2], atol: 1e-4, rtol: 0))
        XCTAssertNil(assertClose([1000.5], [1000], atol: 0, rtol: 1e-3))
        let msg = assertClose([1, 2.5, 3.1], [1, 2, 3], atol: 1e-4, rtol: 1e-3)
        XCTAssertNotNil(msg)
        XCTAssertTrue(msg?.hasPrefix("2 of 3") ?? false, msg ?? "")
        XCTAssertTrue(msg?.contains("worst [1]") ?? false, msg ?? "")
        XCTAssertNotNil(assertClose([.nan], [0], atol: 1, rtol: 1))
        XCTAssertNotNil(assertClose([1], [1, 2], atol: 1, rtol: 1))
    }
}
