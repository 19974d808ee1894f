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
    /// With `train`: the step also sums per-parameter gradient statistics, read by NAME_grad_stats (GradStats).
    public var gradientStats = false
    /// Time every kernel call into per-entry sums, read by NAME_profile (Codegen/Profile.swift, `nncc bench --layers`).
    public var profile = false
    /// Overrides the model's name as the C symbol prefix (applied by `lower`).
    public var name: String?
    /// Past this many IR nodes, identical kernels are shared and long functions split (tests lower it).
    public var largeModelNodes = 64
    /// Schedule.recurrentWholeSequenceFloats (tests lower it to 0 to take the one-step-at-a-time projection).
    public var recurrentWholeSequenceFloats = Schedule.recurrentWholeSequenceDefault
    /// Schedule.sliceBudgetBytes (tests lower it to run small fixtures in slices of the batch).
    public var sliceBudgetBytes = Schedule.sliceBudgetDefault
    /// Link the packed weights into the library read-only (`nncc compile --embed-weights`; Builder packs them).
    public var embedWeights = false
    /// The C compiler (`--cc`): a path or a command on PATH; nil: $NNCC_CC, else gcc.
    public var cc: String?
    /// gcc's -O level (`--opt-level`); nil: $NNCC_OPT_LEVEL, else 3 (GCCOptions.resolvedOptLevel).
    public var optLevel: Int?
    /// How many gcc processes compile the library (GCC.partCount); nil: $NNCC_PARTS, else one per core up to SourceParts.count.
    public var parts: Int?

    public init(maxBatch: Int? = nil, train: Bool = false, target: Target = .native, threads: Int = 1,
                reference: Bool = false, name: String? = nil, cc: String? = nil) {
        self.maxBatch = maxBatch
        self.train = train
        self.target = target
        self.threads = threads
        self.reference = reference
        self.name = name
        self.cc = cc
    }

    public var schedule: Schedule {
        var s = Schedule.forTarget(target)
        s.reference = reference
        s.threads = threads
        s.largeModelNodes = largeModelNodes
        s.recurrentWholeSequenceFloats = recurrentWholeSequenceFloats
        s.sliceBudgetBytes = sliceBudgetBytes
        return s
    }
}

/// The points of the pipeline `nncc ir --stage` can show, in order.
public enum Stage: String, CaseIterable { case parsed, fused, training, scheduled, planned }

/// One entry of the pass list: a pure Graph → Graph function, and the
/// stage whose IR it completes, if any.
public struct Pass {
    public var name: String
    public var stage: Stage?
    public var run: (Graph) throws -> Graph
}

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
    /// infers shapes; errors name the file and the JSON path or ONNX node. `customOps` map ONNX
    /// operators to C functions (`--custom-op`).
    public static func load(_ path: String, name: String? = nil, customOps: [CustomOpMapping] = []) throws -> LoadedModel {
        var model: LoadedModel
        if path.lowercased().hasSuffix(".onnx") {
            let imported = try ONNXImporter.load(path: path, customOps: customOps)
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

    /// The passes, in order. Training keeps batchnorm unfolded (it uses batch
    /// statistics) and dropout live. `load` runs shape inference once already;
    /// it is idempotent, and the list stays whole for graphs built in code.
    public static func passes(_ options: CompileOptions, maxBatch: Int) -> [Pass] {
        let schedule = options.schedule, training = options.train
        var list = [Pass(name: "infer_shapes", stage: .parsed) { try inferShapes($0) },
                    Pass(name: "remove_identities", stage: nil) { removeIdentities($0, training: training) }]
        if !training { list.append(Pass(name: "fold_batchnorm", stage: nil, run: foldBatchNorm)) }
        list.append(Pass(name: "fuse_epilogue", stage: nil) { fuseEpilogue($0, training: training) })
        list.append(Pass(name: "fuse_operands", stage: .fused, run: fuseOperands))
        if training { list.append(Pass(name: "differentiate", stage: .training) { try differentiate($0) }) }
        list.append(Pass(name: "select_kernels", stage: .scheduled) {
            let g = selectKernels($0, schedule: schedule, maxBatch: maxBatch, training: training)
            return training || schedule.reference ? g : chooseLayouts(g, schedule: schedule)  // layouts are their choice too
        })
        list.append(Pass(name: "plan_memory", stage: .planned) { g in
            let planned = try planMemory(g, maxBatch: maxBatch, keepAll: training)
            if training { try checkTrainingLimits(planned, schedule: schedule) }
            return planned
        })
        return list
    }

    /// The largest batch the library accepts: `--batch`, else the training batch size, else 1.
    static func maxBatch(_ g: Graph, _ options: CompileOptions) throws -> Int {
        let batch = options.maxBatch ?? (options.train ? g.train?.batchSize ?? 1 : 1)
        guard (1...Limits.batch).contains(batch) else {
            throw NNCCError(path: "--batch", "expected 1 to \(Limits.batch), found \(batch)")
        }
        return batch
    }

    /// Runs the pass list, verifying the IR after each pass; `trace` sees the graph at each stage.
    public static func lower(_ g: Graph, options: CompileOptions, trace: (Stage, Graph) -> Void = { _, _ in }) throws
        -> Graph {
        var g = g
        if let name = options.name {
            try ModelDecoder.validateName(name) { NNCCError(path: "--name", $0) }
            g.name = name
        }
        for pass in passes(options, maxBatch: try maxBatch(g, options)) {
            g = try pass.run(g)
            try verify(g)
            if let stage = pass.stage { trace(stage, g) }
        }
        return g
    }

    /// The training block (gradients, optimizer state, saved activations, backward scratch)
    /// must fit the same limits as the arena.
    static func checkTrainingLimits(_ g: Graph, schedule: Schedule) throws {
        let t = TrainLayout(g, schedule: schedule, paramFloats: EmitContext(graph: g, schedule: schedule).paramFloats)
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
            _ = try lower(model.graph, options: options) { at, g in
                if at == stage { shown = printIR(g) }
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
                                      training: options.train, gradientStats: options.gradientStats,
                                      embedWeights: options.embedWeights, profile: options.profile)
        return (lib, g)
    }
}
