import Foundation

extension GradientBalancing {
    /// IMTL-G (Liu et al., ICLR 2021): the combination whose projections on every unit task
    /// gradient u_t are equal. With D rows g_1 - g_t and U rows u_1 - u_t (t >= 2), alpha_{2..T} =
    /// g_1 U^T (D U^T)^{-1} and alpha_1 = 1 - sum of the others. Returns nil when the system is
    /// singular (for example a zero or repeated task gradient).
    public static func imtlG(gram m: [Double], tasks t: Int) -> [Double]? {
        if t == 1 { return [1] }
        let norms = (0..<t).map { max(at(m, t, $0, $0), 0).squareRoot() }
        guard norms.allSatisfy({ $0 > 0 }) else { return nil }
        // <g_a, u_b> = M_ab / |g_b|
        func gu(_ a: Int, _ b: Int) -> Double { at(m, t, a, b) / norms[b] }
        let n = t - 1
        // (D U^T)_{ab} = <g_1 - g_{a+1}, u_1 - u_{b+1}>; the system is x (D U^T) = g_1 U^T,
        // i.e. (D U^T)^T x^T = (g_1 U^T)^T, solved column-major as A x = r with A = (D U^T)^T.
        var a = [Double](repeating: 0, count: n * n)
        var r = [Double](repeating: 0, count: n)
        for p in 0..<n {
            r[p] = gu(0, 0) - gu(0, p + 1)
            for q in 0..<n {
                let duT = gu(0, 0) - gu(0, q + 1) - gu(p + 1, 0) + gu(p + 1, q + 1)   // (D U^T)_{p q}
                a[p * n + q] = duT            // column-major A = (D U^T)^T: A[q][p] stored at q + p*n
            }
        }
        guard let x = solve(a, r, n: n) else { return nil }
        return [1 - x.reduce(0, +)] + x
    }
}

/// IMTL-G (Liu et al., "Towards Impartial Multi-task Learning", ICLR 2021); equal coefficients
/// when the system is singular.
public final class IMTLG: GradientWeighting {
    public var method: WeightingMethod { .imtlG }
    public let tasks: Int
    public init(tasks: Int) { self.tasks = tasks }

    public func coefficients(gram m: [Double], losses: [Double], step: Int, seed: UInt64, learningRate: Float) -> [Double] {
        GradientBalancing.imtlG(gram: m, tasks: tasks) ?? [Double](repeating: 1, count: tasks)
    }
}
