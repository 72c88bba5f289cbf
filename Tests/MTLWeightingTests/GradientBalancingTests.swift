import Foundation
import XCTest
import MTLCore
@testable import MTLWeighting

/// The gradient-balancing rules on small fixed gradients, against hand-computed values and the
/// conditions that define each rule.
final class GradientBalancingTests: XCTestCase {
    typealias GB = GradientBalancing

    /// Gram matrix of plain Double vectors.
    func gram(_ g: [[Double]]) -> [Double] {
        let t = g.count
        var m = [Double](repeating: 0, count: t * t)
        for i in 0..<t { for j in 0..<t { m[i * t + j] = zip(g[i], g[j]).reduce(0) { $0 + $1.0 * $1.1 } } }
        return m
    }

    func combine(_ g: [[Double]], _ c: [Double]) -> [Double] {
        (0..<g[0].count).map { k in (0..<g.count).reduce(0) { $0 + c[$1] * g[$1][k] } }
    }

    func dot(_ a: [Double], _ b: [Double]) -> Double { zip(a, b).reduce(0) { $0 + $1.0 * $1.1 } }

    /// Fixed pseudo-random gradients (several conflicting pairs).
    func randomGradients(tasks: Int, dim: Int, seed: UInt64) -> [[Double]] {
        var rng = SplitMix64(seed: seed)
        return (0..<tasks).map { _ in (0..<dim).map { _ in Double(rng.nextNormal()) } }
    }

    func testGramFromFloatRows() {
        let rows: [Float] = [1, 2, 3, 0, -1, 4, 9, 9, 0.5, 1, 1, 9]   // two rows of 5 with stride 6
        let m = rows.withUnsafeBufferPointer { GB.gram($0.baseAddress!, tasks: 2, length: 5, stride: 6) }
        // rows (1, 2, 3, 0, -1) and (9, 9, 0.5, 1, 1): 1+4+9+0+1, 9+18+1.5+0-1, 81+81+0.25+1+1
        XCTAssertEqual(m, [15, 27.5, 27.5, 164.25])
    }

    func testPCGradOnTwoConflictingVectors() {
        // g1 = (1, 0), g2 = (-1, 1): <g1, g2> = -1. g1 loses its component along g2:
        // (1, 0) + 1/2 (-1, 1) = (0.5, 0.5); g2 loses its component along g1: (-1, 1) + (1, 0) = (0, 1).
        let g: [[Double]] = [[1, 0], [-1, 1]]
        let c = GB.pcgrad(gram: gram(g), tasks: 2, orders: [[1, 0], [0, 1]])
        let d = combine(g, c)
        XCTAssertEqual(d[0], 0.5, accuracy: 1e-12)
        XCTAssertEqual(d[1], 1.5, accuracy: 1e-12)
        // Without conflict nothing changes: the sum.
        let h: [[Double]] = [[1, 0], [1, 1]]
        XCTAssertEqual(GB.pcgrad(gram: gram(h), tasks: 2, orders: [[1], [0]]), [1, 1])
    }

    func testPCGradOrderMattersForThreeTasks() {
        let g: [[Double]] = [[1, 0, 0], [-1, 1, 0], [-1, -1, 1]]
        let a = combine(g, GB.pcgrad(gram: gram(g), tasks: 3, orders: [[1, 2], [0, 2], [0, 1]]))
        let b = combine(g, GB.pcgrad(gram: gram(g), tasks: 3, orders: [[2, 1], [2, 0], [1, 0]]))
        XCTAssertGreaterThan(zip(a, b).map { abs($0 - $1) }.max()!, 1e-3, "task order changes the projections")
        // Hand-computed for the first order, task 0: g0 . g1 = -1 -> g0 + g1/2 = (0.5, 0.5, 0);
        // then . g2 = -1 -> + g2/3 = (1/6, 1/6, 1/3).
        let row0 = combine(g, [1, 0.5, 1.0 / 3])
        XCTAssertEqual(row0[0], 1.0 / 6, accuracy: 1e-12)
    }

