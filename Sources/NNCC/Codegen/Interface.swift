/// The C interface block: constants, the context type and prototypes. The
/// header is this block; the source repeats it so it compiles alone.
struct Interface {
    let graph: Graph
    let prefix: String
    let canTrain: Bool
    /// The named target the C was generated for.
    let target: Target
    let memory: MemoryFigures
    /// NAME_grad_stats is declared (a --train --grad-stats build).
    var gradientStats = false
    /// NAME_profile and NAME_profile_name are declared when the profile is on.
    var profile = Profile(false)

    var outputSize: Int { graph.nodes[graph.outputs[0]].size }

    /// The length of `NAME_param_shape`'s dims: 4 as c-abi.md gives it, 5 when a parameter has
    /// five axes (a conv3d weight [F, C/g, kd, kh, kw]).
    static func paramRank(_ g: Graph) -> Int { max(4, g.params.map(\.shape.count).max() ?? 0) }
    var paramRank: Int { Self.paramRank(graph) }

    var declarations: String {
        let p = prefix, g = graph
        var s = """
            #ifndef \(p)_INTERFACE
            #define \(p)_INTERFACE
            #include <stddef.h>
            #include <stdint.h>
            #ifdef __cplusplus
            extern "C" {
            #endif

            #define \(p)_MAX_BATCH    \(g.maxBatch)    /* largest batch accepted */
            #define \(p)_INPUT_SIZE   \(g.input.size)    /* floats per example, shape \(CSyntax.list(g.input.shape)) */
            #define \(p)_OUTPUT_SIZE  \(outputSize)    /* floats per example of the first output, shape \(CSyntax.list(g.nodes[g.outputs[0]].shape)) */
            #define \(p)_NUM_PARAMS   \(g.params.count)    /* parameter tensors, batchnorm running stats included */
            #define \(p)_NUM_OUTPUTS  \(g.outputs.count)
            #define \(p)_TARGET       "\(target.rawValue)"    /* \(Self.buildNote(target, prefix: p)) */

            \(memory.defines(prefix: p))
            typedef struct \(p)_ctx \(p)_ctx;

            \(p)_ctx    *\(p)_create(void);              /* \(memory.embedded ? "the embedded weights" : "params initialised from the seed"); NULL on OOM */
            /* The context in the caller's memory, no malloc: size >= \(p)_HEAP_BYTES, 64-byte aligned; NULL otherwise.
               \(memory.training || memory.embedded ? "Weights as from create" : "Weights all zero until load_weights or set_param"); destroy frees nothing. */
            \(p)_ctx    *\(p)_create_in(void *buffer, size_t size);
            void        \(p)_destroy(\(p)_ctx *);
            const char *\(p)_param_name(int i);          /* PyTorch name, NULL when i is out of range */
            int         \(p)_param_shape(int i, int64_t dims[\(paramRank)]);  /* returns the rank */
            int         \(p)_get_param(const \(p)_ctx *, int i, float *out);   /* PyTorch layout */
            int         \(p)_set_param(\(p)_ctx *, int i, const float *in);
            int         \(p)_load_weights(\(p)_ctx *, const char *safetensors_path);\(memory.embedded ? "  /* NULL: the embedded weights */" : "")
            int         \(p)_save_weights(const \(p)_ctx *, const char *safetensors_path);
            int         \(p)_forward(\(p)_ctx *, const float *x, float *y, int batch);
            const char *\(p)_strerror(int code);

            /* Every output: ys[i] receives batch × \(p)_output_size(i) floats. */
            int         \(p)_forward_all(\(p)_ctx *, const float *x, float *const *ys, int batch);
            int         \(p)_output_size(int i);
            /* 0 max batch, 1 input size, 2 output size, 3 params, 4 outputs, 5 trains. */
            int         \(p)_info(int what);
            \(memory.training ? "" : Self.packedCodes(memory, prefix: p))
            \(EmbeddingOps.errorCode(g, prefix: p))
            """
        if canTrain {
            s += """

                /* Training (built with --train): forward, loss, backward and optimizer update in one call.
                   targets: \(lossTargets) */
                int         \(p)_train_step(\(p)_ctx *, const float *x, const void *targets, int batch, float *loss);
                /* 0, or \(p)_ERR_LR (nothing changed) when lr is not a finite number >= 0. */
                int         \(p)_set_lr(\(p)_ctx *, float lr);
                /* train_step's code when the loss or a gradient is NaN or infinite: the step is not taken
                   (parameters, optimizer state and running statistics unchanged). */
                #define \(p)_ERR_NONFINITE  (-12)
                #define \(p)_ERR_LR         (-13)
                /* Gradient of the last step's loss w.r.t. parameter i, as the update used it (after clipping). */
                int         \(p)_get_grad(const \(p)_ctx *, int i, float *out);
                /* Checkpoints: optimizer state of parameter i (slot 0: momentum or Adam's exp_avg, slot 1: Adam's
                   exp_avg_sq; parameter i's layout), the step count and the dropout generator's state. */
                int         \(p)_get_opt_state(const \(p)_ctx *, int slot, int i, float *out);
                int         \(p)_set_opt_state(\(p)_ctx *, int slot, int i, const float *in);
                int         \(p)_get_train_state(const \(p)_ctx *, int64_t *step, uint64_t *rng);
                int         \(p)_set_train_state(\(p)_ctx *, int64_t step, uint64_t rng);

                """
            if gradientStats { s += GradStats.declaration(prefix: p) }
        }
        s += profile.declaration(prefix: p)
        s += """

            #ifdef __cplusplus
            }
            #endif
            #endif /* \(p)_INTERFACE */

            """
        return s
    }

