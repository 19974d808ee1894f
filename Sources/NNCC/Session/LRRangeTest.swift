import Foundation

/// The learning-rate range test of Smith, "Cyclical Learning Rates for Training Neural Networks" (2017),
/// as fastai and torch-lr-finder run it: from the initial weights, one step per rate on rates rising
/// exponentially from `startLR` to `endLR`, stopping once the loss's bias-corrected running average
/// exceeds `divergeFactor` times its lowest value. The suggestion is the rate where the smoothed loss
/// falls fastest (torch-lr-finder's steepest gradient, `skipStart` points left out) on its way down to
/// its lowest point: a loss that blew up and recovered (a classifier's settles near log(classes), short
/// of the divergence factor) would otherwise show a steeper fall past the useful range. That smoothed
/// loss is two-sided (the mean of the running average forwards and backwards), since the one-sided
/// average lags about β/(1 − β) steps (5 to 8 times too high a rate on examples/digits_cnn.json), and
/// losses above the starting loss count as the starting loss in it, so that the spikes of divergence do
/// not bleed backwards into the descent. docs/training.md has the figures.
public struct LRRangeTest {
    public var startLR = 1e-7, endLR = 10.0, steps = 400
    /// smoothed = β·smoothed + (1 − β)·loss, divided by 1 − β^(i+1).
    public var beta = 0.98
    public var divergeFactor = 4.0
    public var skipStart = 10, skipEnd = 5

    public init() {}

    public struct Result {
        public var lrs: [Double] = [], losses: [Double] = []
        /// The two-sided average of `losses` the suggestion is taken from.
        public var smoothed: [Double] = []
        /// Stopped early: the smoothed loss blew up, or a step was not finite.
        public var diverged = false
        /// Index into `lrs` of the suggestion; nil when too few steps ran.
        public var suggestion: Int?
        public var suggestedLR: Double? { suggestion.map { lrs[$0] } }
    }

    public func lr(at i: Int) -> Double { startLR * pow(endLR / startLR, Double(i) / Double(max(1, steps - 1))) }

    /// `step(lr)` takes one optimizer step at `lr` and returns its loss, nil when not finite.
    public func run(_ step: (Double) throws -> Double?) rethrows -> Result {
        var r = Result(), average = 0.0, best = Double.infinity
        for i in 0..<steps {
            let lr = lr(at: i)
            guard let loss = try step(lr), loss.isFinite else { r.diverged = true; break }
            average = beta * average + (1 - beta) * loss
            let smoothed = average / (1 - pow(beta, Double(i + 1)))
            r.lrs.append(lr); r.losses.append(loss)
            best = min(best, smoothed)
            if smoothed > divergeFactor * best { r.diverged = true; break }
        }
        let start = r.losses.prefix(skipStart).reduce(0, +) / Double(max(1, min(skipStart, r.losses.count)))
        let clipped = r.losses.map { min($0, start) }
        let forward = Self.runningAverage(clipped, beta), backward = Self.runningAverage(clipped.reversed(), beta).reversed()
        r.smoothed = zip(forward, backward).map { ($0 + $1) / 2 }
        r.suggestion = Self.steepest(r.smoothed, skipStart: skipStart, skipEnd: skipEnd)
        return r
    }

    /// The bias-corrected exponential running average of `x`.
    static func runningAverage(_ x: [Double], _ beta: Double) -> [Double] {
        var average = 0.0
        return x.enumerated().map { i, v in
            average = beta * average + (1 - beta) * v
            return average / (1 - pow(beta, Double(i + 1)))
        }
    }

    /// The index of the most negative slope of `y` (numpy.gradient: central differences inside, one-sided at
    /// the ends) from `skipStart` up to y's minimum (and at most `skipEnd` from the end).
    public static func steepest(_ y: [Double], skipStart: Int, skipEnd: Int) -> Int? {
        let lowest = y.indices.min { y[$0] < y[$1] } ?? 0
        let lo = skipStart, hi = min(y.count - skipEnd, lowest + 1)
        guard hi - lo >= 2 else { return nil }
        func slope(_ i: Int) -> Double {
            i == lo ? y[i + 1] - y[i] : i == hi - 1 ? y[i] - y[i - 1] : (y[i + 1] - y[i - 1]) / 2
        }
        return (lo..<hi).min { slope($0) < slope($1) }
    }
}

extension Trainer {
    /// Runs the range test on `data` in batches of batch_size, shuffled and augmented as epochs 1, 2, ...
    /// It changes the context's weights: make the trainer on a fresh session.
    public func rangeTest(_ data: Dataset, _ test: LRRangeTest = LRRangeTest()) throws -> LRRangeTest.Result {
        try Self.check(data, context.library, loss: config.loss)
        let n = data.count, bs = config.batchSize, perEpoch = (n + bs - 1) / bs
        var xb = [Float](repeating: 0, count: bs * context.library.inputSize), order: [Int] = [], k = 0
        return try test.run { lr in
            let epoch = k / perEpoch + 1, s = k % perEpoch
            if s == 0 { order = Self.order(count: n, epoch: epoch, seed: seed, shuffle: config.shuffle) }
            k += 1
            let idx = order[(s * bs)..<min(n, (s + 1) * bs)]
            gather(data, idx, epoch: epoch, into: &xb)
            learningRate = Float(lr)
            try context.setLearningRate(learningRate)
            do {
                return Double(try step(xb, batch: idx.count, examples: idx, data: data, accuracy: false).loss)
            } catch let e as NNCCError where e.code == ModelLibrary.errorNonFinite {
                return nil
            }
        }
    }
}
