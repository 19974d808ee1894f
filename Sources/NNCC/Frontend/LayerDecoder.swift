/// Decodes one entry of `layers` into an op. Attributes are checked against
/// the layer table of the format; unknown attributes are errors.
enum LayerDecoder {
    static let common = ["type", "name", "inputs"]

    /// The op and, for `activation` on dense/conv2d, the activation op that follows it.
    static func decode(_ f: Fields) throws -> (Op, Op?) {
        let type = try f.string("type")
        func keys(_ k: [String]) throws { try f.onlyKeys(common + k, what: "a \(type) layer") }
        switch type {
        case "dense":
            try keys(["units", "bias", "activation"])
            return (.dense(units: try f.int("units", min: 1, max: Limits.units), bias: try f.bool("bias", default: true)),
                    try activation(f))
        case "conv2d", "conv1d":
            try keys(["filters", "kernel_size", "stride", "padding", "dilation", "groups", "bias", "activation"])
            // Conv1d's sizes are the widths of a 1 × k kernel over one row.
            let is1D = type == "conv1d"
            let conv = Conv2D(
                filters: try f.int("filters", min: 1, max: Limits.filters),
                kernel: try f.window("kernel_size", is1D: is1D, min: 1, what: "a positive integer", names: "kh, kw"),
                stride: try f.window("stride", is1D: is1D, default: 1, min: 1, what: "a positive integer"),
                padding: try convPadding(f, is1D: is1D),
                dilation: try f.window("dilation", is1D: is1D, default: 1, min: 1, what: "a positive integer"),
                groups: try f.int("groups", default: 1, min: 1, max: Limits.filters),
                bias: try f.bool("bias", default: true),
                is1D: is1D)
            return (.conv2d(conv), try activation(f))
        case "conv3d":
            try keys(["filters", "kernel_size", "stride", "padding", "dilation", "groups", "bias", "activation"])
            let positive = "a positive integer"
            let kernel = try f.triple("kernel_size", min: 1, what: positive)
            let stride = try f.triple("stride", default: 1, min: 1, what: positive)
            let dilation = try f.triple("dilation", default: 1, min: 1, what: positive)
            let (depthPads, padding) = try conv3DPadding(f, kernel: kernel.0, dilation: dilation.0)
            var conv = Conv2D(filters: try f.int("filters", min: 1, max: Limits.filters), kernel: kernel.1, stride: stride.1,
                              padding: padding, dilation: dilation.1, groups: try f.int("groups", default: 1, min: 1, max: Limits.filters),
                              bias: try f.bool("bias", default: true))
            conv.depth = DepthAxis(kernel: kernel.0, stride: stride.0, padFront: depthPads.0, padBack: depthPads.1, dilation: dilation.0)
            return (.conv2d(conv), try activation(f))
        case "maxpool3d", "avgpool3d":
            let isMax = type.hasPrefix("max")
            try keys(["pool_size", "stride", "padding", "ceil_mode"] + (isMax ? ["dilation"] : ["count_include_pad"]))
            let positive = "a positive integer"
            let size = try f.triple("pool_size", min: 1, what: positive)
            let stride = f.has("stride") ? try f.triple("stride", min: 1, what: positive) : size
            let padding = try f.triple("padding", default: 0, min: 0, what: "a non-negative integer")
            let dilation = isMax ? try f.triple("dilation", default: 1, min: 1, what: positive) : (1, (1, 1))
            var pool = Pool2D(size: size.1, stride: stride.1, padding: padding.1, dilation: dilation.1,
                              ceilMode: try f.bool("ceil_mode", default: false),
                              countIncludePad: isMax ? true : try f.bool("count_include_pad", default: true))
            pool.depth = DepthAxis(kernel: size.0, stride: stride.0, padFront: padding.0, padBack: padding.0, dilation: dilation.0)
            // PyTorch's limit: padding at most half the (dilated) window, so no window is all padding.
            let extents = [pool.depth!.extent, dilation.1.0 * (size.1.0 - 1) + 1, dilation.1.1 * (size.1.1 - 1) + 1]
            guard zip([padding.0, padding.1.0, padding.1.1], extents).allSatisfy({ $0 * 2 <= $1 }) else {
                throw f.fail("padding", "expected at most half of pool_size (\(size.0), \(size.1.0), \(size.1.1))")
            }
            return (isMax ? .maxPool(pool) : .avgPool(pool), nil)
        case "maxpool2d", "avgpool2d", "maxpool1d", "avgpool1d":
            let isMax = type.hasPrefix("max"), is1D = type.hasSuffix("1d")
            try keys(["pool_size", "stride", "padding", "ceil_mode"] + (isMax ? ["dilation"] : ["count_include_pad"]))
            let size = try f.window("pool_size", is1D: is1D, min: 1, what: "a positive integer")
            let pool = Pool2D(size: size,
                              stride: f.has("stride") ? try f.window("stride", is1D: is1D, min: 1, what: "a positive integer") : size,
                              padding: try f.window("padding", is1D: is1D, default: 0, min: 0, what: "a non-negative integer"),
                              dilation: isMax ? try f.window("dilation", is1D: is1D, default: 1, min: 1, what: "a positive integer") : (1, 1),
                              ceilMode: try f.bool("ceil_mode", default: false),
                              countIncludePad: isMax ? true : try f.bool("count_include_pad", default: true),
                              is1D: is1D)
            // PyTorch's limit: padding at most half the (dilated) window, so no window is all padding.
            let extent = (pool.dilation.0 * (size.0 - 1) + 1, pool.dilation.1 * (size.1 - 1) + 1)
            guard pool.pads.top * 2 <= extent.0, pool.pads.left * 2 <= extent.1 else {
                throw f.fail("padding", is1D ? "expected at most half of pool_size (\(size.1))"
                    : "expected at most half of pool_size (\(size.0), \(size.1))")
            }
            return (isMax ? .maxPool(pool) : .avgPool(pool), nil)
        case "global_avgpool2d", "global_avgpool1d", "global_avgpool3d":
            try keys([])
            return (.globalAvgPool, nil)
        case "flatten":
            try keys([])
            return (.reshape([-1]), nil)
        case "reshape":
            try keys(["shape"])
            guard case let .array(items) = try f.required("shape"), !items.isEmpty, items.count <= Limits.rank else {
                throw f.fail("shape", "expected an array of 1 to \(Limits.rank) integers (one may be -1)")
            }
            let dims = try items.enumerated().map { j, v in
                try Fields.int(v, lo: -1, hi: Limits.dimension) { NNCCError(file: f.file, path: "\(f.sub("shape"))[\(j)]", $0) }
            }
            guard !dims.contains(0), dims.filter({ $0 == -1 }).count <= 1 else {
                throw f.fail("shape", "expected positive dimensions and at most one -1")
            }
            return (.reshape(dims), nil)
        case "softmax", "log_softmax":
            try keys(["axis", "dim"])
            let axis = try TensorLayers.axis(f)
            return (type == "softmax" ? .softmax(axis: axis) : .logSoftmax(axis: axis), nil)
        case "conv_transpose1d", "conv_transpose2d", "upsample", "pixel_shuffle", "pixel_unshuffle":
            return (try UpsampleLayers.decode(f, type, keys), nil)
        case "transpose", "permute", "slice", "matmul", "mean", "sum", "amax", "amin":
            return (try TensorLayers.decode(f, type, keys), nil)
        case "relu", "sigmoid", "tanh", "identity", "selu", "softsign", "relu6",
             "hardsigmoid", "hardswish", "silu", "mish", "exp", "log", "sqrt", "abs", "neg", "reciprocal", "erf":
            try keys([])
            return (try activationOp(type, alpha: 0.01, fail: { f.fail("type", $0) }), nil)
        case "leaky_relu":
            try keys(["alpha"])
            return (.activation(.leakyRelu(alpha: try f.float("alpha", default: 0.01))), nil)
        case "gelu", "elu", "celu", "softplus", "hardtanh":
            return (.activation(try parameterizedActivation(f, type, keys)), nil)
        case "dropout":
            try keys(["rate"])
            return (.dropout(rate: try f.float("rate", min: 0, max: 1, openMax: true)), nil)
        case "batchnorm":
            try keys(["eps", "momentum"])
            return (.batchNorm(eps: try f.float("eps", default: 1e-5, min: 0),
                               momentum: try f.float("momentum", default: 0.1, min: 0, max: 1)), nil)
        case "layernorm":
            try keys(["normalized_shape", "eps", "elementwise_affine", "bias"])
            let affine = try f.bool("elementwise_affine", default: true)
            return (.norm(Norm(.layer(normalizedShape: try normalizedShape(f)), eps: try f.float("eps", default: 1e-5, min: 0),
                               weight: affine, bias: try f.bool("bias", default: true) && affine)), nil)
        case "groupnorm", "instancenorm":
            let group = type == "groupnorm"
            try keys((group ? ["num_groups"] : []) + ["eps", "affine"])
            let kind: Norm.Kind = group ? .group(try f.int("num_groups", min: 1, max: Limits.filters)) : .instance
            let affine = try f.bool("affine", default: group)
            return (.norm(Norm(kind, eps: try f.float("eps", default: 1e-5, min: 0), weight: affine, bias: affine)), nil)
        case "rnn", "lstm", "gru":
            try keys(type == "rnn" ? ["units", "activation", "return_sequences"] : ["units", "return_sequences"])
            var cell: CellKind = type == "lstm" ? .lstm : type == "gru" ? .gru : .rnnTanh
            if type == "rnn" {
                switch try f.string("activation", default: "tanh") {
                case "tanh": cell = .rnnTanh
                case "relu": cell = .rnnRelu
                case let other: throw f.fail("activation", "expected \"tanh\" or \"relu\", found \"\(other)\"")
                }
            }
            return (.recurrent(Recurrent(cell: cell, units: try f.int("units", min: 1, max: Limits.filters),
                                         returnSequences: try f.bool("return_sequences", default: false))), nil)
        case "add":
            try keys([])
            return (.add, nil)
        case "sub", "mul", "div", "pow", "maximum", "minimum":
            try keys([])
            guard let function = BinaryFunction(rawValue: type) else { throw f.fail("type", "unknown layer type \"\(type)\"") }
            return (.binary(Binary(function)), nil)
        case "prelu":
            try keys(["num_parameters"])
            return (.prelu(parameters: try f.int("num_parameters", default: 1, min: 1, max: Limits.filters)), nil)
        case "embedding":
            return (try TransformerLayers.embedding(f, keys), nil)
        case _ where type == "pad" || padModules[type] != nil:
            return (try pad(f, type, keys), nil)
        case "concat":
            try keys(["axis"])
            return (.concat(axis: try f.int("axis", default: 0, min: -Limits.rank, max: Limits.rank - 1)), nil)
        default:
            throw f.fail("type", "unknown layer type \"\(displayText(type))\"; expected one of: dense, conv1d, conv2d, conv3d, maxpool1d, "
                + "maxpool2d, maxpool3d, avgpool1d, avgpool2d, avgpool3d, global_avgpool1d, global_avgpool2d, global_avgpool3d, flatten, reshape, \(activationNames), "
                + "dropout, batchnorm, layernorm, groupnorm, instancenorm, rnn, lstm, gru, add, sub, mul, div, pow, maximum, minimum, prelu, concat, "
                + "transpose, permute, slice, matmul, mean, sum, amax, amin, embedding, multihead_attention, transformer_encoder_layer, "
                + "conv_transpose1d, conv_transpose2d, upsample, pixel_shuffle, pixel_unshuffle, pad, custom, \(padModules.keys.sorted().joined(separator: ", "))")
        }
    }

