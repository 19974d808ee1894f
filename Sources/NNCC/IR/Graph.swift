/// One node of the IR: an op, its operand nodes and its per-example result
/// shape. Node `i` produces value `i`; node 0 is the model input.
public struct Node: Equatable {
    public var name: String
    public var op: Op
    public var inputs: [Int]
    /// Per-example shape of the result (no batch dimension).
    public var shape: [Int]
    /// Activation fused into a dense or conv2d kernel's epilogue.
    public var epilogue: Activation?
    /// An elementwise custom C function fused into a dense or conv2d kernel (inference only).
    public var customEpilogue: CustomOp?
    /// A batchnorm layer folded into this dense or conv2d at weight-packing time.
    public var foldedBatchNorm: FoldedBatchNorm?
    /// Where the node came from in the model file, for messages: `layers[3]`.
    public var origin: String
    /// Where the result lives once memory is planned.
    public var storage: Storage = .unplanned
    /// Arena offset of the kernel's scratch space (im2col, gate buffers), if any.
    public var scratchOffset: Int?
    /// The kernel that runs the node, chosen by selectKernels (Schedule/KernelPlan.swift).
    var kernelPlan: KernelPlan?
    /// Parameter names other than `NAME.suffix`, by suffix: a layer lowered to several nodes keeps
    /// PyTorch's names (nn.MultiheadAttention's `in_proj_weight`; Frontend/TransformerLayers.swift).
    public var paramNames: [String: String] = [:]
    /// What a layer lowered to several nodes demands of its operand, checked by inferShapes.
    public var operandCheck: OperandCheck?

    public init(name: String, op: Op, inputs: [Int], shape: [Int] = [], origin: String) {
        self.name = name
        self.op = op
        self.inputs = inputs
        self.shape = shape
        self.origin = origin
    }

    /// Elements per example; at most `Limits.exampleElements` once inferShapes has checked the shape.
    public var size: Int { shape.reduce(1, *) }

    /// The full name of the node's parameter `suffix` ("weight", "bias").
    public func paramName(_ suffix: String) -> String { paramNames[suffix] ?? "\(name).\(suffix)" }
}

/// The per-example shape a node's (first) operand must have, -1 for any size, and how to name it
/// in the message: a `multihead_attention` needs a `[T, embed_dim]` sequence.
public struct OperandCheck: Equatable {
    public var shape: [Int]
    public var what: String
}

public struct FoldedBatchNorm: Equatable {
    public var name: String
    public var eps: Float
}

public enum Storage: Equatable {
    case unplanned
    /// The caller's input buffer.
    case input
    /// Float offset into the context's arena; each example's slice is `size` floats.
    case arena(offset: Int)
    /// Same memory as another node's result (reshape).
    case view(of: Int)
}

/// How a parameter starts when no weights file is given (PyTorch's scheme).
public enum ParamInit: Equatable {
    case uniform(bound: Float)
    case constant(Float)
    /// N(0, std²), then row `zeroRow` (of `shape[1...]` elements) zero: nn.Embedding's padding_idx.
    case normal(std: Float, zeroRow: Int?)
}

/// One tensor of the model's state, in PyTorch's name and layout.
public struct ParamSpec: Equatable {
    public var name: String
    /// The layer (node name) that owns it: names may contain dots, so this is not parsed from `name`.
    public var layer: String
    public var shape: [Int]
    public var initializer: ParamInit
    /// Running statistics are state, not trained by the optimizer.
    public var trainable: Bool
    /// At most `Limits.bufferElements` once inferShapes has checked the shape.
    public var size: Int { shape.reduce(1, *) }
}

public enum Loss: String, Equatable { case crossEntropy = "cross_entropy", mse, binaryCrossEntropy = "binary_cross_entropy" }

public struct Optimizer: Equatable {
    public enum Kind: String, Equatable { case sgd, adam }
    public var kind: Kind
    public var lr: Float
    public var momentum: Float = 0
    public var nesterov = false
    public var weightDecay: Float = 0
    public var betas: (Float, Float) = (0.9, 0.999)
    public var eps: Float = 1e-8
    public static func == (a: Optimizer, b: Optimizer) -> Bool {
        a.kind == b.kind && a.lr == b.lr && a.momentum == b.momentum && a.nesterov == b.nesterov
            && a.weightDecay == b.weightDecay && a.betas == b.betas && a.eps == b.eps
    }
}

public struct Augment: Equatable {
    public var hflip = false
    public var cropPadding = 0
    public var rotateDegrees: Float = 0
    public var shearDegrees: Float = 0
    public var zoom: Float = 0
    public var brightness: Float = 0
    public var isEnabled: Bool {
        hflip || cropPadding > 0 || rotateDegrees > 0 || shearDegrees > 0 || zoom > 0 || brightness > 0
    }
}

public struct TrainConfig: Equatable {
    public var loss: Loss
    public var optimizer: Optimizer
    public var batchSize: Int = 32
    public var epochs: Int = 1
    public var shuffle = true
    public var clipGradNorm: Float = 0
    public var augment = Augment()
    public var lrSchedule: LRSchedule?
}

/// The whole program: nodes in evaluation order, the outputs, the parameter
/// table and training settings.
public struct Graph: Equatable {
    public var name: String
    public var nodes: [Node]
    public var outputs: [Int]
    /// The layer names the model gives its outputs (kept when passes rewire them).
    public var outputNames: [String] = []
    public var params: [ParamSpec] = []
    public var seed: UInt64 = 0
    public var train: TrainConfig?
    /// Set by autodiff in training builds.
    public var gradients: GradientPlan?
    /// Largest batch the planned arena holds, and its size in floats.
    public var maxBatch = 1
    public var arenaFloats = 0

    public init(name: String, nodes: [Node], outputs: [Int]) {
        self.name = name
        self.nodes = nodes
        self.outputs = outputs
    }

    public var input: Node { nodes[0] }

    /// Users of each node, in order.
    public func users() -> [[Int]] {
        var u = Array(repeating: [Int](), count: nodes.count)
        for (i, n) in nodes.enumerated() { for j in n.inputs { u[j].append(i) } }
        return u
    }

    /// The node whose storage holds node `i`'s result, following views.
    public func storageRoot(_ i: Int) -> Int {
        var j = i
        while case let .view(of: k) = nodes[j].storage { j = k }
        return j
    }

    public func param(_ name: String) -> ParamSpec? { params.first { $0.name == name } }
}
