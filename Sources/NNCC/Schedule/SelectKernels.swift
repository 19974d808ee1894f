/// The scheduling pass: records on each node the kernel its family chooses
/// for this target (Schedule) and batch, with its scratch and packed sizes
/// and, in training builds, how backward runs. Memory planning and the
/// emitters read the plan; nothing downstream chooses again.
func selectKernels(_ g: Graph, schedule: Schedule, maxBatch: Int, training: Bool) -> Graph {
    var g = g
    g.maxBatch = maxBatch
    for i in g.nodes.indices {
        g.nodes[i].kernelPlan = g.nodes[i].op.family.plan(g, i, schedule, training: training)
    }
    return g
}
