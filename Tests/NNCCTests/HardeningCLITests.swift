import Foundation
import XCTest
@testable import NNCC

/// Issue 15, defects 11 and 12 (command-line parts): no output replaces an
/// input of the same command or another output unless --force (exit 2), and
/// usage errors, shape errors and unreadable model paths say what is wrong.
final class HardeningCLITests: XCTestCase {
    static let golden = CLITests.golden
    static let cache = FixtureKit.classCache("nncc-hcli-cache")
    var tmp: URL!

    override func setUpWithError() throws {
        tmp = FileManager.default.temporaryDirectory.appendingPathComponent("nncc-hcli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: tmp) }
    override class func tearDown() { FixtureKit.removeClassCache(cache) }

    /// Runs nncc in `tmp`, stdin from /dev/null; returns the status and stderr.
    @discardableResult
    func nncc(_ args: [String], stdin: FileHandle = FileHandle.nullDevice) throws -> (status: Int32, stderr: String) {
        let p = try CLITests.process(args, in: tmp, cache: Self.cache)
        let err = FileManager.default.temporaryDirectory.appendingPathComponent("nncc-hcli-err-\(UUID().uuidString)")
        FileManager.default.createFile(atPath: err.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: err) }
        p.standardInput = stdin
        p.standardOutput = FileHandle.nullDevice
        p.standardError = try FileHandle(forWritingTo: err)
        try p.run()
        p.waitUntilExit()
        return (p.terminationStatus, (try? String(contentsOf: err, encoding: .utf8)) ?? "")
    }

    func expect(_ status: Int32, _ args: [String], _ fragments: [String], file: StaticString = #filePath, line: UInt = #line) throws {
        let r = try nncc(args)
        XCTAssertEqual(r.status, status, "nncc \(args.joined(separator: " ")): \(r.stderr)", file: file, line: line)
        for f in fragments {
            XCTAssertTrue(r.stderr.contains(f), "stderr lacks \"\(f)\": \(r.stderr)", file: file, line: line)
        }
    }

    func fixture(_ model: String, _ file: String) -> String { Self.golden.appendingPathComponent("\(model)/\(file)").path }
    func temp(_ name: String) -> String { tmp.appendingPathComponent(name).path }
    func copy(_ model: String, _ file: String, to name: String) throws -> String {
        try FileManager.default.copyItem(atPath: fixture(model, file), toPath: temp(name))
        return temp(name)
    }
    func bytes(_ path: String) -> Data? { FileManager.default.contents(atPath: path) }

    // MARK: Defect 11: overwriting by mistake

    func testTrainRefusesSaveAndLogOnOneFile() throws {
        let model = fixture("dense_relu", "model.json"), data = fixture("dense_relu", "train.npz")
        try expect(2, ["train", model, "--data", data, "--epochs", "1", "--save", "W", "--log", "./W"],
                   ["--log ./W would overwrite --save W", "--force"])
        XCTAssertNil(bytes(temp("W")))
        // A symlink to the other output is the same file.
        try Data("old".utf8).write(to: tmp.appendingPathComponent("plot.svg"))
        try FileManager.default.createSymbolicLink(atPath: temp("link.csv"), withDestinationPath: temp("plot.svg"))
        try expect(2, ["train", model, "--data", data, "--epochs", "1", "--log", "link.csv", "--plot", "plot.svg"],
                   ["--plot plot.svg would overwrite --log link.csv (the same file)"])
        XCTAssertEqual(bytes(temp("plot.svg")), Data("old".utf8))
    }

    func testTrainRefusesSavingOverItsInputs() throws {
        let model = try copy("dense_relu", "model.json", to: "model.json")
        _ = try copy("dense_relu", "weights.safetensors", to: "weights.safetensors")  // the file the model names
        let data = try copy("dense_relu", "train.npz", to: "T.npz")
        let before = (bytes(model), bytes(data), bytes(temp("weights.safetensors")))
        try expect(2, ["train", model, "--data", data, "--epochs", "1", "--save", "model.json"],
                   ["--save model.json would overwrite the model \(model)"])
        try expect(2, ["train", model, "--data", data, "--epochs", "1", "--save", "T.npz"],
                   ["--save T.npz would overwrite --data \(data)"])
        try expect(2, ["train", model, "--data", data, "--val", data, "--epochs", "1", "--plot", data],
                   ["--plot \(data) would overwrite --data \(data)"])
        try expect(2, ["train", model, "--data", data, "--epochs", "1", "--save", "weights.safetensors"],
                   ["would overwrite the model's weights file"])
        XCTAssertTrue(before == (bytes(model), bytes(data), bytes(temp("weights.safetensors"))))
        // --force writes anyway.
        try expect(0, ["train", model, "--data", data, "--epochs", "1", "--save", "weights.safetensors", "--force"], [])
        XCTAssertNotEqual(bytes(temp("weights.safetensors")), before.2)
    }

    func testRunRefusesOutputOverInput() throws {
        let model = fixture("dense_relu", "model.json")
        let x = try copy("dense_relu", "x.npy", to: "X.npy")
        let before = bytes(x)
        try expect(2, ["run", model, "--input", x, "--output", x], ["--output \(x) would overwrite --input \(x)", "--force"])
        try expect(2, ["run", model, "--input", "X.npy", "--output", "./sub/../X.npy"], ["would overwrite --input X.npy"])
        try expect(2, ["run", model, "--input", x, "--output", model], ["would overwrite the model"])
        XCTAssertEqual(bytes(x), before)
        try expect(0, ["run", model, "--input", x, "--output", temp("y.npy")], [])
    }

    /// Compiling an ONNX file writes NAME.safetensors: one that compiling
    /// this model did not write (trained weights, say) is kept unless --force.
    func testCompileKeepsWeightsItDidNotWrite() throws {
        let onnx = try copy("mlp_softmax_ce", "model.onnx", to: "m.onnx")
        let out = tmp.appendingPathComponent("DIR")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        let weights = out.appendingPathComponent("m.safetensors").path
        try Data("trained".utf8).write(to: URL(fileURLWithPath: weights))
        try expect(2, ["compile", onnx, "-o", out.path], ["-o \(out.path)", weights, "was not written by compiling the model \(onnx)", "--force"])
        XCTAssertEqual(bytes(weights), Data("trained".utf8))
        try expect(0, ["compile", onnx, "-o", out.path, "--force"], [])
        let fresh = bytes(weights)
        XCTAssertNotEqual(fresh, Data("trained".utf8))
        // Its own output from the same model is rewritten without --force.
        try expect(0, ["compile", onnx, "-o", out.path], [])
        XCTAssertEqual(bytes(weights), fresh)
        // The model itself in the output folder under an output's name.
        let json = try copy("dense_relu", "model.json", to: "dense_relu.h")
        _ = try copy("dense_relu", "weights.safetensors", to: "weights.safetensors")
        try expect(2, ["compile", json, "-o", tmp.path], ["-o \(temp("dense_relu.h")) would overwrite the model \(json)"])
    }

    // MARK: Defect 12: usage and file errors

    func testNegativeToleranceIsAUsageError() throws {
        let args = ["check", fixture("dense_relu", "model.json"), "--input", fixture("dense_relu", "x.npy"),
                    "--expect", fixture("dense_relu", "y.npy")]
        try expect(2, args + ["--rtol", "-1"], ["--rtol must be a finite number >= 0, found -1"])
        try expect(2, args + ["--atol", "-0.5"], ["--atol must be a finite number >= 0"])
        try expect(2, args + ["--rtol", "nan"], ["--rtol must be a finite number >= 0"])
        try expect(0, args + ["--rtol", "0"], [])
    }

    func testTransposedExpectIsAShapeError() throws {
        let y = try NumPy.read(path: fixture("dense_relu", "y.npy"))
        guard case let .float(t) = y else { return XCTFail("float y") }
        XCTAssertEqual(t.shape, [5, 4])
        var transposed = [Float](repeating: 0, count: 20)
        for i in 0..<5 { for j in 0..<4 { transposed[j * 5 + i] = t.data[i * 4 + j] } }
        try NumPy.write(Tensor(shape: [4, 5], data: transposed), to: temp("yt.npy"))
        try expect(1, ["check", fixture("dense_relu", "model.json"), "--input", fixture("dense_relu", "x.npy"),
                       "--expect", temp("yt.npy")], ["\(temp("yt.npy")): shape [4, 5] differs from the output's [5, 4]"])
        let r = try nncc(["check", fixture("dense_relu", "model.json"), "--input", fixture("dense_relu", "x.npy"),
                          "--expect", temp("yt.npy")])
        XCTAssertFalse(r.stderr.contains("mismatch"), r.stderr)
    }

    func testBadNameIsAUsageError() throws {
        try expect(2, ["compile", fixture("dense_relu", "model.json"), "--name", "a b", "-o", temp("out")],
                   ["--name", "expected a C identifier"])
        try expect(2, ["compile", fixture("dense_relu", "model.json"), "--name", "9x", "-o", temp("out")], ["--name"])
        XCTAssertNil(bytes(temp("out")))
    }

    func testModelThatIsNotARegularFile() throws {
        try expect(1, ["compile", tmp.path], ["\(tmp.path): expected a file, found a directory"])
        try expect(1, ["ir", temp("x.onnx")], ["file not found"])
        try FileManager.default.createDirectory(atPath: temp("d.onnx"), withIntermediateDirectories: true)
        try expect(1, ["ir", temp("d.onnx")], ["d.onnx: expected a file, found a directory"])
        try expect(1, ["ir", "/dev/stdin"], ["/dev/stdin: not a regular file"])
        // A pipe on stdin, as `cat model.json | nncc ir /dev/stdin` gives.
        let pipe = Pipe()
        let r = try nncc(["ir", "/dev/stdin"], stdin: pipe.fileHandleForReading)
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("/dev/stdin: not a regular file"), r.stderr)
        XCTAssertFalse(r.stderr.contains("permission"), r.stderr)
    }
}
