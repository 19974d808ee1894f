/// The per-layer profile (`CompileOptions.profile`, `nncc bench --layers`): every kernel call of
/// forward, and in training builds every statement of the train step (each layer's forward and
/// backward, the loss, the update), is timed with two clock reads and summed per entry in the
/// context; `NAME_profile` reads (and resets) the sums, `NAME_profile_name` names the entries.
/// An entry's name is `phase:node:layer` (phase forward, train_forward or backward; node the IR
/// index) or just the phase (loss, update). Without the option every string is empty and the C
/// is the same as before.
struct Profile {
    let enabled: Bool
    private(set) var names: [String] = []

    init(_ enabled: Bool) { self.enabled = enabled }

    /// A new entry for node `i`'s statement in `phase`; its index.
    mutating func entry(_ phase: String, _ g: Graph, node i: Int) -> Int {
        entry("\(phase):\(i):\(g.nodes[i].name)")
    }

    mutating func entry(_ name: String) -> Int {
        names.append(name)
        return names.count - 1
    }

    /// `statement` (one or more indented lines of C) timed into entry `k`; on thread 0 only when `thread0`.
    func timed(_ statement: String, _ k: Int, thread0: Bool = false) -> String {
        guard enabled else { return statement }
        let record = thread0 ? "if (t == 0) c->prof[\(k)] += nn_prof_now() - nn_t0;" : "c->prof[\(k)] += nn_prof_now() - nn_t0;"
        return "{ const double nn_t0 = nn_prof_now();\n\(statement)\n    \(record) }"
    }

    /// Registers forward entries for `count` statements and returns them timed (a plain list when off).
    mutating func timedList(_ statements: [String], phase: String, nodes: [Int], _ g: Graph) -> [String] {
        guard enabled else { return statements }
        return zip(statements, nodes).map { s, i in timed(s, entry(phase, g, node: i)) }
    }

    /// Bytes `contextField` adds to the context struct (MemoryFigures), rounded to a cache line.
    var contextBytes: Int { enabled ? (8 * max(names.count, 1) + 63) / 64 * 64 : 0 }

    var contextField: String { enabled ? "    double prof[\(max(names.count, 1))];  /* seconds per profile entry */\n" : "" }

    /// The clock, before the kernels' callers.
    var clock: String {
        guard enabled else { return "" }
        return """
            /* ---- profile (nncc bench --layers) ------------------------------------------ */
            #include <time.h>

            static double nn_prof_now(void) {
                struct timespec ts;
                timespec_get(&ts, TIME_UTC);
                return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
            }

            """
    }

    func declaration(prefix p: String) -> String {
        guard enabled else { return "" }
        return """

            /* Profile build: seconds spent in each entry since the last reset (seconds may be NULL); returns the
               number of entries. Entry i is named "phase:node:layer" (forward, train_forward, backward) or "loss",
               "update". */
            int         \(p)_profile(\(p)_ctx *, double *seconds, int reset);
            const char *\(p)_profile_name(int i);

            """
    }

    func functions(prefix p: String) -> String {
        guard enabled else { return "" }
        let n = names.count
        return """

            static const char *const \(p)_profile_names[\(n + 1)] = {\(names.map { CSyntax.literal($0) + ", " }.joined())NULL};

            int \(p)_profile(\(p)_ctx *c, double *seconds, int reset) {
                if (!c) return NN_ERR_NULL;
                for (int i = 0; i < \(n); i++) {
                    if (seconds) seconds[i] = c->prof[i];
                    if (reset) c->prof[i] = 0;
                }
                return \(n);
            }

            const char *\(p)_profile_name(int i) { return i >= 0 && i < \(n) ? \(p)_profile_names[i] : NULL; }

            """
    }
}