    /// layernorm's normalized_shape: an integer or a list of 1 to 3, as nn.LayerNorm takes it.
    static func normalizedShape(_ f: Fields) throws -> [Int] {
        let v = try f.required("normalized_shape")
        guard case let .array(items) = v else {
            return [try Fields.int(v, lo: 1, hi: Limits.dimension) { f.fail("normalized_shape", $0) }]
        }
        guard (1...3).contains(items.count) else { throw f.fail("normalized_shape", "expected an integer or a list of 1 to 3 integers") }
        return try items.enumerated().map { j, v in
            try Fields.int(v, lo: 1, hi: Limits.dimension) { NNCCError(file: f.file, path: "\(f.sub("normalized_shape"))[\(j)]", $0) }
        }
    }

    static func convPadding(_ f: Fields, is1D: Bool) throws -> Conv2D.Padding {
        guard let v = f.raw("padding") else { return .explicit(0, 0) }
        if case let .string(s) = v {
            switch s {
            case "same": return .same
            case "valid": return .valid
            default:
                throw f.fail("padding", "expected an integer, \(is1D ? "[p]" : "[ph, pw]"), \"same\" or \"valid\", found \"\(s)\"")
            }
        }
        let p = try f.window("padding", is1D: is1D, min: 0, what: "a non-negative integer, \"same\", \"valid\"", names: "ph, pw")
        return .explicit(p.0, p.1)
    }

