import ArgumentParser
import Foundation
import NNCC
import NNCCRuntime

struct LRFind: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lr-find",
        abstract: "Learning-rate range test (Smith 2017): one step per rate, rates rising exponentially from the initial "
            + "weights; prints the rate where the smoothed loss falls fastest and draws loss against rate.")

    @Argument(help: "Model description (.json) with a train section.") var model: String
    @Option(help: "Training data (.npz: x float32 [N, ...input shape], y labels or targets).") var data: String
    @Option(name: [.customShort("o"), .long], help: "Write the loss-against-rate chart here (.svg) (default: no chart).") var output: String?
    @Option(help: "Write step,lr,loss,smoothed_loss per step here (.csv) (default: none).") var log: String?
    @Option(help: "First rate.") var startLR: Double = 1e-7
    @Option(help: "Last rate.") var endLR: Double = 10
    @Option(help: "Steps (one rate each) unless the loss diverges first.") var steps: Int = 400
    @Option(help: "Examples per step (default: train.batch_size, else 32).") var batchSize: Int?
    @Option(help: "Initial weights (.safetensors); default: the file the model names, else the seed's init.") var weights: String?
    @OptionGroup var machine: MachineFlags
    @OptionGroup var overwrite: OverwriteFlags

    func validate() throws {
        guard startLR > 0, endLR > startLR, endLR.isFinite else {
            throw ValidationError("--start-lr and --end-lr must satisfy 0 < start < end (finite)")
        }
        if !(20...100_000).contains(steps) { throw ValidationError("--steps must be in 20...100000") }
        if let b = batchSize, !(1...Limits.batch).contains(b) { throw ValidationError("--batch-size must be in 1...\(Limits.batch)") }
    }

    func run() throws {
        let loaded = try Pipeline.load(model)
        guard var cfg = loaded.graph.train else {
            throw NNCCError(file: model, path: "train", "the model has no train section; lr-find trains with its loss and optimizer")
        }
        try overwrite.check(inputs: [("the model", model), ("--data", data), ("--weights", weights)], outputs: [("--output", output), ("--log", log)])
        if let batchSize { cfg.batchSize = batchSize }
        let train = try Dataset.load(path: data, model: loaded, loss: cfg.loss)
        try machine.requireRunnable()
        let session = try Session(model: loaded, weights: weights,
                                  options: try machine.compileOptions(maxBatch: cfg.batchSize, train: true))
        let trainer = try Trainer(session: session, config: cfg)
        var test = LRRangeTest()
        (test.startLR, test.endLR, test.steps) = (startLR, endLR, steps)
        let r = try trainer.rangeTest(train, test)
        print("\(r.lrs.count) steps from \(String(format: "%.3g", startLR)) to \(String(format: "%.3g", r.lrs.last ?? startLR))"
            + (r.diverged ? " (stopped: the loss diverged)" : ""))
        if let lr = r.suggestedLR {
            print("suggested learning rate: \(String(format: "%.3g", lr)) (steepest descent of the smoothed loss)")
        } else {
            printErr("note: too few steps before the loss diverged to suggest a rate; lower --start-lr")
        }
        if let log {
            let rows = r.lrs.indices.map { "\($0 + 1),\(String(format: "%.6g", r.lrs[$0])),\(String(format: "%.6g", r.losses[$0])),\(String(format: "%.6g", r.smoothed[$0]))\n" }
            try AtomicFile.write(Data(("step,lr,loss,smoothed_loss\n" + rows.joined()).utf8), to: log)
            print("wrote \(log)")
        }
        if let output {
            try AtomicFile.write(Data(r.svg(title: "\(loaded.graph.name): learning-rate range test").utf8), to: output)
            print("wrote \(output)")
        }
    }
}
