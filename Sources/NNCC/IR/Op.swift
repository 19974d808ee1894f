/// The closed set of operations of the IR. Layers of the model format map
/// onto these one to one; passes switch over this enum.
public enum Activation: Equatable, Hashable {
    case relu, sigmoid, tanh, gelu, identity
    case leakyRelu(alpha: Float)
    /// GELU with PyTorch's `approximate="tanh"`.
    case geluTanh
    case elu(alpha: Float), celu(alpha: Float)
    /// scale·elu(x, alpha); PyTorch's selu is `Activation.seluDefaults`.
    case selu(alpha: Float, scale: Float)
    /// PyTorch's softplus: x where βx > threshold, else log(1 + e^(βx))/β.
    case softplus(beta: Float, threshold: Float)
    case softsign, exp, log, sqrt, reciprocal, abs, neg, erf
    /// min(max(x, min), max), ±infinity for no bound; relu6 and hardtanh. Its
    /// gradient is hardtanh's: zero at and past either bound.
    case clip(min: Float, max: Float)
    /// clip(alpha·x + beta, 0, 1); PyTorch's hardsigmoid is alpha 1/6, beta 1/2.
    case hardSigmoid(alpha: Float, beta: Float)
    case hardSwish, silu, mish
    /// torch.sign: −1, 0 or 1 (0 for NaN, as PyTorch); no gradient.
    case sign
    /// ONNX's Shrink: x + bias below −lambd, x − bias above lambd, else 0 (hardshrink, softshrink).
    case shrink(lambd: Float, bias: Float)

    /// PyTorch's selu constants (ONNX's Selu defaults round to the same floats).
    public static let seluDefaults = (alpha: Float(1.6732632423543772), scale: Float(1.0507009873554805))

    public var name: String {
        switch self {
        case .relu: return "relu"
        case .sigmoid: return "sigmoid"
        case .tanh: return "tanh"
        case .gelu: return "gelu"
        case .identity: return "identity"
        case let .leakyRelu(a): return "leaky_relu(\(a))"
        case .geluTanh: return "gelu_tanh"
        case let .elu(a): return "elu(\(a))"
        case let .selu(a, s): return a == Self.seluDefaults.alpha && s == Self.seluDefaults.scale ? "selu" : "selu(\(a), \(s))"
        case let .celu(a): return "celu(\(a))"
        case let .softplus(b, t): return "softplus(\(b), \(t))"
        case .softsign: return "softsign"
        case .exp: return "exp"
        case .log: return "log"
        case .sqrt: return "sqrt"
        case .reciprocal: return "reciprocal"
        case .abs: return "abs"
        case .neg: return "neg"
        case .erf: return "erf"
        case let .clip(lo, hi): return "clip(\(lo), \(hi))"
        case let .hardSigmoid(a, b): return "hardsigmoid(\(a), \(b))"
        case .hardSwish: return "hardswish"
        case .silu: return "silu"
        case .mish: return "mish"
        case .sign: return "sign"
        case let .shrink(l, b): return "shrink(\(l), \(b))"
        }
    }

    /// The derivative follows from the output alone (`nn_act_grad` with
    /// z = y), so training may fuse the activation into an epilogue and keep
    /// only the output. The elus and leaky relu need y to share z's sign.
    public var derivativeFromOutput: Bool {
        switch self {
        case .relu, .sigmoid, .tanh, .identity, .exp, .sqrt, .reciprocal, .neg, .clip, .hardSigmoid, .sign: return true
        case let .leakyRelu(a), let .elu(a), let .celu(a): return a > 0
        case let .selu(a, s): return a > 0 && s > 0
        case .gelu, .geluTanh, .softplus, .softsign, .log, .abs, .erf, .hardSwish, .silu, .mish, .shrink: return false
        }
    }
}

/// The depth axis of a 3-D layer (Conv3d, MaxPool3d, AvgPool3d) on a [C, D, H, W] input: its
/// window, stride, padding before and after, and dilation. The 2-D fields describe height and width.
public struct DepthAxis: Equatable {
    public var kernel: Int, stride: Int, padFront: Int, padBack: Int, dilation: Int

