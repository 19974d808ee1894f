import Foundation

/// One layer's gradient health over an epoch, from the sums a --grad-stats library keeps.
public struct LayerGradient: Equatable {
    public var layer: String
    public var type: String
    /// L2 norm of the layer's weight gradient (before clipping), root mean square over the epoch's steps.
    public var gradNorm: Double
    /// ‖ΔW‖ / ‖W‖ of the optimizer's updates: root of Σ‖ΔW‖² over Σ‖W‖², summed over the steps.
    public var updateRatio: Double
}

/// `nncc train --grad-report`: per layer and epoch, the gradient norm and the update-to-weight ratio,
/// warnings when a layer's gradients vanish or explode, and a chart of both on log scales.
public struct GradientReport {
    /// A gradient norm below this is vanishing.
    public static let vanishing = 1e-6
    /// A gradient norm above this many times the layer's first-epoch norm is exploding.
    public static let explodingFactor = 1e3

    public var model: String
    /// Per epoch (from 1), per layer.
    public var epochs: [[LayerGradient]] = []
    private var warned = Set<String>()

    public init(model: String) { self.model = model }

    /// Per layer from a library's per-parameter sums (3 per parameter of `names`, the library's order;
    /// NAME_grad_stats): its weights, that is its trainable tensors other than biases (all of them when it
    /// has nothing else). Running statistics have no gradient.
    public static func layers(graph: Graph, names: [String], steps: Int, sums: [Double]) -> [LayerGradient] {
        var order: [String] = [], tensors: [String: [Int]] = [:]
        let specs = Dictionary(graph.params.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        for (i, name) in names.enumerated() where 3 * i + 2 < sums.count {
            guard let p = specs[name], p.trainable else { continue }
            if tensors[p.layer] == nil { order.append(p.layer) }
            tensors[p.layer, default: []].append(i)
        }
        return order.map { layer in
            let all = tensors[layer]!
            let weights = all.filter { !(names[$0].split(separator: ".").last ?? "").hasPrefix("bias") }
            let chosen = weights.isEmpty ? all : weights
            func sum(_ k: Int) -> Double { chosen.reduce(0) { $0 + sums[3 * $1 + k] } }
            let type = graph.nodes.first { $0.name == layer }?.op.typeName ?? ""
            return LayerGradient(layer: layer, type: type, gradNorm: (sum(0) / Double(max(1, steps))).squareRoot(),
                                 updateRatio: sum(2) > 0 ? (sum(1) / sum(2)).squareRoot() : 0)
        }
    }

    /// Adds an epoch's figures and returns its warnings: each layer warns at most once for vanishing
    /// and once for exploding gradients over the run.
    public mutating func append(_ layers: [LayerGradient]) -> [String] {
        epochs.append(layers)
        let epoch = epochs.count
        var out: [String] = []
        for l in layers {
            let name = "layer \(l.layer)\(l.type.isEmpty ? "" : " (\(l.type))")"
            let norm = String(format: "%.3g", l.gradNorm)
            if l.gradNorm < Self.vanishing, warned.insert("v " + l.layer).inserted {
                out.append("warning: \(name): gradient norm \(norm) at epoch \(epoch) is below 1e-6: its gradients "
                    + "vanish and it barely learns (saturating activations such as sigmoid in a deep stack; try relu, "
                    + "batchnorm or residual connections)")
            }
            if let first = epochs[0].first(where: { $0.layer == l.layer })?.gradNorm, first > 0,
               l.gradNorm > Self.explodingFactor * first, warned.insert("x " + l.layer).inserted {
                out.append("warning: \(name): gradient norm \(norm) at epoch \(epoch) is over \(Int(Self.explodingFactor)) times "
                    + "its first-epoch \(String(format: "%.3g", first)): its gradients explode (try clip_grad_norm in the "
                    + "train section, or a lower learning rate)")
            }
        }
        return out
    }

    /// Two panels over the epochs, one line per layer, log scales: the gradient norm and the update ratio.
    public func svg(title: String? = nil) -> String {
        let palette = ["#1f5fa8", "#e4572e", "#2a9d4b", "#8e44ad", "#f0a202", "#17becf", "#7f7f7f", "#bcbd22", "#d62790", "#8c564b"]
        let names = epochs.first?.map(\.layer) ?? []
        func series(_ value: (LayerGradient) -> Double) -> [ChartSeries] {
            names.enumerated().map { k, layer in
                let points = epochs.enumerated().compactMap { e, layers in
                    layers.first { $0.layer == layer }.map { (x: Double(e + 1), y: value($0)) }
                }
                let type = epochs[0][k].type
                return ChartSeries("\(layer)\(type.isEmpty ? "" : " (\(type))")", points, color: palette[k % palette.count],
                                   width: 2, dashed: k >= palette.count)
            }
        }
        let panels = [ChartPanel(yLabel: "weight gradient L2 norm", series: series(\.gradNorm), scale: .log),
                      ChartPanel(yLabel: "update / weight", series: series(\.updateRatio), scale: .log)]
        return Chart.svg(title: title ?? "\(model): gradient health per layer",
                         subtitle: "one line per layer, input side first; a warning below 1e-6 or over 1000× the first epoch's norm",
                         xLabel: "epoch", xMax: Double(max(1, epochs.count)), panels: panels, legendBeside: true)
    }
}
