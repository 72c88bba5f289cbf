import Foundation
import MTLCore

/// A task-weighting method and its state. Every random choice is drawn from (seed, step), and
/// every input is identical on every rank (the global batch's losses, the Gram matrix of its
/// task gradients), so every rank computes the same weights.
public protocol TaskWeighting: AnyObject {
    var method: WeightingMethod { get }
    /// Whether it scales the losses or combines the gradients (given by the two protocols below).
    var role: WeightingRole { get }
    var tasks: Int { get }
    /// Whether each step needs the global per-task losses (one all-reduce of T doubles).
    var needsStepLosses: Bool { get }
    /// The method's state as named tensors for checkpoints (empty when it has none).
    var state: [(name: String, values: [Float])] { get }
    /// Restores `state` (same names and sizes).
    func restore(_ tensors: [String: [Float]]) throws
    /// After each epoch, with its mean training loss per task.
    func endEpoch(losses: [Double])
    /// Whether it needs the global batch's task losses again after the optimizer's update (one
    /// more forward pass of the same batch), given to `afterUpdate`.
    var needsLossesAfterUpdate: Bool { get }
    func afterUpdate(losses: [Double])
}

/// Loss methods: weights that scale each task's loss before the one backward pass.
public protocol LossWeighting: TaskWeighting {
    /// This step's weights; `losses` are the global batch's task losses when
    /// `needsStepLosses`, else this rank's share.
    func weights(step: Int, seed: UInt64, losses: [Double]) -> [Double]
    /// After the step's backward pass (learned weights take their step here).
    func afterStep(losses: [Double], step: Int, learningRate: Float)
}

/// Gradient methods: coefficients c of the combined shared gradient sum_t c_t g_t, from the
/// Gram matrix of the (unweighted) task gradients; task-specific parameters keep their own
/// task's gradient (as LibMTL does).
public protocol GradientWeighting: TaskWeighting {
    func coefficients(gram: [Double], losses: [Double], step: Int, seed: UInt64, learningRate: Float) -> [Double]
}

/// The two kinds of method, for an exhaustive switch where the trainer uses them.
public enum WeightingRole {
    case losses(LossWeighting)
    case gradients(GradientWeighting)
}

extension LossWeighting {
    public var role: WeightingRole { .losses(self) }
}

extension GradientWeighting {
    public var role: WeightingRole { .gradients(self) }
}

extension TaskWeighting {
    /// Whether it combines the tasks' gradients (one backward pass per task).
    public var combinesGradients: Bool {
        if case .gradients = role { return true }
        return false
    }

    public var needsStepLosses: Bool { false }
    public var needsLossesAfterUpdate: Bool { false }
    public func afterUpdate(losses: [Double]) {}
    public var state: [(name: String, values: [Float])] { [] }
    public func restore(_ tensors: [String: [Float]]) throws {}
    public func endEpoch(losses: [Double]) {}

    /// The whole state flattened (for the start-up broadcast from rank 0), and back.
    public var flatState: [Float] { state.flatMap(\.values) }
    public func setFlatState(_ flat: [Float]) throws {
        var offset = 0
        var named: [String: [Float]] = [:]
        for (name, values) in state {
            named[name] = Array(flat[offset..<(offset + values.count)])
            offset += values.count
        }
        try restore(named)
    }

    /// A state tensor of `tensors` with the given name and size, or an error naming it.
    func take(_ tensors: [String: [Float]], _ name: String, _ count: Int) throws -> [Float] {
        guard let v = tensors[name], v.count == count else {
            throw UserError("the checkpoint lacks tensor '\(name)' of \(count) values that weighting.method \(method.rawValue) keeps",
                            hint: "resume with the weighting the run started with")
        }
        return v
    }
}

extension LossWeighting {
    public func afterStep(losses: [Double], step: Int, learningRate: Float) {}
}

/// Builds the method a config names. `taskWeights` are the tasks' fixed `weight`s (used by
/// `fixed`); `optimizer` updates learned weights (uncertainty, GradNorm) as it does the model.
public func makeWeighting(_ config: WeightingConfig, taskWeights: [Double], optimizer: Optimizer) -> TaskWeighting {
    let method = makeMethod(config, taskWeights: taskWeights, optimizer: optimizer)
    if config.updateEvery > 1, let g = method as? GradientWeighting { return PeriodicCoefficients(g, every: config.updateEvery) }
    return method
}