    public init(kernel: Int, stride: Int = 1, padFront: Int = 0, padBack: Int = 0, dilation: Int = 1) {
        (self.kernel, self.stride, self.padFront, self.padBack, self.dilation) = (kernel, stride, padFront, padBack, dilation)
    }

    /// The dilated window's extent.
    public var extent: Int { dilation * (kernel - 1) + 1 }
}

public struct Conv2D: Equatable {
    public var filters: Int
    public var kernel: (Int, Int)
    public var stride: (Int, Int)
    /// Explicit padding; "same" and "valid" are resolved by shape inference.
    public var padding: Padding
    public var dilation: (Int, Int)
    public var groups: Int
    public var bias: Bool
    /// PyTorch's Conv1d: a [C, L] input seen as [C, 1, L], the height's
    /// kernel, stride and dilation 1 and its padding 0; the result is [F, L'].
    public var is1D = false
    /// PyTorch's Conv3d: a [C, D, H, W] input, this axis before the height; nil for 1-D and 2-D.
    public var depth: DepthAxis? = nil

    /// `asymmetric` is ONNX's uneven pads (top, left, bottom, right).
    public enum Padding: Equatable { case explicit(Int, Int), same, valid, asymmetric(Int, Int, Int, Int) }

    /// Padding as (top, left, bottom, right); "same" pads like PyTorch, the
    /// odd pixel at the bottom/right.
    public var pads: (top: Int, left: Int, bottom: Int, right: Int) {
        switch padding {
        case let .explicit(h, w): return (h, w, h, w)
        case let .asymmetric(t, l, b, r): return (t, l, b, r)
        case .valid: return (0, 0, 0, 0)
        case .same:
            let th = dilation.0 * (kernel.0 - 1), tw = dilation.1 * (kernel.1 - 1)
            return (th / 2, tw / 2, th - th / 2, tw - tw / 2)
        }
    }

    /// Output height and width for an input of `h` × `w`.
    public func outputSize(_ h: Int, _ w: Int) -> (Int, Int) {
        let p = pads
        let oh = (h + p.top + p.bottom - dilation.0 * (kernel.0 - 1) - 1) / stride.0 + 1
        let ow = (w + p.left + p.right - dilation.1 * (kernel.1 - 1) - 1) / stride.1 + 1
        return (oh, ow)
    }

    public static func == (a: Conv2D, b: Conv2D) -> Bool {
        a.filters == b.filters && a.kernel == b.kernel && a.stride == b.stride && a.padding == b.padding
            && a.dilation == b.dilation && a.groups == b.groups && a.bias == b.bias && a.is1D == b.is1D
            && a.depth == b.depth
    }
}

/// Max or average pooling over the last two axes, as PyTorch's MaxPool2d /
/// AvgPool2d and ONNX's MaxPool / AveragePool define it.
public struct Pool2D: Equatable {
    public var size: (Int, Int)
    public var stride: (Int, Int)
    /// Zeros (average) or nothing (max) around the input; ONNX may pad unevenly.
    public var pads: (top: Int, left: Int, bottom: Int, right: Int)
    /// Max pooling only: the distance between window elements.
    public var dilation: (Int, Int)
    /// Output sizes round up: a last, partial window where it starts inside the input or its left padding.
    public var ceilMode: Bool
    /// Average pooling only: padding zeros count in the divisor (PyTorch's default).
    public var countIncludePad: Bool
    /// MaxPool1d / AvgPool1d: a [C, L] input seen as [C, 1, L], a 1 × k window.
    public var is1D: Bool
    /// MaxPool3d / AvgPool3d: the window along the depth of a [C, D, H, W] input; nil for 1-D and 2-D.
    public var depth: DepthAxis? = nil

    public init(size: (Int, Int), stride: (Int, Int), padding: (Int, Int), dilation: (Int, Int) = (1, 1),
                ceilMode: Bool = false, countIncludePad: Bool = true, is1D: Bool = false) {
        self.init(size: size, stride: stride, pads: (padding.0, padding.1, padding.0, padding.1), dilation: dilation,
                  ceilMode: ceilMode, countIncludePad: countIncludePad, is1D: is1D)
    }

