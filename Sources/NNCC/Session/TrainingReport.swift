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

    /// Line charts against epochs: the loss (every step faint, each epoch's mean, validation) and, for
    /// classifiers, the accuracy (training and validation) below it. The loss axis turns logarithmic when
    /// the losses span more than a factor of 30.
    public func svg(title: String? = nil) -> String {
        var steps: [(x: Double, y: Double)] = [], train: [(x: Double, y: Double)] = [], val: [(x: Double, y: Double)] = []
        var acc: [(x: Double, y: Double)] = [], valAcc: [(x: Double, y: Double)] = []
        for e in epochs {
            let k = Double(e.stepLosses.count), x = Double(e.epoch)
            for (s, l) in e.stepLosses.enumerated() { steps.append((x - 1 + Double(s + 1) / k, l)) }
            train.append((x, e.loss))
            if let v = e.valLoss { val.append((x, v)) }
            if let a = e.accuracy { acc.append((x, a)) }
            if let a = e.valAccuracy { valAcc.append((x, a)) }
        }
        let trainColor = "#1f5fa8", valColor = "#e4572e"
        var panels = [ChartPanel(yLabel: "loss", series: [
            ChartSeries("training loss per step", steps, color: "#9dc3e6", width: 1, dots: false),
            ChartSeries("training loss (epoch mean)", train, color: trainColor),
            ChartSeries("validation loss", val, color: valColor, dashed: true),
        ])]
        if !(acc + valAcc).isEmpty {
            panels.append(ChartPanel(yLabel: "accuracy", series: [
                ChartSeries("training accuracy", acc, color: trainColor),
                ChartSeries("validation accuracy", valAcc, color: valColor, dashed: true),
            ], scale: .linear, yRange: 0...1))
        }
        var sub: String?
        if let last = epochs.last {
            sub = "after \(last.epoch) epoch\(last.epoch == 1 ? "" : "s"): loss \(String(format: "%.4f", last.loss))"
            if let a = last.accuracy { sub! += ", accuracy \(String(format: "%.4f", a))" }
            if let v = last.valLoss { sub! += ", val loss \(String(format: "%.4f", v))" }
            if let a = last.valAccuracy { sub! += ", val accuracy \(String(format: "%.4f", a))" }
        }
        let title = title ?? (panels.count > 1 ? "\(model): training loss and accuracy" : "\(model): training loss")
        return Chart.svg(title: title, subtitle: sub, xLabel: "epoch", xMax: Double(epochs.last?.epoch ?? 1), panels: panels)
    }
}
