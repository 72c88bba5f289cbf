#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// max(0, x).
public final class ReLU: Layer {
    public let inputSize: Int
    public var outputSize: Int { inputSize }
    private let output: FloatBuffer
    private let inputGradient: FloatBuffer

    public init(size: Int, maxRows: Int) {
        inputSize = size
        output = FloatBuffer(count: maxRows * size)
        inputGradient = FloatBuffer(count: maxRows * size)
    }

    public func forward(_ x: Matrix, context: ForwardContext) -> Matrix {
        let y = output.matrix(rows: x.rows, cols: inputSize)
        VectorKernels.relu(x.pointer, y.pointer, count: x.count)
        return y
    }

    // The output is positive exactly where the input was, so backward reads the output.
    public func backward(_ dy: Matrix, needsInputGradient: Bool) -> Matrix {
        let dx = inputGradient.matrix(rows: dy.rows, cols: inputSize)
        VectorKernels.reluBackward(output.pointer, dy.pointer, dx.pointer, count: dy.count)
        return dx
    }
}

/// GELU with the exact Gaussian CDF (Hendrycks and Gimpel, 2016): x * Phi(x).
public final class GELU: Layer {
    public let inputSize: Int
    public var outputSize: Int { inputSize }
    private let output: FloatBuffer
    private let inputGradient: FloatBuffer
    private var input: Matrix?

    public init(size: Int, maxRows: Int) {
        inputSize = size
        output = FloatBuffer(count: maxRows * size)
        inputGradient = FloatBuffer(count: maxRows * size)
    }

    public func forward(_ x: Matrix, context: ForwardContext) -> Matrix {
        input = x
        let y = output.matrix(rows: x.rows, cols: inputSize)
        for i in 0..<x.count {
            let v = x.pointer[i]
            y.pointer[i] = 0.5 * v * (1 + erff(v * 0.70710678118654752))
        }
        return y
    }

    // d/dx [x Phi(x)] = Phi(x) + x phi(x)
    public func backward(_ dy: Matrix, needsInputGradient: Bool) -> Matrix {
        guard let x = input else { preconditionFailure("GELU.backward before forward") }
        let dx = inputGradient.matrix(rows: dy.rows, cols: inputSize)
        for i in 0..<dy.count {
            let v = x.pointer[i]
            let cdf = 0.5 * (1 + erff(v * 0.70710678118654752))
            let pdf = expf(-0.5 * v * v) * 0.39894228040143268
            dx.pointer[i] = dy.pointer[i] * (cdf + v * pdf)
        }
        return dx
    }
}

/// Inverted dropout: in training each unit is kept with probability 1 - p and scaled by
/// 1 / (1 - p). The mask of a unit depends on (seed, layer, step, global sample, unit) only.
public final class Dropout: Layer {
    public let inputSize: Int
    public var outputSize: Int { inputSize }
    public let probability: Float
    private let layerKey: UInt64
    private let output: FloatBuffer
    private let mask: FloatBuffer
    private let inputGradient: FloatBuffer
    private var active = false

    public init(_ name: String, size: Int, probability: Float, maxRows: Int) {
        precondition(probability >= 0 && probability < 1, "dropout probability must be in [0, 1)")
        inputSize = size
        self.probability = probability
        layerKey = stableHash(name)
        output = FloatBuffer(count: maxRows * size)
        mask = FloatBuffer(count: maxRows * size)
        inputGradient = FloatBuffer(count: maxRows * size)
    }

    public func forward(_ x: Matrix, context: ForwardContext) -> Matrix {
        active = context.training && probability > 0
        guard active else { return x }
        let y = output.matrix(rows: x.rows, cols: inputSize)
        let scale = 1 / (1 - probability)
        let base = SplitMix64.mix(context.seed ^ layerKey) ^ context.step
        for r in 0..<x.rows {
            let sample = UInt64(context.sampleIDs?[r] ?? r)
            for c in 0..<inputSize {
                let i = r * inputSize + c
                let keep: Float = CounterRandom.uniform(base, sample, UInt64(c)) >= probability ? scale : 0
                mask.pointer[i] = keep
                y.pointer[i] = x.pointer[i] * keep
            }
        }
        return y
    }

    public func backward(_ dy: Matrix, needsInputGradient: Bool) -> Matrix {
        guard active else { return dy }
        let dx = inputGradient.matrix(rows: dy.rows, cols: inputSize)
        for i in 0..<dy.count { dx.pointer[i] = dy.pointer[i] * mask.pointer[i] }
        return dx
    }
}

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
