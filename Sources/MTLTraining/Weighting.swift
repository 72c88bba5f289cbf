import Foundation
import MTLCore

/// How the tasks' losses and gradients are combined (the config's `weighting:` section).
public struct WeightingConfig: Sendable, Equatable {
    public var method: String
    /// `parameters`: task gradients on the shared parameters (exact); `representation`: on the
    /// shared representation (LibMTL's `rep_grad`, cheaper, an approximation).
    public var gradients: String
    public var dwaTemperature: Double
    public var gradnormAlpha: Double
    public var gradvacBeta: Double
    public var cagradC: Double
    public var cagradRescale: Bool
    public var mgdaNormalization: String

    public static let `default` = WeightingConfig(method: "fixed", gradients: "parameters", dwaTemperature: 2, gradnormAlpha: 1.5,
                                                  gradvacBeta: 0.01, cagradC: 0.4, cagradRescale: true, mgdaNormalization: "none")

    public static let lossMethods = ["fixed", "equal", "uncertainty", "dwa", "rlw", "gls"]
    public static let gradientMethods = ["gradnorm", "mgda", "pcgrad", "gradvac", "cagrad", "imtl-g", "nash-mtl", "aligned-mtl", "upgrad"]
    public static var methods: [String] { lossMethods + gradientMethods }
    public var usesGradients: Bool { Self.gradientMethods.contains(method) }
}

/// A task-weighting method and its state. Loss methods give weights that scale each task's loss
/// before the one backward pass; gradient methods get the Gram matrix of the task gradients
/// (identical on every rank, see `GradientBalancing`) and return the coefficients of the
/// combined shared gradient, while task-specific parameters keep their own task's gradient
/// (as LibMTL does). Every random choice is drawn from (seed, step), so every rank draws the same.
public final class TaskWeighting {
    public let config: WeightingConfig
    public let tasks: Int
    let fixed: [Double]
    let optimizer: Optimizer
    /// Learnable values: uncertainty weighting's log variances s_t, GradNorm's weight logits.
    var learnable: [Float]
    var learnableState: [Float]
    /// GradNorm: each task's loss at the first step.
    var initialLosses: [Float]
    /// GradVac: the pairs' target similarities (T x T).
    var targets: [Float]
    /// DWA: the mean training loss of each task in the last two epochs (older first), and how
    /// many epochs are recorded (at most 2).
    var history: [Float]
    var epochsRecorded = 0
    var epochSums: [Double]
    var epochSteps = 0

    /// `weights`: each task's fixed weight (used by method `fixed`).
    public init(_ config: WeightingConfig, weights: [Double], optimizer: Optimizer) {
        self.config = config
        self.tasks = weights.count
        self.optimizer = optimizer
        let t = weights.count
        fixed = config.method == "fixed" ? weights : [Double](repeating: 1, count: t)
        // LibMTL initialises the log variances at -0.5, GradNorm's logits at 0 (equal weights).
        learnable = [Float](repeating: config.method == "uncertainty" ? -0.5 : 0, count: ["uncertainty", "gradnorm"].contains(config.method) ? t : 0)
        learnableState = [Float](repeating: 0, count: learnable.count * optimizer.stateMultiplier)
        // Kept in Float, as checkpoints store them, so that a resumed run continues exactly.
        initialLosses = config.method == "gradnorm" ? [Float](repeating: .nan, count: t) : []
        targets = config.method == "gradvac" ? [Float](repeating: 0, count: t * t) : []
        history = config.method == "dwa" ? [Float](repeating: 0, count: 2 * t) : []
        epochSums = [Double](repeating: 0, count: t)
    }

    /// Whether the global per-task losses of each step are needed (one all-reduce of T doubles).
    public var needsLosses: Bool { ["uncertainty", "gls", "gradnorm"].contains(config.method) || config.mgdaNormalization.hasPrefix("loss") && config.method == "mgda" }
    public var needsGradients: Bool { config.usesGradients }

    /// The extra communication per step, for the start-up log.
    public func communicationNote(sharedParameters: Int, representationWidth: Int?) -> String {
        let t = tasks
        var parts: [String] = []
        if needsLosses { parts.append("\(t) doubles (the step's task losses)") }
        if needsGradients {
            if let _ = representationWidth {
                parts.append("\(t * t) doubles (Gram matrix of the task gradients at the shared representation)")
            } else {
                let extra = (t - 1) * sharedParameters
                parts.append("\(extra) floats (\(String(format: "%.2f", Double(extra) * 4 / 1_048_576)) MiB: the \(t) x \(sharedParameters) task-gradient matrix in place of the summed shared gradient)")
            }
        }
        return parts.isEmpty ? "none" : parts.joined(separator: " + ")
    }

