import Foundation
import XCTest
@testable import NNCC

/// Runs the built `nncc` executable: exit codes, messages naming the file, and
/// the files each command leaves behind.
final class CLITests: XCTestCase {
    static let testsDir = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    static let golden = testsDir.appendingPathComponent("Fixtures/golden")
    /// One compile cache for the whole class, so each model is built once.
    static let cache = FixtureKit.classCache("nncc-cli-cache")
    var tmp: URL!

    /// The `nncc` product next to the test bundle (swift test, debug or release), else
    /// $NNCC_BIN, else the newest .build*/{debug,release}/nncc of this package.
    static let executable: URL? = {
        let fm = FileManager.default
        var candidates: [URL] = []
        if let bin = ProcessInfo.processInfo.environment["NNCC_BIN"] { candidates.append(URL(fileURLWithPath: bin)) }
        let arg0 = URL(fileURLWithPath: CommandLine.arguments[0])
        candidates.append(arg0.deletingLastPathComponent().appendingPathComponent("nncc"))
        candidates.append(arg0.resolvingSymlinksInPath().deletingLastPathComponent().appendingPathComponent("nncc"))
        for b in Bundle.allBundles where b.bundlePath.hasSuffix(".xctest") {
            candidates.append(b.bundleURL.deletingLastPathComponent().appendingPathComponent("nncc"))
        }
        if let found = candidates.first(where: { fm.isExecutableFile(atPath: $0.path) }) { return found }
        let root = testsDir.deletingLastPathComponent().deletingLastPathComponent()
        let builds = ((try? fm.contentsOfDirectory(atPath: root.path)) ?? []).filter { $0.hasPrefix(".build") }
        let found = builds.flatMap { b in ["debug", "release"].map { root.appendingPathComponent("\(b)/\($0)/nncc") } }
            .filter { fm.isExecutableFile(atPath: $0.path) }
        func modified(_ u: URL) -> Date { ((try? fm.attributesOfItem(atPath: u.path))?[.modificationDate] as? Date) ?? .distantPast }
        return found.max { modified($0) < modified($1) }
    }()

    /// The nncc executable set up to run `args` in `cwd` with the compile cache `cache`.
    static func process(_ args: [String], in cwd: URL, cache: URL) throws -> Process {
        let p = Process()
        p.executableURL = try XCTUnwrap(executable, "nncc executable not found; build it first")
        p.arguments = args
        p.currentDirectoryURL = cwd
        var env = ProcessInfo.processInfo.environment
        env["NNCC_CACHE"] = cache.path
        p.environment = env
        return p
    }

    override func setUpWithError() throws {
        tmp = FileManager.default.temporaryDirectory.appendingPathComponent("nncc-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: Self.cache, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: tmp) }
    override class func tearDown() { FixtureKit.removeClassCache(cache) }

    struct Result { var status: Int32; var stdout: String; var stderr: String }

    @discardableResult
    func nncc(_ args: [String], env: [String: String] = [:], cwd: URL? = nil, file: StaticString = #filePath,
              line: UInt = #line) throws -> Result {
        let exe = try XCTUnwrap(Self.executable, "nncc executable not found next to the tests; build it first")
        let p = Process()
        p.executableURL = exe
        p.arguments = args
        p.currentDirectoryURL = cwd ?? tmp
        var environment = ProcessInfo.processInfo.environment
        environment["NNCC_CACHE"] = Self.cache.path
        for (k, v) in env { environment[k] = v }
        p.environment = environment
        let id = UUID().uuidString
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("nncc-out-\(id)")
        let err = FileManager.default.temporaryDirectory.appendingPathComponent("nncc-err-\(id)")
        FileManager.default.createFile(atPath: out.path, contents: nil)
        FileManager.default.createFile(atPath: err.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: out); try? FileManager.default.removeItem(at: err) }
        p.standardOutput = try FileHandle(forWritingTo: out)
        p.standardError = try FileHandle(forWritingTo: err)
        try p.run()
        let deadline = Date().addingTimeInterval(300)
        while p.isRunning {
            if Date() > deadline { p.terminate(); XCTFail("nncc \(args) timed out", file: file, line: line); break }
            usleep(20_000)
        }
        p.waitUntilExit()
        return Result(status: p.terminationStatus, stdout: (try? String(contentsOf: out, encoding: .utf8)) ?? "",
                      stderr: (try? String(contentsOf: err, encoding: .utf8)) ?? "")
    }

    /// Runs nncc expecting `status`, with stderr containing every fragment.
    func expect(_ status: Int32, _ args: [String], env: [String: String] = [:], cwd: URL? = nil, stderr fragments: [String] = [],
                file: StaticString = #filePath, line: UInt = #line) throws {
        let r = try nncc(args, env: env, cwd: cwd, file: file, line: line)
        XCTAssertEqual(r.status, status, "nncc \(args.joined(separator: " ")): stderr: \(r.stderr)", file: file, line: line)
        for f in fragments {
            XCTAssertTrue(r.stderr.contains(f), "stderr lacks \"\(f)\": \(r.stderr)", file: file, line: line)
        }
        XCTAssertFalse(r.stderr.contains("Fatal error") || r.stderr.contains("Stack dump"), r.stderr, file: file, line: line)
    }

    func model(_ name: String) -> String { Self.golden.appendingPathComponent("\(name)/model.json").path }
    func fixture(_ name: String, _ file: String) -> String { Self.golden.appendingPathComponent("\(name)/\(file)").path }
    func temp(_ name: String) -> String { tmp.appendingPathComponent(name).path }
    func write(_ text: String, _ name: String) throws -> String {
        try Data(text.utf8).write(to: tmp.appendingPathComponent(name))
        return temp(name)
    }
    func listing(_ dir: URL) -> [String] { ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).sorted() }

