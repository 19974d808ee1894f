/// Kernels that touch each element a fixed number of times: standalone
/// activations, softmax/log_softmax over the last axis, inference
/// batchnorm, add and concat.
enum ElementwiseEmitter {
    static func emit(_ ctx: EmitContext, _ i: Int) -> KernelCode {
        let node = ctx.graph.nodes[i], size = node.size
        let ins = node.inputs.map { ctx.value($0) }
        let x = ins.first ?? "x", y = ctx.value(i)
        switch node.op {
        case let .activation(act):
            let name = ctx.kernelName(i, CSyntax.identifier(act.name))
            return KernelCode(definition: """
                \(ctx.banner(i, act.name))
                static void \(name)(int nb, const float *restrict x, float *restrict y) {
                    for (size_t i = 0; i < (size_t)nb * \(size); i++) y[i] = nn_act(\(act.cCode), \(CSyntax.float(act.alpha)), x[i]);
                }
                """, call: "\(name)(nb, \(x), \(y));")
        case .softmax, .logSoftmax:
            let log = node.op == .logSoftmax, last = node.shape.last!
            let name = ctx.kernelName(i, log ? "log_softmax" : "softmax")
            let finish = log
                ? "float l = m + logf(s);\n        for (int j = 0; j < \(last); j++) yr[j] = xr[j] - l;"
                : "float inv = 1.0f / s;\n        for (int j = 0; j < \(last); j++) yr[j] *= inv;"
            return KernelCode(definition: """
                \(ctx.banner(i, "\(log ? "log_softmax" : "softmax") over the last axis (\(last)), max-shifted"))
                static void \(name)(int nb, const float *restrict x, float *restrict y) {
                    for (size_t r = 0; r < (size_t)nb * \(size / last); r++) {
                        const float *xr = x + r * \(last);
                        float *yr = y + r * \(last);
                        float m = xr[0], s = 0;
                        for (int j = 1; j < \(last); j++) m = xr[j] > m ? xr[j] : m;
                        for (int j = 0; j < \(last); j++) { float e = expf(xr[j] - m); s += e; \(log ? "" : "yr[j] = e; ")}
                        \(finish)
                    }
                }
                """, call: "\(name)(nb, \(x), \(y));")
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
        case .add:
            let name = ctx.kernelName(i, "add\(ins.count)")
            let params = ins.indices.map { "const float *restrict x\($0)" }.joined(separator: ", ")
            let sum = ins.indices.map { "x\($0)[i]" }.joined(separator: " + ")
            return KernelCode(definition: """
                \(ctx.banner(i, "sum of \(ins.count) inputs"))
                static void \(name)(int nb, \(params), float *restrict y) {
                    for (size_t i = 0; i < (size_t)nb * \(size); i++) y[i] = \(sum);
                }
                """, call: "\(name)(nb, \(ins.joined(separator: ", ")), \(y));")
        case let .concat(axis):
            return concat(ctx, i, axis: axis)
        case .dropout:
            // Only training builds keep dropout; their inference forward copies.
            let name = ctx.kernelName(i, "dropout_inference")
            return KernelCode(definition: """
                \(ctx.banner(i, "dropout at inference: identity"))
                static void \(name)(int nb, const float *restrict x, float *restrict y) {
                    memcpy(y, x, (size_t)nb * \(size) * sizeof(float));
                }
                """, call: "\(name)(nb, \(x), \(y));")
        default:
            preconditionFailure("not an elementwise op: \(node.op)")
        }
    }

    /// Per example, the output is `outer` blocks; block o is the inputs' o-th
    /// slices (each `inner × dim_axis` floats) one after another.
    static func concat(_ ctx: EmitContext, _ i: Int, axis: Int) -> KernelCode {
        let node = ctx.graph.nodes[i]
        let a = axis < 0 ? axis + node.shape.count : axis
        let outer = node.shape[..<a].reduce(1, *), inner = node.shape[(a + 1)...].reduce(1, *)
        let name = ctx.kernelName(i, "concat\(node.inputs.count)")
        let params = node.inputs.indices.map { "const float *restrict x\($0)" }.joined(separator: ", ")
        var copies = "", at = 0
        for (j, k) in node.inputs.enumerated() {
            let chunk = ctx.graph.nodes[k].shape[a] * inner, total = ctx.graph.nodes[k].size
            copies += "\n            memcpy(yo + \(at), x\(j) + (size_t)b * \(total) + (size_t)o * \(chunk), \(chunk) * sizeof(float));"
            at += chunk
        }
        return KernelCode(definition: """
            \(ctx.banner(i, "concat of \(node.inputs.count) inputs on axis \(a)"))
            static void \(name)(int nb, \(params), float *restrict y) {
                for (int b = 0; b < nb; b++)
                    for (int o = 0; o < \(outer); o++) {
                        float *yo = y + (size_t)b * \(node.size) + (size_t)o * \(at);\(copies)
                    }
            }
            """, call: "\(name)(nb, \(node.inputs.map { ctx.value($0) }.joined(separator: ", ")), \(ctx.value(i)));")
    }
}
