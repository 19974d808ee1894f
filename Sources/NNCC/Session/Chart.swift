import Foundation

/// One line of a chart panel.
public struct ChartSeries {
    public var name: String
    public var points: [(x: Double, y: Double)]
    public var color: String
    public var width = 2.5
    public var dashed = false
    /// Circles on the points (drawn only when there are few).
    public var dots = true

    public init(_ name: String, _ points: [(x: Double, y: Double)], color: String, width: Double = 2.5, dashed: Bool = false,
                dots: Bool = true) {
        (self.name, self.points, self.color, self.width, self.dashed, self.dots) = (name, points, color, width, dashed, dots)
    }

    var style: String { "stroke=\"\(color)\" stroke-width=\"\(width)\"" + (dashed ? " stroke-dasharray=\"7 4\"" : "") }
}

/// A plot area sharing the chart's x axis: its y axis label and scale, and its lines.
public struct ChartPanel {
    public enum Scale { case linear, log, auto }
    public var yLabel: String
    public var series: [ChartSeries]
    /// `.auto`: logarithmic when the values are positive and span more than a factor of 30.
    public var scale: Scale = .auto
    /// A fixed linear range (accuracy: 0...1); nil fits the data from 0.
    public var yRange: ClosedRange<Double>?

    public init(yLabel: String, series: [ChartSeries], scale: Scale = .auto, yRange: ClosedRange<Double>? = nil) {
        (self.yLabel, self.series, self.scale, self.yRange) = (yLabel, series, scale, yRange)
    }
}

/// Line charts as standalone SVG: a title, a subtitle, and panels stacked over one x axis.
/// Non-finite points (and non-positive ones on a log axis) are left out.
public enum Chart {
    /// `legendBeside`: legends right of the panels rather than inside (many lines, as one per layer).
    public static func svg(title: String, subtitle: String? = nil, xLabel: String, xMax: Double, panels: [ChartPanel],
                           legendBeside: Bool = false) -> String {
        let (left, right, top, panelHeight, gap) = (78.0, 28.0, 70.0, 330.0, 60.0)
        let pw = 760.0 - left - right, H = top + Double(panels.count) * (panelHeight + gap)
        let beside = legendBeside ? legendWidth(panels.flatMap(\.series)) + 20 : 0
        let W = 760.0 + beside
        var s = """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(W))" height="\(Int(H))" viewBox="0 0 \(Int(W)) \(Int(H))" font-family="Helvetica, Arial, sans-serif">
        <rect width="100%" height="100%" fill="white"/>
        <text x="\(n(W / 2))" y="28" text-anchor="middle" font-size="18" font-weight="bold" fill="#222">\(escape(title))</text>\n
        """
        if let subtitle {
            s += "<text x=\"\(n(W / 2))\" y=\"50\" text-anchor=\"middle\" font-size=\"13\" fill=\"#555\">\(escape(subtitle))</text>\n"
        }
        for (k, panel) in panels.enumerated() {
            let frame = (left: left, top: top + Double(k) * (panelHeight + gap), width: pw, height: panelHeight)
            s += draw(panel, frame: frame, xMax: max(1, xMax), xLabel: k == panels.count - 1 ? xLabel : nil, legendBeside: legendBeside)
        }
        return s + "</svg>\n"
    }

    typealias Frame = (left: Double, top: Double, width: Double, height: Double)

