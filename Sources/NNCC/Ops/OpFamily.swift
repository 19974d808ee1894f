/// Everything nncc knows about one family of ops, from the kernel choice to
/// the gradient, in one file per family: Ops/Dense.swift, Ops/Conv/,
/// Ops/Conv/Conv3D.swift, Ops/Pool.swift, Ops/Recurrent.swift, Ops/Elementwise.swift,
/// Ops/Normalization.swift, Ops/LayerNorm.swift, Ops/Binary.swift, Ops/View.swift, Ops/Softmax.swift,
/// Ops/Transpose.swift, Ops/MatMul.swift, Ops/Reduce.swift, Ops/Select.swift,
/// Ops/Embedding.swift, Ops/Conv/ConvTranspose.swift, Ops/Resize.swift, Ops/PixelShuffle.swift, Ops/Pad.swift, Ops/Custom.swift.
/// Adding an op means adding an IR
/// case (IR/Op.swift), its shape rule (Passes/InferShapes.swift) and a
/// family, or a case in one (docs/architecture.md, "Adding an op").
protocol OpFamily {
    /// The family's one decision site: which kernel the node runs, its
    /// scratch and packed sizes and, in training builds, how backward runs.
    static func plan(_ g: Graph, _ i: Int, _ s: Schedule, training: Bool) -> KernelPlan

    /// The C templates the node's planned kernels (and, in training builds, its gradient) call.
    static func templates(_ node: Node) -> [Template]

    /// The inference kernel: its definition, the call from forward and the
    /// weight packing; nil when the node needs no code.
    static func forward(_ ctx: EmitContext, _ i: Int) -> KernelCode?

    /// Training builds: reserves what the forward saves for backward and the
    /// backward's scratch in the training block.
    static func reserve(_ g: Graph, _ i: Int, _ s: Schedule, _ layout: inout TrainLayout)

    /// Training builds: the forward call when training mode differs from inference.
    static func trainingForward(_ ctx: EmitContext, _ t: TrainLayout, _ i: Int) -> String?

    /// Training builds: state updated after the optimizer step (batchnorm's running statistics).
    static func stateUpdate(_ ctx: EmitContext, _ t: TrainLayout, _ i: Int) -> String?

    /// Training builds: the gradient rule, given ∂result in the node's
    /// gradient buffer: adds ∂operands and ∂parameters.
    static func backward(_ ctx: EmitContext, _ t: TrainLayout, _ i: Int) -> BackwardCode
}

extension OpFamily {
    static func templates(_ node: Node) -> [Template] { [] }
    static func reserve(_ g: Graph, _ i: Int, _ s: Schedule, _ layout: inout TrainLayout) {}
    static func trainingForward(_ ctx: EmitContext, _ t: TrainLayout, _ i: Int) -> String? { nil }
    static func stateUpdate(_ ctx: EmitContext, _ t: TrainLayout, _ i: Int) -> String? { nil }
    static func backward(_ ctx: EmitContext, _ t: TrainLayout, _ i: Int) -> BackwardCode { BackwardCode() }
}

/// The C of one gradient rule: file-scope kernels it calls, and its statements in the step.
struct BackwardCode {
    var definitions = ""
    var statements = ""
}

extension Op {
    /// The one dispatch from an op to its family.
    var family: OpFamily.Type {
        switch self {
        case .input, .reshape: return ViewOps.self
        case .dense: return DenseOps.self
        case let .conv2d(c): return c.depth == nil ? ConvOps.self : Conv3DOps.self
        case .maxPool, .avgPool, .globalAvgPool: return PoolOps.self
        case .recurrent: return RecurrentOps.self
        case .activation, .add, .concat, .dropout: return ElementwiseOps.self
        case .batchNorm: return NormalizationOps.self
        case .softmax, .logSoftmax: return SoftmaxOps.self
        case .transpose, .swapAxes: return TransposeOps.self
        case .matmul: return MatMulOps.self
        case .reduce: return ReduceOps.self
        case .select, .slice: return SelectOps.self
        case .binary, .prelu: return BinaryOps.self
        case .norm: return LayerNormOps.self
        case .embedding: return EmbeddingOps.self
        case .convTranspose: return ConvTransposeOps.self
        case .resize: return ResizeOps.self
        case .pixelShuffle: return PixelShuffleOps.self
        case .pad: return PadOps.self
        case .custom: return CustomOps.self
        }
    }
}
