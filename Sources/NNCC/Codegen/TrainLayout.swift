/// Where training state lives in the context's training block: parameter
/// gradients and optimizer state (same offsets as the parameters), one
/// gradient buffer per result that needs one, and what each layer saves in
/// its forward pass for backward. Each op family reserves its own buffers
/// (`OpFamily.reserve`) as a struct of typed slots.
struct TrainLayout {
    private(set) var floats = 0
    let paramFloats: Int
    /// Gradient buffer of each storage root that needs a gradient.
    private(set) var grad: [Int: Int] = [:]
    /// Per node, the family's struct of slots.
    private var saved: [Int: Any] = [:]
    /// The largest buffer and the node it serves, for `Limits` (checked before emitting).
    private(set) var largest = (node: 0, floats: 0)
    private var current = 0

    /// `optimizerState: false` for a thread's share of the batch (TrainThreads): parameter gradients, no optimizer state.
    init(_ g: Graph, schedule: Schedule, paramFloats: Int, optimizerState: Bool = true) {
        self.paramFloats = paramFloats
        floats = (optimizerState ? 3 : 1) * paramFloats  // gradients, momentum or Adam's m, Adam's v
        let plan = g.gradients!
        let B = g.maxBatch
        for i in g.nodes.indices where plan.needsGrad[i] || i == plan.source {
            let root = g.storageRoot(i)
            current = i
            if grad[root] == nil { grad[root] = take(g.nodes[root].size * B).offset }
        }
        for (i, n) in g.nodes.enumerated() {
            current = i
            n.op.family.reserve(g, i, schedule, &self)
        }
    }

    /// A buffer of `n` floats, 64-byte aligned; an empty slot's pointer is NULL.
    mutating func take(_ n: Int) -> Slot {
        let at = floats
        if n > largest.floats { largest = (current, n) }
        // Each n fits an Int (inferShapes and planMemory bound its factors); the total
        // saturates so an oversized model reaches the limit check instead of trapping.
        floats = min(floats + (n + 15) / 16 * 16, 1 << 60)
        return Slot(offset: at, floats: n)
    }

    /// Records node `i`'s buffers; the family reads them back with `saved(i, as:)`.
    mutating func save<T>(_ i: Int, _ slots: T) { saved[i] = slots }

    func saved<T>(_ i: Int, as: T.Type) -> T {
        guard let s = saved[i] as? T else { preconditionFailure("node \(i) reserved no \(T.self)") }
        return s
    }

    func gradPointer(_ g: Graph, _ i: Int) -> String? {
        grad[g.storageRoot(i)].map { "c->train + \($0)" }
    }
}

/// A buffer in the training block.
struct Slot: Equatable {
    var offset: Int
    var floats: Int
    /// A buffer the chosen strategy does not use.
    static let empty = Slot(offset: 0, floats: 0)
    /// `c->train + N`, or NULL for a buffer the chosen strategy does not use.
    var pointer: String { floats > 0 ? "c->train + \(offset)" : "NULL" }
}
