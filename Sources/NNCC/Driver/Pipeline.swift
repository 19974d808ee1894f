import Foundation

/// The compiler's stages in order: decode and shape-check the model, run
/// the passes (one pure function each), plan memory, emit C.
public struct CompileOptions: Equatable {
    /// Largest batch the library accepts; nil: 1, or train.batch_size with `train`.
    public var maxBatch: Int?
    public var train = false
    public var target: Target = .native
    public var threads = 1
    /// Emit the naive reference kernels (tests compare them with the tiled ones).
    public var reference = false
    /// Overrides the model's name as the C symbol prefix.
    public var name: String?
    /// Past this many IR nodes, identical kernels are shared and long functions split (tests lower it).
    public var largeModelNodes = 64

    public init(maxBatch: Int? = nil, train: Bool = false, target: Target = .native, threads: Int = 1,
                reference: Bool = false, name: String? = nil) {
        self.maxBatch = maxBatch
        self.train = train
        self.target = target
        self.threads = threads
        self.reference = reference
        self.name = name
    }

    public var schedule: Schedule {
        var s = Schedule.forTarget(target)
        s.reference = reference
        s.threads = threads
        s.largeModelNodes = largeModelNodes
        return s
    }
}

public enum Stage: String, CaseIterable { case parsed, fused, training, planned }

/// A model read from disk: its shape-checked graph and its weights: the
/// file a JSON model names, or the initializers an ONNX file carries.
public struct LoadedModel {
    public var path: String
    public var graph: Graph
    public var weightsPath: String?
    public var embeddedWeights: [String: Tensor]?
}

public enum Pipeline {
    /// Reads a model description (`.json`) or an ONNX file (`.onnx`) and
    /// infers shapes; errors name the file and the JSON path or ONNX node.
    public static func load(_ path: String, name: String? = nil) throws -> LoadedModel {
        var model: LoadedModel
        if path.lowercased().hasSuffix(".onnx") {
            let imported = try ONNXImporter.load(path: path)
            guard imported.graph.nodes.count <= Limits.layers + 1 else {
                throw NNCCError(file: path, path: "graph.node",
                                "\(imported.graph.nodes.count - 1) nodes once imported; at most \(Limits.layers) (docs/compile-time.md)")
            }
            model = LoadedModel(path: path, graph: imported.graph, embeddedWeights: imported.weights)
        } else {
            let decoded = try ModelDecoder.load(path: path)
            model = LoadedModel(path: path, graph: try inferShapes(decoded.graph, file: path),
                                weightsPath: decoded.weightsPath)
        }
        if let name {
            try ModelDecoder.validateName(name) { NNCCError(path: "--name", $0) }
            model.graph.name = name
        }
        return model
    }

    /// The passes, in order, each Graph → Graph. Training keeps batchnorm
    /// unfolded (it uses batch statistics) and dropout live.
    public static func passes(training: Bool) -> [(name: String, run: (Graph) throws -> Graph)] {
        if training {
            return [
                ("remove_identities", { removeIdentities($0, training: true) }),
                ("fuse_epilogue", { fuseEpilogue($0, training: true) }),
                ("training", { try differentiate($0) }),
            ]
        }
        return [
            ("remove_identities", { removeIdentities($0) }),
            ("fold_batchnorm", foldBatchNorm),
            ("fuse_epilogue", { fuseEpilogue($0) }),
        ]
    }

    /// Runs the passes and memory planning; `trace` sees the graph after each.
    public static func lower(_ g: Graph, options: CompileOptions, trace: (String, Graph) -> Void = { _, _ in }) throws
        -> Graph {
        var g = g
        trace("parsed", g)
        for pass in passes(training: options.train) {
            g = try pass.run(g)
            try verify(g)
            trace(pass.name, g)
        }
        let batch = options.maxBatch ?? (options.train ? g.train?.batchSize ?? 1 : 1)
        guard (1...Limits.batch).contains(batch) else {
            throw NNCCError(path: "--batch", "expected 1 to \(Limits.batch), found \(batch)")
        }
        let schedule = options.schedule
        g = try planMemory(g, maxBatch: batch, keepAll: options.train) { schedule.scratchFloats($0, $1, maxBatch: $2) }
        try verify(g)
        if options.train { try checkTrainingLimits(g, schedule: schedule) }
        trace("planned", g)
        return g
    }

    /// The training block (gradients, optimizer state, saved activations, backward scratch)
    /// must fit the same limits as the arena.
    static func checkTrainingLimits(_ g: Graph, schedule: Schedule) throws {
        let t = TrainLayout(g, ctx: EmitContext(graph: g, schedule: schedule), schedule: schedule)
        let n = g.nodes[t.largest.node]
        func fail(_ msg: String) -> NNCCError { NNCCError(path: n.origin, "\(n.op.typeName) layer \"\(n.name)\": \(msg)") }
        guard t.largest.floats <= Limits.bufferElements else {
            throw fail("training needs a buffer of \(t.largest.floats) floats for batch \(g.maxBatch) "
                + "(the limit is \(Limits.show(Limits.bufferElements)))")
        }
        guard t.floats <= Limits.arenaBytes / 4 else {
            throw NNCCError(path: "--train", "the training state takes \(t.floats * 4) bytes for batch \(g.maxBatch) "
                + "(the limit is \(Limits.show(Limits.arenaBytes)) bytes)")
        }
    }

    /// The IR as `nncc ir --stage` shows it.
    public static func ir(_ model: LoadedModel, stage: Stage, options: CompileOptions) throws -> String {
        var shown = ""
        do {
            _ = try lower(model.graph, options: options) { name, g in
                switch stage {
                case .parsed where name == "parsed", .fused where name == "fuse_epilogue",
                     .training where name == "training", .planned where name == "planned":
                    shown = printIR(g)
                default: break
                }
            }
        } catch let e as NNCCError { throw e.inFile(model.path) }
        if shown.isEmpty { throw NNCCError(path: "--stage", "stage \(stage.rawValue) is not available for this build") }
        return shown
    }

    /// Emits the C library for a model.
    public static func generate(_ model: LoadedModel, options: CompileOptions) throws -> (GeneratedLibrary, Graph) {
        let g: Graph
        do { g = try lower(model.graph, options: options) } catch let e as NNCCError { throw e.inFile(model.path) }
        let lib = LibraryEmitter.emit(g, schedule: options.schedule,
                                      origin: URL(fileURLWithPath: model.path).lastPathComponent,
                                      training: options.train)
        return (lib, g)
    }
}
