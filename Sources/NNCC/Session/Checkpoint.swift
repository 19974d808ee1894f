import Foundation

/// A training checkpoint: `DIR/last.safetensors`, written after every epoch (and on Ctrl-C), holds the
/// parameters under their own names, the optimizer state as `optimizer.0.NAME` (momentum buffer or
/// Adam's exp_avg) and `optimizer.1.NAME` (Adam's exp_avg_sq), and in `__metadata__["nncc.checkpoint"]`
/// the counters as JSON: epochs done, optimizer steps, the dropout generator, the schedule's and early
/// stopping's state and the history so far. Shuffling and augmentation follow from the seed and the
/// epoch, so with these a resumed run takes the same steps as an uninterrupted one.
public struct Checkpoint {
    public static let lastFile = "last.safetensors"
    /// The weights (only) of the epoch with the lowest validation loss: a plain weights file for --weights.
    public static let bestFile = "best.safetensors"
    static let metadataKey = "nncc.checkpoint"

    public struct Info: Codable, Equatable {
        public var format = 1
        public var model: String
        public var optimizer: String
        /// Epochs completed; `partial` is how far the next one got before an interrupt.
        public var epoch: Int
        public var partial: PartialEpoch?
        /// The dropout generator's state, as text (JSON numbers are doubles).
        public var rng: String
        public var step: Int64
        public var plateau: LRScheduler.PlateauState
        /// Lowest validation loss so far and epochs since it (early stopping, best.safetensors).
        public var bestValLoss: Double?
        public var epochsSinceBest = 0
        public var history: [EpochRecord]
    }

    public struct PartialEpoch: Codable, Equatable {
        public var steps: Int, lossSum: Double, correct: Int, stepLosses: [Double]
    }

    /// EpochStats as stored.
    public struct EpochRecord: Codable, Equatable {
        var epoch: Int, loss: Double, accuracy: Double?, valLoss: Double?, valAccuracy: Double?
        var examplesPerSecond: Double, stepLosses: [Double]
        init(_ s: EpochStats) {
            (epoch, loss, accuracy, valLoss, valAccuracy) = (s.epoch, s.loss, s.accuracy, s.valLoss, s.valAccuracy)
            (examplesPerSecond, stepLosses) = (s.examplesPerSecond, s.stepLosses)
        }
        /// Records of `epochs`, the older ones without their step losses past `maxStepLosses` in all:
        /// the header stays far below safetensors' 100 MB limit however long the run.
        static func bounded(_ epochs: [EpochStats], maxStepLosses: Int = 200_000) -> [EpochRecord] {
            var records = epochs.map(EpochRecord.init), kept = 0
            for i in records.indices.reversed() {
                kept += records[i].stepLosses.count
                if kept > maxStepLosses { records[i].stepLosses = [] }
            }
            return records
        }

        var stats: EpochStats {
            EpochStats(epoch: epoch, loss: loss, accuracy: accuracy, valLoss: valLoss, valAccuracy: valAccuracy,
                       examplesPerSecond: examplesPerSecond, stepLosses: stepLosses)
        }
    }

    public var info: Info
    public var params: [[Float]]
    public var optimizer: ModelContext.OptimizerState

    private static func coders() -> (JSONEncoder, JSONDecoder) {
        let (e, d) = (JSONEncoder(), JSONDecoder())
        e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        d.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        e.outputFormatting = .sortedKeys
        return (e, d)
    }

    /// The context's parameters and optimizer state, with `info`'s counters.
    public static func capture(_ context: ModelContext, info: Info) throws -> Checkpoint {
        var info = info
        let state = try context.optimizerState()
        (info.step, info.rng) = (state.step, String(state.rng))
        return Checkpoint(info: info, params: (0..<context.library.numParams).map { context.getParam($0) }, optimizer: state)
    }

    public func write(to path: String, names: [String], shapes: [[Int]]) throws {
        var tensors: [(name: String, tensor: Tensor)] = []
        for (i, name) in names.enumerated() { tensors.append((name, Tensor(shape: shapes[i], data: params[i]))) }
        for slot in 0..<2 {
            for (i, name) in names.enumerated() {
                tensors.append(("optimizer.\(slot).\(name)", Tensor(shape: shapes[i], data: optimizer.slots[slot][i])))
            }
        }
        let json = String(decoding: try Self.coders().0.encode(info), as: UTF8.self)
        try SafeTensors.write(tensors, metadata: [Self.metadataKey: json], to: path)
    }

    /// Reads DIR/last.safetensors for `context`'s model; errors name the file and what does not match.
    public static func read(directory: String, for context: ModelContext, model: String, optimizer kind: String) throws -> Checkpoint {
        let path = (directory as NSString).appendingPathComponent(lastFile)
        let (tensors, metadata) = try SafeTensors.readWithMetadata(path: path)
        guard let text = metadata[metadataKey] else {
            throw NNCCError(file: path, "not an nncc checkpoint (no \"\(metadataKey)\" in __metadata__)")
        }
        let info: Info
        do { info = try coders().1.decode(Info.self, from: Data(text.utf8)) } catch {
            throw NNCCError(file: path, path: "__metadata__.\(metadataKey)", "cannot read the checkpoint's counters: \(error)")
        }
        guard info.format == 1, let rng = UInt64(info.rng), info.step >= 0, info.epoch >= 0 else {
            throw NNCCError(file: path, path: "__metadata__.\(metadataKey)", "unsupported format or invalid counters")
        }
        guard info.model == model else { throw NNCCError(file: path, "checkpoint of model \"\(info.model)\", not \"\(model)\"") }
        guard info.optimizer == kind else {
            throw NNCCError(file: path, "checkpoint of a \(info.optimizer) run; this model trains with \(kind)")
        }
        let byName = Dictionary(tensors.map { ($0.name, $0.tensor) }, uniquingKeysWith: { a, _ in a })
        let names = context.paramNames()
        func tensor(_ name: String, _ i: Int) throws -> [Float] {
            guard let t = byName[name] else { throw NNCCError(file: path, path: name, "missing from the checkpoint") }
            guard t.shape == context.paramShape(i) else {
                throw NNCCError(file: path, path: name, "shape \(t.shape), expected \(context.paramShape(i))")
            }
            return t.data
        }
        let params = try names.enumerated().map { try tensor($1, $0) }
        let slots = try (0..<2).map { slot in try names.enumerated().map { try tensor("optimizer.\(slot).\($1)", $0) } }
        return Checkpoint(info: info, params: params, optimizer: .init(slots: slots, step: info.step, rng: rng))
    }

    /// Puts the parameters and the optimizer state back into `context`.
    public func restore(into context: ModelContext) throws {
        for (i, p) in params.enumerated() { try context.setParam(i, p) }
        try context.setOptimizerState(optimizer)
    }
}
