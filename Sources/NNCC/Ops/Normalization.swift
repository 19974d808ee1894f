/// batchnorm (inference: running statistics, unless folded into the
/// preceding dense or conv2d; training: batch statistics, and the running
/// ones updated after each step as PyTorch does). In training a relu after
/// it is fused (FuseEpilogue): its output is relu(batchnorm(x)), and backward
/// masks ∂y by that output inside batchnorm's own passes.
enum NormalizationOps: OpFamily {
    static func plan(_ g: Graph, _ i: Int, _ s: Schedule, training: Bool) -> KernelPlan {
        KernelPlan(kernel: .loops, backward: training ? .loops : nil)
    }

    static func templates(_ node: Node) -> [Template] {
        if case .batchNorm = node.op, node.plan.backward != nil { return [.batchnormTrain] }
        return []
    }

    static func forward(_ ctx: EmitContext, _ i: Int) -> KernelCode? {
        let node = ctx.graph.nodes[i], size = node.size
        let x = ctx.value(node.inputs[0]), y = ctx.value(i)
        switch node.op {
        case let .batchNorm(eps, _):
            let ch = node.shape[0], inner = size / ch
            let name = ctx.kernelName(i, "batchnorm")
            func p(_ s: String) -> String { ctx.param(node, s) }
            // The fused relu keeps NaN (v < 0 is false for it), as PyTorch's.
            let value = fusedRelu(node) ? "v < 0 ? 0.0f : v" : "v"
            return KernelCode(definition: """
                \(ctx.banner(i, "batchnorm (inference, running statistics)\(fusedRelu(node) ? " and relu" : "") over \(ch) channels of \(inner)"))
                static void \(name)(int nb, const float *restrict x, float *restrict y, const float *restrict gamma,
                                    const float *restrict beta, const float *restrict mean, const float *restrict var) {
                    for (int b = 0; b < nb; b++)
                        for (int ch = 0; ch < \(ch); ch++) {
                            float s = gamma[ch] / sqrtf(var[ch] + \(CSyntax.float(eps))), t = beta[ch] - mean[ch] * s;
                            const float *xc = x + ((size_t)b * \(ch) + ch) * \(inner);
                            float *yc = y + ((size_t)b * \(ch) + ch) * \(inner);
                            for (int i = 0; i < \(inner); i++) {
                                const float v = xc[i] * s + t;
                                yc[i] = \(value);
                            }
                        }
                }
                """, call: "\(name)(nb, \(x), \(y), \(p("weight")), \(p("bias")), \(p("running_mean")), \(p("running_var")));")
        default:
            preconditionFailure("not a normalization: \(node.op)")
        }
    }

    /// A relu fused into the batchnorm (FuseEpilogue, training builds).
    static func fusedRelu(_ node: Node) -> Bool { node.epilogue == .relu }

    // MARK: training

    /// Gradient buffers batchnorm's backward writes whole (`=`, not `+=`): its input's, when the batchnorm is that
    /// result's only reader (the conv before it) and nothing views it. The train step does not zero them first,
    /// which saves a write and a read of an activation-sized buffer per layer.
    static func assignedGradients(_ g: Graph) -> Set<Int> {
        guard let plan = g.gradients else { return [] }
        let users = g.users()
        var roots = Set<Int>()
        for (i, n) in g.nodes.enumerated() {
            guard case .batchNorm = n.op, plan.needsGrad[i], let p = n.inputs.first, p != plan.source, plan.needsGrad[p],
                  g.storageRoot(p) == p, g.isPrivate(p, users: users),
                  !g.nodes.indices.contains(where: { $0 != p && g.storageRoot($0) == p })
            else { continue }
            roots.insert(p)
        }
        return roots
    }

    /// The batch statistics the training forward saves, per channel.
    struct BatchNormSaved { var mean, invstd, variance: Slot }

