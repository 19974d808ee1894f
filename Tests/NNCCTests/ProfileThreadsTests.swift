import Foundation
@testable import NNCC
import NNCCRuntime
import XCTest
#if canImport(Testing)
import Testing
#endif

/// `--threads N` splits forward's batch across the threads in whole GEMM tiles (ForwardSlices), and a
/// profile build (`CompileOptions.profile`) times every kernel call (Profile). Two gcc compiles: one
/// thread, and two threads with the profile.
struct ProfileThreadsTests {
    /// Conv, pools and dense at batches that split unevenly (the last share short), one tile and batch 1: the
    /// outputs equal one thread's bit for bit, and the profile saw thread 0's kernels.
    @Test func batchSplitMatchesOneThreadExactly() throws {
        let fixture = Fixture.torch("steps_lenet")
        var outputs: [[Float]] = []
        var profiled: [(name: String, seconds: Double)] = []
        for threads in [1, 2] {
            var options = CompileOptions(maxBatch: 20, threads: threads)
            options.profile = threads == 2
            let (ctx, _, products) = try Libraries.context(fixture.modelJSON, options: options)
            let source = try String(contentsOf: products.source, encoding: .utf8)
            #expect(source.contains("_forward_threads(") == (threads == 2))
            #expect(source.contains("nn_prof_now") == (threads == 2))
            var all: [Float] = []
            for (k, batch) in [20, 17, 9, 1].enumerated() {
                let x = FixtureKit.randomFloats(batch * ctx.library.inputSize, seed: 77 &+ UInt64(k))
                all += try x.withUnsafeBufferPointer { try ctx.forward($0, batch: batch) }
            }
            outputs.append(all)
            if threads == 2 { profiled = try #require(try ctx.profile(reset: true)) }
            #expect(try ctx.profile(reset: false)?.allSatisfy { $0.seconds == 0 } ?? true, "reset clears the sums")
        }
        #expect(outputs[0] == outputs[1], "two threads differ from one")
        let names = profiled.map(\.name)
        #expect(names.first?.hasPrefix("forward:1:") == true, "\(names)")
        #expect(names.count == 6 && profiled.allSatisfy { $0.seconds > 0 }, "the six kernels timed: \(profiled)")
    }

    /// Forward in slices of the batch (ForwardSlices; the cache budget lowered so lenet's 20 examples run
    /// 2 or 3 at a time): at uneven batches the outputs match whole-batch forward (within float rounding: a
    /// dense layer's tiles hold fewer rows), and two threads cut the batch exactly as one thread does.
    @Test func batchSlicesMatchWholeBatchAndOneThread() throws {
        let fixture = Fixture.torch("steps_lenet")
        func outputs(threads: Int, budget: Int) throws -> (y: [Float], source: String) {
            var options = CompileOptions(maxBatch: 20, threads: threads)
            options.sliceBudgetBytes = budget
            let (ctx, _, products) = try Libraries.context(fixture.modelJSON, options: options)
            var all: [Float] = []
            for (k, batch) in [20, 17, 9, 1].enumerated() {
                let x = FixtureKit.randomFloats(batch * ctx.library.inputSize, seed: 91 &+ UInt64(k))
                all += try x.withUnsafeBufferPointer { try ctx.forward($0, batch: batch) }
            }
            return (all, try String(contentsOf: products.source, encoding: .utf8))
        }
        let whole = try outputs(threads: 1, budget: Schedule.sliceBudgetDefault)
        #expect(!whole.source.contains("_run_share("), "lenet at 20 fits the default budget: no slices")
        // One example's largest layer holds 13·13 + 4·13·13 floats, 3.4 KB: 8 KB holds two, 14 KB four.
        for budget in [8 << 10, 14 << 10] {
            let one = try outputs(threads: 1, budget: budget), two = try outputs(threads: 2, budget: budget)
            let define = one.source.split(separator: "\n").first { $0.contains("_SLICE ") }
            let slice = define.flatMap { Int($0.split(separator: " ")[2]) }
            #expect(one.source.contains("_run_share(") && (2...4).contains(slice ?? 0), "budget \(budget): \(define ?? "no slices")")
            #expect(one.y == two.y, "budget \(budget): two threads differ from one")
            let problem = FixtureKit.assertClose(one.y, whole.y, atol: 1e-5, rtol: 1e-5)
            #expect(problem == nil, "budget \(budget): slices differ from the whole batch: \(problem ?? "")")
        }
    }

    /// Which models run in slices, without gcc: a conv model past the budget does, in slices that divide
    /// NN_MR; a recurrent model and one with 5M dense weights (re-read for every slice) do not.
    @Test func sliceRuleSkipsRecurrentLayersAndHugeWeights() throws {
        let dir = FixtureKit.makeTempDir("nncc-slices")
        defer { try? FileManager.default.removeItem(at: dir) }
        func slice(_ layers: String, input: String, batch: Int) throws -> Int? {
            let file = dir.appendingPathComponent("m.json")
            try Data(#"{"format": 1, "name": "m", "input": {"shape": \#(input)}, "layers": [\#(layers)]}"#.utf8).write(to: file)
            var options = CompileOptions(maxBatch: batch)
            options.sliceBudgetBytes = 1
            let g = try Pipeline.lower(try Pipeline.load(file.path).graph, options: options)
            return ForwardSlices.sliceImages(g, options.schedule)
        }
        let conv = #"{"type": "conv2d", "filters": 8, "kernel_size": 3}, {"type": "flatten"}, {"type": "dense", "units": 3}"#
        #expect(try slice(conv, input: "[2, 9, 9]", batch: 16) == 1)
        #expect(try slice(conv, input: "[2, 9, 9]", batch: 1) == nil, "batch 1 is one slice")
        #expect(try slice(#"{"type": "lstm", "units": 8}"#, input: "[30, 4]", batch: 16) == nil)
        #expect(try slice(#"{"type": "dense", "units": 1000}"#, input: "[5000]", batch: 16) == nil)
        #expect(try slice(#"{"type": "dense", "units": 100}"#, input: "[5000]", batch: 16) == 1)
    }

    /// The table's arithmetic, without gcc: shares, GFLOP/s for a dense layer at a large batch, GB/s at batch 1.
    @Test func layerTableRatesAgainstThePeak() throws {
        let model = try Pipeline.load(TrainKit.examples.appendingPathComponent("mlp.json").path)
        let g = try Pipeline.lower(model.graph, options: CompileOptions(maxBatch: 128))
        let peak = Peak.Rates(gflops: 100, cacheGBytes: 100, memoryGBytes: 10)
        let dense = try #require(g.nodes.indices.first { if case .dense = g.nodes[$0].op { true } else { false } })
        let entries = [(name: "forward:\(dense):\(g.nodes[dense].name)", seconds: 3.0), (name: "update", seconds: 1.0),
                       (name: "backward:\(dense):x", seconds: 0.0)]
        let big = LayerTable(graph: g, batch: 128, peak: peak).rows(entries, calls: 1000)
        #expect(big.count == 2, "entries that took no time are left out")
        #expect(big[0].share == 0.75 && big[1].share == 0.25 && big[0].micros == 3000)
        // 2·784·512 FLOPs per example × 128 in 3 ms: 34 GFLOP/s, 34% of the FMA peak.
        #expect(big[0].rate.hasSuffix("GFLOP/s") && abs(big[0].ofPeak! - 0.3425) < 0.001, "\(big[0])")
        let one = LayerTable(graph: g, batch: 1, peak: peak).rows(entries, calls: 1000)
        #expect(one[0].rate.hasSuffix("GB/s (memory)"), "a dense layer at batch 1 streams its weights: \(one[0])")
    }
}

/// `nncc bench --layers` end to end: a training step's table (forward and backward of each layer, the loss
/// and the update) against the measured peak. Two gcc compiles: the model and the peak probe.
extension CLITests {
    func testBenchLayersPrintsEveryKernelOfATrainStep() throws {
        let mlp = TrainKit.examples.appendingPathComponent("mlp.json").path
        let r = try nncc(["bench", mlp, "--train", "--layers", "--batch", "16", "--seconds", "0.01"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("peak (one thread): "), r.stdout)
        for row in ["| 0 | dense | train_forward |", "| 4 | dense | backward |", "| 0 | dense | backward |", "|  | loss | loss |",
                    "|  | update | update |"] {
            XCTAssertTrue(r.stdout.contains(row), "no row \(row): \(r.stdout)")
        }
        let rows = r.stdout.split(separator: "\n").filter { $0.hasPrefix("| ") && $0.contains("%") }
        let shares = rows.compactMap { row -> Double? in
            let cells = row.split(separator: "|", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            return cells.count > 5 ? Double(cells[5].dropLast()) : nil
        }
        XCTAssertEqual(shares.reduce(0, +), 100, accuracy: 0.5, r.stdout)
    }
}
