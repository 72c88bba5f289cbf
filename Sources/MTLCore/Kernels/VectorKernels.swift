/// Element-wise loops written over SIMD vectors. The optimizer does not vectorise the scalar
/// forms because the buffers may alias; these load, compute and store whole vectors, with a
/// scalar tail. They do the same arithmetic per element as the scalar forms.
public enum VectorKernels {
    typealias V = SIMD8<Float>
    static let width = V.scalarCount

    @inline(__always) static func load(_ p: UnsafePointer<Float>, _ i: Int) -> V {
        UnsafeRawPointer(p + i).loadUnaligned(as: V.self)
    }

    @inline(__always) static func store(_ v: V, _ p: UnsafeMutablePointer<Float>, _ i: Int) {
        UnsafeMutableRawPointer(p + i).storeBytes(of: v, as: V.self)
    }

    /// y = max(x, 0)
    public static func relu(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count n: Int) {
        var i = 0
        let zero = V(repeating: 0)
        while i + width <= n { store(load(x, i).replacing(with: zero, where: load(x, i) .< zero), y, i); i += width }
        while i < n { y[i] = max(x[i], 0); i += 1 }
    }

    /// dx = y > 0 ? dy : 0
    public static func reluBackward(_ y: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>, count n: Int) {
        var i = 0
        let zero = V(repeating: 0)
        while i + width <= n { store(load(dy, i).replacing(with: zero, where: load(y, i) .<= zero), dx, i); i += width }
        while i < n { dx[i] = y[i] > 0 ? dy[i] : 0; i += 1 }
    }

    /// a += b
    public static func add(_ b: UnsafePointer<Float>, into a: UnsafeMutablePointer<Float>, count n: Int) {
        var i = 0
        while i + width <= n { store(load(a, i) + load(b, i), a, i); i += width }
        while i < n { a[i] += b[i]; i += 1 }
    }

    /// a += s * b
    public static func addScaled(_ b: UnsafePointer<Float>, _ s: Float, into a: UnsafeMutablePointer<Float>, count n: Int) {
        var i = 0
        let sv = V(repeating: s)
        while i + width <= n { store(load(a, i) + sv * load(b, i), a, i); i += width }
        while i < n { a[i] += s * b[i]; i += 1 }
    }

    /// One Adam/AdamW step over n elements (see `Adam.update`).
    public static func adam(p: UnsafeMutablePointer<Float>, g: UnsafePointer<Float>, m: UnsafeMutablePointer<Float>,
                     v: UnsafeMutablePointer<Float>, count n: Int, beta1 b1: Float, beta2 b2: Float, epsilon eps: Float,
                     stepSize: Float, c2Root: Float, l2: Float, decay: Float) {
        var i = 0
        let vb1 = V(repeating: b1), vb1c = V(repeating: 1 - b1), vb2 = V(repeating: b2), vb2c = V(repeating: 1 - b2)
        let veps = V(repeating: eps), vstep = V(repeating: stepSize), vc2 = V(repeating: c2Root)
        let vl2 = V(repeating: l2), vdecay = V(repeating: decay)
        while i + width <= n {
            let pi = load(p, i)
            let grad = load(g, i) + vl2 * pi
            let mi = vb1 * load(m, i) + vb1c * grad
            let vi = vb2 * load(v, i) + vb2c * grad * grad
            store(mi, m, i)
            store(vi, v, i)
            store(pi * vdecay - vstep * mi / (vi.squareRoot() / vc2 + veps), p, i)
            i += width
        }
        while i < n {
            let grad = g[i] + l2 * p[i]
            let mi = b1 * m[i] + (1 - b1) * grad
            let vi = b2 * v[i] + (1 - b2) * grad * grad
            m[i] = mi
            v[i] = vi
            p[i] = p[i] * decay - stepSize * mi / (vi.squareRoot() / c2Root + eps)
            i += 1
        }
    }
}
