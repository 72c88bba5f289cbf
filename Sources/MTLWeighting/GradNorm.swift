import Foundation
import MTLCore

/// GradNorm (Chen, Badrinarayanan, Lee and Rabinovich, "GradNorm: Gradient Normalization for
/// Adaptive Loss Balancing in Deep Multitask Networks", ICML 2018): weights w = T softmax(theta)
/// (LibMTL's parametrisation, so they sum to T); the shared gradient is sum_t w_t g_t, and theta
/// descends sum_t |w_t |g_t| - mean_k(w_k |g_k|) r_t^alpha| with r_t the task's loss ratio to its
/// first-step loss relative to the mean ratio (the target held constant).
public final class GradNorm: GradientWeighting {
    public var method: WeightingMethod { .gradnorm }
    public let tasks: Int
    let alpha: Double
    /// The weight logits theta, initialised at 0 (equal weights).
    let logits: LearnedValues
    /// Each task's loss at the first step (NaN until then).
    var initialLosses: [Float]

    public init(tasks: Int, alpha: Double, optimizer: Optimizer) {
        self.tasks = tasks
        self.alpha = alpha
        logits = LearnedValues(count: tasks, initial: 0, optimizer: optimizer)
        initialLosses = [Float](repeating: .nan, count: tasks)
    }

    public var needsStepLosses: Bool { true }

    public func coefficients(gram m: [Double], losses: [Double], step: Int, seed: UInt64, learningRate: Float) -> [Double] {
        let t = tasks
        if initialLosses.contains(where: { $0.isNaN }) { initialLosses = losses.map(Float.init) }
        let w = softmax(logits.values.map(Double.init)).map { $0 * Double(t) }
        let norms = (0..<t).map { max(m[$0 * t + $0], 0).squareRoot() }
        let weighted = (0..<t).map { w[$0] * norms[$0] }
        let meanNorm = weighted.reduce(0, +) / Double(t)
        let ratios = (0..<t).map { initialLosses[$0] > 0 ? losses[$0] / Double(initialLosses[$0]) : 1 }
        let meanRatio = ratios.reduce(0, +) / Double(t)
        let dw = (0..<t).map { i -> Double in
            let target = meanNorm * pow(meanRatio > 0 ? ratios[i] / meanRatio : 1, alpha)
            let diff = weighted[i] - target
            return (diff > 0 ? 1 : diff < 0 ? -1 : 0) * norms[i]
        }
        // Through w = T softmax(theta): d/dtheta_k = w_k (dw_k - sum_t dw_t w_t / T).
        let average = (0..<t).reduce(0) { $0 + dw[$1] * w[$1] } / Double(t)
        let gradient = (0..<t).map { Float(w[$0] * (dw[$0] - average)) }
        logits.update(gradient, learningRate: learningRate, step: step)
        return w
    }

    public var state: [(name: String, values: [Float])] {
        logits.state(method) + [("weighting.gradnorm.initial_losses", initialLosses)]
    }

    public func restore(_ tensors: [String: [Float]]) throws {
        let names = logits.state(method)
        logits.values = try take(tensors, names[0].name, tasks)
        logits.optimizerState = try take(tensors, names[1].name, logits.optimizerState.count)
        initialLosses = try take(tensors, "weighting.gradnorm.initial_losses", tasks)
    }
}
