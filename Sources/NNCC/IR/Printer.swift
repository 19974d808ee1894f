/// Prints the IR one node a line, as `nncc ir` shows it:
/// `%3 = dense(units=10) %2 + relu  [10]  @arena+1024  "2"`, and once
/// kernels are selected, each node's plan on the line below.
public func printIR(_ g: Graph) -> String {
    var out = "graph \(g.name)  input \(shapeText(g.input.shape))  outputs \(g.outputs.map { "%\($0)" }.joined(separator: ", "))\n"
    for (i, n) in g.nodes.enumerated() {
        var line = "  %\(i) = \(describe(n.op))"
        if !n.inputs.isEmpty { line += " " + n.inputs.map { "%\($0)" }.joined(separator: ", ") }
        if let bn = n.foldedBatchNorm { line += " + batchnorm(\"\(bn.name)\", folded)" }
        if let act = n.epilogue { line += " + \(act.name)" }
        if let c = n.customEpilogue { line += " + custom \(c.forward)" }
        line = line.padding(toLength: max(line.count, 52), withPad: " ", startingAt: 0)
        line += "  \(shapeText(n.shape))"
        switch n.storage {
        case .unplanned: break
        case .input: line += "  @input"
        case let .arena(offset): line += "  @arena+\(offset)"
        case let .view(of: k): line += "  @view(%\(k))"
        }
        if let s = n.scratchOffset { line += " scratch@\(s)" }
        line += "  \"\(n.name)\""
        out += line + "\n"
        if let plan = n.kernelPlan, plan.kernel != .none { out += "      kernel: \(plan)\n" }
    }
    if !g.params.isEmpty {
        out += "params (\(g.params.count) tensors, \(g.params.reduce(0) { $0 + $1.size }) floats)\n"
        for p in g.params { out += "  \(p.name) \(shapeText(p.shape))\(p.trainable ? "" : " (state)")\n" }
    }
    if let gp = g.gradients {
        let how = gp.input == .output ? "" : gp.input == .logits ? " (logits)" : " (logits of the final sigmoid)"
        out += "loss \(gp.loss.rawValue) of %\(gp.source)\(how)\n"
        out += "backward " + gp.order.map { "∂%\($0) \(g.nodes[$0].op.typeName)" }.joined(separator: " → ") + "\n"
    }
    if g.arenaFloats > 0 { out += "arena \(g.arenaFloats) floats (\(g.arenaFloats * 4) bytes) for batch \(g.maxBatch)\n" }
    return out
}

func shapeText(_ s: [Int]) -> String { "[" + s.map(String.init).joined(separator: ", ") + "]" }

