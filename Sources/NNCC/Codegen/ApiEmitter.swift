/// The exported functions of c-abi.md: parameters, forward, errors (the context
/// and weights are ContextEmitter's). Every one checks its arguments and writes nothing on failure.
enum ApiEmitter {
    /// `slices`: ForwardSlices' functions, when forward runs the batch in slices or splits it across threads.
    static func functions(_ g: Graph, ctx: EmitContext, prefix p: String, forwardCalls: [String], slices: ForwardSlices.Split? = nil,
                          training: TrainingCode?, memory: MemoryFigures) -> String {
        let outputs = g.outputs.enumerated().map { j, o in
            "    memcpy(ys[\(j)], \(ctx.value(o)), (size_t)nb * \(g.nodes[o].size) * sizeof(float));"
        }.joined(separator: "\n")
        // Token ids an embedding reads from the input are checked before anything runs.
        let inputCheck = EmbeddingOps.inputCheck(g, prefix: p)
        let o0 = g.outputs[0]
        let firstOutput = "    memcpy(y, \(ctx.value(o0)), (size_t)nb * \(g.nodes[o0].size) * sizeof(float));"
        let outputSizes = g.outputs.map { "\(g.nodes[$0].size), " }.joined()
        // With slices every batch goes to ForwardSlices (with threads, past one tile to the split), and
        // `NAME_run`, planned for the whole batch, is not emitted.
        func forward(_ ys: String, _ outputs: String, copy: String) -> String {
            guard let slices else { return "    \(p)_run(c, x, nb);\n\(copy)" }
            let threads = slices.threads ? "    if (nb > NN_MR) { \(p)_forward_threads(c, x, \(ys), \(outputs), nb); return NN_OK; }\n" : ""
            return threads + "    \(p)_run_share(c, x, \(ys), \(outputs), 0, nb, 0);"
        }
        let run = CodeSize.body(forwardCalls.map { "    " + $0 }, large: CodeSize.isLarge(g, ctx.schedule), function: "\(p)_run",
                                parameters: ["\(p)_ctx *c", "const float *x", "int nb"])
        let wholeBatch = """
            /* Inference over nb examples: every layer's kernel in order. */
            \(run.parts)static void \(p)_run(\(p)_ctx *c, const float *x, int nb) {
                (void)c; (void)x; (void)nb;
            \(run.body)
            }


            """
        return """
            /* ---- API ---------------------------------------------------------------- */
            const char *\(p)_param_name(int i) { return i >= 0 && i < \(p)_NUM_PARAMS ? \(p)_names[i] : NULL; }

            int \(p)_param_shape(int i, int64_t dims[\(Interface.paramRank(g))]) {
                if (!dims) return NN_ERR_NULL;
                if (i < 0 || i >= \(p)_NUM_PARAMS) return NN_ERR_INDEX;
                for (int d = 0; d < \(Interface.paramRank(g)); d++) dims[d] = \(p)_dims[i][d];
                return \(p)_ranks[i];
            }

            static size_t \(p)_param_count(int i) {
                size_t n = 1;
                for (int d = 0; d < \(p)_ranks[i]; d++) n *= (size_t)\(p)_dims[i][d];
                return n;
            }

            \(ContextEmitter.functions(g, memory: memory, prefix: p))static const int \(p)_output_sizes[\(p)_NUM_OUTPUTS] = {\(outputSizes)};

            int \(p)_output_size(int i) { return i >= 0 && i < \(p)_NUM_OUTPUTS ? \(p)_output_sizes[i] : NN_ERR_INDEX; }

            int \(p)_info(int what) {
                switch (what) {
                case 0: return \(p)_MAX_BATCH;
                case 1: return \(p)_INPUT_SIZE;
                case 2: return \(p)_OUTPUT_SIZE;
                case 3: return \(p)_NUM_PARAMS;
                case 4: return \(p)_NUM_OUTPUTS;
                case 5: return \(training == nil ? 0 : 1);
                default: return NN_ERR_INDEX;
                }
            }

            \(slices?.functions ?? wholeBatch)int \(p)_forward_all(\(p)_ctx *c, const float *x, float *const *ys, int nb) {
                if (!c || !x || !ys) return NN_ERR_NULL;
                for (int i = 0; i < \(p)_NUM_OUTPUTS; i++) if (!ys[i]) return NN_ERR_NULL;
                if (nb < 1 || nb > \(p)_MAX_BATCH) return NN_ERR_BATCH;
            \(inputCheck)\(forward("ys", "\(p)_NUM_OUTPUTS", copy: outputs))
                return NN_OK;
            }

            int \(p)_forward(\(p)_ctx *c, const float *x, float *y, int nb) {
                if (!c || !x || !y) return NN_ERR_NULL;
                if (nb < 1 || nb > \(p)_MAX_BATCH) return NN_ERR_BATCH;
            \(inputCheck)\(forward("(float *const[1]){y}", "1", copy: firstOutput))
                return NN_OK;
            }

            const char *\(p)_strerror(int code) {
                switch (code) {
                case NN_OK: return "ok";
                case NN_ERR_NULL: return "a required pointer argument is NULL";
                case NN_ERR_BATCH: return "batch size outside 1..\(g.maxBatch) (the library's MAX_BATCH)";
                case NN_ERR_OPEN: return "cannot open, read or write the weights file";
                case NN_ERR_FORMAT: return "malformed safetensors file";
                case NN_ERR_MISSING: return "a parameter tensor is missing from the weights file";
                case NN_ERR_SHAPE: return "a tensor in the weights file has the wrong shape or dtype (F32 expected)";
                case NN_ERR_EXTRA: return "the weights file holds a tensor that is not a parameter of this model";
                case NN_ERR_INDEX: return "parameter or output index out of range";
                case NN_ERR_NOMEM: return "out of memory";
                case NN_ERR_NOTRAIN: return "this library was built without --train";
                case NN_ERR_LABEL: return "a class label is outside 0..classes-1";
                case NN_ERR_NONFINITE: return "the loss or a gradient is not finite (NaN or infinity): the step was not taken; try a lower learning rate";
                case NN_ERR_LR: return "the learning rate is not a finite number >= 0";
                case NN_ERR_PACKED: return "the weights are embedded in the library, read-only and packed for the kernels (--embed-weights): load_weights of a file, set_param, save_weights and get_param of a packed parameter are not available";
                case NN_ERR_STALE: return "the weights file load_weights read is gone or has changed since: get_param, set_param and save_weights rebuild the PyTorch-layout parameters from it; load_weights again";\(EmbeddingOps.errorText(g, prefix: p))
                default: return "unknown error code";
                }
            }

            """
    }
}
