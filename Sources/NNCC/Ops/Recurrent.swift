/// rnn, lstm and gru over a [T, F] sequence from zero state. A small batch
/// projects the input of all T steps in one GEMM; a larger one projects each
/// step's input alone (see `wholeSequenceBatch`). Each step then runs the
/// recurrent GEMM (h·W_hhᵀ) and one loop over the gates and the state update.
/// The hidden state lives in the output buffer itself (row t of a sequence
/// output, or the [H] output), so steps read the previous h in place.
/// Training: a forward that keeps the gate history, and backpropagation
/// through time (templates/recurrent_train.c).
enum RecurrentOps: OpFamily {
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
    struct Packed { var wih, inputBias, whh, recurrentBias: Region, wihRows, whhRows: Region? }

    static func packed(_ d: Dims, _ s: Schedule, training: Bool) -> Packed {
        var b = RegionBuilder()
        let gp = s.padded(d.g)
        return Packed(wih: b.take(d.f * gp), inputBias: b.take(gp), whh: b.take(d.h * gp), recurrentBias: b.take(gp),
                      wihRows: training ? b.take(d.g * s.padded(d.f)) : nil,
                      whhRows: training ? b.take(d.g * s.padded(d.h)) : nil)
    }

    /// The largest batch whose input projection runs for all steps at once
    /// (one GEMM of nb·T rows: at batch 1 it streams W_ih once instead of once
    /// per step); larger batches project one step at a time, nb rows, so the
    /// gates of a step stay in L1/L2. The lstm bench model at b=32 kept 3.2 MB
    /// of them, read back from L3 or memory (0.75× ORT on AVX2).
    static func wholeSequenceBatch(_ d: Dims, _ s: Schedule, maxBatch: Int) -> Int {
        min(maxBatch, s.recurrentWholeSequenceFloats / (d.t * d.g))
    }

    /// Floats of the gate pre-activations: every step of a small batch, or one step of the largest.
    static func gateFloats(_ d: Dims, _ s: Schedule, maxBatch: Int) -> Int {
        max(maxBatch * d.g, wholeSequenceBatch(d, s, maxBatch: maxBatch) * d.t * d.g)
    }

    static func plan(_ g: Graph, _ i: Int, _ s: Schedule, training: Bool) -> KernelPlan {
        let d = dims(g, i), p = packed(d, s, training: training), B = g.maxBatch
        // Scratch: gate pre-activations, GRU's h·W_hhᵀ row, the LSTM cell.
        let rows = max(B, wholeSequenceBatch(d, s, maxBatch: B) * d.t)
        return KernelPlan(kernel: s.reference ? .naive : .recurrent, scratchFloats: gateFloats(d, s, maxBatch: B) + B * d.g + B * d.h,
                          packedFloats: (p.whhRows ?? p.recurrentBias).end, gemmRows: training ? s.rowsPerTile : rows,
                          backward: training ? (s.reference ? .naive : .gemm) : nil)
    }

    static func templates(_ node: Node) -> [Template] { node.plan.backward == nil ? [.gemm] : [.gemm, .recurrentTrain] }

