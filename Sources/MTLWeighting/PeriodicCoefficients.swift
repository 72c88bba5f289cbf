import Foundation
import MTLCore

/// A gradient method whose coefficients are recomputed every K steps and reused in between
/// (`weighting.update_every`), an approximation documented as such: Nash-MTL's reference
/// implementation offers the same (`update_weights_every`). A step that reuses them costs what
/// equal weighting costs: the tasks' losses scaled by the coefficients, one backward pass (the
/// trainer restores the task-specific parameters' own gradients), one all-reduce. Steps 1, K + 1,
/// 2K + 1, ... recompute; the coefficients are kept as 32-bit floats (as they scale the gradients)
/// and saved with the method's state, so a resumed run continues exactly.
public final class PeriodicCoefficients: GradientWeighting {
    public let inner: GradientWeighting
    public let every: Int
    private var cached: [Float]?

    public init(_ inner: GradientWeighting, every: Int) {
        self.inner = inner
        self.every = max(1, every)
    }

    public var method: WeightingMethod { inner.method }
    public var tasks: Int { inner.tasks }
    public var needsStepLosses: Bool { inner.needsStepLosses }

    public func coefficients(gram: [Double], losses: [Double], step: Int, seed: UInt64, learningRate: Float) -> [Double] {
        let c = inner.coefficients(gram: gram, losses: losses, step: step, seed: seed, learningRate: learningRate)
        cached = c.map { Float($0) }
        return c
    }

    /// The coefficients this step reuses; nil when it recomputes them (every K-th step, the
    /// first, or when a reused coefficient would be zero or not finite: a task-specific
    /// parameter's own gradient could not be told apart then).
    public func reusable(step: Int) -> [Double]? {
        guard (step - 1) % every != 0, let c = cached, c.allSatisfy({ $0 != 0 && $0.isFinite }) else { return nil }
        return c.map(Double.init)
    }

    public var state: [(name: String, values: [Float])] {
        inner.state + [("weighting.update_every.coefficients", cached ?? [Float](repeating: 0, count: tasks)),
                       ("weighting.update_every.valid", [cached == nil ? 0 : 1])]
    }

    public func restore(_ tensors: [String: [Float]]) throws {
        try inner.restore(tensors)
        let c = try take(tensors, "weighting.update_every.coefficients", tasks)
        cached = try take(tensors, "weighting.update_every.valid", 1)[0] != 0 ? c : nil
    }

    public func endEpoch(losses: [Double]) { inner.endEpoch(losses: losses) }
}