    func testMGDAClosedFormForTwoTasks() {
        // min over gamma of |gamma g1 + (1 - gamma) g2|: gamma = <g2 - g1, g2> / |g1 - g2|^2, clipped to [0, 1].
        let g: [[Double]] = [[1, 0], [0, 2]]
        let w = GB.mgda(gram: gram(g), tasks: 2)
        XCTAssertEqual(w[0], 0.8, accuracy: 1e-12)
        XCTAssertEqual(w[1], 0.2, accuracy: 1e-12)
        let d = combine(g, w)
        XCTAssertEqual(dot(d, [1, -2]), 0, accuracy: 1e-12, "the min-norm point is orthogonal to g1 - g2")
        // When one gradient's projection lies beyond the other, the solution is a vertex.
        let h: [[Double]] = [[1, 0], [3, 1]]
        XCTAssertEqual(GB.mgda(gram: gram(h), tasks: 2), [1, 0])
    }

    func testMGDAFrankWolfeMeetsTheMinNormConditions() {
        let g = randomGradients(tasks: 4, dim: 6, seed: 11)
        let w = GB.mgda(gram: gram(g), tasks: 4, iterations: 5000, tolerance: 1e-14)
        XCTAssertEqual(w.reduce(0, +), 1, accuracy: 1e-9)
        XCTAssert(w.allSatisfy { $0 >= 0 })
        let d = combine(g, w), norm2 = dot(d, d)
        // Optimality on the simplex: <g_t, d> >= |d|^2 for every t, with equality where w_t > 0.
        for t in 0..<4 {
            XCTAssertGreaterThanOrEqual(dot(g[t], d), norm2 - 1e-4 * max(norm2, 1e-3))
            if w[t] > 1e-3 { XCTAssertEqual(dot(g[t], d), norm2, accuracy: 1e-3 * max(norm2, 1e-3)) }
        }
    }

    func testCAGradWithZeroRadiusIsTheMean() {
        let g = randomGradients(tasks: 3, dim: 5, seed: 2)
        XCTAssertEqual(GB.cagrad(gram: gram(g), tasks: 3, c: 0), [1.0 / 3, 1.0 / 3, 1.0 / 3])
    }