    /// conv3d's padding: the depth's (front, back) and the height and width's; "same" pads as
    /// PyTorch, the odd one after.
    static func conv3DPadding(_ f: Fields, kernel: Int, dilation: Int) throws -> ((Int, Int), Conv2D.Padding) {
        if case let .string(s)? = f.raw("padding") {
            switch s {
            case "same":
                let total = dilation * (kernel - 1)
                return ((total / 2, total - total / 2), .same)
            case "valid": return ((0, 0), .valid)
            default: throw f.fail("padding", "expected an integer, [pd, ph, pw], \"same\" or \"valid\", found \"\(s)\"")
            }
        }
        let p = try f.triple("padding", default: 0, min: 0, what: "a non-negative integer, \"same\", \"valid\"")
        return ((p.0, p.0), .explicit(p.1.0, p.1.1))
    }

    static func activation(_ f: Fields) throws -> Op? {
        guard f.has("activation") else { return nil }
        let name = try f.string("activation")
        if name == "none" { return nil }
        return try activationOp(name, alpha: 0.01) { f.fail("activation", $0) }
    }

    /// The activation layers and `activation` values, as PyTorch names them.
    static let activationNames = "relu, sigmoid, tanh, softmax, log_softmax, leaky_relu, gelu, identity, elu, selu, "
        + "celu, softplus, softsign, relu6, hardtanh, hardsigmoid, hardswish, silu, mish, exp, log, sqrt, abs, neg, "
        + "reciprocal, erf"

