import ArgumentParser
import Foundation
import NNCC
import NNCCRuntime

/// `nncc train`'s options for the run around the epochs: schedule, checkpoints, resuming, early stopping.
struct TrainRunFlags: ParsableArguments {
    @Option(help: ArgumentHelp("Learning-rate schedule, TYPE[:key=value,...] or a JSON object: step, multi_step, exponential, "
        + "cosine, one_cycle, reduce_on_plateau, e.g. cosine:warmup_steps=100 (default: train.lr_schedule, else a constant rate; "
        + "see docs/training.md).", valueName: "schedule")) var lrSchedule: String?
    @Option(help: ArgumentHelp("Write DIR/last.safetensors (weights, optimizer state, counters) after every epoch and on Ctrl-C, "
        + "and DIR/best.safetensors (the weights of the lowest validation loss) (default: no checkpoints; with --resume, its DIR).",
        valueName: "dir")) var checkpoint: String?
    @Option(help: ArgumentHelp("Continue the run checkpointed in DIR, up to --epochs in total (default: start afresh).",
        valueName: "dir")) var resume: String?
    @Option(help: ArgumentHelp("Stop after this many epochs without a lower validation loss; needs --val (default: off).",
        valueName: "patience")) var earlyStopping: Int?

    func validate() throws {
        if let p = earlyStopping, !(1...(1 << 20)).contains(p) { throw ValidationError("--early-stopping must be in 1...\(1 << 20)") }
        if let s = lrSchedule {
            do { _ = try LRScheduleDecoder.parse(option: s) } catch let e as NNCCError { throw ValidationError("\(e)") }
        }
    }

    var schedule: LRSchedule? { lrSchedule.flatMap { try? LRScheduleDecoder.parse(option: $0) } }
    /// Checkpoints go to --checkpoint, else back into the --resume directory.
    var checkpointDirectory: String? { checkpoint ?? resume }

    /// The files a run writes into the checkpoint directory, for the overwrite check.
    var outputs: [(option: String, path: String?)] {
        guard let dir = checkpointDirectory else { return [] }
        return [Checkpoint.lastFile, Checkpoint.bestFile].map { ("--checkpoint", (dir as NSString).appendingPathComponent($0)) }
    }

    func needsValidation(_ cfg: TrainConfig, hasVal: Bool) throws {
        guard !hasVal else { return }
        if earlyStopping != nil { throw UsageError(message: "--early-stopping watches the validation loss: give --val") }
        if cfg.lrSchedule?.needsValidation == true { throw UsageError(message: "reduce_on_plateau watches the validation loss: give --val") }
    }
}
