#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Scaled dot-product attention over one sample, all heads (Vaswani et al., NeurIPS 2017):
/// for each head h, S = q_h k_h^T / sqrt(dh), P = softmax over keys, out_h = P v_h.
/// q is (nq, d), k and v are (nk, d), each with its own row stride; d = heads * dh.
public enum AttentionKernel {
    typealias V4 = SIMD4<Float>

    /// sum a[c] b[c] over n, four lanes at a time (head widths are small multiples of 4).
    @inline(__always)
    static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
        var acc = V4(repeating: 0)
        var c = 0
        while c + 4 <= n {
            acc += UnsafeRawPointer(a + c).loadUnaligned(as: V4.self) * UnsafeRawPointer(b + c).loadUnaligned(as: V4.self)
            c += 4
        }
        var s = acc.sum()
        while c < n { s += a[c] * b[c]; c += 1 }
        return s
    }

    /// y += alpha x over n.
    @inline(__always)
    static func axpy(_ alpha: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
        let va = V4(repeating: alpha)
        var c = 0
        while c + 4 <= n {
            let r = UnsafeMutableRawPointer(y + c)
            r.storeBytes(of: r.loadUnaligned(as: V4.self) + va * UnsafeRawPointer(x + c).loadUnaligned(as: V4.self), as: V4.self)
            c += 4
        }
        while c < n { y[c] += alpha * x[c]; c += 1 }
    }

    /// Writes out (nq, d) with row stride `outStride` and keeps P (heads, nq, nk) in `probabilities`.
    public static func forward(q: UnsafePointer<Float>, qStride: Int, k: UnsafePointer<Float>, v: UnsafePointer<Float>, kvStride: Int,
                               nq: Int, nk: Int, d: Int, heads: Int,
                               out: UnsafeMutablePointer<Float>, outStride: Int, probabilities: UnsafeMutablePointer<Float>) {
        let dh = d / heads
        let scale = 1 / Float(dh).squareRoot()
        for h in 0..<heads {
            let o = h * dh
            for i in 0..<nq {
                let p = probabilities + (h * nq + i) * nk
                let qi = q + i * qStride + o
                var m = -Float.infinity
                for j in 0..<nk {
                    let kj = k + j * kvStride + o
                    p[j] = dot(qi, kj, dh) * scale
                    m = max(m, p[j])
                }
                var sum: Float = 0
                for j in 0..<nk { p[j] = expf(p[j] - m); sum += p[j] }
                let inv = 1 / sum
                let oi = out + i * outStride + o
                for c in 0..<dh { oi[c] = 0 }
                for j in 0..<nk {
                    p[j] *= inv
                    axpy(p[j], v + j * kvStride + o, oi, dh)
                }
            }
        }
    }

    /// Adds dq, dk, dv for d(out); `scratch` holds nk floats.
    public static func backward(dOut: UnsafePointer<Float>, outStride: Int,
                                q: UnsafePointer<Float>, qStride: Int, k: UnsafePointer<Float>, v: UnsafePointer<Float>, kvStride: Int,
                                nq: Int, nk: Int, d: Int, heads: Int, probabilities: UnsafePointer<Float>,
                                dq: UnsafeMutablePointer<Float>, dk: UnsafeMutablePointer<Float>, dv: UnsafeMutablePointer<Float>,
                                scratch: UnsafeMutablePointer<Float>) {
        let dh = d / heads
        let scale = 1 / Float(dh).squareRoot()
        for h in 0..<heads {
            let o = h * dh
            for i in 0..<nq {
                let p = probabilities + (h * nq + i) * nk
                let doi = dOut + i * outStride + o
                var weighted: Float = 0
                for j in 0..<nk {
                    let dp = dot(doi, v + j * kvStride + o, dh)
                    axpy(p[j], doi, dv + j * kvStride + o, dh)
                    scratch[j] = dp
                    weighted += p[j] * dp
                }
                let qi = q + i * qStride + o, dqi = dq + i * qStride + o
                for j in 0..<nk {
                    let ds = p[j] * (scratch[j] - weighted) * scale
                    axpy(ds, k + j * kvStride + o, dqi, dh)
                    axpy(ds, qi, dk + j * kvStride + o, dh)
                }
            }
        }
    }
}