    public init(size: (Int, Int), stride: (Int, Int), pads: (top: Int, left: Int, bottom: Int, right: Int),
                dilation: (Int, Int) = (1, 1), ceilMode: Bool = false, countIncludePad: Bool = true, is1D: Bool = false) {
        self.size = size
        self.stride = stride
        self.pads = pads
        self.dilation = dilation
        self.ceilMode = ceilMode
        self.countIncludePad = countIncludePad
        self.is1D = is1D
    }

    /// PyTorch's rule on one axis: floor (or ceil) of the strided windows that
    /// fit, less a ceil window that would start past the input and its left pad.
    static func outputLength(_ n: Int, _ k: Int, _ s: Int, _ p0: Int, _ p1: Int, _ d: Int, ceil: Bool) -> Int {
        let span = n + p0 + p1 - d * (k - 1) - 1
        guard span >= 0 else { return 0 }
        var out = (ceil ? (span + s - 1) / s : span / s) + 1
        if ceil && (out - 1) * s >= n + p0 { out -= 1 }
        return out
    }

    public func outputSize(_ h: Int, _ w: Int) -> (Int, Int) {
        (Self.outputLength(h, size.0, stride.0, pads.top, pads.bottom, dilation.0, ceil: ceilMode),
         Self.outputLength(w, size.1, stride.1, pads.left, pads.right, dilation.1, ceil: ceilMode))
    }

    /// The plain 2×2, stride-2 window without padding or rounding up.
    public var isPlain2x2: Bool {
        self == Pool2D(size: (2, 2), stride: (2, 2), padding: (0, 0))
    }

    public static func == (a: Pool2D, b: Pool2D) -> Bool {
        a.size == b.size && a.stride == b.stride && a.pads == b.pads && a.dilation == b.dilation
            && a.ceilMode == b.ceilMode && a.countIncludePad == b.countIncludePad && a.is1D == b.is1D
            && a.depth == b.depth
    }
}

public enum CellKind: Equatable {
    case rnnTanh, rnnRelu, lstm, gru
    /// Rows of the stacked gate matrices per hidden unit.
    public var gates: Int {
        switch self {
        case .rnnTanh, .rnnRelu: return 1
        case .lstm: return 4
        case .gru: return 3
        }
    }
    public var name: String {
        switch self {
        case .rnnTanh: return "rnn_tanh"
        case .rnnRelu: return "rnn_relu"
        case .lstm: return "lstm"
        case .gru: return "gru"
        }
    }
}

public struct Recurrent: Equatable {
    public var cell: CellKind
    public var units: Int
    public var returnSequences: Bool
}

/// An elementwise function of two operands with NumPy broadcasting (Ops/Binary.swift);
/// prelu(x, slope) is ONNX's PRelu with a frozen slope of any broadcast shape.
public enum BinaryFunction: String, Equatable, CaseIterable {
    case add, sub, mul, div, pow, maximum, minimum, prelu
}

/// A binary op: `function(a, b)` with NumPy broadcasting of the per-example
/// shapes. The node's inputs are its activation operands; a constant takes
/// the place of one of them.
public struct Binary: Equatable {
    public var function: BinaryFunction
    public var constant: Constant?
    /// The constant is the left operand (`1 - x`, `2 / x`).
    public var constantFirst = false
    /// Activations applied to each input as it is read, one per node input
    /// (Passes/FuseOperands.swift); nil for none.
    public var pre: [Activation?] = [nil, nil]

    /// A constant operand: a literal in the C, or a frozen tensor (the
    /// non-trainable parameter `LAYER.constant`) with its per-example shape.
    public enum Constant: Equatable { case scalar(Float), tensor([Int]) }

    public init(_ function: BinaryFunction, constant: Constant? = nil, constantFirst: Bool = false) {
        self.function = function
        self.constant = constant
        self.constantFirst = constantFirst
    }
}

