import Foundation
import XCTest
@testable import NNCC

/// Checked size arithmetic (issue 15, defect 1): every layer type of the JSON
/// format at each limit of docs/limits.md (accepted) and just past it (an
/// error naming the JSON path, never a trap). Lowering stops before gcc, so
/// nothing here allocates the sizes it plans.
final class HardeningShapeTests: XCTestCase {
    static let file = "/models/big.json"

    func model(_ layers: String, input: String, train: Bool = false) -> String {
        let t = train ? #", "train": {"loss": "mse", "optimizer": {"type": "sgd", "lr": 0.1}, "batch_size": 1}"# : ""
        return #"{"format": 1, "name": "big", "input": {"shape": \#(input)}, "layers": [\#(layers)]\#(t)}"#
    }

    /// Decodes, infers shapes and lowers (passes and memory planning) for `batch`.
    func lower(_ text: String, batch: Int = 1, train: Bool = false) throws -> Graph {
        let decoded = try ModelDecoder.decode(Data(text.utf8), file: Self.file)
        let g = try inferShapes(decoded.graph, file: Self.file)
        do {
            return try Pipeline.lower(g, options: CompileOptions(maxBatch: batch, train: train, target: .portable))
        } catch let e as NNCCError { throw e.inFile(Self.file) }
    }

    func accepts(_ layers: String, input: String, batch: Int = 1, train: Bool = false,
                 file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertNoThrow(try lower(model(layers, input: input, train: train), batch: batch, train: train),
                         "\(layers) on \(input)", file: file, line: line)
    }

    func rejects(_ layers: String, input: String, batch: Int = 1, train: Bool = false, path: String, _ fragments: String...,
                 file: StaticString = #filePath, line: UInt = #line) {
        do {
            _ = try lower(model(layers, input: input, train: train), batch: batch, train: train)
            XCTFail("expected an error at \(path) for \(layers) on \(input)", file: file, line: line)
        } catch let e as NNCCError {
            XCTAssertEqual(e.file, Self.file, file: file, line: line)
            XCTAssertEqual(e.path, path, "\(e)", file: file, line: line)
            for f in fragments { XCTAssertTrue(e.message.contains(f), "\(e) lacks \"\(f)\"", file: file, line: line) }
        } catch {
            XCTFail("not an NNCCError: \(error)", file: file, line: line)
        }
    }

    // MARK: - The reproducers of the issue

    func testOverflowingShapesAreErrorsNotTraps() {
        let cube = "[2097152, 2097152, 2097152]"
        for layer in [#"{"type": "relu"}"#, #"{"type": "flatten"}"#, #"{"type": "reshape", "shape": [-1]}"#] {
            rejects(layer, input: cube, path: "input.shape", "more than 2^63 elements", "2^28")
        }
        rejects(#"{"type": "conv2d", "filters": 65536, "kernel_size": 1}"#, input: "[3, 16777216, 16777216]",
                path: "input.shape", "844424930131968 elements")
        // A reshape target whose product overflows.
        rejects(#"{"type": "reshape", "shape": [16777216, 16777216, -1]}"#, input: "[16, 16]",
                path: "layers[0]", "cannot reshape")
    }

