/// maxpool3d and avgpool3d (a pool with a depth axis, PyTorch's MaxPool3d /
/// AvgPool3d) on [C, D, H, W]: the loops of Pool.swift with a third window
/// axis, emitted per layer with the sizes as constants, forward and backward.
extension PoolOps {
    /// One window axis: input size, window, stride, padding before and after, dilation.
    struct WindowAxis { var n, k, s, p0, p1, dil: Int; var name: String }

    static func axes3D(_ p: Pool2D, input x: [Int]) -> [WindowAxis] {
        let d = p.depth!
        return [WindowAxis(n: x[1], k: d.kernel, s: d.stride, p0: d.padFront, p1: d.padBack, dil: d.dilation, name: "d"),
                WindowAxis(n: x[2], k: p.size.0, s: p.stride.0, p0: p.pads.top, p1: p.pads.bottom, dil: p.dilation.0, name: "h"),
                WindowAxis(n: x[3], k: p.size.1, s: p.stride.1, p0: p.pads.left, p1: p.pads.right, dil: p.dilation.1, name: "w")]
    }

    static func describe3D(_ p: Pool2D, isMax: Bool) -> String {
        let d = p.depth!, q = p.pads
        var s = "\(d.kernel)x\(p.size.0)x\(p.size.1) stride \(d.stride),\(p.stride.0),\(p.stride.1) "
            + "pad \(d.padFront),\(q.top),\(q.left),\(d.padBack),\(q.bottom),\(q.right)"
        if isMax && (d.dilation, p.dilation.0, p.dilation.1) != (1, 1, 1) { s += " dilation \(d.dilation),\(p.dilation.0),\(p.dilation.1)" }
        if p.ceilMode { s += " ceil_mode" }
        if !isMax && !p.countIncludePad { s += " excluding padding" }
        return s
    }

    /// The average's division after the window's sum `v`, as `divisor` in 2-D: the full window,
    /// the window clipped to the padded input (ceil mode), or to the input (padding excluded).
    static func divisor3D(_ p: Pool2D, _ axes: [WindowAxis]) -> String {
        if p.countIncludePad && !p.ceilMode { return "* (1.0f / \(axes.map(\.k).reduce(1, *)))" }
        let extents = axes.map { a in
            p.countIncludePad
                ? "((\(a.name)0 + \(a.k) < \(a.n + a.p1) ? \(a.name)0 + \(a.k) : \(a.n + a.p1)) - \(a.name)0)"
                : "((\(a.name)0 + \(a.k) < \(a.n) ? \(a.name)0 + \(a.k) : \(a.n)) - (\(a.name)0 > 0 ? \(a.name)0 : 0))"
        }
        return "/ (float)(" + extents.joined(separator: " * ") + ")"
    }

    /// The loops over the output pixels of one plane and, inside, over the window's elements
    /// that lie in the input: `before` once per output pixel (with `g` its index in the output
    /// plane), `visit` per element (`at`: its index in the input plane), `after` per output pixel.
    static func windowLoops(_ axes: [WindowAxis], out: [Int], before: String, visit: String, after: String) -> String {
        let (d, h, w) = (axes[0], axes[1], axes[2])
        return """
                    for (int od = 0; od < \(out[0]); od++)
                        for (int oh = 0; oh < \(out[1]); oh++)
                            for (int ow = 0; ow < \(out[2]); ow++) {
                                const int d0 = od * \(d.s) - \(d.p0), h0 = oh * \(h.s) - \(h.p0), w0 = ow * \(w.s) - \(w.p0);
                                const int o = (od * \(out[1]) + oh) * \(out[2]) + ow;
                                \(before)
                                for (int a = 0; a < \(d.k); a++) {
                                    const int id = d0 + a * \(d.dil);
                                    if (id < 0 || id >= \(d.n)) continue;
                                    for (int i = 0; i < \(h.k); i++) {
                                        const int ih = h0 + i * \(h.dil);
                                        if (ih < 0 || ih >= \(h.n)) continue;
                                        for (int j = 0; j < \(w.k); j++) {
                                            const int iw = w0 + j * \(w.dil);
                                            if (iw < 0 || iw >= \(w.n)) continue;
                                            const int at = (id * \(h.n) + ih) * \(w.n) + iw;
                                            \(visit)
                                        }
                                    }
                                }
                                \(after)
                            }
            """
    }

