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
        let y = output.matrix(rows: x.rows, cols: inputSize)
        Self.normalize(x.pointer, y.pointer, rows: x.rows, n: inputSize, gain: store.value(gain), bias: store.value(bias), epsilon: epsilon,
                       normalized: normalized.pointer, inverseStd: inverseStd.pointer)
        return y
    }

    /// y = (x - mean) / sqrt(variance + epsilon) * gain + bias over each row of n; keeps the
    /// normalised rows and 1 / std when given (the backward pass needs them). The inference
    /// engine calls it too, so both compute alike.
    public static func normalize(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, rows: Int, n: Int,
                                 gain g: UnsafePointer<Float>, bias b: UnsafePointer<Float>, epsilon: Float,
                                 normalized: UnsafeMutablePointer<Float>? = nil, inverseStd: UnsafeMutablePointer<Float>? = nil) {
        for r in 0..<rows {
            let xr = x + r * n, yr = y + r * n
            var mean: Float = 0
            for j in 0..<n { mean += xr[j] }
            mean /= Float(n)
            var variance: Float = 0
            for j in 0..<n { let d = xr[j] - mean; variance += d * d }
            variance /= Float(n)
            let rstd = 1 / (variance + epsilon).squareRoot()
            inverseStd?[r] = rstd
            let hr = normalized.map { $0 + r * n }
            for j in 0..<n {
                let h = (xr[j] - mean) * rstd
                hr?[j] = h
                yr[j] = h * g[j] + b[j]
            }
        }
    }

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
