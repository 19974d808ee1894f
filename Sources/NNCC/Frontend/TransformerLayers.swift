/// The JSON layers of transformers (docs/model-format.md): `embedding` (one IR op) and
/// `multihead_attention` and `transformer_encoder_layer`, which stand for several IR nodes: dense on
/// the last axis, reshape, transpose, slice, matmul, softmax, add, layernorm and dropout, so their
/// forward, backward and kernels are those ops'. Parameters keep PyTorch's state_dict names
/// (`L.self_attn.in_proj_weight`, `L.linear1.weight`, `L.norm1.bias`), so a state_dict loads as it is.
enum TransformerLayers {
    static let composite: Set<String> = ["multihead_attention", "transformer_encoder_layer"]

    static func embedding(_ f: Fields, _ keys: ([String]) throws -> Void) throws -> Op {
        try keys(["num_embeddings", "embedding_dim", "padding_idx"])
        // Ids are floats: every integer up to 2^24 is exact.
        let count = try f.int("num_embeddings", min: 1, max: Limits.dimension)
        let dim = try f.int("embedding_dim", min: 1, max: Limits.units)
        var padding: Int?
        if let v = f.raw("padding_idx"), v != .null {
            // PyTorch's rule: a negative index counts from the end.
            let p = try Fields.int(v, lo: -count, hi: count - 1) { f.fail("padding_idx", $0) }
            padding = p < 0 ? p + count : p
        }
        return .embedding(Embedding(count: count, dim: dim, paddingIdx: padding))
    }

    /// Appends the nodes of a composite layer reading node `input`; the last one is the layer's result.
    static func append(_ f: Fields, name: String, input: Int, to nodes: inout [Node]) throws {
        let type = try f.string("type")
        var b = Builder(nodes: nodes, layer: name, origin: f.path)
        if type == "multihead_attention" {
            try f.onlyKeys(LayerDecoder.common + ["embed_dim", "num_heads", "bias", "dropout"], what: "a \(type) layer")
            let a = try attention(f, embed: "embed_dim", heads: "num_heads", dropoutDefault: 0)
            _ = b.attention(a, input, prefix: name, check: true)
        } else {
            try f.onlyKeys(LayerDecoder.common + ["d_model", "nhead", "dim_feedforward", "activation", "norm_first",
                                                  "layer_norm_eps", "dropout", "bias"], what: "a \(type) layer")
            let a = try attention(f, embed: "d_model", heads: "nhead", dropoutDefault: 0.1)
            let ff = try f.int("dim_feedforward", default: 2048, min: 1, max: Limits.units)
            let act: Activation
            switch try f.string("activation", default: "relu") {
            case "relu": act = .relu
            case "gelu": act = .gelu
            case let other: throw f.fail("activation", "expected \"relu\" or \"gelu\", found \"\(other)\"")
            }
            let eps = try f.float("layer_norm_eps", default: 1e-5, min: 0)
            let normFirst = try f.bool("norm_first", default: false)
            try b.encoderLayer(a, input, feedforward: ff, activation: act, eps: eps, normFirst: normFirst)
        }
        // Models grow by these layers' nodes; keep the graph within what one model may hold.
        guard b.nodes.count <= 4 * Limits.layers else {
            throw f.fail("type", "the model's layers expand to more than \(4 * Limits.layers) operations (docs/compile-time.md)")
        }
        nodes = b.nodes
    }

    struct Attention {
        var embed: Int, heads: Int, bias: Bool, dropout: Float
    }

    static func attention(_ f: Fields, embed: String, heads: String, dropoutDefault: Float) throws -> Attention {
        let e = try f.int(embed, min: 1, max: Limits.units)
        let h = try f.int(heads, min: 1, max: Limits.units)
        guard e % h == 0 else { throw f.fail(heads, "\(heads) \(h) must divide \(embed) \(e) (each head has \(embed) / \(heads) features)") }
        return Attention(embed: e, heads: h, bias: try f.bool("bias", default: true),
                         dropout: try f.float("dropout", default: dropoutDefault, min: 0, max: 1, openMax: true))
    }

    /// Appends nodes named `LAYER/what`, or by the PyTorch module path of their parameters.
    struct Builder {
        var nodes: [Node]
        let layer: String
        let origin: String

        mutating func add(_ name: String, _ op: Op, _ inputs: [Int]) -> Int {
            let full = name.hasPrefix("/") ? layer + name : name
            nodes.append(Node(name: full, op: op, inputs: inputs, origin: origin))
            return nodes.count - 1
        }

