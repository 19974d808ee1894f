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
    @Option(help: "Epochs (default: train.epochs).") var epochs: Int?
    @Option(help: "Examples per step (default: train.batch_size).") var batchSize: Int?
    @Option(parsing: .unconditional, help: "Learning rate (default: train.optimizer.lr).") var lr: Float?
    @Flag(help: "Visit examples in file order every epoch.") var noShuffle = false
    @Option(help: "Initial weights (.safetensors); default: the file the model names, else the seed's init.") var weights: String?
    @Option(help: "Write the trained weights here (.safetensors).") var save: String?
    @Option(help: "Write per-epoch metrics here (.csv).") var log: String?
    @Option(help: "Write a loss chart here (.svg).") var plot: String?
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
                            outputs: [("--save", save), ("--log", log), ("--plot", plot)])
        if let epochs { cfg.epochs = epochs }
        if let batchSize { cfg.batchSize = batchSize }
        if let lr { cfg.optimizer.lr = lr }
        if noShuffle { cfg.shuffle = false }
        // Bad data fails before the (slower) compile.
        let train = try Dataset.load(path: data, model: loaded, loss: cfg.loss)
        let valSet = try val.map { try Dataset.load(path: $0, model: loaded, loss: cfg.loss) }
        try machine.requireRunnable()
        let session = try Session(model: loaded, weights: weights,
                                  options: CompileOptions(maxBatch: cfg.batchSize, train: true, target: machine.target, threads: machine.threads, cc: machine.cc))
        let trainer = try Trainer(session: session, config: cfg)
        let bar = isatty(STDERR_FILENO) == 1 ? ProgressBar(epochs: cfg.epochs) : nil
        // The bar is redrawn during an epoch and erased when it ends: each epoch's line takes its place.
        let history = try trainer.fit(train, validation: valSet, progress: bar?.update) { stats in
            bar?.clear()
            print(line(stats, of: cfg.epochs))
            fflush(stdout)
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
    @Option(help: "Weights (.safetensors); default: the file the model names, else the seed's init.") var weights: String?
    @OptionGroup var machine: MachineFlags

    func run() throws {
        let loaded = try Pipeline.load(model)
        let arrays = try Npz.read(path: data)
        // Without a train section the labels decide: integers are classes, floats are regression targets.
        let loss = loaded.graph.train?.loss ?? Dataset.inferredLoss(arrays)
        let test = try Dataset.from(arrays, file: data, model: loaded, loss: loss)
        try machine.requireRunnable()
        let session = try Session(model: loaded, weights: weights,
                                  options: CompileOptions(maxBatch: defaultRunBatch, target: machine.target, threads: machine.threads, cc: machine.cc))
        let r = try Trainer.evaluate(test, context: session.context, graph: session.model.graph, loss: loss)
        print("loss \(String(format: "%.6g", r.loss))")
        if let a = r.accuracy, let c = r.correct {
            print("accuracy \(String(format: "%.4f", a)) (\(c)/\(r.count))")
        }
    }
}