    static func forward(_ ctx: EmitContext, _ i: Int) -> KernelCode? {
        let node = ctx.graph.nodes[i], d = dims(ctx.graph, i), gp = ctx.schedule.padded(d.g)
        let layout = packed(d, ctx.schedule, training: ctx.training)
        let (T, F, H, G) = (d.t, d.f, d.h, d.g)
        let seq = d.r.returnSequences
        let gemm = node.plan.kernel == .naive ? "nn_gemm_naive" : "nn_gemm"
        let name = ctx.kernelName(i, d.r.cell.name)
        let offWhh = layout.whh.offset, offBh = layout.recurrentBias.offset
        let isGRU = d.r.cell == .gru
        // Where step t's h goes and where the previous one is read, with its row stride.
        let hOut = seq ? "y + (size_t)t * \(H)" : "y"
        let hPrev = seq ? "y + (size_t)(t - 1) * \(H)" : "y"
        let ldh = seq ? T * H : H
        let recurrent = isGRU
            ? """
              if (t > 0) {
                          nn_epilogue eh = {.bias = w + \(offBh), .bias_mode = 1, .act = NN_ACT_NONE};
                          \(gemm)(nb, \(G), \(H), \(hPrev), \(ldh), w + \(offWhh), hg, \(G), eh);
                      } else {
                          for (int b = 0; b < nb; b++) memcpy(hg + (size_t)b * \(G), w + \(offBh), \(G) * sizeof(float));
                      }
              """
            : """
              if (t > 0) {
                          nn_epilogue eh = {.accumulate = 1, .act = NN_ACT_NONE};
                          \(gemm)(nb, \(G), \(H), \(hPrev), \(ldh), w + \(offWhh), gt, ldg, eh);
                      }
              """
        // Gate activations run over whole gate blocks with vector exp.
        let update: String
        switch d.r.cell {
        case .rnnTanh, .rnnRelu:
            update = """
                memcpy(h, p, \(H) * sizeof(float));
                            nn_act_n(\(d.r.cell == .rnnTanh ? "NN_ACT_TANH" : "NN_ACT_RELU"), 0.0f, 0.0f, h, \(H));
                """
        case .lstm:
            update = """
                nn_act_n(NN_ACT_SIGMOID, 0.0f, 0.0f, p, \(2 * H));         /* i, f */
                            nn_act_n(NN_ACT_TANH, 0.0f, 0.0f, p + \(2 * H), \(H));    /* g */
                            nn_act_n(NN_ACT_SIGMOID, 0.0f, 0.0f, p + \(3 * H), \(H)); /* o */
                            for (int j = 0; j < \(H); j++) { cs[j] = p[\(H) + j] * cs[j] + p[j] * p[\(2 * H) + j]; h[j] = cs[j]; }
                            nn_act_n(NN_ACT_TANH, 0.0f, 0.0f, h, \(H));
                            for (int j = 0; j < \(H); j++) h[j] *= p[\(3 * H) + j];
                """
        case .gru:
            update = """
                const float *q = hg + (size_t)b * \(G);
                            const float *hp_row = t > 0 ? \(hPrev) + (size_t)b * \(ldh) : h;
                            for (int j = 0; j < \(2 * H); j++) p[j] += q[j];
                            nn_act_n(NN_ACT_SIGMOID, 0.0f, 0.0f, p, \(2 * H));         /* r, z */
                            for (int j = 0; j < \(H); j++) p[\(2 * H) + j] += p[j] * q[\(2 * H) + j];
                            nn_act_n(NN_ACT_TANH, 0.0f, 0.0f, p + \(2 * H), \(H));    /* n */
                            for (int j = 0; j < \(H); j++) {
                                float z = p[\(H) + j], hp = t > 0 ? hp_row[j] : 0.0f;
                                h[j] = (1.0f - z) * p[\(2 * H) + j] + z * hp;
                            }
                """
        }
        let whole = wholeSequenceBatch(d, ctx.schedule, maxBatch: ctx.graph.maxBatch)
        let gates = d.r.cell == .lstm ? "i, f, g, o" : d.r.cell == .gru ? "r, z, n" : "one"
        let definition = """
            \(ctx.banner(i, "\(d.r.cell.name) \(F) -> \(H) over \(T) steps, gates \(gates)\(seq ? ", every step's h" : ", last h")"))
            static void \(name)(int nb, const float *restrict x, const float *restrict w, float *restrict y, float *restrict scratch) {
                /* nb <= \(whole): every step's gate pre-activations [nb, \(T), \(G)], one input GEMM;
                   else one step's [nb, \(G)], its input projected at the step (they stay in cache). */
                const int whole = nb <= \(whole);
                float *xg = scratch;
                float *hg = scratch + (size_t)\(gateFloats(d, ctx.schedule, maxBatch: ctx.graph.maxBatch));   /* [nb, \(G)] h·W_hhᵀ + b_hh (gru) */
                float *cell = hg + (size_t)\(ctx.graph.maxBatch * G);          /* [nb, \(H)] lstm cell state */
                (void)hg; (void)cell;
                nn_epilogue ex = {.bias = w + \(layout.inputBias.offset), .bias_mode = 1, .act = NN_ACT_NONE};
                if (whole) \(gemm)(nb * \(T), \(G), \(F), x, \(F), w, xg, \(G), ex);
                const int ldg = whole ? \(T * G) : \(G);
                \(d.r.cell == .lstm ? "memset(cell, 0, (size_t)nb * \(H) * sizeof(float));" : "")
                for (int t = 0; t < \(T); t++) {
                    float *gt = whole ? xg + (size_t)t * \(G) : xg;   /* row b of step t at gt + b·ldg */
                    if (!whole) \(gemm)(nb, \(G), \(F), x + (size_t)t * \(F), \(T * F), w, xg, \(G), ex);
                    \(recurrent)
                    for (int b = 0; b < nb; b++) {
                        float *p = gt + (size_t)b * ldg;
                        float *h = \(hOut) + (size_t)b * \(seq ? T * H : H);
                        float *cs = cell + (size_t)b * \(H);
                        (void)cs;
                        \(update)
                    }
                }
            }
            """
        let call = "\(name)(nb, \(ctx.value(node.inputs[0])), \(ctx.packed(i)), \(ctx.value(i)), \(ctx.scratch(i)));"
        let p = ctx.packed(i), inputBias = layout.inputBias.at(p)
        let biases = isGRU
            ? "nn_pack_bias(\(G), \(gp), \(ctx.param(node, "bias_ih_l0")), \(inputBias));"
            : """
            nn_pack_bias(\(G), \(gp), \(ctx.param(node, "bias_ih_l0")), \(inputBias));
                for (int j = 0; j < \(G); j++) (\(inputBias))[j] += (\(ctx.param(node, "bias_hh_l0")))[j];
            """
        let packing = """
                /* layer "\(CSyntax.comment(node.name))": \(d.r.cell.name) W_ih [\(G), \(F)] and W_hh [\(G), \(H)] -> panels; \(isGRU ? "b_ih and b_hh kept apart (n gate)" : "b_ih + b_hh") */
                nn_pack_transposed(\(G), \(F), \(ctx.param(node, "weight_ih_l0")), \(layout.wih.at(p)));
                \(biases)
                nn_pack_transposed(\(G), \(H), \(ctx.param(node, "weight_hh_l0")), \(layout.whh.at(p)));
                nn_pack_bias(\(G), \(gp), \(ctx.param(node, "bias_hh_l0")), \(layout.recurrentBias.at(p)));
            """
        var separate = ""
        if let wih = layout.wihRows, let whh = layout.whhRows {
            separate = "    nn_pack_rows(\(G), \(F), \(ctx.param(node, "weight_ih_l0")), \(F), \(wih.at(p)));  /* for ∂x */"
                + "\n    nn_pack_rows(\(G), \(H), \(ctx.param(node, "weight_hh_l0")), \(H), \(whh.at(p)));  /* for ∂h */"
        }
        return KernelCode(definition: definition, call: call, packing: packing, separatePacking: separate)
    }

