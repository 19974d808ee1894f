/// Where training state lives in the context's training block: parameter
/// gradients and optimizer state (same offsets as the parameters), one
/// gradient buffer per result that needs one, and what each layer saves in
/// its forward pass for backward.
struct TrainLayout {
    private(set) var floats = 0
    let paramFloats: Int
    /// Gradient buffer of each storage root that needs a gradient.
    var grad: [Int: Int] = [:]
    /// Per node: named saved buffers (dropout mask, batch statistics, gate history) and scratch.
    var saved: [Int: [String: Int]] = [:]
    /// The largest buffer and the node it serves, for `Limits` (checked before emitting).
    private(set) var largest = (node: 0, floats: 0)
    private var current = 0

    init(_ g: Graph, ctx: EmitContext, schedule: Schedule) {
        paramFloats = ctx.paramFloats
        floats = 3 * paramFloats  // gradients, momentum or Adam's m, Adam's v
        let plan = g.gradients!
        let B = g.maxBatch
        for i in g.nodes.indices where plan.needsGrad[i] || i == plan.source {
            let root = g.storageRoot(i)
            current = i
            if grad[root] == nil { grad[root] = take(g.nodes[root].size * B) }
        }
        for (i, n) in g.nodes.enumerated() {
            current = i
            switch n.op {
            case .dropout:
                saved[i] = ["mask": take(n.size * B)]
            case .batchNorm:
                let c = n.shape[0]
                saved[i] = ["mean": take(c), "invstd": take(c), "var": take(c)]
            case .conv2d where plan.needsGrad[i]:
                let d = ConvEmitter.dims(g, i)
                let way = ConvEmitter.weightGradient(d, schedule)
                let byRows = if case .rows = way { true } else { false }
                let filterRows = way == .filterRows, transposed = way == .transposed
                let wino: WinogradPlan? = if case let .winograd(plan) = way { plan } else { nil }
                let onGEMM = !ConvEmitter.allWinograd(d, schedule)  // im2col and ∂z panels
                let (hp, wp) = ConvEmitter.rowsPaddedSize(d, schedule)
                saved[i] = ["col": take(onGEMM ? d.k * d.n : 0), "dzT": take(transposed ? d.n * schedule.padded(d.fg) : 0),
                            "colT": take(filterRows ? d.n * schedule.padded(d.k) : 0),
                            "dzp": take(onGEMM ? d.fg * schedule.padded(d.n) : 0), "dWt": take(transposed ? d.f * d.k : 0),
                            "xp": take(byRows ? B * d.cg * hp * wp : 0),
                            "dcol": take(schedule.reference ? d.k * d.n : 0),
                            "wino": take(WinogradPlan.gradient(d, schedule).map { $0.plan.scratchFloats($0.dims, schedule) } ?? 0),
                            "dU": take(wino != nil ? 16 * d.c * d.f : 0),
                            "wdw": take(wino?.weightGradientScratch(d, schedule) ?? 0)]
            case .dense where plan.needsGrad[i]:
                let d = DenseEmitter.dims(ctx, i)
                saved[i] = ["dzT": take(B * d.rows * d.n), "xp": take(B * d.rows * schedule.padded(d.k))]
            case .recurrent:
                let d = RecurrentEmitter.dims(g, i)
                saved[i] = ["gates": take(B * d.t * d.g), "hs": take(B * d.t * d.h), "cs": take(B * d.t * d.h),
                            "hn": take(B * d.t * d.h), "hg": take(B * d.g), "dP": take(B * d.t * d.g),
                            "dPh": take(B * d.t * d.g), "dh": take(B * d.h), "dc": take(B * d.h),
                            "tr": take(B * d.t * d.g), "hprev": take(B * d.t * d.h),
                            "panels": take(B * d.t * max(schedule.padded(d.f), schedule.padded(d.h)))]
            default:
                break
            }
        }
    }

    private mutating func take(_ n: Int) -> Int {
        let at = floats
        if n > largest.floats { largest = (current, n) }
        // Each n fits an Int (inferShapes and planMemory bound its factors); the total
        // saturates so an oversized model reaches the limit check instead of trapping.
        floats = min(floats + (n + 15) / 16 * 16, 1 << 60)
        return at
    }

    func gradPointer(_ g: Graph, _ i: Int) -> String? {
        grad[g.storageRoot(i)].map { "c->train + \($0)" }
    }

    func savedPointer(_ i: Int, _ name: String) -> String { "c->train + \(saved[i]![name]!)" }
}