    func testCAGradStaysInItsBallAndHelpsTheWorstTask() {
        let g: [[Double]] = [[1, 0.1], [-0.8, 0.6]]
        let c = 0.5
        let coefficients = GB.cagrad(gram: gram(g), tasks: 2, c: c, rescale: false)
        let d = combine(g, coefficients), g0 = combine(g, [0.5, 0.5])
        let distance = zip(d, g0).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }.squareRoot()
        XCTAssertEqual(distance, c * dot(g0, g0).squareRoot(), accuracy: 1e-9, "d lies on the ball's surface")
        XCTAssertGreaterThan(g.map { dot($0, d) }.min()!, g.map { dot($0, g0) }.min()!)
        // Rescaling divides by 1 + c^2.
        let scaled = GB.cagrad(gram: gram(g), tasks: 2, c: c, rescale: true)
        XCTAssertEqual(scaled[0], coefficients[0] / 1.25, accuracy: 1e-12)
    }

    func testIMTLGivesEqualProjectionsOnUnitGradients() {
        let g = randomGradients(tasks: 3, dim: 5, seed: 7)
        let alpha = GB.imtlG(gram: gram(g), tasks: 3)!
        XCTAssertEqual(alpha.reduce(0, +), 1, accuracy: 1e-12)
        let d = combine(g, alpha)
        let projections = g.map { dot($0, d) / dot($0, $0).squareRoot() }
        for p in projections.dropFirst() { XCTAssertEqual(p, projections[0], accuracy: 1e-9) }
        XCTAssertNil(GB.imtlG(gram: gram([[1, 0], [0, 0]]), tasks: 2), "a zero task gradient has no unit direction")
    }

    func testNashMTLSatisfiesItsFirstOrderCondition() {
        for seed in [1, 2, 3] as [UInt64] {
            let g = randomGradients(tasks: 3, dim: 4, seed: seed)
            let m = gram(g)
            let alpha = GB.nashMTL(gram: m, tasks: 3)
            let frobenius = m.reduce(0) { $0 + $1 * $1 }.squareRoot()
            XCTAssert(alpha.allSatisfy { $0 > 0 })
            for i in 0..<3 {
                let ma = (0..<3).reduce(0) { $0 + m[i * 3 + $1] / frobenius * alpha[$1] }
                XCTAssertEqual(ma * alpha[i], 1, accuracy: 1e-9, "(M alpha)_i = 1 / alpha_i (seed \(seed), task \(i))")
            }
        }
        // Orthogonal gradients: alpha_t^2 |g_t|^2 = const, so alpha_t is proportional to 1 / |g_t| and
        // d = sum_t g_t / |g_t| up to scale (every unit direction gets the same share).
        let g: [[Double]] = [[2, 0], [0, 1]]
        let alpha = GB.nashMTL(gram: gram(g), tasks: 2)
        XCTAssertEqual(alpha[0] / alpha[1], 0.5, accuracy: 1e-9)
        XCTAssertEqual(alpha[1], pow(17, 0.25), accuracy: 1e-9)   // (M / |M|_F)_22 alpha_2^2 = 1 with |M|_F = sqrt(17)
    }

    func testAlignedMTLEqualisesOrthogonalGradients() {
        // Orthogonal g1 = (3, 0), g2 = (0, 1): M = diag(9, 1), B = 1 * diag(1/3, 1): alpha = (1/3, 1), d = (1, 1).
        let alpha = GB.alignedMTL(gram: gram([[3, 0], [0, 1]]), tasks: 2)
        XCTAssertEqual(alpha[0], 1.0 / 3, accuracy: 1e-12)
        XCTAssertEqual(alpha[1], 1, accuracy: 1e-12)
        // For any full-rank G, B G has singular values all equal to sigma_min: (B G)(B G)^T = sigma_min^2 I,
        // so d = 1^T B G has <d, (B G)_i> = sigma_min^2 for every i; checked through the Gram matrix.
        let g = randomGradients(tasks: 3, dim: 5, seed: 9)
        let m = gram(g)
        let a = GB.alignedMTL(gram: m, tasks: 3)
        let d = combine(g, a)
        XCTAssert(d.allSatisfy { $0.isFinite })
        // Rotation invariance: the same gradients in another basis give the same coefficients.
        let rotated = g.map { v in [v[1], -v[0], v[2], v[4], v[3]] }
        let b = GB.alignedMTL(gram: gram(rotated), tasks: 3)
        for i in 0..<3 { XCTAssertEqual(a[i], b[i], accuracy: 1e-9) }
    }

    func testUPGradHasNonNegativeInnerProductWithEveryTask() {
        for seed in [3, 4, 5, 6] as [UInt64] {
            let g = randomGradients(tasks: 4, dim: 3, seed: seed)   // 4 gradients in 3-D: conflicts guaranteed
            let m = gram(g)
            let w = GB.upgrad(gram: m, tasks: 4)
            let d = combine(g, w)
            let scale = (0..<4).reduce(0) { $0 + m[$1 * 4 + $1] } / 4
            for t in 0..<4 { XCTAssertGreaterThanOrEqual(dot(g[t], d), -1e-9 * scale, "seed \(seed), task \(t)") }
        }
        // Without conflict, every projection is the vector itself: the mean.
        let w = GB.upgrad(gram: gram([[1, 0], [1, 1]]), tasks: 2)
        XCTAssertEqual(w[0], 0.5, accuracy: 1e-12)
        XCTAssertEqual(w[1], 0.5, accuracy: 1e-12)
    }

    func testGradVacFromZeroTargetsMatchesPCGradAndMovesTheTargets() {
        let g: [[Double]] = [[1, 0], [-1, 1]]
        var targets = [Double](repeating: 0, count: 4)
        let c = GB.gradvac(gram: gram(g), tasks: 2, orders: [[1], [0]], targets: &targets, beta: 0.1)
        let pc = GB.pcgrad(gram: gram(g), tasks: 2, orders: [[1], [0]])
        for i in 0..<2 { XCTAssertEqual(c[i], pc[i], accuracy: 1e-9) }
        // rho_01 = -1 / sqrt(2): the target moves a tenth of the way there.
        XCTAssertEqual(targets[1], 0.1 * -1 / 2.0.squareRoot(), accuracy: 1e-12)
        XCTAssertEqual(targets[0], 0)
    }

    func testSimplexProjection() {
        XCTAssertEqual(GB.projectToSimplex([0.5, 0.5]), [0.5, 0.5])
        XCTAssertEqual(GB.projectToSimplex([2, 0]), [1, 0])
        let p = GB.projectToSimplex([0.9, 0.6, -1])
        XCTAssertEqual(p[0], 0.65, accuracy: 1e-12)
        XCTAssertEqual(p[1], 0.35, accuracy: 1e-12)
        XCTAssertEqual(p[2], 0)
    }
}
