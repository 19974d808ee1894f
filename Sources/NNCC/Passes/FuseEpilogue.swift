/// Fuses an elementwise activation into the preceding dense or conv2d, so the
/// GEMM applies it while results are still in registers. For training only
/// activations whose derivative follows from their output are fused (not
/// gelu), and never the model's output, where the loss may want the logits.
/// Training also fuses a relu into the batchnorm before it (conv -> batchnorm
/// -> relu): one pass writes relu(batchnorm(x)) and batchnorm's backward masks
/// ∂y by that output, so the relu's passes and its gradient buffer go (at
/// inference that batchnorm is folded into the conv, or runs on its own).
public func fuseEpilogue(_ g: Graph, training: Bool = false) -> Graph {
    var g = g
    var users = g.users()
    for i in g.nodes.indices {
        // A user's elementwise C function, at inference only (its gradient reads the operand).
        if !training, case let .custom(c) = g.nodes[i].op, c.form == .elementwise, let p = g.nodes[i].inputs.first,
           g.isPrivate(p, users: users), g.nodes[p].customEpilogue == nil, takesCustomEpilogue(g.nodes[p].op) {
            g.nodes[p].customEpilogue = c
            g.replaceUses(of: i, with: p, users: &users)
            continue
        }
        guard case let .activation(act) = g.nodes[i].op, let p = g.nodes[i].inputs.first,
              g.isPrivate(p, users: users), g.nodes[p].epilogue == nil, g.nodes[p].customEpilogue == nil
        else { continue }
        if training {
            if !act.derivativeFromOutput || g.outputs.contains(i) { continue }
        }
        switch g.nodes[p].op {
        case .dense, .conv2d:
            g.nodes[p].epilogue = act
            g.replaceUses(of: i, with: p, users: &users)
        case .batchNorm where training && act == .relu:
            g.nodes[p].epilogue = act
            g.replaceUses(of: i, with: p, users: &users)
        default:
            continue
        }
    }
    return g.compacted()
}

/// Dense and 2-D (or 1-D) conv kernels end with a fused custom function (Ops/Custom.swift).
func takesCustomEpilogue(_ op: Op) -> Bool {
    switch op {
    case .dense: return true
    case let .conv2d(c): return c.depth == nil
    default: return false
    }
}