func makeMethod(_ config: WeightingConfig, taskWeights: [Double], optimizer: Optimizer) -> TaskWeighting {
    let t = taskWeights.count
    switch config.method {
    case .fixed: return FixedWeighting(method: .fixed, weights: taskWeights)
    case .equal: return FixedWeighting(method: .equal, weights: [Double](repeating: 1, count: t))
    case .uncertainty: return UncertaintyWeighting(tasks: t, optimizer: optimizer)
    case .dwa: return DynamicWeightAverage(tasks: t, temperature: config.dwaTemperature)
    case .rlw: return RandomLossWeighting(tasks: t)
    case .gls: return GeometricLossStrategy(tasks: t)
    case .famo: return FAMO(tasks: t, learningRate: config.famoLearningRate, decay: config.famoDecay)
    case .gradnorm: return GradNorm(tasks: t, alpha: config.gradnormAlpha, optimizer: optimizer)
    case .mgda: return MGDA(tasks: t, normalization: config.mgdaNormalization)
    case .pcgrad: return PCGrad(tasks: t)
    case .gradvac: return GradVac(tasks: t, beta: config.gradvacBeta)
    case .cagrad: return CAGrad(tasks: t, c: config.cagradC, rescale: config.cagradRescale)
    case .imtlG: return IMTLG(tasks: t)
    case .nashMTL: return NashMTL(tasks: t)
    case .alignedMTL: return AlignedMTL(tasks: t)
    case .upgrad: return UPGrad(tasks: t)
    }
}

/// Learned task-weight values and their optimizer state, updated with the run's optimizer
/// rule. Kept in Float, as checkpoints store them, so that a resumed run continues exactly.
final class LearnedValues {
    var values: [Float]
    var optimizerState: [Float]
    let optimizer: Optimizer

    init(count: Int, initial: Float, optimizer: Optimizer) {
        values = [Float](repeating: initial, count: count)
        optimizerState = [Float](repeating: 0, count: count * optimizer.stateMultiplier)
        self.optimizer = optimizer
    }

    func update(_ gradient: [Float], learningRate: Float, step: Int) {
        let optimizer = self.optimizer
        values.withUnsafeMutableBufferPointer { p in
            gradient.withUnsafeBufferPointer { g in
                optimizerState.withUnsafeMutableBufferPointer { s in
                    guard let pp = p.baseAddress, let gp = g.baseAddress, let sp = s.baseAddress else { return }
                    optimizer.update(parameters: pp, gradients: gp, state: sp, count: p.count, learningRate: learningRate, step: step)
                }
            }
        }
    }

    func state(_ method: WeightingMethod) -> [(name: String, values: [Float])] {
        [("weighting.\(method.rawValue).parameters", values), ("weighting.\(method.rawValue).optimizer_state", optimizerState)]
    }
}

/// The mean effective weight of each task over an epoch (for gradient methods, the
/// coefficients c_t), as `metrics.jsonl` records it.
public struct EpochWeights {
    var sums: [Double]
    var steps = 0
    public init(tasks: Int) { sums = [Double](repeating: 0, count: tasks) }

    /// The partial sums of an epoch in progress (saved with a mid-epoch checkpoint).
    public var partial: (sums: [Double], steps: Int) {
        get { (sums, steps) }
        set { if newValue.sums.count == sums.count { sums = newValue.sums; steps = newValue.steps } }
    }

    public mutating func record(_ weights: [Double]) {
        for i in sums.indices { sums[i] += weights[i] }
        steps += 1
    }

    /// The means since the last call; resets the sums.
    public mutating func takeMeans() -> [Double] {
        let means = sums.map { steps > 0 ? $0 / Double(steps) : .nan }
        for i in sums.indices { sums[i] = 0 }
        steps = 0
        return means
    }
}

func softmax(_ x: [Double]) -> [Double] {
    let m = x.max() ?? 0
    let e = x.map { exp($0 - m) }
    let s = e.reduce(0, +)
    return e.map { $0 / s }
}
