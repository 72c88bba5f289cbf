import XCTest
import MTLCore

/// Central finite differences of a scalar function of Float buffers, computed in Float32 like
/// the code under test, compared with the analytic gradient.
public enum GradientCheck {
    /// Checks d f / d buffer[i] for the indices given; f reads the buffer.
    public static func check(_ name: String, buffer: UnsafeMutablePointer<Float>, indices: [Int], analytic: [Float],
                      h: Float = 1e-2, atol: Float = 2e-3, rtol: Float = 2e-2,
                      file: StaticString = #filePath, line: UInt = #line, _ f: () -> Double) {
        for (k, i) in indices.enumerated() {
            let saved = buffer[i]
            buffer[i] = saved + h
            let plus = f()
            buffer[i] = saved - h
            let minus = f()
            buffer[i] = saved
            let numeric = Float((plus - minus) / Double(2 * h))
            let a = analytic[k]
            XCTAssert(abs(a - numeric) <= atol + rtol * abs(numeric),
                      "\(name)[\(i)]: analytic \(a) vs numeric \(numeric)", file: file, line: line)
        }
    }

    public static func randomFill(_ p: UnsafeMutablePointer<Float>, _ n: Int, seed: UInt64, scale: Float = 1) {
        var rng = SplitMix64(seed: seed)
        for i in 0..<n { p[i] = rng.nextNormal() * scale }
    }

    /// sum(y * r): a loss whose gradient with respect to y is r.
    public static func project(_ y: Matrix, _ r: FloatBuffer) -> Double {
        var s = 0.0
        for i in 0..<y.count { s += Double(y.pointer[i]) * Double(r.pointer[i]) }
        return s
    }

    /// Checks a layer's input and parameter gradients against finite differences.
    public static func checkLayer(_ layer: Layer, store: ParameterStore, rows: Int, context: ForwardContext = ForwardContext(training: true, seed: 3, step: 1),
                           name: String, inputScale: Float = 1, file: StaticString = #filePath, line: UInt = #line) {
        let x = FloatBuffer(count: rows * layer.inputSize)
        randomFill(x.pointer, x.count, seed: 11, scale: inputScale)
        let r = FloatBuffer(count: rows * layer.outputSize)
        randomFill(r.pointer, r.count, seed: 12)
        let xm = x.matrix(rows: rows, cols: layer.inputSize)
        store.zeroGradients()
        _ = layer.forward(xm, context: context)
        let dx = layer.backward(r.matrix(rows: rows, cols: layer.outputSize), needsInputGradient: true)
        let dxCopy = Array(UnsafeBufferPointer(start: dx.pointer, count: dx.count))
        let gradCopy = store.gradients.array
        let f = { project(layer.forward(xm, context: context), r) }
        let inputIdx = Array(Swift.stride(from: 0, to: x.count, by: max(1, x.count / 40)))
        check("\(name).input", buffer: x.pointer, indices: inputIdx, analytic: inputIdx.map { dxCopy[$0] }, file: file, line: line, f)
        if store.count > 0 {
            let pIdx = Array(Swift.stride(from: 0, to: store.count, by: max(1, store.count / 60)))
            check("\(name).params", buffer: store.values.pointer, indices: pIdx, analytic: pIdx.map { gradCopy[$0] }, file: file, line: line, f)
        }
    }
}
