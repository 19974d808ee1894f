/// Folds an inference-mode batchnorm that directly follows a conv2d or dense
/// (over the same channel axis) into that layer: at weight-packing time the
/// kernel's weights become W·γ/√(σ²+ε) and its bias (b−μ)·γ/√(σ²+ε)+β.
public func foldBatchNorm(_ g: Graph) -> Graph {
    var g = g
    var users = g.users()
    for i in g.nodes.indices {
        guard case let .batchNorm(eps, _) = g.nodes[i].op, let p = g.nodes[i].inputs.first,
              g.isPrivate(p, users: users), g.nodes[p].epilogue == nil, g.nodes[p].foldedBatchNorm == nil
        else { continue }
        switch g.nodes[p].op {
        case .conv2d: break
        case .dense where g.nodes[p].shape.count == 1: break
        default: continue
        }
        g.nodes[p].foldedBatchNorm = FoldedBatchNorm(name: g.nodes[i].name, eps: eps)
        g.replaceUses(of: i, with: p, users: &users)
    }
    return g.compacted()
}
