/// embedding: nn.Embedding. Each operand element is a token id held as a float; the result is the
/// weight's row of that id, y[..., j] = W[x[...], j]. An id that is not an integer in 0..count-1 reads
/// nothing and gives a row of NaN; when the operand is the model's input, forward, forward_all and
/// train_step refuse such an input first (NN_ERR_INPUT, as PyTorch raises), so that row is only seen
/// for ids computed inside the model. Backward adds each ∂y row into ∂W's row of its id (scatter-add;
/// the padding_idx row gets none, as PyTorch's); ids carry no gradient. The reference build gathers
/// element by element.
enum EmbeddingOps: OpFamily {
    static func plan(_ g: Graph, _ i: Int, _ s: Schedule, training: Bool) -> KernelPlan {
        KernelPlan(kernel: s.reference ? .naive : .loops, backward: training ? (s.reference ? .naive : .loops) : nil)
    }

    static func embedding(_ node: Node) -> Embedding {
        guard case let .embedding(e) = node.op else { preconditionFailure("not an embedding: \(node.op)") }
        return e
    }

    /// The C condition that float `v` is a valid id: an integer in 0..count-1 (NaN fails every comparison).
    static func valid(_ v: String, _ e: Embedding) -> String {
        "\(v) >= 0.0f && \(v) < \(e.count).0f && \(v) == floorf(\(v))"
    }

    static func forward(_ ctx: EmitContext, _ i: Int) -> KernelCode? {
        let g = ctx.graph, node = g.nodes[i], e = embedding(node), ids = g.nodes[node.inputs[0]].size, d = e.dim
        let name = ctx.kernelName(i, "embedding")
        let what = "embedding, \(e.count) rows of \(d)\(e.paddingIdx.map { ", padding_idx \($0)" } ?? ""); an invalid id gives NaN"
        let body: String
        if node.plan.kernel == .naive {
            body = """
                    for (size_t o = 0; o < (size_t)nb * \(ids * d); o++) {
                        const float v = x[o / \(d)];
                        y[o] = \(valid("v", e)) ? w[(size_t)v * \(d) + o % \(d)] : NAN;
                    }
                """
        } else {
            body = """
                    for (size_t t = 0; t < (size_t)nb * \(ids); t++) {
                        const float v = x[t];
                        float *yr = y + t * \(d);
                        if (\(valid("v", e))) {
                            const float *wr = w + (size_t)v * \(d);
                            for (int j = 0; j < \(d); j++) yr[j] = wr[j];
                        } else {
                            for (int j = 0; j < \(d); j++) yr[j] = NAN;
                        }
                    }
                """
        }
        return KernelCode(definition: """
            \(ctx.banner(i, what))
            static void \(name)(int nb, const float *restrict x, const float *restrict w, float *restrict y) {
            \(body)
            }
            """, call: "\(name)(nb, \(ctx.value(node.inputs[0])), \(ctx.param(node, "weight")), \(ctx.value(i)));")
    }

    /// ∂W[id] += ∂y row, for every valid id but padding_idx.
    static func backward(_ ctx: EmitContext, _ t: TrainLayout, _ i: Int) -> BackwardCode {
        let g = ctx.graph, node = g.nodes[i], e = embedding(node), ids = g.nodes[node.inputs[0]].size, d = e.dim
        guard let dy = t.gradPointer(g, i), g.param(node.paramName("weight"))?.trainable == true else {
            return BackwardCode(statements: ctx.ruleHead(i))
        }
        let name = ctx.kernelName(i, "embedding_backward")
        let skip = "!(\(valid("v", e)))" + (e.paddingIdx.map { " || v == \($0).0f" } ?? "")
        let body: String
        if node.plan.backward == .naive {
            body = """
                    for (size_t o = 0; o < (size_t)nb * \(ids * d); o++) {
                        const float v = x[o / \(d)];
                        if (\(skip)) continue;
                        dw[(size_t)v * \(d) + o % \(d)] += dy[o];
                    }
                """
        } else {
            body = """
                    for (size_t t = 0; t < (size_t)nb * \(ids); t++) {
                        const float v = x[t];
                        if (\(skip)) continue;
                        float *dr = dw + (size_t)v * \(d);
                        const float *gr = dy + t * \(d);
                        for (int j = 0; j < \(d); j++) dr[j] += gr[j];
                    }
                """
        }
        let banner = "/* ∂ layer \"\(CSyntax.comment(node.name))\": ∂W[id] += ∂y, \(ids) ids of \(d) per example */"
        return BackwardCode(definitions: """
            \(banner)
            static void \(name)(int nb, const float *restrict x, const float *restrict dy, float *restrict dw) {
            \(body)
            }

            """, statements: ctx.ruleHead(i) + "    \(name)(nb, \(ctx.value(node.inputs[0])), \(dy), \(ctx.grad(node, "weight")));\n")
    }

    // MARK: the input check of the API functions

    /// The embeddings that read the model's input (directly or through a reshape).
    static func readingInput(_ g: Graph) -> [Embedding] {
        g.nodes.compactMap { n in
            guard case let .embedding(e) = n.op, g.storageRoot(n.inputs[0]) == 0 else { return nil }
            return e
        }
    }

    /// The header's error code, when an embedding reads the input.
    static func errorCode(_ g: Graph, prefix p: String) -> String {
        readingInput(g).isEmpty ? "" : """

            /* forward, forward_all and train_step: an input token id is not an integer in 0..num_embeddings-1
               (embedding); nothing was computed. */
            #define \(p)_ERR_INPUT      (-14)

            """
    }

    /// Statements that return NAME_ERR_INPUT when the input `x` of `nb` examples holds an invalid id.
    static func inputCheck(_ g: Graph, prefix p: String) -> String {
        Set(readingInput(g).map(\.count)).sorted().map { count in
            "    for (size_t t = 0; t < (size_t)nb * \(g.input.size); t++) "
                + "if (!(\(valid("x[t]", Embedding(count: count, dim: 1))))) return \(p)_ERR_INPUT;\n"
        }.joined()
    }

    /// NAME_strerror's case for that code.
    static func errorText(_ g: Graph, prefix p: String) -> String {
        readingInput(g).isEmpty ? "" : "\n    case \(p)_ERR_INPUT: return \"an input token id is not an integer in 0..num_embeddings-1 (embedding)\";"
    }
}
