import Foundation

extension GradientBalancing {
    /// PCGrad (Yu et al., NeurIPS 2020): each task's gradient, for the other tasks in a random
    /// order (`orders[i]`), loses its component along an other task's gradient when the two
    /// conflict (negative inner product); the results are summed.
    public static func pcgrad(gram m: [Double], tasks t: Int, orders: [[Int]]) -> [Double] {
        var total = [Double](repeating: 0, count: t)
        for i in 0..<t {
            var row = [Double](repeating: 0, count: t)
            row[i] = 1
            for j in orders[i] where j != i {
                let gjj = at(m, t, j, j)
                guard gjj > 0 else { continue }
                var e = [Double](repeating: 0, count: t); e[j] = 1
                let dot = inner(row, e, m, t)
                if dot < 0 { row[j] -= dot / gjj }
            }
            for k in 0..<t { total[k] += row[k] }
        }
        return total
    }
}

/// PCGrad (Yu et al., "Gradient Surgery for Multi-Task Learning", NeurIPS 2020), with the
/// order of the other tasks drawn from (seed, step).
public final class PCGrad: GradientWeighting {
    public var method: WeightingMethod { .pcgrad }
    public let tasks: Int
    public init(tasks: Int) { self.tasks = tasks }

    public func coefficients(gram m: [Double], losses: [Double], step: Int, seed: UInt64, learningRate: Float) -> [Double] {
        GradientBalancing.pcgrad(gram: m, tasks: tasks, orders: GradientBalancing.taskOrders(tasks: tasks, step: step, seed: seed))
    }
}
