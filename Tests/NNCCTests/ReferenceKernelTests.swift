import Foundation
import XCTest
@testable import NNCC
import NNCCRuntime

/// The tiled kernels (packed GEMM, im2col) against the naive reference ones:
/// whole models built both ways, and the GEMM/conv templates directly in C.
final class ReferenceKernelTests: XCTestCase {
    nonisolated(unsafe) static var cache: (dir: URL, previous: String?)?
    var tmp: URL!

    override class func setUp() {
        super.setUp()
        cache = FixtureKit.useTempCache("nncc-refkernel-cache")
    }

    override class func tearDown() {
        if let c = cache { FixtureKit.restoreCache(c) }
        cache = nil
        super.tearDown()
    }

    override func setUpWithError() throws {
        tmp = FixtureKit.makeTempDir("nncc-refkernel")
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: tmp)
    }

    static let atol: Float = 1e-5, rtol: Float = 1e-4
    /// Not a multiple of the GEMM's 8-row tile, so the edge micro-kernels run.
    static let maxBatch = 7

    /// FNV-1a of the case name: a fixed, order-independent seed per case.
    static func seed(_ name: String) -> UInt64 {
        name.utf8.reduce(0xCBF2_9CE4_8422_2325 as UInt64) { ($0 ^ UInt64($1)) &* 0x100_0000_01B3 }
    }

    /// Builds `model` tiled or reference at max batch 7 and loads the fixture's weights with the C loader.
    func context(_ model: LoadedModel, reference: Bool) throws -> (ModelContext, BuildProducts) {
        let products = try Builder.cached(model, options: CompileOptions(maxBatch: Self.maxBatch, reference: reference))
        let lib = try ModelLibrary(path: products.library.path, name: products.name)
        let ctx = try lib.makeContext()
        if let w = model.weightsPath { try ctx.loadWeights(path: w) }
        return (ctx, products)
    }

    /// Problems for one case: every output of tiled vs reference at batch 7 and 5.
    func compareBuilds(_ dir: URL) throws -> [String] {
        let name = dir.lastPathComponent
        let model = try Pipeline.load(dir.appendingPathComponent("model.json").path)
        let (tiled, tiledProducts) = try context(model, reference: false)
        let (naive, naiveProducts) = try context(model, reference: true)
        var problems: [String] = []
        // The two builds must really differ, or the comparison proves nothing.
        let tiledSource = try String(contentsOf: tiledProducts.source, encoding: .utf8)
        let naiveSource = try String(contentsOf: naiveProducts.source, encoding: .utf8)
        if tiledSource.contains("naive reference kernels") || !naiveSource.contains("naive reference kernels") {
            problems.append("reference: true did not switch the build to the reference kernels")
        }
        let inSize = tiled.library.inputSize
        for (k, batch) in [Self.maxBatch, 5].enumerated() {
            let x = FixtureKit.randomFloats(batch * inSize, seed: Self.seed(name) &+ UInt64(k))
            let (a, b) = try x.withUnsafeBufferPointer { buf in
                (try tiled.forwardAll(buf, batch: batch), try naive.forwardAll(buf, batch: batch))
            }
            for j in a.indices {
                if let p = FixtureKit.assertClose(a[j], b[j], atol: Self.atol, rtol: Self.rtol) {
                    problems.append("batch \(batch) output \(j): tiled vs reference: \(p)")
                }
            }
        }
        return problems
    }

    /// For every fixture model (golden and torch), the default tiled build and the reference build, fed the
    /// fixture's weights and the same seeded random inputs at batch 7 and 5, agree within atol 1e-5, rtol 1e-4.
    func testTiledMatchesReferenceOnEveryFixtureModel() {
        let cases = FixtureKit.cases(in: FixtureKit.golden) + FixtureKit.cases(in: FixtureKit.torch)
        XCTAssertGreaterThanOrEqual(cases.count, 70, "fixture models not found under \(FixtureKit.root.path)")
        var failed: [String] = []
        for dir in cases {
            let label = "\(dir.deletingLastPathComponent().lastPathComponent)/\(dir.lastPathComponent)"
            do {
                failed += try compareBuilds(dir).map { "\(label): \($0)" }
            } catch {
                failed.append("\(label): threw \(FixtureKit.brief(error))")
            }
        }
        if !failed.isEmpty {
            XCTFail("\(failed.count) mismatches over \(cases.count) models:\n" + failed.joined(separator: "\n"))
        }
    }

    /// `--threads 2` (OpenMP over GEMM panels and conv images) gives bit-for-bit the outputs of one thread: every
    /// output element is still computed by one thread in the same order. Models with conv (grouped, strided,
    /// rows, narrow, implicit and Winograd paths), pools, residual adds, dense and recurrent layers, at batch 7 and 5.
    func testTwoThreadsMatchOneThreadExactly() throws {
        let names = ["conv_groups2", "conv_stride2", "conv_k32", "resblock", "steps_lenet", "bn_conv_fold", "conv_winograd",
                     "lstm_last7", "gru_seq_dense", "dense_act_relu"]
        for name in names {
            let dir = FixtureKit.torch.appendingPathComponent(name)
            let model = try Pipeline.load(dir.appendingPathComponent("model.json").path)
            var outputs: [[[Float]]] = []
            for threads in [1, 2] {
                let products = try Builder.cached(model, options: CompileOptions(maxBatch: Self.maxBatch, threads: threads))
                let source = try String(contentsOf: products.source, encoding: .utf8)
                XCTAssertEqual(source.contains("#define NN_THREADS 2"), threads == 2, name)
                let ctx = try ModelLibrary(path: products.library.path, name: products.name).makeContext()
                if let w = model.weightsPath { try ctx.loadWeights(path: w) }
                var all: [[Float]] = []
                for (k, batch) in [Self.maxBatch, 5].enumerated() {
                    let x = FixtureKit.randomFloats(batch * ctx.library.inputSize, seed: Self.seed(name) &+ UInt64(k))
                    all += try x.withUnsafeBufferPointer { try ctx.forwardAll($0, batch: batch) }
                }
                outputs.append(all)
            }
            XCTAssertEqual(outputs[0], outputs[1], "\(name): two threads differ from one")
        }
    }

    /// nn_gemm equals nn_gemm_naive (atol 1e-5, rtol 1e-4, guard cells untouched) over odd M/N/K, bias modes,
    /// accumulate and activations, and implicit-GEMM and rows conv (several tilings) equal nn_conv_naive on odd conv
    /// shapes, and Winograd F(2×2,3×3) equals nn_conv_naive at every transform width and blocking; the C harness
    /// Fixtures/c/gemm_test.c runs against the templates as embedded, with NN_VW 16 / NN_NV 2 (the AVX-512
    /// configuration) and also the AVX2-style 8×2 and a narrow 4×3 panel.
    func testGemmAndConvKernelsAgainstNaiveInC() throws {
        try runHarness("gemm_test", templates: [.winograd])
    }

    /// ∂W by rows (nn_conv_dw_rows, several tilings, batches of 1 and 5) equals the naive conv backward's ∂W
    /// (atol/rtol 1e-4), the branch-free 2×2 max-pool backward equals the naive loop exactly, ties and NaNs
    /// included, and ∂x by Winograd equals the naive ∂x; the C harness Fixtures/c/train_kernels_test.c runs
    /// against the embedded templates at three vector widths.
    func testTrainingKernelsAgainstNaiveInC() throws {
        try runHarness("train_kernels_test", templates: [.convTrain, .poolTrain, .winogradTrain])
    }

    /// One vector configuration of a C harness: the x86-64 level whose registers hold NN_VW floats (the
    /// harness is compiled for that level, never for the host), and the CPU flag the host needs to run it.
    struct HarnessWidth {
        var vw: Int, nv: Int, march: [String], needs: String?
        static let all = [
            HarnessWidth(vw: 16, nv: 2, march: ["-march=x86-64-v4"], needs: "avx512f"),
            HarnessWidth(vw: 8, nv: 2, march: ["-march=x86-64-v3"], needs: "avx2"),
            HarnessWidth(vw: 4, nv: 3, march: [], needs: nil),
        ]
    }

    /// The host CPU's feature flags (empty where /proc/cpuinfo has none).
    static let hostFlags: Set<String> = {
        let info = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let line = info.split(separator: "\n").first { $0.hasPrefix("flags") }.map(String.init) ?? ""
        return Set(line.split(separator: " ").map(String.init))
    }()

    /// Compiles Fixtures/c/NAME.c after `templates` and what they require, at vector widths 16, 8 and 4 (-Werror), each for its own
    /// x86-64 level, and runs it where the host has that level (exit 0 and "0 failures"); on a host without
    /// it the harness is compiled only, and the test says so. Off x86-64 only the 4-float build runs.
    func runHarness(_ name: String, templates: [Template]) throws {
        let harness = try String(contentsOf: FixtureKit.root.appendingPathComponent("c/\(name).c"), encoding: .utf8)
        #if arch(x86_64)
        let widths = HarnessWidth.all
        #else
        let widths = HarnessWidth.all.filter { $0.needs == nil }
        #endif
        for w in widths {
            let src = tmp.appendingPathComponent("\(name)_\(w.vw)x\(w.nv).c")
            let exe = tmp.appendingPathComponent("\(name)_\(w.vw)x\(w.nv)")
            let text = "#define NN_VW \(w.vw)\n#define NN_NV \(w.nv)\n#define NN_MR 8\n"
                + (Template.closure(templates).map(\.source) + [harness]).joined(separator: "\n")
            try text.write(to: src, atomically: true, encoding: .utf8)
            try GCC.run([try GCC.path(), "-O2", "-Wall", "-Wextra", "-Werror", "-std=c11", "-ffp-contract=fast"]
                        + w.march + ["-o", exe.path, src.path, "-lm"])
            if let flag = w.needs, !Self.hostFlags.contains(flag) {
                print("note: \(name) at NN_VW \(w.vw) compiled but not run: this CPU lacks \(flag)")
                continue
            }
            let r = try FixtureKit.run(exe.path, [], in: tmp)
            XCTAssertEqual(r.status, 0, "\(name) \(w.vw)x\(w.nv) failed:\n\(r.stdout)\(r.stderr)")
            XCTAssertTrue(r.stdout.contains(" 0 failures"), r.stdout + r.stderr)
        }
    }
}
