/// Forward in slices of the batch, each through every layer in an arena planned
/// (planMemory) for the slice alone:
///
/// - **Cache slices.** When one example's largest layer (input and output) times
///   the batch would overflow a core's cache (`Schedule.sliceBudgetBytes`), forward runs
///   `sliceImages` examples at a time, so each layer reads what the layer before
///   wrote while it is still in cache. Built for 32 images, resnet8 and
///   mobilenet_vww took longer per image than at batch 1: every layer streamed
///   the whole batch's activations through memory.
/// - **Threads** (`--threads N`): forward splits the batch across the threads
///   once, in one parallel region; each thread runs its share, slice by slice, in
///   an arena of its own, so the threads never wait for each other until the
///   region ends. Shares are whole GEMM tiles (multiples of NN_MR examples).
///
/// Slices start at multiples of the slice size, whoever runs them, and a slice
/// is a divisor or a multiple of NN_MR: inference kernels treat examples
/// independently, and the micro-kernel sums a row in an order that depends on
/// its tile's row count (few rows split K), so every output is bit-identical
/// whatever the thread count. Below two tiles, and at batch 1, a threads build
/// runs the kernels one after another and each splits its own loops (GEMM
/// panels, conv images), as before.
///
/// The header redefines `NN_THREADS`, which the kernels' own `omp parallel`
/// clauses read, to 1 inside an active parallel region, so a kernel called by a
/// thread of the split starts no threads of its own (whatever
/// OMP_MAX_ACTIVE_LEVELS says) and uses scratch slot 0 of its thread's arena.
enum ForwardSlices {
    struct Split {
        /// `NAME_run_slice`, `NAME_run_share` and, with threads, `NAME_forward_threads`.
        var functions: String
        /// Floats of the arenas together; the context's arena holds at least this many.
        var arenaFloats: Int
        /// Examples per slice: forward of more runs `NAME_run_share`.
        var slice: Int
        /// `NAME_forward_threads` exists.
        var threads: Bool
    }

    /// Examples per cache slice (a divisor or a multiple of NN_MR; one when a single example
    /// overflows the budget), or nil when the whole batch fits (mlp, lstm).
    /// Not sliced: recurrent layers (their steps' GEMMs take the batch as rows), and a layer whose
    /// weights (past 4M floats, 16 MB) come from memory again for every slice (VGG's 25088 -> 4096 dense).
    static func sliceImages(_ g: Graph, _ schedule: Schedule) -> Int? {
        guard !g.nodes.contains(where: { if case .recurrent = $0.op { true } else { false } }) else { return nil }
        let layerFloats = Dictionary(g.params.map { ($0.layer, $0.size) }, uniquingKeysWith: +)
        guard (layerFloats.values.max() ?? 0) <= 4 << 20 else { return nil }
        let perExample = g.nodes.indices.map { i in
            g.nodes[i].inputs.reduce(g.nodes[i].size) { $0 + g.nodes[$1].size }
        }.max() ?? 0
        let fit = max(1, schedule.sliceBudgetBytes / max(4 * perExample, 1))
        guard 2 * fit <= g.maxBatch else { return nil }  // the batch (nearly) fits: mlp at 128 would run 96 + 32
        let mr = schedule.rowsPerTile
        return fit >= mr ? fit / mr * mr : (1...fit).last { mr % $0 == 0 }!
    }

