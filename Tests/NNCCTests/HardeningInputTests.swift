import Foundation
import XCTest
import ZIPFoundation
@testable import NNCC
@testable import NNCCRuntime

/// Issue 15, hostile or careless inputs: names, duplicate keys, .npz bombs,
/// .npy headers, diagnostics that quote user text, ONNX opsets.
final class HardeningInputTests: XCTestCase {
    nonisolated(unsafe) static var cache: (dir: URL, previous: String?)?
    override class func setUp() { super.setUp(); cache = FixtureKit.useTempCache("nncc-inputs-cache") }
    override class func tearDown() { if let c = cache { FixtureKit.restoreCache(c) }; cache = nil; super.tearDown() }

    var tmp: URL!
    override func setUpWithError() throws { tmp = FixtureKit.makeTempDir("nncc-inputs") }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: tmp) }

    func model(name: String = "m", layers: String, extra: String = "") -> Data {
        Data(#"{"format": 1, "name": "\#(name)", "input": {"shape": [4]}, "layers": [\#(layers)]\#(extra)}"#.utf8)
    }

    func decodeError(_ json: Data, file: StaticString = #filePath, line: UInt = #line) -> NNCCError? {
        do {
            _ = try ModelDecoder.decode(json, file: "m.json")
            XCTFail("expected an error", file: file, line: line)
        } catch let e as NNCCError {
            return e
        } catch {
            XCTFail("not an NNCCError: \(error)", file: file, line: line)
        }
        return nil
    }

    // MARK: - Defect 3: layer names with empty dot parts are trained

    static let dottedModel = #"""
        {"format": 1, "name": "dots", "input": {"shape": [4]}, "seed": 3,
         "layers": [{"type": "dense", "units": 5, "name": "fc..1", "activation": "tanh"},
                    {"type": "dense", "units": 5, "name": ".fc", "activation": "tanh"},
                    {"type": "dense", "units": 2, "name": "fc."}],
         "train": {"loss": "mse", "optimizer": {"type": "sgd", "lr": 0.5}}}
        """#

    func testLayersWithEmptyDotPartsNeedGradients() throws {
        let decoded = try ModelDecoder.decode(Data(Self.dottedModel.utf8), file: "dots.json")
        let g = try differentiate(try inferShapes(decoded.graph, file: "dots.json"))
        let plan = try XCTUnwrap(g.gradients)
        for name in ["fc..1", ".fc", "fc."] {
            let i = try XCTUnwrap(g.nodes.firstIndex { $0.name == name })
            XCTAssertTrue(plan.needsGrad[i], "layer \(name) gets no gradient")
        }
        XCTAssertEqual(Set(g.params.map(\.layer)), ["fc..1", ".fc", "fc."])
    }

    func testLayersWithEmptyDotPartsChangeAfterATrainStep() throws {
        let path = tmp.appendingPathComponent("dots.json")
        try Data(Self.dottedModel.utf8).write(to: path)
        let loaded = try Pipeline.load(path.path)
        let products = try Builder.cached(loaded, options: CompileOptions(train: true))
        let ctx = try ModelLibrary(path: products.library.path, name: products.name).makeContext()
        let names = ctx.paramNames()
        XCTAssertEqual(names, ["fc..1.weight", "fc..1.bias", ".fc.weight", ".fc.bias", "fc..weight", "fc..bias"])
        let before = names.indices.map { ctx.getParam($0) }
        let x: [Float] = [0.5, -1, 0.25, 2, -0.75, 1, 1.5, -0.5]
        let loss = try x.withUnsafeBufferPointer { try ctx.trainStep($0, targets: [1, -1, 0.5, 2], batch: 2) }
        XCTAssertTrue(loss.isFinite && loss > 0)
        for (i, name) in names.enumerated() {
            XCTAssertNotEqual(ctx.getParam(i), before[i], "\(name) did not change after a train step")
        }
    }

    // MARK: - Defect 4: control characters in names

    func testControlCharactersInLayerNamesAreRefused() throws {
        for (escaped, code) in [(#"a\u0000b"#, "U+0000"), (#"\u001b[31m"#, "U+001B"), ("x\u{7F}", "U+007F"), (#"a\nb"#, "U+000A")] {
            let e = try XCTUnwrap(decodeError(model(layers: #"{"type": "relu", "name": "\#(escaped)"}"#)))
            XCTAssertEqual(e.path, "layers[0].name")
            XCTAssertTrue(e.message.contains("control characters") && e.message.contains(code), e.description)
        }
        // Other Unicode stays allowed.
        XCTAssertNoThrow(try ModelDecoder.decode(model(layers: #"{"type": "relu", "name": "föö.β"}"#), file: "m.json"))
    }

    func testControlCharactersInONNXInitializerAndOutputNamesAreRefused() throws {
        let data = ONNXImportTests.model([ONNXImportTests.node("MatMul", ["x", "fc\u{0}.weight"], ["y"])],
                                         inits: [ONNXImportTests.floats("fc\u{0}.weight", [4, 3])])
        XCTAssertThrowsError(try ONNXImporter.decode(data, file: "m.onnx", name: "m")) { error in
            let e = error as? NNCCError
            XCTAssertEqual(e?.path, "graph.initializer[0]")
            XCTAssertTrue(e?.message.contains("U+0000") ?? false, "\(error)")
        }
        var m = try Onnx_ModelProto(serializedBytes: ONNXImportTests.model([ONNXImportTests.node("Relu", ["x"], ["y\u{1B}"])]))
        m.graph.output[0].name = "y\u{1B}"
        XCTAssertThrowsError(try ONNXImporter.decode(try m.serializedData(), file: "m.onnx", name: "m")) { error in
            XCTAssertEqual((error as? NNCCError)?.path, "graph.output[0]")
        }
    }

    // MARK: - Defect 5: duplicate detection in linear time

    /// 200,000 keys took over 60 s with the old pairwise check. No timing assertion (it could
    /// flake on a loaded machine); the time is printed for the record.
    func testTwoHundredThousandKeysParseAndTheLastDuplicateIsFound() throws {
        let n = 200_000
        var text = "{" + (0..<n).map { "\"k\($0)\":\($0)" }.joined(separator: ",") + "}"
        let started = Date()
        let v = try JSONReader.parse(Data(text.utf8))
        let seconds = Date().timeIntervalSince(started)
        print("JSONReader: \(n) keys (\(text.utf8.count) bytes) in \(String(format: "%.2f", seconds)) s")
        guard case let .object(pairs) = v else { return XCTFail("expected an object") }
        XCTAssertEqual(pairs.count, n)
        XCTAssertEqual(pairs.last?.0, "k\(n - 1)")
        text.removeLast()
        text += ",\"k\(n - 1)\":0}"
        XCTAssertThrowsError(try JSONReader.parse(Data(text.utf8))) { error in
            XCTAssertTrue("\(error)".contains("duplicate key \"k\(n - 1)\""), "\(error)")
        }
    }

    /// Also read at half the size, so the printed times show the growth is linear.
    func testSafeTensorsHeaderWithTwoHundredThousandEntries() throws {
        for n in [100_000, 200_000] { try readSafeTensorsHeader(entries: n) }
    }

    func readSafeTensorsHeader(entries n: Int) throws {
        let header = "{" + (0..<n).map { "\"t\($0)\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}" }
            .joined(separator: ",") + "}"
        var data = Data()
        FormatIO.appendLE(&data, UInt64(header.utf8.count))
        data.append(Data(header.utf8))
        let started = Date()
        let tensors = try SafeTensors.parse(data, file: "w.safetensors")
        print("SafeTensors: \(n) entries (\(header.utf8.count) bytes) in \(String(format: "%.2f", Date().timeIntervalSince(started))) s")
        XCTAssertEqual(tensors.count, n)
        XCTAssertEqual(tensors.last?.name, "t\(n - 1)")
    }

    func testOutputsListedTwiceAreFoundAmongManyLayers() throws {
        let layers = (0..<2000).map { #"{"type": "relu", "name": "r\#($0)"}"# }.joined(separator: ", ")
        let outs = (0..<2000).map { "\"r\($0)\"" }.joined(separator: ", ")
        let e = try XCTUnwrap(decodeError(model(layers: layers, extra: #", "outputs": [\#(outs), "r7"]"#)))
        XCTAssertEqual(e.path, "outputs[2000]")
        XCTAssertTrue(e.message.contains("listed twice"), e.description)
    }

    // MARK: - Defect 10: reserved model names

    /// Every `nn_` symbol of the fixed C, used as a model name, is refused; so are `nn` and `NN_...`.
    func testNamesOfTemplateSymbolsAreRefused() throws {
        let source = Template.allCases.map(\.source).joined(separator: "\n")
        let regex = try NSRegularExpression(pattern: "\\b(nn|NN)_[A-Za-z0-9_]+")
        let symbols = Set(regex.matches(in: source, range: NSRange(source.startIndex..., in: source)).map {
            String(source[Range($0.range, in: source)!])
        })
        XCTAssertTrue(symbols.contains("nn_wino_fwd") || symbols.contains { $0.hasPrefix("nn_wino") }, "templates changed: \(symbols.count) symbols")
        for name in symbols.filter({ $0.count <= 64 }).sorted() + ["nn", "NN", "nn_wino", "nn_rnn", "Nn_x"] {
            let e = try XCTUnwrap(decodeError(model(name: name, layers: #"{"type": "relu"}"#)), name)
            XCTAssertEqual(e.path, "name")
            XCTAssertTrue(e.message.contains("reserved"), e.description)
        }
    }

    func testNamesThatCollideWithCOrTheSystemAreRefusedAndOthersAccepted() throws {
        for name in ["_STDINT", "__x", "_", "math", "stdio", "pthread", "pthread_mutex", "sem", "timer", "gai"] {
            XCTAssertThrowsError(try ModelDecoder.validateName(name) { NNCCError(path: "name", $0) }, name)
        }
        for name in ["m", "mlp", "nnx", "n_n", "int", "exp", "main", "malloc_model", "_1x", "_lower", "Math"] {
            XCTAssertNoThrow(try ModelDecoder.validateName(name) { NNCCError(path: "name", $0) }, name)
        }
        // A file stem that is reserved gets a prefix instead.
        XCTAssertEqual(ONNXImporter.cIdentifier("nn_wino"), "onnx_nn_wino")
        XCTAssertEqual(ONNXImporter.cIdentifier("math"), "onnx_math")
        XCTAssertEqual(ONNXImporter.cIdentifier("my-net"), "my_net")
    }

    /// Names the check lets through compile: C keywords and libc/libm function names are
    /// prefixes only (`int_create`), never symbols of their own.
    func testKeywordAndLibcNamesCompile() throws {
        let path = tmp.appendingPathComponent("m.json")
        try model(layers: #"{"type": "dense", "units": 3, "activation": "relu"}, {"type": "softmax"}"#).write(to: path)
        for name in ["int", "exp", "main", "memcpy", "static"] {
            let loaded = try Pipeline.load(path.path, name: name)
            let products = try Builder.build(loaded, options: CompileOptions(name: name), into: tmp.appendingPathComponent(name))
            XCTAssertTrue(FileManager.default.fileExists(atPath: products.library.path), name)
        }
    }

    func testReservedNameOnTheCommandLineIsBadUsage() throws {
        let exe = try XCTUnwrap(CLITests.executable, "nncc executable not found; build it first")
        let path = tmp.appendingPathComponent("m.json")
        try model(layers: #"{"type": "relu"}"#).write(to: path)
        let p = Process()
        p.executableURL = exe
        p.arguments = ["compile", path.path, "-o", tmp.appendingPathComponent("out").path, "--name", "nn_wino"]
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 2, text)
        XCTAssertTrue(text.contains("--name") && text.contains("reserved"), text)
    }

    // MARK: - Defect 7: .npz bombs

    /// An archive of deflated members, built with ZIPFoundation; `declare` then rewrites each
    /// member's uncompressed size in the local header and the central directory.
    func npz(_ members: [(String, Data)], declare sizes: [UInt32]? = nil) throws -> URL {
        let archive = try Archive(data: Data(), accessMode: .create)
        for (name, d) in members {
            try archive.addEntry(with: name, type: .file, uncompressedSize: Int64(d.count), compressionMethod: .deflate,
                                 provider: { pos, size in d.subdata(in: Int(pos)..<Int(pos) + size) })
        }
        var bytes = try XCTUnwrap(archive.data)
        if let sizes {
            func u32(_ o: Int) -> UInt32 { bytes[o..<o + 4].reversed().reduce(0) { $0 << 8 | UInt32($1) } }
            func put(_ o: Int, _ v: UInt32) { for k in 0..<4 { bytes[o + k] = UInt8(truncatingIfNeeded: v >> (8 * UInt32(k))) } }
            var member = 0
            var o = 0
            while o + 4 <= bytes.count {
                switch u32(o) {
                case 0x0403_4B50: put(o + 22, sizes[member % sizes.count]); o += 30
                case 0x0201_4B50: put(o + 24, sizes[member % sizes.count]); member += 1; o += 46
                default: o += 1
                }
            }
        }
        let url = tmp.appendingPathComponent("bomb.npz")
        try bytes.write(to: url)
        return url
    }

    func npy(shape: [Int], dataBytes: Int) -> Data {
        var d = NumPy.encode(.float(Tensor(shape: [0], data: [])))
        let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (\(shape.map(String.init).joined(separator: ", ")),), }"
        var h = Array(header.utf8)
        while (10 + h.count + 1) % 64 != 0 { h.append(0x20) }
        h.append(0x0A)
        d = Data([0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0])
        FormatIO.appendLE(&d, UInt16(h.count))
        d.append(contentsOf: h)
        var rng = SystemRandomNumberGenerator()
        d.append(contentsOf: (0..<dataBytes).map { _ in UInt8.random(in: 0...255, using: &rng) })
        return d
    }

    /// Two members whose zip entries declare 1.5 GiB each: each alone is possible for its
    /// compressed size (random bytes do not compress), together they pass the 2 GiB cap.
    func testNpzWhoseMembersDeclareMoreThanTheCapIsRefusedBeforeInflating() throws {
        let member = npy(shape: [400_000], dataBytes: 1_600_000)
        let url = try npz([("x.npy", member), ("y.npy", member)], declare: [1_610_612_736])
        XCTAssertThrowsError(try Npz.read(path: url.path)) { error in
            let e = error as? NNCCError
            XCTAssertEqual(e?.file, url.path)
            XCTAssertEqual(e?.path, "y.npy")
            XCTAssertTrue(e?.message.contains("over the limit of \(Npz.maxUncompressedBytes) bytes") ?? false, "\(error)")
        }
    }

    /// A member whose zip entry promises more than its .npy header describes is refused
    /// as soon as the header is out, not after inflating what the entry promises.
    func testNpzMemberWhoseZipSizeDisagreesWithItsNpyHeaderIsRefused() throws {
        let member = npy(shape: [1000], dataBytes: 400_000)  // header: 4000 bytes of data; 400,000 follow
        let url = try npz([("x.npy", member)], declare: [UInt32(member.count)])
        XCTAssertThrowsError(try Npz.read(path: url.path)) { error in
            let e = error as? NNCCError
            XCTAssertEqual(e?.path, "x.npy")
            XCTAssertTrue(e?.message.contains("the .npy header declares 4128 bytes") ?? false, "\(error)")
        }
        // The same archive with an honest header reads.
        let ok = try npz([("x.npy", NumPy.encode(.float(Tensor(shape: [3], data: [1, 2, 3]))))])
        XCTAssertEqual(try Npz.read(path: ok.path)["x"], .float(Tensor(shape: [3], data: [1, 2, 3])))
    }

    // MARK: - Defect 12: .npy headers, float64 range, diagnostics, ONNX

    func npyFile(_ header: String, descr: String = "<f4", _ payload: Data) -> Data {
        var h = Array(header.utf8)
        while (10 + h.count + 1) % 64 != 0 { h.append(0x20) }
        h.append(0x0A)
        var d = Data([0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0])
        FormatIO.appendLE(&d, UInt16(h.count))
        d.append(contentsOf: h)
        d.append(payload)
        return d
    }

    func testNpyHeaderWithARepeatedKeyIsRefused() throws {
        var payload = Data()
        FormatIO.appendFloats(&payload, [1, 2])
        let d = npyFile("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'shape': (1,), }", payload)
        XCTAssertThrowsError(try NumPy.parse(d, file: "x.npy")) { error in
            XCTAssertTrue("\(error)".contains("'shape' appears more than once"), "\(error)")
        }
    }

    func testFloat64BeyondFloat32RangeIsRefusedButInfinityIsKept() throws {
        func f8(_ values: [Double], shape: String) -> Data {
            var payload = Data()
            for v in values { FormatIO.appendLE(&payload, v.bitPattern) }
            return npyFile("{'descr': '<f8', 'fortran_order': False, 'shape': \(shape), }", payload)
        }
        XCTAssertThrowsError(try NumPy.parse(f8([1, -.infinity, 2, -1e39], shape: "(2, 2)"), file: "x.npy")) { error in
            let e = error as? NNCCError
            XCTAssertEqual(e?.file, "x.npy")
            XCTAssertTrue(e?.message.contains("element [1, 1] = -1e+39 is outside float32's range") ?? false, "\(error)")
        }
        let kept = try NumPy.parse(f8([.infinity, 3.4e38, -Double(Float.greatestFiniteMagnitude)], shape: "(3,)"), file: "x.npy")
        XCTAssertEqual(kept, .float(Tensor(shape: [3], data: [.infinity, 3.4e38, -.greatestFiniteMagnitude])))
    }

    func testDiagnosticsEscapeControlCharactersAndCutLongText() throws {
        let long = "\u{1B}[2J" + String(repeating: "x", count: 10_000_000) + "\u{0}end"
        let json = Data(#"{"format": 1, "name": "m", "input": {"shape": [4]}, "layers": [{"type": "\u001b[2J\#(String(repeating: "x", count: 10_000_000))\u0000end"}]}"#.utf8)
        let e = try XCTUnwrap(decodeError(json))
        let shown = e.description
        let head = String(shown.prefix(300))  // failure messages stay short when the check fails
        XCTAssertLessThan(shown.count, 2000, head)
        XCTAssertFalse(shown.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F }, head)
        XCTAssertTrue(shown.contains(#"\u001B[2Jxxx"#) && shown.contains(#"\u0000end""#), head)
        XCTAssertTrue(shown.contains("characters omitted"), head)
        // File and path are escaped too; messages keep their line breaks (gcc's output).
        let e2 = NNCCError(file: "a\u{7F}.json", path: long, "line 1\nline 2")
        XCTAssertTrue(e2.description.hasPrefix(#"a\u007F.json: \u001B[2J"#), String(e2.description.prefix(300)))
        XCTAssertTrue(e2.description.hasSuffix("\\u0000end: line 1\nline 2"), String(e2.description.suffix(300)))
    }

    func testReshapeErrorShowsNumbersNotSwiftTypes() throws {
        let shape = Onnx_TensorProto.with { $0.name = "s"; $0.dims = [2]; $0.dataType = 7; $0.int64Data = [2, -1] }
        let data = ONNXImportTests.model([ONNXImportTests.node("Reshape", ["x", "s"], ["y"])], inits: [shape])
        XCTAssertThrowsError(try ONNXImporter.decode(data, file: "m.onnx", name: "m")) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("Reshape to [2, -1] is not supported"), text)
            XCTAssertFalse(text.contains("ONNXInt"), text)
        }
        XCTAssertEqual("\([ONNXInt.batch, .value(-1)])", "[N, -1]")
    }

    func testOpsetsOutsideTheSupportedRangeAreRefused() throws {
        let base = try Onnx_ModelProto(serializedBytes: ONNXImportTests.model([ONNXImportTests.node("Relu", ["x"], ["y"])]))
        for (domain, version, ok) in [("", Int64(17), true), ("ai.onnx", 9, true), ("", 22, true), ("", 6, true), ("", 5, false),
                                       ("", 23, false), ("", 1 << 40, false)] {
            var m = base
            m.opsetImport = [Onnx_OperatorSetIdProto.with { $0.domain = domain; $0.version = version }]
            let data = try m.serializedData()
            if ok {
                XCTAssertNoThrow(try ONNXImporter.decode(data, file: "m.onnx", name: "m"), "opset \(version)")
            } else {
                XCTAssertThrowsError(try ONNXImporter.decode(data, file: "m.onnx", name: "m")) { error in
                    XCTAssertEqual((error as? NNCCError)?.path, "opset_import")
                    XCTAssertTrue("\(error)".contains("outside the range nncc imports (6 to 22)"), "\(error)")
                }
            }
        }
        var m = base
        m.opsetImport = [Onnx_OperatorSetIdProto.with { $0.domain = "com.microsoft"; $0.version = 1 }]
        XCTAssertThrowsError(try ONNXImporter.decode(try m.serializedData(), file: "m.onnx", name: "m")) { error in
            XCTAssertTrue("\(error)".contains("expected an opset for the default ONNX domain"), "\(error)")
        }
    }
}
