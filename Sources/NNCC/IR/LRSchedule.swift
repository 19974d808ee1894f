/// A learning-rate schedule of the train section (`"lr_schedule"`), with
/// torch.optim.lr_scheduler's parameters and defaults. step, multi_step,
/// exponential and reduce_on_plateau change the rate once per epoch (where
/// PyTorch's examples call `scheduler.step()`); cosine (after an optional
/// linear warm-up) and one_cycle once per optimizer step over the whole run.
public enum LRSchedule: Equatable {
    /// StepLR: lr · gamma^⌊epoch / stepSize⌋.
    case step(stepSize: Int, gamma: Double)
    /// MultiStepLR: lr · gamma^(milestones passed).
    case multiStep(milestones: [Int], gamma: Double)
    /// ExponentialLR: lr · gamma^epoch.
    case exponential(gamma: Double)
    /// LinearLR(startFactor → 1 over warmupSteps), then CosineAnnealingLR(T_max = the remaining steps, etaMin),
    /// chained as SequentialLR does.
    case cosine(warmupSteps: Int, warmupStartFactor: Double, etaMin: Double)
    /// OneCycleLR with cycle_momentum=False (momentum and betas are compiled in); maxLR nil = the optimizer's lr.
    case oneCycle(OneCycle)
    /// ReduceLROnPlateau in mode "min" on the validation loss.
    case reduceOnPlateau(Plateau)

    public struct OneCycle: Equatable {
        public var maxLR: Double?
        public var pctStart = 0.3
        public var divFactor = 25.0
        public var finalDivFactor = 1e4
        public var linear = false
        public var threePhase = false
        public init() {}
    }

    public struct Plateau: Equatable {
        public var factor = 0.1
        public var patience = 10
        public var threshold = 1e-4
        public var relative = true
        public var cooldown = 0
        public var minLR = 0.0
        public init() {}
    }

    /// Whether the rate changes every optimizer step (else once per epoch).
    public var perStep: Bool {
        switch self {
        case .cosine, .oneCycle: return true
        default: return false
        }
    }

    public var needsValidation: Bool {
        if case .reduceOnPlateau = self { return true }
        return false
    }
}
