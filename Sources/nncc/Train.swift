import ArgumentParser
import Foundation
import NNCC
import NNCCRuntime
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a model on an .npz data set (keys x and y) with its train settings; flags override them.")

    @Argument(help: "Model description (.json) with a train section.") var model: String
    @Option(help: "Training data (.npz: x float32 [N, ...input shape], y labels or targets).") var data: String
    @Option(help: "Validation data (.npz), evaluated after every epoch.") var val: String?
    @Option(help: "Epochs, in total when resuming (default: train.epochs, else 1).") var epochs: Int?
    @Option(help: "Examples per step (default: train.batch_size, else 32).") var batchSize: Int?
    @Option(parsing: .unconditional, help: "Learning rate (default: train.optimizer.lr, else 0.001 for adam, 0.01 for sgd).") var lr: Float?
    @Flag(help: "Visit examples in file order every epoch.") var noShuffle = false
    @Option(help: "Initial weights (.safetensors); default: the file the model names, else the seed's init.") var weights: String?
    @Option(help: "Write the trained weights here (.safetensors).") var save: String?
    @Option(help: "Write per-epoch metrics here (.csv).") var log: String?
    @Option(help: "Write a loss chart here (.svg).") var plot: String?
    @OptionGroup var runFlags: TrainRunFlags
    // Diagnostics (issue 14, h/train-b).
    @Option(help: ArgumentHelp("Per layer and epoch, chart the weight gradient's L2 norm and the update-to-weight ratio here (.svg; default: none); "
        + "warns on stderr when a layer's gradient norm falls below 1e-6 or rises over 1000 times its first epoch's.",
        valueName: "file.svg")) var gradReport: String?
    @OptionGroup var machine: MachineFlags
    @OptionGroup var overwrite: OverwriteFlags

    func validate() throws {
        if let e = epochs, !(1...(1 << 20)).contains(e) { throw ValidationError("--epochs must be in 1...\(1 << 20)") }
        if let b = batchSize, !(1...Limits.batch).contains(b) { throw ValidationError("--batch-size must be in 1...\(Limits.batch)") }
        if let lr, !(lr.isFinite && lr >= 0) { throw ValidationError("--lr must be a finite number >= 0") }
    }

    func run() throws {
        let loaded = try Pipeline.load(model)
        guard var cfg = loaded.graph.train else {
            if loaded.embeddedWeights != nil {
                throw NNCCError(file: model, "an ONNX file carries no training settings (loss, optimizer); describe the "
                    + "model in nncc's JSON format with a train section to train it")
            }
            throw NNCCError(file: model, path: "train", "the model has no train section; nncc train needs one with at least "
                + "\"loss\" and \"optimizer\", e.g. \"train\": {\"loss\": \"cross_entropy\", \"optimizer\": {\"type\": \"adam\", \"lr\": 0.001}}")
        }
        // The weights file the model names is an input too: saving over it replaces the starting point.
        try overwrite.check(inputs: [("the model", model), ("--data", data), ("--val", val), ("--weights", weights),
                                     ("the model's weights file", weights == nil ? loaded.weightsPath : nil)],
                            outputs: [("--save", save), ("--log", log), ("--plot", plot), ("--grad-report", gradReport)] + runFlags.outputs)
        if let epochs { cfg.epochs = epochs }
        if let batchSize { cfg.batchSize = batchSize }
        if let lr { cfg.optimizer.lr = lr }
        if noShuffle { cfg.shuffle = false }
        if let schedule = runFlags.schedule { cfg.lrSchedule = schedule }
        try runFlags.needsValidation(cfg, hasVal: val != nil)
        // Bad data fails before the (slower) compile.
        let train = try Dataset.load(path: data, model: loaded, loss: cfg.loss)
        let valSet = try val.map { try Dataset.load(path: $0, model: loaded, loss: cfg.loss) }
        try machine.requireRunnable()
        var compileOptions = try machine.compileOptions(maxBatch: cfg.batchSize, train: true)
        compileOptions.gradientStats = gradReport != nil
        let session = try Session(model: loaded, weights: weights, options: compileOptions)
        var gradients = GradientReport(model: loaded.graph.name)
        let trainer = try Trainer(session: session, config: cfg)
        var options = FitOptions(checkpointDirectory: runFlags.checkpointDirectory, earlyStoppingPatience: runFlags.earlyStopping)
        if let dir = runFlags.resume {
            options.resume = try Checkpoint.read(directory: dir, for: session.context, model: loaded.graph.name,
                                                 optimizer: cfg.optimizer.kind.rawValue)
            let done = options.resume!.info.epoch
            print(done >= cfg.epochs ? "\(dir) is at epoch \(done): nothing left of \(cfg.epochs) epochs"
                                     : "resuming from \(dir) after epoch \(done)\(options.resume!.info.partial.map { ", step \($0.steps)" } ?? "")")
        }
        let bar = isatty(STDERR_FILENO) == 1 ? ProgressBar(epochs: cfg.epochs) : nil
        // With checkpoints, the first Ctrl-C ends the step, saves a checkpoint and exits (130).
        if options.checkpointDirectory != nil { trainer.shouldStop = { Interrupt.deferredInterrupt } }
        // The bar is redrawn during an epoch and erased when it ends: each epoch's line takes its place.
        let history: TrainingHistory, outcome: Trainer.Outcome
        do {
            (history, outcome) = try Interrupt.deferringInterrupt {
                try trainer.fitWithOutcome(train, validation: valSet, options: options, progress: bar?.update) { stats in
                    bar?.clear()
                    print(line(stats, of: cfg.epochs) + (cfg.lrSchedule == nil ? "" : " lr \(String(format: "%.4g", trainer.learningRate))"))
                    fflush(stdout)
                    if let layers = stats.gradients { gradients.append(layers).forEach(printErr) }
                }
            }
        } catch let e as NNCCError where e.code == ModelLibrary.errorNonFinite && gradReport != nil && !gradients.epochs.isEmpty {
            // A diverged run is when the gradient report matters most: it shows the epochs before, and the
            // steps of this one up to the refused step (which added nothing to the sums).
            bar?.clear()
            if let (steps, sums) = try trainer.context.gradientSums(reset: true), steps > 0 {
                let layers = GradientReport.layers(graph: loaded.graph, names: trainer.context.paramNames(), steps: steps, sums: sums)
                gradients.append(layers).forEach(printErr)
            }
            try writeGradReport(gradients)
            throw e
        }
        switch outcome {
        case .completed: break
        case let .earlyStopped(epoch, best):
            print("early stopping after epoch \(epoch): no lower validation loss for \(runFlags.earlyStopping ?? 0) epochs; the lowest was epoch \(best)"
                + (options.checkpointDirectory.map { " (\(($0 as NSString).appendingPathComponent(Checkpoint.bestFile)))" } ?? ""))
        case let .stopped(epoch):
            bar?.clear()
            let dir = options.checkpointDirectory ?? ""
            print("interrupted in epoch \(epoch): saved \((dir as NSString).appendingPathComponent(Checkpoint.lastFile)); "
                + "continue with --resume \(dir)")
            fflush(stdout)
            Foundation.exit(130)
        }
        if let save {
            try trainer.saveWeights(path: save)
            print("saved weights to \(save)")
        } else {
            printErr("note: the trained weights were not saved (use --save W.safetensors)")
        }
        if let log {
            try AtomicFile.write(Data(history.csv.utf8), to: log)
            print("wrote \(log)")
        }
        if let plot {
            try AtomicFile.write(Data(history.svg().utf8), to: plot)
            print("wrote \(plot)")
        }
        try writeGradReport(gradients)
    }

    func writeGradReport(_ report: GradientReport) throws {
        guard let gradReport else { return }
        try AtomicFile.write(Data(report.svg().utf8), to: gradReport)
        print("wrote \(gradReport)")
    }

    func line(_ s: EpochStats, of total: Int) -> String {
        var out = "epoch \(s.epoch)/\(total) loss \(String(format: "%.4f", s.loss))"
        if let a = s.accuracy { out += " acc \(String(format: "%.4f", a))" }
        if let v = s.valLoss { out += " val_loss \(String(format: "%.4f", v))" }
        if let a = s.valAccuracy { out += " val_acc \(String(format: "%.4f", a))" }
        return out + " \(Int(s.examplesPerSecond.rounded())) ex/s"
    }
}

