/// Fixed weights: `fixed` scales each task's loss by its configured `weight`; `equal` is the plain
/// sum of the task losses (every weight 1).
public final class FixedWeighting: LossWeighting {
    public let method: WeightingMethod
    public var tasks: Int { fixed.count }
    let fixed: [Double]

    public init(method: WeightingMethod, weights: [Double]) {
        self.method = method
        fixed = weights
    }

    public func weights(step: Int, seed: UInt64, losses: [Double]) -> [Double] { fixed }
}
