extension Template {
    /// The templates a library of `g` calls into, with what they require, in
    /// canonical order. Every library loads and saves weights (safetensors);
    /// reference builds call the naive kernels, which live in the same
    /// templates as the tiled ones.
    static func needed(for g: Graph, training: Bool, schedule: Schedule) -> [Template] {
        var roots: [Template] = [.prologue, .safetensors] + (training ? [.train] : [])
        for (i, node) in g.nodes.enumerated() {
            switch node.op {
            case .dense:
                roots += training ? [.gemm, .denseTrain] : [.gemm]
            case .conv2d:
                roots += training ? [.conv, .convTrain] : [.conv]
                let d = ConvEmitter.dims(g, i)
                if case .winograd = ConvEmitter.path(d, schedule) { roots += training ? [.winograd, .winogradTrain] : [.winograd] }
                // ∂x runs by Winograd whenever its transposed convolution qualifies, whatever the forward does.
                if training, WinogradPlan.gradient(d, schedule) != nil { roots.append(.winograd) }
            case .maxPool, .avgPool:
                roots += training ? [.pool, .poolTrain] : [.pool]
            case .batchNorm:
                if training { roots.append(.batchnormTrain) }
            case .recurrent:
                roots += training ? [.gemm, .recurrentTrain] : [.gemm]
            case .input, .reshape, .activation, .softmax, .logSoftmax, .dropout, .globalAvgPool, .add, .concat:
                break
            }
        }
        return closure(roots)
    }
}