    // MARK: - Model errors (exit 1)

    func testMissingModelFile() throws {
        try expect(1, ["compile", temp("nope.json"), "-o", temp("out")], stderr: ["nope.json", "file not found"])
        try expect(1, ["run", temp("nope.json"), "--input", fixture("dense_relu", "x.npy")], stderr: ["nope.json"])
        try expect(1, ["ir", temp("nope.json")], stderr: ["nope.json"])
        XCTAssertEqual(listing(tmp), [])
    }

    func testMalformedJSONNamesLineAndColumn() throws {
        let path = try write("{\n  \"format\": 1,\n  \"name\": ,\n}\n", "bad.json")
        try expect(1, ["compile", path], stderr: [path, "malformed JSON", "line 3, column 11"])
        try expect(1, ["ir", path], stderr: [path, "line 3"])
    }

    func testUnknownLayerTypeNamesThePath() throws {
        let path = try write(#"{"format": 1, "name": "m", "input": {"shape": [4]}, "layers": [{"type": "relu"}, {"type": "dense3", "units": 2}]}"#,
                             "m.json")
        try expect(1, ["compile", path, "-o", temp("out")], stderr: [path, "layers[1].type", "unknown layer type \"dense3\""])
        XCTAssertEqual(listing(tmp), ["m.json"])
    }

    func testTrainingStageWithoutTrainSectionNamesTheFile() throws {
        let path = try write(#"{"format": 1, "name": "m", "input": {"shape": [4]}, "layers": [{"type": "dense", "units": 2}]}"#,
                             "m.json")
        try expect(1, ["ir", path, "--stage", "training"], stderr: [path, "train"])
    }

    func testShapeErrorNamesTheLayer() throws {
        let path = try write(#"{"format": 1, "name": "m", "input": {"shape": [1, 3, 3]}, "layers": [{"type": "conv2d", "filters": 2, "kernel_size": 5}]}"#,
                             "m.json")
        try expect(1, ["check", path, "--input", fixture("dense_relu", "x.npy"), "--expect", fixture("dense_relu", "y.npy")],
                   stderr: [path, "layers[0]", "larger than the padded input"])
    }

    // MARK: - Weights and data errors (exit 1)

    func weights(dropping: String? = nil, replacing: (String, Tensor)? = nil, adding: (String, Tensor)? = nil) throws -> String {
        var tensors = try SafeTensors.read(path: fixture("dense_relu", "weights.safetensors")).filter { $0.name != dropping }
        if let (name, t) = replacing, let i = tensors.firstIndex(where: { $0.name == name }) { tensors[i].tensor = t }
        if let extra = adding { tensors.append((name: extra.0, tensor: extra.1)) }
        let path = temp("w-\(UUID().uuidString.prefix(8)).safetensors")
        try SafeTensors.write(tensors, to: path)
        return path
    }

