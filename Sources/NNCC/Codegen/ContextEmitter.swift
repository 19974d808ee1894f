/// The context's memory and weights in C: create, create_in, destroy, and the functions that
/// set or read parameters (get/set_param, load/save_weights). `MemoryFigures` gives the layout.
///
/// An inference library keeps only the packed weights and the parameters forward reads in
/// place (`p_DIRECT_FLOATS`, placed first in the parameter table). A weights file or the
/// seeded initialisation is unpacked into a borrowed buffer, packed, and the buffer freed.
/// get_param, set_param and save_weights need every parameter in PyTorch layout: the context
/// then keeps that copy (`full`, a separate allocation), rebuilt from where the weights came
/// from, since packing folds batchnorm and sums biases: the seed (or zeros), or the file
/// load_weights read, read again; load_weights keeps its path and a fingerprint of the
/// tensors, and a file gone or changed since gives NN_ERR_STALE. Embedded weights have no
/// PyTorch-layout source: NN_ERR_PACKED. A --train library keeps every parameter in its
/// block, so `full` is `params`.
enum ContextEmitter {
    static func functions(_ g: Graph, memory m: MemoryFigures, prefix p: String) -> String {
        let seed = "\(g.seed)ull"
        let place: String
        if m.training {
            place = """
                    c->params = f;
                    c->packed = f + \(p)_PARAM_FLOATS;
                    c->arena = c->packed + \(p)_PACKED_FLOATS;
                    c->full = c->params;
                    \(p)_train_init(c, c->arena + \(p)_ARENA_FLOATS);
                """
        } else if m.embedded {
            place = """
                    c->packed = (float *)\(p)_weights_image;  /* read-only: only the kernels read it */
                    c->params = c->packed + \(p)_PACKED_FLOATS;
                    c->arena = f;
                    c->weights = NN_W_PACKED;
                """
        } else {
            place = """
                    c->packed = f;
                    c->params = f + \(p)_PACKED_FLOATS;
                    c->arena = c->params + \(p)_DIRECT_FLOATS;
                """
        }
        // The weights a new context starts with.
        let initial: (create: String, createIn: String)
        if m.training {
            let s = "    \(p)_init_params(c->params, \(seed));\n    \(p)_pack(c);\n"
            initial = (s, s)
        } else if m.embedded {
            initial = ("", "")
        } else {
            initial = ("""
                    /* borrowed: \(p)_UNPACKED_BYTES; zeroed, since a model without parameters initialises none of it
                       and gcc then warns that \(p)_use, in another part of a part build, may read it uninitialised */
                    float *seeded = calloc(\(p)_PARAM_FLOATS, sizeof(float));
                    if (!seeded) { free(block); return NULL; }
                    \(p)_init_params(seeded, \(seed));
                    \(p)_use(c, seeded);
                    free(seeded);
                    c->weights = NN_W_SEED;

                """, "    c->weights = NN_W_ZERO;  /* no heap to unpack the seeded ones in: zeros until load_weights */\n")
        }
        let loadNull = m.embedded ? "if (!path) return NN_OK;  /* the linked-in weights, used in place */\n    return NN_ERR_PACKED;"
            : "if (!path) return NN_ERR_NULL;"
        return """
            /* ---- the context's memory: one block of \(p)_HEAP_BYTES ---------------------------- */
            _Static_assert(sizeof(struct \(p)_ctx) <= NN_CTX_BYTES, "the context struct fits its slot");

            static \(p)_ctx *\(p)_place(void *block, int owned) {
                memset(block, 0, \(p)_HEAP_BYTES);
                \(p)_ctx *c = block;
                float *f = (float *)((char *)block + NN_CTX_BYTES);
                (void)f;
            \(place)
                c->owned = owned;
                return c;
            }

            /* Packs every parameter from src (PyTorch layout, at \(p)_offsets) and keeps those forward reads in place. */
            static NN_UNUSED void \(p)_use(\(p)_ctx *c, const float *src) {
                \(p)_ctx view = *c;
                view.params = (float *)src;  /* packing only reads params */
                \(p)_pack(&view);
                if (c->params != src) memcpy(c->params, src, \(p)_DIRECT_FLOATS * sizeof(float));
            }

            /* Reads a weights file through the validated loader into buf (PyTorch layout, at \(p)_offsets). */
            static int \(p)_read(const char *path, float *buf) {
                float *dst[\(p)_NUM_PARAMS + 1] = {0};
                for (int i = 0; i < \(p)_NUM_PARAMS; i++) dst[i] = buf + \(p)_offsets[i];
                return nn_st_load(path, \(p)_NUM_PARAMS, \(p)_names, \(p)_ranks, \(p)_dims, dst);
            }

            /* The PyTorch-layout copy get_param, set_param and save_weights work on (see the comment of \(p)_ctx). */
            static int \(p)_keep_full(\(p)_ctx *c) {
                if (c->full) return NN_OK;
                if (c->weights == NN_W_PACKED) return NN_ERR_PACKED;
                float *f = calloc(\(p)_PARAM_FLOATS, sizeof(float));
                if (!f) return NN_ERR_NOMEM;
                if (c->weights == NN_W_SEED) \(p)_init_params(f, \(seed));
                if (c->weights == NN_W_FILE) {  /* the file load_weights packed, if it still holds those tensors */
                    int rc = \(p)_read(c->source, f);
                    if (rc == NN_OK && nn_st_fingerprint(f, \(p)_PARAM_FLOATS) != c->source_print) rc = NN_ERR_STALE;
                    if (rc != NN_OK) {
                        free(f);
                        return rc == NN_ERR_NOMEM ? rc : NN_ERR_STALE;
                    }
                    free(c->source);
                    c->source = NULL;
                }
                c->full = f;
                return NN_OK;
            }

            \(p)_ctx *\(p)_create(void) {
                void *block = aligned_alloc(64, \(p)_HEAP_BYTES);
                if (!block) return NULL;
                \(p)_ctx *c = \(p)_place(block, 1);
            \(initial.create)    return c;
            }

            \(p)_ctx *\(p)_create_in(void *buffer, size_t size) {
                if (!buffer || size < \(p)_HEAP_BYTES || (uintptr_t)buffer % 64 != 0) return NULL;
                \(p)_ctx *c = \(p)_place(buffer, 0);
            \(initial.createIn)    return c;
            }

            void \(p)_destroy(\(p)_ctx *c) {
                if (!c) return;
                if (c->full != c->params) free(c->full);
                free(c->source);
                if (c->owned) free(c);
            }

            int \(p)_get_param(const \(p)_ctx *c, int i, float *out) {
                if (!c || !out) return NN_ERR_NULL;
                if (i < 0 || i >= \(p)_NUM_PARAMS) return NN_ERR_INDEX;
                const float *from = c->full;
            \(m.directFloats > 0 ? "    if (!from && \(p)_offsets[i] < \(p)_DIRECT_FLOATS) from = c->params;\n" : "")                if (!from) {
                    int rc = \(p)_keep_full((\(p)_ctx *)c);  /* the copy is a cache: the weights do not change */
                    if (rc != NN_OK) return rc;
                    from = c->full;
                }
                memcpy(out, from + \(p)_offsets[i], \(p)_param_count(i) * sizeof(float));
                return NN_OK;
            }

            int \(p)_set_param(\(p)_ctx *c, int i, const float *in) {
                if (!c || !in) return NN_ERR_NULL;
                if (i < 0 || i >= \(p)_NUM_PARAMS) return NN_ERR_INDEX;
                int rc = \(p)_keep_full(c);
                if (rc != NN_OK) return rc;
                memcpy(c->full + \(p)_offsets[i], in, \(p)_param_count(i) * sizeof(float));
                \(p)_use(c, c->full);
                return NN_OK;
            }

            /* A file is read into the PyTorch-layout copy when the context keeps one, else into a borrowed buffer;
               then the context keeps the path and the tensors' fingerprint, to rebuild the copy when asked. */
            int \(p)_load_weights(\(p)_ctx *c, const char *path) {
                if (!c) return NN_ERR_NULL;
                \(loadNull)
                if (c->full) {
                    int rc = \(p)_read(path, c->full);
                    if (rc == NN_OK) \(p)_use(c, c->full);
                    return rc;
                }
                size_t length = strlen(path) + 1;
                char *source = malloc(length);
                float *src = calloc(\(p)_PARAM_FLOATS, sizeof(float));  /* zeroed: the fingerprint covers the gaps between tensors */
                int rc = source && src ? \(p)_read(path, src) : NN_ERR_NOMEM;
                if (rc == NN_OK) {
                    \(p)_use(c, src);
                    memcpy(source, path, length);
                    free(c->source);
                    c->source = source;
                    source = NULL;
                    c->source_print = nn_st_fingerprint(src, \(p)_PARAM_FLOATS);
                    c->weights = NN_W_FILE;
                }
                free(source);
                free(src);
                return rc;
            }

            int \(p)_save_weights(const \(p)_ctx *c, const char *path) {
                if (!c || !path) return NN_ERR_NULL;
                int rc = \(p)_keep_full((\(p)_ctx *)c);
                if (rc != NN_OK) return rc;
                const float *src[\(p)_NUM_PARAMS + 1] = {0};
                for (int i = 0; i < \(p)_NUM_PARAMS; i++) src[i] = c->full + \(p)_offsets[i];
                return nn_st_save(path, \(p)_NUM_PARAMS, \(p)_names, \(p)_ranks, \(p)_dims, src);
            }

            """
    }

    /// The context struct's fields past those of training.
    static let fields = """
            float *full;    /* every parameter, PyTorch layout: params with --train, else made on demand */
            int weights;    /* NN_W_SEED, NN_W_ZERO, NN_W_FILE or NN_W_PACKED: where `full` is rebuilt from */
            char *source;   /* NN_W_FILE: the path load_weights read (a copy, freed by destroy) */
            uint64_t source_print;  /* NN_W_FILE: nn_st_fingerprint of the tensors it read */
            int owned;      /* from create (freed by destroy), not create_in */

        """

    static func defines(_ m: MemoryFigures) -> String { """
        #define NN_CTX_BYTES \(m.contextBytes)
        /* Where an inference context's weights came from: the seed, zeros (create_in), a file, or the embedded image. */
        enum { NN_W_SEED, NN_W_ZERO, NN_W_FILE, NN_W_PACKED };

        """
    }
}