/// `epoch 3/10 [=========>     ] 412/1437 loss 0.2311 1234 ex/s` on stderr, redrawn at most ~10 times a second.
final class ProgressBar {
    let epochs: Int
    var lastDraw = 0.0, width = 0

    init(epochs: Int) { self.epochs = epochs }

    func update(_ p: Trainer.Progress) {
        guard p.done == p.total || p.seconds - lastDraw >= 0.1 || p.step == 1 else { return }
        lastDraw = p.seconds
        let cells = 30, filled = p.done * cells / max(1, p.total)
        let arrow = filled >= cells ? String(repeating: "=", count: cells)
            : String(repeating: "=", count: filled) + ">" + String(repeating: " ", count: cells - filled - 1)
        let rate = p.seconds > 0 ? Double(p.done) / p.seconds : 0
        let text = "epoch \(p.epoch)/\(epochs) [\(arrow)] \(p.done)/\(p.total) loss \(String(format: "%.4f", p.loss)) \(Int(rate.rounded())) ex/s"
        let pad = max(0, width - text.count)
        width = text.count
        FileHandle.standardError.write(Data(("\r" + text + String(repeating: " ", count: pad)).utf8))
    }

    /// Erases the bar so the epoch's summary line takes its place.
    func clear() {
        FileHandle.standardError.write(Data(("\r" + String(repeating: " ", count: width) + "\r").utf8))
        width = 0
        lastDraw = 0
    }
}

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Loss and, for classifiers, accuracy on an .npz data set (keys x and y), in inference mode.")

    @Argument(help: "Model description (.json) or ONNX file (.onnx).") var model: String
    @Option(help: "Test data (.npz: x float32 [N, ...input shape], y labels or targets).") var data: String
    @Option(help: "Weights (.safetensors); default: the file the model names, else the seed's init (with a warning).") var weights: String?
    @Option(help: "Classifiers: write the confusion matrix here (.svg; default: none).") var confusion: String?
    @OptionGroup var machine: MachineFlags
    @OptionGroup var overwrite: OverwriteFlags
    @OptionGroup var custom: CustomOpFlags

    func run() throws {
        let loaded = try custom.load(model)
        try overwrite.check(inputs: [("the model", model), ("--data", data), ("--weights", weights)],
                            outputs: [("--confusion", confusion)])
        let arrays = try Npz.read(path: data)
        // Without a train section the labels decide: integers are classes, floats are regression targets.
        let loss = loaded.graph.train?.loss ?? Dataset.inferredLoss(arrays)
        if confusion != nil, loss != .crossEntropy {
            throw UsageError(message: "--confusion needs a classifier (class labels, cross_entropy); \(data) holds regression targets")
        }
        let test = try Dataset.from(arrays, file: data, model: loaded, loss: loss)
        try machine.requireRunnable()
        let session = try Session(model: loaded, weights: weights,
                                  options: try machine.compileOptions(maxBatch: defaultRunBatch))
        warnIfSeededWeights(session)
        let r = try Trainer.evaluate(test, context: session.context, graph: session.model.graph, loss: loss)
        print("loss \(String(format: "%.6g", r.loss))")
        if let a = r.accuracy, let c = r.correct {
            print("accuracy \(String(format: "%.4f", a)) (\(c)/\(r.count))")
        }
        if let m = r.confusion {
            print("\n" + ClassificationReport(confusion: m).text, terminator: "")
            if let confusion {
                try AtomicFile.write(Data(ClassificationReport.confusionSVG(m, title: "\(loaded.graph.name): confusion matrix").utf8),
                                     to: confusion)
                print("wrote \(confusion)")
            }
        }
    }
}
