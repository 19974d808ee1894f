/// Emits NAME_train_step: forward in training mode (dropout masks, batch
/// statistics, saved gate history), the loss, every gradient rule in
/// reverse order, gradient clipping, the optimizer update and repacking.
enum TrainingEmitter {
    /// `sharedNames`: forward kernels that large models replace by an identical earlier one (CodeSize.shareKernels).
    /// `packUnits`: NAME_pack's statements by layer, with a cost (the threaded step shares them out).
    static func emit(_ ctx: EmitContext, inferenceCalls: [Int: String], sharedNames: [String: String] = [:],
                     packUnits: [(code: String, cost: Int)] = [], prefix p: String, profile: inout Profile) -> TrainingCode {
        let g = ctx.graph, plan = g.gradients!, train = g.train!
        let t = TrainLayout(g, schedule: ctx.schedule, paramFloats: ctx.paramFloats)
        let trainable = g.params.filter(\.trainable)
        let o = train.optimizer
        let gradStats = GradStats(ctx, trainable: trainable, scratch: t.floats, prefix: p)

        let forwardCalls = g.nodes.indices.dropFirst().compactMap { i -> (Int, String)? in
            guard let call = g.nodes[i].op.family.trainingForward(ctx, t, i) else { return inferenceCalls[i].map { (i, $0) } }
            let name = CodeSize.callee(call)
            return (i, sharedNames[name].map { $0 + call.dropFirst(name.count) } ?? call)
        }
        let forward = profile.timedList(forwardCalls.map(\.1), phase: "train_forward", nodes: forwardCalls.map(\.0), g)
        let assigned = NormalizationOps.assignedGradients(g)
        let zeroGrads = t.grad.keys.sorted().filter { !assigned.contains($0) }.map { root in
            "    memset(c->train + \(t.grad[root]!), 0, (size_t)nb * \(g.nodes[root].size) * sizeof(float));"
        }
        // Statements of the step that large models split into out-of-line parts (CodeSize).
        let args = ["\(p)_ctx *c", "const float *x", "int nb"], large = CodeSize.isLarge(g, ctx.schedule)
        let backwardCode = plan.order.map { g.nodes[$0].op.family.backward(ctx, t, $0) }
        var rules = backwardCode.map(\.statements), kernels = backwardCode.map(\.definitions)
        CodeSize.shareBackwardKernels(plan.order, &kernels, &rules)
        let lossEntry = profile.enabled ? profile.entry("loss") : 0
        let ruled = zip(plan.order, rules).filter { !$0.1.isEmpty }
        rules = profile.timedList(ruled.map { String($0.1.dropLast()) }, phase: "backward", nodes: ruled.map(\.0), g)
        let updateEntry = profile.enabled ? profile.entry("update") : 0
        // Small models too keep the gradient rules out of the step, in SourceParts.count parts or more: the
        // step's inlined rules were a third of the library, one function that no part could share.
        let backward = CodeSize.body(rules, large: true, function: "\(p)_backward", parameters: args, share: large,
                                     perPart: large ? CodeSize.statementsPerPart : max(1, (rules.count + 3) / 4))
        let zero = CodeSize.body(zeroGrads, large: large, function: "\(p)_zero_grads", parameters: args, share: true)
        let trainForward = CodeSize.body(forward.map { "    " + $0 }, large: large, function: "\(p)_train_forward",
                                        parameters: args, share: true)
        let lossCall = Self.lossCall(ctx, t), outSize = g.nodes[plan.source].size
        // The optimizer's update of `count` floats at `off`.
        func update(count: String) -> String {
            switch o.kind {
            case .sgd:
                return "nn_sgd(\(count), c->params + off, c->grads + off, c->opt1 + off, c->lr, \(CSyntax.float(o.momentum)), \(CSyntax.float(o.weightDecay)), \(o.nesterov ? 1 : 0), c->step == 0);"
            case .adam:
                return "nn_adam(\(count), c->params + off, c->grads + off, c->opt1 + off, c->opt2 + off, c->lr, \(CSyntax.float(o.betas.0)), \(CSyntax.float(o.betas.1)), \(CSyntax.float(o.eps)), \(CSyntax.float(o.weightDecay)), c->step + 1);"
            }
        }
        let stateUpdates = g.nodes.indices.compactMap { g.nodes[$0].op.family.stateUpdate(ctx, t, $0) }
        let stats = CodeSize.body(stateUpdates, large: large, function: "\(p)_running_stats", parameters: args, share: true)
        let split = TrainThreads.emit(ctx, t, blockAt: t.floats + gradStats.extraFloats, definitions: backwardCode.map(\.definitions),
                                      sharedNames: sharedNames, loss: Self.lossCall, prefix: p, profile: profile)
        let labelCheck = plan.loss == .crossEntropy
            ? "    for (int b = 0; b < nb; b++) if (labels[b] < 0 || labels[b] >= \(outSize)) return NN_ERR_LABEL;\n"
            : "    (void)labels;\n"

        // The whole batch on this thread; `declared`: L is declared already (the split step's fallback).
        func wholeStep(declared: Bool) -> String {
            let loss = profile.enabled ? "float L;\n    " + profile.timed("    L = \(lossCall);", lossEntry)
                : "\(declared ? "" : "float ")L = \(lossCall);"
            return """
                    \(p)_train_forward(c, x, nb);
                    memset(c->grads, 0, \(t.paramFloats) * sizeof(float));
                \(zero.body)
                    \(loss)
                    if (!isfinite(L)) { c->rng = rng; return NN_ERR_NONFINITE; }
                \(backward.body.isEmpty ? "" : backward.body + "\n")
                """
        }
        // With threads: the split step, or the whole batch on one thread (a batch of one, too few threads).
        let splitStep = """
                float L;
                int finite;  /* the split step checks each thread's part of the summed gradients */
                if (!(nb > 1 && \(p)_train_split(c, x, targets, nb, &L, &finite))) {
            \(wholeStep(declared: true).split(separator: "\n").map { "    " + $0 }.joined(separator: "\n"))
                    finite = nn_all_finite(\(t.paramFloats), c->grads);
                }
                if (!isfinite(L)) { c->rng = rng; return NN_ERR_NONFINITE; }

            """
        // With the split step the update is split too (the optimizers are elementwise, so the parameters are
        // those of one thread's update): each thread updates the range of the parameters whose gradients it
        // summed (TrainThreads), still in its cache; split per tensor, a thread read what the other had written.
        let updateLoop = split == nil || ctx.gradientStats ? """
                for (int i = 0; i < \(trainable.count); i++) {
                    size_t off = \(p)_train_offsets[i];
                    \(gradStats.beforeUpdate)\(update(count: "\(p)_train_counts[i]"))\(gradStats.afterUpdate)
                }
            """ : """
                NN_OMP(parallel num_threads(NN_THREADS))
                {
                    const int t = NN_THREAD_ID(), team = NN_TEAM_SIZE();
                    \(TrainThreads.threadRange(ctx.paramFloats, lo: "mine", hi: "end"))
                    for (int i = 0; i < \(trainable.count); i++) {
                        const size_t first = \(p)_train_offsets[i], last = first + \(p)_train_counts[i];
                        const size_t lo = first > mine ? first : mine, hi = last < end ? last : end;
                        if (lo >= hi) continue;
                        size_t off = lo;
                        \(update(count: "hi - lo"))
                    }
                }
            """
        let repack = Self.repack(split == nil ? [] : packUnits, prefix: p)
        let defines = """
            #define \(p)_TRAIN_FLOATS \(t.floats + gradStats.extraFloats + (split?.floats ?? 0))
            static void \(p)_train_init(\(p)_ctx *c, float *block);
            """
        let fields = """
                float *train;   /* training block: gradients, optimizer state, saved activations */
                float *grads;   /* parameter gradients, same offsets as params */
                float *opt1;    /* momentum buffer, or Adam's first moment */
                float *opt2;    /* Adam's second moment */
                uint64_t rng;   /* dropout masks */
                long step;      /* optimizer steps taken */
                float lr;
            \(gradStats.contextFields)
            """
        let functions = """
            /* ---- training ------------------------------------------------------------ */
            \(kernels.joined())\(split?.functions ?? "")\(repack.function)\(trainForward.parts + zero.parts + backward.parts + stats.parts)            static const size_t \(p)_train_offsets[\(trainable.count + 1)] = {\(trainable.map { "\(ctx.paramOffsets[$0.name]!), " }.joined())0};
            static const size_t \(p)_train_counts[\(trainable.count + 1)] = {\(trainable.map { "\($0.size), " }.joined())0};

            static void \(p)_train_init(\(p)_ctx *c, float *block) {
                c->train = block;
                c->grads = block;
                c->opt1 = block + \(t.paramFloats);
                c->opt2 = block + \(2 * t.paramFloats);
                c->rng = \(g.seed)ull ^ 0x6E6E63636472ull;
                c->step = 0;
                c->lr = \(CSyntax.float(o.lr));
            }

            _Static_assert(\(p)_ERR_NONFINITE == NN_ERR_NONFINITE && \(p)_ERR_LR == NN_ERR_LR, "the header's error codes");

            /* A rate that is not finite and >= 0 would turn every parameter into NaN. */
            int \(p)_set_lr(\(p)_ctx *c, float lr) {
                if (!c) return NN_ERR_NULL;
                if (!(isfinite(lr) && lr >= 0)) return NN_ERR_LR;
                c->lr = lr;
                return NN_OK;
            }

            /* Optimizer state for checkpoints: slot 0 is the momentum buffer or Adam's first moment, slot 1
               Adam's second moment, each laid out as parameter i (zeros for a parameter that does not train). */
            int \(p)_get_opt_state(const \(p)_ctx *c, int slot, int i, float *out) {
                if (!c || !out) return NN_ERR_NULL;
                if (slot < 0 || slot > 1 || i < 0 || i >= \(p)_NUM_PARAMS) return NN_ERR_INDEX;
                memcpy(out, (slot == 0 ? c->opt1 : c->opt2) + \(p)_offsets[i], \(p)_param_count(i) * sizeof(float));
                return NN_OK;
            }

            int \(p)_set_opt_state(\(p)_ctx *c, int slot, int i, const float *in) {
                if (!c || !in) return NN_ERR_NULL;
                if (slot < 0 || slot > 1 || i < 0 || i >= \(p)_NUM_PARAMS) return NN_ERR_INDEX;
                memcpy((slot == 0 ? c->opt1 : c->opt2) + \(p)_offsets[i], in, \(p)_param_count(i) * sizeof(float));
                return NN_OK;
            }

            /* The optimizer's step count and the dropout generator's state. */
            int \(p)_get_train_state(const \(p)_ctx *c, int64_t *step, uint64_t *rng) {
                if (!c || !step || !rng) return NN_ERR_NULL;
                *step = c->step;
                *rng = c->rng;
                return NN_OK;
            }

            int \(p)_set_train_state(\(p)_ctx *c, int64_t step, uint64_t rng) {
                if (!c) return NN_ERR_NULL;
                if (step < 0) return NN_ERR_INDEX;
                c->step = (long)step;
                c->rng = rng;
                return NN_OK;
            }

            int \(p)_get_grad(const \(p)_ctx *c, int i, float *out) {
                if (!c || !out) return NN_ERR_NULL;
                if (i < 0 || i >= \(p)_NUM_PARAMS) return NN_ERR_INDEX;
                memcpy(out, c->grads + \(p)_offsets[i], \(p)_param_count(i) * sizeof(float));
                return NN_OK;
            }

            \(gradStats.functions)/* Forward in training mode: dropout draws masks, batchnorm uses batch statistics. */
            static void \(p)_train_forward(\(p)_ctx *c, const float *x, int nb) {
                (void)x;
            \(trainForward.body)
            }

            /* One optimizer step on a batch: \(plan.loss.rawValue) loss, \(o.kind.rawValue) update. A loss or a
               gradient that is not finite refuses the step (NN_ERR_NONFINITE) before anything but the
               gradients changes: parameters, optimizer state, running statistics and the dropout
               generator stay as they were. */
            int \(p)_train_step(\(p)_ctx *c, const float *x, const void *targets, int nb, float *loss) {
                if (!c || !x || !targets || !loss) return NN_ERR_NULL;
                if (nb < 1 || nb > \(p)_MAX_BATCH) return NN_ERR_BATCH;
                const int32_t *labels = (const int32_t *)targets;
                const uint64_t rng = c->rng;
            \(labelCheck)\(EmbeddingOps.inputCheck(g, prefix: p))\(split == nil ? wholeStep(declared: false) : splitStep)    if (!\(split == nil ? "nn_all_finite(\(t.paramFloats), c->grads)" : "finite")) { c->rng = rng; return NN_ERR_NONFINITE; }
            \(profile.enabled ? "    const double nn_tu = nn_prof_now();\n" : "")\(gradStats.afterBackward)\(train.clipGradNorm > 0 ? "    nn_clip_grad_norm(\(t.paramFloats), c->grads, \(CSyntax.float(train.clipGradNorm)));\n" : "")\(updateLoop)
            \(stats.body.isEmpty ? "" : stats.body + "\n")    c->step++;
            \(gradStats.stepTaken)\(repack.call)
            \(profile.enabled ? "    c->prof[\(updateEntry)] += nn_prof_now() - nn_tu;\n" : "")    *loss = L;
                return NN_OK;
            }

            """
        return TrainingCode(contextFields: fields, functions: functions, declarations: defines, splitFloats: split?.floats ?? 0)
    }

