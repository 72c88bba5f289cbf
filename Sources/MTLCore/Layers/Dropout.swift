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
