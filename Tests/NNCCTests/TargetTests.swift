import Foundation
import Testing
@testable import NNCC
import NNCCRuntime

/// Every named target on any host: a few representative fixtures (dense layers; convs by rows,
/// narrow and implicit GEMM and Winograd under a dozen vector activations; an LSTM) are generated
/// and compiled at x86-64-v4, v3, v2 and portable, each with its own vector width and micro-kernel
/// shape, and run against PyTorch's outputs where this CPU runs the target; elsewhere they are
/// compiled only, with a printed note. One training step per target too. These build at the
/// product's -O3 (`make test` builds the other tests' libraries at -O1, FixtureKit.productOptLevel):
/// gcc warns about some code (-Warray-bounds) only when it optimizes fully.
@Suite struct TargetTests {
    /// The targets the host's own compiler builds (aarch64 is cross-compiled: AArch64Tests).
    static let named = Target.allCases.filter { $0 != .native && $0 != .aarch64 }
    static let fixtures = [Fixture.golden("mlp_softmax_ce"), .torch("unary_conv"), .torch("lstm_last7")]

    /// Built at max batch 7 (a full 6-row tile and an edge row on AVX2, an edge tile of 7 on AVX-512),
    /// run at 7 then 3, within GoldenTests' tolerance of y.npy.
    @Test(arguments: named, fixtures)
    func matchesPyTorch(_ target: Target, _ fixture: Fixture) throws {
        var options = CompileOptions(maxBatch: GoldenTests.maxBatch, target: target)
        options.optLevel = FixtureKit.productOptLevel
        let (_, products) = try Libraries.products(fixture.modelJSON, options: options)
        let source = try String(contentsOf: products.source, encoding: .utf8)
        let s = Schedule(target: target)
        #expect(source.contains("#define NN_VW \(s.vectorWidth)\n#define NN_NV \(s.vectorsPerRow)\n#define NN_MR \(s.rowsPerTile)\n"))
        let check = Interface.targetCheck(target, prefix: products.name)
        #expect(check.isEmpty == (target == .portable) && source.contains(check + "#define NN_VW"))
        if let flag = target.missingOnHost {
            print("note: \(fixture) at \(target.rawValue) compiled but not run: this CPU lacks \(flag)")
            return
        }
        let (x, y, count) = try GoldenTests.examples(fixture)
        let session = try Session(modelPath: fixture.modelJSON, options: options)
        let problem = FixtureKit.assertClose(try session.predict(x, count: count), y, atol: GoldenTests.atol, rtol: GoldenTests.rtol)
        #expect(problem == nil, "\(target.rawValue): differs from y.npy: \(problem ?? "")")
    }

    /// One step of training (forward, backward on the GEMM, optimizer) of a conv, pool and dense
    /// model: the loss, the weights after the step and the gradients match PyTorch's.
    @Test(arguments: named)
    func trainingStepMatchesPyTorch(_ target: Target) throws {
        if let flag = target.missingOnHost {
            let model = try Pipeline.load(Fixture.golden("lenet_like").modelJSON)
            var options = CompileOptions(train: true, target: target)
            options.optLevel = FixtureKit.productOptLevel
            _ = try Libraries.products(model.path, options: options)
            print("note: golden/lenet_like --train at \(target.rawValue) compiled but not run: this CPU lacks \(flag)")
            return
        }
        try TrainingTests().oneStep(.golden("lenet_like"), reference: false, target: target, optLevel: FixtureKit.productOptLevel)
    }

    /// `native` is the host's level: the same C and flags, and the manifest and header say which.
    @Test func nativeResolvesToTheHostLevel() throws {
        #expect(Target.native.resolved == Target.host && Target.host != .native)
        #expect(Target.host.missingOnHost == nil)
        #expect(Schedule(target: .native) == Schedule(target: Target.host))
        #expect(Target.native.compilerFlags == Target.host.compilerFlags)
        let tmp = FixtureKit.makeTempDir("nncc-target")
        defer { try? FileManager.default.removeItem(at: tmp) }
        let fixture = Fixture.golden("dense_relu")
        let p = try Builder.build(try Pipeline.load(fixture.modelJSON), options: CompileOptions(), into: tmp)
        let manifest = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: p.manifest)) as? [String: Any])
        #expect(manifest["target"] as? String == Target.host.rawValue)
        #expect(manifest["target_requested"] as? String == "native")
        let header = try String(contentsOf: p.header, encoding: .utf8)
        #expect(header.contains("#define \(p.name)_TARGET       \"\(Target.host.rawValue)\""))
    }

    /// The micro-kernel fits the register file: accumulators plus a B vector per column
    /// vector and the broadcast A (and, without FMA, a product) within the target's registers.
    @Test(arguments: Target.allCases.filter { $0 != .native })
    func microKernelFitsTheRegisters(_ target: Target) {
        let s = Schedule(target: target)
        let live = s.rowsPerTile * s.vectorsPerRow + s.vectorsPerRow + 1 + (s.vectorWidth == 4 ? 1 : 0)
        #expect(live <= s.vectorRegisters, "\(target.rawValue): \(s.rowsPerTile)x\(s.vectorsPerRow) vectors")
        #expect([4, 6, 8].contains(s.rowsPerTile))
    }

    /// The C built for a level without that level's flags stops at the target check, with
    /// one clear #error naming the flag, before any -Wpsabi warning; and the aarch64 C built
    /// by an x86-64 compiler names the compiler to use.
    @Test(arguments: [(Target.x86_64_v3, "x86-64-v3 (AVX2, FMA): compile it with -march=x86-64-v3 or newer"),
                      (.aarch64, "aarch64 (NEON): compile it with an aarch64 compiler (on x86-64: aarch64-linux-gnu-gcc)")])
    func lesserCompileStopsWithTheTargetError(_ target: Target, _ message: String) throws {
        if target == .aarch64 && Target.host == .aarch64 { return }  // the host's compiler builds it
        let tmp = FixtureKit.makeTempDir("nncc-target-error")
        defer { try? FileManager.default.removeItem(at: tmp) }
        let model = try Pipeline.load(Fixture.golden("dense_relu").modelJSON)
        let (lib, g) = try Pipeline.generate(model, options: CompileOptions(target: target))
        let src = tmp.appendingPathComponent("\(g.name).c")
        try lib.source.write(to: src, atomically: true, encoding: .utf8)
        let argv = [try GCC.path(), "-std=c11", "-O2", "-Wall", "-Wextra", "-Werror", "-c", src.path,
                    "-o", tmp.appendingPathComponent("x.o").path]
        let r = try GCC.capture(argv)
        #expect(r.status != 0)
        #expect(r.output.contains("\(g.name).c was generated for \(message)"), "\(r.output.prefix(2000))")
        #expect(!r.output.contains("psabi"), "\(r.output.prefix(2000))")
    }
}

extension Target: CustomTestStringConvertible {
    public var testDescription: String { rawValue }
}
