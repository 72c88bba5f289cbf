import Foundation

extension GradientBalancing {
    /// CAGrad (Liu, Liu, Jin, Stone and Liu, NeurIPS 2021): the direction within a ball of radius
    /// c |g0| around the mean gradient g0 that maximises the worst task's improvement. Its dual
    /// minimises F(w) = w^T M 1/T + c |g0| sqrt(w^T M w) over the simplex (solved here by projected
    /// gradient descent with backtracking); then d = g0 + (c |g0| / |g_w|) g_w, divided by
    /// 1 + c^2 when `rescale` (the reference implementation's default).
    public static func cagrad(gram m: [Double], tasks t: Int, c: Double, rescale: Bool = true, iterations: Int = 500) -> [Double] {
        let mean = 1 / Double(t)
        var g0sq = 0.0
        for v in m { g0sq += v }
        g0sq *= mean * mean
        let radius = c * max(g0sq, 0).squareRoot()
        var coefficients = [Double](repeating: mean, count: t)
        if radius > 0 {
            var mb = [Double](repeating: 0, count: t)
            for i in 0..<t { for j in 0..<t { mb[i] += at(m, t, i, j) * mean } }
            func objective(_ w: [Double]) -> Double {
                var lin = 0.0
                for i in 0..<t { lin += w[i] * mb[i] }
                return lin + radius * (max(inner(w, w, m, t), 0) + 1e-12).squareRoot()
            }
            var w = [Double](repeating: mean, count: t)
            var f = objective(w)
            var step = 1 / max(m.map(abs).max() ?? 1, 1e-30)
            for _ in 0..<iterations {
                var mw = [Double](repeating: 0, count: t)
                for i in 0..<t { for j in 0..<t { mw[i] += at(m, t, i, j) * w[j] } }
                let norm = (max(inner(w, w, m, t), 0) + 1e-12).squareRoot()
                let grad = (0..<t).map { mb[$0] + radius * mw[$0] / norm }
                var accepted = false
                while step > 1e-20 {
                    let candidate = projectToSimplex((0..<t).map { w[$0] - step * grad[$0] })
                    let fc = objective(candidate)
                    if fc <= f - 1e-15 * abs(f) {
                        let moved = zip(candidate, w).reduce(0) { $0 + abs($1.0 - $1.1) }
                        w = candidate; f = fc; accepted = moved > 1e-14
                        step *= 2
                        break
                    }
                    step /= 2
                }
                if !accepted { break }
            }
            let gwNorm = max(inner(w, w, m, t), 0).squareRoot()
            let lambda = gwNorm > 0 ? radius / gwNorm : 0
            for i in 0..<t { coefficients[i] += lambda * w[i] }
        }
        if rescale { coefficients = coefficients.map { $0 / (1 + c * c) } }
        return coefficients
    }

    /// Euclidean projection onto the probability simplex (Duchi et al., ICML 2008).
    public static func projectToSimplex(_ v: [Double]) -> [Double] {
        let u = v.sorted(by: >)
        var cumulative = 0.0, theta = 0.0
        for (k, x) in u.enumerated() {
            cumulative += x
            let candidate = (cumulative - 1) / Double(k + 1)
            if x - candidate > 0 { theta = candidate }
        }
        return v.map { max($0 - theta, 0) }
    }

    
}

/// CAGrad (Liu et al., "Conflict-Averse Gradient Descent for Multi-task Learning", NeurIPS 2021).
public final class CAGrad: GradientWeighting {
    public var method: WeightingMethod { .cagrad }
    public let tasks: Int
    let c: Double
    let rescale: Bool

    public init(tasks: Int, c: Double, rescale: Bool) {
        self.tasks = tasks
        self.c = c
        self.rescale = rescale
    }

    public func coefficients(gram m: [Double], losses: [Double], step: Int, seed: UInt64, learningRate: Float) -> [Double] {
        GradientBalancing.cagrad(gram: m, tasks: tasks, c: c, rescale: rescale)
    }
}
