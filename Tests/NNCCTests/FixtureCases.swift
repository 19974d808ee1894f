import Foundation
@testable import NNCC
import NNCCRuntime
#if canImport(Testing)
import Testing
#endif

/// One fixture case folder, the argument of the parameterized Swift Testing
/// tests: a failure names it ("torch/conv_k32"), and cases run in parallel.
struct Fixture: Sendable, CustomStringConvertible {
    let dir: URL
    var name: String { dir.lastPathComponent }
    /// "golden/NAME" or "torch/NAME".
    var description: String { "\(dir.deletingLastPathComponent().lastPathComponent)/\(name)" }
    var modelJSON: String { dir.appendingPathComponent("model.json").path }
    func file(_ name: String) -> URL { dir.appendingPathComponent(name) }
    func has(_ name: String) -> Bool { FileManager.default.fileExists(atPath: file(name).path) }

    static func golden(_ name: String) -> Fixture { Fixture(dir: FixtureKit.golden.appendingPathComponent(name, isDirectory: true)) }
    static func torch(_ name: String) -> Fixture { Fixture(dir: FixtureKit.torch.appendingPathComponent(name, isDirectory: true)) }

    /// Every case with a model.json, golden then torch, each sorted by name.
    static let all: [Fixture] = (FixtureKit.cases(in: FixtureKit.golden) + FixtureKit.cases(in: FixtureKit.torch)).map(Fixture.init)
    /// Cases with PyTorch's outputs (y.npy) for their x.npy.
    static let withOutputs = all.filter { $0.has("y.npy") }
    /// Cases with PyTorch's outputs and an ONNX export of the model.
    static let withONNX = withOutputs.filter { $0.has("model.onnx") }
    /// Cases with the weights after one PyTorch training step.
    static let training = all.filter { $0.has("after.safetensors") }
}

#if canImport(Testing)
extension Fixture: CustomTestStringConvertible {
    var testDescription: String { description }
}
#endif

/// Compiled libraries shared by every test of the process: one gcc run per
/// (model file, options), however many tests (and parallel cases) ask for it.
/// The disk cache ($NNCC_CACHE) would dedupe sequential requests too, but two
/// parallel cases asking for one library would both compile it; this memo makes
/// the second wait for the first.
enum Libraries {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var entries: [String: Entry] = [:]

    private final class Entry: @unchecked Sendable {
        let lock = NSLock()
        var products: BuildProducts?
    }

    /// The library of `modelPath` built with `options`, from the memo, else the disk cache, else gcc.
    static func products(_ modelPath: String, options: CompileOptions) throws -> (LoadedModel, BuildProducts) {
        TestCache.ensure()
        let model = try Pipeline.load(modelPath)
        let key = "\(modelPath)\u{0}\(options)"
        lock.lock()
        let entry = entries[key] ?? Entry()
        entries[key] = entry
        lock.unlock()
        entry.lock.lock()
        defer { entry.lock.unlock() }
        if let p = entry.products { return (model, p) }
        let p = try Builder.cached(model, options: options)
        entry.products = p
        return (model, p)
    }

    /// A fresh context of that library (its own weights and buffers), with the model's weights file loaded if it has one.
    static func context(_ modelPath: String, options: CompileOptions, weights: String? = nil) throws
        -> (ModelContext, LoadedModel, BuildProducts) {
        let (model, products) = try products(modelPath, options: options)
        let ctx = try ModelLibrary(path: products.library.path, name: products.name).makeContext()
        if let w = weights ?? model.weightsPath { try ctx.loadWeights(path: w) }
        return (ctx, model, products)
    }
}

/// The build cache of the Swift Testing tests: $NNCC_CACHE when set (`make test`
/// sets it), else one temporary folder for the whole process, removed at exit.
enum TestCache {
    nonisolated(unsafe) private static var created: String?
    private static let once: Void = {
        if let dir = ProcessInfo.processInfo.environment["NNCC_CACHE"], !dir.isEmpty { return }
        let dir = FixtureKit.makeTempDir("nncc-test-cache")
        setenv("NNCC_CACHE", dir.path, 1)
        created = dir.path
        atexit { if let dir = TestCache.created { try? FileManager.default.removeItem(atPath: dir) } }
    }()

    static func ensure() { _ = once }
}
