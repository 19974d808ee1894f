import Foundation
import XCTest
@testable import NNCC

final class FormatsTests: XCTestCase {
    /// Fixtures made by numpy/safetensors (see Fixtures/formats/make_fixtures.py).
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/formats")
    var tmp: URL!

    override func setUpWithError() throws {
        tmp = FileManager.default.temporaryDirectory.appendingPathComponent("nncc-formats-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: tmp)
    }

    func fixture(_ name: String) -> String { Self.fixtures.appendingPathComponent(name).path }
    func temp(_ name: String) -> String { tmp.appendingPathComponent(name).path }

    /// Asserts `body` throws an NNCCError whose description names `file` and contains each of `parts`.
    func assertError(_ file: String, _ parts: String..., line: UInt = #line, _ body: () throws -> Void) {
        do {
            try body()
            XCTFail("expected an error naming \(file)", line: line)
        } catch let e as NNCCError {
            XCTAssertTrue(e.description.contains(file), "\(e) does not name \(file)", line: line)
            XCTAssertEqual(e.file.map { $0.contains(file) }, true, "\(e) has no file", line: line)
            for p in parts { XCTAssertTrue(e.description.contains(p), "\(e) does not mention \(p)", line: line) }
        } catch {
            XCTFail("expected NNCCError, got \(type(of: error)): \(error)", line: line)
        }
    }

    /// A safetensors file from a header string and data bytes.
    func safetensors(_ header: String, data: Data = Data(count: 64)) -> Data {
        var d = Data()
        FormatIO.appendLE(&d, UInt64(header.utf8.count))
        d.append(Data(header.utf8))
        d.append(data)
        return d
    }

    /// An .npy v1.0 file from a header dict string and data bytes.
    func npy(_ header: String, data: Data) -> Data {
        var d = Data([0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0])
        FormatIO.appendLE(&d, UInt16(header.utf8.count))
        d.append(Data(header.utf8))
        d.append(data)
        return d
    }

    let t23 = Tensor(shape: [2, 3], data: [0, 0.25, 0.5, 0.75, 1, 1.25])

    // MARK: - Round trips

    func testSafeTensorsRoundTripKeepsOrder() throws {
        let tensors: [(name: String, tensor: Tensor)] = [
            ("z.weight", Tensor(shape: [2, 2], data: [1, -2, 3.5, .infinity])),
            ("a \"quoted\"\nname", Tensor(shape: [3], data: [0, -0.0, 1e-30])),
            ("scalar", Tensor(shape: [], data: [42])),
            ("empty", Tensor(shape: [0, 4], data: [])),
        ]
        let path = temp("sub/dir/m.safetensors")
        try SafeTensors.write(tensors, to: path)
        let back = try SafeTensors.read(path: path)
        XCTAssertEqual(back.map(\.name), tensors.map(\.name))
        XCTAssertEqual(back.map(\.tensor), tensors.map(\.tensor))
        // Data starts 8-byte aligned, offsets contiguous and ascending.
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        let n = bytes.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        XCTAssertEqual(n % 8, 0)
        XCTAssertEqual(bytes.count, 8 + n + (4 + 3 + 1) * 4)
        guard case let .object(entries) = try JSONReader.parse(bytes.subdata(in: 8..<8 + n)) else { return XCTFail() }
        XCTAssertEqual(entries.map(\.0), tensors.map(\.name))
        XCTAssertEqual(entries[1].1["data_offsets"], .array([.number(16, isInteger: true), .number(28, isInteger: true)]))
    }

    func testSafeTensorsReadsReferenceWriterAndSkipsNumBatchesTracked() throws {
        let ts = try SafeTensors.read(path: fixture("model.safetensors"))
        XCTAssertEqual(ts.map(\.name), ["0.bias", "0.weight"])
        XCTAssertEqual(ts[0].tensor, Tensor(shape: [2], data: [-1.5, 2]))
        XCTAssertEqual(ts[1].tensor, Tensor(shape: [2, 4], data: (0..<8).map { Float($0) / 8 }))
    }

    func testNumPyRoundTrip() throws {
        for t in [t23, Tensor(shape: [], data: [7]), Tensor(shape: [0, 3], data: []), Tensor(shape: [5], data: [1, 2, 3, 4, 5])] {
            let path = temp("t.npy")
            try NumPy.write(t, to: path)
            XCTAssertEqual(try NumPy.read(path: path), .float(t))
            let header = try Data(contentsOf: URL(fileURLWithPath: path))
            XCTAssertEqual((header.count - t.data.count * 4) % 64, 0, "data is 64-byte aligned")
        }
        let ints = NpyArray.int(shape: [2, 2], data: [-1, 0, Int64.max, Int64.min])
        XCTAssertEqual(try NumPy.parse(NumPy.encode(ints), file: "i.npy"), ints)
    }

    func testNumPyReadsNumpyFiles() throws {
        XCTAssertEqual(try NumPy.read(path: fixture("f32_2x3.npy")), .float(t23))
        XCTAssertEqual(try NumPy.read(path: fixture("v2_f32.npy")), .float(t23))
        XCTAssertEqual(try NumPy.read(path: fixture("v3_f32.npy")), .float(t23))
        XCTAssertEqual(try NumPy.read(path: fixture("f64_3.npy")), .float(Tensor(shape: [3], data: [0.5, -1.25, 3])))
        XCTAssertEqual(try NumPy.read(path: fixture("scalar_f32.npy")), .float(Tensor(shape: [], data: [2.5])))
        XCTAssertEqual(try NumPy.read(path: fixture("empty_0x3.npy")), .float(Tensor(shape: [0, 3], data: [])))
        XCTAssertEqual(try NumPy.read(path: fixture("i64_5.npy")), .int(shape: [5], data: [3, 1, 4, 1, 5]))
        XCTAssertEqual(try NumPy.read(path: fixture("i32_4.npy")), .int(shape: [4], data: [-2, 0, 7, 2_147_483_647]))
        XCTAssertEqual(try NumPy.read(path: fixture("u8_3.npy")), .int(shape: [3], data: [0, 9, 255]))
        XCTAssertEqual(try NumPy.read(path: fixture("i8_3.npy")), .int(shape: [3], data: [-128, 0, 127]))
        XCTAssertEqual(try NumPy.read(path: fixture("i16_2x2.npy")), .int(shape: [2, 2], data: [-300, 1, 2, 32767]))
        XCTAssertEqual(NpyArray.int(shape: [3], data: [1, 2, 3]).shape, [3])
    }

    func testNpzRoundTrip() throws {
        let path = temp("out/a.npz")
        let arrays: [(name: String, array: NpyArray)] = [
            ("x", .float(t23)), ("labels", .int(shape: [4], data: [2, 0, 1, 1])), ("s", .float(Tensor(shape: [], data: [1]))),
        ]
        try Npz.write(arrays, to: path)
        let back = try Npz.read(path: path)
        XCTAssertEqual(back.count, 3)
        for (name, a) in arrays { XCTAssertEqual(back[name], a, name) }
        // Deterministic output: the same arrays give the same bytes.
        try Npz.write(arrays, to: temp("b.npz"))
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path)), try Data(contentsOf: URL(fileURLWithPath: temp("b.npz"))))
    }

    func testNpzReadsSavezAndSavezCompressed() throws {
        let labels = NpyArray.int(shape: [4], data: [2, 0, 1, 1])
        let plain = try Npz.read(path: fixture("plain.npz"))
        XCTAssertEqual(Set(plain.keys), ["x", "y"])
        XCTAssertEqual(plain["x"], .float(t23))
        XCTAssertEqual(plain["y"], labels)
        let z = try Npz.read(path: fixture("compressed.npz"))
        XCTAssertEqual(Set(z.keys), ["x", "y", "big"])
        XCTAssertEqual(z["x"], .float(t23))
        XCTAssertEqual(z["y"], labels)
        XCTAssertEqual(z["big"], .float(Tensor(shape: [100, 100], data: (0..<10000).map { Float($0) / 2 })))
    }

    func testAtomicFileCreatesParentsReplacesAndLeavesNoTemporaries() throws {
        let path = temp("a/b/c/file.bin")
        try AtomicFile.write(Data([1, 2, 3]), to: path)
        try AtomicFile.write(Data([4, 5]), to: path)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path)), Data([4, 5]))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: temp("a/b/c")), ["file.bin"])
        // A directory in the way: the error names the path and nothing is left behind.
        try FileManager.default.createDirectory(atPath: temp("dir.bin/x"), withIntermediateDirectories: true)
        assertError("dir.bin") { try AtomicFile.write(Data([1]), to: temp("dir.bin")) }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: tmp.path).sorted(), ["a", "dir.bin"])
    }

    func testWritersRejectInconsistentTensors() {
        let bad = Tensor(shape: [2, 3], data: [1, 2])
        assertError("w.safetensors", "bad", "needs 6 values, found 2") {
            try SafeTensors.write([("bad", bad)], to: temp("w.safetensors"))
        }
        assertError("w.safetensors", "twice") { try SafeTensors.write([("a", t23), ("a", t23)], to: temp("w.safetensors")) }
        assertError("w.npy", "needs 6 values") { try NumPy.write(bad, to: temp("w.npy")) }
        assertError("w.npz", "y") { try Npz.write([("y", .int(shape: [3], data: [1]))], to: temp("w.npz")) }
        XCTAssertFalse(FileManager.default.fileExists(atPath: temp("w.safetensors")))
    }

    // MARK: - Malformed safetensors

    func testSafeTensorsTruncatedHeaderLength() {
        assertError("t.safetensors", "too short") { _ = try SafeTensors.parse(Data([1, 0, 0]), file: "t.safetensors") }
    }

    func testSafeTensorsHeaderLengthBeyondFile() {
        var d = Data(); FormatIO.appendLE(&d, UInt64(1000)); d.append(Data("{}".utf8))
        assertError("t.safetensors", "runs past the end") { _ = try SafeTensors.parse(d, file: "t.safetensors") }
        var huge = Data(); FormatIO.appendLE(&huge, UInt64.max)
        assertError("t.safetensors", "exceeds the limit") { _ = try SafeTensors.parse(huge, file: "t.safetensors") }
    }

    func testSafeTensorsBadJSON() {
        assertError("t.safetensors", "JSON") { _ = try SafeTensors.parse(safetensors("{\"a\": {"), file: "t.safetensors") }
        assertError("t.safetensors", "a JSON object") { _ = try SafeTensors.parse(safetensors("[1]"), file: "t.safetensors") }
        assertError("t.safetensors", "w", "expected an object") {
            _ = try SafeTensors.parse(safetensors("{\"w\": 3}"), file: "t.safetensors")
        }
        assertError("t.safetensors", "w", "shape") {
            _ = try SafeTensors.parse(safetensors(#"{"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#), file: "t.safetensors")
        }
    }

    func testSafeTensorsWrongDtype() {
        let h = #"{"w":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}"#
        assertError("t.safetensors", "w", "expected dtype F32, found F16") { _ = try SafeTensors.parse(safetensors(h), file: "t.safetensors") }
        // I64 is only tolerated for BatchNorm's counter.
        let i = #"{"steps":{"dtype":"I64","shape":[],"data_offsets":[0,8]}}"#
        assertError("t.safetensors", "steps", "found I64") { _ = try SafeTensors.parse(safetensors(i), file: "t.safetensors") }
    }

    func testSafeTensorsShapeOffsetMismatch() {
        let h = #"{"0.weight":{"dtype":"F32","shape":[16,8],"data_offsets":[0,64]}}"#
        assertError("w.safetensors", "0.weight", "shape [16, 8] needs 512 bytes", "span 64 bytes") {
            _ = try SafeTensors.parse(safetensors(h), file: "w.safetensors")
        }
    }

    func testSafeTensorsOffsetsBeyondData() {
        let h = #"{"w":{"dtype":"F32","shape":[32],"data_offsets":[0,128]}}"#
        assertError("t.safetensors", "w", "outside the data section of 64 bytes") {
            _ = try SafeTensors.parse(safetensors(h), file: "t.safetensors")
        }
        let backwards = #"{"w":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}}"#
        assertError("t.safetensors", "w", "begin <= end") { _ = try SafeTensors.parse(safetensors(backwards), file: "t.safetensors") }
        let tooBig = #"{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,1e300]}}"#
        assertError("t.safetensors", "w", "data_offsets") { _ = try SafeTensors.parse(safetensors(tooBig), file: "t.safetensors") }
    }

    func testSafeTensorsHugeDimsOverflow() {
        let h = #"{"w":{"dtype":"F32","shape":[4294967296,4294967296,4],"data_offsets":[0,0]}}"#
        assertError("t.safetensors", "w", "too many elements") { _ = try SafeTensors.parse(safetensors(h), file: "t.safetensors") }
        // Count fits in Int but count * 4 does not.
        let h2 = #"{"w":{"dtype":"F32","shape":[2147483648,2147483648],"data_offsets":[0,0]}}"#
        assertError("t.safetensors", "w", "too large") { _ = try SafeTensors.parse(safetensors(h2), file: "t.safetensors") }
    }

    // MARK: - Malformed .npy

    func testNpyBadMagic() {
        assertError("x.npy", "magic") { _ = try NumPy.parse(Data("PK\u{3}\u{4}not numpy".utf8), file: "x.npy") }
        assertError("x.npy", "magic") { _ = try NumPy.parse(Data(), file: "x.npy") }
        var v9 = npy("{}", data: Data()); v9[6] = 9
        assertError("x.npy", "version") { _ = try NumPy.parse(v9, file: "x.npy") }
    }

    func testNpyFortranOrder() {
        assertError("fortran_f32.npy", "fortran_order") { _ = try NumPy.read(path: fixture("fortran_f32.npy")) }
    }

    func testNpyBigEndian() {
        assertError("bigendian_f32.npy", "big-endian", ">f4") { _ = try NumPy.read(path: fixture("bigendian_f32.npy")) }
    }

    func testNpyObjectAndUnsupportedDtypes() {
        assertError("object.npy", "object") { _ = try NumPy.read(path: fixture("object.npy")) }
        let c = npy("{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }", data: Data(count: 8))
        assertError("x.npy", "<c8") { _ = try NumPy.parse(c, file: "x.npy") }
    }

    func testNpyTruncatedHeaderAndData() throws {
        let full = try Data(contentsOf: URL(fileURLWithPath: fixture("f32_2x3.npy")))
        assertError("x.npy", "runs past the end") { _ = try NumPy.parse(full.prefix(40), file: "x.npy") }
        assertError("x.npy", "needs 24 data bytes, found 20") { _ = try NumPy.parse(full.dropLast(4), file: "x.npy") }
        assertError("x.npy", "header dict") { _ = try NumPy.parse(npy("{'descr': '<f4', 'shape': (1,", data: Data()), file: "x.npy") }
    }

    func testNpyHugeDimsOverflow() {
        let overflow = npy("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296), }", data: Data())
        assertError("x.npy", "too many elements") { _ = try NumPy.parse(overflow, file: "x.npy") }
        let bytesOverflow = npy("{'descr': '<f8', 'fortran_order': False, 'shape': (2305843009213693952,), }", data: Data())
        assertError("x.npy", "too large") { _ = try NumPy.parse(bytesOverflow, file: "x.npy") }
        let notInt = npy("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999,), }", data: Data())
        assertError("x.npy", "shape") { _ = try NumPy.parse(notInt, file: "x.npy") }
    }

    // MARK: - Malformed .npz

    func testNpzMemberNotNpy() throws {
        let archive = temp("m.npz")
        try Npz.write([("x", .float(t23))], to: archive)
        // Rename the member in the central directory and the local header: "x.npy" -> "x.txt".
        var d = try Data(contentsOf: URL(fileURLWithPath: archive))
        let from = Data("x.npy".utf8), to = Data("x.txt".utf8)
        while let r = d.range(of: from) { d.replaceSubrange(r, with: to) }
        try d.write(to: URL(fileURLWithPath: archive))
        assertError("m.npz", "x.txt", "NAME.npy") { _ = try Npz.read(path: archive) }
    }

    func testNpzMemberNotAnNpyArray() throws {
        // A member named .npy whose bytes are not an array: the error names the member.
        var d = try Data(contentsOf: URL(fileURLWithPath: fixture("plain.npz")))
        guard let r = d.range(of: Data([0x93]) + Data("NUMPY".utf8)) else { return XCTFail("no npy member") }
        d[r.lowerBound + 1] = UInt8(ascii: "X")
        let path = temp("p.npz")
        try d.write(to: URL(fileURLWithPath: path))
        assertError("p.npz") { _ = try Npz.read(path: path) }  // CRC or magic, either is an NNCCError
    }

    func testNpzNotAZipAndTruncated() throws {
        let junk = temp("junk.npz")
        try Data("definitely not a zip".utf8).write(to: URL(fileURLWithPath: junk))
        assertError("junk.npz", "zip") { _ = try Npz.read(path: junk) }
        let full = try Data(contentsOf: URL(fileURLWithPath: fixture("compressed.npz")))
        let cut = temp("cut.npz")
        try full.prefix(full.count / 2).write(to: URL(fileURLWithPath: cut))
        assertError("cut.npz", "truncated") { _ = try Npz.read(path: cut) }
    }

    func testNpzHostileDeflateAndZip64Offsets() throws {
        // Deflate streams that never end must fail, not spin: a non-final stored block of 65535 bytes
        // with only 5 header bytes present...
        let endless = Data([0x00, 0xFF, 0xFF, 0x00, 0x00])
        try zip(name: "a.npy", method: 8, payload: endless, usize: 10).write(to: URL(fileURLWithPath: temp("bomb.npz")))
        assertError("bomb.npz", "a.npy", "more than its declared 10 bytes") { _ = try Npz.read(path: temp("bomb.npz")) }
        // ...or a full block followed by a second one cut short after 10 of its 65535 bytes.
        let cut = endless + Data(count: 65535) + endless + Data(count: 10)
        try zip(name: "a.npy", method: 8, payload: cut, usize: 200_000).write(to: URL(fileURLWithPath: temp("cut.npz")))
        assertError("cut.npz", "a.npy", "ends early") { _ = try Npz.read(path: temp("cut.npz")) }
        // A declared size deflate cannot reach from 5 bytes, and members sharing their data.
        try zip(name: "a.npy", method: 8, payload: endless, usize: 1 << 30).write(to: URL(fileURLWithPath: temp("big.npz")))
        assertError("big.npz", "a.npy", "impossible") { _ = try Npz.read(path: temp("big.npz")) }
        try zip(name: "a.npy", method: 0, payload: Data(count: 8), usize: 8, copies: 2).write(to: URL(fileURLWithPath: temp("dup.npz")))
        assertError("dup.npz", "overlaps") { _ = try Npz.read(path: temp("dup.npz")) }
        // ZIP64 placeholders with a locator pointing far outside the file.
        var z = zip(name: "a.npy", method: 0, payload: Data(count: 4), usize: 4)
        let eocd = z.count - 22
        z.replaceSubrange(eocd + 16..<eocd + 20, with: Data([0xFF, 0xFF, 0xFF, 0xFF]))
        var locator = Data()
        FormatIO.appendLE(&locator, UInt32(0x0706_4B50)); FormatIO.appendLE(&locator, UInt32(0))
        FormatIO.appendLE(&locator, UInt64.max); FormatIO.appendLE(&locator, UInt32(1))
        z.insert(contentsOf: locator, at: eocd)
        let path = temp("z64.npz")
        try z.write(to: URL(fileURLWithPath: path))
        assertError("z64.npz", "ZIP64") { _ = try Npz.read(path: path) }
    }

    /// A one-member zip built by hand, so tests can lie in any field.
    func zip(name: String, method: UInt16, payload: Data, usize: UInt32, copies: UInt16 = 1) -> Data {
        let n = Data(name.utf8)
        var d = Data()
        func u16(_ v: UInt16) { FormatIO.appendLE(&d, v) }
        func u32(_ v: UInt32) { FormatIO.appendLE(&d, v) }
        u32(0x0403_4B50); u16(20); u16(0); u16(method); u16(0); u16(0); u32(0); u32(UInt32(payload.count)); u32(usize)
        u16(UInt16(n.count)); u16(0); d.append(n); d.append(payload)
        let cd = d.count
        for _ in 0..<copies {
            u32(0x0201_4B50); u16(20); u16(20); u16(0); u16(method); u16(0); u16(0); u32(0); u32(UInt32(payload.count))
            u32(usize); u16(UInt16(n.count)); u16(0); u16(0); u16(0); u16(0); u32(0); u32(0); d.append(n)
        }
        let cdSize = d.count - cd
        u32(0x0605_4B50); u16(0); u16(0); u16(copies); u16(copies); u32(UInt32(cdSize)); u32(UInt32(cd)); u16(0)
        return d
    }

    func testMissingFiles() {
        let missing = temp("nope/missing")
        assertError("missing.safetensors", "not found") { _ = try SafeTensors.read(path: missing + ".safetensors") }
        assertError("missing.npy", "not found") { _ = try NumPy.read(path: missing + ".npy") }
        assertError("missing.npz", "not found") { _ = try Npz.read(path: missing + ".npz") }
        assertError("formats", "directory") { _ = try NumPy.read(path: Self.fixtures.path) }
    }

    // MARK: - Fuzz: truncations and byte flips never trap

    func testTruncatedAndCorruptedInputsNeverTrap() throws {
        var rng = SplitMix(seed: 42)
        let st = SafeTensors.encode([("a", t23), ("b", Tensor(shape: [2], data: [1, 2]))])
        let np = try Data(contentsOf: URL(fileURLWithPath: fixture("f32_2x3.npy")))
        func mutations(_ d: Data, flips: Int = 300) -> [Data] {
            var out = (0..<d.count).map { d.prefix($0) }
            for _ in 0..<flips {
                var m = d
                for _ in 0..<Int(rng.next() % 4 + 1) { m[Int(rng.next() % UInt64(m.count))] = UInt8(truncatingIfNeeded: rng.next()) }
                out.append(m)
            }
            return out
        }
        for m in mutations(st) {
            do { _ = try SafeTensors.parse(m, file: "f.safetensors") } catch let e as NNCCError {
                XCTAssertEqual(e.file, "f.safetensors")
            }
        }
        for m in mutations(np) {
            do { _ = try NumPy.parse(m, file: "f.npy") } catch let e as NNCCError { XCTAssertEqual(e.file, "f.npy") }
        }
        for name in ["plain.npz", "compressed.npz"] {
            let z = try Data(contentsOf: URL(fileURLWithPath: fixture(name)))
            let path = temp("fuzz.npz")
            // Each case is a file write: sample the truncations and flip fewer bytes.
            for (i, m) in mutations(z, flips: 150).enumerated() where i % 23 == 0 || i >= z.count {
                try m.write(to: URL(fileURLWithPath: path))
                do { _ = try Npz.read(path: path) } catch let e as NNCCError { XCTAssertEqual(e.file, path) }
            }
        }
    }
}

/// Small deterministic generator for the fuzz test.
private struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
