import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
// MARK: - Data set

/// Training or evaluation data checked against a model: `count` examples of
/// `x` (input-sized each) and either class labels (cross_entropy) or float
/// targets of the output's size (mse, binary_cross_entropy).
public struct Dataset {
    public var x: [Float]
    public var count: Int
    public var labels: [Int32]?
    public var targets: [Float]?

    public init(x: [Float], count: Int, labels: [Int32]? = nil, targets: [Float]? = nil) {
        self.x = x; self.count = count; self.labels = labels; self.targets = targets
    }

    /// Reads an .npz with keys `x` and `y`; every problem names the file and key.
    public static func load(path: String, model: LoadedModel, loss: Loss) throws -> Dataset {
        try from(Npz.read(path: path), file: path, model: model, loss: loss)
    }

    /// The loss `nncc eval` uses for a model without a train section: integer y means class labels.
    public static func inferredLoss(_ arrays: [String: NpyArray]) -> Loss {
        if case .int = arrays["y"] { return .crossEntropy }
        return .mse
    }

    public static func from(_ arrays: [String: NpyArray], file: String, model: LoadedModel, loss: Loss) throws -> Dataset {
        let g = model.graph
        let inShape = g.input.shape, outShape = g.nodes[g.outputs[0]].shape
        let inSize = inShape.reduce(1, *), outSize = outShape.reduce(1, *)
        func fail(_ key: String?, _ m: String) -> NNCCError { NNCCError(file: file, path: key, m) }
        let keys = arrays.keys.sorted().joined(separator: ", ")
        let yWhat = loss == .crossEntropy ? "int32/int64 class labels [N]" : "float32 targets [N, \(list(outShape))]"

        guard let xa = arrays["x"] else {
            throw fail(nil, "missing array \"x\" (float32 inputs [N, \(list(inShape))]); the archive holds: \(keys)")
        }
        guard case let .float(xt) = xa else { throw fail("x", "expected float32 inputs, found an integer array") }
        let n = xt.shape.first ?? 0
        let fits = xt.shape.count == inShape.count + 1 && Array(xt.shape.dropFirst()) == inShape
        guard fits || (xt.shape.count == 2 && xt.shape[1] == inSize) else {
            throw fail("x", "expected shape [N, \(list(inShape))] (examples of the model's input [\(list(inShape))]), found [\(list(xt.shape))]")
        }
        guard n > 0 else { throw fail("x", "holds no examples") }
        if let bad = xt.data.firstIndex(where: { !$0.isFinite }) {
            throw fail("x", "example \(bad / inSize), element \(bad % inSize) is not finite (\(xt.data[bad]))")
        }
        guard let ya = arrays["y"] else {
            throw fail(nil, "missing array \"y\" (\(yWhat) for \(loss.rawValue)); the archive holds: \(keys)")
        }
        let yn = ya.shape.first ?? 0
        guard yn == n else { throw fail("y", "has \(yn) entries but x has \(n) examples") }

        if loss == .crossEntropy {
            guard case let .int(shape, data) = ya else {
                throw fail("y", "expected integer class labels (int32/int64) for cross_entropy, found float32")
            }
            guard shape.count == 1 else { throw fail("y", "expected shape [N] = [\(n)], one class label per example, found [\(list(shape))]") }
            do { try Labels.check(data, classes: outSize) } catch let e as NNCCError { throw fail("y", e.message) }
            return Dataset(x: xt.data, count: n, labels: data.map { Int32($0) })
        }
        guard case let .float(yt) = ya else {
            throw fail("y", "expected float32 targets for \(loss.rawValue), found an integer array (convert with y.astype(np.float32))")
        }
        let yFits = Array(yt.shape.dropFirst()) == outShape || yt.shape == [n, outSize] || (outSize == 1 && yt.shape == [n])
        guard yFits else {
            throw fail("y", "expected shape [N, \(list(outShape))] (targets of the model's output [\(list(outShape))]), found [\(list(yt.shape))]")
        }
        if let bad = yt.data.firstIndex(where: { !$0.isFinite }) {
            throw fail("y", "example \(bad / outSize), element \(bad % outSize) is not finite (\(yt.data[bad]))")
        }
        if loss == .binaryCrossEntropy, let bad = yt.data.firstIndex(where: { !(0...1).contains($0) }) {
            throw fail("y", "target \(yt.data[bad]) of example \(bad / outSize), element \(bad % outSize) is outside [0, 1] (binary_cross_entropy)")
        }
        return Dataset(x: xt.data, count: n, targets: yt.data)
    }
}

func list(_ s: [Int]) -> String { s.map(String.init).joined(separator: ", ") }
