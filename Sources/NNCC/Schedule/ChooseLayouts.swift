/// The layout pass of inference builds: between depthwise layers with channels in the vector lanes
/// and plain 1×1 layers (MobileNet's and DS-CNN's separable blocks), images stay channels-last
/// ([pixels][C] per image) rather than NCHW. The depthwise kernel then reads and writes a vector of
/// channels per pixel instead of transposing its block of channels in and out, and the 1×1 layer is
/// one GEMM over the batch's pixels, X·Wᵀ, the filters packed once as panels: no pixel tail to pack,
/// nothing stored transposed. Every other kernel, the model's outputs and training keep NCHW.
func chooseLayouts(_ g: Graph, schedule: Schedule) -> Graph {
    var g = g
    let users = g.users(), outputs = Set(g.outputs)
    func isLanes(_ i: Int) -> Bool {
        guard case let .conv(.depthwise(plan))? = g.nodes[i].kernelPlan?.kernel, case .channels = plan.lanes else { return false }
        return true
    }
    func isPointwise(_ i: Int) -> Bool {
        guard case .conv2d = g.nodes[i].op, case .conv? = g.nodes[i].kernelPlan?.kernel else { return false }
        return ConvDims(g, i).isPlainPointwise
    }
    // Candidates: results of such layers that only such layers read. A 1×1 layer has one layout for
    // its input and its output, so drop results until every 1×1 layer's two agree.
    var last = Set(g.nodes.indices.filter { i in
        (isLanes(i) || isPointwise(i)) && !outputs.contains(i) && !users[i].isEmpty
            && users[i].allSatisfy { isLanes($0) || isPointwise($0) }
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
    for i in g.nodes.indices {
        let input = g.nodes[i].inputs.first.map { last.contains($0) } ?? false
        if isPointwise(i), last.contains(i) {
            let d = ConvDims(g, i)
            g.nodes[i].kernelPlan?.kernel = .conv(.channelsLast)
            g.nodes[i].kernelPlan?.scratchFloats = 0
            g.nodes[i].kernelPlan?.packedFloats = ConvOps.packedFloats(d, .channelsLast, schedule, training: false, dx: .none)
            g.nodes[i].kernelPlan?.gemmRows = schedule.rowsPerTile
        } else if isLanes(i), input || last.contains(i), case let .conv(.depthwise(plan))? = g.nodes[i].kernelPlan?.kernel {
            var p = plan
            (p.inputChannelsLast, p.outputChannelsLast) = (input, last.contains(i))
            g.nodes[i].kernelPlan?.kernel = .conv(.depthwise(p))
        }
    }
    return g
}
