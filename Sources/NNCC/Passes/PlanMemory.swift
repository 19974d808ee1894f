/// Memory planning: every intermediate result and kernel scratch buffer (the
/// size its kernel plan records, see selectKernels) gets an offset in one
/// arena owned by the context, sized for `maxBatch`.
/// Buffers whose lifetimes do not overlap share memory (first fit).
/// Training keeps every result (`keepAll`): backward reads them.
/// Throws, naming the layer, when a buffer or the arena exceeds `Limits`.
public func planMemory(_ g: Graph, maxBatch: Int, keepAll: Bool = false) throws -> Graph {
    var g = g
    g.maxBatch = maxBatch
    let align = 16  // floats: 64-byte alignment for vector loads
    func rounded(_ n: Int) -> Int { (n + align - 1) / align * align }

    // Last use of each storage root: views extend the life of what they view.
    for i in g.nodes.indices {
        if i == 0 { g.nodes[i].storage = .input; continue }
        g.nodes[i].storage = g.nodes[i].op.isView ? .view(of: g.nodes[i].inputs[0]) : .unplanned
    }
    var lastUse = Array(g.nodes.indices)
    for (i, n) in g.nodes.enumerated() {
        for j in n.inputs { let r = g.storageRoot(j); lastUse[r] = max(lastUse[r], i) }
    }
    for o in g.outputs { lastUse[g.storageRoot(o)] = g.nodes.count }
    if keepAll { lastUse = lastUse.map { _ in g.nodes.count } }

    var live: [(start: Int, end: Int, until: Int)] = []  // [start, end) floats, free after node `until`
    var top = 0
    func allocate(_ size: Int, until: Int) -> Int {
        let need = rounded(size)
        live.sort { $0.start < $1.start }
        var at = 0
        for b in live {
            if b.start - at >= need { break }
            at = max(at, b.end)
        }
        live.append((at, at + need, until))
        top = max(top, at + need)
        return at
    }
    for i in g.nodes.indices.dropFirst() {
        let n = g.nodes[i]
        // Sizes are bounded per example by inferShapes, so these products cannot overflow.
        func fail(_ msg: String) -> NNCCError {
            let hint = maxBatch > 1 ? "; a smaller --batch may fit" : ""
            return NNCCError(path: n.origin, "\(n.op.typeName) layer \"\(n.name)\": \(msg)\(hint)")
        }
        live.removeAll { $0.until < i }
        if case .unplanned = n.storage {
            try Limits.check("result at the max batch, [batch] + shape", [maxBatch] + n.shape, limit: Limits.bufferElements,
                             fail: fail)
            g.nodes[i].storage = .arena(offset: allocate(n.size * maxBatch, until: lastUse[i]))
        }
        let s = n.plan.scratchFloats
        guard s <= Limits.bufferElements else {
            throw fail("the kernel's scratch buffer of \(s) floats for batch \(maxBatch) is too large "
                + "(the limit is \(Limits.show(Limits.bufferElements)))")
        }
        if s > 0 { g.nodes[i].scratchOffset = allocate(s, until: i) }
        guard top <= Limits.arenaBytes / 4 else {
            throw fail("the arena reaches \(top * 4) bytes at this layer for batch \(maxBatch) "
                + "(the limit is \(Limits.show(Limits.arenaBytes)) bytes)")
        }
    }
    g.arenaFloats = top
    return g
}
