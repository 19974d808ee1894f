import Foundation

/// How `fit` runs beyond the epochs: checkpoints, resuming, early stopping.
public struct FitOptions {
    /// Writes DIR/last.safetensors after every epoch (and when stopped), DIR/best.safetensors when the
    /// validation loss improves.
    public var checkpointDirectory: String?
    /// Continues this checkpoint's run (its epoch, steps, generator, schedule and history).
    public var resume: Checkpoint?
    /// Stops after this many epochs without a lower validation loss.
    public var earlyStoppingPatience: Int?
    public init(checkpointDirectory: String? = nil, resume: Checkpoint? = nil, earlyStoppingPatience: Int? = nil) {
        (self.checkpointDirectory, self.resume, self.earlyStoppingPatience) = (checkpointDirectory, resume, earlyStoppingPatience)
    }
}

extension Trainer {
    /// Thrown by `runEpoch` when `shouldStop` says so between two steps.
    public struct Stopped: Error {
        public var epoch: Int
        public var partial: Checkpoint.PartialEpoch
    }

    /// Why `fit` returned.
    public enum Outcome: Equatable {
        case completed
        /// Early stopping after this epoch; the best validation loss was that of `best`.
        case earlyStopped(epoch: Int, best: Int)
        /// `shouldStop` (Ctrl-C) during this epoch; the checkpoint (if any) resumes it.
        case stopped(epoch: Int)
    }

    /// Trains up to `epochs` epochs in total (a resumed run counts the checkpoint's), evaluating on
    /// `validation` after each. The rate follows the train section's lr_schedule.
    @discardableResult
    public func fit(_ train: Dataset, validation: Dataset? = nil, epochs: Int? = nil, options: FitOptions = FitOptions(),
                    progress: ((Progress) -> Void)? = nil, epochEnd: ((EpochStats) -> Void)? = nil) throws -> TrainingHistory {
        try fitWithOutcome(train, validation: validation, epochs: epochs, options: options, progress: progress, epochEnd: epochEnd).history
    }

    public func fitWithOutcome(_ train: Dataset, validation: Dataset? = nil, epochs: Int? = nil, options: FitOptions = FitOptions(),
                               progress: ((Progress) -> Void)? = nil, epochEnd: ((EpochStats) -> Void)? = nil) throws
        -> (history: TrainingHistory, outcome: Outcome) {
        let total = max(1, epochs ?? config.epochs)
        let stepsPerEpoch = (train.count + config.batchSize - 1) / config.batchSize
        if config.lrSchedule?.needsValidation == true, validation == nil {
            throw NNCCError(path: "train.lr_schedule", "reduce_on_plateau needs validation data (--val)")
        }
        if options.earlyStoppingPatience != nil, validation == nil {
            throw NNCCError("early stopping watches the validation loss: give validation data (--val)")
        }
        var sched = LRScheduler(config.lrSchedule, baseLR: Double(learningRate), totalSteps: total * stepsPerEpoch)
        var info = Checkpoint.Info(model: graph.name, optimizer: config.optimizer.kind.rawValue, epoch: 0, rng: "0", step: 0,
                                   plateau: sched.plateau, history: [])
        if let c = options.resume {
            try c.restore(into: context)
            info = c.info
            sched.plateau = c.info.plateau
            stepsTaken = Int(c.info.step)
        }
        var history = TrainingHistory(model: graph.name, epochs: info.history.map(\.stats))
        func save() throws {
            guard let dir = options.checkpointDirectory else { return }
            info.plateau = sched.plateau
            info.history = Checkpoint.EpochRecord.bounded(history.epochs)
            let names = context.paramNames()
            try Checkpoint.capture(context, info: info)
                .write(to: (dir as NSString).appendingPathComponent(Checkpoint.lastFile), names: names,
                       shapes: names.indices.map { context.paramShape($0) })
        }
        var epoch = info.epoch + 1
        while epoch <= total {
            scheduler = sched
            var stats: EpochStats
            do {
                stats = try runEpoch(train, epoch: epoch, from: info.partial, progress: progress)
            } catch let stop as Stopped {
                info.partial = stop.partial
                try save()
                return (history, .stopped(epoch: epoch))
            }
            info.partial = nil
            if let validation {
                let v = try evaluate(validation)
                (stats.valLoss, stats.valAccuracy) = (v.loss, v.accuracy)
                sched.epochEnded(validationLoss: v.loss)
                if v.loss < (info.bestValLoss ?? .infinity) {
                    (info.bestValLoss, info.epochsSinceBest) = (v.loss, 0)
                    if let dir = options.checkpointDirectory {
                        try saveWeights(path: (dir as NSString).appendingPathComponent(Checkpoint.bestFile))
                    }
                } else {
                    info.epochsSinceBest += 1
                }
            }
            history.epochs.append(stats)
            info.epoch = epoch
            try save()
            epochEnd?(stats)
            if let patience = options.earlyStoppingPatience, info.epochsSinceBest >= patience, epoch < total {
                return (history, .earlyStopped(epoch: epoch, best: epoch - info.epochsSinceBest))
            }
            epoch += 1
        }
        return (history, .completed)
    }
}
