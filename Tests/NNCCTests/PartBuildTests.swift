import Foundation
import Testing
@testable import NNCC
import NNCCRuntime

/// NAME.c compiled as parts in parallel (SourceParts, GCC.buildObject): the library computes what the
/// one-file build computes, every example's parts compile without a warning, and the merged object
/// exports only the library's own symbols.
@Suite struct PartBuildTests {
    static func repo(_ path: String) -> String { SnapshotTests.root.appendingPathComponent(path).path }

    /// Forward on random inputs, and with --train two steps (loss, then every parameter), equal to
    /// the bit between the build of the file alone and the build of its parts.
    @Test(arguments: [("examples/lenet5.json", true), ("examples/lstm.json", false), ("bench/models/resnet8.json", true),
                      ("bench/models/mobilenet_vww.json", false)])
    func partsMatchOneFileBitForBit(_ path: String, _ train: Bool) throws {
        func outputs(parts: Int) throws -> [Float] {
            var options = CompileOptions(train: train)
            options.parts = parts
            options.optLevel = FixtureKit.productOptLevel
            let s = try Session(modelPath: Self.repo(path), options: options)
            let g = s.products.graph, batch = g.maxBatch
            let inSize = g.input.shape.reduce(1, *), classes = g.nodes[g.outputs[0]].size
            let x = (0..<(batch * inSize)).map { Float(($0 * 7919) % 2001) / 1000 - 1 }
            var out = try s.predict(x, count: batch)
            guard train else { return out }
            let labels = (0..<batch).map { Int32($0 % classes) }
            for _ in 0..<2 {
                out.append(try x.withUnsafeBufferPointer { try s.context.trainStep($0, labels: labels, batch: batch) })
            }
            for i in 0..<g.params.count { out += s.context.getParam(i) }
            return out
        }
        let one = try outputs(parts: 1), two = try outputs(parts: 2)
        #expect(one.count == two.count)
        #expect(one.map(\.bitPattern) == two.map(\.bitPattern), "\(path): the part build differs from the one-file build")
    }

    /// Every example and benchmark model, inference and --train, compiles as parts without a warning
    /// (gcc, and clang when on PATH), merges into one object, and that object's global symbols are the
    /// library's API, all NAME_-prefixed, as in the one-file build.
    @Test func everyExampleCompilesAsParts() throws {
        let models = try ["examples", "bench/models"].flatMap { dir in
            try FileManager.default.contentsOfDirectory(atPath: Self.repo(dir))
                .filter { $0.hasSuffix(".json") }.sorted().map { Self.repo("\(dir)/\($0)") }
        }
        let tmp = FixtureKit.makeTempDir("nncc-parts")
        defer { try? FileManager.default.removeItem(at: tmp) }
        let compilers = [try GCC.path()] + (ClangTests.clang.map { [$0] } ?? [])
        for path in models {
            let model = try Pipeline.load(path)
            for train in [false, true] where !train || model.graph.train != nil {
                let (lib, g) = try Pipeline.generate(model, options: CompileOptions(train: train))
                let src = tmp.appendingPathComponent("\(g.name).c")
                try lib.source.write(to: src, atomically: false, encoding: .utf8)
                #expect(lib.source.contains("#if NN_PART == 0 || NN_PART == 2"), "\(path): nothing went to part 2")
                for cc in compilers {
                    let object = tmp.appendingPathComponent("\(g.name).o").path
                    try GCC.buildObject(source: src.path, output: object,
                                        options: GCCOptions(cc: cc, optLevel: 0, parts: SourceParts.count), work: tmp)
                    let symbols = try GCC.capture(["nm", "-g", "--defined-only", object])
                    let names = symbols.output.split(separator: "\n").compactMap { $0.split(separator: " ").last }
                    #expect(!names.isEmpty && names.allSatisfy { $0.hasPrefix("\(g.name)_") },
                            "\(path) train \(train) with \(cc): \(names.filter { !$0.hasPrefix("\(g.name)_") })")
                }
            }
        }
    }

    /// Every out-of-line function after the templates is guarded, and each part gets some.
    @Test func splitGuardsEveryBodyOnce() throws {
        let model = try Pipeline.load(Self.repo("examples/cnn_bn.json"))
        let (lib, _) = try Pipeline.generate(model, options: CompileOptions(train: true))
        let guards = lib.source.split(separator: "\n").filter { $0.hasPrefix("#if NN_PART == 0 || NN_PART == ") }
        let byPart = Dictionary(grouping: guards, by: { $0.last! })
        #expect(Set(byPart.keys) == Set((1...SourceParts.count).map { Character(String($0)) }))
        let region = try #require(lib.source.range(of: "/* ---- parameter table"))
        let functions = SourceParts.parse(String(lib.source[region.lowerBound...])).filter {
            if case let .function(f) = $0 { return !f.isInline } else { return false }
        }
        #expect(functions.isEmpty, "every function after the templates is guarded, so the parser sees none whole: \(functions)")
    }
}