    static func draw(_ panel: ChartPanel, frame f: Frame, xMax: Double, xLabel: String?, legendBeside: Bool) -> String {
        let all = panel.series.flatMap { $0.points.map(\.y) }.filter(\.isFinite)
        let positive = all.filter { $0 > 0 }
        let (lo, hi) = (all.min() ?? 0, all.max() ?? 1)
        let logScale: Bool
        switch panel.scale {
        case .linear: logScale = false
        case .log: logScale = !positive.isEmpty
        case .auto: logScale = lo > 0 && hi / lo > 30
        }
        let (yLo, yHi, yTicks) = logScale ? logAxis(positive.min()!, positive.max()!) : linearAxis(hi, fixed: panel.yRange)
        let xStep = max(1, niceStep(xMax / 8).rounded())
        let xTicks = stride(from: 0, through: xMax, by: xStep).map { $0 }
        func px(_ x: Double) -> Double { f.left + x / xMax * f.width }
        func py(_ y: Double) -> Double {
            let t = logScale ? (log10(max(y, yLo)) - log10(yLo)) / (log10(yHi) - log10(yLo)) : (y - yLo) / (yHi - yLo)
            return f.top + (1 - min(max(t, 0), 1)) * f.height
        }
        func shown(_ p: (x: Double, y: Double)) -> Bool { p.x.isFinite && p.y.isFinite && (!logScale || p.y > 0) }
        var s = "<g stroke=\"#e6e6e6\" stroke-width=\"1\">\n"
        for t in yTicks { s += "<line x1=\"\(n(f.left))\" y1=\"\(n(py(t)))\" x2=\"\(n(f.left + f.width))\" y2=\"\(n(py(t)))\"/>\n" }
        for t in xTicks { s += "<line x1=\"\(n(px(t)))\" y1=\"\(n(f.top))\" x2=\"\(n(px(t)))\" y2=\"\(n(f.top + f.height))\"/>\n" }
        s += "</g>\n<g font-size=\"12\" fill=\"#333\">\n"
        for t in yTicks { s += "<text x=\"\(n(f.left - 8))\" y=\"\(n(py(t) + 4))\" text-anchor=\"end\">\(label(t))</text>\n" }
        for t in xTicks { s += "<text x=\"\(n(px(t)))\" y=\"\(n(f.top + f.height + 18))\" text-anchor=\"middle\">\(Int(t))</text>\n" }
        s += "</g>\n"
        s += "<path d=\"M\(n(f.left)),\(n(f.top)) L\(n(f.left)),\(n(f.top + f.height)) L\(n(f.left + f.width)),\(n(f.top + f.height))\" fill=\"none\" stroke=\"#333\" stroke-width=\"1.2\"/>\n"
        if let xLabel {
            s += "<text x=\"\(n(f.left + f.width / 2))\" y=\"\(n(f.top + f.height + 44))\" text-anchor=\"middle\" font-size=\"14\" fill=\"#222\">\(escape(xLabel))</text>\n"
        }
        s += "<text transform=\"translate(22,\(n(f.top + f.height / 2))) rotate(-90)\" text-anchor=\"middle\" font-size=\"14\" fill=\"#222\">\(escape(panel.yLabel))\(logScale ? " (log scale)" : "")</text>\n"
        var drawn: [(Double, Double)] = [], entries: [ChartSeries] = []
        for line in panel.series {
            let pts = line.points.filter(shown).map { (px($0.x), py($0.y)) }
            guard !pts.isEmpty else { continue }
            entries.append(line)
            drawn += pts
            let d = pts.enumerated().map { "\($0.offset == 0 ? "M" : "L")\(n($0.element.0)),\(n($0.element.1))" }.joined(separator: " ")
            s += "<path d=\"\(d)\" fill=\"none\" \(line.style) stroke-linejoin=\"round\"/>\n"
            if line.dots && pts.count <= 60 {
                s += pts.map { "<circle cx=\"\(n($0.0))\" cy=\"\(n($0.1))\" r=\"3.5\" fill=\"\(line.color)\"/>\n" }.joined()
            }
        }
        return s + legend(entries, frame: f, covering: drawn, beside: legendBeside)
    }

    static func legendWidth(_ entries: [ChartSeries]) -> Double {
        max(212.0, 62 + 6.6 * Double(entries.map(\.name.count).max() ?? 0))
    }

