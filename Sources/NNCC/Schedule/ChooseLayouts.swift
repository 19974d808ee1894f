/// The layout pass of inference builds: images stay channels-last ([pixels][C] per image) rather
/// than NCHW between depthwise layers with channels in the vector lanes and plain 1×1 layers
/// (MobileNet's and DS-CNN's separable blocks), and out of an implicit-GEMM conv into them. The
/// depthwise kernel then reads and writes a vector of channels per pixel instead of transposing its
/// block of channels in and out; the 1×1 layer is one GEMM over the batch's pixels, X·Wᵀ, the
/// filters packed once as panels; the implicit GEMM stores a vector per pixel, not a float per
/// filter; a global average pool after them sums rows of channels. Every other kernel, the model's
/// outputs and training keep NCHW.
func chooseLayouts(_ g: Graph, schedule: Schedule) -> Graph {
    var g = g
    let users = g.users(), outputs = Set(g.outputs)
    func path(_ i: Int) -> ConvPath? {
        guard case .conv2d = g.nodes[i].op, case let .conv(p)? = g.nodes[i].kernelPlan?.kernel else { return nil }
        return p
    }
    func isLanes(_ i: Int) -> Bool {
        guard case let .depthwise(plan)? = path(i), case .channels = plan.lanes else { return false }
        return true
    }
    func isPointwise(_ i: Int) -> Bool { path(i) != nil && ConvDims(g, i).isPlainPointwise }
    /// Writes channels-last too, whatever it reads: the implicit GEMM of one group.
    func isImplicit(_ i: Int) -> Bool { path(i) == .implicit(flat: false) && ConvDims(g, i).groups == 1 }
    func isGlobalPool(_ i: Int) -> Bool { if case .globalAvgPool = g.nodes[i].op { true } else { false } }
    func readsEither(_ i: Int) -> Bool { isLanes(i) || isPointwise(i) || isGlobalPool(i) }
    // Candidates: results of such layers that only those layers read. A 1×1 layer has one
    // layout for its input and its output, so drop results until every 1×1 layer's two agree.
    var last = Set(g.nodes.indices.filter { i in
        (readsEither(i) || isImplicit(i)) && !outputs.contains(i) && !users[i].isEmpty && users[i].allSatisfy(readsEither)
    })
    var changed = true
    while changed {
        changed = false
        for i in last where (isPointwise(i) && !last.contains(g.nodes[i].inputs[0]))
            || users[i].contains(where: { isPointwise($0) && !last.contains($0) }) {
            last.remove(i)
            changed = true
        }
    }
    for i in g.nodes.indices where isGlobalPool(i) && last.contains(g.nodes[i].inputs[0]) {
        g.nodes[i].kernelPlan?.inputChannelsLast = true
    }
    for i in g.nodes.indices where path(i) != nil {
        let input = last.contains(g.nodes[i].inputs[0]), output = last.contains(i)
        if isPointwise(i), output {
            g.nodes[i].kernelPlan = ConvOps.channelsLastPlan(ConvDims(g, i), schedule)
        } else {
            g.nodes[i].kernelPlan?.inputChannelsLast = input
            g.nodes[i].kernelPlan?.outputChannelsLast = output
        }
    }
    return g
}
