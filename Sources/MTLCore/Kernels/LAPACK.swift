import CBLAS

/// The two LAPACK routines the gradient-balancing solvers use, through OpenBLAS (column-major,
/// Fortran calling convention), and the mixed-precision dot product of their Gram matrices.
public enum LAPACK {
    /// Solves A x = b for a column-major n x n A with dgesv; nil when A is singular.
    public static func solve(_ a: [Double], _ b: [Double], n: Int) -> [Double]? {
        var a = a, b = b, ipiv = [Int32](repeating: 0, count: n)
        var nn = Int32(n), nrhs: Int32 = 1, lda = Int32(n), ldb = Int32(n), info: Int32 = 0
        dgesv_(&nn, &nrhs, &a, &lda, &ipiv, &b, &ldb, &info)
        guard info == 0, b.allSatisfy({ $0.isFinite }) else { return nil }
        return b
    }

    /// The eigenvalues (ascending) and eigenvectors of a symmetric n x n matrix with dsyev:
    /// eigenvector k is column k of `vectors` (column-major, `vectors[k * n + i]`); nil when
    /// the routine fails.
    public static func symmetricEigen(_ m: [Double], n: Int) -> (values: [Double], vectors: [Double])? {
        var a = m, w = [Double](repeating: 0, count: n)
        var nn = Int32(n), lda = Int32(n), info: Int32 = 0, lwork = Int32(max(1, 3 * n - 1) + 64)
        var work = [Double](repeating: 0, count: Int(lwork))
        var jobz = CChar(UInt8(ascii: "V")), uplo = CChar(UInt8(ascii: "U"))
        dsyev_(&jobz, &uplo, &nn, &a, &lda, &w, &work, &lwork, &info)
        guard info == 0 else { return nil }
        return (w, a)
    }
}

extension BLAS {
    /// sum x[i] y[i] over n floats, accumulated in Double (cblas_dsdot).
    @inline(__always)
    public static func dot(_ n: Int, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>) -> Double {
        cblas_dsdot(Int32(n), x, 1, y, 1)
    }
}