    func runArgs(weights w: String) -> [String] {
        ["run", model("dense_relu"), "--input", fixture("dense_relu", "x.npy"), "--weights", w]
    }

    func testWeightsMissingATensor() throws {
        let w = try weights(dropping: "2.bias")
        try expect(1, runArgs(weights: w), stderr: [w, "2.bias", "missing tensor", "[4]"])
    }

    func testWeightsWithWrongShape() throws {
        let w = try weights(replacing: ("0.weight", Tensor(shape: [8, 16], data: Array(repeating: 0, count: 128))))
        try expect(1, runArgs(weights: w), stderr: [w, "0.weight", "expected shape [16, 8], found [8, 16]"])
    }

    func testWeightsWithExtraTensor() throws {
        let w = try weights(adding: ("3.weight", Tensor(shape: [1], data: [0])))
        try expect(1, runArgs(weights: w), stderr: [w, "3.weight", "not a parameter"])
    }

    /// PyTorch's BatchNorm counters are skipped by the exact-suffix rule of NAME_load_weights (WeightsRulesTests).
    func testWeightsNumBatchesTrackedRule() throws {
        let counter = Tensor(shape: [], data: [0])
        try expect(0, runArgs(weights: try weights(adding: ("2.num_batches_tracked", counter))))
        let w = try weights(adding: ("2xnum_batches_tracked", counter))
        try expect(1, runArgs(weights: w), stderr: [w, "2xnum_batches_tracked", "not a parameter"])
    }

    func testTruncatedWeights() throws {
        let full = try Data(contentsOf: URL(fileURLWithPath: fixture("dense_relu", "weights.safetensors")))
        for keep in [full.count - 12, 100, 5, 0] {
            let w = temp("trunc\(keep).safetensors")
            try full.prefix(keep).write(to: URL(fileURLWithPath: w))
            try expect(1, runArgs(weights: w), stderr: [w])
        }
    }

    func testInputOfWrongWidth() throws {
        let x = temp("x7.npy")
        try NumPy.write(Tensor(shape: [3, 7], data: Array(repeating: 0.5, count: 21)), to: x)
        try expect(1, ["run", model("dense_relu"), "--input", x], stderr: [x, "expected shape [N, 8]", "[3, 7]"])
        try expect(1, ["check", model("dense_relu"), "--input", x, "--expect", fixture("dense_relu", "y.npy")], stderr: [x, "[N, 8]"])
    }

    func testInputFileMissing() throws {
        try expect(1, ["run", model("dense_relu"), "--input", temp("missing.npy")], stderr: ["missing.npy"])
        try expect(1, ["check", model("dense_relu"), "--input", fixture("dense_relu", "x.npy"), "--expect", temp("nothere.npy")],
                   stderr: ["nothere.npy"])
    }

    func testNameMustBeACIdentifier() throws {
        let cwd = tmp.appendingPathComponent("work")
        try FileManager.default.createDirectory(at: cwd, withIntermediateDirectories: true)
        // A bad --name is bad usage: exit 2 (issue 15).
        try expect(2, ["compile", "--name", "a;rm -rf /", model("dense_relu")], cwd: cwd, stderr: ["--name", "C identifier"])
        try expect(2, ["compile", "--name", "../evil", model("dense_relu"), "-o", temp("out")], stderr: ["--name"])
        XCTAssertEqual(listing(cwd), [], "a rejected name creates nothing")
        XCTAssertEqual(listing(tmp), ["work"])
    }

    func testMissingCompiler() throws {
        let out = tmp.appendingPathComponent("out")
        try expect(1, ["compile", model("dense_relu"), "-o", out.path], env: ["NNCC_CC": "/nonexistent/gcc"], stderr: ["gcc"])
        XCTAssertEqual(listing(out), [], "no output, library or temporary left behind")
    }

