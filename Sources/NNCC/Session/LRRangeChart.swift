import Foundation

extension LRRangeTest.Result {
    /// The loss of every step (faint) and its smoothed curve against the rate on a log axis, with the
    /// suggestion marked; drawn like `TrainingHistory.svg`.
    public func svg(title: String) -> String {
        let (W, H, left, right, top, bottom) = (760.0, 460.0, 78.0, 28.0, 70.0, 60.0)
        let (pw, ph) = (W - left - right, H - top - bottom)
        guard let first = lrs.first, let last = lrs.last, let low = smoothed.min() else {
            return "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(W))\" height=\"80\"><text x=\"20\" y=\"40\">no steps</text></svg>\n"
        }
        // x: whole decades around the rates tried; y: from 0 to the smoothed curve's top (raw spikes are clipped).
        let (xLo, xHi) = (floor(log10(first)), max(ceil(log10(last)), floor(log10(first)) + 1))
        let step = Chart.niceStep(max(smoothed.max() ?? 1, 1e-12) / 5)
        let yHi = max(step, ((smoothed.max() ?? 1) / step).rounded(.up) * step)
        func px(_ lr: Double) -> Double { left + (log10(lr) - xLo) / (xHi - xLo) * pw }
        func py(_ y: Double) -> Double { top + (1 - min(max(y, 0), yHi) / yHi) * ph }
        func n(_ v: Double) -> String { String(format: "%.1f", v) }
        func path(_ ys: [Double], _ style: String) -> String {
            let d = zip(lrs, ys).enumerated().map { "\($0.offset == 0 ? "M" : "L")\(n(px($0.element.0))),\(n(py($0.element.1)))" }
            return "<path d=\"\(d.joined(separator: " "))\" fill=\"none\" \(style)/>\n"
        }
        var s = """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(W))" height="\(Int(H))" viewBox="0 0 \(Int(W)) \(Int(H))" font-family="Helvetica, Arial, sans-serif">
        <rect width="100%" height="100%" fill="white"/>
        <text x="\(n(W / 2))" y="28" text-anchor="middle" font-size="18" font-weight="bold" fill="#222">\(Chart.escape(title))</text>\n
        """
        var sub = "\(lrs.count) steps, lowest smoothed loss \(String(format: "%.4f", low))\(diverged ? ", stopped at divergence" : "")"
        if let lr = suggestedLR { sub = "suggested learning rate \(String(format: "%.3g", lr)) (steepest descent); " + sub }
        s += "<text x=\"\(n(W / 2))\" y=\"50\" text-anchor=\"middle\" font-size=\"13\" fill=\"#555\">\(sub)</text>\n"
        let yTicks = stride(from: 0, through: yHi + step / 2, by: step).map { $0 }
        let xTicks = stride(from: xLo, through: xHi, by: 1).map { $0 }
        s += "<g stroke=\"#e6e6e6\" stroke-width=\"1\">\n"
        for t in yTicks { s += "<line x1=\"\(n(left))\" y1=\"\(n(py(t)))\" x2=\"\(n(left + pw))\" y2=\"\(n(py(t)))\"/>\n" }
        for t in xTicks { s += "<line x1=\"\(n(px(pow(10, t))))\" y1=\"\(n(top))\" x2=\"\(n(px(pow(10, t))))\" y2=\"\(n(top + ph))\"/>\n" }
        s += "</g>\n<g font-size=\"12\" fill=\"#333\">\n"
        for t in yTicks { s += "<text x=\"\(n(left - 8))\" y=\"\(n(py(t) + 4))\" text-anchor=\"end\">\(String(format: "%g", t))</text>\n" }
        for t in xTicks { s += "<text x=\"\(n(px(pow(10, t))))\" y=\"\(n(top + ph + 18))\" text-anchor=\"middle\">1e\(Int(t))</text>\n" }
        s += "</g>\n"
        s += "<path d=\"M\(n(left)),\(n(top)) L\(n(left)),\(n(top + ph)) L\(n(left + pw)),\(n(top + ph))\" fill=\"none\" stroke=\"#333\" stroke-width=\"1.2\"/>\n"
        s += "<text x=\"\(n(left + pw / 2))\" y=\"\(n(H - 16))\" text-anchor=\"middle\" font-size=\"14\" fill=\"#222\">learning rate (log scale)</text>\n"
        s += "<text transform=\"translate(22,\(n(top + ph / 2))) rotate(-90)\" text-anchor=\"middle\" font-size=\"14\" fill=\"#222\">loss</text>\n"
        s += path(losses, "stroke=\"#9dc3e6\" stroke-width=\"1\" stroke-linejoin=\"round\"")
        s += path(smoothed, "stroke=\"#1f5fa8\" stroke-width=\"2.5\" stroke-linejoin=\"round\"")
        if let i = suggestion {
            let x = n(px(lrs[i]))
            s += "<line x1=\"\(x)\" y1=\"\(n(top))\" x2=\"\(x)\" y2=\"\(n(top + ph))\" stroke=\"#e4572e\" stroke-width=\"1.5\" stroke-dasharray=\"6 4\"/>\n"
            s += "<circle cx=\"\(x)\" cy=\"\(n(py(smoothed[i])))\" r=\"5\" fill=\"#e4572e\"/>\n"
            s += "<text x=\"\(n(px(lrs[i]) + 8))\" y=\"\(n(top + 16))\" font-size=\"13\" fill=\"#e4572e\">\(String(format: "%.3g", lrs[i]))</text>\n"
        }
        return s + "</svg>\n"
    }
}
