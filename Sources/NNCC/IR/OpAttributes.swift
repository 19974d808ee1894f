// Attributes of the ops added for the models users bring (normalization over rows,
// reductions, indexed copies, embedding, transposed convolution, resizing, pixel shuffle,
// pad); the older ones are beside `Op` in IR/Op.swift.

/// LayerNorm, GroupNorm and InstanceNorm as PyTorch defines them (Ops/LayerNorm.swift):
/// per example, groups of contiguous elements are normalized by their mean and
/// biased variance, `(x − μ)/√(σ² + eps)`, then scaled and shifted.
public struct Norm: Equatable {
    public enum Kind: Equatable {
        /// nn.LayerNorm: over the last axes, which must be `normalizedShape`; weight and bias of that shape.
        case layer(normalizedShape: [Int])
        /// nn.GroupNorm: the channels (axis 0) split in `groups`, each over its channels and the
        /// other axes; a weight and bias per channel.
        case group(Int)
        /// nn.InstanceNorm1d/2d: each channel (axis 0) over the other axes; per channel.
        case instance
    }
    public var kind: Kind
    public var eps: Float
    /// Has `NAME.weight` / `NAME.bias` (PyTorch's elementwise_affine or affine, and LayerNorm's bias).
    public var weight: Bool
    public var bias: Bool

    public init(_ kind: Kind, eps: Float = 1e-5, weight: Bool = true, bias: Bool = true) {
        self.kind = kind
        self.eps = eps
        self.weight = weight
        self.bias = bias
    }
}

/// A reduction over some per-example axes (Ops/Reduce.swift): ReduceMean, ReduceSum, ReduceMax,
/// ReduceMin, ReduceL2; PyTorch's mean, sum, amax, amin and vector_norm.
public struct Reduction: Equatable {
    public enum Kind: String, Equatable, CaseIterable { case mean, sum, max, min, l2 }
    public var kind: Kind
    /// Per-example axes, ascending, each once.
    public var axes: [Int]
    /// The reduced axes stay as size 1.
    public var keepDims: Bool

    public init(_ kind: Kind, axes: [Int], keepDims: Bool) {
        self.kind = kind
        self.axes = axes
        self.keepDims = keepDims
    }
}

/// Which elements of each per-example axis a `select` reads (Ops/Select.swift): Slice (steps too),
/// Gather on constant indices, Tile and Expand are all y[i0, i1, ...] = x[s0(i0), s1(i1), ...].
public enum AxisSelection: Equatable {
    /// start + step·i for i in 0..<count; step 0 repeats one element (Expand of a size-1 axis).
    case range(start: Int, step: Int, count: Int)
    /// Any indices, repeats allowed (Gather, Tile).
    case list([Int])

    public var count: Int {
        switch self {
        case let .range(_, _, n): return n
        case let .list(l): return l.count
        }
    }
    /// The input index read at output index i.
    public func index(_ i: Int) -> Int {
        switch self {
        case let .range(start, step, _): return start + step * i
        case let .list(l): return l[i]
        }
    }
}

/// nn.Embedding: each element of the operand is a row index (a token id held as a float) into the
/// weight `[count, dim]`; the result appends an axis of `dim` (Ops/Embedding.swift).
public struct Embedding: Equatable {
    public var count: Int
    public var dim: Int
    /// This row is zero at initialisation and gets no gradient, as PyTorch's padding_idx.
    public var paddingIdx: Int?

    public init(count: Int, dim: Int, paddingIdx: Int? = nil) {
        self.count = count
        self.dim = dim
        self.paddingIdx = paddingIdx
    }
}

/// PyTorch's ConvTranspose1d/2d, ONNX's ConvTranspose (Ops/Conv/ConvTranspose.swift): the adjoint
/// of a conv2d with `inputs / groups` filters per group, whose result has `channels`.
/// The weight is [C_in, C_out/groups, kh, kw] (1-D: [C_in, C_out/groups, k]).
public struct ConvTranspose: Equatable {
    /// Result channels, C_out.
    public var channels: Int
    public var kernel: (Int, Int)
    public var stride: (Int, Int)
    /// Removed from the full result: (top, left, bottom, right); PyTorch's `padding` on both sides.
    public var pads: (top: Int, left: Int, bottom: Int, right: Int)
    /// Added after the bottom/right edge (PyTorch's and ONNX's output_padding).
    public var outputPadding: (Int, Int)
    public var dilation: (Int, Int)
    public var groups: Int
    public var bias: Bool
    /// A [C, L] input seen as [C, 1, L], as conv1d.
    public var is1D = false

    /// (H − 1)·stride − pads + dilation·(k − 1) + output_padding + 1 on each axis.
    public func outputSize(_ h: Int, _ w: Int) -> (Int, Int) {
        ((h - 1) * stride.0 - pads.top - pads.bottom + dilation.0 * (kernel.0 - 1) + outputPadding.0 + 1,
         (w - 1) * stride.1 - pads.left - pads.right + dilation.1 * (kernel.1 - 1) + outputPadding.1 + 1)
    }

    public static func == (a: ConvTranspose, b: ConvTranspose) -> Bool {
        a.channels == b.channels && a.kernel == b.kernel && a.stride == b.stride && a.pads == b.pads
            && a.outputPadding == b.outputPadding && a.dilation == b.dilation && a.groups == b.groups
            && a.bias == b.bias && a.is1D == b.is1D
    }
}

