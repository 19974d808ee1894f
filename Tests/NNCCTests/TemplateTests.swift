import Foundation
import XCTest
@testable import NNCC

/// A library holds only the templates its ops call into, each after those it requires.
final class TemplateTests: XCTestCase {
    func needed(_ example: String, train: Bool = false, reference: Bool = false) throws -> [Template] {
        let path = SnapshotTests.root.appendingPathComponent("examples/\(example).json").path
        let options = CompileOptions(train: train, target: .portable, reference: reference)
        let g = try Pipeline.lower(try Pipeline.load(path).graph, options: options)
        return Template.needed(for: g, training: train)
    }

    func testEveryTemplateComesAfterWhatItRequires() {
        let order = Template.allCases
        for t in order {
            for r in t.requires {
                XCTAssertLessThan(order.firstIndex(of: r)!, order.firstIndex(of: t)!, "\(t) requires \(r)")
            }
        }
        XCTAssertEqual(Template.closure([.winogradTrain, .prologue]),
                       [.prologue, .gemm, .conv, .winograd, .train, .winogradTrain])
        XCTAssertEqual(Template.closure([Template]()), [])
    }

    func testAnMLPHoldsNoConvolutionPoolingOrWinograd() throws {
        XCTAssertEqual(try needed("mlp"), [.prologue, .gemm, .safetensors])
        XCTAssertEqual(try needed("mlp", reference: true), [.prologue, .gemm, .safetensors])
        XCTAssertEqual(try needed("mlp", train: true), [.prologue, .gemm, .safetensors, .train, .denseTrain])
    }

    func testEachOpFamilyBringsItsTemplates() throws {
        XCTAssertEqual(try needed("lenet5"), [.prologue, .gemm, .conv, .pool, .safetensors])
        XCTAssertEqual(try needed("cnn_bn", train: true),
                       [.prologue, .gemm, .conv, .pool, .winograd, .safetensors, .train, .denseTrain, .convTrain,
                        .poolTrain, .batchnormTrain, .winogradTrain])
        XCTAssertEqual(try needed("lstm", train: true), [.prologue, .gemm, .safetensors, .train, .denseTrain, .recurrentTrain])
    }

    /// The library compiles only the GEMM row counts its calls can take: the batch's rows for dense and the
    /// input projection of recurrent layers, the filters for Winograd, every count when training.
    func testGEMMRowCountsFollowTheMaxBatch() throws {
        func rows(_ example: String, batch: Int, train: Bool = false) throws -> String? {
            let path = SnapshotTests.root.appendingPathComponent("examples/\(example).json").path
            // x86-64-v4's micro-kernel has 8 rows (v3's 6): a named target, whatever the host.
            let (lib, _) = try Pipeline.generate(try Pipeline.load(path),
                                                 options: CompileOptions(maxBatch: batch, train: train, target: .x86_64_v4))
            return lib.source.split(separator: "\n").first { $0.hasPrefix("#define NN_GEMM_ROWS ") }.map(String.init)
        }
        XCTAssertEqual(try rows("mlp", batch: 1), "#define NN_GEMM_ROWS 1")
        XCTAssertEqual(try rows("mlp", batch: 3), "#define NN_GEMM_ROWS 3")
        XCTAssertEqual(try rows("mlp", batch: 64), "#define NN_GEMM_ROWS 8")
        XCTAssertEqual(try rows("mlp", batch: 1, train: true), "#define NN_GEMM_ROWS 8")
        XCTAssertEqual(try rows("lstm", batch: 1), "#define NN_GEMM_ROWS 8", "28 steps of the input projection")
        XCTAssertEqual(try rows("lenet5", batch: 1), "#define NN_GEMM_ROWS 1", "convs without Winograd call no GEMM")
        XCTAssertEqual(try rows("cnn_bn", batch: 1), "#define NN_GEMM_ROWS 8", "Winograd's GEMMs have the filters as rows")
    }

    /// Each template compiles after just what it requires (no implicit declaration, no unused-function
    /// warning), as the generated C compiles it: so `requires` is complete.
    func testEachTemplateCompilesWithWhatItRequires() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nncc-templates-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        for t in Template.allCases {
            let src = dir.appendingPathComponent("\(t.rawValue).c")
            let text = "#define NN_VW 4\n#define NN_NV 2\n#define NN_MR 8\n"  // the portable target's widths
                + Template.closure([t]).map(\.source).joined(separator: "\n") + "\n"
            try text.write(to: src, atomically: true, encoding: .utf8)
            XCTAssertNoThrow(try GCC.run([try GCC.path(), "-std=c11", "-fsyntax-only", "-Wall", "-Wextra", "-Werror",
                                          src.path]), "\(t)")
        }
    }
}
