import CBLAS

/// Matrix products through OpenBLAS's cblas interface.
public enum BLAS {
    /// Sets the number of threads OpenBLAS uses in this process.
    public static func setThreads(_ n: Int) { openblas_set_num_threads(Int32(max(1, n))) }

    /// The threads OpenBLAS uses in this process.
    public static var threads: Int { Int(openblas_get_num_threads()) }

    /// C = alpha * op(A) * op(B) + beta * C, all row-major.
    /// op(A) is (m, k), op(B) is (k, n), C is (m, n); lda/ldb/ldc are the stored row lengths.
    @inline(__always)
    public static func gemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
                            alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                            b: UnsafePointer<Float>, ldb: Int,
                            beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        guard m > 0, n > 0 else { return }
        if k == 0 {
            if beta == 0 { for i in 0..<m { (c + i * ldc).update(repeating: 0, count: n) } }
            else if beta != 1 { for i in 0..<m { for j in 0..<n { c[i * ldc + j] *= beta } } }
            return
        }
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// y (rows, n; row stride ldy) = x (rows, k; row stride ldx) W^T + b, W (n, k) row-major: a
    /// Linear layer's forward product, the one every forward pass uses (training, evaluation and
    /// the inference engine), so that they agree to the bit. One row goes through sgemv:
    /// OpenBLAS's sgemm packs the whole of W on every call, which costs more than the product
    /// itself at one row (an 8 x 256-wide expert layer over 512 inputs: 0.3 ms against 0.03).
    @inline(__always)
    public static func linear(rows: Int, n: Int, k: Int, x: UnsafePointer<Float>, ldx: Int, weight: UnsafePointer<Float>, ldw: Int,
                              bias: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, ldy: Int) {
        guard rows > 0, n > 0 else { return }
        for r in 0..<rows { (y + r * ldy).update(from: bias, count: n) }
        guard k > 0 else { return }
        if rows == 1 {
            cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(n), Int32(k), 1, weight, Int32(ldw), x, 1, 1, y, 1)
        } else {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows), Int32(n), Int32(k), 1, x, Int32(ldx), weight, Int32(ldw),
                        1, y, Int32(ldy))
        }
    }

    /// y += alpha x over n floats.
    @inline(__always)
    public static func axpy(_ n: Int, alpha: Float, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
        guard n > 0 else { return }
        cblas_saxpy(Int32(n), alpha, x, 1, y, 1)
    }

    /// Reference product used by the tests: the same contract as `gemm`, as plain loops.
    public static func naiveGemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
                                 alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                                 b: UnsafePointer<Float>, ldb: Int,
                                 beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        for i in 0..<m {
            for j in 0..<n {
                var s: Double = 0
                for p in 0..<k {
                    let av = transA ? a[p * lda + i] : a[i * lda + p]
                    let bv = transB ? b[j * ldb + p] : b[p * ldb + j]
                    s += Double(av) * Double(bv)
                }
                c[i * ldc + j] = alpha * Float(s) + (beta == 0 ? 0 : beta * c[i * ldc + j])
            }
        }
    }
}

extension BLAS {
    /// The kernel family OpenBLAS chose for this CPU.
    public static var coreName: String { String(cString: openblas_get_corename()) }

    /// A better kernel family when OpenBLAS fell back to its generic one.
    ///
    /// OpenBLAS picks its kernels once, when the library loads, from the CPU model; a CPU newer
    /// than the OpenBLAS build (Debian 12 ships 0.3.21) gets the SSE3 "Prescott" kernels, about
    /// 7x slower than the AVX-512 ones on the same machine. This returns the family the CPU's
    /// instruction set supports (for OPENBLAS_CORETYPE), or nil when OpenBLAS already chose one.
    public static func betterCoreType(cpuFlags: Set<String>) -> String? {
        guard coreName == "Prescott" || coreName == "Nehalem" else { return nil }
        if cpuFlags.isSuperset(of: ["avx512f", "avx512bw", "avx512vl", "avx512dq"]) { return "SkylakeX" }
        if cpuFlags.isSuperset(of: ["avx2", "fma"]) { return "Haswell" }
        return nil
    }
}
