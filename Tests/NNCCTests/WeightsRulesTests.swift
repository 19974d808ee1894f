import Foundation
import Testing
@testable import NNCC
@testable import NNCCRuntime

/// One table of weights files, each loaded by both deciders: the Swift validator behind Session.loadWeights
/// (`WeightsFile`, used by nncc run/eval/train --weights) and the compiled library's NAME_load_weights.
/// Both must give the expected verdict, with the same error class (the C return code), and leave the
/// parameters untouched on a refusal.
struct WeightsRulesTests {
    // The model: dense 3 → 2 then batchnorm; 6 + 2 + 4 × 2 = 16 floats, 64 bytes of data in this order.
    static let modelJSON = #"""
        {"format": 1, "name": "rules", "input": {"shape": [3]},
         "layers": [{"type": "dense", "units": 2}, {"type": "batchnorm"}]}
        """#
    static let parameters: [(name: String, shape: [Int])] = [
        ("0.weight", [2, 3]), ("0.bias", [2]), ("1.weight", [2]), ("1.bias", [2]), ("1.running_mean", [2]), ("1.running_var", [2]),
    ]

    /// The library, compiled once for every case.
    static let session: Result<Session, Error> = Result {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nncc-rules-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let path = dir.appendingPathComponent("rules.json").path
        try Data(modelJSON.utf8).write(to: URL(fileURLWithPath: path))
        return try Session(model: Pipeline.load(path))
    }

    @Test func theModelHasTheParametersTheTableAssumes() throws {
        let s = try Self.session.get()
        let table = s.context.paramNames().enumerated().map { "\($0.element) \(s.context.paramShape($0.offset))" }
        #expect(table == Self.parameters.map { "\($0.name) \($0.shape)" })
    }

    @Test(.serialized, arguments: WeightsCase.all)
    func bothLoadersAgree(_ c: WeightsCase) throws {
        let s = try Self.session.get()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nncc-rules-case-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var path = dir.appendingPathComponent("w.safetensors").path
        switch c.file {
        case let .bytes(b): try b.write(to: URL(fileURLWithPath: path))
        case .none: path = dir.appendingPathComponent("no/such.safetensors").path
        case .directory: path = dir.path
        }

        let swiftCtx = s.context, cCtx = try s.library.makeContext()
        for ctx in [swiftCtx, cCtx] { poison(ctx) }
        let swiftCode = code { try s.loadWeights(path) }
        let cCode = code { try cCtx.loadWeights(path: path) }
        let want = c.want?.rawValue ?? 0
        #expect(swiftCode == want, "Swift WeightsFile: \(c.name)")
        #expect(cCode == want, "C NAME_load_weights: \(c.name)")
        for (who, ctx) in [("Swift", swiftCtx), ("C", cCtx)] {
            let got = (0..<Self.parameters.count).flatMap { ctx.getParam($0) }
            if want == 0 {
                #expect(got == c.expectedValues, "\(who) loaded other values: \(c.name)")
            } else {
                #expect(got.allSatisfy { $0 == 99 }, "\(who) changed parameters although it refused the file: \(c.name)")
            }
        }
    }

    /// Beyond the table: random byte edits of valid files (as templates/test's fuzz_cases), each loaded by both.
    @Test func randomMutationsGetTheSameVerdict() throws {
        let s = try Self.session.get(), cCtx = try s.library.makeContext()
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("nncc-rules-\(UUID().uuidString).safetensors").path
        defer { unlink(path) }
        let junk = Array(#"{}[]",:\u0123456789eE.-+ tfn"#.utf8) + [0x01, 0xFF]
        let seeds = [WeightsCase.VALID, #"{"__metadata__":{"a":[1,{"b":null},"\ud83d\ude00"]},"# + WeightsCase.W + ",\n"
            + WeightsCase.NBT + ",\t" + WeightsCase.B + "," + WeightsCase.BN + "}", "{" + WeightsCase.W + "," + WeightsCase.BN + "}"]
        var rng = SplitMix64(seed: 7)
        var verdicts = [Int32?: Int]()
        for it in 0..<2400 {
            let seed = seeds[it % seeds.count]
            guard case var .bytes(file) = WeightsCase.file(seed, data: 72) else { return }
            let headerLength = seed.utf8.count
            for _ in 0...rng.below(4) {
                // Mostly the header; sometimes the length field, or the data (harmless: the seed's own verdict).
                let r = rng.below(16)
                let at = r == 0 ? rng.below(8) : r < 4 ? 8 + headerLength + rng.below(72) : 8 + rng.below(headerLength)
                file[at] = rng.below(2) == 0 ? junk[rng.below(junk.count)] : UInt8(rng.below(256))
            }
            if rng.below(8) == 0 { file = file.prefix(rng.below(file.count)) }
            try file.write(to: URL(fileURLWithPath: path))
            let swiftCode = code { _ = try WeightsFile.read(path: path, parameters: Self.parameters, model: "rules") }
            let cCode = code { try cCtx.loadWeights(path: path) }
            #expect(swiftCode == cCode, "mutation \(it): Swift \(String(describing: swiftCode)), C \(String(describing: cCode)); file \(Array(file))")
            if swiftCode != cCode { break }
            verdicts[cCode, default: 0] += 1
        }
        // The mutations reach every verdict a header can get, so the comparison covers each class.
        for want: Int32 in [0, -4, -5, -6, -7] { #expect(verdicts[want, default: 0] > 0, "no mutation gave \(want): \(verdicts)") }
    }

    @Test func ignorableNamesFollowTheExactSuffixRule() {
        for name in ["num_batches_tracked", "bn.num_batches_tracked", "a.b.num_batches_tracked", ".num_batches_tracked"] {
            #expect(WeightsFile.isIgnorable(name), "\(name)")
        }
        for name in ["xnum_batches_tracked", "bn_num_batches_tracked", "num_batches_tracked.x", "num_batches", ""] {
            #expect(!WeightsFile.isIgnorable(name), "\(name)")
        }
    }

    func poison(_ ctx: ModelContext) {
        for (i, p) in Self.parameters.enumerated() { try? ctx.setParam(i, Array(repeating: 99, count: p.shape.reduce(1, *))) }
    }

    /// 0 on success, else the error's code (nil: an error without one, which counts as a mismatch).
    func code(_ body: () throws -> Void) -> Int32? {
        do { try body(); return 0 } catch let e as NNCCError { return e.code } catch { return nil }
    }
}

/// One file and the verdict both loaders must reach (nil: accepted).
struct WeightsCase: CustomTestStringConvertible, Sendable {
    enum File: Sendable { case bytes(Data), none, directory }
    var name: String
    var file: File
    var want: WeightsFile.Failure?
    /// What both loaders must have set on success.
    var expectedValues = standard(0..<16)
    var testDescription: String { "\(name) → \(want.map { "\($0)" } ?? "accepted")" }

    /// Data float k is k/4 - 1; the parameters take the first 16 in table order.
    static func standard(_ k: Range<Int>) -> [Float] { k.map { Float($0) * 0.25 - 1 } }

    /// A file: u64 header length (`length`, else the header's), the header, `data` bytes (the 16 floats, then zeros).
    /// U+FFFD in the header stands for the byte 0xFF, which is not UTF-8.
    static func file(_ header: String, data: Int = 64, length: UInt64? = nil, cut: Int? = nil) -> File {
        var h = [UInt8]()
        for c in header.unicodeScalars { if c == "\u{FFFD}" { h.append(0xFF) } else { h += Array(String(c).utf8) } }
        var d = Data()
        FormatIO.appendLE(&d, length ?? UInt64(h.count))
        d.append(contentsOf: h)
        var tail = Data()
        FormatIO.appendFloats(&tail, standard(0..<16))
        tail.append(Data(repeating: 0, count: max(0, data - 64)))
        d.append(tail.prefix(data))
        return .bytes(cut.map { Data(d.prefix($0)) } ?? d)
    }

    static func json(_ name: String, _ header: String, data: Int = 64, _ want: WeightsFile.Failure?) -> WeightsCase {
        WeightsCase(name: name, file: file(header, data: data), want: want)
    }

    /// One tensor entry of a header.
    static func t(_ name: String, _ dtype: String, _ shape: String, _ begin: Int, _ end: Int) -> String {
        #""\#(name)":{"dtype":"\#(dtype)","shape":[\#(shape)],"data_offsets":[\#(begin),\#(end)]}"#
    }

    static func t(_ name: String, _ shape: String, _ begin: Int, _ end: Int) -> String { t(name, "F32", shape, begin, end) }

    static let W = t("0.weight", "2,3", 0, 24), B = t("0.bias", "2", 24, 32)
    static let BN = [t("1.weight", "2", 32, 40), t("1.bias", "2", 40, 48), t("1.running_mean", "2", 48, 56),
                     t("1.running_var", "2", 56, 64)].joined(separator: ",")
    /// A valid header without its opening brace, and one with it.
    static let REST = W + "," + B + "," + BN + "}", VALID = "{" + REST
    /// Everything but 0.weight, for cases that replace it.
    static let NOW = B + "," + BN + "}"
    static let NBT = t("1.num_batches_tracked", "I64", "", 64, 72)

    static let all: [WeightsCase] = accepted + extra + shape + missing + format + header + open

    static let accepted: [WeightsCase] = [
        json("valid file", VALID, nil),
        json("keys in any order, whitespace", " \n{ " + BN + " ,\r\n\t" + B + #",  "0.weight" : { "data_offsets" : [ 0 , 24 ] , "shape" : [ 2 , 3 ] , "dtype" : "F32" } }   "#, nil),
        json("__metadata__ holds any value", #"{"__metadata__":{"format":"pt","k":[1,-2.5e+3,true,null]},"# + REST, nil),
        json("unknown tensor key skipped", #"{"0.weight":{"dtype":"F32","x":[1,{"a":null},-2.5e+3,true,false,"s\""],"shape":[2,3],"data_offsets":[0,24]},"# + NOW, nil),
        json("escaped names match", #"{"0.w\u0065ight":{"dtype":"\u0046\u00332","shape":[2,3],"data_offsets":[0,24]},"# + NOW, nil),
        json("1.num_batches_tracked (I64, PyTorch) ignored", "{" + W + "," + NBT + "," + B + "," + BN + "}", data: 72, nil),
        json("bare num_batches_tracked ignored", "{" + t("num_batches_tracked", "I64", "1", 64, 72) + "," + REST, data: 72, nil),
        json("num_batches_tracked of any dtype and size ignored", "{" + t("x.num_batches_tracked", "BOOL", "3", 0, 1) + "," + REST, nil),
        json("odd header length padded with spaces", VALID + "     ", nil),
        json("extra bytes after the data", VALID, data: 69, nil),
        WeightsCase(name: "overlapping offsets are allowed", file: file("{" + W + "," + t("0.bias", "F32", "2", 32, 40) + "," + BN + "}"),
                    want: nil, expectedValues: standard(0..<6) + standard(8..<10) + standard(8..<16)),
        json("leading-zero number in __metadata__ (skipped as C does)", #"{"__metadata__":[01],"# + REST, nil),
        json("nesting depth 64 in __metadata__", #"{"__metadata__":"# + String(repeating: "[", count: 64) + String(repeating: "]", count: 64) + "," + REST, nil),
    ]

    static let extra: [WeightsCase] = [
        json("xnum_batches_tracked is extra", "{" + t("1.xnum_batches_tracked", "I64", "", 64, 72) + "," + REST, data: 72, .extra),
        json("xnum_batches_tracked (bare) is extra", "{" + t("xnum_batches_tracked", "I64", "", 64, 72) + "," + REST, data: 72, .extra),
        json("bn_num_batches_tracked is extra", "{" + t("bn_num_batches_tracked", "I64", "", 64, 72) + "," + REST, data: 72, .extra),
        json("num_batches_tracked.x is extra", "{" + t("num_batches_tracked.x", "I64", "", 64, 72) + "," + REST, data: 72, .extra),
        json("extra F32 tensor", "{" + REST.dropLast() + "," + t("other", "F32", "1", 60, 64) + "}", .extra),
        json("extra tensor, other dtype", "{" + t("o", "BOOL", "0", 0, 0) + "," + REST, .extra),
        json("a name with an invalid UTF-8 byte is just another name", "{" + t("0.weight\u{FFFD}", "F32", "2,3", 0, 24) + "," + REST, .extra),
        json("name with NUL is not the parameter", #"{"0.weight\u0000":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},"# + REST, .extra),
        json("zero-size huge shape is not overflow", "{" + t("z", "F32", "0,9223372036854775807,9223372036854775807", 0, 0) + "," + REST, .extra),
        json("extra before a shape error: extra", "{" + t("o", "F32", "1", 0, 4) + "," + t("0.weight", "F32", "3,2", 0, 24) + "," + NOW, .extra),
        json("extra and missing: extra", "{" + t("o", "F32", "1", 0, 4) + "," + NOW, .extra),
    ]

    static let shape: [WeightsCase] = [
        json("dtype F16", "{" + t("0.weight", "F16", "2,3", 0, 12) + "," + NOW, .shape),
        json("dtype f32 (case matters)", "{" + t("0.weight", "f32", "2,3", 0, 24) + "," + NOW, .shape),
        json("wrong shape", "{" + t("0.weight", "F32", "3,2", 0, 24) + "," + NOW, .shape),
        json("wrong rank", "{" + t("0.weight", "F32", "6", 0, 24) + "," + NOW, .shape),
        json("rank 6", "{" + t("0.weight", "F32", "2,3,1,1,1,1", 0, 24) + "," + NOW, .shape),
        json("wrong shape, wrong size: shape", "{" + t("0.weight", "F32", "3,3", 0, 24) + "," + NOW, .shape),
        json("shape error before an extra: shape", "{" + t("0.weight", "F32", "3,2", 0, 24) + "," + t("o", "F32", "1", 0, 4) + "," + NOW, .shape),
        json("shape error and missing: shape", "{" + t("0.weight", "F32", "3,2", 0, 24) + "," + BN + "}", .shape),
    ]

    static let missing: [WeightsCase] = [
        json("empty object: all missing", "{}", .missing),
        json("one tensor missing", "{" + W + "," + BN + "}", .missing),
        json("only num_batches_tracked", "{" + NBT + "}", data: 72, .missing),
    ]

    static let format: [WeightsCase] = [
        json("header not JSON", "hello world", .format),
        json("header is a JSON array", "[]", .format),
        json("header all spaces", "        ", .format),
        json("unterminated string", #"{"0.weight"#, .format),
        json("unterminated object", "{" + W + "," + B, .format),
        json("trailing garbage", VALID + "x", .format),
        json("two objects", VALID + VALID, .format),
        json("trailing comma", "{" + W + "," + B + "," + BN + ",}", .format),
        json("missing colon", #"{"0.weight"{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},"# + NOW, .format),
        json("offsets beyond the data, even of an extra tensor", "{" + REST.dropLast() + "," + t("o", "F32", "1", 64, 68) + "}", .format),
        json("end < begin", "{" + t("0.weight", "F32", "2,3", 24, 0) + "," + NOW, .format),
        json("end - begin != 4 × count", "{" + t("0.weight", "F32", "2,3", 0, 28) + "," + NOW, .format),
        json("offsets 2^64-1", "{" + t("0.weight", "F32", "2,3", 0, 24).replacingOccurrences(of: "[0,24]", with: "[18446744073709551611,18446744073709551615]") + "," + NOW, .format),
        json("offset overflows u64", "{" + t("0.weight", "F32", "2,3", 0, 24).replacingOccurrences(of: "[0,24]", with: "[0,18446744073709551656]") + "," + NOW, .format),
        json("huge shape overflow (extra tensor)", "{" + t("big", "F32", "4294967296,4294967296,16", 0, 0) + "," + REST, .format),
        json("huge shape overflow (parameter)", "{" + t("0.weight", "F32", "4611686018427387905,4", 0, 4) + "," + NOW, .format),
        json("dim above INT64_MAX", "{" + t("0.weight", "F32", "9223372036854775808,0", 0, 0) + "," + NOW, .format),
        json("1025 dimensions", "{" + t("e", "F32", Array(repeating: "1", count: 1025).joined(separator: ","), 0, 4) + "," + REST, .format),
        json("negative dim", "{" + t("0.weight", "F32", "-2,3", 0, 24) + "," + NOW, .format),
        json("fractional dim", "{" + t("0.weight", "F32", "2.0,3", 0, 24) + "," + NOW, .format),
        json("exponent dim", "{" + t("0.weight", "F32", "2e0,3", 0, 24) + "," + NOW, .format),
        json("leading zero dim", "{" + t("0.weight", "F32", "02,3", 0, 24) + "," + NOW, .format),
        json("string dim", "{" + t("0.weight", "F32", #""2",3"#, 0, 24) + "," + NOW, .format),
        json("duplicate names", "{" + W + "," + REST, .format),
        json("duplicate names via an escape", "{" + W + #","0.w\u0065ight":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},"# + NOW, .format),
        json("duplicate after a shape error: format", "{" + t("0.weight", "F32", "3,2", 0, 24) + "," + REST, .format),
        json("format error after an extra: format", "{" + t("o", "F32", "1", 0, 4) + "," + t("0.weight", "F32", "2,3", 0, 28) + "," + NOW, .format),
        json("duplicate dtype key", #"{"0.weight":{"dtype":"F32","dtype":"F32","shape":[2,3],"data_offsets":[0,24]},"# + NOW, .format),
        json("missing data_offsets", #"{"0.weight":{"dtype":"F32","shape":[2,3]},"# + NOW, .format),
        json("missing dtype", #"{"0.weight":{"shape":[2,3],"data_offsets":[0,24]},"# + NOW, .format),
        json("three data_offsets", #"{"0.weight":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24,24]},"# + NOW, .format),
        json("dtype not a string", #"{"0.weight":{"dtype":32,"shape":[2,3],"data_offsets":[0,24]},"# + NOW, .format),
        json("tensor not an object", #"{"0.weight":[0,24],"# + NOW, .format),
        json("empty tensor object", #"{"0.weight":{},"# + NOW, .format),
        json("key not a string", #"{1:{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},"# + NOW, .format),
        json("invalid escape", #"{"0.w\xeight":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},"# + NOW, .format),
        json("bad hex escape", #"{"\u00g1":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},"# + REST, .format),
        json("lone high surrogate", #"{"\ud83d":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"# + REST, .format),
        json("lone low surrogate", #"{"\ude00":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"# + REST, .format),
        json("raw newline in a name", "{\"0.we\night\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}," + NOW, .format),
        json("escape at the end of the header", #"{"a\"#, .format),
        json("bad literal in __metadata__", #"{"__metadata__":{"a":tru},"# + REST, .format),
        json("bad number in __metadata__", #"{"__metadata__":[1.,2],"# + REST, .format),
        json("nesting depth 65 in __metadata__", #"{"__metadata__":"# + String(repeating: "[", count: 65) + String(repeating: "]", count: 65) + "," + REST, .format),
        json("num_batches_tracked end < begin", "{" + W + "," + t("1.num_batches_tracked", "I64", "", 72, 64) + "," + B + "," + BN + "}", data: 72, .format),
        json("num_batches_tracked beyond the data", "{" + W + "," + NBT + "," + B + "," + BN + "}", data: 68, .format),
    ]

    static let header: [WeightsCase] = [
        WeightsCase(name: "empty file", file: file(VALID, cut: 0), want: .format),
        WeightsCase(name: "5-byte file", file: file(VALID, cut: 5), want: .format),
        WeightsCase(name: "8-byte file (length only)", file: file(VALID, cut: 8), want: .format),
        WeightsCase(name: "header length larger than the file", file: file(VALID, length: 10_000), want: .format),
        WeightsCase(name: "header length 2^63", file: file(VALID, length: 1 << 63), want: .format),
        WeightsCase(name: "header length 100,000,000", file: file(VALID, length: 100_000_000), want: .format),
        WeightsCase(name: "header length 0", file: file(VALID, length: 0), want: .format),
        WeightsCase(name: "header length includes the data", file: file(VALID, length: UInt64(VALID.utf8.count + 64)), want: .format),
        WeightsCase(name: "data truncated", file: file(VALID, data: 60), want: .format),
    ]

    static let open: [WeightsCase] = [
        WeightsCase(name: "nonexistent file", file: .none, want: .open),
        WeightsCase(name: "path is a directory", file: .directory, want: .open),
    ]
}
