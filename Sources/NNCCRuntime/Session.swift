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
    /// `weights`, else those the model names or carries (ONNX), else the seed's init.
    public init(modelPath: String, weights: String? = nil, options: CompileOptions = CompileOptions()) throws {
        model = try Pipeline.load(modelPath)
        products = try Builder.cached(model, options: options)
        library = try ModelLibrary(path: products.library.path, name: products.name)
        context = try library.makeContext()
        if let w = weights {
            try loadWeights(w)
        } else if let embedded = model.embeddedWeights {
            try setWeights(embedded, source: model.path)
        } else if let w = model.weightsPath {
            try loadWeights(w)
        }
    }

    /// Reads a safetensors file and checks it against the parameter table
    /// (names, F32, shapes, no strangers) before setting anything.
    public func loadWeights(_ path: String) throws {
        try setWeights(try SafeTensors.read(path: path).map { ($0.name, $0.tensor) }, source: path)
    }

    /// Sets every parameter from `tensors` (keyed by parameter name), after
    /// checking all of them; `source` names where they came from in errors.
    public func setWeights(_ tensors: [String: Tensor], source path: String) throws {
        try setWeights(tensors.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }, source: path)
    }

    func setWeights(_ tensors: [(String, Tensor)], source path: String) throws {
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
