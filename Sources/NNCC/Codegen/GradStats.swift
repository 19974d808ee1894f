/// The train step's optional gradient statistics (`--grad-stats`, CompileOptions.gradientStats):
/// per trainable parameter, sums over steps of ‖∂W‖² (before clipping), ‖ΔW‖² (the optimizer's
/// update) and ‖W‖² (before the update), read and reset with `NAME_grad_stats`. They come from
/// the gradient buffers the step already holds, so no extra pass over the data; a copy of one
/// parameter tensor at a time (scratch past the training block) gives the update. Without the
/// option every string is empty and the step is the same C as before.
struct GradStats {
    /// Floats added to the training block: the largest trainable tensor.
    var extraFloats = 0
    var contextFields = ""
    var functions = ""
    /// After the gradients are known finite, before clipping.
    var afterBackward = ""
    /// Around the optimizer update of trainable parameter i at `c->params + off`.
    var beforeUpdate = "", afterUpdate = ""
    var stepTaken = ""

    /// Floats past the training block: a copy of the largest trainable tensor.
    static func extraFloats(_ g: Graph, enabled: Bool) -> Int {
        enabled ? g.params.filter(\.trainable).map(\.size).max() ?? 0 : 0
    }

    /// Bytes `contextFields` adds to the context struct, rounded to a cache line.
    static func contextBytes(_ g: Graph, enabled: Bool) -> Int {
        enabled ? (8 * (3 * g.params.filter(\.trainable).count + 3) + 8 + 63) / 64 * 64 : 0
    }

    init(_ ctx: EmitContext, trainable: [ParamSpec], scratch: Int, prefix p: String) {
        guard ctx.gradientStats else { return }
        let g = ctx.graph, count = trainable.count
        let index = trainable.map { t in g.params.firstIndex { $0.name == t.name }! }
        extraFloats = Self.extraFloats(g, enabled: true)
        contextFields = """
                double grad_sums[\(3 * count + 3)];  /* per trainable tensor: Σ‖∂W‖², Σ‖ΔW‖², Σ‖W‖² */
                long grad_steps;

            """
        afterBackward = """
                for (int i = 0; i < \(count); i++)
                    c->grad_sums[3 * i] += \(p)_sum_squares(\(p)_train_counts[i], c->grads + \(p)_train_offsets[i]);

            """
        beforeUpdate = "memcpy(c->train + \(scratch), c->params + off, \(p)_train_counts[i] * sizeof(float));\n        "
        afterUpdate = "\n        \(p)_update_squares(\(p)_train_counts[i], c->params + off, c->train + \(scratch), c->grad_sums + 3 * i + 1);"
        stepTaken = "    c->grad_steps++;\n"
        functions = """
            /* ---- gradient statistics (--grad-stats) ------------------------------------- */
            static const int \(p)_train_params[\(count + 1)] = {\(index.map { "\($0), " }.joined())0};

            static double \(p)_sum_squares(size_t n, const float *x) {
                double s = 0;
                for (size_t k = 0; k < n; k++) s += (double)x[k] * x[k];
                return s;
            }

            /* Adds Σ(now − old)² to d[0] and Σ old² to d[1]. */
            static void \(p)_update_squares(size_t n, const float *now, const float *old, double *d) {
                double du = 0, w = 0;
                for (size_t k = 0; k < n; k++) {
                    double u = (double)now[k] - old[k];
                    du += u * u;
                    w += (double)old[k] * old[k];
                }
                d[0] += du;
                d[1] += w;
            }

            int \(p)_grad_stats(\(p)_ctx *c, double *out, int reset) {
                if (!c || !out) return NN_ERR_NULL;
                memset(out, 0, 3 * \(p)_NUM_PARAMS * sizeof(double));
                for (int i = 0; i < \(count); i++) memcpy(out + 3 * \(p)_train_params[i], c->grad_sums + 3 * i, 3 * sizeof(double));
                long steps = c->grad_steps;
                if (reset) {
                    memset(c->grad_sums, 0, sizeof c->grad_sums);
                    c->grad_steps = 0;
                }
                return steps > 2147483647L ? 2147483647 : (int)steps;
            }


            """
    }

    /// The header's declaration (c-abi.md's extension; docs/training.md).
    static func declaration(prefix p: String) -> String {
        """
        /* Built with --grad-stats. out receives 3 × \(p)_NUM_PARAMS doubles: for parameter i, summed over
           the steps taken since the last reset, out[3i] = ‖∂W_i‖² (before clipping), out[3i+1] = ‖ΔW_i‖²
           (the update) and out[3i+2] = ‖W_i‖² (before the update); zeros for running statistics.
           Returns the number of steps summed (>= 0); reset != 0 then starts new sums. */
        int         \(p)_grad_stats(\(p)_ctx *, double *out, int reset);

        """
    }
}
