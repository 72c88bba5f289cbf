import MTLCore

/// Gradient-balancing rules of multi-task learning, written on the Gram matrix of the task
/// gradients. Every rule here returns coefficients c with the combined gradient d = sum_t c_t g_t:
/// each needs only the inner products M_ij = <g_i, g_j> (PCGrad's and GradVac's projections are
/// linear in the g_t too, tracked as coefficient rows). So the same code serves gradients on the
/// shared parameters (M from the all-reduced T x S matrix) and on the shared representation (M
/// summed over ranks, since their rows are disjoint), and the result is identical on every rank.
///
/// All arithmetic is in Double on T x T matrices; T is the number of tasks.
public enum GradientBalancing {
    /// M[i][j] of a row-major T x T matrix.
    @inline(__always) static func at(_ m: [Double], _ t: Int, _ i: Int, _ j: Int) -> Double { m[i * t + j] }

    /// The Gram matrix of T gradient rows of length n (row-major, leading dimension `stride`),
    /// accumulated in Double.
    public static func gram(_ rows: UnsafePointer<Float>, tasks t: Int, length n: Int, stride: Int) -> [Double] {
        var m = [Double](repeating: 0, count: t * t)
        guard n > 0 else { return m }
        for i in 0..<t {
            for j in i..<t {
                let v = BLAS.dot(n, rows + i * stride, rows + j * stride)
                m[i * t + j] = v; m[j * t + i] = v
            }
        }
        return m
    }

    /// Inner product of two coefficient rows a, b over the gradients: a^T M b.
    static func inner(_ a: [Double], _ b: [Double], _ m: [Double], _ t: Int) -> Double {
        var s = 0.0
        for i in 0..<t where a[i] != 0 { for j in 0..<t where b[j] != 0 { s += a[i] * m[i * t + j] * b[j] } }
        return s
    }

    /// Solves A x = b for a column-major n x n A; nil when A is singular.
    static func solve(_ a: [Double], _ b: [Double], n: Int) -> [Double]? { LAPACK.solve(a, b, n: n) }

    /// For each task, the order in which it meets the others (PCGrad, GradVac): a permutation
    /// drawn from (seed, step, task), the same on every rank.
    static func taskOrders(tasks t: Int, step: Int, seed: UInt64) -> [[Int]] {
        (0..<t).map { i in seededPermutation(t, seed: SplitMix64.mix(seed ^ 0x9C6A_D000 ^ UInt64(step) &* 0x1_0000 ^ UInt64(i))) }
    }
}
