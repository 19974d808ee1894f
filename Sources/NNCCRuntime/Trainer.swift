import Foundation
import NNCC
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - Random numbers

/// SplitMix64 (Steele, Lea & Flood, 2014): the same stream on every platform,
/// which shuffling and augmentation need to be reproducible from the model's seed.
public struct SplitMix64: RandomNumberGenerator {
    public var state: UInt64
    public init(seed: UInt64) { state = seed }

    /// A stream for one purpose and one (a, b), e.g. (epoch, example): unrelated to its neighbours.
    public init(seed: UInt64, stream: UInt64, _ a: Int, _ b: Int = 0) {
        state = Self.mix(Self.mix(Self.mix(seed ^ stream) ^ UInt64(bitPattern: Int64(a))) ^ UInt64(bitPattern: Int64(b)))
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return Self.mix(state)
    }

    public static func mix(_ x: UInt64) -> UInt64 {
        var z = (x ^ (x >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    public mutating func unit() -> Double { Double(next() >> 11) * 0x1p-53 }
    /// Uniform in [-r, r).
    public mutating func symmetric(_ r: Double) -> Double { (2 * unit() - 1) * r }
    /// Uniform integer in 0..<n (multiply-high: no modulo bias worth naming).
    public mutating func below(_ n: Int) -> Int { Int(next().multipliedFullWidth(by: UInt64(n)).high) }
}

private let shuffleStream: UInt64 = 0x5348_5546_464C_4521, augmentStream: UInt64 = 0x4155_474D_454E_5421

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
            if let bad = data.firstIndex(where: { $0 < 0 || $0 >= Int64(outSize) }) {
                throw fail("y", "label \(data[bad]) of example \(bad) is outside 0..<\(outSize) (the model has \(outSize) classes)")
            }
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

private func list(_ s: [Int]) -> String { s.map(String.init).joined(separator: ", ") }

// MARK: - Augmentation

/// Random image augmentation for [C, H, W] inputs, deterministic from (seed,
/// epoch, example index): the same example gets the same transform in an
/// epoch whatever the batch order. Geometry is one affine map about the
/// image centre (crop shift, rotation, x-shear, zoom, then horizontal flip),
/// sampled bilinearly with zero fill; brightness is added afterwards.
public struct Augmenter {
    public struct Params: Equatable {
        public var flip = false
        /// Source offset of the crop in pixels, within ±crop_padding.
        public var shiftX = 0, shiftY = 0
        public var rotateDegrees = 0.0, shearDegrees = 0.0, scale = 1.0
        public var brightness: Float = 0
        public init() {}
        public var isGeometricIdentity: Bool {
            !flip && shiftX == 0 && shiftY == 0 && rotateDegrees == 0 && shearDegrees == 0 && scale == 1
        }
    }

    public let augment: Augment
    public let seed: UInt64
    public let channels: Int, height: Int, width: Int

    public init(_ augment: Augment, seed: UInt64, channels: Int, height: Int, width: Int) {
        self.augment = augment; self.seed = seed
        self.channels = channels; self.height = height; self.width = width
    }

    /// Draws every value in a fixed order, so enabling one augmentation leaves the others' draws unchanged.
    public func params(epoch: Int, index: Int) -> Params {
        var rng = SplitMix64(seed: seed, stream: augmentStream, epoch, index)
        let a = augment, pad = a.cropPadding
        var p = Params()
        let flip = rng.unit() < 0.5
        let sx = rng.below(2 * pad + 1) - pad, sy = rng.below(2 * pad + 1) - pad
        let rot = rng.symmetric(Double(a.rotateDegrees)), shear = rng.symmetric(Double(a.shearDegrees))
        let zoom = rng.symmetric(Double(a.zoom)), bright = rng.symmetric(Double(a.brightness))
        p.flip = a.hflip && flip
        (p.shiftX, p.shiftY) = (sx, sy)
        (p.rotateDegrees, p.shearDegrees, p.scale) = (rot, shear, 1 + zoom)
        p.brightness = Float(bright)
        return p
    }

    /// Writes the transformed `src` (one C×H×W image) into `dst`.
    public func apply(_ p: Params, _ src: UnsafeBufferPointer<Float>, _ dst: UnsafeMutableBufferPointer<Float>) {
        let (h, w) = (height, width), plane = h * w
        precondition(src.count >= channels * plane && dst.count >= channels * plane)
        if p.isGeometricIdentity {
            for i in 0..<(channels * plane) { dst[i] = src[i] + p.brightness }
            return
        }
        // Inverse of A = R(θ)·Shear(φ)·s maps each output pixel to its source; det A = s².
        let th = p.rotateDegrees * .pi / 180, t = tan(p.shearDegrees * .pi / 180), s = p.scale
        let (c, sn) = (cos(th), sin(th))
        let (a11, a12, a21, a22) = (s * c, s * (c * t - sn), s * sn, s * (sn * t + c))
        let det = a11 * a22 - a12 * a21
        let (i11, i12, i21, i22) = (a22 / det, -a12 / det, -a21 / det, a11 / det)
        let cx = Double(w - 1) / 2, cy = Double(h - 1) / 2
        // Four bilinear taps per output pixel, computed once for all channels; -1 marks zero fill.
        var tap = [Int](repeating: -1, count: 4 * plane), weight = [Double](repeating: 0, count: 4 * plane)
        for y in 0..<h {
            for x in 0..<w {
                let qx = Double(x + p.shiftX) - cx, qy = Double(y + p.shiftY) - cy
                var sx = i11 * qx + i12 * qy + cx
                let sy = i21 * qx + i22 * qy + cy
                if p.flip { sx = Double(w - 1) - sx }
                let x0 = sx.rounded(.down), y0 = sy.rounded(.down), fx = sx - x0, fy = sy - y0
                guard x0 > -2, y0 > -2, x0 < Double(w), y0 < Double(h) else { continue }
                let ix = Int(x0), iy = Int(y0), o = 4 * (y * w + x)
                for k in 0..<4 {
                    let (yy, xx) = (iy + k / 2, ix + k % 2)
                    let wt = (k / 2 == 0 ? 1 - fy : fy) * (k % 2 == 0 ? 1 - fx : fx)
                    if wt != 0, (0..<h).contains(yy), (0..<w).contains(xx) { (tap[o + k], weight[o + k]) = (yy * w + xx, wt) }
                }
            }
        }
        for ch in 0..<channels {
            let base = ch * plane
            for i in 0..<plane {
                var v = 0.0
                for k in (4 * i)..<(4 * i + 4) where tap[k] >= 0 { v += weight[k] * Double(src[base + tap[k]]) }
                dst[base + i] = Float(v) + p.brightness
            }
        }
    }

    public func apply(_ p: Params, to image: [Float]) -> [Float] {
        var out = [Float](repeating: 0, count: image.count)
        image.withUnsafeBufferPointer { s in out.withUnsafeMutableBufferPointer { apply(p, s, $0) } }
        return out
    }
}

// MARK: - Losses

/// The losses as PyTorch defines them, summed over examples; callers divide.
public enum Losses {
    /// logsumexp(logits) − logit[label]; from probabilities (a final softmax) −log(max(p, 1e-12)).
    public static func crossEntropy(_ row: ArraySlice<Float>, label: Int, probabilities: Bool) -> Double {
        let target = Double(row[row.startIndex + label])
        if probabilities { return -log(max(target, 1e-12)) }
        let m = Double(row.max() ?? 0)
        return m + log(row.reduce(0.0) { $0 + exp(Double($1) - m) }) - target
    }

    /// −(t log p + (1 − t) log(1 − p)) with each log clamped at −100, as BCELoss.
    public static func binaryCrossEntropy(_ p: Float, _ t: Float) -> Double {
        let p = min(max(Double(p), 0), 1), t = Double(t)
        return -(t * max(log(p), -100) + (1 - t) * max(log(1 - p), -100))
    }

    public static func argmax(_ row: ArraySlice<Float>) -> Int {
        var best = row.startIndex
        for i in row.indices where row[i] > row[best] { best = i }
        return best - row.startIndex
    }
}

// MARK: - Trainer

public struct Evaluation {
    public var loss: Double
    /// Classifiers (cross_entropy) only.
    public var accuracy: Double?
    public var correct: Int?
    public var count: Int
}

public struct EpochStats {
    public var epoch: Int
    public var loss: Double
    /// Training accuracy: the model's inference-mode predictions on each batch just before its step.
    public var accuracy: Double?
    public var valLoss: Double?
    public var valAccuracy: Double?
    public var examplesPerSecond: Double
    public var stepLosses: [Double]
}

/// Drives a --train library: shuffles, batches, augments, steps and evaluates.
public final class Trainer {
    public struct Progress {
        public var epoch: Int, step: Int, steps: Int, done: Int, total: Int
        /// Mean loss of the epoch so far.
        public var loss: Double
        public var seconds: Double
    }

    public let context: ModelContext
    public let graph: Graph
    public let config: TrainConfig
    public let seed: UInt64
    public let augmenter: Augmenter?
    /// Costs one inference forward per batch; off saves ~a third of the time.
    public var trackAccuracy = true
    public var learningRate: Float { didSet { context.setLearningRate(learningRate) } }

    /// `config` defaults to the model's train section; its batch size must fit the library.
    public init(context: ModelContext, graph: Graph, config: TrainConfig? = nil, seed: UInt64? = nil) throws {
        guard let cfg = config ?? graph.train else {
            throw NNCCError(path: "train", "model \"\(graph.name)\" has no train section (loss, optimizer, batch_size, ...)")
        }
        let lib = context.library
        guard lib.canTrain else { throw NNCCError(file: lib.path, "library \(lib.name) was compiled without --train") }
        guard cfg.batchSize >= 1, cfg.batchSize <= lib.maxBatch else {
            throw NNCCError(file: lib.path, "batch size \(cfg.batchSize) outside the library's 1...\(lib.maxBatch)")
        }
        let shape = graph.input.shape
        if cfg.augment.isEnabled {
            guard shape.count == 3 else {
                throw NNCCError(path: "train.augment", "augmentation needs an image input [C, H, W]; this model's input is [\(list(shape))]")
            }
            augmenter = Augmenter(cfg.augment, seed: seed ?? graph.seed, channels: shape[0], height: shape[1], width: shape[2])
        } else {
            augmenter = nil
        }
        self.context = context; self.graph = graph; self.config = cfg; self.seed = seed ?? graph.seed
        learningRate = cfg.optimizer.lr
        context.setLearningRate(learningRate)
    }

    public convenience init(session: Session, config: TrainConfig? = nil) throws {
        try self.init(context: session.context, graph: session.model.graph, config: config)
    }

    /// Example order of an epoch (epochs count from 1).
    public static func order(count: Int, epoch: Int, seed: UInt64, shuffle: Bool) -> [Int] {
        var order = Array(0..<count)
        guard shuffle, count > 1 else { return order }
        var rng = SplitMix64(seed: seed, stream: shuffleStream, epoch)
        for i in stride(from: count - 1, to: 0, by: -1) { order.swapAt(i, rng.below(i + 1)) }
        return order
    }

    /// One pass over `data` in batches of batch_size, the last one partial.
    public func runEpoch(_ data: Dataset, epoch: Int, progress: ((Progress) -> Void)? = nil) throws -> EpochStats {
        let lib = context.library, inSize = lib.inputSize, outSize = lib.outputSize
        try Self.check(data, lib, loss: config.loss)
        let n = data.count, bs = config.batchSize, steps = (n + bs - 1) / bs
        let order = Self.order(count: n, epoch: epoch, seed: seed, shuffle: config.shuffle)
        let classifier = config.loss == .crossEntropy
        var xb = [Float](repeating: 0, count: bs * inSize)
        var lossSum = 0.0, correct = 0, stepLosses: [Double] = []
        let start = DispatchTime.now().uptimeNanoseconds
        func seconds() -> Double { Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }

        for step in 0..<steps {
            let idx = order[(step * bs)..<min(n, (step + 1) * bs)], b = idx.count
            data.x.withUnsafeBufferPointer { src in
                xb.withUnsafeMutableBufferPointer { dst in
                    for (k, i) in idx.enumerated() {
                        let from = UnsafeBufferPointer(rebasing: src[(i * inSize)..<((i + 1) * inSize)])
                        let to = UnsafeMutableBufferPointer(rebasing: dst[(k * inSize)..<((k + 1) * inSize)])
                        if let aug = augmenter {
                            aug.apply(aug.params(epoch: epoch, index: i), from, to)
                        } else {
                            _ = to.initialize(from: from)
                        }
                    }
                }
            }
            let labels = data.labels.map { l in idx.map { l[$0] } }
            let loss: Float = try xb.withUnsafeBufferPointer { buf in
                let xs = UnsafeBufferPointer(rebasing: buf[0..<(b * inSize)])
                if let labels {
                    if classifier && trackAccuracy {
                        let y = try context.forward(xs, batch: b)
                        for k in 0..<b where Losses.argmax(y[(k * outSize)..<((k + 1) * outSize)]) == Int(labels[k]) { correct += 1 }
                    }
                    return try context.trainStep(xs, labels: labels, batch: b)
                }
                var t = [Float](); t.reserveCapacity(b * outSize)
                for i in idx { t += data.targets![(i * outSize)..<((i + 1) * outSize)] }
                return try context.trainStep(xs, targets: t, batch: b)
            }
            guard loss.isFinite else {
                throw NNCCError("epoch \(epoch), step \(step + 1): loss is not finite (NaN or infinity); "
                    + "try a lower learning rate (now \(learningRate))")
            }
            lossSum += Double(loss) * Double(b)
            stepLosses.append(Double(loss))
            let done = min(n, (step + 1) * bs)
            progress?(Progress(epoch: epoch, step: step + 1, steps: steps, done: done, total: n,
                               loss: lossSum / Double(done), seconds: seconds()))
        }
        return EpochStats(epoch: epoch, loss: lossSum / Double(n),
                          accuracy: classifier && trackAccuracy ? Double(correct) / Double(n) : nil,
                          examplesPerSecond: Double(n) / max(seconds(), 1e-9), stepLosses: stepLosses)
    }

    /// Trains for `epochs` epochs, evaluating on `validation` after each.
    public func fit(_ train: Dataset, validation: Dataset? = nil, epochs: Int? = nil,
                    progress: ((Progress) -> Void)? = nil, epochEnd: ((EpochStats) -> Void)? = nil) throws -> TrainingHistory {
        var history = TrainingHistory(model: graph.name)
        for e in 1...max(1, epochs ?? config.epochs) {
            var stats = try runEpoch(train, epoch: e, progress: progress)
            if let validation {
                let v = try evaluate(validation)
                (stats.valLoss, stats.valAccuracy) = (v.loss, v.accuracy)
            }
            history.epochs.append(stats)
            epochEnd?(stats)
        }
        return history
    }

    public func evaluate(_ data: Dataset) throws -> Evaluation {
        try Self.evaluate(data, context: context, graph: graph, loss: config.loss)
    }

    /// Inference-mode forward in batches of the library's max batch; the loss is computed here.
    public static func evaluate(_ data: Dataset, context: ModelContext, graph: Graph, loss: Loss) throws -> Evaluation {
        let lib = context.library, inSize = lib.inputSize, outSize = lib.outputSize
        try check(data, lib, loss: loss)
        // A final softmax means the outputs are already probabilities.
        let probabilities = graph.nodes[graph.outputs[0]].op == .softmax
        var sum = 0.0, correct = 0, start = 0
        try data.x.withUnsafeBufferPointer { buf in
            while start < data.count {
                let b = min(lib.maxBatch, data.count - start)
                let y = try context.forward(UnsafeBufferPointer(rebasing: buf[(start * inSize)..<((start + b) * inSize)]), batch: b)
                for k in 0..<b {
                    let row = y[(k * outSize)..<((k + 1) * outSize)], e = start + k
                    if let labels = data.labels {
                        let label = Int(labels[e])
                        sum += Losses.crossEntropy(row, label: label, probabilities: probabilities)
                        if Losses.argmax(row) == label { correct += 1 }
                    } else if let t = data.targets {
                        for (j, v) in row.enumerated() {
                            let tv = t[e * outSize + j]
                            sum += loss == .mse ? Double(v - tv) * Double(v - tv) : Losses.binaryCrossEntropy(v, tv)
                        }
                    }
                }
                start += b
            }
        }
        if data.labels != nil {
            return Evaluation(loss: sum / Double(data.count), accuracy: Double(correct) / Double(data.count),
                              correct: correct, count: data.count)
        }
        return Evaluation(loss: sum / Double(data.count * outSize), accuracy: nil, correct: nil, count: data.count)
    }

    /// Writes the weights to a temporary file and renames it: never a half-written file under `path`.
    public func saveWeights(path: String) throws {
        let url = URL(fileURLWithPath: path), dir = url.deletingLastPathComponent()
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let tmp = dir.appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
        defer { unlink(tmp) }
        do { try context.saveWeights(path: tmp) } catch let e as NNCCError { throw NNCCError(file: path, e.message) }
        guard rename(tmp, path) == 0 else {
            throw NNCCError(file: path, "cannot rename the weights into place: \(String(cString: strerror(errno)))")
        }
    }

    static func check(_ d: Dataset, _ lib: ModelLibrary, loss: Loss) throws {
        guard d.count > 0, d.x.count == d.count * lib.inputSize else {
            throw NNCCError("data set: expected \(d.count) × \(lib.inputSize) input floats, found \(d.x.count)")
        }
        if loss == .crossEntropy {
            guard let l = d.labels, l.count == d.count else { throw NNCCError("data set: cross_entropy needs one class label per example") }
            if let bad = l.firstIndex(where: { $0 < 0 || Int($0) >= lib.outputSize }) {
                throw NNCCError("data set: label \(l[bad]) of example \(bad) is outside 0..<\(lib.outputSize)")
            }
        } else {
            guard let t = d.targets, t.count == d.count * lib.outputSize else {
                throw NNCCError("data set: \(loss.rawValue) needs \(d.count) × \(lib.outputSize) target floats")
            }
        }
    }
}

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
        // Legend, top right inside the plot.
        var entries: [(String, String)] = []
        if !steps.isEmpty { entries.append(("training loss per step", "stroke=\"\(stepColor)\" stroke-width=\"1.5\"")) }
        if !train.isEmpty { entries.append(("training loss (epoch mean)", "stroke=\"\(trainColor)\" stroke-width=\"2.5\"")) }
        if !val.isEmpty { entries.append(("validation loss", "stroke=\"\(valColor)\" stroke-width=\"2.5\" stroke-dasharray=\"7 4\"")) }
        let (lw, lx, ly) = (212.0, left + pw - 222, top + 10)
        s += "<rect x=\"\(n(lx))\" y=\"\(n(ly))\" width=\"\(n(lw))\" height=\"\(n(Double(entries.count) * 20 + 10))\" fill=\"white\" fill-opacity=\"0.9\" stroke=\"#ccc\"/>\n"
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
