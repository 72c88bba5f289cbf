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