    /// Every command that compiles takes --cc, which wins over NNCC_CC; a compiler that cannot run
    /// is named with the option or variable that chose it, before anything is written.
    func testCompilerOption() throws {
        let out = tmp.appendingPathComponent("out")
        let dense = model("dense_relu"), x = fixture("dense_relu", "x.npy")
        let data = fixture("dense_relu", "train.npz"), weights = fixture("dense_relu", "weights.safetensors")
        for args in [["compile", dense, "-o", out.path], ["run", dense, "--input", x], ["check", dense, "--input", x,
                     "--expect", fixture("dense_relu", "y.npy")], ["bench", dense], ["train", dense, "--data", data],
                     ["eval", dense, "--data", data, "--weights", weights]] {
            try expect(1, args + ["--cc", "/nonexistent/flag-cc"], env: ["NNCC_CC": "/nonexistent/env-cc"],
                       stderr: ["C compiler not found: --cc /nonexistent/flag-cc: no such file"])
        }
        try expect(1, ["run", dense, "--input", x], env: ["NNCC_CC": "no-such-cc-nncc"],
                   stderr: ["C compiler not found: NNCC_CC=no-such-cc-nncc: no such command on PATH"])
        try expect(1, ["compile", dense, "-o", out.path, "--cc", "/bin/echo"], stderr: ["/bin/echo is neither gcc nor clang"])
        try expect(2, ["compile", dense, "-o", out.path, "--cc", ""], stderr: ["--cc"])
        XCTAssertEqual(listing(out), [], "no output, library or temporary left behind")
        let help = try nncc(["compile", "--help"]).stdout
        XCTAssertTrue(help.contains("--cc <path>") && help.contains("(default: $NNCC_CC, else gcc)"), help)
    }

    // MARK: - Usage (exit 2) and help (exit 0)

    func testBadUsageExitsTwo() throws {
        let m = model("dense_relu"), x = fixture("dense_relu", "x.npy")
        try expect(2, ["compile", "--bogus", m])
        try expect(2, ["compile"])
        try expect(2, ["run", m])
        try expect(2, ["check", m, "--input", x])
        try expect(2, ["ir", m, "--stage", "bogus"])
        try expect(2, ["compile", m, "--target", "sparc"])
        try expect(2, ["compile", m, "--batch", "many"])
        try expect(2, ["compile", m, "--threads", "0", "-o", temp("out")])
        try expect(2, ["compile", m, "--opt-level", "4", "-o", temp("out")], stderr: ["--opt-level must be 0, 1, 2 or 3"])
        try expect(1, ["compile", m, "-o", temp("out")], env: ["NNCC_OPT_LEVEL": "fast"],
                   stderr: ["NNCC_OPT_LEVEL=fast: the optimization level must be 0, 1, 2 or 3"])
        try expect(2, ["frobnicate", m])
        XCTAssertEqual(listing(tmp), [])
    }

    func testHelpOnEverySubcommand() throws {
        for sub in ["compile", "run", "check", "ir", "bench"] {
            let r = try nncc([sub, "--help"])
            XCTAssertEqual(r.status, 0, "\(sub) --help: \(r.stderr)")
            XCTAssertTrue(r.stdout.contains("USAGE") && r.stdout.contains(sub), "\(sub) --help printed: \(r.stdout)")
        }
        let top = try nncc(["--help"])
        XCTAssertEqual(top.status, 0)
        for sub in ["compile", "run", "check", "ir", "bench"] { XCTAssertTrue(top.stdout.contains(sub), top.stdout) }
    }

    /// Each command's --batch default is the one it uses (1 for compile, ir and bench; 64 for run and check),
    /// and a default that loads no weights says it warns.
    func testHelpShowsEveryDefault() throws {
        func help(_ sub: String) throws -> String {
            // ArgumentParser wraps help text: compare it as one line.
            try nncc([sub, "--help"]).stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        }
        for sub in ["compile", "ir", "bench"] {
            XCTAssert(try help(sub).contains("--batch <batch> Largest batch the library accepts (default: 1; with --train, "
                + "the model's train.batch_size)"), sub)
        }
        for sub in ["run", "check"] {
            XCTAssert(try help(sub).contains("--batch <batch> Largest batch the library accepts (default: 64)"), sub)
        }
        for sub in ["run", "check", "eval"] {
            XCTAssert(try help(sub).contains("default: the file the model names, else the seed's init (with a warning)"), sub)
        }
    }

