import Foundation

extension GradientBalancing {
    /// GradVac (Wang, Tsvetkov, Firat and Cao, ICLR 2021): like PCGrad, but each pair's cosine
    /// similarity is raised to an adaptive target, an exponential moving average (rate `beta`) of
    /// the pair's observed similarity, kept in `targets` (T x T, updated in place).
    public static func gradvac(gram m: [Double], tasks t: Int, orders: [[Int]], targets: inout [Double], beta: Double) -> [Double] {
        var total = [Double](repeating: 0, count: t)
        for i in 0..<t {
            var row = [Double](repeating: 0, count: t)
            row[i] = 1
            for j in orders[i] where j != i {
                let gjj = at(m, t, j, j)
                var e = [Double](repeating: 0, count: t); e[j] = 1
                let normI = max(inner(row, row, m, t), 0).squareRoot(), normJ = gjj.squareRoot()
                guard normI > 0, normJ > 0 else { continue }
                let rho = inner(row, e, m, t) / (normI * normJ)
                let target = targets[i * t + j]
                if rho < target {
                    let w = normI * (target * max(0, 1 - rho * rho).squareRoot() - rho * max(0, 1 - target * target).squareRoot())
                        / (normJ * max(0, 1 - target * target).squareRoot() + 1e-12)
                    row[j] += w
                }
                targets[i * t + j] = (1 - beta) * target + beta * rho
            }
            for k in 0..<t { total[k] += row[k] }
        }
        return total
    }

    
}

/// GradVac (Wang, Tsvetkov, Firat and Cao, "Gradient Vaccine", ICLR 2021): PCGrad towards
/// per-pair similarity targets kept as moving averages (checkpointed as `weighting.gradvac.targets`).
public final class GradVac: GradientWeighting {
    public var method: WeightingMethod { .gradvac }
    public let tasks: Int
    let beta: Double
    /// The pairs' target similarities (T x T), in Float as checkpoints store them.
    var targets: [Float]

    public init(tasks: Int, beta: Double) {
        self.tasks = tasks
        self.beta = beta
        targets = [Float](repeating: 0, count: tasks * tasks)
    }

    public func coefficients(gram m: [Double], losses: [Double], step: Int, seed: UInt64, learningRate: Float) -> [Double] {
        var target = targets.map(Double.init)
        let c = GradientBalancing.gradvac(gram: m, tasks: tasks, orders: GradientBalancing.taskOrders(tasks: tasks, step: step, seed: seed),
                                          targets: &target, beta: beta)
        targets = target.map(Float.init)
        return c
    }

    public var state: [(name: String, values: [Float])] { [("weighting.gradvac.targets", targets)] }

    public func restore(_ tensors: [String: [Float]]) throws {
        targets = try take(tensors, "weighting.gradvac.targets", tasks * tasks)
    }
}
