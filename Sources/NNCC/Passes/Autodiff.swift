/// Reverse-mode autodiff over the IR: picks where the loss reads (the
/// logits under a final softmax or sigmoid, so the loss is computed stably),
/// and which results need a gradient: those between a parameter and the
/// loss. Backward then visits them in reverse order, one rule per op
/// (each family's `backward`, Ops/), accumulating into gradient buffers.
public struct GradientPlan: Equatable {
    public enum LossInput: Equatable {
        /// Cross entropy on logits (a final softmax is skipped).
        case logits
        /// Binary cross entropy on logits (a final sigmoid is skipped).
        case sigmoidLogits
        /// The output itself (mse, or binary cross entropy on probabilities).
        case output
    }
    public var loss: Loss
    /// The node whose result the loss reads, and how.
    public var source: Int
    public var input: LossInput
    /// Whether each node's result needs a gradient.
    public var needsGrad: [Bool]

    /// Nodes whose backward rule runs, last first.
    public var order: [Int] { needsGrad.indices.reversed().filter { needsGrad[$0] } }
}

public func differentiate(_ g: Graph, file: String? = nil) throws -> Graph {
    guard let train = g.train else {
        throw NNCCError(file: file, "the model has no \"train\" section; add one to build the training step")
    }
    var g = g
    let out = g.outputs[0], outNode = g.nodes[out]
    var source = out, input = GradientPlan.LossInput.output
    switch (train.loss, outNode.op) {
    case (.crossEntropy, .softmax):
        source = outNode.inputs[0]; input = .logits
    case (.crossEntropy, _):
        input = .logits
    case (.binaryCrossEntropy, .activation(.sigmoid)):
        source = outNode.inputs[0]; input = .sigmoidLogits
    default:
        break
    }
    let shape = g.nodes[source].shape
    if train.loss == .crossEntropy && shape.count != 1 {
        throw NNCCError(file: file, path: "train.loss",
                        "cross_entropy needs a [classes] output per example, but the model's output is \(shapeText(outNode.shape))")
    }
    if train.loss == .crossEntropy && shape[0] < 2 {
        throw NNCCError(file: file, path: "train.loss", "cross_entropy needs at least 2 classes, found \(shape[0])")
    }
    // Ancestors of the loss source, and results that depend on a parameter.
    var reaches = Array(repeating: false, count: g.nodes.count)
    reaches[source] = true
    for i in (0...source).reversed() where reaches[i] { for j in g.nodes[i].inputs { reaches[j] = true } }
    let paramOwners = Set(g.params.filter(\.trainable).map(\.layer))
    var dependsOnParam = Array(repeating: false, count: g.nodes.count)
    for (i, n) in g.nodes.enumerated() {
        dependsOnParam[i] = paramOwners.contains(n.name) || n.inputs.contains { dependsOnParam[$0] }
    }
    let needs = g.nodes.indices.map { $0 > 0 && reaches[$0] && dependsOnParam[$0] }
    // A custom C layer between a parameter and the loss needs the user's gradient function.
    for (i, n) in g.nodes.enumerated() where needs[i] {
        if case let .custom(c) = n.op, c.backward == nil, n.inputs.contains(where: { needs[$0] }) {
            throw NNCCError(file: file, path: n.origin, "custom layer \"\(n.name)\" has no \"backward\" function, so it cannot be "
                + "trained through; add one to \(c.source) (docs/custom-ops.md) or freeze the layers before it")
        }
    }
    g.gradients = GradientPlan(loss: train.loss, source: source, input: input, needsGrad: needs)
    return g
}
