import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - Losses

/// The losses as PyTorch defines them, summed over examples; callers divide.
public enum Losses {
    /// logsumexp(logits) − logit[label]; from probabilities (a final softmax) −log(max(p, 1e-12)).
    public static func crossEntropy(_ row: ArraySlice<Float>, label: Int, probabilities: Bool) -> Double {
        let target = Double(row[row.startIndex + label])
        if probabilities { return -log(max(target, 1e-12)) }
        let m = Double(row.max() ?? 0)
        return m + log(row.reduce(0.0) { $0 + exp(Double($1) - m) }) - target
    }

    /// −(t log p + (1 − t) log(1 − p)) with each log clamped at −100, as BCELoss.
    public static func binaryCrossEntropy(_ p: Float, _ t: Float) -> Double {
        let p = min(max(Double(p), 0), 1), t = Double(t)
        return -(t * max(log(p), -100) + (1 - t) * max(log(1 - p), -100))
    }

    public static func argmax(_ row: ArraySlice<Float>) -> Int {
        var best = row.startIndex
        for i in row.indices where row[i] > row[best] { best = i }
        return best - row.startIndex
    }
}

// MARK: - Trainer

public struct Evaluation {
    public var loss: Double
    /// Classifiers (cross_entropy) only.
    public var accuracy: Double?
    public var correct: Int?
    public var count: Int
    /// Classifiers only: `confusion[true class][predicted class]` example counts.
    public var confusion: [[Int]]? = nil
}

public struct EpochStats {
    public var epoch: Int
    public var loss: Double
    /// Training accuracy: the model's inference-mode predictions on each batch just before its step.
    public var accuracy: Double?
    public var valLoss: Double?
    public var valAccuracy: Double?
    public var examplesPerSecond: Double
    public var stepLosses: [Double]
    /// Per layer, from a --grad-stats library (GradientReport.swift).
    public var gradients: [LayerGradient]? = nil

    public init(epoch: Int, loss: Double, accuracy: Double? = nil, valLoss: Double? = nil, valAccuracy: Double? = nil,
                examplesPerSecond: Double = 0, stepLosses: [Double] = []) {
        (self.epoch, self.loss, self.accuracy, self.valLoss, self.valAccuracy) = (epoch, loss, accuracy, valLoss, valAccuracy)
        (self.examplesPerSecond, self.stepLosses) = (examplesPerSecond, stepLosses)
    }
}

/// Drives a --train library: shuffles, batches, augments, steps and evaluates.
public final class Trainer {
    public struct Progress {
        public var epoch: Int, step: Int, steps: Int, done: Int, total: Int
        /// Mean loss of the epoch so far.
        public var loss: Double
        public var seconds: Double
    }

    public let context: ModelContext
    public let graph: Graph
    public let config: TrainConfig
    public let seed: UInt64
    public let augmenter: Augmenter?
    /// Costs one inference forward per batch; off saves ~a third of the time.
    public var trackAccuracy = true
    /// Applied (and checked by the library: finite and >= 0) when an epoch starts; with a `scheduler`,
    /// set to the schedule's rate before every step.
    public var learningRate: Float
    /// Optimizer steps so far (restored by a checkpoint): the position in a per-step schedule.
    public internal(set) var stepsTaken = 0
    /// Sets the rate of every step when given (fit makes one from the train section's lr_schedule).
    public var scheduler: LRScheduler?
    /// Asked after every step; true stops the epoch there (Ctrl-C), `runEpoch` throwing `Stopped`.
    public var shouldStop: (() -> Bool)?

    /// `config` defaults to the model's train section. Loss, optimizer kind and clipping are compiled into
    /// the library, so a config should differ from the compiled one only in lr (set with set_lr), batch
    /// size (up to the library's max batch), epochs, shuffle and augment, which are applied here.
    public init(context: ModelContext, graph: Graph, config: TrainConfig? = nil, seed: UInt64? = nil) throws {
        guard let cfg = config ?? graph.train else {
            throw NNCCError(path: "train", "model \"\(graph.name)\" has no train section (loss, optimizer, batch_size, ...)")
        }
        let lib = context.library
        guard lib.canTrain else { throw NNCCError(file: lib.path, "library \(lib.name) was compiled without --train") }
        guard cfg.batchSize >= 1, cfg.batchSize <= lib.maxBatch else {
            throw NNCCError(file: lib.path, "batch size \(cfg.batchSize) outside the library's 1...\(lib.maxBatch)")
        }
        let shape = graph.input.shape
        if cfg.augment.isEnabled {
            guard shape.count == 3 else {
                throw NNCCError(path: "train.augment", "augmentation needs an image input [C, H, W]; this model's input is [\(list(shape))]")
            }
            augmenter = Augmenter(cfg.augment, seed: seed ?? graph.seed, channels: shape[0], height: shape[1], width: shape[2])
        } else {
            augmenter = nil
        }
        self.context = context; self.graph = graph; self.config = cfg; self.seed = seed ?? graph.seed
        learningRate = cfg.optimizer.lr
        try context.setLearningRate(learningRate)
    }