public enum Op: Equatable {
    case input
    case dense(units: Int, bias: Bool)
    case conv2d(Conv2D)
    case maxPool(Pool2D)
    case avgPool(Pool2D)
    case globalAvgPool
    /// Flatten is a reshape to `[-1]`; the target may hold one -1.
    case reshape([Int])
    case activation(Activation)
    /// Over a per-example axis; negative counts from the end (-1: the last axis).
    case softmax(axis: Int)
    case logSoftmax(axis: Int)
    /// A permutation of the per-example axes: result axis k is operand axis perm[k].
    case transpose([Int])
    /// PyTorch's `transpose(dim0, dim1)` of per-example axes (negative from the end), as the JSON
    /// layer gives it before the rank is known: inferShapes replaces it by `transpose`.
    case swapAxes(Int, Int)
    /// NumPy's matmul of [..., M, K] and [..., K, N] per example, the leading axes broadcast;
    /// the right operand is the second input, or a frozen constant `LAYER.constant` of this shape.
    case matmul(constant: [Int]?)
    case reduce(Reduction)
    /// Per-example axis selections, one per operand axis (Slice, Gather, Tile, Expand).
    case select([AxisSelection])
    /// PyTorch's `x[..., start:end:step]` on one per-example axis (negative from the end), as the
    /// JSON layer gives it before the rank is known: inferShapes replaces it by `select`.
    case slice(axis: Int, start: Int, end: Int?, step: Int)
    case dropout(rate: Float)
    case batchNorm(eps: Float, momentum: Float)
    case recurrent(Recurrent)
    case add
    case concat(axis: Int)
    case binary(Binary)
    /// PyTorch's PReLU: a learnable slope per channel (axis 0), or one for all.
    case prelu(parameters: Int)
    case norm(Norm)
    case embedding(Embedding)
    case convTranspose(ConvTranspose)
    case resize(Resize)
    case pixelShuffle(PixelShuffle)
    case pad(PadSpec)
    /// A user's C function (docs/custom-ops.md).
    case custom(CustomOp)

    /// The name a user wrote for this op in the model file.
    public var typeName: String {
        switch self {
        case .input: return "input"
        case .dense: return "dense"
        case let .conv2d(c): return c.is1D ? "conv1d" : c.depth != nil ? "conv3d" : "conv2d"
        case let .maxPool(p): return p.is1D ? "maxpool1d" : p.depth != nil ? "maxpool3d" : "maxpool2d"
        case let .avgPool(p): return p.is1D ? "avgpool1d" : p.depth != nil ? "avgpool3d" : "avgpool2d"
        case .globalAvgPool: return "global_avgpool2d"
        case .reshape: return "reshape"
        case let .activation(a): return a.name
        case .softmax: return "softmax"
        case .logSoftmax: return "log_softmax"
        case .dropout: return "dropout"
        case .batchNorm: return "batchnorm"
        case let .recurrent(r): return r.cell == .lstm ? "lstm" : r.cell == .gru ? "gru" : "rnn"
        case .add: return "add"
        case .concat: return "concat"
        case let .binary(b): return b.function.rawValue
        case .prelu: return "prelu"
        case let .norm(n):
            switch n.kind {
            case .layer: return "layernorm"
            case .group: return "groupnorm"
            case .instance: return "instancenorm"
            }
        case .transpose, .swapAxes: return "transpose"
        case .matmul: return "matmul"
        case let .reduce(r): return "reduce_\(r.kind.rawValue)"
        case .select: return "select"
        case .slice: return "slice"
        case .embedding: return "embedding"
        case let .convTranspose(c): return c.is1D ? "conv_transpose1d" : "conv_transpose2d"
        case .resize: return "upsample"
        case let .pixelShuffle(p):
            switch p.kind {
            case .crd: return "pixel_shuffle"
            case .dcr: return "depth_to_space"
            case .unshuffle: return "pixel_unshuffle"
            case .spaceToDepth: return "space_to_depth"
            }
        case .pad: return "pad"
        case .custom: return "custom"
        }
    }

    /// Ops whose output is their input's storage seen with another shape.
    public var isView: Bool {
        if case .reshape = self { return true }
        return false
    }
}