/// Resizing of the last `scales`/`sizes`.count per-example axes (Ops/Resize.swift): PyTorch's
/// nn.Upsample and interpolate, ONNX's Resize and Upsample. Each result index maps to a
/// coordinate of the input axis; nearest reads one element there (inferShapes lowers it to a
/// `select`), linear the two around it.
public struct Resize: Equatable {
    public enum Mode: Equatable { case nearest(Rounding), linear }
    /// How nearest rounds the coordinate (ONNX's nearest_mode; PyTorch's nearest floors).
    public enum Rounding: String, Equatable { case floor, ceil, roundPreferFloor = "round_prefer_floor", roundPreferCeil = "round_prefer_ceil" }
    /// ONNX's coordinate_transformation_mode: result index x to input coordinate.
    public enum Coordinates: String, Equatable {
        /// (x + 0.5)/scale − 0.5; pytorch_half_pixel is the same but 0 for a result of length 1.
        case halfPixel = "half_pixel", pytorchHalfPixel = "pytorch_half_pixel"
        /// x/scale.
        case asymmetric
        /// x·(in − 1)/(out − 1).
        case alignCorners = "align_corners"
    }
    public var mode: Mode
    public var coordinates: Coordinates
    /// Result sizes of the resized axes, or nil: floor(input · scale).
    public var sizes: [Int]?
    /// Result per input along the resized axes (PyTorch's scale_factor, ONNX's scales); nil: sizes / input.
    public var scales: [Float]?
    /// PyTorch's interpolate: the resized axes are all those after the channel, and a single
    /// size or scale applies to each; inferShapes resolves it once the rank is known.
    public var spatial = false
    /// Coordinates multiply by the reciprocal of the scale, in Float, as PyTorch computes them;
    /// else they divide by the scale, as ONNX Runtime does (a nearest index at exactly .5 may differ).
    public var reciprocal = false

    public init(_ mode: Mode, coordinates: Coordinates, sizes: [Int]? = nil, scales: [Float]? = nil, spatial: Bool = false,
                reciprocal: Bool = false) {
        self.mode = mode
        self.coordinates = coordinates
        self.sizes = sizes
        self.scales = scales
        self.spatial = spatial
        self.reciprocal = reciprocal
    }

    /// How many trailing axes resize.
    public var axes: Int { sizes?.count ?? scales?.count ?? 0 }
}

/// DepthToSpace and SpaceToDepth (Ops/PixelShuffle.swift): a [C, H, W] operand seen as 5-D,
/// permuted, and seen as [C', H', W'] again: a transpose with views on both sides.
public struct PixelShuffle: Equatable {
    public enum Kind: String, Equatable {
        /// PyTorch's pixel_shuffle, ONNX's DepthToSpace mode CRD: channel c·r² + i·r + j goes to (c, h·r + i, w·r + j).
        case crd
        /// ONNX's DepthToSpace mode DCR (its default): channel (i·r + j)·C' + c goes to (c, h·r + i, w·r + j).
        case dcr
        /// PyTorch's pixel_unshuffle, the inverse of crd.
        case unshuffle
        /// ONNX's SpaceToDepth, the inverse of dcr.
        case spaceToDepth = "space_to_depth"
    }
    public var kind: Kind
    public var factor: Int

    public init(_ kind: Kind, factor: Int) {
        self.kind = kind
        self.factor = factor
    }
}

/// Pad (Ops/Pad.swift): ONNX's Pad and PyTorch's F.pad. Axis k gets `begin[k]` elements before
/// and `end[k]` after; a negative count removes that many (ONNX's cropping). Result element o of
/// an axis of size n reads source s = o − begin; outside [0, n) the mode decides.
public struct PadSpec: Equatable {
    public enum Mode: String, Equatable, CaseIterable {
        /// `value` (F.pad's "constant", ONNX's "constant").
        case constant
        /// Mirrored without the edge: s → −s, n−1+k → n−1−k (needs pads < n).
        case reflect
        /// The nearest edge element (F.pad's "replicate", ONNX's "edge").
        case edge
        /// Periodic: s mod n (F.pad's "circular", ONNX's "wrap").
        case wrap
    }
    public var mode: Mode
    public var value: Float
    /// Per axis, aligned with the last axes: fewer pairs than axes leave the leading axes alone
    /// (F.pad's pairs); inferShapes extends them to every axis.
    public var begin: [Int]
    public var end: [Int]

    public init(mode: Mode, value: Float = 0, begin: [Int], end: [Int]) {
        self.mode = mode
        self.value = value
        self.begin = begin
        self.end = end
    }

    /// The source index read at result index `o` of an axis of size `n`; nil for `value`.
    public func source(_ o: Int, axis k: Int, size n: Int) -> Int? {
        let s = o - begin[k]
        if (0..<n).contains(s) { return s }
        switch mode {
        case .constant: return nil
        case .edge: return min(max(s, 0), n - 1)
        case .reflect: return s < 0 ? -s : 2 * (n - 1) - s
        case .wrap: return ((s % n) + n) % n
        }
    }

    public static func == (a: PadSpec, b: PadSpec) -> Bool {
        a.mode == b.mode && a.value.bitPattern == b.value.bitPattern && a.begin == b.begin && a.end == b.end
    }
}
