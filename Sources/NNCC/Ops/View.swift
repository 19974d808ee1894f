/// The model input and reshape (flatten): no code. A reshape's result is
/// its operand's storage seen with another shape, and so is its gradient.
enum ViewOps: OpFamily {
    static func plan(_ g: Graph, _ i: Int, _ s: Schedule, training: Bool) -> KernelPlan {
        KernelPlan(kernel: .none, backward: training ? .loops : nil)
    }

    static func forward(_ ctx: EmitContext, _ i: Int) -> KernelCode? { nil }
}
