/// rnn, lstm and gru over a [T, F] sequence from zero state. The input
/// projection of all T steps is one GEMM; each step then runs the recurrent
/// GEMM (h·W_hhᵀ) and one fused loop over the gates and the state update.
/// The hidden state lives in the output buffer itself (row t of a sequence
/// output, or the [H] output), so steps read the previous h in place.
enum RecurrentEmitter {
    struct Dims {
        var t: Int, f: Int, h: Int, r: Recurrent
        var g: Int { r.cell.gates * h }
    }

    static func dims(_ graph: Graph, _ i: Int) -> Dims {
        let n = graph.nodes[i], x = graph.nodes[n.inputs[0]].shape
        guard case let .recurrent(r) = n.op else { preconditionFailure("not recurrent") }
        return Dims(t: x[0], f: x[1], h: r.units, r: r)
    }

    /// W_ih panels, input bias, W_hh panels, recurrent bias (each padded to
    /// panels); training builds add W_ih and W_hh as row panels for backward.
    static func packedFloats(_ ctx: EmitContext, _ i: Int) -> Int {
        let d = dims(ctx.graph, i), gp = ctx.schedule.padded(d.g)
        let rows = ctx.training ? d.g * (ctx.schedule.padded(d.f) + ctx.schedule.padded(d.h)) : 0
        return d.f * gp + gp + d.h * gp + gp + rows
    }

    /// W_ih's and W_hh's row panels in a training build's packed block.
    static func rowPanels(_ ctx: EmitContext, _ i: Int) -> (wih: String, whh: String) {
        let d = dims(ctx.graph, i), gp = ctx.schedule.padded(d.g), base = d.f * gp + gp + d.h * gp + gp
        return ("\(ctx.packed(i)) + \(base)", "\(ctx.packed(i)) + \(base + d.g * ctx.schedule.padded(d.f))")
    }

    /// Gate pre-activations of all steps, the LSTM cell or GRU's h·W_hhᵀ row.
    static func scratchFloats(_ g: Graph, _ i: Int, schedule: Schedule, maxBatch: Int) -> Int {
        let d = dims(g, i)
        return maxBatch * d.t * d.g + maxBatch * d.g + maxBatch * d.h
    }

