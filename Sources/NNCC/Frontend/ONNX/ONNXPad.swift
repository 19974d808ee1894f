/// ONNX's Pad onto the IR pad (Ops/Pad.swift): before opset 11 `pads` and `value` are
/// attributes; from 11 on, pads and constant_value are inputs, and from 18 on an optional
/// `axes` input names the padded axes. Modes constant, reflect, edge and wrap; negative pads
/// crop. The batch axis cannot be padded.
extension ONNXGraphBuilder {
    mutating func pad(_ node: ONNXNode) throws {
        let x = try materialize(node.input(0) ?? "", node)
        let rank = try shapes()[x].count, onnxRank = rank + 1
        let mode: PadSpec.Mode
        switch try node.string("mode", default: "constant") {
        case "constant": mode = .constant
        case "reflect": mode = .reflect
        case "edge": mode = .edge
        case "wrap": mode = .wrap
        case let other: throw node.fail("attribute mode: expected constant, reflect, edge or wrap, found \"\(displayText(other))\"")
        }
        var pads: [Int], value: Float = 0, axes = Array(0..<onnxRank)
        if opset < 11 {
            guard let p = try node.ints("pads") else { throw node.fail("missing attribute pads") }
            pads = p
            value = try node.float("value", default: 0)
        } else {
            try node.rejectAttributes(["pads", "value"])
            guard let p = node.input(1) else { throw node.fail("missing input pads") }
            pads = try knownInts(p, node)
            if let c = node.input(2) {
                guard let v = constantScalar(c) else { throw node.fail("input constant_value \"\(c)\" must be a constant one-element float") }
                value = v
            }
            if let a = node.input(3) {
                guard opset >= 18 else { throw node.fail("input axes needs opset 18 or later") }
                axes = try knownInts(a, node).map { a in
                    guard (-onnxRank..<onnxRank).contains(a) else { throw node.fail("axis \(a) is out of range for rank \(onnxRank)") }
                    return a < 0 ? a + onnxRank : a
                }
                guard Set(axes).count == axes.count else { throw node.fail("input axes \(axes) repeats an axis") }
            }
        }
        guard pads.count == 2 * axes.count else {
            throw node.fail("pads has \(pads.count) values; expected \(2 * axes.count) (a begin and an end for each of \(axes.count) axes)")
        }
        guard pads.allSatisfy({ abs($0) <= Limits.dimension }) else {
            throw node.fail("pads \(pads) exceed \(Limits.show(Limits.dimension)) elements")
        }
        var begin = Array(repeating: 0, count: rank), end = begin
        for (j, a) in axes.enumerated() {
            let (b, e) = (pads[j], pads[axes.count + j])
            if a == 0 {
                guard b == 0 && e == 0 else { throw node.fail("pads \(b), \(e) on the batch axis (axis 0) are not supported") }
                continue
            }
            (begin[a - 1], end[a - 1]) = (b, e)
        }
        if begin.allSatisfy({ $0 == 0 }) && end.allSatisfy({ $0 == 0 }) {
            bind(node, 0, .tensor(node: x, axes: Self.plain(rank)))
            return
        }
        let n = add(.pad(PadSpec(mode: mode, value: value, begin: begin, end: end)), inputs: [x], node)
        bind(node, 0, .tensor(node: n, axes: Self.plain(rank)))
    }
}
