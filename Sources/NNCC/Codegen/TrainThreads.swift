/// `--threads N` in the train step: the batch is split once, in one parallel region. Each thread
/// runs the training forward, the loss and backward on its share of the examples, in a block of its
/// own past the training state (an arena and a training layout planned for the largest share, and
/// its own parameter gradients), through a copy of the context whose `arena`, `train` and `grads`
/// point there, so every kernel call is the one-thread statement re-emitted for the share's
/// offsets. The loss of a share is its mean scaled by share/batch, and so is its gradient, so the
/// sum is the whole batch's mean. After a barrier the threads sum the shares' parameter gradients
/// into the context's, each over its own range of parameters, adding the shares in order 0, 1, …:
/// the step is the same from run to run, and differs from one thread's only in the order of the
/// batch sums (float rounding; docs/performance.md#threads). Dense layers' ∂W and ∂b are not summed:
/// after the barrier each thread computes rows of them over the whole batch from the ∂zᵀ and packed x
/// the shares left (nn_dense_dw_team). Summing per-share copies had each share zero its copy, and read
/// every copy and wrote the sum: at two threads, 10% of mlp's step.
///
/// Dropout draws the same masks as one thread: its generator (splitmix64) is a counter, so each
/// share starts each dropout layer's draws at the count one thread would be at for its first example.
///
/// Batchnorm's statistics, and backward their gradient sums, are the whole batch's: the threads add
/// their shares' sums after a barrier (nn_bn_train_forward_share), and the running statistics are
/// updated from thread 0's copy.
///
/// Large models (CodeSize) split too: the share calls the kernels one thread's step shares, and its
/// statements go into out-of-line parts like the one-thread step's.
///
/// Not split (the step runs on one thread, kernels splitting their own loops as before): the profile
/// and a batch of one; also, at run time, when OpenMP gives fewer threads than the shares were
/// planned for.
enum TrainThreads {
    struct Split {
        /// `NAME_train_share` and `NAME_train_split`.
        var functions: String
        /// Floats of the N per-thread blocks, past the training block.
        var floats: Int
    }

