import Foundation
import NNCC

/// A model ready to use from Swift: compiled through the cache, loaded, with
/// its weights set. `nncc run/check/bench` are built on this; so can apps be.
public final class Session {
    public let model: LoadedModel
    public let products: BuildProducts
    public let library: ModelLibrary
    public let context: ModelContext

    /// Compiles (or reuses) the library for `modelPath` and loads weights from
    /// `weights`, else from the file the model names, else the seed's init.
    public init(modelPath: String, weights: String? = nil, options: CompileOptions = CompileOptions()) throws {
        model = try Pipeline.load(modelPath)
        products = try Builder.cached(model, options: options)
        library = try ModelLibrary(path: products.library.path, name: products.name)
        context = try library.makeContext()
        if let w = weights ?? model.weightsPath { try loadWeights(w) }
    }

    /// Reads a safetensors file and checks it against the parameter table
    /// (names, F32, shapes, no strangers) before setting anything.
    public func loadWeights(_ path: String) throws {
        let tensors = try SafeTensors.read(path: path)
        let params = model.graph.params
        var byName = [String: Tensor]()
        for (name, t) in tensors {
            if name.hasSuffix("num_batches_tracked") { continue }
            guard params.contains(where: { $0.name == name }) else {
                throw NNCCError(file: path, path: name, "tensor is not a parameter of model \"\(model.graph.name)\"; "
                    + "expected only: \(params.map(\.name).joined(separator: ", "))")
            }
            byName[name] = t
        }
        for p in params {
            guard let t = byName[p.name] else { throw NNCCError(file: path, path: p.name, "missing tensor, expected shape \(p.shape)") }
            guard t.shape == p.shape else {
                throw NNCCError(file: path, path: p.name, "expected shape \(p.shape), found \(t.shape)")
            }
        }
        for (i, p) in params.enumerated() { try context.setParam(i, byName[p.name]!.data) }
    }

    /// Inference over any number of examples, in chunks of the library's max batch.
    /// Returns the first output, `count × outputSize` floats.
    public func predict(_ x: [Float], count: Int) throws -> [Float] {
        try predictAll(x, count: count)[0]
    }

    public func predictAll(_ x: [Float], count: Int) throws -> [[Float]] {
        let inSize = library.inputSize
        guard x.count == count * inSize else {
            throw NNCCError("expected \(count) × \(inSize) input floats, found \(x.count)")
        }
        var outs = library.outputSizes.map { _ in [Float]() }
        try x.withUnsafeBufferPointer { buf in
            var start = 0
            while start < count {
                let n = min(library.maxBatch, count - start)
                let chunk = UnsafeBufferPointer(rebasing: buf[(start * inSize)..<((start + n) * inSize)])
                let ys = try context.forwardAll(chunk, batch: n)
                for j in ys.indices { outs[j] += ys[j] }
                start += n
            }
        }
        return outs
    }

    /// Per-example shape of output `i`.
    public func outputShape(_ i: Int = 0) -> [Int] { products.graph.nodes[products.graph.outputs[i]].shape }
}