    /// Large models (CodeSize) split forward into parts; they keep the per-kernel threads.
    static func emit(_ ctx: EmitContext, nodes: [Int], sharedNames: [String: String], prefix p: String,
                     profile: Profile) -> Split? {
        let g = ctx.graph, threads = ctx.schedule.threads, tile = ctx.schedule.rowsPerTile
        let large = CodeSize.isLarge(g, ctx.schedule)
        var perThread: Int? = nil
        if threads > 1, !large {
            let share = min(g.maxBatch, ((g.maxBatch + threads - 1) / threads + tile - 1) / tile * tile)
            if share < g.maxBatch { perThread = share }  // else the max batch is one share: nothing to split
        }
        let cached = sliceImages(g, ctx.schedule)
        guard let slice = [perThread, cached].compactMap({ $0 }).min(),
              let planned = try? planMemory(g, maxBatch: slice) else { return nil }
        let sliceFloats = (planned.arenaFloats + 15) / 16 * 16
        var sliced = ctx
        sliced.graph = planned
        sliced.batchSlice = true
        let calls = nodes.compactMap { i -> String? in
            guard let call = g.nodes[i].op.family.forward(sliced, i)?.call else { return nil }
            let name = CodeSize.callee(call)
            return sharedNames[name].map { $0 + call.dropFirst(name.count) } ?? call
        }
        // Forward's entries are the profile's first: the k-th call is entry k, timed on thread 0.
        let timed = calls.enumerated().map { "    " + profile.timed($1, $0, thread0: true) }
        let run = CodeSize.body(timed, large: large, function: "\(p)_run_slice",
                                parameters: ["\(p)_ctx *c", "const float *x", "float *a", "int b0", "int nb", "int t"])
        let copies = g.outputs.enumerated().map { j, o in
            "        \(j == 0 ? "" : "if (outputs > \(j)) ")memcpy(ys[\(j)] + (size_t)b0 * \(g.nodes[o].size), \(sliced.value(o)), (size_t)nb * \(g.nodes[o].size) * sizeof(float));"
        }.joined(separator: "\n")
        var functions = """
            /* ---- forward in slices of the batch (ForwardSlices in nncc) ---- */
            #define \(p)_SLICE \(slice)  /* examples per slice */
            #define \(p)_SLICE_FLOATS \(sliceFloats)  /* one slice's arena */

            /* Examples b0 .. b0+nb-1 (nb <= \(p)_SLICE) through every layer in arena a. */
            \(run.parts)static void \(p)_run_slice(\(p)_ctx *c, const float *x, float *a, int b0, int nb, int t) {
                (void)c; (void)x; (void)a; (void)b0; (void)nb; (void)t;
            \(run.body)
            }

            /* Examples first .. first+count-1 in thread t's arena, a slice at a time (slices start at multiples of
               \(p)_SLICE, so every thread count cuts the batch alike); their outputs copied to ys. */
            static void \(p)_run_share(\(p)_ctx *c, const float *x, float *const *ys, int outputs, int first, int count, int t) {
                float *a = c->arena + (size_t)t * \(p)_SLICE_FLOATS;
                (void)outputs;
                for (int b0 = first, nb; b0 < first + count; b0 += nb) {
                    const int next = (b0 / \(p)_SLICE + 1) * \(p)_SLICE;
                    nb = (next < first + count ? next : first + count) - b0;
                    \(p)_run_slice(c, x, a, b0, nb, t);
            \(copies)
                }
            }

            """
        if let perThread {
            functions += """
                /* More than NN_MR examples: each thread takes whole tiles of NN_MR, at most \(perThread) (else, when the
                   OpenMP runtime gives fewer threads, one thread runs them all). */
                static void \(p)_forward_threads(\(p)_ctx *c, const float *x, float *const *ys, int outputs, int nb) {
                    const int tiles = (nb + NN_MR - 1) / NN_MR;
                    NN_OMP(parallel num_threads(tiles < NN_THREADS ? tiles : NN_THREADS))
                    {
                        const int t = NN_THREAD_ID(), team = NN_TEAM_SIZE();
                        const int share = (tiles + team - 1) / team * NN_MR;
                        if (share > \(perThread)) {
                            if (t == 0) \(p)_run_share(c, x, ys, outputs, 0, nb, 0);
                        } else if (t * share < nb) {
                            const int b0 = t * share;
                            \(p)_run_share(c, x, ys, outputs, b0, nb - b0 < share ? nb - b0 : share, t);
                        }
                    }
                }

                """
        }
        return Split(functions: functions, arenaFloats: (perThread == nil ? 1 : threads) * sliceFloats, slice: slice,
                     threads: perThread != nil)
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