    /// An activation by name with PyTorch's default parameters.
    static func activationOp(_ name: String, alpha: Float, fail: (String) -> NNCCError) throws -> Op {
        switch name {
        case "relu": return .activation(.relu)
        case "sigmoid": return .activation(.sigmoid)
        case "tanh": return .activation(.tanh)
        case "gelu": return .activation(.gelu)
        case "identity": return .activation(.identity)
        case "leaky_relu": return .activation(.leakyRelu(alpha: alpha))
        case "softmax": return .softmax(axis: -1)
        case "log_softmax": return .logSoftmax(axis: -1)
        case "elu": return .activation(.elu(alpha: 1))
        case "selu": return .activation(.selu(alpha: Activation.seluDefaults.alpha, scale: Activation.seluDefaults.scale))
        case "celu": return .activation(.celu(alpha: 1))
        case "softplus": return .activation(.softplus(beta: 1, threshold: 20))
        case "softsign": return .activation(.softsign)
        case "relu6": return .activation(.clip(min: 0, max: 6))
        case "hardtanh": return .activation(.clip(min: -1, max: 1))
        case "hardsigmoid": return .activation(.hardSigmoid(alpha: 1.0 / 6, beta: 0.5))
        case "hardswish": return .activation(.hardSwish)
        case "silu": return .activation(.silu)
        case "mish": return .activation(.mish)
        case "exp": return .activation(.exp)
        case "log": return .activation(.log)
        case "sqrt": return .activation(.sqrt)
        case "abs": return .activation(.abs)
        case "neg": return .activation(.neg)
        case "reciprocal": return .activation(.reciprocal)
        case "erf": return .activation(.erf)
        default: throw fail("expected an activation (\(activationNames)), found \"\(name)\"")
        }
    }

    /// The activation layers with parameters, named and defaulted as PyTorch's modules.
    static func parameterizedActivation(_ f: Fields, _ type: String, _ keys: ([String]) throws -> Void) throws -> Activation {
        switch type {
        case "gelu":
            try keys(["approximate"])
            switch try f.string("approximate", default: "none") {
            case "none": return .gelu
            case "tanh": return .geluTanh
            case let other: throw f.fail("approximate", "expected \"none\" or \"tanh\", found \"\(other)\"")
            }
        case "elu":
            try keys(["alpha"])
            return .elu(alpha: try f.float("alpha", default: 1))
        case "celu":
            try keys(["alpha"])
            let a = try f.float("alpha", default: 1)
            guard a != 0 else { throw f.fail("alpha", "expected a nonzero number (celu divides by alpha)") }
            return .celu(alpha: a)
        case "softplus":
            try keys(["beta", "threshold"])
            let beta = try f.float("beta", default: 1)
            guard beta != 0 else { throw f.fail("beta", "expected a nonzero number (softplus divides by beta)") }
            return .softplus(beta: beta, threshold: try f.float("threshold", default: 20))
        default:  // hardtanh
            try keys(["min_val", "max_val"])
            let lo = try f.float("min_val", default: -1), hi = try f.float("max_val", default: 1)
            guard hi > lo else { throw f.fail("max_val", "expected a number greater than min_val (\(lo)), found \(hi)") }
            return .clip(min: lo, max: hi)
        }
    }
}
