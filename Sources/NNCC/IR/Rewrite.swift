/// Small graph-editing helpers shared by the passes.
extension Graph {
    /// Points every use of node `old` (operands and outputs) at node `new`.
    /// `users` (from `users()`) says where to look, so a pass stays linear
    /// in the node count; it is kept current.
    mutating func replaceUses(of old: Int, with new: Int, users: inout [[Int]]) {
        for u in users[old] { nodes[u].inputs = nodes[u].inputs.map { $0 == old ? new : $0 } }
        users[new] += users[old]
        users[old] = []
        outputs = outputs.map { $0 == old ? new : $0 }
    }

    /// Drops nodes that no output depends on and renumbers the rest, keeping order.
    func compacted() -> Graph {
        var live = Set(outputs)
        live.insert(0)
        for i in nodes.indices.reversed() where live.contains(i) { live.formUnion(nodes[i].inputs) }
        var newIndex = [Int: Int]()
        var g = self
        g.nodes = []
        for (i, n) in nodes.enumerated() where live.contains(i) {
            newIndex[i] = g.nodes.count
            var m = n
            m.inputs = n.inputs.map { newIndex[$0]! }
            if case let .view(of: k) = n.storage { m.storage = .view(of: newIndex[k]!) }
            g.nodes.append(m)
        }
        g.outputs = outputs.map { newIndex[$0]! }
        return g
    }

    /// True when node `i` has exactly one user and is not itself an output,
    /// so a consumer may absorb it.
    func isPrivate(_ i: Int, users: [[Int]]) -> Bool {
        users[i].count == 1 && !outputs.contains(i)
    }
}