    static func forward3D(_ ctx: EmitContext, _ i: Int, _ pool: Pool2D, isMax: Bool) -> KernelCode {
        let node = ctx.graph.nodes[i], x = ctx.graph.nodes[node.inputs[0]].shape, out = Array(node.shape.dropFirst())
        let axes = axes3D(pool, input: x), inPlane = x[1] * x[2] * x[3], outPlane = out.reduce(1, *)
        let name = ctx.kernelName(i, "\(isMax ? "max" : "avg")pool\(pool.depth!.kernel)x\(pool.size.0)x\(pool.size.1)")
        let loops = windowLoops(axes, out: out, before: "float v = \(isMax ? "-INFINITY" : "0.0f");",
                                visit: "const float xv = xp[at];\n" + String(repeating: " ", count: 36)
                                    + (isMax ? "v = xv > v || xv != xv ? xv : v;" : "v += xv;"),
                                after: "yp[o] = \(isMax ? "v" : "v \(divisor3D(pool, axes))");")
        return KernelCode(definition: """
            \(ctx.banner(i, "\(isMax ? "max" : "average") pool " + describe3D(pool, isMax: isMax)))
            static void \(name)(int nb, const float *restrict x, float *restrict y) {
                for (size_t p = 0; p < (size_t)nb * \(x[0]); p++) {
                    const float *xp = x + p * \(inPlane);
                    float *yp = y + p * \(outPlane);
            \(loops)
                }
            }
            """, call: "\(name)(nb, \(ctx.value(node.inputs[0])), \(ctx.value(i)));")
    }

    /// Max: the first maximum in scan order takes the gradient (a NaN wins), as in 2-D;
    /// average: spread over the window with the forward's divisor.
    static func backward3D(_ ctx: EmitContext, _ i: Int, _ pool: Pool2D, isMax: Bool, x xv: String, dy: String, dx: String) -> BackwardCode {
        let node = ctx.graph.nodes[i], x = ctx.graph.nodes[node.inputs[0]].shape, out = Array(node.shape.dropFirst())
        let axes = axes3D(pool, input: x), inPlane = x[1] * x[2] * x[3], outPlane = out.reduce(1, *)
        let name = ctx.kernelName(i, "\(isMax ? "max" : "avg")pool_backward")
        let loops = isMax
            ? windowLoops(axes, out: out, before: "const float g = dyp[o];\n" + String(repeating: " ", count: 24)
                              + "int best = -1;\n" + String(repeating: " ", count: 24) + "float v = -INFINITY;",
                          visit: "if (best < 0 || xp[at] > v || xp[at] != xp[at]) { v = xp[at]; best = at; }",
                          after: "if (best >= 0) dxp[best] += g;")
            : windowLoops(axes, out: out, before: "const float g = dyp[o] \(divisor3D(pool, axes));",
                          visit: "dxp[at] += g;", after: "")
        let (xParam, xArg, xRow) = isMax
            ? ("const float *restrict x, ", "\(xv), ", "const float *xp = x + p * \(inPlane);\n        ")
            : ("", "", "")
        let definition = """
            \(ctx.banner(i, "\(isMax ? "max" : "average") pool backward " + describe3D(pool, isMax: isMax)))
            static void \(name)(int nb, \(xParam)const float *restrict dy, float *restrict dx) {
                for (size_t p = 0; p < (size_t)nb * \(x[0]); p++) {
                    \(xRow)const float *dyp = dy + p * \(outPlane);
                    float *dxp = dx + p * \(inPlane);
            \(loops)
                }
            }
            """
        return BackwardCode(definitions: definition, statements: ctx.ruleHead(i) + "    \(name)(nb, \(xArg)\(dy), \(dx));\n")
    }
}
