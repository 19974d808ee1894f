extension Template {
    /// The templates a library of `g` calls into, with what they require, in
    /// canonical order: what every library needs (the prologue; safetensors,
    /// since every library loads and saves weights; the training step's
    /// losses and optimizers), then what each node's op family declares for
    /// its plan. Reference builds call the naive kernels, which live in the
    /// same templates as the tiled ones.
    static func needed(for g: Graph, training: Bool) -> [Template] {
        let roots: [Template] = [.prologue, .safetensors] + (training ? [.train] : [])
        return closure(roots + g.nodes.flatMap { $0.op.family.templates($0) })
    }
}
