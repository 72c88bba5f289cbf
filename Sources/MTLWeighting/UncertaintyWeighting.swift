import MTLCore

import Foundation

/// Uncertainty weighting (Kendall, Gal and Cipolla, "Multi-Task Learning Using Uncertainty to
/// Weigh Losses", CVPR 2018), as LibMTL: L = sum_t L_t / (2 exp(s_t)) + s_t / 2 with learned log
/// variances s_t, initialised at -0.5 as LibMTL does.
public final class UncertaintyWeighting: LossWeighting {
    public var method: WeightingMethod { .uncertainty }
    public let tasks: Int
    let logVariances: LearnedValues

    public init(tasks: Int, optimizer: Optimizer) {
        self.tasks = tasks
        logVariances = LearnedValues(count: tasks, initial: -0.5, optimizer: optimizer)
    }

    public var needsStepLosses: Bool { true }

    public func weights(step: Int, seed: UInt64, losses: [Double]) -> [Double] {
        logVariances.values.map { 0.5 * exp(-Double($0)) }
    }

    /// The log variances take their step: dL/ds_t = 1/2 - L_t / (2 exp(s_t)).
    public func afterStep(losses: [Double], step: Int, learningRate: Float) {
        let s = logVariances.values
        let gradient = (0..<tasks).map { Float(0.5 - losses[$0] * 0.5 * exp(-Double(s[$0]))) }
        logVariances.update(gradient, learningRate: learningRate, step: step)
    }

    public var state: [(name: String, values: [Float])] { logVariances.state(method) }

    public func restore(_ tensors: [String: [Float]]) throws {
        let names = logVariances.state(method)
        logVariances.values = try take(tensors, names[0].name, tasks)
        logVariances.optimizerState = try take(tensors, names[1].name, logVariances.optimizerState.count)
    }
}
