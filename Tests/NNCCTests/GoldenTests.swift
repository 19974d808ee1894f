import Foundation
import Testing
@testable import NNCC
import NNCCRuntime

/// Fixture lookup, .npy reading, tolerant comparison and a per-class build
/// cache, shared by GoldenTests, ReferenceKernelTests and SanitizerTests.
enum FixtureKit {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
    /// Hand-made goldens (a copy of /work/shared/golden) and PyTorch cases from scripts/make_fixtures.py.
    static let golden = root.appendingPathComponent("golden", isDirectory: true)
    static let torch = root.appendingPathComponent("torch", isDirectory: true)
    /// The level a user's library builds at. `make test` sets NNCC_OPT_LEVEL=1 for the rest of the suite
    /// (half of gcc's time; the same FMA contraction): the tests that check the product at every target
    /// and compiler name this one.
    static let productOptLevel = 3

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

    /// The cache for the nncc processes a test class starts: $NNCC_CACHE when the
    /// caller set one (`make test`: XCTest's --parallel runs every test in a
    /// process of its own, so a per-process folder would rebuild each model in
    /// every test), else a fresh temp dir that `removeClassCache` deletes.
    static func classCache(_ prefix: String) -> URL {
        if let existing = ProcessInfo.processInfo.environment["NNCC_CACHE"], !existing.isEmpty {
            return URL(fileURLWithPath: existing)
        }
        return FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
    }

    static func removeClassCache(_ dir: URL) {
        if dir.path != ProcessInfo.processInfo.environment["NNCC_CACHE"] { try? FileManager.default.removeItem(at: dir) }
    }

    static func restoreCache(_ saved: (dir: URL, previous: String?)) {
        guard saved.previous == nil else { return }
        unsetenv("NNCC_CACHE")
        try? FileManager.default.removeItem(at: saved.dir)
    }
}

/// Inference through the whole pipeline (Session: load → passes → C → gcc →
/// dlopen) against the committed PyTorch outputs, one test case per fixture
/// with y.npy. The JSON models are built at max batch 7, the build
/// ReferenceKernelTests compares with the reference kernels, so each is
/// compiled once for both.
@Suite struct GoldenTests {
    /// The conformance tolerance.
    static let atol: Float = 1e-4, rtol: Float = 1e-3
    static let maxBatch = ReferenceKernelTests.maxBatch

    /// The case's examples taken cyclically up to 10, with their y.npy rows, so that a
    /// library of max batch 7 runs a full batch then a partial one of 3.
    static func examples(_ fixture: Fixture) throws -> (x: [Float], y: [Float], count: Int) {
        let x = try FixtureKit.floats(fixture.file("x.npy"))
        let y = try FixtureKit.floats(fixture.file("y.npy"))
        let n = try #require(x.shape.first, "x.npy has no examples")
        let inSize = x.data.count / n, outSize = y.data.count / n
        let count = maxBatch + 3
        let xs = (0..<count).flatMap { x.data[($0 % n * inSize)..<($0 % n * inSize + inSize)] }
        let ys = (0..<count).flatMap { y.data[($0 % n * outSize)..<($0 % n * outSize + outSize)] }
        return (xs, ys, count)
    }

    func expectClose(_ got: [Float], _ want: [Float], _ what: String) {
        let problem = FixtureKit.assertClose(got, want, atol: Self.atol, rtol: Self.rtol)
        #expect(problem == nil, "\(what) differs from y.npy: \(problem ?? "")")
    }

    /// Every hand-made golden case (a copy of /work/shared/golden) and every scripts/make_fixtures.py
    /// case (recurrent included) matches PyTorch's y.npy within atol 1e-4, rtol 1e-3, through Session.
    @Test(arguments: Fixture.withOutputs)
    func matchesPyTorch(_ fixture: Fixture) throws {
        let (x, y, count) = try Self.examples(fixture)
        let options = CompileOptions(maxBatch: Self.maxBatch)
        _ = try Libraries.products(fixture.modelJSON, options: options)  // compiled once, shared with the other tests
        let session = try Session(modelPath: fixture.modelJSON, options: options)
        expectClose(try session.predict(x, count: count), y, "model.json")
    }

