/// Inference only: dropout and identity layers compute nothing, so their
/// users read the operand directly.
public func removeIdentities(_ g: Graph) -> Graph {
    var g = g
    for i in g.nodes.indices {
        switch g.nodes[i].op {
        case .dropout, .activation(.identity):
            g.replaceUses(of: i, with: g.nodes[i].inputs[0])
        default:
            continue
        }
    }
    return g.compacted()
}