    /// Loss weights for this step (loss methods; 1 for gradient methods).
    public func lossWeights(step: Int, seed: UInt64, losses: [Double]?) -> [Double] {
        let t = tasks
        switch config.method {
        case "uncertainty":
            // Kendall, Gal and Cipolla, CVPR 2018, as LibMTL: L = sum_t L_t / (2 exp(s_t)) + s_t / 2.
            return learnable.map { 0.5 * exp(-Double($0)) }
        case "dwa":
            // Liu, Johns and Davison, CVPR 2019: w = T softmax(r / temperature), r_t = L_t(e-1) / L_t(e-2);
            // equal weights for the first two epochs.
            guard epochsRecorded >= 2 else { return [Double](repeating: 1, count: t) }
            let r = (0..<t).map { Double(history[t + $0]) / max(Double(history[$0]), 1e-20) / config.dwaTemperature }
            return softmax(r).map { $0 * Double(t) }
        case "rlw":
            // Lin et al., TMLR 2022: w = softmax(z), z ~ N(0, 1) per task, drawn anew each step.
            var rng = SplitMix64(seed: SplitMix64.mix(seed ^ 0x5A17_0000_0000_0000 ^ UInt64(step)))
            return softmax((0..<t).map { _ in Double(rng.nextNormal()) })
        case "gls":
            // Chennupati et al., CVPR Workshops 2019: L = (prod L_t)^(1/T), so w_t = L / (T L_t).
            guard let l = losses, l.allSatisfy({ $0 > 0 }) else { return [Double](repeating: 1, count: t) }
            let geometric = exp(l.reduce(0) { $0 + log($1) } / Double(t))
            return l.map { geometric / (Double(t) * $0) }
        case "fixed", "equal": return fixed
        default: return [Double](repeating: 1, count: t)
        }
    }

    /// Coefficients of the combined shared gradient from the Gram matrix of the (unweighted) task
    /// gradients. GradNorm also updates its weights here.
    public func combine(gram m: [Double], losses: [Double], step: Int, seed: UInt64, learningRate: Float) -> [Double] {
        let t = tasks
        let orders = { (0..<t).map { i in seededPermutation(t, seed: SplitMix64.mix(seed ^ 0x9C6A_D000 ^ UInt64(step) &* 0x1_0000 ^ UInt64(i))) } }
        switch config.method {
        case "mgda":
            let norms: [Double] = (0..<t).map { i in
                let g = max(m[i * t + i], 0).squareRoot()
                switch config.mgdaNormalization {
                case "l2": return g
                case "loss": return losses[i]
                case "loss+": return losses[i] * g
                default: return 1
                }
            }.map { $0 > 0 ? $0 : 1 }
            var scaled = m
            for i in 0..<t { for j in 0..<t { scaled[i * t + j] /= norms[i] * norms[j] } }
            return zip(GradientBalancing.mgda(gram: scaled, tasks: t), norms).map { $0 / $1 }
        case "pcgrad": return GradientBalancing.pcgrad(gram: m, tasks: t, orders: orders())
        case "gradvac":
            var target = targets.map(Double.init)
            let c = GradientBalancing.gradvac(gram: m, tasks: t, orders: orders(), targets: &target, beta: config.gradvacBeta)
            targets = target.map(Float.init)
            return c
        case "cagrad": return GradientBalancing.cagrad(gram: m, tasks: t, c: config.cagradC, rescale: config.cagradRescale)
        case "imtl-g": return GradientBalancing.imtlG(gram: m, tasks: t) ?? [Double](repeating: 1, count: t)
        case "nash-mtl": return GradientBalancing.nashMTL(gram: m, tasks: t)
        case "aligned-mtl": return GradientBalancing.alignedMTL(gram: m, tasks: t)
        case "upgrad": return GradientBalancing.upgrad(gram: m, tasks: t)
        case "gradnorm": return gradNorm(gram: m, losses: losses, step: step, learningRate: learningRate)
        default: return [Double](repeating: 1, count: t)
        }
    }

    /// GradNorm (Chen, Badrinarayanan, Lee and Rabinovich, ICML 2018): weights w = T softmax(theta)
    /// (LibMTL's parametrisation, so they sum to T); the shared gradient is sum_t w_t g_t, and
    /// theta descends sum_t |w_t |g_t| - mean_k(w_k |g_k|) r_t^alpha| with r_t the task's loss
    /// ratio to its first-step loss relative to the mean ratio (the target held constant).
    func gradNorm(gram m: [Double], losses: [Double], step: Int, learningRate: Float) -> [Double] {
        let t = tasks
        if initialLosses.contains(where: { $0.isNaN }) { initialLosses = losses.map(Float.init) }
        let w = softmax(learnable.map(Double.init)).map { $0 * Double(t) }
        let norms = (0..<t).map { max(m[$0 * t + $0], 0).squareRoot() }
        let weighted = (0..<t).map { w[$0] * norms[$0] }
        let meanNorm = weighted.reduce(0, +) / Double(t)
        let ratios = (0..<t).map { initialLosses[$0] > 0 ? losses[$0] / Double(initialLosses[$0]) : 1 }
        let meanRatio = ratios.reduce(0, +) / Double(t)
        let dw = (0..<t).map { i -> Double in
            let target = meanNorm * pow(meanRatio > 0 ? ratios[i] / meanRatio : 1, config.gradnormAlpha)
            let diff = weighted[i] - target
            return (diff > 0 ? 1 : diff < 0 ? -1 : 0) * norms[i]
        }
        // Through w = T softmax(theta): d/dtheta_k = w_k (dw_k - sum_t dw_t w_t / T).
        let average = (0..<t).reduce(0) { $0 + dw[$1] * w[$1] } / Double(t)
        let gradient = (0..<t).map { Float(w[$0] * (dw[$0] - average)) }
        updateLearnable(gradient, learningRate: learningRate, step: step)
        return w
    }