    func testHugeJSONIntegersNameTheLimit() {
        rejects(#"{"type": "relu"}"#, input: "[9223372036854775808]", path: "input.shape[0]",
                "expected at most 2^24 (16777216), found 9223372036854775808")
        rejects(#"{"type": "relu"}"#, input: "[1.5]", path: "input.shape[0]", "expected a positive integer, found a number")
        rejects(#"{"type": "dense", "units": 100000000000000000000000}"#, input: "[4]", path: "layers[0].units",
                "expected at most 2^20 (1048576), found 1e+23")
        rejects(#"{"type": "conv2d", "filters": 1, "kernel_size": -9223372036854775808}"#, input: "[1, 4, 4]",
                path: "layers[0].kernel_size", "expected a positive integer or [kh, kw]")
        rejects(#"{"type": "conv2d", "filters": 1, "kernel_size": [1, 9223372036854775807]}"#, input: "[1, 4, 4]",
                path: "layers[0].kernel_size", "expected at most 2^20 (1048576), found 9223372036854775808")
        XCTAssertThrowsError(try ModelDecoder.decode(Data(#"{"format": 1, "name": "m", "seed": 18446744073709551616, "input": {"shape": [1]}, "layers": [{"type": "relu"}]}"#.utf8), file: "m.json")) {
            XCTAssertEqual(($0 as? NNCCError)?.path, "seed")
            XCTAssertTrue("\($0)".contains("expected at most 2^53"), "\($0)")
        }
    }

    // MARK: - Input and per-example results: 2^28 elements, 2^24 per dimension

    func testInputShape() {
        accepts(#"{"type": "relu"}"#, input: "[16384, 16384]")
        accepts(#"{"type": "relu"}"#, input: "[16777216, 16]")
        rejects(#"{"type": "relu"}"#, input: "[16384, 16385]", path: "input.shape", "268451840 elements", "2^28")
        rejects(#"{"type": "relu"}"#, input: "[16777217, 1]", path: "input.shape[0]", "expected at most 2^24")
    }

    func testDense() {
        // units at the limit; the weight at 2^30 elements.
        accepts(#"{"type": "dense", "units": 1048576}"#, input: "[1024]")
        rejects(#"{"type": "dense", "units": 1048577}"#, input: "[4]", path: "layers[0].units", "expected at most 2^20")
        rejects(#"{"type": "dense", "units": 1048576}"#, input: "[1025]", path: "layers[0]",
                #"parameter "0.weight" of shape [1048576, 1025]"#, "2^30")
        // The result per example.
        accepts(#"{"type": "dense", "units": 1024, "bias": false}"#, input: "[262144, 4]")
        rejects(#"{"type": "dense", "units": 1025}"#, input: "[262144, 4]", path: "layers[0]", "result of shape [262144, 1025]")
    }

    func testAllParametersTogether() {
        // Four weights of 2^30 floats plus biases pass 2^32 at the fourth layer.
        let layers = [1048576, 1024, 1048576, 1024].map { #"{"type": "dense", "units": \#($0)}"# }
        rejects(layers.joined(separator: ", "), input: "[1024]", path: "layers[3]", "the parameters up to this layer", "2^32")
        accepts(layers.prefix(3).joined(separator: ", "), input: "[1024]")
    }

    func testConv2D() {
        accepts(#"{"type": "conv2d", "filters": 65536, "kernel_size": 1}"#, input: "[1, 64, 64]")
        rejects(#"{"type": "conv2d", "filters": 65537, "kernel_size": 1}"#, input: "[1, 64, 64]",
                path: "layers[0].filters", "expected at most 2^16")
        rejects(#"{"type": "conv2d", "filters": 65536, "kernel_size": 1}"#, input: "[1, 64, 65]", path: "layers[0]",
                "result of shape [65536, 64, 65]")
        rejects(#"{"type": "conv2d", "filters": 1, "kernel_size": 1, "groups": 65537}"#, input: "[1, 4, 4]",
                path: "layers[0].groups", "expected at most 2^16")
        // Window attributes at 2^20, and one past it, as an int and inside a pair.
        accepts(#"{"type": "conv2d", "filters": 1, "kernel_size": [1, 1048576]}"#, input: "[1, 1, 1048576]")
        accepts(#"{"type": "conv2d", "filters": 1, "kernel_size": 1, "stride": 1048576, "dilation": 1048576}"#,
                input: "[1, 2, 2]")
        rejects(#"{"type": "conv2d", "filters": 1, "kernel_size": [1, 1048577]}"#, input: "[1, 1, 4]",
                path: "layers[0].kernel_size", "expected at most 2^20")
        rejects(#"{"type": "conv2d", "filters": 1, "kernel_size": 1, "stride": 1048577}"#, input: "[1, 1, 4]",
                path: "layers[0].stride", "expected at most 2^20")
        rejects(#"{"type": "conv2d", "filters": 1, "kernel_size": 1, "dilation": [1, 1048577]}"#, input: "[1, 1, 4]",
                path: "layers[0].dilation", "expected at most 2^20")
        // The zero-padded input the kernels read.
        accepts(#"{"type": "conv2d", "filters": 1, "kernel_size": 3}"#, input: "[1, 16384, 16384]")
        rejects(#"{"type": "conv2d", "filters": 1, "kernel_size": 3, "padding": 1}"#, input: "[1, 16384, 16384]",
                path: "layers[0]", "padded input of shape [1, 16386, 16386]")
        rejects(#"{"type": "conv2d", "filters": 1, "kernel_size": 1, "padding": 1048576}"#, input: "[1, 1, 1]",
                path: "layers[0]", "padded input of shape [1, 2097153, 2097153]")
    }

    func testPools() {
        for type in ["maxpool2d", "avgpool2d"] {
            accepts(#"{"type": "\#(type)", "pool_size": [1, 1048576]}"#, input: "[1, 1, 1048576]")
            accepts(#"{"type": "\#(type)", "pool_size": 2}"#, input: "[4, 8192, 8192]")
            rejects(#"{"type": "\#(type)", "pool_size": [1, 1048577]}"#, input: "[1, 1, 4]",
                    path: "layers[0].pool_size", "expected at most 2^20")
            rejects(#"{"type": "\#(type)", "pool_size": 2, "stride": 1048577}"#, input: "[1, 4, 4]",
                    path: "layers[0].stride", "expected at most 2^20")
        }
        accepts(#"{"type": "global_avgpool2d"}"#, input: "[4, 8192, 8192]")
    }

    func testFlattenReshapeAndViews() {
        accepts(#"{"type": "flatten"}"#, input: "[4, 8192, 8192]")
        accepts(#"{"type": "reshape", "shape": [16, 16777216]}"#, input: "[16777216, 16]")
        rejects(#"{"type": "reshape", "shape": [16777217, -1]}"#, input: "[16777216, 16]",
                path: "layers[0].shape[0]", "expected at most 2^24")
    }

    func testElementwiseLayersAtTheMaxBatch() {
        // 2^28 per example times batch 4 is 2^30 elements; batch 5 is past it.
        let types = ["relu", "sigmoid", "tanh", "softmax", "log_softmax", "leaky_relu", "gelu"]
        for t in types {
            accepts(#"{"type": "\#(t)"}"#, input: "[16384, 16384]", batch: 4)
            rejects(#"{"type": "\#(t)"}"#, input: "[16384, 16384]", batch: 5, path: "layers[0]",
                    "result at the max batch", "[5, 16384, 16384]", "2^30")
        }
        for layer in [#"{"type": "identity"}"#, #"{"type": "dropout", "rate": 0.5}"#] {
            accepts(layer, input: "[16384, 16384]", batch: 65536)  // removed at inference: no buffer
        }
        accepts(#"{"type": "batchnorm"}"#, input: "[4, 8192, 8192]", batch: 4)
        rejects(#"{"type": "batchnorm"}"#, input: "[4, 8192, 8192]", batch: 5, path: "layers[0]", "result at the max batch")
        accepts(#"{"type": "add", "inputs": ["input", "input"]}"#, input: "[16384, 16384]", batch: 4)
        rejects(#"{"type": "add", "inputs": ["input", "input"]}"#, input: "[16384, 16384]", batch: 5,
                path: "layers[0]", "result at the max batch")
        accepts(#"{"type": "concat", "inputs": ["input", "input"]}"#, input: "[8192, 16384]")
        rejects(#"{"type": "concat", "inputs": ["input", "input"]}"#, input: "[8193, 16384]", path: "layers[0]",
                "result of shape [16386, 16384]")
    }

    func testRecurrentLayers() {
        // The largest units whose weight_hh ([gates·H, H]) stays within 2^30.
        for (type, units) in [("rnn", 32768), ("lstm", 16384), ("gru", 18918)] {
            accepts(#"{"type": "\#(type)", "units": \#(units)}"#, input: "[2, 1]")
            rejects(#"{"type": "\#(type)", "units": \#(units + 1)}"#, input: "[2, 1]", path: "layers[0]",
                    #"parameter "0.weight_hh_l0""#, "2^30")
            rejects(#"{"type": "\#(type)", "units": 65537}"#, input: "[2, 1]", path: "layers[0].units", "expected at most 2^16")
        }
        // Inference keeps every step's gates (batch × T × 4H floats) only while they fit in
        // Schedule.recurrentWholeSequenceFloats; past that it projects a step at a time, and the
        // scratch is one step's gates: 2^24 steps of 64 gates (2^30 floats at once) are accepted.
        accepts(#"{"type": "lstm", "units": 16, "return_sequences": true}"#, input: "[4194304, 4]")
        accepts(#"{"type": "lstm", "units": 16, "return_sequences": true}"#, input: "[16777216, 16]")
        // The result itself still counts: [2^24, 128] is past the 2^28 elements of one tensor.
        rejects(#"{"type": "lstm", "units": 128, "return_sequences": true}"#, input: "[16777216, 1]",
                path: "layers[0]", "result of shape [16777216, 128] is too large")
    }

    func testArena() {
        // 15 results of 2^30 floats live at once plus their sum: exactly 2^36 bytes; one more is past it.
        func fan(_ n: Int) -> String {
            let relus = (0..<n).map { #"{"type": "relu", "name": "r\#($0)", "inputs": ["input"]}"# }
            let names = (0..<n).map { #""r\#($0)""# }.joined(separator: ", ")
            return (relus + [#"{"type": "add", "name": "sum", "inputs": [\#(names)]}"#]).joined(separator: ", ")
        }
        accepts(fan(15), input: "[16384, 16384]", batch: 4)
        rejects(fan(16), input: "[16384, 16384]", batch: 4, path: "layers[16]", "the arena reaches 73014444032 bytes", "2^36")
    }

    func testTrainingBuffers() {
        // Inference reads the padded input in place; training's ∂x by im2col holds 25 × 16380² floats per image
        // (a first layer computes no ∂x, hence the 1×1 conv before it).
        let conv = #"{"type": "conv2d", "filters": 1, "kernel_size": 1}, {"type": "conv2d", "filters": 1, "kernel_size": 5}"#
        XCTAssertNoThrow(try lower(model(conv, input: "[1, 16384, 16384]", train: true)))  // its inference build
        rejects(conv, input: "[1, 16384, 16384]", train: true, path: "layers[1]", "training needs a buffer", "2^30")
        // Dropout keeps a mask for the batch.
        accepts(#"{"type": "dropout", "rate": 0.5}"#, input: "[16384, 16384]", batch: 4, train: true)
        rejects(#"{"type": "dropout", "rate": 0.5}"#, input: "[16384, 16384]", batch: 5, train: true, path: "layers[0]")
    }

    func testBatch() {
        rejects(#"{"type": "relu"}"#, input: "[4]", batch: 2147483647, path: "--batch", "expected 1 to 65536")
        accepts(#"{"type": "relu"}"#, input: "[4]", batch: 65536)
        let text = #"{"format": 1, "name": "m", "input": {"shape": [4]}, "layers": [{"type": "relu"}], "train": {"loss": "mse", "optimizer": {"type": "sgd", "lr": 0.1}, "batch_size": 65537}}"#
        XCTAssertThrowsError(try ModelDecoder.decode(Data(text.utf8), file: "m.json")) {
            XCTAssertEqual(($0 as? NNCCError)?.path, "train.batch_size")
        }
    }

    func testExampleModelsStayWithinTheLimits() throws {
        let examples = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("examples")
        let models = try FileManager.default.contentsOfDirectory(atPath: examples.path).filter { $0.hasSuffix(".json") }
        XCTAssertFalse(models.isEmpty)
        for m in models {
            let model = try Pipeline.load(examples.appendingPathComponent(m).path)
            for train in [false, true] where !train || model.graph.train != nil {
                XCTAssertNoThrow(try Pipeline.lower(model.graph, options: CompileOptions(maxBatch: 1024, train: train)), m)
            }
        }
    }

    // MARK: - ONNX: the same limits, errors name the node

    func testONNXSizesNameTheNode() throws {
        typealias O = ONNXImportTests
        let w = O.floats("c.weight", [2, 1, 1, 1])
        let conv = O.model([O.node("Conv", ["x", "c.weight"], ["y"])], inits: [w], input: [nil, 1, 16384, 16384])
        XCTAssertThrowsError(try ONNXImporter.decode(conv, file: "m.onnx", name: "m")) {
            XCTAssertTrue("\($0)".contains(#"graph.node[0] (Conv "/Conv_y")"#), "\($0)")
            XCTAssertTrue("\($0)".contains("result of shape [2, 16384, 16384] is too large"), "\($0)")
        }
        // A Reshape target whose product overflows (-1 first: checked against the input's size).
        let target = Onnx_TensorProto.with {
            $0.name = "shape"
            $0.dims = [5]
            $0.dataType = Int32(Onnx_TensorProto.DataType.int64.rawValue)
            $0.int64Data = [-1, 1 << 24, 1 << 24, 1 << 24, 1 << 24]
        }
        let reshape = O.model([O.node("Reshape", ["x", "shape"], ["y"])], inits: [target], input: [nil, 4])
        XCTAssertThrowsError(try ONNXImporter.decode(reshape, file: "m.onnx", name: "m")) {
            XCTAssertTrue("\($0)".contains("graph.node[0] (Reshape"), "\($0)")
        }
    }

    // MARK: - The CLI: exit 1 naming the path, exit 2 for --batch

    func testCLIExitCodes() throws {
        let exe = try XCTUnwrap(CLITests.executable, "nncc executable not found; build it first")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nncc-shapes-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let m = dir.appendingPathComponent("m.json").path
        func run(_ args: [String]) throws -> (Int32, String) {
            let p = Process(), err = Pipe()
            p.executableURL = exe
            p.arguments = args
            p.standardError = err
            p.standardOutput = FileHandle.nullDevice
            var env = ProcessInfo.processInfo.environment
            env["NNCC_CACHE"] = dir.appendingPathComponent("cache").path
            p.environment = env
            try p.run()
            let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            return (p.terminationStatus, text)
        }
        try Data(#"{"format":1,"name":"m","input":{"shape":[2097152,2097152,2097152]},"layers":[{"type":"relu"}]}"#.utf8)
            .write(to: URL(fileURLWithPath: m))
        var (status, text) = try run(["ir", m])
        XCTAssertEqual(status, 1, text)
        XCTAssertTrue(text.contains("\(m): input.shape: input of shape [2097152, 2097152, 2097152] is too large"), text)
        (status, text) = try run(["compile", m, "--batch", "2147483647", "-o", dir.appendingPathComponent("out").path])
        XCTAssertEqual(status, 2, text)
        XCTAssertTrue(text.contains("--batch must be in 1...65536"), text)
    }
}