func describe(_ op: Op) -> String {
    // A 1-D layer shows its widths only.
    func pair(_ p: (Int, Int), _ is1D: Bool = false) -> String { is1D ? "\(p.1)" : p.0 == p.1 ? "\(p.0)" : "\(p.0)x\(p.1)" }
    func triple(_ d: Int, _ p: (Int, Int)) -> String { d == p.0 && d == p.1 ? "\(d)" : "\(d)x\(p.0)x\(p.1)" }
    switch op {
    case .input: return "input"
    case let .dense(units, bias): return "dense(units=\(units)\(bias ? "" : ", bias=false"))"
    case let .conv2d(c) where c.depth != nil:
        let d = c.depth!, p = c.pads
        var s = "conv3d(filters=\(c.filters), kernel=\(triple(d.kernel, c.kernel))"
        if (d.stride, c.stride.0, c.stride.1) != (1, 1, 1) { s += ", stride=\(triple(d.stride, c.stride))" }
        if (d.padFront, d.padBack) != (0, 0) || p != (0, 0, 0, 0) {
            s += ", pad=\(d.padFront),\(p.top),\(p.left),\(d.padBack),\(p.bottom),\(p.right)"
        }
        if (d.dilation, c.dilation.0, c.dilation.1) != (1, 1, 1) { s += ", dilation=\(triple(d.dilation, c.dilation))" }
        if c.groups != 1 { s += ", groups=\(c.groups)" }
        if !c.bias { s += ", bias=false" }
        return s + ")"
    case let .maxPool(p) where p.depth != nil, let .avgPool(p) where p.depth != nil:
        let d = p.depth!, q = p.pads
        var s = "\(op.typeName)(size=\(triple(d.kernel, p.size)), stride=\(triple(d.stride, p.stride)), "
            + "pad=\(d.padFront),\(q.top),\(q.left),\(d.padBack),\(q.bottom),\(q.right)"
        if (d.dilation, p.dilation.0, p.dilation.1) != (1, 1, 1) { s += ", dilation=\(triple(d.dilation, p.dilation))" }
        if p.ceilMode { s += ", ceil_mode" }
        if !p.countIncludePad { s += ", count_include_pad=false" }
        return s + ")"
    case let .conv2d(c):
        var s = "\(op.typeName)(filters=\(c.filters), kernel=\(pair(c.kernel, c.is1D))"
        if c.stride != (1, 1) { s += ", stride=\(pair(c.stride, c.is1D))" }
        let p = c.pads
        if p != (0, 0, 0, 0) { s += c.is1D ? ", pad=\(p.left),\(p.right)" : ", pad=\(p.top),\(p.left),\(p.bottom),\(p.right)" }
        if c.dilation != (1, 1) { s += ", dilation=\(pair(c.dilation, c.is1D))" }
        if c.groups != 1 { s += ", groups=\(c.groups)" }
        if !c.bias { s += ", bias=false" }
        return s + ")"
    case let .convTranspose(c):
        var s = "\(op.typeName)(channels=\(c.channels), kernel=\(pair(c.kernel, c.is1D))"
        if c.stride != (1, 1) { s += ", stride=\(pair(c.stride, c.is1D))" }
        let p = c.pads
        if p != (0, 0, 0, 0) { s += c.is1D ? ", pad=\(p.left),\(p.right)" : ", pad=\(p.top),\(p.left),\(p.bottom),\(p.right)" }
        if c.outputPadding != (0, 0) { s += ", output_padding=\(pair(c.outputPadding, c.is1D))" }
        if c.dilation != (1, 1) { s += ", dilation=\(pair(c.dilation, c.is1D))" }
        if c.groups != 1 { s += ", groups=\(c.groups)" }
        if !c.bias { s += ", bias=false" }
        return s + ")"
    case let .resize(r):
        var args = [r.coordinates.rawValue]
        if case let .nearest(rounding) = r.mode { args.insert("nearest \(rounding.rawValue)", at: 0) } else { args.insert("linear", at: 0) }
        if let sizes = r.sizes { args.append("sizes=\(shapeText(sizes))") }
        if let scales = r.scales { args.append("scales=[\(scales.map { "\($0)" }.joined(separator: ", "))]") }
        return "upsample(\(args.joined(separator: ", ")))"
    case let .pixelShuffle(p): return "\(op.typeName)(\(p.factor))"
    case let .maxPool(p), let .avgPool(p):
        let q = p.pads
        var s = "\(op.typeName)(size=\(pair(p.size, p.is1D)), stride=\(pair(p.stride, p.is1D)), "
        if p.is1D {
            s += q.left == q.right ? "pad=\(q.left)" : "pad=\(q.left),\(q.right)"
        } else {
            s += q.top == q.bottom && q.left == q.right ? "pad=\(pair((q.top, q.left)))" : "pad=\(q.top),\(q.left),\(q.bottom),\(q.right)"
        }
        if p.dilation != (1, 1) { s += ", dilation=\(pair(p.dilation, p.is1D))" }
        if p.ceilMode { s += ", ceil_mode" }
        if !p.countIncludePad { s += ", count_include_pad=false" }
        return s + ")"
    case let .reshape(t): return "reshape(\(shapeText(t)))"
    case let .dropout(rate): return "dropout(rate=\(rate))"
    case let .batchNorm(eps, momentum): return "batchnorm(eps=\(eps), momentum=\(momentum))"
    case let .recurrent(r): return "\(r.cell.name)(units=\(r.units)\(r.returnSequences ? ", sequences" : ""))"
    case let .concat(axis): return "concat(axis=\(axis))"
    case let .binary(b):
        // pre[k] is the k-th input's activation; with a constant, the one input is the other operand.
        let side = b.constant == nil ? ["a", "b"] : [b.constantFirst ? "b" : "a"]
        var args = zip(side, b.pre).compactMap { s, a in a.map { "\(s)=\($0.name)" } }
        switch b.constant {
        case let .scalar(v)?: args.insert("\(b.constantFirst ? "a" : "b")=\(v)", at: 0)
        case let .tensor(s)?: args.insert("\(b.constantFirst ? "a" : "b")=constant\(shapeText(s))", at: 0)
        case nil: break
        }
        return b.function.rawValue + (args.isEmpty ? "" : "(\(args.joined(separator: ", ")))")
    case let .prelu(n): return "prelu(parameters=\(n))"
    case let .embedding(e): return "embedding(\(e.count)x\(e.dim)\(e.paddingIdx.map { ", padding_idx=\($0)" } ?? ""))"
    case let .norm(n):
        var args: [String] = []
        switch n.kind {
        case let .layer(shape): args.append("shape=\(shapeText(shape))")
        case let .group(g): args.append("groups=\(g)")
        case .instance: break
        }
        args.append("eps=\(n.eps)")
        if !n.weight { args.append("weight=false") }
        if !n.bias { args.append("bias=false") }
        return "\(op.typeName)(\(args.joined(separator: ", ")))"
    case let .softmax(axis), let .logSoftmax(axis): return axis == -1 ? op.typeName : "\(op.typeName)(axis=\(axis))"
    case let .swapAxes(a, b): return "transpose(\(a), \(b))"
    case let .slice(axis, start, end, step): return "slice(axis=\(axis), \(start):\(end.map(String.init) ?? ""):\(step))"
    case let .transpose(perm): return "transpose(\(shapeText(perm)))"
    case let .matmul(c): return c.map { "matmul(b=constant\(shapeText($0)))" } ?? "matmul"
    case let .reduce(r): return "\(op.typeName)(axes=\(shapeText(r.axes))\(r.keepDims ? ", keepdims" : ""))"
    case let .select(s):
        return "select(" + s.map { a -> String in
            switch a {
            case let .range(start, step, n): return step == 1 ? "\(start):\(start + n)" : "\(start):\(start + step * n):\(step)"
            case let .list(l): return l.count <= 8 ? shapeText(l) : "[\(l.count) indices]"
            }
        }.joined(separator: ", ") + ")"
    case let .pad(p):
        let pairs = zip(p.begin, p.end).map { "\($0),\($1)" }.joined(separator: " ")
        return "pad(\(p.mode.rawValue), \(pairs)\(p.mode == .constant && p.value != 0 ? ", value=\(p.value)" : ""))"
    case let .custom(c):
        return "custom(\(c.forward)\(c.backward.map { ", backward=\($0)" } ?? ""), \(c.formName))"
    default: return op.typeName
    }
}