    /// How NAME.c must be compiled for the target.
    /// The codes of an inference library's get_param, set_param and save_weights (docs/deploy.md):
    /// embedded weights have no PyTorch-layout copy; other weights rebuild it from where they came from.
    static func packedCodes(_ m: MemoryFigures, prefix p: String) -> String {
        m.embedded ? """
            /* load_weights of a file, set_param, save_weights, get_param of a packed parameter: the weights are read-only, packed. */
            #define \(p)_ERR_PACKED     (-15)
            """ : """
            /* The first get_param, set_param or save_weights makes the PyTorch-layout copy, a separate allocation of
               \(p)_UNPACKED_BYTES kept until destroy; after load_weights of a file it reads that file again, and
               returns ERR_STALE when the file is gone or changed since. ERR_PACKED: embedded weights only. */
            #define \(p)_ERR_PACKED     (-15)
            #define \(p)_ERR_STALE      (-16)
            """
    }

    static func buildNote(_ target: Target, prefix p: String) -> String {
        target.requiredMacros.isEmpty ? "\(p).c needs no -march"
            : "\(p).c needs \(target.instructions): \(target.buildHint)"
    }

    /// The C's first lines past its banner: an #error when the compiler was not told the
    /// target's instructions (plain `gcc -O2` would give -Wpsabi noise, then illegal instructions).
    /// The rest of the file is its #else, closed by `targetCheckEnd`: gcc goes on past an #error,
    /// and would bury it under the -Wpsabi errors of every vector function.
    static func targetCheck(_ target: Target, prefix p: String) -> String {
        let macros = target.requiredMacros
        guard !macros.isEmpty else { return "" }
        return """
            #if \(macros.map { "!defined(\($0))" }.joined(separator: " || "))
            #error "\(p).c was generated for \(target.rawValue) (\(target.instructions)): \(target.buildHint)"
            #else

            """
    }

    static func targetCheckEnd(_ target: Target) -> String {
        target.requiredMacros.isEmpty ? "" : "#endif /* built for \(target.rawValue) */\n"
    }

    var lossTargets: String {
        graph.train?.loss == .crossEntropy ? "int32 class labels, one per example" : "float, \(outputSize) per example"
    }

    var header: String {
        """
        /* \(prefix).h: generated by nncc \(nnccVersion). The model's C interface; see \(prefix).c. */
        #ifndef \(prefix)_H
        #define \(prefix)_H
        \(declarations)#endif /* \(prefix)_H */

        """
    }
}

public let nnccVersion = "0.1.0"

/// Training additions to the library: context fields and API functions.
public struct TrainingCode {
    public var contextFields: String
    public var functions: String
    /// Defines and forward declarations placed before the context struct.
    public var declarations: String
    /// Floats of the per-thread blocks of the split train step (TrainThreads), part of the training block.
    public var splitFloats = 0
}
