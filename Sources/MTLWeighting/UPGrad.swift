import Foundation

extension GradientBalancing {
    /// UPGrad (Quinton and Rey, 2024, arXiv:2406.16232): each task gradient, scaled by 1/T, is
    /// projected onto the dual cone of the task gradients {d : <g_t, d> >= 0 for all t}, and the
    /// projections are summed. The projection of G^T u has weights argmin_{v >= u} v^T M v, a
    /// box-constrained convex quadratic program solved here by exact coordinate descent. The
    /// result has a non-negative inner product with every task gradient.
    public static func upgrad(gram m: [Double], tasks t: Int, sweeps: Int = 10_000) -> [Double] {
        let scale = (0..<t).reduce(0) { $0 + at(m, t, $1, $1) } / Double(t)
        guard scale > 0 else { return [Double](repeating: 1 / Double(t), count: t) }
        let g = m.map { $0 / scale }
        var total = [Double](repeating: 0, count: t)
        for i in 0..<t {
            var lower = [Double](repeating: 0, count: t)
            lower[i] = 1 / Double(t)
            var v = lower
            for _ in 0..<sweeps {
                var change = 0.0
                for k in 0..<t {
                    let gkk = at(g, t, k, k)
                    guard gkk > 0 else { continue }
                    var mv = 0.0
                    for j in 0..<t { mv += at(g, t, k, j) * v[j] }
                    let next = max(lower[k], v[k] - mv / gkk)
                    change = max(change, abs(next - v[k]))
                    v[k] = next
                }
                if change < 1e-15 { break }
            }
            for k in 0..<t { total[k] += v[k] }
        }
        return total
    }
}

/// UPGrad (Quinton and Rey, "Jacobian Descent for Multi-Objective Optimization", 2024).
public final class UPGrad: GradientWeighting {
    public var method: WeightingMethod { .upgrad }
    public let tasks: Int
    public init(tasks: Int) { self.tasks = tasks }

    public func coefficients(gram m: [Double], losses: [Double], step: Int, seed: UInt64, learningRate: Float) -> [Double] {
        GradientBalancing.upgrad(gram: m, tasks: tasks)
    }
}