    /// Weights nobody gave: run, check and eval warn that the parameters are the seeded initialisation;
    /// with the weights the model names, or --weights, they do not. (One library: dense_relu at batch 64.)
    func testSeededWeightsWarn() throws {
        let named = model("dense_relu"), x = fixture("dense_relu", "x.npy")
        let withWeights = try nncc(["run", named, "--input", x])
        XCTAssertEqual(withWeights.status, 0, withWeights.stderr)
        XCTAssertFalse(withWeights.stderr.contains("warning"), withWeights.stderr)
        // The same model without "weights" (same file name, so the same C and library).
        var json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: named))) as? [String: Any])
        json["weights"] = nil
        let bare = temp("model.json")
        try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: bare))
        let warning = "warning: no weights given (no --weights, and \(bare) names no \"weights\"): the parameters are the "
            + "seeded initialisation (seed 0), not trained values"
        try expect(0, ["run", bare, "--input", x], stderr: [warning])
        try expect(1, ["check", bare, "--input", x, "--expect", fixture("dense_relu", "y.npy")], stderr: [warning, "mismatch"])
        guard case let .float(inputs) = try NumPy.read(path: x) else { return XCTFail("x.npy is not float32") }
        let data = temp("data.npz")
        try Npz.write([("x", .float(inputs)), ("y", .float(Tensor(shape: [5, 4], data: Array(repeating: 0, count: 20))))], to: data)
        try expect(0, ["eval", bare, "--data", data], stderr: [warning])
        let given = try nncc(["run", bare, "--input", x, "--weights", fixture("dense_relu", "weights.safetensors")])
        XCTAssertEqual(given.status, 0, given.stderr)
        XCTAssertFalse(given.stderr.contains("warning"), given.stderr)
    }

    // MARK: - Commands that succeed

    func testCompileWritesExactlyItsFiles() throws {
        let out = tmp.appendingPathComponent("out dir")
        let r = try nncc(["compile", model("dense_relu"), "-o", out.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("compiled dense_relu"), r.stdout)
        XCTAssertEqual(listing(out), ["dense_relu-config.cmake", "dense_relu.c", "dense_relu.h", "dense_relu.manifest.json", "dense_relu.pc",
                                      "libdense_relu.a", "libdense_relu.so"])
        let data = try Data(contentsOf: out.appendingPathComponent("dense_relu.manifest.json"))
        let manifest = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        XCTAssertGreaterThan(manifest["arena_bytes"] as? Int ?? 0, 0)
        XCTAssertEqual(manifest["flops_per_example"] as? Int, 2 * (8 * 16 + 16 * 4))
        let gcc = try XCTUnwrap(manifest["gcc"] as? [String])
        XCTAssertTrue(gcc.contains(out.appendingPathComponent("dense_relu.c").path), "\(gcc)")
        XCTAssertFalse(gcc.joined().contains("tmp-"), "the manifest shows the final paths: \(gcc)")
        let modelData = try Data(contentsOf: URL(fileURLWithPath: model("dense_relu")))
        XCTAssertEqual(manifest["model_sha256"] as? String, SHA256.hex(modelData))
        XCTAssertEqual(listing(tmp), ["out dir"])
    }

    /// Also --python (NAME.py beside the library; PythonBindingTests runs one) and the max batch line.
    func testCompileDefaultDirectoryAndName() throws {
        let r = try nncc(["compile", model("dense_relu"), "--name", "other_name", "--python"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssert(r.stdout.contains("max batch 1 (the default; --batch sets it)"), r.stdout)
        XCTAssertEqual(listing(tmp), ["other_name.nncc"])
        XCTAssertEqual(listing(tmp.appendingPathComponent("other_name.nncc")),
                       ["libother_name.a", "libother_name.so", "other_name-config.cmake", "other_name.c", "other_name.h",
                        "other_name.manifest.json", "other_name.pc", "other_name.py"])
        let py = try String(contentsOf: tmp.appendingPathComponent("other_name.nncc/other_name.py"), encoding: .utf8)
        XCTAssert(py.contains("NAME = \"other_name\"\nINPUT_SHAPE = (8,)\nOUTPUT_SHAPES = ((4,),)\nLOSS = None"), py)
    }

    func testCompilePortableTarget() throws {
        let out = tmp.appendingPathComponent("portable")
        try expect(0, ["compile", model("conv_avgpool_bn"), "-o", out.path, "--target", "portable"])
        XCTAssertEqual(listing(out).count, 7)
    }

    /// A named level builds on any host (compile only loads nothing); the manifest, the summary and
    /// the header name it, and an unknown name is a usage error listing the targets.
    func testCompileNamedTarget() throws {
        let out = tmp.appendingPathComponent("v3")
        let r = try nncc(["compile", model("dense_relu"), "-o", out.path, "--target", "x86-64-v3", "--batch", "3"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("max batch 3, target x86-64-v3"), r.stdout)
        let data = try Data(contentsOf: out.appendingPathComponent("dense_relu.manifest.json"))
        let manifest = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        XCTAssertEqual(manifest["target"] as? String, "x86-64-v3")
        XCTAssertEqual(manifest["vector_width"] as? Int, 8)
        XCTAssertEqual(manifest["gemm_tile"] as? [Int], [6, 16])
        XCTAssertTrue((manifest["gcc"] as? [String] ?? []).contains("-march=x86-64-v3"))
        let header = try String(contentsOf: out.appendingPathComponent("dense_relu.h"), encoding: .utf8)
        XCTAssertTrue(header.contains("#define dense_relu_TARGET       \"x86-64-v3\""), header)
        try expect(2, ["compile", model("dense_relu"), "-o", out.path, "--target", "avx2"],
                   stderr: ["x86-64-v3", "portable"])
    }

    func testCheckPassesOnTruthAndNamesWorstElement() throws {
        let m = model("dense_relu"), x = fixture("dense_relu", "x.npy"), y = fixture("dense_relu", "y.npy")
        let ok = try nncc(["check", m, "--input", x, "--expect", y])
        XCTAssertEqual(ok.status, 0, ok.stderr)
        XCTAssertTrue(ok.stdout.contains("ok"), ok.stdout)
        guard case var .float(t) = try NumPy.read(path: y) else { return XCTFail("y.npy is not float32") }
        XCTAssertEqual(t.shape, [5, 4])
        t.data[1 * 4 + 0] += 0.01
        t.data[3 * 4 + 2] += 1
        let bad = temp("y_bad.npy")
        try NumPy.write(t, to: bad)
        try expect(1, ["check", m, "--input", x, "--expect", bad], stderr: ["worst element [3, 2]", "2 of 20"])
        let short = temp("y_short.npy")
        try NumPy.write(Tensor(shape: [5, 3], data: Array(t.data.prefix(15))), to: short)
        try expect(1, ["check", m, "--input", x, "--expect", short], stderr: ["y_short.npy", "[5, 4]"])
    }

    /// NaN never matches (as numpy.allclose): a NaN anywhere in the expected values fails the check.
    func testCheckFailsOnNaN() throws {
        let y = fixture("dense_relu", "y.npy")
        guard case var .float(t) = try NumPy.read(path: y) else { return XCTFail("y.npy is not float32") }
        t.data[2 * 4 + 1] = .nan
        let bad = temp("y_nan.npy")
        try NumPy.write(t, to: bad)
        try expect(1, ["check", model("dense_relu"), "--input", fixture("dense_relu", "x.npy"), "--expect", bad],
                   stderr: ["worst element [2, 1]"])
    }

    /// Models whose output is the input, or a view of it, compute nothing but must still build and run.
    func testModelsWithoutKernels() throws {
        let x = temp("x.npy")
        let values: [Float] = [1, -2, 3, -4, 5, -6, 7, -8]
        try NumPy.write(Tensor(shape: [2, 2, 2], data: values), to: x)
        for (name, layers) in [("flat", #"{"type": "flatten"}"#), ("drop", #"{"type": "dropout", "rate": 0.5}"#),
                               ("ident", #"{"type": "identity"}, {"type": "reshape", "shape": [4, 1]}"#)] {
            let m = try write(#"{"format": 1, "name": "\#(name)", "input": {"shape": [2, 2]}, "layers": [\#(layers)]}"#, "\(name).json")
            let out = temp("\(name)_y.npy")
            try expect(0, ["run", m, "--input", x, "--output", out])
            guard case let .float(y)? = try? NumPy.read(path: out) else { XCTFail("\(name): no output"); continue }
            XCTAssertEqual(y.data, values, name)
        }
    }

    func testRunWritesOutputNpy() throws {
        for name in ["dense_relu", "conv_avgpool_bn"] {
            let out = temp("\(name)_y.npy")
            try expect(0, ["run", model(name), "--input", fixture(name, "x.npy"), "--output", out])
            guard case let .float(got) = try NumPy.read(path: out), case let .float(want) = try NumPy.read(path: fixture(name, "y.npy"))
            else { return XCTFail("outputs must be float32") }
            XCTAssertEqual(got.shape, [5, 4])
            for (g, w) in zip(got.data, want.data) { XCTAssertEqual(g, w, accuracy: 1e-4 + 1e-4 * abs(w), name) }
        }
        let printed = try nncc(["run", model("mlp_softmax_ce"), "--input", fixture("mlp_softmax_ce", "x.npy")])
        XCTAssertEqual(printed.status, 0, printed.stderr)
        let lines = printed.stdout.split(separator: "\n")
        XCTAssertEqual(lines.count, 5, printed.stdout)
        XCTAssertTrue(lines.allSatisfy { $0.contains("argmax") }, printed.stdout)
    }

    /// An ONNX file: NAME from the file's stem, its weights written beside the library,
    /// `check` against PyTorch's outputs, and clear refusals for training and damaged files.
    func testONNXModels() throws {
        let onnx = temp("my-mlp.onnx")
        try FileManager.default.copyItem(atPath: fixture("mlp_softmax_ce", "model.onnx"), toPath: onnx)
        let out = tmp.appendingPathComponent("out")
        let r = try nncc(["compile", onnx, "-o", out.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(listing(out), ["libmy_mlp.a", "libmy_mlp.so", "my_mlp-config.cmake", "my_mlp.c", "my_mlp.h", "my_mlp.manifest.json",
                                      "my_mlp.pc", "my_mlp.safetensors"])
        let saved = try SafeTensors.read(path: out.appendingPathComponent("my_mlp.safetensors").path)
        XCTAssertEqual(saved.map(\.name), ["layers.0.mod.weight", "layers.0.mod.bias", "layers.1.mod.weight", "layers.1.mod.bias"])
        try expect(0, ["check", onnx, "--input", fixture("mlp_softmax_ce", "x.npy"), "--expect", fixture("mlp_softmax_ce", "y.npy")])
        try expect(1, ["train", onnx, "--data", fixture("mlp_softmax_ce", "train.npz")], stderr: [onnx, "no training settings"])
        let bad = try write("not an onnx file", "bad.onnx")
        try expect(1, ["run", bad, "--input", fixture("mlp_softmax_ce", "x.npy")], stderr: [bad, "not a readable ONNX model"])
        try expect(1, ["compile", temp("nope.onnx")], stderr: ["nope.onnx", "file not found"])
    }

    func testIRStages() throws {
        let m = model("dense_relu")
        let parsed = try nncc(["ir", m, "--stage", "parsed"])
        XCTAssertEqual(parsed.status, 0, parsed.stderr)
        XCTAssertTrue(parsed.stdout.contains("= relu %1"), parsed.stdout)
        let fused = try nncc(["ir", m, "--stage", "fused"])
        XCTAssertEqual(fused.status, 0, fused.stderr)
        XCTAssertTrue(fused.stdout.contains("dense(units=16) %0 + relu"), fused.stdout)
        XCTAssertFalse(fused.stdout.contains("= relu"), fused.stdout)
        XCTAssertEqual(try nncc(["ir", m]).stdout, fused.stdout, "fused is the default stage")
        let planned = try nncc(["ir", m, "--stage", "planned", "--batch", "4"])
        XCTAssertEqual(planned.status, 0, planned.stderr)
        XCTAssertTrue(planned.stdout.contains("@arena+") && planned.stdout.contains("@input"), planned.stdout)
        XCTAssertTrue(planned.stdout.contains("for batch 4"), planned.stdout)
    }

    func testConcurrentRunsShareOneCacheEntry() throws {
        let cache = tmp.appendingPathComponent("fresh-cache")
        let args = ["check", model("mlp_softmax_ce"), "--input", fixture("mlp_softmax_ce", "x.npy"),
                    "--expect", fixture("mlp_softmax_ce", "y.npy")]
        var results = [Result?](repeating: nil, count: 3)
        let lock = NSLock()
        DispatchQueue.concurrentPerform(iterations: 3) { i in
            let r = try? self.nncc(args, env: ["NNCC_CACHE": cache.path])
            lock.lock(); results[i] = r; lock.unlock()
        }
        for r in results { XCTAssertEqual(r?.status, 0, r?.stderr ?? "did not run") }
        XCTAssertEqual(listing(cache).filter { !$0.hasPrefix(".") }.count, 1, "\(listing(cache))")
    }
}
