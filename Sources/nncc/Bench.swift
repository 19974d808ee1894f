import ArgumentParser
import Foundation
import NNCC
import NNCCRuntime

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Median and p90 latency of forward at a batch size, examples/s and GFLOP/s.")
    @Argument(help: "Model description (.json).") var model: String
    @Flag(help: "Time the training step instead of inference.") var train = false
    @Option(help: "Minimum seconds of timed runs.") var seconds: Double = 1.0
    @OptionGroup var build: BuildFlags

    func run() throws {
        if train { throw NNCCError("bench --train needs training builds, which are not implemented yet") }
        let options = try build.options(defaultBatch: 1)
        let session = try Session(modelPath: model, options: options)
        let batch = session.library.maxBatch
        var rng = SystemRandomNumberGenerator()
        let x = (0..<(batch * session.library.inputSize)).map { _ in Float.random(in: -1...1, using: &rng) }
        var times = [Double]()
        try x.withUnsafeBufferPointer { buf in
            for _ in 0..<3 { _ = try session.context.forward(buf, batch: batch) }  // warm caches
            let start = DispatchTime.now().uptimeNanoseconds
            while times.count < 20 || (Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 < seconds && times.count < 100_000) {
                let t0 = DispatchTime.now().uptimeNanoseconds
                _ = try session.context.forward(buf, batch: batch)
                times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e3)
            }
        }
        times.sort()
        let median = times[times.count / 2], p90 = times[min(times.count - 1, times.count * 9 / 10)]
        let flops = Double(flopsPerExample(session.products.graph) * batch)
        print(String(format: "%@ batch %d: median %.1f us, p90 %.1f us, %.0f examples/s, %.2f GFLOP/s (%d runs, %@ target, %d thread%@)",
                     session.products.name, batch, median, p90, Double(batch) / median * 1e6, flops / median / 1e3,
                     times.count, options.target.rawValue, options.threads, options.threads == 1 ? "" : "s"))
    }
}
