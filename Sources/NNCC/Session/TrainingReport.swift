import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
// MARK: - History: CSV log and SVG loss chart

public struct TrainingHistory {
    public var model: String
    public var epochs: [EpochStats] = []
    public init(model: String, epochs: [EpochStats] = []) { self.model = model; self.epochs = epochs }

    /// epoch,loss,accuracy,val_loss,val_accuracy,examples_per_s; missing values are empty fields.
    public var csv: String {
        func f(_ v: Double?) -> String { v.map { String(format: "%.6g", $0) } ?? "" }
        return "epoch,loss,accuracy,val_loss,val_accuracy,examples_per_s\n" + epochs.map {
            "\($0.epoch),\(f($0.loss)),\(f($0.accuracy)),\(f($0.valLoss)),\(f($0.valAccuracy)),\(String(format: "%.1f", $0.examplesPerSecond))\n"
        }.joined()
    }

    /// A line chart of the loss: every step (faint), each epoch's mean, and validation, against epochs.
    /// The y axis turns logarithmic when the losses span more than a factor of 30.
    public func svg(title: String? = nil) -> String {
        let (W, H, left, right, top, bottom) = (760.0, 460.0, 78.0, 28.0, 70.0, 60.0)
        let (pw, ph) = (W - left - right, H - top - bottom)
        var steps: [(Double, Double)] = [], train: [(Double, Double)] = [], val: [(Double, Double)] = []
        for e in epochs {
            let k = Double(e.stepLosses.count)
            for (s, l) in e.stepLosses.enumerated() where l.isFinite { steps.append((Double(e.epoch - 1) + Double(s + 1) / k, l)) }
            if e.loss.isFinite { train.append((Double(e.epoch), e.loss)) }
            if let v = e.valLoss, v.isFinite { val.append((Double(e.epoch), v)) }
        }
        let ys = (steps + train + val).map(\.1)
        let (lo, hi) = (ys.min() ?? 0, ys.max() ?? 1)
        let logScale = lo > 0 && hi / lo > 30
        let xMax = Double(max(1, epochs.last?.epoch ?? 1))
        // Axis ranges and ticks: 1-2-5 steps, or decades (with 2 and 5 when few) on a log axis.
        var yTicks: [Double], yLo: Double, yHi: Double
        if logScale {
            // Ends at 1-2-5 values around the data; 1-2-5 ticks over few decades, powers of ten over many.
            let (a, b) = (floor(log10(lo)), floor(log10(hi)))
            let nice = stride(from: a, through: b + 1, by: 1).flatMap { d in [1.0, 2, 5].map { $0 * pow(10, d) } }
            yLo = nice.last { $0 <= lo * 1.0001 } ?? pow(10, a)
            yHi = nice.first { $0 >= hi * 0.9999 } ?? pow(10, b + 1)
            let decades = log10(yHi / yLo)
            yTicks = nice.filter { $0 >= yLo * 0.9999 && $0 <= yHi * 1.0001 }
            if decades > 3.5 { yTicks = yTicks.filter { abs(log10($0).rounded() - log10($0)) < 1e-9 } }
        } else {
            let step = Self.niceStep(max(hi, 1e-12) / 5)
            (yLo, yHi) = (0, max(step, (hi / step).rounded(.up) * step))
            yTicks = stride(from: 0, through: yHi + step / 2, by: step).map { $0 }
        }
        let xStep = max(1, Self.niceStep(xMax / 8).rounded())
        let xTicks = stride(from: 0, through: xMax, by: xStep).map { $0 }
        func px(_ x: Double) -> Double { left + x / xMax * pw }
        func py(_ y: Double) -> Double {
            let t = logScale ? (log10(max(y, yLo)) - log10(yLo)) / (log10(yHi) - log10(yLo)) : (y - yLo) / (yHi - yLo)
            return top + (1 - t) * ph
        }
        func n(_ v: Double) -> String { String(format: "%.1f", v) }
        func label(_ v: Double) -> String { String(format: "%g", Double(String(format: "%.3g", v)) ?? v) }
        func path(_ pts: [(Double, Double)], _ style: String) -> String {
            guard !pts.isEmpty else { return "" }
            let d = pts.enumerated().map { "\($0.offset == 0 ? "M" : "L")\(n(px($0.element.0))),\(n(py($0.element.1)))" }.joined(separator: " ")
            return "<path d=\"\(d)\" fill=\"none\" \(style)/>\n"
        }
        func dots(_ pts: [(Double, Double)], _ color: String) -> String {
            pts.count > 60 ? "" : pts.map { "<circle cx=\"\(n(px($0.0)))\" cy=\"\(n(py($0.1)))\" r=\"3.5\" fill=\"\(color)\"/>\n" }.joined()
        }
        let trainColor = "#1f5fa8", valColor = "#e4572e", stepColor = "#9dc3e6"
        var s = """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(W))" height="\(Int(H))" viewBox="0 0 \(Int(W)) \(Int(H))" font-family="Helvetica, Arial, sans-serif">
        <rect width="100%" height="100%" fill="white"/>
        <text x="\(n(W / 2))" y="28" text-anchor="middle" font-size="18" font-weight="bold" fill="#222">\(Self.escape(title ?? "\(model): training loss"))</text>\n
        """
        if let last = epochs.last {
            var sub = "after \(last.epoch) epoch\(last.epoch == 1 ? "" : "s"): loss \(String(format: "%.4f", last.loss))"
            if let a = last.accuracy { sub += ", accuracy \(String(format: "%.4f", a))" }
            if let v = last.valLoss { sub += ", val loss \(String(format: "%.4f", v))" }
            if let a = last.valAccuracy { sub += ", val accuracy \(String(format: "%.4f", a))" }
            s += "<text x=\"\(n(W / 2))\" y=\"50\" text-anchor=\"middle\" font-size=\"13\" fill=\"#555\">\(sub)</text>\n"
        }
        s += "<g stroke=\"#e6e6e6\" stroke-width=\"1\">\n"
        for t in yTicks { s += "<line x1=\"\(n(left))\" y1=\"\(n(py(t)))\" x2=\"\(n(left + pw))\" y2=\"\(n(py(t)))\"/>\n" }
        for t in xTicks { s += "<line x1=\"\(n(px(t)))\" y1=\"\(n(top))\" x2=\"\(n(px(t)))\" y2=\"\(n(top + ph))\"/>\n" }
        s += "</g>\n<g font-size=\"12\" fill=\"#333\">\n"
        for t in yTicks { s += "<text x=\"\(n(left - 8))\" y=\"\(n(py(t) + 4))\" text-anchor=\"end\">\(label(t))</text>\n" }
        for t in xTicks { s += "<text x=\"\(n(px(t)))\" y=\"\(n(top + ph + 18))\" text-anchor=\"middle\">\(Int(t))</text>\n" }
        s += "</g>\n"
        s += "<path d=\"M\(n(left)),\(n(top)) L\(n(left)),\(n(top + ph)) L\(n(left + pw)),\(n(top + ph))\" fill=\"none\" stroke=\"#333\" stroke-width=\"1.2\"/>\n"
        s += "<text x=\"\(n(left + pw / 2))\" y=\"\(n(H - 16))\" text-anchor=\"middle\" font-size=\"14\" fill=\"#222\">epoch</text>\n"
        s += "<text transform=\"translate(22,\(n(top + ph / 2))) rotate(-90)\" text-anchor=\"middle\" font-size=\"14\" fill=\"#222\">loss\(logScale ? " (log scale)" : "")</text>\n"
        s += path(steps, "stroke=\"\(stepColor)\" stroke-width=\"1\" stroke-linejoin=\"round\"")
        s += path(train, "stroke=\"\(trainColor)\" stroke-width=\"2.5\" stroke-linejoin=\"round\"") + dots(train, trainColor)
        s += path(val, "stroke=\"\(valColor)\" stroke-width=\"2.5\" stroke-dasharray=\"7 4\" stroke-linejoin=\"round\"") + dots(val, valColor)
        // Legend inside the plot, in whichever corner covers the fewest data points (top right for a falling loss).
        var entries: [(String, String)] = []
        if !steps.isEmpty { entries.append(("training loss per step", "stroke=\"\(stepColor)\" stroke-width=\"1.5\"")) }
        if !train.isEmpty { entries.append(("training loss (epoch mean)", "stroke=\"\(trainColor)\" stroke-width=\"2.5\"")) }
        if !val.isEmpty { entries.append(("validation loss", "stroke=\"\(valColor)\" stroke-width=\"2.5\" stroke-dasharray=\"7 4\"")) }
        let (lw, lh) = (212.0, Double(entries.count) * 20 + 10)
        let corners = [(left + pw - lw - 10, top + 10), (left + pw - lw - 10, top + ph - lh - 10), (left + 10, top + ph - lh - 10), (left + 10, top + 10)]
        let allPoints = (steps + train + val).map { (px($0.0), py($0.1)) }
        let (lx, ly) = corners.min { a, b in
            func covered(_ c: (Double, Double)) -> Int { allPoints.filter { $0.0 >= c.0 - 6 && $0.0 <= c.0 + lw + 6 && $0.1 >= c.1 - 6 && $0.1 <= c.1 + lh + 6 }.count }
            return covered(a) < covered(b)
        }!
        s += "<rect x=\"\(n(lx))\" y=\"\(n(ly))\" width=\"\(n(lw))\" height=\"\(n(lh))\" fill=\"white\" fill-opacity=\"0.9\" stroke=\"#ccc\"/>\n"
        for (i, (name, style)) in entries.enumerated() {
            let y = ly + 17 + Double(i) * 20
            s += "<line x1=\"\(n(lx + 10))\" y1=\"\(n(y - 4))\" x2=\"\(n(lx + 38))\" y2=\"\(n(y - 4))\" \(style)/>\n"
            s += "<text x=\"\(n(lx + 46))\" y=\"\(n(y))\" font-size=\"12\" fill=\"#222\">\(name)</text>\n"
        }
        return s + "</svg>\n"
    }

    static func niceStep(_ raw: Double) -> Double {
        let e = pow(10, floor(log10(raw))), f = raw / e
        return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * e
    }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }
}
