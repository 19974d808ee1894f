import ArgumentParser
import Foundation
import NNCC
import NNCCRuntime

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Median and p90 latency of forward (or a training step) at a batch size, examples/s and GFLOP/s.")
    @Argument(help: "Model description (.json) or ONNX file (.onnx).") var model: String
    @Flag(help: "Time the training step (forward, loss, backward, update) instead of inference.") var train = false
    @Option(help: "Minimum seconds of timed runs.") var seconds: Double = 1.0
    @Flag(help: "Build with the per-layer profile and print each kernel's time, share, GFLOP/s or GB/s and fraction of the measured peak (default: off).")
    var layers = false
    @OptionGroup var build: BuildFlags<CompileBatch>
    @OptionGroup var custom: CustomOpFlags

    func run() throws {
        guard seconds > 0, seconds <= 600 else { throw ValidationError("--seconds must be in (0, 600]") }
        let loaded = try custom.load(model)
        if train && loaded.graph.train == nil {
            throw NNCCError(file: model, "bench --train needs the model's \"train\" section")
        }
        var options = try build.options(train: train, loads: true)
        options.profile = layers
        let session = try Session(model: loaded, options: options)
        let lib = session.library, batch = lib.maxBatch
        var rng = SplitMix64(seed: 42)
        let x = (0..<(batch * lib.inputSize)).map { _ in Float.random(in: -1...1, using: &rng) }
        let labels = (0..<batch).map { _ in Int32.random(in: 0..<Int32(max(lib.outputSize, 1)), using: &rng) }
        let targets = (0..<(batch * lib.outputSize)).map { _ in Float.random(in: 0...1, using: &rng) }
        let classifier = loaded.graph.train?.loss == .crossEntropy
        let times = try x.withUnsafeBufferPointer { buf -> [Double] in
            let once = {
                if !train { _ = try session.context.forward(buf, batch: batch) }
                else if classifier { _ = try session.context.trainStep(buf, labels: labels, batch: batch) }
                else { _ = try session.context.trainStep(buf, targets: targets, batch: batch) }
            }
            _ = try session.context.profile(reset: true)
            return try measure(seconds: seconds, once)
        }
        let median = times[times.count / 2], p90 = times[min(times.count - 1, times.count * 9 / 10)]
        // A training step costs about three forwards: forward, ∂input and ∂weights.
        let flops = Double(flopsPerExample(session.products.graph)) * Double(batch) * (train ? 3 : 1)
        print(String(format: "%@ %@ batch %d: median %.1f us, p90 %.1f us, %.0f examples/s, %.2f GFLOP/s (%d runs, %@ target, %d thread%@)",
                     session.products.name, train ? "train step" : "forward", batch, median, p90,
                     Double(batch) / median * 1e6, flops / median / 1e3, times.count, options.target.label,
                     options.threads, options.threads == 1 ? "" : "s"))
        if layers, let entries = try session.context.profile(reset: false) {
            let table = LayerTable(graph: session.products.graph, batch: batch, peak: try Peak.measure(target: options.target, cc: options.cc))
            print(table.render(entries, calls: times.count + measureWarmups), terminator: "")
        }
    }
}

let measureWarmups = 3

/// Runs `body` a few times to warm caches, then at least 20 times and for at
/// least `seconds`; returns the sorted times in microseconds.
func measure(seconds: Double, _ body: () throws -> Void) rethrows -> [Double] {
    for _ in 0..<measureWarmups { try body() }
    var times = [Double]()
    let start = DispatchTime.now().uptimeNanoseconds
    func elapsed() -> Double { Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }
    while times.count < 20 || (elapsed() < seconds && times.count < 100_000) {
        let t0 = DispatchTime.now().uptimeNanoseconds
        try body()
        times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e3)
    }
    return times.sorted()
}
