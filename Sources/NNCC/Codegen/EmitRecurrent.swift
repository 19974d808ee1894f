/// Placeholder until the recurrent kernels land (being written now).
enum RecurrentEmitter {
    static func packedFloats(_ ctx: EmitContext, _ i: Int) -> Int { 0 }
    static func scratchFloats(_ g: Graph, _ i: Int, schedule: Schedule, maxBatch: Int) -> Int { 0 }
    static func emit(_ ctx: EmitContext, _ i: Int) -> KernelCode { preconditionFailure("recurrent kernels not yet written") }
}
