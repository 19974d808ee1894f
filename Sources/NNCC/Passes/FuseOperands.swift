/// Folds a standalone activation into the binary op that is its only user:
/// the op applies it to that operand as it reads it, so SiLU as older
/// exporters write it (`x * sigmoid(x)`) and squeeze-excite's
/// `x * sigmoid(s)` run as one loop and the activation's result is never
/// stored. Backward recomputes the activation and its derivative from the
/// operand, so this holds for training too. Runs after fuseEpilogue: an
/// activation right after a dense or conv2d stays in its GEMM epilogue.
public func fuseOperands(_ g: Graph) -> Graph {
    var g = g
    let users = g.users()
    for i in g.nodes.indices {
        guard case var .binary(b) = g.nodes[i].op else { continue }
        for (k, j) in g.nodes[i].inputs.enumerated() {
            guard b.pre[k] == nil, case let .activation(act) = g.nodes[j].op, !g.outputs.contains(j),
                  users[j].allSatisfy({ $0 == i }) else { continue }
            b.pre[k] = act
            g.nodes[i].inputs[k] = g.nodes[j].inputs[0]
        }
        g.nodes[i].op = .binary(b)
    }
    return g.compacted()
}