    public convenience init(session: Session, config: TrainConfig? = nil) throws {
        try self.init(context: session.context, graph: session.model.graph, config: config)
    }

    /// Example order of an epoch (epochs count from 1).
    public static func order(count: Int, epoch: Int, seed: UInt64, shuffle: Bool) -> [Int] {
        var order = Array(0..<count)
        guard shuffle, count > 1 else { return order }
        var rng = SplitMix64(seed: seed, stream: shuffleStream, epoch)
        for i in stride(from: count - 1, to: 0, by: -1) { order.swapAt(i, rng.below(i + 1)) }
        return order
    }

    /// One pass over `data` in batches of batch_size, the last one partial. Epochs count from 1;
    /// the number seeds the shuffle and the augmentation.
    /// `from` continues an epoch a checkpoint stopped partway.
    public func runEpoch(_ data: Dataset, epoch: Int, from partial: Checkpoint.PartialEpoch? = nil,
                         progress: ((Progress) -> Void)? = nil) throws -> EpochStats {
        let lib = context.library, inSize = lib.inputSize
        try Self.check(data, lib, loss: config.loss)
        try context.setLearningRate(learningRate)
        let n = data.count, bs = config.batchSize, steps = (n + bs - 1) / bs
        let order = Self.order(count: n, epoch: epoch, seed: seed, shuffle: config.shuffle)
        let classifier = config.loss == .crossEntropy
        var xb = [Float](repeating: 0, count: bs * inSize)
        var lossSum = partial?.lossSum ?? 0, correct = partial?.correct ?? 0, stepLosses = partial?.stepLosses ?? []
        let start = DispatchTime.now().uptimeNanoseconds
        func seconds() -> Double { Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }
        _ = try context.gradientSums(reset: true)

        for step in min(partial?.steps ?? 0, steps)..<steps {
            if let scheduler {
                learningRate = Float(scheduler.lr(epoch: epoch - 1, step: stepsTaken))
                try context.setLearningRate(learningRate)
            }
            let idx = order[(step * bs)..<min(n, (step + 1) * bs)], b = idx.count
            gather(data, idx, epoch: epoch, into: &xb)
            let loss: Float
            do {
                let (l, c) = try self.step(xb, batch: b, examples: idx, data: data, accuracy: classifier && trackAccuracy)
                (loss, correct) = (l, correct + c)
            } catch let e as NNCCError where e.code == ModelLibrary.errorNonFinite {
                throw nonFinite(epoch: epoch, step: step + 1)
            }
            stepsTaken += 1
            lossSum += Double(loss) * Double(b)
            stepLosses.append(Double(loss))
            let done = min(n, (step + 1) * bs)
            progress?(Progress(epoch: epoch, step: step + 1, steps: steps, done: done, total: n,
                               loss: lossSum / Double(done), seconds: seconds()))
            if step + 1 < steps, shouldStop?() == true {
                throw Stopped(epoch: epoch, partial: .init(steps: step + 1, lossSum: lossSum, correct: correct, stepLosses: stepLosses))
            }
        }
        var stats = EpochStats(epoch: epoch, loss: lossSum / Double(n),
                               accuracy: classifier && trackAccuracy ? Double(correct) / Double(n) : nil,
                               examplesPerSecond: Double(n) / max(seconds(), 1e-9), stepLosses: stepLosses)
        if let (steps, sums) = try context.gradientSums(reset: true) {
            stats.gradients = GradientReport.layers(graph: graph, names: context.paramNames(), steps: steps, sums: sums)
        }
        return stats
    }

    /// Why the library refused a step (the refused step changed no parameter): before any step, a parameter
    /// that is NaN or infinite in the initial weights; else divergence. Carries the library's code.
    private func nonFinite(epoch: Int, step: Int) -> NNCCError {
        var e = NNCCError("loss became NaN or infinite at epoch \(epoch), step \(step) (learning rate \(learningRate)); "
            + "the step was not taken; try a lower learning rate")
        if stepsTaken == 0 {
            for (i, name) in context.paramNames().enumerated() {
                if let bad = context.getParam(i).first(where: { !$0.isFinite }) {
                    e = NNCCError("epoch \(epoch), step \(step): parameter \"\(name)\" holds \(bad) in the initial weights, "
                        + "so the loss is not finite; fix the weights")
                    break
                }
            }
        }
        e.code = ModelLibrary.errorNonFinite
        return e
    }

