/// Layer normalisation over the features of each row (Ba, Kiros and Hinton, 2016), with a
/// learned gain and bias.
public final class LayerNorm: Layer {
    public let inputSize: Int
    public var outputSize: Int { inputSize }
    public let gain: ParameterEntry
    public let bias: ParameterEntry
    public let epsilon: Float
    private unowned let store: ParameterStore
    private let output: FloatBuffer
    private let normalized: FloatBuffer
    private let inverseStd: FloatBuffer
    private let inputGradient: FloatBuffer

    public init(_ name: String, size: Int, maxRows: Int, store: ParameterStore, epsilon: Float = 1e-5) {
        inputSize = size
        self.epsilon = epsilon
        self.store = store
        gain = store.register("\(name).weight", shape: [size], initializer: .ones)
        bias = store.register("\(name).bias", shape: [size], initializer: .zeros)
        output = FloatBuffer(count: maxRows * size)
        normalized = FloatBuffer(count: maxRows * size)
        inverseStd = FloatBuffer(count: maxRows)
        inputGradient = FloatBuffer(count: maxRows * size)
    }

    public func forward(_ x: Matrix, context: ForwardContext) -> Matrix {
        let n = inputSize
        let y = output.matrix(rows: x.rows, cols: n)
        let g = store.value(gain), b = store.value(bias)
        for r in 0..<x.rows {
            let xr = x.pointer + r * n, hr = normalized.pointer + r * n, yr = y.pointer + r * n
            var mean: Float = 0
            for j in 0..<n { mean += xr[j] }
            mean /= Float(n)
            var variance: Float = 0
            for j in 0..<n { let d = xr[j] - mean; variance += d * d }
            variance /= Float(n)
            let rstd = 1 / (variance + epsilon).squareRoot()
            inverseStd.pointer[r] = rstd
            for j in 0..<n {
                let h = (xr[j] - mean) * rstd
                hr[j] = h
                yr[j] = h * g[j] + b[j]
            }
        }
        return y
    }

    // dx = rstd * (dh - mean(dh) - h * mean(dh * h)), dh = dy * gain
    public func backward(_ dy: Matrix, needsInputGradient: Bool) -> Matrix {
        let n = inputSize
        let g = store.value(gain), dg = store.gradient(gain), db = store.gradient(bias)
        let dx = inputGradient.matrix(rows: dy.rows, cols: n)
        for r in 0..<dy.rows {
            let dyr = dy.pointer + r * n, hr = normalized.pointer + r * n, dxr = dx.pointer + r * n
            var meanDh: Float = 0, meanDhH: Float = 0
            for j in 0..<n {
                dg[j] += dyr[j] * hr[j]
                db[j] += dyr[j]
                let dh = dyr[j] * g[j]
                meanDh += dh
                meanDhH += dh * hr[j]
            }
            meanDh /= Float(n)
            meanDhH /= Float(n)
            let rstd = inverseStd.pointer[r]
            for j in 0..<n { dxr[j] = rstd * (dyr[j] * g[j] - meanDh - hr[j] * meanDhH) }
        }
        return dx
    }
}