    /// `blockAt`: where the per-thread blocks start in `c->train`. `definitions`: the one-thread backward's
    /// kernels, which the share's statements call (they must not depend on the batch planned for).
    /// `sharedNames`: forward kernels a large model replaces by an identical earlier one.
    static func emit(_ ctx: EmitContext, _ whole: TrainLayout, blockAt: Int, definitions: [String],
                     sharedNames: [String: String], loss: (EmitContext, TrainLayout) -> String,
                     prefix p: String, profile: Profile) -> Split? {
        let g = ctx.graph, threads = ctx.schedule.threads, plan = g.gradients!
        guard threads > 1, g.maxBatch > 1, !profile.enabled else { return nil }
        let large = CodeSize.isLarge(g, ctx.schedule)
        let perThread = (g.maxBatch + threads - 1) / threads
        guard var planned = try? planMemory(g, maxBatch: perThread, keepAll: true) else { return nil }
        planned.gradients = g.gradients
        var share = ctx
        share.graph = planned
        let layout = TrainLayout(planned, schedule: ctx.schedule, paramFloats: ctx.paramFloats, optimizerState: false)
        // Batchnorm's partial sums, per layer and direction [threads][2·C], past the threads' blocks.
        let arenaFloats = (planned.arenaFloats + 15) / 16 * 16, trainFloats = (layout.floats + 15) / 16 * 16
        let blockFloats = arenaFloats + trainFloats
        var partAt = blockAt + threads * blockFloats
        var parts: [Int: (forward: String, backward: String)] = [:]
        for (i, n) in g.nodes.enumerated() {
            guard case .batchNorm = n.op else { continue }
            let floats = (threads * 2 * n.shape[0] + 15) / 16 * 16
            parts[i] = ("whole->train + \(partAt)", "whole->train + \(partAt + floats)")
            partAt += 2 * floats
        }
        // Dense layers' ∂W, ∂b: after the shares, over the whole batch, rows split across the team.
        let teamGradients = DenseOps.teamWeightGradients(g)
        let backward = plan.order.map { i in
            parts[i].map { NormalizationOps.shareBackward(share, layout, i, part: $0.backward) }
                ?? (teamGradients.contains(i) ? DenseOps.backward(share, layout, i, weightGradient: false)
                    : planned.nodes[i].op.family.backward(share, layout, i))
        }
        let summed = summedRanges(ctx, excluding: teamGradients)
        // The share calls the one-thread kernels: refuse a kernel whose code depends on the batch planned for.
        func batchFree(_ s: String) -> String { s.split(separator: "\n").filter { !$0.contains("batch nb <=") }.joined(separator: "\n") }
        guard backward.map({ batchFree($0.definitions) }) == definitions.map(batchFree) else { return nil }

        // Dropout: the draws one thread makes before each layer's, per example of the batch.
        var drawn = 0
        var forward: [String] = []
        for i in g.nodes.indices.dropFirst() {
            let node = planned.nodes[i]
            if case .dropout = node.op {
                forward.append("c->rng = rng0 + NN_SPLITMIX_STEP * ((uint64_t)nb_all * \(drawn) + (uint64_t)b0 * \(node.size));")
                drawn += node.size
            }
            if let call = parts[i].flatMap({ NormalizationOps.shareForward(share, layout, i, part: $0.forward) })
                ?? node.op.family.trainingForward(share, layout, i) ?? node.op.family.forward(share, i)?.call {
                let name = CodeSize.callee(call)
                forward.append(sharedNames[name].map { $0 + call.dropFirst(name.count) } ?? call)
            }
        }
        let assigned = NormalizationOps.assignedGradients(g)
        let zero = layout.grad.keys.sorted().filter { !assigned.contains($0) }.map {
            "memset(c->train + \(layout.grad[$0]!), 0, (size_t)nb * \(planned.nodes[$0].size) * sizeof(float));"
        }
        guard let input = g.nodes.firstIndex(where: { if case .input = $0.storage { return true } else { return false } })
        else { return nil }
        let outSize = g.nodes[plan.source].size, dSource = layout.gradPointer(planned, plan.source)!
        // The backward kernels one thread's step shares; large models: out-of-line parts.
        var kernels = definitions, rules = backward.map(\.statements)
        CodeSize.shareBackwardKernels(plan.order, &kernels, &rules)
        let arguments = ["\(p)_ctx *c", "const \(p)_ctx *whole", "const float *x", "int nb", "int nb_all", "int b0", "int t",
                         "int team", "uint64_t rng0"]
        let zeroGrads = summed.map { "memset(c->grads + \($0.lowerBound), 0, \($0.count) * sizeof(float));" }
        let body = CodeSize.body((forward + zeroGrads + zero).map { "    " + $0 },
                                 large: large, function: "\(p)_share_forward", parameters: arguments, share: true)
        let backwardBody = CodeSize.body(rules.filter { !$0.isEmpty }.map { String($0.dropLast()) }, large: large,
                                         function: "\(p)_share_backward", parameters: arguments, share: true)
        // The running statistics (stateUpdate) read the batch's mean and variance where one thread saves them.
        let statistics = parts.keys.sorted().map { i -> String in
            let from = layout.saved(i, as: NormalizationOps.BatchNormSaved.self), to = whole.saved(i, as: NormalizationOps.BatchNormSaved.self)
            let at = blockAt + arenaFloats, c = g.nodes[i].shape[0]
            return "    memcpy(c->train + \(to.mean.offset), c->train + \(at + from.mean.offset), \(c) * sizeof(float));\n"
                + "    memcpy(c->train + \(to.variance.offset), c->train + \(at + from.variance.offset), \(c) * sizeof(float));\n"
        }.joined()
        let teamStatements = teamGradients.map {
            DenseOps.teamWeightGradient(ctx, share: layout, $0, shareAt: blockAt + arenaFloats, prefix: p)
                .split(separator: "\n").map { "            " + $0 + "\n" }.joined()
        }.joined()
        let functions = """
            /* ---- the train step with threads: the batch split once (TrainThreads in nncc) ---- */
            #define \(p)_SHARE_BATCH \(perThread)  /* examples of one thread's share at most */
            #define \(p)_TRAIN_BLOCK \(blockFloats)  /* one thread's arena (\(arenaFloats)) and training layout (\(trainFloats)) */
            #define NN_SPLITMIX_STEP 0x9E3779B97F4A7C15ull  /* nn_rng_next's increment: one dropout draw */

            \(body.parts)\(backwardBody.parts)/* Examples b0 .. b0+nb-1 of a batch of nb_all through training forward, the loss and backward, in
               thread t's block: its gradients there are its share of the batch's. Returns its share of the loss. */
            static float \(p)_train_share(const \(p)_ctx *whole, const float *x, const void *all_targets, int b0, int nb,
                                          int nb_all, int t, int team) {
                \(p)_ctx view = *whole, *c = &view;
                const uint64_t rng0 = whole->rng;
                (void)rng0; (void)team;
                c->arena = whole->train + \(blockAt) + (size_t)t * \(p)_TRAIN_BLOCK;
                c->train = c->arena + \(arenaFloats);
                c->grads = c->train;
                x += (size_t)b0 * \(g.nodes[input].size);
                const int32_t *labels = (const int32_t *)all_targets + b0;
                const void *targets = (const float *)all_targets + (size_t)b0 * \(outSize);
                (void)labels; (void)targets;
            \(body.body)
                const float scale = (float)nb / (float)nb_all, L = \(loss(share, layout));
                float *d = \(dSource);
                for (size_t i = 0; i < (size_t)nb * \(outSize); i++) d[i] *= scale;
            \(backwardBody.body.isEmpty ? "" : backwardBody.body + "\n")    return L * scale;
            }

            /* Splits nb > 1 examples into one share per thread (nb·t/team ..), at most \(p)_SHARE_BATCH each; sums the shares'
               gradients into c->grads (shares in order: the same sums every run) and their losses into *loss; *finite is 0
               when a summed gradient is NaN or infinite (each thread checks its part while it is in cache).
               Returns 0 when OpenMP gave too few threads for the shares: the caller runs the step on one. */
            static int \(p)_train_split(\(p)_ctx *c, const float *x, const void *targets, int nb, float *loss, int *finite) {
                float losses[\(threads)] = {0};
                int used = 0, ok[\(threads)] = {0};
                NN_OMP(parallel num_threads(nb < NN_THREADS ? nb : NN_THREADS))
                {
                    const int t = NN_THREAD_ID(), team = NN_TEAM_SIZE();
                    if ((nb + team - 1) / team <= \(p)_SHARE_BATCH) {
                        const int b0 = (int)((long)t * nb / team), b1 = (int)((long)(t + 1) * nb / team);
                        losses[t] = \(p)_train_share(c, x, targets, b0, b1 - b0, nb, t, team);
                        NN_OMP(barrier)
            \(teamStatements)            \(threadRange(ctx.paramFloats, lo: "lo", hi: "hi"))
            \(sum(summed, from: blockAt + arenaFloats, prefix: p))\(teamGradients.isEmpty ? "" : "            NN_OMP(barrier)  /* the team's rows of ∂W are in other threads' ranges */\n")            ok[t] = nn_all_finite(hi - lo, c->grads + lo);
                        if (t == 0) used = team;
                    }
                }
                if (used == 0) return 0;
            \(statistics)
                float L = 0;
                *finite = 1;
                for (int k = 0; k < used; k++) { L += losses[k]; *finite &= ok[k]; }
                \(drawn > 0 ? "c->rng += NN_SPLITMIX_STEP * ((uint64_t)nb * \(drawn));  /* one thread's draws */\n    " : "")*loss = L;
                return 1;
            }

            """
        return Split(functions: functions, floats: partAt - blockAt)
    }