        /// Dropout where PyTorch has it; nothing at rate 0 (removed at inference anyway).
        mutating func dropout(_ what: String, _ rate: Float, _ x: Int) -> Int {
            rate > 0 ? add("/" + what, .dropout(rate: rate), [x]) : x
        }

        /// nn.MultiheadAttention(E, H, batch_first=True)(x, x, x, need_weights=False)[0] of a [T, E] sequence:
        /// q, k, v from one projection (in_proj_weight [3E, E]), softmax(q·kᵀ/√d)·v per head, out_proj.
        mutating func attention(_ a: Attention, _ x: Int, prefix: String, check: Bool) -> Int {
            let e = a.embed, h = a.heads, d = e / h
            let qkv = add(prefix + ".in_proj", .dense(units: 3 * e, bias: a.bias), [x])
            nodes[qkv].paramNames = ["weight": prefix + ".in_proj_weight", "bias": prefix + ".in_proj_bias"]
            if check { nodes[qkv].operandCheck = OperandCheck(shape: [-1, e], what: "a [T, \(e)] sequence (embed_dim \(e))") }
            let heads = add("/qkv_heads", .reshape([-1, 3 * h, d]), [qkv])          // [T, 3H, d]
            let byHead = add("/qkv_by_head", .transpose([1, 0, 2]), [heads])          // [3H, T, d]
            let q = add("/q", .slice(axis: 0, start: 0, end: h, step: 1), [byHead])
            let k = add("/k", .slice(axis: 0, start: h, end: 2 * h, step: 1), [byHead])
            let v = add("/v", .slice(axis: 0, start: 2 * h, end: 3 * h, step: 1), [byHead])
            // PyTorch scales q by 1/√d before the product.
            let qs = add("/q_scaled", .binary(Binary(.mul, constant: .scalar(1 / Float(d).squareRoot()))), [q])
            let kt = add("/k_t", .transpose([0, 2, 1]), [k])                          // [H, d, T]
            let scores = add("/scores", .matmul(constant: nil), [qs, kt])             // [H, T, T]
            let weights = dropout("attn_dropout", a.dropout, add("/weights", .softmax(axis: -1), [scores]))
            let context = add("/context", .matmul(constant: nil), [weights, v])       // [H, T, d]
            let byToken = add("/context_by_token", .transpose([1, 0, 2]), [context])   // [T, H, d]
            let merged = add("/context_merged", .reshape([-1, e]), [byToken])
            return add(prefix + ".out_proj", .dense(units: e, bias: a.bias), [merged])
        }

        /// nn.TransformerEncoderLayer(batch_first=True) without masks: post-norm
        /// norm2(h + ff(h)) with h = norm1(x + sa(x)), or with norm_first x + sa(norm1(x)), then + ff(norm2(·)).
        mutating func encoderLayer(_ a: Attention, _ x: Int, feedforward: Int, activation: Activation, eps: Float,
                                   normFirst: Bool) throws {
            let e = a.embed, p = layer
            func norm(_ n: String, _ v: Int) -> Int {
                add("\(p).\(n)", .norm(Norm(.layer(normalizedShape: [e]), eps: eps, bias: a.bias)), [v])
            }
            // self_attn drops attention weights at the layer's rate; dropout1, dropout, dropout2 as PyTorch's.
            func selfAttention(_ v: Int) -> Int {
                dropout("dropout1", a.dropout, attention(a, v, prefix: p + ".self_attn", check: false))
            }
            func feedForward(_ v: Int) -> Int {
                let h = add("\(p).linear1", .dense(units: feedforward, bias: a.bias), [v])
                let act = dropout("dropout", a.dropout, add("/activation", .activation(activation), [h]))
                return dropout("dropout2", a.dropout, add("\(p).linear2", .dense(units: e, bias: a.bias), [act]))
            }
            if normFirst {
                let n1 = norm("norm1", x)
                nodes[n1].operandCheck = OperandCheck(shape: [-1, e], what: "a [T, \(e)] sequence (d_model \(e))")
                let h = add("/residual1", .add, [x, selfAttention(n1)])
                _ = add("/residual2", .add, [h, feedForward(norm("norm2", h))])
            } else {
                let first = nodes.count
                let sa = selfAttention(x)
                nodes[first].operandCheck = OperandCheck(shape: [-1, e], what: "a [T, \(e)] sequence (d_model \(e))")
                let h = norm("norm1", add("/residual1", .add, [x, sa]))
                _ = norm("norm2", add("/residual2", .add, [h, feedForward(h)]))
            }
        }
    }
}