    /// lstm and gru (every step's h) projecting each step's input alone, the path batches
    /// too large for all steps' gates in L2 take (Ops/Recurrent.swift), match PyTorch.
    @Test func recurrentStepByStepProjectionMatchesPyTorch() throws {
        let fixture = Fixture.torch("concat_seq")
        let (x, y, count) = try Self.examples(fixture)
        var options = CompileOptions(maxBatch: Self.maxBatch)
        options.recurrentWholeSequenceFloats = 0
        let (_, products) = try Libraries.products(fixture.modelJSON, options: options)
        let source = try String(contentsOf: products.source, encoding: .utf8)
        #expect(source.contains("const int whole = nb <= 0;"), "the build does not take the step-by-step projection")
        let got = try Session(modelPath: fixture.modelJSON, options: options).predict(x, count: count)
        expectClose(got, y, "concat_seq, step-by-step projection")
    }

    /// A 1×1 layer built for 7 images runs one GEMM over the batch's pixels; 1 image (and, by the width,
    /// up to 4) runs on the implicit GEMM from its own packed copy of the filters, as a batch-1 build does.
    /// Every batch from 1 to 7 matches PyTorch.
    @Test func pointwiseFewImagesMatchPyTorch() throws {
        let fixture = Fixture.torch("conv_1x1_few_images")
        let (x, y, _) = try Self.examples(fixture)
        let options = CompileOptions(maxBatch: Self.maxBatch)
        let (_, products) = try Libraries.products(fixture.modelJSON, options: options)
        let source = try String(contentsOf: products.source, encoding: .utf8)
        #expect(source.contains("so few images fill the batched GEMM"), "the build has no path for fewer images")
        let session = try Session(modelPath: fixture.modelJSON, options: options)
        let inSize = x.count / (Self.maxBatch + 3), outSize = y.count / (Self.maxBatch + 3)
        for n in 1...Self.maxBatch {
            let got = try session.predict(Array(x[..<(n * inSize)]), count: n)
            expectClose(got, Array(y[..<(n * outSize)]), "conv_1x1_few_images, a batch of \(n)")
        }
    }

    /// Forward one example at a time in an arena planned for one (ForwardSlices, the cache budget lowered
    /// to a byte): depthwise, 1×1 (below its batched-GEMM threshold), residual adds and pools match PyTorch
    /// over a full batch of 7 and a partial one of 3.
    @Test(arguments: ["conv_dw_pw_paths", "conv_1x1_few_images", "resblock", "conv_channels_last"])
    func slicedForwardMatchesPyTorch(_ name: String) throws {
        let fixture = Fixture.torch(name)
        let (x, y, count) = try Self.examples(fixture)
        var options = CompileOptions(maxBatch: Self.maxBatch)
        options.sliceBudgetBytes = 1
        let (_, products) = try Libraries.products(fixture.modelJSON, options: options)
        let source = try String(contentsOf: products.source, encoding: .utf8)
        #expect(source.contains("_SLICE 1 "), "\(name) is not built in slices of one example")
        expectClose(try Session(modelPath: fixture.modelJSON, options: options).predict(x, count: count), y, "\(name) in slices")
    }

    /// nn.MultiheadAttention as both of PyTorch's exporters write it (scripts/make_onnx_attention.py):
    /// the older one at a dynamic batch, multiplying the batch by the heads in its shape arithmetic,
    /// the dynamo one at a fixed batch of 1, merging the batch into the heads' and the sequence's
    /// axes. Three examples match PyTorch.
    @Test(arguments: ["attention_legacy.onnx", "attention_dynamo.onnx"])
    func attentionExportsMatchPyTorch(_ file: String) throws {
        try expectONNXFixture(file, x: "x.npy", y: "y.npy")
    }

    /// 1-D and 2-D Conv nodes with uneven pads, and auto_pad SAME_* at strides, on a depthwise
    /// layer too (scripts/make_onnx_conv_pads.py): three examples match onnxruntime.
    @Test func convPadsMatchONNXRuntime() throws {
        try expectONNXFixture("conv_pads.onnx", x: "conv_pads_x.npy", y: "conv_pads_y.npy")
    }

    /// Swin's window attention (scripts/make_onnx_window_attention.py, PyTorch's older exporter): windows
    /// folded into the batch by `reshape(-1, tokens, C)`, per-window heads, MatMul, Softmax, merged back.
    @Test func windowAttentionMatchesPyTorch() throws {
        try expectONNXFixture("window_attention.onnx", x: "window_attention_x.npy", y: "window_attention_y.npy")
    }

    /// The three examples of Fixtures/onnx/`x` through Fixtures/onnx/`file` against `y`.
    func expectONNXFixture(_ file: String, x: String, y: String) throws {
        let dir = FixtureKit.root.appendingPathComponent("onnx", isDirectory: true)
        let xs = try FixtureKit.floats(dir.appendingPathComponent(x))
        let ys = try FixtureKit.floats(dir.appendingPathComponent(y))
        let session = try Session(modelPath: dir.appendingPathComponent(file).path, options: CompileOptions(maxBatch: 4))
        expectClose(try session.predict(xs.data, count: 3), ys.data, file)
    }

