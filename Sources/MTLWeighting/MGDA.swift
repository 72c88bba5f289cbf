import Foundation

extension GradientBalancing {
    /// The min-norm point of the segment [v1, v2] given <v1,v1>, <v1,v2>, <v2,v2>: the weight
    /// gamma of v1 (and 1 - gamma of v2) and the squared norm there.
    static func minNormOfTwo(_ v11: Double, _ v12: Double, _ v22: Double) -> (gamma: Double, cost: Double) {
        if v12 >= v11 { return (1, v11) }
        if v12 >= v22 { return (0, v22) }
        let gamma = (v22 - v12) / (v11 + v22 - 2 * v12)
        return (gamma, v22 + gamma * (v12 - v22))
    }

    /// MGDA (Sener and Koltun, NeurIPS 2018): the minimum-norm point of the convex hull of the task
    /// gradients, by their Frank-Wolfe solver (start from the best pair, then line searches towards
    /// the vertex of least gradient). Returns the convex weights.
    public static func mgda(gram m: [Double], tasks t: Int, iterations: Int = 250, tolerance: Double = 1e-10) -> [Double] {
        if t == 1 { return [1] }
        var best = (i: 0, j: 1, gamma: 0.0, cost: Double.infinity)
        for i in 0..<t {
            for j in (i + 1)..<t {
                let r = minNormOfTwo(at(m, t, i, i), at(m, t, i, j), at(m, t, j, j))
                if r.cost < best.cost { best = (i, j, r.gamma, r.cost) }
            }
        }
        var sol = [Double](repeating: 0, count: t)
        sol[best.i] = best.gamma; sol[best.j] = 1 - best.gamma
        if t == 2 { return sol }
        for _ in 0..<iterations {
            var ms = [Double](repeating: 0, count: t)
            for i in 0..<t { for j in 0..<t { ms[i] += at(m, t, i, j) * sol[j] } }
            let vertex = ms.indices.min { ms[$0] < ms[$1] }!
            var v11 = 0.0
            for i in 0..<t { v11 += sol[i] * ms[i] }
            let r = minNormOfTwo(v11, ms[vertex], at(m, t, vertex, vertex))
            var next = sol.map { $0 * r.gamma }
            next[vertex] += 1 - r.gamma
            let change = zip(next, sol).reduce(0) { $0 + abs($1.0 - $1.1) }
            sol = next
            if change < tolerance { break }
        }
        return sol
    }

    
}

/// MGDA (Sener and Koltun, "Multi-Task Learning as Multi-Objective Optimization", NeurIPS 2018):
/// the minimum-norm point of the convex hull of the task gradients, each first divided by its
/// normalisation (`weighting.mgda_normalization`); with `gradients: representation` this is MGDA-UB.
public final class MGDA: GradientWeighting {
    public var method: WeightingMethod { .mgda }
    public let tasks: Int
    let normalization: MGDANormalization

    public init(tasks: Int, normalization: MGDANormalization) {
        self.tasks = tasks
        self.normalization = normalization
    }

    public var needsStepLosses: Bool { normalization == .loss || normalization == .lossTimesL2 }

    public func coefficients(gram m: [Double], losses: [Double], step: Int, seed: UInt64, learningRate: Float) -> [Double] {
        let t = tasks
        let norms: [Double] = (0..<t).map { i in
            let g = max(m[i * t + i], 0).squareRoot()
            switch normalization {
            case .l2: return g
            case .loss: return losses[i]
            case .lossTimesL2: return losses[i] * g
            case .none: return 1
            }
        }.map { $0 > 0 ? $0 : 1 }
        var scaled = m
        for i in 0..<t { for j in 0..<t { scaled[i * t + j] /= norms[i] * norms[j] } }
        return zip(GradientBalancing.mgda(gram: scaled, tasks: t), norms).map { $0 / $1 }
    }
}
