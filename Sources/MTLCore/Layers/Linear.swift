/// y = x W^T + b, with W of shape (out, in) as in PyTorch's Linear, initialised like it
/// (U(-1/sqrt(in), 1/sqrt(in)) for weight and bias).
public final class Linear: Layer {
    public let inputSize: Int
    public let outputSize: Int
    public let weight: ParameterEntry
    public let bias: ParameterEntry
    public unowned let store: ParameterStore
    private let output: FloatBuffer
    private let inputGradient: FloatBuffer
    private var input: Matrix?

    public init(_ name: String, inputSize: Int, outputSize: Int, maxRows: Int, store: ParameterStore) {
        self.inputSize = inputSize
        self.outputSize = outputSize
        self.store = store
        let bound = 1 / Float(inputSize).squareRoot()
        weight = store.register("\(name).weight", shape: [outputSize, inputSize], initializer: .uniform(bound))
        bias = store.register("\(name).bias", shape: [outputSize], initializer: .uniform(bound))
        output = FloatBuffer(count: maxRows * outputSize)
        inputGradient = FloatBuffer(count: maxRows * inputSize)
    }

    // x: (B, in), W: (out, in), y: (B, out)
    public func forward(_ x: Matrix, context: ForwardContext) -> Matrix {
        input = x
        let y = output.matrix(rows: x.rows, cols: outputSize)
        BLAS.linear(rows: x.rows, n: outputSize, k: inputSize, x: x.pointer, ldx: inputSize, weight: store.value(weight), ldw: inputSize,
                    bias: store.value(bias), y: y.pointer, ldy: outputSize)
        return y
    }

    // dW += dy^T x: (out, B) x (B, in); db += column sums of dy; dx = dy W: (B, out) x (out, in)
    public func backward(_ dy: Matrix, needsInputGradient: Bool) -> Matrix {
        guard let x = input else { preconditionFailure("Linear.backward before forward") }
        BLAS.gemm(transA: true, transB: false, m: outputSize, n: inputSize, k: dy.rows,
                  a: dy.pointer, lda: outputSize, b: x.pointer, ldb: inputSize,
                  beta: 1, c: store.gradient(weight), ldc: inputSize)
        let db = store.gradient(bias)
        for r in 0..<dy.rows { VectorKernels.add(dy.pointer + r * outputSize, into: db, count: outputSize) }
        let dx = inputGradient.matrix(rows: dy.rows, cols: inputSize)
        if needsInputGradient {
            BLAS.gemm(transA: false, transB: false, m: dy.rows, n: inputSize, k: outputSize,
                      a: dy.pointer, lda: outputSize, b: store.value(weight), ldb: inputSize,
                      beta: 0, c: dx.pointer, ldc: inputSize)
        }
        return dx
    }
}