    /// The ONNX exports match y.npy: the golden ones (PyTorch's exporter: Gemm, Conv with batchnorm
    /// folded in, AveragePool, LSTM behind Shape/Gather/ConstantOfShape/Transpose/Squeeze) and
    /// scripts/make_onnx_fixtures.py's (every layer kind, the erf form of GELU, ReduceMean,
    /// MatMul + Add, GRU and RNN gate orders).
    ///
    /// An export whose C, named like the JSON model, equals the JSON model's C but for comments and
    /// strings (parameter names) compiles to the same code: it runs in the JSON model's library,
    /// with the export's own weights. Any other export is compiled and run through Session.
    @Test(arguments: Fixture.withONNX)
    func onnxExportMatchesPyTorch(_ fixture: Fixture) throws {
        let (x, y, count) = try Self.examples(fixture)
        let options = CompileOptions(maxBatch: Self.maxBatch)
        let json = try Pipeline.load(fixture.modelJSON)
        let onnx = try Pipeline.load(fixture.file("model.onnx").path, name: json.graph.name)
        let same = CSource.code(try Pipeline.generate(onnx, options: options).0.source)
            == CSource.code(try Pipeline.generate(json, options: options).0.source)
        guard same else {
            let session = try Session(modelPath: onnx.path, options: options)
            return expectClose(try session.predict(x, count: count), y, "model.onnx (compiled)")
        }
        let (model, products) = try Libraries.products(fixture.modelJSON, options: options)
        let ctx = try ModelLibrary(path: products.library.path, name: products.name).makeContext()
        let weights = try #require(onnx.embeddedWeights, "the export carries no weights")
        try #require(onnx.graph.params.count == model.graph.params.count)
        for (i, p) in onnx.graph.params.enumerated() {
            let t = try #require(weights[p.name], "no initializer for \(p.name)")
            try #require(t.shape == ctx.paramShape(i), "\(p.name): shape \(t.shape), library has \(ctx.paramShape(i))")
            try ctx.setParam(i, t.data)
        }
        var got: [Float] = []
        try x.withUnsafeBufferPointer { buf in
            let inSize = ctx.library.inputSize
            for start in stride(from: 0, to: count, by: Self.maxBatch) {
                let n = min(Self.maxBatch, count - start)
                got += try ctx.forward(UnsafeBufferPointer(rebasing: buf[(start * inSize)..<((start + n) * inSize)]), batch: n)
            }
        }
        expectClose(got, y, "model.onnx (in the JSON model's library)")
    }

    /// The fixtures are all there: a missing folder must not pass as zero cases.
    @Test func fixturesFound() {
        #expect(Fixture.withOutputs.filter { $0.description.hasPrefix("golden/") }.count >= 10)
        #expect(Fixture.withOutputs.filter { $0.description.hasPrefix("torch/") }.count >= 60)
        #expect(Fixture.withONNX.count >= 59)
        #expect(Fixture.training.count >= 60)
    }

    /// The comparison helper itself: passes within tolerance, reports count and worst element, catches NaN.
    @Test func assertCloseHelper() {
        #expect(FixtureKit.assertClose([1, 2.00005], [1, 2], atol: 1e-4, rtol: 0) == nil)
        #expect(FixtureKit.assertClose([1000.5], [1000], atol: 0, rtol: 1e-3) == nil)
        let msg = FixtureKit.assertClose([1, 2.5, 3.1], [1, 2, 3], atol: 1e-4, rtol: 1e-3)
        #expect(msg?.hasPrefix("2 of 3") == true, "\(msg ?? "nil")")
        #expect(msg?.contains("worst [1]") == true, "\(msg ?? "nil")")
        #expect(FixtureKit.assertClose([.nan], [0], atol: 1, rtol: 1) != nil)
        #expect(FixtureKit.assertClose([1], [1, 2], atol: 1, rtol: 1) != nil)
    }
}

/// Generated C with its comments and string literals blanked: two sources equal
/// here differ only in what they say, not in what they compute.
enum CSource {
    static func code(_ source: String) -> String {
        // One scan, so that a quote inside a comment or a comment marker inside a string is not misread.
        let pattern = #"/\*[\s\S]*?\*/|//[^\n]*|"(?:\\.|[^"\\\n])*""#
        let re = try! NSRegularExpression(pattern: pattern)
        return re.stringByReplacingMatches(in: source, range: NSRange(source.startIndex..., in: source), withTemplate: "_")
    }
}
