/// Checks the IR's invariants between passes, so a bad rewrite fails where
/// it happens: operands come earlier, shapes agree with the ops, outputs
/// exist, planned buffers stay inside the arena.
public func verify(_ g: Graph) throws {
    func fail(_ i: Int, _ msg: String) -> NNCCError {
        NNCCError(path: "IR %\(i)", "internal error, invalid IR: \(msg)\n\(printIR(g))")
    }
    guard !g.nodes.isEmpty, g.nodes[0].op == .input else { throw fail(0, "node 0 must be the input") }
    for (i, n) in g.nodes.enumerated() {
        if i > 0, n.op == .input { throw fail(i, "a second input node") }
        for j in n.inputs where j >= i || j < 0 { throw fail(i, "operand %\(j) does not come before its user") }
        if i > 0 {
            let expected = try outputShape(n.op, n.inputs.map { g.nodes[$0].shape }) { fail(i, $0) }
            if expected != n.shape { throw fail(i, "shape \(n.shape) but the op gives \(expected)") }
        }
        if n.epilogue != nil || n.foldedBatchNorm != nil || n.customEpilogue != nil {
            switch n.op {
            case .dense, .conv2d: break
            case .batchNorm where n.epilogue == .relu && n.foldedBatchNorm == nil && n.customEpilogue == nil: break
            default: throw fail(i, "only dense and conv2d take fused epilogues (batchnorm a relu)")
            }
        }
        if case let .arena(offset) = n.storage, offset < 0 || offset + n.size * g.maxBatch > g.arenaFloats {
            throw fail(i, "buffer outside the arena")
        }
    }
    for o in g.outputs where o < 0 || o >= g.nodes.count { throw fail(o, "output out of range") }
}
