/// `--threads N`: forward splits the batch across the threads once, in one
/// parallel region. Each thread runs every layer's kernel on its share of the
/// examples in an arena of its own, planned (planMemory) for the largest share,
/// so the threads never wait for each other until the region ends; each copies
/// its share of the outputs. Shares are whole GEMM tiles (multiples of NN_MR
/// examples): inference kernels treat examples independently, and the
/// micro-kernel sums a row in an order that depends on its tile's row count
/// (few rows split K), so with tiles as one thread cuts them every output is
/// bit-identical to one thread's. Below two tiles, and at batch 1, forward runs
/// the kernels one after another and each splits its own loops (GEMM panels,
/// conv images), as before.
///
/// The header redefines `NN_THREADS`, which the kernels' own `omp parallel`
/// clauses read, to 1 inside an active parallel region, so a kernel called by a
/// thread of the split starts no threads of its own (whatever
/// OMP_MAX_ACTIVE_LEVELS says) and uses scratch slot 0 of its thread's arena.
enum ForwardThreads {
    struct Split {
        /// `NAME_copy_outputs`, `NAME_run_share` and `NAME_forward_threads`.
        var functions: String
        /// Floats of the N arenas together; the context's arena holds at least this many.
        var arenaFloats: Int
    }

    /// Large models (CodeSize) share kernels and split forward into parts; they keep the per-kernel threads.
    static func emit(_ ctx: EmitContext, nodes: [Int], sharedNames: [String: String], prefix p: String,
                     profile: Profile) -> Split? {
        let g = ctx.graph, threads = ctx.schedule.threads
        guard threads > 1, !CodeSize.isLarge(g, ctx.schedule) else { return nil }
        let tile = ctx.schedule.rowsPerTile
        let perThread = min(g.maxBatch, ((g.maxBatch + threads - 1) / threads + tile - 1) / tile * tile)
        guard perThread < g.maxBatch else { return nil }  // the max batch is one share: nothing to split
        guard let planned = try? planMemory(g, maxBatch: perThread) else { return nil }
        let shareFloats = (planned.arenaFloats + 15) / 16 * 16
        var sliced = ctx
        sliced.graph = planned
        sliced.batchSlice = true
        let calls = nodes.compactMap { i -> String? in
            guard let call = g.nodes[i].op.family.forward(sliced, i)?.call else { return nil }
            let name = CodeSize.callee(call)
            return sharedNames[name].map { $0 + call.dropFirst(name.count) } ?? call
        }
        // Forward's entries are the profile's first: the k-th call is entry k, timed on thread 0.
        let body = calls.enumerated().map { "    " + profile.timed($1, $0, thread0: true) }.joined(separator: "\n")
        func copies(from c: EmitContext, at offset: String) -> String {
            g.outputs.enumerated().map { j, o in
                let n = "(size_t)nb * \(g.nodes[o].size)"
                return "    \(j == 0 ? "" : "if (outputs > \(j)) ")memcpy(ys[\(j)]\(offset.isEmpty ? "" : " + (size_t)\(offset) * \(g.nodes[o].size)"), \(c.value(o)), \(n) * sizeof(float));"
            }.joined(separator: "\n")
        }
        let functions = """
            /* ---- forward with threads: the batch split once (ForwardThreads in nncc) ---- */
            #define \(p)_SHARE_FLOATS \(shareFloats)  /* one thread's arena, for \(perThread) examples */

            static void \(p)_copy_outputs(\(p)_ctx *c, float *const *ys, int outputs, int nb) {
                (void)outputs;
            \(copies(from: ctx, at: ""))
            }

            /* Examples b0 .. b0+nb-1 through every layer in thread t's arena; their outputs copied to ys. */
            static void \(p)_run_share(\(p)_ctx *c, const float *x, float *const *ys, int outputs, int b0, int nb, int t) {
                float *a = c->arena + (size_t)t * \(p)_SHARE_FLOATS;
                (void)a; (void)x; (void)outputs;
            \(body)
            \(copies(from: sliced, at: "b0"))
            }

            /* More than NN_MR examples: each thread takes whole tiles of NN_MR, at most \(perThread) (else, when the
               OpenMP runtime gives fewer threads, one thread runs them all in the whole arena). */
            static void \(p)_forward_threads(\(p)_ctx *c, const float *x, float *const *ys, int outputs, int nb) {
                const int tiles = (nb + NN_MR - 1) / NN_MR;
                NN_OMP(parallel num_threads(tiles < NN_THREADS ? tiles : NN_THREADS))
                {
                    const int t = NN_THREAD_ID(), team = NN_TEAM_SIZE();
                    const int share = (tiles + team - 1) / team * NN_MR;
                    if (share > \(perThread)) {
                        if (t == 0) { \(p)_run(c, x, nb); \(p)_copy_outputs(c, ys, outputs, nb); }
                    } else if (t * share < nb) {
                        const int b0 = t * share;
                        \(p)_run_share(c, x, ys, outputs, b0, nb - b0 < share ? nb - b0 : share, t);
                    }
                }
            }

            """
        return Split(functions: functions, arenaFloats: threads * shareFloats)
    }

    /// The lines after `#define NN_THREADS N` in the header.
    static func threadLimit(_ threads: Int) -> String {
        """
        #ifdef _OPENMP  /* the kernels' own loops: all threads, except on a thread of the batch-split forward */
        #undef NN_THREADS
        #define NN_THREADS (omp_in_parallel() ? 1 : \(threads))
        #define NN_TEAM_SIZE() omp_get_num_threads()
        #else
        #define NN_TEAM_SIZE() 1
        #endif

        """
    }
}
