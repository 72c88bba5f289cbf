import CBLAS

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
                let v = cblas_dsdot(Int32(n), rows + i * stride, 1, rows + j * stride, 1)
                m[i * t + j] = v; m[j * t + i] = v
            }
        }
        return m
    }

    // MARK: MGDA

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

    // MARK: PCGrad and GradVac

    /// Inner product of two coefficient rows a, b over the gradients: a^T M b.
    static func inner(_ a: [Double], _ b: [Double], _ m: [Double], _ t: Int) -> Double {
        var s = 0.0
        for i in 0..<t where a[i] != 0 { for j in 0..<t where b[j] != 0 { s += a[i] * m[i * t + j] * b[j] } }
        return s
    }

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

    // MARK: CAGrad

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

    // MARK: IMTL-G

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

    /// Solves A x = b for a column-major n x n A with LAPACK's dgesv; nil when A is singular.
    public static func solve(_ a: [Double], _ b: [Double], n: Int) -> [Double]? {
        var a = a, b = b, ipiv = [Int32](repeating: 0, count: n)
        var nn = Int32(n), nrhs: Int32 = 1, lda = Int32(n), ldb = Int32(n), info: Int32 = 0
        dgesv_(&nn, &nrhs, &a, &lda, &ipiv, &b, &ldb, &info)
        guard info == 0, b.allSatisfy({ $0.isFinite }) else { return nil }
        return b
    }

    // MARK: Nash-MTL

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

    // MARK: Aligned-MTL

    /// Aligned-MTL (Senushkin et al., CVPR 2023): the task gradients are replaced by an orthogonal
    /// system of equal norms, B G with B = sigma_min V Lambda^{-1/2} V^T from the eigenvalues
    /// Lambda and eigenvectors V of M (those above a rank tolerance), so no task dominates; with
    /// equal preferences the combined direction has coefficients alpha = column sums of B.
    public static func alignedMTL(gram m: [Double], tasks t: Int) -> [Double] {
        var a = m, w = [Double](repeating: 0, count: t)
        var n = Int32(t), lda = Int32(t), info: Int32 = 0, lwork = Int32(max(1, 3 * t - 1) + 64)
        var work = [Double](repeating: 0, count: Int(lwork))
        var jobz = CChar(UInt8(ascii: "V")), uplo = CChar(UInt8(ascii: "U"))
        dsyev_(&jobz, &uplo, &n, &a, &lda, &w, &work, &lwork, &info)
        guard info == 0, let top = w.max(), top > 0 else { return [Double](repeating: 1, count: t) }
        // Eigenvector k is column k of the column-major result: a[k * t + i].
        let tolerance = top * Double(t) * Double(Float.ulpOfOne)
        let kept = (0..<t).filter { w[$0] > tolerance }
        let smallest = kept.map { w[$0] }.min()!
        var alpha = [Double](repeating: 0, count: t)
        for j in 0..<t {
            var sum = 0.0
            for i in 0..<t {
                var b = 0.0
                for k in kept { b += a[k * t + i] * a[k * t + j] / w[k].squareRoot() }
                sum += b
            }
            alpha[j] = smallest.squareRoot() * sum
        }
        return alpha
    }

    // MARK: UPGrad

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

#if canImport(Glibc)
import Glibc
#endif
