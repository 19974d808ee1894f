/// maxpool2d, avgpool2d (padding counted as zeros, as PyTorch's default
/// count_include_pad) and global_avgpool2d, as direct loops per plane, and
/// the common 2×2 stride-2 max pool on whole vectors (nn_maxpool2). A NaN
/// wins its max-pool window, as in PyTorch.
enum PoolOps: OpFamily {
    static func plan(_ g: Graph, _ i: Int, _ s: Schedule, training: Bool) -> KernelPlan {
        var kernel = KernelPlan.Kernel.loops
        if case let .maxPool(pool) = g.nodes[i].op, pool == Pool2D(size: (2, 2), stride: (2, 2), padding: (0, 0)), !s.reference {
            kernel = .maxPool2x2
        }
        return KernelPlan(kernel: kernel, backward: training ? .loops : nil)
    }

    /// Global average pooling is plain loops, forward and backward.
    static func templates(_ node: Node) -> [Template] {
        if case .globalAvgPool = node.op { return [] }
        return node.plan.backward == nil ? [.pool] : [.pool, .poolTrain]
    }

    static func forward(_ ctx: EmitContext, _ i: Int) -> KernelCode? {
        let node = ctx.graph.nodes[i], x = ctx.graph.nodes[node.inputs[0]].shape
        let planes = x[0], h = x[1], w = x[2]
        let call = { (name: String) in "\(name)(nb, \(ctx.value(node.inputs[0])), \(ctx.value(i)));" }
        switch node.op {
        case .globalAvgPool:
            let name = ctx.kernelName(i, "global_avgpool")
            return KernelCode(definition: """
                \(ctx.banner(i, "global average pool over \(h)x\(w)"))
                static void \(name)(int nb, const float *restrict x, float *restrict y) {
                    for (size_t p = 0; p < (size_t)nb * \(planes); p++) {
                        float s = 0;
                        for (int i = 0; i < \(h * w); i++) s += x[p * \(h * w) + i];
                        y[p] = s * (1.0f / \(h * w));
                    }
                }
                """, call: call(name))
        case let .maxPool(pool), let .avgPool(pool):
            let isMax: Bool
            if case .maxPool = node.op { isMax = true } else { isMax = false }
            let oh = node.shape[1], ow = node.shape[2]
            let name = ctx.kernelName(i, isMax ? "maxpool\(pool.size.0)x\(pool.size.1)" : "avgpool\(pool.size.0)x\(pool.size.1)")
            let banner = ctx.banner(i, "\(isMax ? "max" : "average") pool \(pool.size.0)x\(pool.size.1) "
                + "stride \(pool.stride.0),\(pool.stride.1) pad \(pool.padding.0),\(pool.padding.1)")
            if node.plan.kernel == .maxPool2x2 {
                return KernelCode(definition: """
                    \(banner)
                    static void \(name)(int nb, const float *restrict x, float *restrict y) {
                        for (size_t p = 0; p < (size_t)nb * \(planes); p++)
                            nn_maxpool2(x + p * \(h * w), \(w), \(oh), \(ow), y + p * \(oh * ow));
                    }
                    """, call: call(name))
            }
            let start = isMax ? "-INFINITY" : "0.0f"
            let combine = isMax ? "v = xv > v || xv != xv ? xv : v;" : "v += xv;"
            let finish = isMax ? "v" : "v * (1.0f / \(pool.size.0 * pool.size.1))"
            return KernelCode(definition: """
                \(banner)
                static void \(name)(int nb, const float *restrict x, float *restrict y) {
                    for (size_t p = 0; p < (size_t)nb * \(planes); p++) {
                        const float *xp = x + p * \(h * w);
                        float *yp = y + p * \(oh * ow);
                        for (int oh = 0; oh < \(oh); oh++)
                            for (int ow = 0; ow < \(ow); ow++) {
                                float v = \(start);
                                for (int i = 0; i < \(pool.size.0); i++) {
                                    int ih = oh * \(pool.stride.0) - \(pool.padding.0) + i;
                                    if (ih < 0 || ih >= \(h)) continue;
                                    for (int j = 0; j < \(pool.size.1); j++) {
                                        int iw = ow * \(pool.stride.1) - \(pool.padding.1) + j;
                                        if (iw < 0 || iw >= \(w)) continue;
                                        float xv = xp[ih * \(w) + iw];
                                        \(combine)
                                    }
                                }
                                yp[oh * \(ow) + ow] = \(finish);
                            }
                    }
                }
                """, call: call(name))
        default:
            preconditionFailure("not a pool")
        }
    }

    static func backward(_ ctx: EmitContext, _ t: TrainLayout, _ i: Int) -> BackwardCode {
        let g = ctx.graph, node = g.nodes[i], x = ctx.value(node.inputs[0])
        let dy = t.gradPointer(g, i)!, dx = t.gradPointer(g, node.inputs[0]) ?? "NULL"
        switch node.op {
        case let .maxPool(p), let .avgPool(p):
            let xs = g.nodes[node.inputs[0]].shape
            let isMax = if case .maxPool = node.op { 1 } else { 0 }
            return BackwardCode(statements: ctx.ruleHead(i) + """
                    for (size_t p = 0; p < (size_t)nb * \(xs[0]); p++)
                        nn_pool_backward(\(isMax), \(x) + p * \(xs[1] * xs[2]), \(xs[1]), \(xs[2]), \(p.size.0), \(p.size.1), \(p.stride.0), \(p.stride.1), \(p.padding.0), \(p.padding.1), \(node.shape[1]), \(node.shape[2]), \(dy) + p * \(node.shape[1] * node.shape[2]), \(dx) + p * \(xs[1] * xs[2]));

                """)
        case .globalAvgPool:
            let hw = g.nodes[node.inputs[0]].size / node.size
            return BackwardCode(statements: ctx.ruleHead(i)
                + "    for (size_t p = 0; p < (size_t)nb * \(node.size); p++) for (int i = 0; i < \(hw); i++) (\(dx))[p * \(hw) + i] += (\(dy))[p] * (1.0f / \(hw));\n")
        default:
            preconditionFailure("not a pool")
        }
    }
}
