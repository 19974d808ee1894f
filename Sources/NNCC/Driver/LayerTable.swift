import Foundation

/// `nncc bench --layers`: the profile build's time per entry (NAME_profile) as a table, each kernel's
/// rate against the machine's peak (Peak). A kernel whose FLOPs per byte moved are below the
/// machine's balance (peak FLOP/s ÷ peak bytes/s) is bandwidth-bound: its rate is GB/s against
/// the measured bandwidth (of the cache when it moves at most `Peak.Rates.cacheBytes`, else of
/// memory); the others GFLOP/s against the FMA peak. Backward counts twice the
/// forward's FLOPs and bytes (∂x and ∂W).
public struct LayerTable {
    public let graph: Graph
    public let batch: Int
    public let peak: Peak.Rates

    public init(graph: Graph, batch: Int, peak: Peak.Rates) {
        self.graph = graph
        self.batch = batch
        self.peak = peak
    }

    public struct Row {
        public var layer: String, op: String, phase: String, micros: Double, share: Double, rate: String, ofPeak: Double?
    }

    public func rows(_ entries: [(name: String, seconds: Double)], calls: Int) -> [Row] {
        let total = entries.map(\.seconds).reduce(0, +)
        return entries.filter { $0.seconds > 0 }.map { e in
            let parts = e.name.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
            let micros = e.seconds / Double(calls) * 1e6, share = total > 0 ? e.seconds / total : 0
            guard parts.count == 3, let i = Int(parts[1]), graph.nodes.indices.contains(i) else {
                return Row(layer: "", op: e.name, phase: e.name, micros: micros, share: share, rate: "", ofPeak: nil)
            }
            let n = graph.nodes[i], times = parts[0] == "backward" ? 2.0 : 1.0
            let flops = Double(flopsPerExample(graph, node: i) * batch) * times
            let params = graph.params.filter { n.paramNames.values.contains($0.name) || $0.name.hasPrefix(n.name + ".") }
            let floats = Double(batch * (n.inputs.map { graph.nodes[$0].size }.reduce(0, +) + n.size)) * times
                + Double(params.map(\.size).reduce(0, +))
            let seconds = micros / 1e6, inCache = 4 * floats <= Double(Peak.Rates.cacheBytes)
            let gbytes = inCache ? peak.cacheGBytes : peak.memoryGBytes
            let bandwidthBound = flops / (4 * floats) < peak.gflops / gbytes
            let rate = bandwidthBound ? 4 * floats / seconds / 1e9 : flops / seconds / 1e9
            return Row(layer: parts[2], op: n.op.typeName, phase: parts[0], micros: micros, share: share,
                       rate: bandwidthBound ? String(format: "%.1f GB/s (%@)", rate, inCache ? "cache" : "memory")
                           : String(format: "%.1f GFLOP/s", rate),
                       ofPeak: rate / (bandwidthBound ? gbytes : peak.gflops))
        }
    }

    public func render(_ entries: [(name: String, seconds: Double)], calls: Int) -> String {
        var s = String(format: "peak (one thread): %.1f GFLOP/s FMA, read %.1f GB/s from cache (1 MB), %.1f GB/s from memory (64 MB)\n\n",
                       peak.gflops, peak.cacheGBytes, peak.memoryGBytes)
        s += "| layer | op | phase | us/call | share | rate | of peak |\n|---|---|---|---:|---:|---:|---:|\n"
        for r in rows(entries, calls: calls) {
            s += "| \(r.layer) | \(r.op) | \(r.phase) | " + String(format: "%.1f | %.1f%% | ", r.micros, 100 * r.share)
                + "\(r.rate) | \(r.ofPeak.map { String(format: "%.0f%%", 100 * $0) } ?? "") |\n"
        }
        return s
    }
}
