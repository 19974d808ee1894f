/// Dispatches each node to the printer of its op family.
enum OpEmitter {
    /// Floats of packed (repacked or folded) weights the node's kernel reads.
    static func packedFloats(_ ctx: EmitContext, _ i: Int) -> Int {
        switch ctx.graph.nodes[i].op {
        case .dense: return DenseEmitter.packedFloats(ctx, i)
        case .conv2d: return ConvEmitter.packedFloats(ctx, i)
        case .recurrent: return RecurrentEmitter.packedFloats(ctx, i)
        default: return 0
        }
    }

    /// The node's kernel, or nil when it needs none (the input, views).
    static func emit(_ ctx: EmitContext, _ i: Int) -> KernelCode? {
        switch ctx.graph.nodes[i].op {
        case .input, .reshape: return nil
        case .dense: return DenseEmitter.emit(ctx, i)
        case .conv2d: return ConvEmitter.emit(ctx, i)
        case .maxPool, .avgPool, .globalAvgPool: return PoolEmitter.emit(ctx, i)
        case .recurrent: return RecurrentEmitter.emit(ctx, i)
        case .activation, .softmax, .logSoftmax, .batchNorm, .add, .concat, .dropout:
            return ElementwiseEmitter.emit(ctx, i)
        }
    }
}
