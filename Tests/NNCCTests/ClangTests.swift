import Foundation
import Testing
@testable import NNCC
import NNCCRuntime

/// The generated C under clang (`clang` on PATH: every Swift toolchain has one; `.ci/run` also
/// installs clang-14, the oldest clang nncc supports, and the sample below compiles with it too).
@Suite struct ClangTests {
    static let clang = GCC.which("clang")
    static let clang14 = GCC.which("clang-14")

    static func requireClang() throws -> String {
        try #require(clang, "clang is not on PATH (the Swift toolchain's usr/bin has it)")
    }

    /// lenet_like (conv, max pool, dense) built by clang at -O3 for this CPU matches PyTorch's
    /// outputs, and one training step its weights, loss and gradients, as GoldenTests and
    /// TrainingTests check gcc's builds.
    @Test func goldenFixtureMatchesPyTorch() throws {
        let clang = try Self.requireClang()
        let fixture = Fixture.golden("lenet_like")
        var options = CompileOptions(maxBatch: GoldenTests.maxBatch, cc: clang)
        options.optLevel = FixtureKit.productOptLevel
        let (_, products) = try Libraries.products(fixture.modelJSON, options: options)
        let manifest = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: products.manifest)) as? [String: Any])
        #expect((manifest["compiler"] as? [String: String])?["family"] == "clang")
        #expect((manifest["gcc"] as? [String])?.first == clang)
        let (x, y, count) = try GoldenTests.examples(fixture)
        let session = try Session(modelPath: fixture.modelJSON, options: options)
        GoldenTests().expectClose(try session.predict(x, count: count), y, "lenet_like built by clang")
        try TrainingTests().oneStep(fixture, reference: false, cc: clang, optLevel: FixtureKit.productOptLevel)
    }

    /// Every kind of model compiles without a warning (-Wall -Wextra -Werror) at every target: with
    /// clang (and clang-14 when installed), and with gcc at the targets other than this CPU's
    /// (GoldenTests and TrainingTests build that one). The models are ModelSample.chosen: enough
    /// examples and fixtures that every template, and every op with every kernel plan any model
    /// reaches, is compiled at every target (all of them would take minutes). Compile only, at -O0:
    /// clang reports a builtin used without its target feature, or an impossible asm constraint,
    /// only when it generates code (-fsyntax-only misses both), and -O0 generates code fastest.
    /// aarch64 off Arm: clang as a cross compiler and aarch64-linux-gnu-gcc, where their aarch64
    /// headers are installed (AArch64Toolchain), else a note.
    @Test(arguments: TargetTests.named + [.aarch64])
    func sampleCompilesWarningFree(_ target: Target) throws {
        let clang = try Self.requireClang()
        var compilers = [clang] + (Self.clang14.map { [$0] } ?? [])
        var cross: [String] = []
        if target == .aarch64 && Target.host != .aarch64 {
            guard let tools = AArch64Toolchain.found(for: "the sample at aarch64") else { return }
            cross = ["--target=aarch64-linux-gnu", "--sysroot=\(AArch64Toolchain.sysroot)"]
            compilers.append(tools.cc)
        } else if target != Target.host {
            compilers.append(try GCC.path())
        }
        let tmp = FixtureKit.makeTempDir("nncc-compilers-\(target.rawValue)")
        defer { try? FileManager.default.removeItem(at: tmp) }
        for sample in ModelSample.chosen {
            let options = sample.options(target)
            let model = try Pipeline.load(sample.path)
            let (lib, g) = try Pipeline.generate(model, options: options)
            let src = tmp.appendingPathComponent("\(g.name).c")
            try lib.source.write(to: src, atomically: false, encoding: .utf8)
            for cc in compilers {
                let compiler = try Compiler.find(cc)
                let check = compiler.family == .clang ? ["-O0", "-c", "-o", tmp.appendingPathComponent("x.o").path] : ["-fsyntax-only"]
                let argv = [cc, "-std=c11"] + (compiler.family == .clang ? cross : []) + compiler.targetFlags(target)
                    + ["-Wall", "-Wextra", "-Werror"] + check + [src.path]
                let r = try GCC.capture(argv)
                #expect(r.status == 0, "\(sample) at \(target.rawValue) with \(compiler.versionLine):\n\(r.output.prefix(3000))")
            }
        }
    }

    @Test func sampleCoversEveryTemplate() {
        let covered = ModelSample.chosen.reduce(into: Set<String>()) { $0.formUnion(ModelSample.features($1)) }
        for t in Template.allCases {
            #expect(covered.contains { $0.hasSuffix(" template \(t.rawValue)") }, "no sampled model uses \(t.rawValue).c")
        }
        print("note: \(ModelSample.chosen.count) of \(ModelSample.candidates.count) builds compile at every target: "
            + ModelSample.chosen.map(\.description).joined(separator: ", "))
    }
}