    /// C adding the shares' gradients (at `from` in c->train, NAME_TRAIN_BLOCK apart) into c->grads over
    /// the part of `ranges` in [lo, hi).
    static func sum(_ ranges: [Range<Int>], from: Int, prefix p: String) -> String {
        guard !ranges.isEmpty else { return "" }
        let table = ranges.map { "{\($0.lowerBound), \($0.upperBound)}" }.joined(separator: ", ")
        return """
                        const float *g0 = c->train + \(from);
                        static const size_t summed[\(ranges.count)][2] = {\(table)};  /* [from, to) */
                        for (int r = 0; r < \(ranges.count); r++)
                            for (size_t i = lo > summed[r][0] ? lo : summed[r][0]; i < hi && i < summed[r][1]; i++) {
                                float s = g0[i];
                                for (int k = 1; k < team; k++) s += g0[(size_t)k * \(p)_TRAIN_BLOCK + i];
                                c->grads[i] = s;
                            }

            """
    }

    /// The parameter gradients the shares compute and the team sums: all but those of `team`'s layers
    /// (DenseOps.teamWeightGradients), as ranges of floats, adjacent parameters merged.
    static func summedRanges(_ ctx: EmitContext, excluding team: [Int]) -> [Range<Int>] {
        let g = ctx.graph
        let excluded = Set(team.flatMap { i in ["weight", "bias"].map { g.nodes[i].paramName($0) } })
        let extents = g.params.filter { !excluded.contains($0.name) }.compactMap { p in
            ctx.paramOffsets[p.name].map { $0..<($0 + p.size) }
        }.sorted { $0.lowerBound < $1.lowerBound }
        var ranges: [Range<Int>] = []
        for r in extents where !r.isEmpty {
            if let last = ranges.last, last.upperBound >= r.lowerBound {
                ranges[ranges.count - 1] = last.lowerBound..<max(last.upperBound, r.upperBound)
            } else {
                ranges.append(r)
            }
        }
        return ranges
    }

    /// C declaring [lo, hi), thread t's part of n floats (nn_thread_range). The gradient sum and the
    /// optimizer's update cut alike, so that a thread updates what it summed (a dense layer's ∂W rows,
    /// computed by the team, are cut by micro-kernel rows instead).
    static func threadRange(_ n: Int, lo: String, hi: String) -> String {
        "size_t \(lo), \(hi);  nn_thread_range(\(n), t, team, &\(lo), &\(hi));"
    }
}
