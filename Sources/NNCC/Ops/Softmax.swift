/// softmax and log_softmax over one per-example axis, max-shifted. The
/// result is [outer, L, inner] with L the axis: over the last axis (inner 1)
/// each row is contiguous; over another axis a row is strided by inner.
/// Backward: ∂x = y·(∂y − Σ ∂y·y), or ∂y − softmax·Σ ∂y for log_softmax.
enum SoftmaxOps: OpFamily {
    static func plan(_ g: Graph, _ i: Int, _ s: Schedule, training: Bool) -> KernelPlan {
        KernelPlan(kernel: .loops, backward: training ? .loops : nil)
    }

    /// (outer, L, inner) of node `i` and whether it is log_softmax.
    static func dims(_ node: Node) -> (outer: Int, length: Int, inner: Int, log: Bool) {
        let (axis, log): (Int, Bool)
        switch node.op {
        case let .softmax(a): (axis, log) = (a, false)
        case let .logSoftmax(a): (axis, log) = (a, true)
        default: preconditionFailure("not a softmax: \(node.op)")
        }
        let s = node.shape, a = axis < 0 ? axis + s.count : axis
        return (s[..<a].reduce(1, *), s[a], s[(a + 1)...].reduce(1, *), log)
    }

    static func forward(_ ctx: EmitContext, _ i: Int) -> KernelCode? {
        let node = ctx.graph.nodes[i], (outer, last, inner, log) = dims(node)
        let x = ctx.value(node.inputs[0]), y = ctx.value(i)
        let name = ctx.kernelName(i, log ? "log_softmax" : "softmax")
        guard inner > 1 else {
            let finish = log
                ? "float l = m + logf(s);\n        for (int j = 0; j < \(last); j++) yr[j] = xr[j] - l;"
                : "float inv = 1.0f / s;\n        for (int j = 0; j < \(last); j++) yr[j] *= inv;"
            return KernelCode(definition: """
                \(ctx.banner(i, "\(log ? "log_softmax" : "softmax") over the last axis (\(last)), max-shifted"))
                static void \(name)(int nb, const float *restrict x, float *restrict y) {
                    for (size_t r = 0; r < (size_t)nb * \(outer); r++) {
                        const float *xr = x + r * \(last);
                        float *yr = y + r * \(last);
                        float m = xr[0], s = 0;
                        for (int j = 1; j < \(last); j++) m = xr[j] > m ? xr[j] : m;
                        for (int j = 0; j < \(last); j++) { float e = expf(xr[j] - m); s += e; \(log ? "" : "yr[j] = e; ")}
                        \(finish)
                    }
                }
                """, call: "\(name)(nb, \(x), \(y));")
        }
        let at = "(size_t)l * \(inner)"
        let finish = log
            ? "const float lse = m + logf(s);\n            for (int l = 0; l < \(last); l++) yr[\(at)] = xr[\(at)] - lse;"
            : "const float inv = 1.0f / s;\n            for (int l = 0; l < \(last); l++) yr[\(at)] *= inv;"
        return KernelCode(definition: """
            \(ctx.banner(i, "\(log ? "log_softmax" : "softmax") over an axis of \(last), stride \(inner), max-shifted"))
            static void \(name)(int nb, const float *restrict x, float *restrict y) {
                for (size_t o = 0; o < (size_t)nb * \(outer); o++)
                    for (int j = 0; j < \(inner); j++) {
                        const float *xr = x + o * \(last * inner) + j;
                        float *yr = y + o * \(last * inner) + j;
                        float m = xr[0], s = 0;
                        for (int l = 1; l < \(last); l++) m = xr[\(at)] > m ? xr[\(at)] : m;
                        for (int l = 0; l < \(last); l++) { const float e = expf(xr[\(at)] - m); s += e; \(log ? "" : "yr[\(at)] = e; ")}
                        \(finish)
                    }
            }
            """, call: "\(name)(nb, \(x), \(y));")
    }

    static func backward(_ ctx: EmitContext, _ t: TrainLayout, _ i: Int) -> BackwardCode {
        let g = ctx.graph, node = g.nodes[i], (outer, last, inner, log) = dims(node)
        let y = ctx.value(i), dy = t.gradPointer(g, i)!, dx = t.gradPointer(g, node.inputs[0]) ?? "NULL"
        guard inner > 1 else {
            return BackwardCode(statements: ctx.ruleHead(i)
                + "    nn_softmax_backward(\(log ? 1 : 0), (size_t)nb * \(outer), \(last), \(y), \(dy), \(dx));\n")
        }
        let name = ctx.kernelName(i, (log ? "log_softmax" : "softmax") + "_backward"), at = "(size_t)l * \(inner)"
        return BackwardCode(definitions: """
            /* ∂ layer "\(CSyntax.comment(node.name))": \(log ? "log_softmax" : "softmax") over an axis of \(last), stride \(inner) */
            static void \(name)(int nb, const float *restrict y, const float *restrict dy, float *restrict dx) {
                for (size_t o = 0; o < (size_t)nb * \(outer); o++)
                    for (int j = 0; j < \(inner); j++) {
                        const size_t base = o * \(last * inner) + j;
                        const float *yr = y + base, *gr = dy + base;
                        float *dr = dx + base, s = 0;
                        for (int l = 0; l < \(last); l++) s += \(log ? "gr[\(at)]" : "gr[\(at)] * yr[\(at)]");
                        for (int l = 0; l < \(last); l++) dr[\(at)] += \(log ? "gr[\(at)] - expf(yr[\(at)]) * s" : "yr[\(at)] * (gr[\(at)] - s)");
                    }
            }

            """, statements: ctx.ruleHead(i) + "    \(name)(nb, \(y), \(dy), \(dx));\n")
    }
}
