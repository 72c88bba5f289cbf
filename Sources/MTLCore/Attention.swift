#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Scaled dot-product attention over one sample, all heads (Vaswani et al., NeurIPS 2017):
/// for each head h, S = q_h k_h^T / sqrt(dh), P = softmax over keys, out_h = P v_h.
/// q is (nq, d), k and v are (nk, d), each with its own row stride; d = heads * dh.
public enum AttentionKernel {
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
                    var s: Float = 0
                    for c in 0..<dh { s += qi[c] * kj[c] }
                    p[j] = s * scale
                    m = max(m, p[j])
                }
                var sum: Float = 0
                for j in 0..<nk { p[j] = expf(p[j] - m); sum += p[j] }
                let inv = 1 / sum
                let oi = out + i * outStride + o
                for c in 0..<dh { oi[c] = 0 }
                for j in 0..<nk {
                    p[j] *= inv
                    let w = p[j], vj = v + j * kvStride + o
                    for c in 0..<dh { oi[c] += w * vj[c] }
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
                    let vj = v + j * kvStride + o, dvj = dv + j * kvStride + o
                    var dp: Float = 0
                    for c in 0..<dh { dp += doi[c] * vj[c]; dvj[c] += p[j] * doi[c] }
                    scratch[j] = dp
                    weighted += p[j] * dp
                }
                let qi = q + i * qStride + o, dqi = dq + i * qStride + o
                for j in 0..<nk {
                    let ds = p[j] * (scratch[j] - weighted) * scale
                    let kj = k + j * kvStride + o, dkj = dk + j * kvStride + o
                    for c in 0..<dh { dqi[c] += ds * kj[c]; dkj[c] += ds * qi[c] }
                }
            }
        }
    }
}
