import Foundation
import Testing
@testable import NNCC
import NNCCRuntime

/// The tiled kernels (packed GEMM, im2col) against the naive reference ones:
/// whole models built both ways, and the GEMM/conv templates directly in C.
/// One test case per fixture model and per C harness build, run in parallel.
@Suite struct ReferenceKernelTests {
    static let atol: Float = 1e-5, rtol: Float = 1e-4
    /// Not a multiple of the GEMM's 8-row tile, so the edge micro-kernels run.
    static let maxBatch = 7

    /// FNV-1a of the case name: a fixed, order-independent seed per case.
    static func seed(_ name: String) -> UInt64 {
        name.utf8.reduce(0xCBF2_9CE4_8422_2325 as UInt64) { ($0 ^ UInt64($1)) &* 0x100_0000_01B3 }
    }

    /// For every fixture model (golden and torch), the default tiled build and the reference build, fed the
    /// fixture's weights and the same seeded random inputs at batch 7 and 5, agree within atol 1e-5, rtol 1e-4.
    /// The tiled build is GoldenTests' (same model and options), so it is compiled once for both.
    @Test(arguments: Fixture.all)
    func tiledMatchesReference(_ fixture: Fixture) throws {
        let (tiled, model, tiledProducts) = try Libraries.context(fixture.modelJSON, options: CompileOptions(maxBatch: Self.maxBatch))
        // An embedding reads token ids: integers below its row count.
        let ids = model.graph.nodes.compactMap { n -> Int? in if case let .embedding(e) = n.op { return e.count }; return nil }.min()
        let (naive, _, naiveProducts) = try Libraries.context(fixture.modelJSON,
                                                              options: CompileOptions(maxBatch: Self.maxBatch, reference: true))
        // The two builds must really differ, or the comparison proves nothing.
        let tiledSource = try String(contentsOf: tiledProducts.source, encoding: .utf8)
        let naiveSource = try String(contentsOf: naiveProducts.source, encoding: .utf8)
        #expect(!tiledSource.contains("naive reference kernels") && naiveSource.contains("naive reference kernels"),
                "reference: true did not switch the build to the reference kernels")
        let inSize = tiled.library.inputSize
        for (k, batch) in [Self.maxBatch, 5].enumerated() {
            var x = FixtureKit.randomFloats(batch * inSize, seed: Self.seed(fixture.name) &+ UInt64(k))
            if let ids { x = x.map { Float(Int(abs($0) * 1000) % ids) } }
            let (a, b) = try x.withUnsafeBufferPointer { buf in
                (try tiled.forwardAll(buf, batch: batch), try naive.forwardAll(buf, batch: batch))
            }
            #expect(a.count == b.count)
            for j in a.indices {
                let p = FixtureKit.assertClose(a[j], b[j], atol: Self.atol, rtol: Self.rtol)
                #expect(p == nil, "batch \(batch) output \(j): tiled vs reference: \(p ?? "")")
            }
        }
    }

    @Test func everyFixtureModelIsCompared() {
        #expect(Fixture.all.count >= 70, "fixture models not found under \(FixtureKit.root.path)")
    }

    /// `--threads 2` (OpenMP over GEMM panels and conv images) gives bit-for-bit the outputs of one thread: every
    /// output element is still computed by one thread in the same order. Models with conv (grouped, strided,
    /// rows, narrow, implicit and Winograd paths), pools, residual adds, dense and recurrent layers, at batch 7 and 5.
    /// The one-thread build is the tiled build above.
    @Test(arguments: ["conv_groups2", "conv_stride2", "conv_k32", "resblock", "steps_lenet", "bn_conv_fold", "conv_winograd",
                      "lstm_last7", "gru_seq_dense", "dense_act_relu"].map(Fixture.torch))
    func twoThreadsMatchOneThreadExactly(_ fixture: Fixture) throws {
        var outputs: [[[Float]]] = []
        for threads in [1, 2] {
            let (ctx, _, products) = try Libraries.context(fixture.modelJSON,
                                                           options: CompileOptions(maxBatch: Self.maxBatch, threads: threads))
            let source = try String(contentsOf: products.source, encoding: .utf8)
            #expect(source.contains("#define NN_THREADS 2") == (threads == 2))
            var all: [[Float]] = []
            for (k, batch) in [Self.maxBatch, 5].enumerated() {
                let x = FixtureKit.randomFloats(batch * ctx.library.inputSize, seed: Self.seed(fixture.name) &+ UInt64(k))
                all += try x.withUnsafeBufferPointer { try ctx.forwardAll($0, batch: batch) }
            }
            outputs.append(all)
        }
        #expect(outputs[0] == outputs[1], "two threads differ from one")
    }

    /// nn_gemm equals nn_gemm_naive (atol 1e-5, rtol 1e-4, guard cells untouched) over odd M/N/K, bias modes,
    /// accumulate and activations, and implicit-GEMM and rows conv (several tilings) equal nn_conv_naive on odd conv
    /// shapes, and Winograd F(2×2,3×3) equals nn_conv_naive at every transform width and blocking; the C harness
    /// Fixtures/c/gemm_test.c runs against the templates as embedded, with NN_VW 16 / NN_NV 2 / NN_MR 8 (the
    /// x86-64-v4 micro-kernel), 8 / 2 / 6 (x86-64-v3's) and a narrow 4×3 panel of 4 rows.
    @Test(arguments: HarnessWidth.built)
    func gemmAndConvKernelsAgainstNaiveInC(_ width: HarnessWidth) throws {
        try runHarness("gemm_test", width: width, templates: [.winograd])
    }

    /// The same harness at aarch64's width and micro-kernel (NN_VW 4, NN_NV 3, NN_MR 8, the 8×12 tile):
    /// cross-compiled and run under qemu-aarch64 off aarch64 (AArch64Toolchain), with a note when
    /// the cross compiler or qemu is missing.
    @Test func gemmAndConvKernelsAgainstNaiveOnAArch64() throws {
        let s = Schedule(target: .aarch64)
        try runHarness("gemm_test", width: HarnessWidth(vw: s.vectorWidth, nv: s.vectorsPerRow, mr: s.rowsPerTile, target: .aarch64),
                       templates: [.winograd])
    }

    /// ∂W by rows (nn_conv_dw_rows, several tilings, batches of 1 and 5) equals the naive conv backward's ∂W
    /// (atol/rtol 1e-4), the branch-free 2×2 max-pool backward equals the naive loop exactly, ties and NaNs
    /// included, ∂x by Winograd equals the naive ∂x, and the depthwise and pointwise kernels, forward and
    /// backward, equal the naive conv on odd shapes; the C harness Fixtures/c/train_kernels_test.c runs
    /// against the embedded templates at three vector widths.
    @Test(arguments: HarnessWidth.built)
    func trainingKernelsAgainstNaiveInC(_ width: HarnessWidth) throws {
        try runHarness("train_kernels_test", width: width,
                       templates: [.convTrain, .poolTrain, .winogradTrain, .depthwise])
    }

    /// One vector configuration of a C harness: the target whose registers hold NN_VW floats (the
    /// harness is compiled for that level, never for the host, and run where the host has it), the
    /// vectors and rows of its micro-kernel.
    struct HarnessWidth: Sendable, CustomTestStringConvertible {
        var vw: Int, nv: Int, mr: Int, target: Target
        var march: [String] { target.compilerFlags }
        var needs: String? { target.missingOnHost }
        /// The micro-kernels of x86-64-v4 and v3 as their schedules pick them, and a 4-row, 3-vector one.
        static let all = [Target.x86_64_v4, .x86_64_v3].map { t in
            let s = Schedule(target: t)
            return HarnessWidth(vw: s.vectorWidth, nv: s.vectorsPerRow, mr: s.rowsPerTile, target: t)
        } + [HarnessWidth(vw: 4, nv: 3, mr: 4, target: .portable)]
        /// Off x86-64 only the 4-float build (no -march) compiles.
        #if arch(x86_64)
        static let built = all
        #else
        static let built = all.filter { $0.target == .portable }
        #endif
        var testDescription: String { "NN_VW \(vw) NN_NV \(nv) NN_MR \(mr)" }
    }

    /// Compiles Fixtures/c/NAME.c after `templates` and what they require, at the width's NN_VW/NN_NV (-Werror), for its own
    /// x86-64 level, and runs it where the host has that level (exit 0 and "0 failures"); on a host without
    /// it the harness is compiled only, and the test says so. The aarch64 width builds with AArch64Toolchain.
    func runHarness(_ name: String, width w: HarnessWidth, templates: [Template]) throws {
        let tmp = FixtureKit.makeTempDir("nncc-refkernel")
        defer { try? FileManager.default.removeItem(at: tmp) }
        let harness = try String(contentsOf: FixtureKit.root.appendingPathComponent("c/\(name).c"), encoding: .utf8)
        let src = tmp.appendingPathComponent("\(name)_\(w.vw)x\(w.nv)x\(w.mr).c")
        let exe = tmp.appendingPathComponent("\(name)_\(w.vw)x\(w.nv)x\(w.mr)")
        let text = "#define NN_VW \(w.vw)\n#define NN_NV \(w.nv)\n#define NN_MR \(w.mr)\n"
            + (Template.closure(templates).map(\.source) + [harness]).joined(separator: "\n")
        try text.write(to: src, atomically: true, encoding: .utf8)
        if w.target == .aarch64 {
            guard let tools = AArch64Toolchain.found(for: "\(name) at NN_VW \(w.vw) NN_NV \(w.nv) NN_MR \(w.mr)") else { return }
            // -O1: the harness is the suite's largest cross compile (5 s against 8 s at -O2); fewer cases under qemu.
            try tools.buildStatic(exe, [src], defines: tools.emulator == nil ? [] : ["-DTG_EMULATED"], optimization: "-O1")
            let r = try tools.run(exe, [], in: tmp)
            #expect(r.status == 0 && r.stdout.contains(" 0 failures"), "\(name) under \(tools.runner):\n\(r.stdout)\(r.stderr)")
            return
        }
        // -O1: the harness checks the kernels' logic against the naive loops; at -O2 its many tilings take twice
        // as long to compile. The libraries are tested by every fixture (at -O1 under `make test`, at -O3 in TargetTests).
        try GCC.run([try GCC.path(), "-O1", "-Wall", "-Wextra", "-Werror", "-std=c11", "-ffp-contract=fast"]
                    + w.march + ["-o", exe.path, src.path, "-lm"])
        if let flag = w.needs {
            print("note: \(name) at NN_VW \(w.vw) compiled but not run: this CPU lacks \(flag)")
            return
        }
        let r = try FixtureKit.run(exe.path, [], in: tmp)
        #expect(r.status == 0, "\(name) \(w.vw)x\(w.nv) failed:\n\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains(" 0 failures"), "\(r.stdout)\(r.stderr)")
    }
}
