import Foundation

/// A model ready to use from Swift: compiled through the cache, loaded, with
/// its weights set. `nncc run/check/bench` are built on this; so can apps be.
public final class Session {
    public let model: LoadedModel
    public let products: BuildProducts
    public let library: ModelLibrary
    public let context: ModelContext
    /// Where the weights came from (a file, or the ONNX model that carries them); nil when none was
    /// given and the parameters are the seeded initialisation that NAME_create sets.
    public private(set) var weightsSource: String?

    /// Compiles (or reuses) the library for `modelPath` and loads weights from
    /// `weights`, else those the model names or carries (ONNX), else the seed's init.
    public convenience init(modelPath: String, weights: String? = nil, options: CompileOptions = CompileOptions()) throws {
        try self.init(model: Pipeline.load(modelPath), weights: weights, options: options)
    }

    /// The same for a model already read with `Pipeline.load` (the CLI reads each model once).
    public init(model: LoadedModel, weights: String? = nil, options: CompileOptions = CompileOptions()) throws {
        self.model = model
        products = try Builder.cached(model, options: options)
        library = try ModelLibrary(path: products.library.path, name: products.name)
        context = try library.makeContext()
        if let w = weights {
            try loadWeights(w)
            weightsSource = w
        } else if let embedded = model.embeddedWeights {
            try setWeights(embedded, source: model.path)
            weightsSource = model.path
        } else if let w = model.weightsPath {
            try loadWeights(w)
            weightsSource = w
        }
    }

    /// Reads a safetensors file and checks it against the library's parameter table before setting
    /// anything, by the rules of NAME_load_weights (`WeightsFile`): the same files pass, with the same code.
    public func loadWeights(_ path: String) throws {
        let table = context.paramNames().enumerated().map { (name: $0.element, shape: context.paramShape($0.offset)) }
        let tensors = try WeightsFile.read(path: path, parameters: table, model: model.graph.name)
        for (i, t) in tensors.enumerated() { try context.setParam(i, t.data) }
    }

    /// Sets every parameter from `tensors` (keyed by parameter name; BatchNorm counters are
    /// ignored as in a file), after checking all of them; `source` names where they came from in errors.
    public func setWeights(_ tensors: [String: Tensor], source path: String) throws {
        let params = model.graph.params
        for name in tensors.keys.sorted() where !WeightsFile.isIgnorable(name) {
            guard params.contains(where: { $0.name == name }) else {
                throw NNCCError(file: path, path: name, "tensor is not a parameter of model \"\(model.graph.name)\"; "
                    + "expected only: \(params.map(\.name).joined(separator: ", "))")
            }
        }
        for p in params {
            guard let t = tensors[p.name] else { throw NNCCError(file: path, path: p.name, "missing tensor, expected shape \(p.shape)") }
            guard t.shape == p.shape else {
                throw NNCCError(file: path, path: p.name, "expected shape \(p.shape), found \(t.shape)")
            }
        }
        for (i, p) in params.enumerated() { try context.setParam(i, tensors[p.name]!.data) }
    }

    /// Inference over any number of examples, in chunks of the library's max batch (`ModelContext.predict`).
    /// Returns the first output, `count × outputSize` floats.
    public func predict(_ x: [Float], count: Int) throws -> [Float] {
        try context.predict(x, count: count)
    }

    public func predictAll(_ x: [Float], count: Int) throws -> [[Float]] {
        try context.predictAll(x, count: count)
    }

    /// Per-example shape of output `i`.
    public func outputShape(_ i: Int = 0) -> [Int] { products.graph.nodes[products.graph.outputs[i]].shape }
}
