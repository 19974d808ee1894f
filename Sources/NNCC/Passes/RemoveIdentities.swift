/// Identity layers, and at inference dropout, compute nothing, so their
/// users read the operand directly. Training keeps dropout.
public func removeIdentities(_ g: Graph, training: Bool = false) -> Graph {
    var g = g
    var users = g.users()
    for i in g.nodes.indices {
        switch g.nodes[i].op {
        case .dropout where !training, .activation(.identity):
            g.replaceUses(of: i, with: g.nodes[i].inputs[0], users: &users)
        default:
            continue
        }
    }
    return g.compacted()
}
