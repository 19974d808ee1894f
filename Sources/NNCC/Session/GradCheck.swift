import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

private typealias ProbeFn = @convention(c) (Int32, UInt64, UnsafeMutablePointer<Int64>?, UnsafeMutablePointer<Double>?,
                                            UnsafeMutablePointer<Double>?, UnsafeMutablePointer<Double>?) -> Int64

/// What `nncc check-grad` found for one custom layer: the worst point of its backward against the
/// central finite difference of its forward.
public struct GradCheckReport {
    public var layer: String
    public var op: CustomOp
    public var points: Int
    /// The worst relative error (`GradCheck.errors`), infinite when a value was not finite.
    public var worst: Double
    /// Where: `x = 1.52` (elementwise) or `x[1, 2, 5] = 0.53` (array, batch of two).
    public var place: String
    public var analytic: Double, numeric: Double
    /// Points over the tolerance.
    public var failing: Int
    public var tolerance: Double
    public var passed: Bool { worst <= tolerance }
}

/// `nncc check-grad` (docs/custom-ops.md): builds the model's harness (GradCheckHarness), runs the
/// layer's probe and measures the error.
public enum GradCheck {
    public static let defaultTolerance = 1e-2
    /// The error's denominator is at least this fraction of the layer's largest gradient, so points
    /// where the gradient nearly vanishes are judged by the absolute error at the layer's scale.
    public static let floorFraction = 1e-2

    /// The layer `name` of the model, which must be a custom layer with a backward.
    public static func layer(_ model: LoadedModel, named name: String) throws -> (index: Int, layer: GradCheckHarness.Layer) {
        let g = model.graph
        let customs = g.nodes.filter { if case .custom = $0.op { return true } else { return false } }.map(\.name)
        let list = customs.isEmpty ? "the model has no custom layer" : "its custom layers: " + customs.joined(separator: ", ")
        func fail(_ m: String) -> NNCCError { NNCCError(file: model.path, path: "--layer", m) }
        guard let node = g.nodes.firstIndex(where: { $0.name == name }) else {
            throw fail("no layer named \"\(name)\"; \(list)")
        }
        guard case let .custom(c) = g.nodes[node].op else {
            throw fail("layer \"\(name)\" is a \(g.nodes[node].op.typeName) layer; check-grad checks the backward of a custom C layer (\(list))")
        }
        guard c.backward != nil else {
            throw fail("custom layer \"\(name)\" has no \"backward\" function to check; add one to \(c.source) (docs/custom-ops.md)")
        }
        let layers = GradCheckHarness.layers(g)
        guard let k = layers.firstIndex(where: { $0.node == node }) else { preconditionFailure("a custom layer with a backward") }
        return (k, layers[k])
    }

    /// Checks the custom layer `name` with inputs drawn from `seed`.
    public static func run(_ model: LoadedModel, layer name: String, seed: UInt64 = 0,
                           tolerance: Double = defaultTolerance) throws -> GradCheckReport {
        let (k, layer) = try layer(model, named: name)
        let path = try GradCheckHarness.build(model.graph).path
        guard let h = dlopen(path, RTLD_NOW | RTLD_LOCAL) else {
            throw NNCCError(file: path, "cannot load the check-grad harness: \(dlerror().map { String(cString: $0) } ?? "unknown error")")
        }
        guard let sym = dlsym(h, "nncc_grad_probe") else { throw NNCCError(file: path, "nncc_grad_probe not found") }
        let probe = unsafeBitCast(sym, to: ProbeFn.self)
        let n = GradCheckHarness.probes
        var index = [Int64](repeating: 0, count: n), input = [Double](repeating: 0, count: n)
        var analytic = [Double](repeating: 0, count: n), numeric = [Double](repeating: 0, count: n)
        let count = probe(Int32(k), seed, &index, &input, &analytic, &numeric)
        guard count > 0, count <= n else {
            throw NNCCError(file: path, "the check-grad harness failed for layer \"\(name)\" (\(count == -1 ? "out of memory" : "code \(count)"))")
        }
        let m = Int(count)
        let errors = errors(analytic: Array(analytic.prefix(m)), numeric: Array(numeric.prefix(m)))
        let worst = errors.indices.max { errors[$0] < errors[$1] || errors[$1].isNaN } ?? 0
        let value = String(format: "%.6g", input[worst])
        let place: String
        if layer.op.form == .elementwise {
            place = "x = \(value)"
        } else {
            place = "x\(unravel(Int(index[worst]), [GradCheckHarness.batch] + layer.inputShape)) = \(value)"
        }
        return GradCheckReport(layer: name, op: layer.op, points: m, worst: errors[worst], place: place,
                               analytic: analytic[worst], numeric: numeric[worst],
                               failing: errors.filter { !($0 <= tolerance) }.count, tolerance: tolerance)
    }

    /// Each point's relative error `|a − n| / max(|a|, |n|, floorFraction · M)`, M the largest |a| or |n|
    /// of the layer; infinite where a value is not finite.
    public static func errors(analytic: [Double], numeric: [Double]) -> [Double] {
        let scale = zip(analytic, numeric).map { max(abs($0), abs($1)) }.filter(\.isFinite).max() ?? 0
        return zip(analytic, numeric).map { a, n in
            guard a.isFinite, n.isFinite else { return .infinity }
            let denominator = max(abs(a), abs(n), floorFraction * scale)
            return denominator == 0 ? 0 : abs(a - n) / denominator
        }
    }

    static func unravel(_ i: Int, _ shape: [Int]) -> [Int] {
        var rest = i, out = [Int]()
        for d in shape.reversed() { out.insert(rest % d, at: 0); rest /= d }
        return out
    }
}