    static func reserve(_ g: Graph, _ i: Int, _ s: Schedule, _ layout: inout TrainLayout) {
        guard case .batchNorm = g.nodes[i].op else { return }
        let c = g.nodes[i].shape[0]
        layout.save(i, BatchNormSaved(mean: layout.take(c), invstd: layout.take(c), variance: layout.take(c)))
    }

    static func trainingForward(_ ctx: EmitContext, _ t: TrainLayout, _ i: Int) -> String? {
        trainingForward(ctx, t, i, share: nil)
    }

    private static func trainingForward(_ ctx: EmitContext, _ t: TrainLayout, _ i: Int, share: String?) -> String? {
        let n = ctx.graph.nodes[i]
        guard case let .batchNorm(eps, _) = n.op else { return nil }
        let ch = n.shape[0], s = t.saved(i, as: BatchNormSaved.self)
        return "nn_bn_train_forward\(share == nil ? "(nb" : "_share(nb, nb_all"), \(ch), \(n.size / ch), \(ctx.value(n.inputs[0])), \(ctx.param(n, "weight")), \(ctx.param(n, "bias")), "
            + "\(CSyntax.float(eps)), \(ctx.value(i)), \(s.mean.pointer), \(s.invstd.pointer), \(s.variance.pointer), \(fusedRelu(n) ? 1 : 0)\(share.map { ", \($0), t, team" } ?? ""));"
    }

    /// In one thread's share of a split train step (TrainThreads): the statistics and, backward, their gradient
    /// sums are the whole batch's, through the team's partial sums at `part` (2·C floats per thread each way).
    static func shareForward(_ ctx: EmitContext, _ t: TrainLayout, _ i: Int, part: String) -> String? {
        trainingForward(ctx, t, i, share: part)
    }

    static func shareBackward(_ ctx: EmitContext, _ t: TrainLayout, _ i: Int, part: String) -> BackwardCode {
        backward(ctx, t, i, share: part)
    }

    /// After the optimizer step: the running statistics move towards the batch's.
    static func stateUpdate(_ ctx: EmitContext, _ t: TrainLayout, _ i: Int) -> String? {
        let n = ctx.graph.nodes[i]
        guard case let .batchNorm(_, momentum) = n.op else { return nil }
        let s = t.saved(i, as: BatchNormSaved.self)
        let m = CSyntax.float(momentum), keep = CSyntax.float(1 - momentum)
        return "    nn_bn_running(\(n.shape[0]), \(keep), \(m), \(ctx.param(n, "running_mean")), \(ctx.param(n, "running_var")), "
            + "\(s.mean.pointer), \(s.variance.pointer));  /* running statistics of \"\(CSyntax.comment(n.name))\" */"
    }

    static func backward(_ ctx: EmitContext, _ t: TrainLayout, _ i: Int) -> BackwardCode {
        backward(ctx, t, i, share: nil)
    }

    private static func backward(_ ctx: EmitContext, _ t: TrainLayout, _ i: Int, share: String?) -> BackwardCode {
        let g = ctx.graph, node = g.nodes[i]
        let dy = t.gradPointer(g, i)!, dx = t.gradPointer(g, node.inputs[0]) ?? "NULL"
        switch node.op {
        case .batchNorm:
            let ch = node.shape[0], s = t.saved(i, as: BatchNormSaved.self)
            let assign = dx != "NULL" && assignedGradients(g).contains(node.inputs[0])
            return BackwardCode(statements: ctx.ruleHead(i)
                + "    nn_bn_backward\(share == nil ? "(nb" : "_share(nb, nb_all"), \(ch), \(node.size / ch), \(ctx.value(node.inputs[0])), \(ctx.param(node, "weight")), "
                + "\(s.mean.pointer), \(s.invstd.pointer), \(dy), \(fusedRelu(node) ? ctx.value(i) : "NULL"), \(dx), \(ctx.grad(node, "weight")), \(ctx.grad(node, "bias")), \(assign ? 1 : 0)\(share.map { ", \($0), t, team" } ?? ""));\n")
        default:
            preconditionFailure("not a normalization: \(node.op)")
        }
    }
}