    /// After the step's backward pass: uncertainty weighting's log variances take their step.
    public func afterStep(losses: [Double], step: Int, learningRate: Float) {
        guard config.method == "uncertainty" else { return }
        // dL/ds_t = 1/2 - L_t / (2 exp(s_t))
        let gradient = (0..<tasks).map { Float(0.5 - losses[$0] * 0.5 * exp(-Double(learnable[$0]))) }
        updateLearnable(gradient, learningRate: learningRate, step: step)
    }

    func updateLearnable(_ gradient: [Float], learningRate: Float, step: Int) {
        learnable.withUnsafeMutableBufferPointer { p in
            gradient.withUnsafeBufferPointer { g in
                learnableState.withUnsafeMutableBufferPointer { s in
                    optimizer.update(parameters: p.baseAddress!, gradients: g.baseAddress!, state: s.baseAddress!,
                                     count: p.count, learningRate: learningRate, step: step)
                }
            }
        }
    }

    /// Records the step's effective weights for the epoch's mean.
    func record(_ weights: [Double]) {
        for i in 0..<tasks { epochSums[i] += weights[i] }
        epochSteps += 1
    }

    /// The mean effective weight of each task over the epoch; resets the sums. `losses` are the
    /// epoch's mean training losses (DWA keeps the last two).
    public func endEpoch(losses: [Double]) -> [Double] {
        let means = epochSums.map { epochSteps > 0 ? $0 / Double(epochSteps) : .nan }
        for i in 0..<tasks { epochSums[i] = 0 }
        epochSteps = 0
        if config.method == "dwa" {
            for i in 0..<tasks { history[i] = history[tasks + i]; history[tasks + i] = Float(losses[i]) }
            epochsRecorded = min(2, epochsRecorded + 1)
        }
        return means
    }

    /// The method's state as named tensors for checkpoints (empty when it has none).
    public var state: [(name: String, values: [Float])] {
        var s: [(String, [Float])] = []
        if !learnable.isEmpty {
            s.append(("weighting.\(config.method).parameters", learnable))
            s.append(("weighting.\(config.method).optimizer_state", learnableState))
        }
        if !initialLosses.isEmpty { s.append(("weighting.gradnorm.initial_losses", initialLosses)) }
        if !targets.isEmpty { s.append(("weighting.gradvac.targets", targets)) }
        if !history.isEmpty { s.append(("weighting.dwa.history", history + [Float(epochsRecorded)])) }
        return s
    }

    /// Restores `state` (same names and sizes).
    public func restore(_ tensors: [String: [Float]]) throws {
        func take(_ name: String, _ count: Int) throws -> [Float] {
            guard let v = tensors[name], v.count == count else {
                throw UserError("the checkpoint lacks tensor '\(name)' of \(count) values that weighting.method \(config.method) keeps",
                                hint: "resume with the weighting the run started with")
            }
            return v
        }
        if !learnable.isEmpty {
            learnable = try take("weighting.\(config.method).parameters", learnable.count)
            learnableState = try take("weighting.\(config.method).optimizer_state", learnableState.count)
        }
        if !initialLosses.isEmpty { initialLosses = try take("weighting.gradnorm.initial_losses", tasks) }
        if !targets.isEmpty { targets = try take("weighting.gradvac.targets", tasks * tasks) }
        if !history.isEmpty {
            let h = try take("weighting.dwa.history", 2 * tasks + 1)
            history = Array(h.prefix(2 * tasks)); epochsRecorded = Int(h[2 * tasks])
        }
    }

    /// The whole state flattened (for the start-up broadcast from rank 0), and back.
    var flatState: [Float] { state.flatMap(\.values) }
    func setFlatState(_ flat: [Float]) {
        var offset = 0
        var named: [String: [Float]] = [:]
        for (name, values) in state { named[name] = Array(flat[offset..<(offset + values.count)]); offset += values.count }
        try? restore(named)
    }
}

func softmax(_ x: [Double]) -> [Double] {
    let m = x.max() ?? 0
    let e = x.map { exp($0 - m) }
    let s = e.reduce(0, +)
    return e.map { $0 / s }
}
