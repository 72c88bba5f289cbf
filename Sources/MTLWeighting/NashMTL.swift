import Foundation

extension GradientBalancing {
    /// Nash-MTL (Navon et al., ICML 2022): the Nash bargaining solution d = sum alpha_t g_t with
    /// alpha > 0 and (M alpha)_t = 1 / alpha_t for every t, M normalised by its Frobenius norm as
    /// in the reference code. These are the stationarity conditions of the strictly convex
    /// f(alpha) = alpha^T M alpha / 2 - sum log alpha_t, minimised here by damped Newton steps
    /// (the reference solves the same conditions by a sequence of convex programs in cvxpy).
    public static func nashMTL(gram m: [Double], tasks t: Int, iterations: Int = 100) -> [Double] {
        let frobenius = m.reduce(0) { $0 + $1 * $1 }.squareRoot()
        guard frobenius > 0 else { return [Double](repeating: 1, count: t) }
        let g = m.map { $0 / frobenius }
        func f(_ a: [Double]) -> Double { 0.5 * inner(a, a, g, t) - a.reduce(0) { $0 + log($1) } }
        var alpha = [Double](repeating: 1, count: t)
        var value = f(alpha)
        for _ in 0..<iterations {
            var ga = [Double](repeating: 0, count: t)
            for i in 0..<t { for j in 0..<t { ga[i] += at(g, t, i, j) * alpha[j] } }
            let grad = (0..<t).map { ga[$0] - 1 / alpha[$0] }
            if grad.map(abs).max()! < 1e-13 { break }
            // Newton direction: (M + diag(1/alpha^2)) step = -grad (symmetric positive definite).
            var h = g
            for i in 0..<t { h[i * t + i] += 1 / (alpha[i] * alpha[i]) }
            guard let step = solve(h, grad.map { -$0 }, n: t) else { break }
            var s = 1.0
            while s > 1e-12 {
                let candidate = (0..<t).map { alpha[$0] + s * step[$0] }
                let slope = zip(grad, step).reduce(0.0) { $0 + $1.0 * $1.1 }
                if candidate.allSatisfy({ $0 > 0 }), f(candidate) <= value + 1e-4 * s * slope {
                    alpha = candidate; value = f(candidate); break
                }
                s /= 2
            }
            if s <= 1e-12 { break }
        }
        return alpha
    }

    
}

/// Nash-MTL (Navon et al., "Multi-Task Learning as a Bargaining Game", ICML 2022).
public final class NashMTL: GradientWeighting {
    public var method: WeightingMethod { .nashMTL }
    public let tasks: Int
    public init(tasks: Int) { self.tasks = tasks }

    public func coefficients(gram m: [Double], losses: [Double], step: Int, seed: UInt64, learningRate: Float) -> [Double] {
        GradientBalancing.nashMTL(gram: m, tasks: tasks)
    }
}
