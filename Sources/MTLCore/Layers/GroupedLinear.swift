/// G independent linear maps side by side: input (B, G*in) in G blocks, output (B, G*out),
/// y_g = x_g W_g^T + b_g with W of shape (G, out, in). The experts of a mixture-of-experts level
/// run as one layer: G strided BLAS calls over one buffer, no copies.
public final class GroupedLinear: Layer {
    public let groups: Int
    public let groupInput: Int
    public let groupOutput: Int
    public var inputSize: Int { groups * groupInput }
    public var outputSize: Int { groups * groupOutput }
    public let weight: ParameterEntry
    public let bias: ParameterEntry
    private unowned let store: ParameterStore
    private let output: FloatBuffer
    private let inputGradient: FloatBuffer
    private var input: Matrix?

    public init(_ name: String, groups: Int, inputSize: Int, outputSize: Int, maxRows: Int, store: ParameterStore) {
        self.groups = groups
        groupInput = inputSize
        groupOutput = outputSize
        self.store = store
        let bound = 1 / Float(inputSize).squareRoot()
        weight = store.register("\(name).weight", shape: [groups, outputSize, inputSize], initializer: .uniform(bound))
        bias = store.register("\(name).bias", shape: [groups, outputSize], initializer: .uniform(bound))
        output = FloatBuffer(count: maxRows * groups * outputSize)
        inputGradient = FloatBuffer(count: maxRows * groups * inputSize)
    }

    public func forward(_ x: Matrix, context: ForwardContext) -> Matrix {
        input = x
        let y = output.matrix(rows: x.rows, cols: outputSize)
        let b = store.value(bias), w = store.value(weight)
        for g in 0..<groups {
            BLAS.linear(rows: x.rows, n: groupOutput, k: groupInput, x: x.pointer + g * groupInput, ldx: inputSize,
                        weight: w + g * groupOutput * groupInput, ldw: groupInput, bias: b + g * groupOutput,
                        y: y.pointer + g * groupOutput, ldy: outputSize)
        }
        return y
    }

    public func backward(_ dy: Matrix, needsInputGradient: Bool) -> Matrix {
        guard let x = input else { preconditionFailure("GroupedLinear.backward before forward") }
        let w = store.value(weight), dw = store.gradient(weight), db = store.gradient(bias)
        for r in 0..<dy.rows { VectorKernels.add(dy.pointer + r * outputSize, into: db, count: outputSize) }
        let dx = inputGradient.matrix(rows: dy.rows, cols: inputSize)
        for g in 0..<groups {
            BLAS.gemm(transA: true, transB: false, m: groupOutput, n: groupInput, k: dy.rows,
                      a: dy.pointer + g * groupOutput, lda: outputSize, b: x.pointer + g * groupInput, ldb: inputSize,
                      beta: 1, c: dw + g * groupOutput * groupInput, ldc: groupInput)
            if needsInputGradient {
                BLAS.gemm(transA: false, transB: false, m: dy.rows, n: groupInput, k: groupOutput,
                          a: dy.pointer + g * groupOutput, lda: outputSize, b: w + g * groupOutput * groupInput, ldb: groupInput,
                          beta: 0, c: dx.pointer + g * groupInput, ldc: inputSize)
            }
        }
        return dx
    }
}