    // MARK: training

    /// The history the training forward keeps (gates, h, the cell, GRU's
    /// n-part) and the scratch of backpropagation through time.
    struct Saved { var gates, hs, cs, hn, hg, dP, dPh, dh, dc, tr, hprev, panels: Slot }

    static func reserve(_ g: Graph, _ i: Int, _ s: Schedule, _ layout: inout TrainLayout) {
        let d = dims(g, i), B = g.maxBatch
        func take(_ n: Int) -> Slot { layout.take(n) }
        let saved = Saved(gates: take(B * d.t * d.g), hs: take(B * d.t * d.h), cs: take(B * d.t * d.h),
                          hn: take(B * d.t * d.h), hg: take(B * d.g), dP: take(B * d.t * d.g),
                          dPh: take(B * d.t * d.g), dh: take(B * d.h), dc: take(B * d.h),
                          tr: take(B * d.t * d.g), hprev: take(B * d.t * d.h),
                          panels: take(B * d.t * max(s.padded(d.f), s.padded(d.h))))
        layout.save(i, saved)
    }

    /// The kernels' nn_rnn_shape literal.
    static func shape(_ d: Dims) -> String {
        let cell = switch d.r.cell { case .rnnTanh: 0; case .rnnRelu: 1; case .lstm: 2; case .gru: 3 }
        return "(nn_rnn_shape){.cell = \(cell), .T = \(d.t), .F = \(d.f), .H = \(d.h), .G = \(d.g), .seq = \(d.r.returnSequences ? 1 : 0)}"
    }

    static func trainingForward(_ ctx: EmitContext, _ t: TrainLayout, _ i: Int) -> String? {
        let n = ctx.graph.nodes[i], d = dims(ctx.graph, i), s = t.saved(i, as: Saved.self)
        return "nn_rnn_train_forward(\(shape(d)), nb, \(ctx.value(n.inputs[0])), \(ctx.packed(i)), \(ctx.schedule.padded(d.g)), \(ctx.value(i)), "
            + "\(s.gates.pointer), \(s.hs.pointer), \(s.cs.pointer), \(s.hn.pointer), \(s.hg.pointer));"
    }

    static func backward(_ ctx: EmitContext, _ t: TrainLayout, _ i: Int) -> BackwardCode {
        let g = ctx.graph, node = g.nodes[i], d = dims(g, i), s = t.saved(i, as: Saved.self)
        let x = ctx.value(node.inputs[0]), dy = t.gradPointer(g, i)!, dx = t.gradPointer(g, node.inputs[0]) ?? "NULL"
        func grad(_ p: String) -> String { ctx.grad(node, p) }
        let history = "\(s.gates.pointer), \(s.hs.pointer), \(s.cs.pointer), \(s.hn.pointer), \(dy), \(dx), "
            + "\(grad("weight_ih_l0")), \(grad("weight_hh_l0")), \(grad("bias_ih_l0")), \(grad("bias_hh_l0")), "
            + "\(s.dP.pointer), \(s.dPh.pointer), \(s.dh.pointer), \(s.dc.pointer)"
        if node.plan.backward == .naive {
            return BackwardCode(statements: ctx.ruleHead(i) + "    nn_rnn_backward(\(shape(d)), nb, \(x), \(ctx.param(node, "weight_ih_l0")), "
                + "\(ctx.param(node, "weight_hh_l0")), \(history));\n")
        }
        let p = packed(d, ctx.schedule, training: true), w = ctx.packed(i)
        return BackwardCode(statements: ctx.ruleHead(i) + "    nn_rnn_backward_gemm(\(shape(d)), nb, \(x), \(p.wihRows!.at(w)), \(p.whhRows!.at(w)), "
            + "\(history), \(s.tr.pointer), \(s.hprev.pointer), \(s.panels.pointer));\n")
    }
}