/// A model build the compile test may pick: a model file and its options (inference or --train).
struct ModelSample: CustomStringConvertible, Sendable {
    var path: String
    var train = false
    /// Lowered for one candidate so that the layout of large models (CodeSize) is compiled too.
    var largeModelNodes = CompileOptions().largeModelNodes

    func options(_ target: Target) -> CompileOptions {
        var o = CompileOptions(train: train, target: target)
        o.largeModelNodes = largeModelNodes
        return o
    }

    var description: String {
        URL(fileURLWithPath: path).deletingLastPathComponent().lastPathComponent + "/"
            + URL(fileURLWithPath: path).lastPathComponent + (train ? " --train" : "")
            + (largeModelNodes != CompileOptions().largeModelNodes ? " (large-model layout)" : "")
    }

    static let repository = FixtureKit.root.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Every example and fixture (the JSON models and the ONNX-only files) at inference, with
    /// --train where the model trains, and the biggest one also in the layout of large models.
    static let candidates: [ModelSample] = {
        let fm = FileManager.default
        let examples = ((try? fm.contentsOfDirectory(atPath: repository.appendingPathComponent("examples").path)) ?? [])
            .filter { $0.hasSuffix(".json") }.sorted().map { repository.appendingPathComponent("examples/\($0)").path }
        let onnx = ((try? fm.contentsOfDirectory(atPath: FixtureKit.root.appendingPathComponent("onnx").path)) ?? [])
            .filter { $0.hasSuffix(".onnx") }.sorted().map { FixtureKit.root.appendingPathComponent("onnx/\($0)").path }
        var all: [ModelSample] = []
        var biggest: (nodes: Int, sample: ModelSample)?
        for path in examples + Fixture.all.map(\.modelJSON) + onnx {
            guard let model = try? Pipeline.load(path) else { continue }
            let trains = model.graph.train != nil
            for train in trains ? [false, true] : [false] {
                let s = ModelSample(path: path, train: train)
                all.append(s)
                if train == trains, model.graph.nodes.count > biggest?.nodes ?? 0 { biggest = (model.graph.nodes.count, s) }
            }
        }
        if var big = biggest?.sample {
            big.largeModelNodes = 8
            all.append(big)
        }
        return all
    }()

    /// What decides a build's C at the named targets: its templates, and each node's op with the
    /// kind of its kernel plan and backward (numbers and sizes left out: they change constants,
    /// not code). The passes run up to kernel selection only.
    static func features(_ s: ModelSample) -> Set<String> {
        guard let model = try? Pipeline.load(s.path) else { return [] }
        var set = Set<String>()
        for target in Target.allCases where target != .native {
            var g = model.graph
            do {
                for pass in Pipeline.passes(s.options(target), maxBatch: 1) {
                    g = try pass.run(g)
                    if pass.stage == .scheduled { break }
                }
            } catch { continue }
            set.formUnion(Template.needed(for: g, training: s.train).map { "\(target.rawValue) template \($0.rawValue)" })
            for n in g.nodes { set.insert("\(n.op.family): \(kind(n.plan))") }
            if CodeSize.isLarge(g, s.options(target).schedule) { set.insert("large-model layout") }
        }
        return set
    }

    /// "rows; ∂x none, ∂W GEMM col·∂zᵀ" for "rows, tiles of 4 filters …, packed 896; ∂x none, ∂W GEMM col·∂zᵀ".
    static func kind(_ plan: KernelPlan) -> String {
        let parts = plan.description.split(separator: ";", maxSplits: 1)
        let kernel = parts.first?.split(separator: ",").first.map(String.init) ?? ""
        return (kernel + (parts.count > 1 ? ";" + parts[1] : "")).split(whereSeparator: \.isNumber).joined(separator: "#")
    }

    /// Candidates picked greedily, each adding the most features not yet covered, until
    /// every feature of every candidate at every named target is.
    static let chosen: [ModelSample] = {
        var left = candidates.map { (sample: $0, features: features($0)) }
        var covered = Set<String>(), picked: [ModelSample] = []
        while let best = left.indices.max(by: { left[$0].features.subtracting(covered).count < left[$1].features.subtracting(covered).count }),
              !left[best].features.isSubset(of: covered) {
            covered.formUnion(left[best].features)
            picked.append(left.remove(at: best).sample)
        }
        return picked
    }()
}
