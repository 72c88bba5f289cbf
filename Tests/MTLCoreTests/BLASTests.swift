import XCTest
@testable import MTLCore
import MTLTestSupport

final class BLASTests: XCTestCase {
    func testGemmMatchesNaiveLoopForEveryTransposition() {
        var rng = SplitMix64(seed: 42)
        for (m, n, k) in [(1, 1, 1), (3, 5, 7), (17, 9, 33), (64, 48, 40)] {
            for transA in [false, true] {
                for transB in [false, true] {
                    for beta: Float in [0, 1] {
                        let a = (0..<(m * k)).map { _ in rng.nextNormal() }
                        let b = (0..<(k * n)).map { _ in rng.nextNormal() }
                        let c0 = (0..<(m * n)).map { _ in rng.nextNormal() }
                        var fast = c0, slow = c0
                        let lda = transA ? m : k, ldb = transB ? k : n
                        BLAS.gemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: 0.5, a: a, lda: lda, b: b, ldb: ldb,
                                  beta: beta, c: &fast, ldc: n)
                        BLAS.naiveGemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: 0.5, a: a, lda: lda, b: b, ldb: ldb,
                                       beta: beta, c: &slow, ldc: n)
                        for i in 0..<(m * n) {
                            XCTAssertEqual(fast[i], slow[i], accuracy: 1e-4 * Float(k), "m\(m) n\(n) k\(k) tA\(transA) tB\(transB) beta\(beta) at \(i)")
                        }
                    }
                }
            }
        }
    }

    func testGemmWithEmptyInnerDimensionScalesC() {
        var c: [Float] = [1, 2, 3, 4]
        BLAS.gemm(transA: false, transB: false, m: 2, n: 2, k: 0, a: [], lda: 1, b: [], ldb: 2, beta: 0, c: &c, ldc: 2)
        XCTAssertEqual(c, [0, 0, 0, 0])
    }
}