    /// The legend right of the plot, or inside it in whichever corner covers the fewest data points.
    static func legend(_ entries: [ChartSeries], frame f: Frame, covering points: [(Double, Double)], beside: Bool) -> String {
        guard !entries.isEmpty else { return "" }
        let (lw, lh) = (legendWidth(entries), Double(entries.count) * 20 + 10)
        let corners = beside ? [(f.left + f.width + 16, f.top)]
            : [(f.left + f.width - lw - 10, f.top + 10), (f.left + f.width - lw - 10, f.top + f.height - lh - 10),
               (f.left + 10, f.top + f.height - lh - 10), (f.left + 10, f.top + 10)]
        func covered(_ c: (Double, Double)) -> Int {
            points.filter { $0.0 >= c.0 - 6 && $0.0 <= c.0 + lw + 6 && $0.1 >= c.1 - 6 && $0.1 <= c.1 + lh + 6 }.count
        }
        var (lx, ly) = corners[0]
        for c in corners.dropFirst() where covered(c) < covered((lx, ly)) { (lx, ly) = c }
        var s = "<rect x=\"\(n(lx))\" y=\"\(n(ly))\" width=\"\(n(lw))\" height=\"\(n(lh))\" fill=\"white\" fill-opacity=\"0.9\" stroke=\"#ccc\"/>\n"
        for (i, e) in entries.enumerated() {
            let y = ly + 17 + Double(i) * 20
            s += "<line x1=\"\(n(lx + 10))\" y1=\"\(n(y - 4))\" x2=\"\(n(lx + 38))\" y2=\"\(n(y - 4))\" \(e.style)/>\n"
            s += "<text x=\"\(n(lx + 46))\" y=\"\(n(y))\" font-size=\"12\" fill=\"#222\">\(escape(e.name))</text>\n"
        }
        return s
    }

    /// Ends at 1-2-5 values around the data; 1-2-5 ticks over few decades, powers of ten over many.
    static func logAxis(_ lo: Double, _ hi: Double) -> (Double, Double, [Double]) {
        let (a, b) = (floor(log10(lo)), floor(log10(hi)))
        let nice = stride(from: a, through: b + 1, by: 1).flatMap { d in [1.0, 2, 5].map { $0 * pow(10, d) } }
        let yLo = nice.last { $0 <= lo * 1.0001 } ?? pow(10, a)
        var yHi = nice.first { $0 >= hi * 0.9999 } ?? pow(10, b + 1)
        if yHi <= yLo { yHi = yLo * 10 }
        var ticks = nice.filter { $0 >= yLo * 0.9999 && $0 <= yHi * 1.0001 }
        let decades = log10(yHi / yLo)
        if decades > 3.5 {
            ticks = ticks.filter { abs(log10($0).rounded() - log10($0)) < 1e-9 }
            // Over very many decades, every second or third power of ten.
            let every = Int((Double(ticks.count) / 10).rounded(.up))
            if every > 1 { ticks = ticks.enumerated().filter { $0.offset % every == 0 }.map(\.element) }
        }
        return (yLo, yHi, ticks)
    }

    /// From 0 to a 1-2-5 step above the data, or the fixed range.
    static func linearAxis(_ hi: Double, fixed: ClosedRange<Double>?) -> (Double, Double, [Double]) {
        if let r = fixed {
            let step = niceStep((r.upperBound - r.lowerBound) / 5)
            return (r.lowerBound, r.upperBound, stride(from: r.lowerBound, through: r.upperBound + step / 2, by: step).map { $0 })
        }
        let step = niceStep(max(hi, 1e-12) / 5)
        let top = max(step, (hi / step).rounded(.up) * step)
        return (0, top, stride(from: 0, through: top + step / 2, by: step).map { $0 })
    }

    static func niceStep(_ raw: Double) -> Double {
        let e = pow(10, floor(log10(raw))), f = raw / e
        return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * e
    }

    static func n(_ v: Double) -> String { String(format: "%.1f", v) }
    static func label(_ v: Double) -> String { String(format: "%g", Double(String(format: "%.3g", v)) ?? v) }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }
}