    /// Copies the examples `idx` of `data` into `xb`, augmented as in `epoch`.
    func gather(_ data: Dataset, _ idx: ArraySlice<Int>, epoch: Int, into xb: inout [Float]) {
        let inSize = context.library.inputSize
        data.x.withUnsafeBufferPointer { src in
            xb.withUnsafeMutableBufferPointer { dst in
                for (k, i) in idx.enumerated() {
                    let from = UnsafeBufferPointer(rebasing: src[(i * inSize)..<((i + 1) * inSize)])
                    let to = UnsafeMutableBufferPointer(rebasing: dst[(k * inSize)..<((k + 1) * inSize)])
                    if let aug = augmenter {
                        aug.apply(aug.params(epoch: epoch, index: i), from, to)
                    } else {
                        _ = to.initialize(from: from)
                    }
                }
            }
        }
    }

    /// One optimizer step on the gathered batch; with `accuracy`, first counts the correct predictions.
    func step(_ xb: [Float], batch b: Int, examples idx: ArraySlice<Int>, data: Dataset, accuracy: Bool) throws
        -> (loss: Float, correct: Int) {
        let inSize = context.library.inputSize, outSize = context.library.outputSize
        return try xb.withUnsafeBufferPointer { buf in
            let xs = UnsafeBufferPointer(rebasing: buf[0..<(b * inSize)])
            if let all = data.labels {
                let labels = idx.map { all[$0] }
                var correct = 0
                if accuracy {
                    let y = try context.forward(xs, batch: b)
                    for k in 0..<b where Losses.argmax(y[(k * outSize)..<((k + 1) * outSize)]) == Int(labels[k]) { correct += 1 }
                }
                return (try context.trainStep(xs, labels: labels, batch: b), correct)
            }
            var t = [Float]()
            t.reserveCapacity(b * outSize)
            for i in idx { t += data.targets![(i * outSize)..<((i + 1) * outSize)] }
            return (try context.trainStep(xs, targets: t, batch: b), 0)
        }
    }

    public func evaluate(_ data: Dataset) throws -> Evaluation {
        try Self.evaluate(data, context: context, graph: graph, loss: config.loss)
    }

    /// Inference-mode forward in batches of the library's max batch; the loss is computed here.
    public static func evaluate(_ data: Dataset, context: ModelContext, graph: Graph, loss: Loss) throws -> Evaluation {
        let lib = context.library, inSize = lib.inputSize, outSize = lib.outputSize
        try check(data, lib, loss: loss)
        // A final softmax means the outputs are already probabilities.
        let probabilities: Bool
        if case .softmax = graph.nodes[graph.outputs[0]].op { probabilities = true } else { probabilities = false }
        var sum = 0.0, correct = 0, start = 0
        var confusion = [[Int]](repeating: [Int](repeating: 0, count: outSize), count: data.labels == nil ? 0 : outSize)
        try data.x.withUnsafeBufferPointer { buf in
            while start < data.count {
                let b = min(lib.maxBatch, data.count - start)
                let y = try context.forward(UnsafeBufferPointer(rebasing: buf[(start * inSize)..<((start + b) * inSize)]), batch: b)
                for k in 0..<b {
                    let row = y[(k * outSize)..<((k + 1) * outSize)], e = start + k
                    if let labels = data.labels {
                        let label = Int(labels[e])
                        sum += Losses.crossEntropy(row, label: label, probabilities: probabilities)
                        let predicted = Losses.argmax(row)
                        if predicted == label { correct += 1 }
                        confusion[label][predicted] += 1
                    } else if let t = data.targets {
                        for (j, v) in row.enumerated() {
                            let tv = t[e * outSize + j]
                            sum += loss == .mse ? Double(v - tv) * Double(v - tv) : Losses.binaryCrossEntropy(v, tv)
                        }
                    }
                }
                start += b
            }
        }
        if data.labels != nil {
            return Evaluation(loss: sum / Double(data.count), accuracy: Double(correct) / Double(data.count),
                              correct: correct, count: data.count, confusion: confusion)
        }
        return Evaluation(loss: sum / Double(data.count * outSize), accuracy: nil, correct: nil, count: data.count)
    }

    /// NAME_save_weights through AtomicFile: never a half-written file under `path`.
    public func saveWeights(path: String) throws {
        try AtomicFile.replace(path) { tmp in
            do { try context.saveWeights(path: tmp) } catch let e as NNCCError { throw NNCCError(file: path, e.message) }
        }
    }

    static func check(_ d: Dataset, _ lib: ModelLibrary, loss: Loss) throws {
        guard d.count > 0, d.x.count == d.count * lib.inputSize else {
            throw NNCCError("data set: expected \(d.count) × \(lib.inputSize) input floats, found \(d.x.count)")
        }
        if loss == .crossEntropy {
            guard let l = d.labels, l.count == d.count else { throw NNCCError("data set: cross_entropy needs one class label per example") }
            do { try Labels.check(l, classes: lib.outputSize) } catch let e as NNCCError { throw NNCCError("data set: \(e.message)") }
        } else {
            guard let t = d.targets, t.count == d.count * lib.outputSize else {
                throw NNCCError("data set: \(loss.rawValue) needs \(d.count) × \(lib.outputSize) target floats")
            }
        }
    }
}
