import Foundation

/// Geometric loss strategy (Chennupati et al., "MultiNet++: Multi-Stream Feature Aggregation and
/// Geometric Loss Strategy for Multi-Task Learning", CVPR Workshops 2019): L = (prod_t L_t)^(1/T),
/// whose gradient is that of sum_t w_t L_t with w_t = L / (T L_t).
public final class GeometricLossStrategy: LossWeighting {
    public var method: WeightingMethod { .gls }
    public let tasks: Int

    public init(tasks: Int) { self.tasks = tasks }

    public var needsStepLosses: Bool { true }

    public func weights(step: Int, seed: UInt64, losses l: [Double]) -> [Double] {
        guard l.allSatisfy({ $0 > 0 }) else { return [Double](repeating: 1, count: tasks) }
        let geometric = exp(l.reduce(0) { $0 + log($1) } / Double(tasks))
        return l.map { geometric / (Double(tasks) * $0) }
    }
}