    /// The repacking after the update. With the split step (non-empty `units`), NAME_pack's statements
    /// are shared out in one parallel region: a layer's packing, or its ∂x copy, to whichever thread is
    /// free, the largest first (a serial repack was 12% of mlp's step at batch 128, two threads).
    static func repack(_ units: [(code: String, cost: Int)], prefix p: String) -> (function: String, call: String) {
        guard units.count > 1 else { return ("", "    \(p)_pack(c);\n") }
        let sorted = units.enumerated().sorted { ($0.element.cost, $1.offset) > ($1.element.cost, $0.offset) }.map(\.element.code)
        let cases = sorted.enumerated().map { u, code in
            "    case \(u): {\n" + code.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n") + "\n        break;\n    }"
        }.joined(separator: "\n")
        let function = """
            /* \(p)_pack's statements, one layer's packing (or its copy for ∂x) per case, largest first: the train
               step with threads hands them out to whichever thread is free. */
            static void \(p)_pack_unit(\(p)_ctx *c, int u) {
                switch (u) {
            \(cases)
                }
            }

            """
        let call = """
                NN_OMP(parallel for num_threads(NN_THREADS) schedule(dynamic, 1))
                for (int u = 0; u < \(sorted.count); u++) \(p)_pack_unit(c, u);

            """
        return (function, call)
    }

    /// The loss over the batch in `source`, its gradient added into the source's gradient buffer.
    static func lossCall(_ ctx: EmitContext, _ t: TrainLayout) -> String {
        let g = ctx.graph, plan = g.gradients!
        let source = ctx.value(plan.source), dSource = t.gradPointer(g, plan.source)!
        let outSize = g.nodes[plan.source].size
        switch (plan.loss, plan.input) {
        case (.crossEntropy, _): return "nn_cross_entropy(nb, \(outSize), \(source), labels, \(dSource))"
        case (.mse, _): return "nn_mse((size_t)nb * \(outSize), \(source), (const float *)targets, \(dSource))"
        case (.binaryCrossEntropy, .sigmoidLogits): return "nn_bce_logits((size_t)nb * \(outSize), \(source), (const float *)targets, \(dSource))"
        case (.binaryCrossEntropy, _): return "nn_bce((size_t)nb * \(outSize), \(source), (const float *)targets, \(dSource))"
        }
    }
}
