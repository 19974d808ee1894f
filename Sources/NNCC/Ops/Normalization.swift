/// batchnorm (inference: running statistics, unless folded into the
/// preceding dense or conv2d; training: batch statistics, and the running
/// ones updated after each step as PyTorch does).
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
            return KernelCode(definition: """
                \(ctx.banner(i, "batchnorm (inference, running statistics) over \(ch) channels of \(inner)"))
                static void \(name)(int nb, const float *restrict x, float *restrict y, const float *restrict gamma,
                                    const float *restrict beta, const float *restrict mean, const float *restrict var) {
                    for (int b = 0; b < nb; b++)
                        for (int ch = 0; ch < \(ch); ch++) {
                            float s = gamma[ch] / sqrtf(var[ch] + \(CSyntax.float(eps))), t = beta[ch] - mean[ch] * s;
                            const float *xc = x + ((size_t)b * \(ch) + ch) * \(inner);
                            float *yc = y + ((size_t)b * \(ch) + ch) * \(inner);
                            for (int i = 0; i < \(inner); i++) yc[i] = xc[i] * s + t;
                        }
                }
                """, call: "\(name)(nb, \(x), \(y), \(p("weight")), \(p("bias")), \(p("running_mean")), \(p("running_var")));")
        default:
            preconditionFailure("not a normalization: \(node.op)")
        }
    }

    // MARK: training

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
            + "\(CSyntax.float(eps)), \(ctx.value(i)), \(s.mean.pointer), \(s.invstd.pointer), \(s.variance.pointer)\(share.map { ", \($0), t, team" } ?? ""));"
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
        return """
                for (int ch = 0; ch < \(n.shape[0]); ch++) {  /* running statistics of "\(CSyntax.comment(n.name))" */
                    (\(ctx.param(n, "running_mean")))[ch] = \(keep) * (\(ctx.param(n, "running_mean")))[ch] + \(m) * (\(s.mean.pointer))[ch];
                    (\(ctx.param(n, "running_var")))[ch] = \(keep) * (\(ctx.param(n, "running_var")))[ch] + \(m) * (\(s.variance.pointer))[ch];
                }
            """
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
            return BackwardCode(statements: ctx.ruleHead(i)
                + "    nn_bn_backward\(share == nil ? "(nb" : "_share(nb, nb_all"), \(ch), \(node.size / ch), \(ctx.value(node.inputs[0])), \(ctx.param(node, "weight")), "
                + "\(s.mean.pointer), \(s.invstd.pointer), \(dy), \(dx), \(ctx.grad(node, "weight")), \(ctx.grad(node, "bias"))\(share.map { ", \($0), t, team" } ?? ""));\n")
        default:
            preconditionFailure("not a normalization: \(node.op)")
        }
    }
}