    static func emit(_ ctx: EmitContext, _ i: Int) -> KernelCode {
        let node = ctx.graph.nodes[i], d = dims(ctx.graph, i), gp = ctx.schedule.padded(d.g)
        let (T, F, H, G) = (d.t, d.f, d.h, d.g)
        let seq = d.r.returnSequences
        let gemm = ctx.schedule.reference ? "nn_gemm_naive" : "nn_gemm"
        let name = ctx.kernelName(i, d.r.cell.name)
        let offWhh = F * gp + gp, offBh = offWhh + H * gp
        let isGRU = d.r.cell == .gru
        // Where step t's h goes and where the previous one is read, with its row stride.
        let hOut = seq ? "y + (size_t)t * \(H)" : "y"
        let hPrev = seq ? "y + (size_t)(t - 1) * \(H)" : "y"
        let ldh = seq ? T * H : H
        let recurrent = isGRU
            ? """
                  if (t > 0) {
                          nn_epilogue eh = {w + \(offBh), 1, 0, NN_ACT_NONE, 0.0f};
                          \(gemm)(nb, \(G), \(H), \(hPrev), \(ldh), w + \(offWhh), hg, \(G), eh);
                      } else {
                          for (int b = 0; b < nb; b++) memcpy(hg + (size_t)b * \(G), w + \(offBh), \(G) * sizeof(float));
                      }
              """
            : """
                  if (t > 0) {
                          nn_epilogue eh = {NULL, 0, 1, NN_ACT_NONE, 0.0f};
                          \(gemm)(nb, \(G), \(H), \(hPrev), \(ldh), w + \(offWhh), xg + (size_t)t * \(G), \(T * G), eh);
                      }
              """
        // Gate activations run over whole gate blocks with vector exp.
        let update: String
        switch d.r.cell {
        case .rnnTanh, .rnnRelu:
            update = """
                memcpy(h, p, \(H) * sizeof(float));
                            nn_act_n(\(d.r.cell == .rnnTanh ? "NN_ACT_TANH" : "NN_ACT_RELU"), 0.0f, h, \(H));
                """
        case .lstm:
            update = """
                nn_act_n(NN_ACT_SIGMOID, 0.0f, p, \(2 * H));         /* i, f */
                            nn_act_n(NN_ACT_TANH, 0.0f, p + \(2 * H), \(H));    /* g */
                            nn_act_n(NN_ACT_SIGMOID, 0.0f, p + \(3 * H), \(H)); /* o */
                            for (int j = 0; j < \(H); j++) { cs[j] = p[\(H) + j] * cs[j] + p[j] * p[\(2 * H) + j]; h[j] = cs[j]; }
                            nn_act_n(NN_ACT_TANH, 0.0f, h, \(H));
                            for (int j = 0; j < \(H); j++) h[j] *= p[\(3 * H) + j];
                """
        case .gru:
            update = """
                const float *q = hg + (size_t)b * \(G);
                            const float *hp_row = t > 0 ? \(hPrev) + (size_t)b * \(ldh) : h;
                            for (int j = 0; j < \(2 * H); j++) p[j] += q[j];
                            nn_act_n(NN_ACT_SIGMOID, 0.0f, p, \(2 * H));         /* r, z */
                            for (int j = 0; j < \(H); j++) p[\(2 * H) + j] += p[j] * q[\(2 * H) + j];
                            nn_act_n(NN_ACT_TANH, 0.0f, p + \(2 * H), \(H));    /* n */
                            for (int j = 0; j < \(H); j++) {
                                float z = p[\(H) + j], hp = t > 0 ? hp_row[j] : 0.0f;
                                h[j] = (1.0f - z) * p[\(2 * H) + j] + z * hp;
                            }
                """
        }
        let gates = d.r.cell == .lstm ? "i, f, g, o" : d.r.cell == .gru ? "r, z, n" : "one"
        let definition = """
            \(ctx.banner(i, "\(d.r.cell.name) \(F) -> \(H) over \(T) steps, gates \(gates)\(seq ? ", every step's h" : ", last h")"))
            static void \(name)(int nb, const float *restrict x, const float *restrict w, float *restrict y, float *restrict scratch) {
                float *xg = scratch;                                /* [nb, \(T), \(G)] gate pre-activations */
                float *hg = scratch + (size_t)\(ctx.graph.maxBatch * T * G);   /* [nb, \(G)] h·W_hhᵀ + b_hh (gru) */
                float *cell = hg + (size_t)\(ctx.graph.maxBatch * G);          /* [nb, \(H)] lstm cell state */
                (void)hg; (void)cell;
                nn_epilogue ex = {w + \(F * gp), 1, 0, NN_ACT_NONE, 0.0f};
                \(gemm)(nb * \(T), \(G), \(F), x, \(F), w, xg, \(G), ex);
                \(d.r.cell == .lstm ? "memset(cell, 0, (size_t)nb * \(H) * sizeof(float));" : "")
                for (int t = 0; t < \(T); t++) {
                    \(recurrent)
                    for (int b = 0; b < nb; b++) {
                        float *p = xg + ((size_t)b * \(T) + t) * \(G);
                        float *h = \(hOut) + (size_t)b * \(seq ? T * H : H);
                        float *cs = cell + (size_t)b * \(H);
                        (void)cs;
                        \(update)
                    }
                }
            }
            """
        let call = "\(name)(nb, \(ctx.value(node.inputs[0])), \(ctx.packed(i)), \(ctx.value(i)), \(ctx.scratch(i)));"
        let p = ctx.packed(i)
        let inputBias = isGRU
            ? "nn_pack_bias(\(G), \(gp), \(ctx.param(node, "bias_ih_l0")), \(p) + \(F * gp));"
            : """
            nn_pack_bias(\(G), \(gp), \(ctx.param(node, "bias_ih_l0")), \(p) + \(F * gp));
                for (int j = 0; j < \(G); j++) (\(p) + \(F * gp))[j] += (\(ctx.param(node, "bias_hh_l0")))[j];
            """
        let packing = """
                /* layer "\(CSyntax.comment(node.name))": \(d.r.cell.name) W_ih [\(G), \(F)] and W_hh [\(G), \(H)] -> panels; \(isGRU ? "b_ih and b_hh kept apart (n gate)" : "b_ih + b_hh") */
                nn_pack_transposed(\(G), \(F), \(ctx.param(node, "weight_ih_l0")), \(p));
                \(inputBias)
                nn_pack_transposed(\(G), \(H), \(ctx.param(node, "weight_hh_l0")), \(p) + \(offWhh));
                nn_pack_bias(\(G), \(gp), \(ctx.param(node, "bias_hh_l0")), \(p) + \(offBh));
            """
        var packs = packing
        if ctx.training {
            let r = rowPanels(ctx, i)
            packs += "\n    nn_pack_rows(\(G), \(F), \(ctx.param(node, "weight_ih_l0")), \(F), \(r.wih));  /* for ∂x */"
                + "\n    nn_pack_rows(\(G), \(H), \(ctx.param(node, "weight_hh_l0")), \(H), \(r.whh));  /* for ∂h */"
        }
        return KernelCode(definition: definition, call: call, packing: packs)
    }
}
