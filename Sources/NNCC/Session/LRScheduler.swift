import Foundation

/// The learning rate of every optimizer step under a schedule, with
/// torch.optim.lr_scheduler's formulas (in Double, as Python computes them).
/// Epoch schedules give the rate of epoch e (from 0) to all its steps; step
/// schedules give step t (from 0) of the run. reduce_on_plateau keeps state,
/// which a checkpoint saves (`state`).
public struct LRScheduler: Equatable {
    public let schedule: LRSchedule?
    public let baseLR: Double
    /// Optimizer steps of the whole run (epochs × steps per epoch): the length of cosine and one_cycle.
    public let totalSteps: Int

    /// ReduceLROnPlateau's counters.
    public struct PlateauState: Equatable, Codable {
        public var lr: Double
        public var best = Double.infinity
        public var badEpochs = 0
        public var cooldownLeft = 0
    }
    public var plateau: PlateauState

    public init(_ schedule: LRSchedule?, baseLR: Double, totalSteps: Int) {
        (self.schedule, self.baseLR, self.totalSteps) = (schedule, baseLR, max(1, totalSteps))
        plateau = PlateauState(lr: baseLR)
    }

    /// The rate of optimizer step `step` (from 0 over the run), in epoch `epoch` (from 0).
    public func lr(epoch: Int, step: Int) -> Double {
        guard let schedule else { return baseLR }
        switch schedule {
        case let .step(size, gamma):
            return baseLR * pow(gamma, Double(epoch / size))
        case let .multiStep(milestones, gamma):
            return baseLR * pow(gamma, Double(milestones.filter { $0 <= epoch }.count))
        case let .exponential(gamma):
            return baseLR * pow(gamma, Double(epoch))
        case let .cosine(warmup, start, etaMin):
            let t = min(step, totalSteps - 1)
            if t < warmup { return baseLR * (start + (1 - start) * Double(t) / Double(warmup)) }
            let tMax = Double(max(1, totalSteps - warmup))
            return etaMin + (baseLR - etaMin) * (1 + cos(Double.pi * Double(t - warmup) / tMax)) / 2
        case let .oneCycle(c):
            return Self.oneCycle(c, maxLR: c.maxLR ?? baseLR, total: totalSteps, step: min(step, totalSteps - 1))
        case .reduceOnPlateau:
            return plateau.lr
        }
    }

    /// OneCycleLR.get_lr: phases end at pct_start·T − 1 (and 2·pct_start·T − 2 with three phases) and T − 1.
    static func oneCycle(_ c: LRSchedule.OneCycle, maxLR: Double, total: Int, step: Int) -> Double {
        let initial = maxLR / c.divFactor, minLR = initial / c.finalDivFactor, T = Double(total)
        let phases: [(end: Double, from: Double, to: Double)] = c.threePhase
            ? [(c.pctStart * T - 1, initial, maxLR), (2 * c.pctStart * T - 2, maxLR, initial), (T - 1, initial, minLR)]
            : [(c.pctStart * T - 1, initial, maxLR), (T - 1, maxLR, minLR)]
        var start = 0.0
        for (i, p) in phases.enumerated() {
            if Double(step) <= p.end || i == phases.count - 1 {
                let pct = (Double(step) - start) / (p.end - start)
                return c.linear ? (p.to - p.from) * pct + p.from : p.to + (p.from - p.to) / 2 * (cos(Double.pi * pct) + 1)
            }
            start = p.end
        }
        return minLR
    }

    /// ReduceLROnPlateau.step(val_loss) at the end of an epoch; other schedules ignore it.
    public mutating func epochEnded(validationLoss: Double?) {
        guard case let .reduceOnPlateau(p)? = schedule, let loss = validationLoss else { return }
        let better = p.relative ? loss < plateau.best * (1 - p.threshold) : loss < plateau.best - p.threshold
        if better { (plateau.best, plateau.badEpochs) = (loss, 0) } else { plateau.badEpochs += 1 }
        if plateau.cooldownLeft > 0 { plateau.cooldownLeft -= 1; plateau.badEpochs = 0 }
        if plateau.badEpochs > p.patience {
            let reduced = max(plateau.lr * p.factor, p.minLR)
            if plateau.lr - reduced > 1e-8 { plateau.lr = reduced }
            (plateau.cooldownLeft, plateau.badEpochs) = (p.cooldown, 0)
        }
    }
}
