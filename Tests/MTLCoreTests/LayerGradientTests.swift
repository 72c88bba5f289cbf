import XCTest
@testable import MTLCore
import MTLTestSupport

final class LayerGradientTests: XCTestCase {
    func testLinear() {
        let store = ParameterStore()
        let l = Linear("l", inputSize: 7, outputSize: 5, maxRows: 6, store: store)
        store.materialize(seed: 1)
        GradientCheck.checkLayer(l, store: store, rows: 6, name: "Linear")
    }

    func testReLU() {
        let store = ParameterStore()
        store.materialize(seed: 1)
        // Inputs far from the kink at 0 relative to h, so the finite difference is exact.
        let l = ReLU(size: 9, maxRows: 4)
        let x = FloatBuffer(count: 36)
        for i in 0..<36 { x.pointer[i] = (i % 2 == 0 ? 1 : -1) * (0.5 + Float(i) * 0.05) }
        let r = FloatBuffer(count: 36)
        GradientCheck.randomFill(r.pointer, 36, seed: 2)
        let xm = x.matrix(rows: 4, cols: 9)
        _ = l.forward(xm, context: .evaluation)
        let dx = l.backward(r.matrix(rows: 4, cols: 9), needsInputGradient: true)
        let analytic = Array(UnsafeBufferPointer(start: dx.pointer, count: 36))
        GradientCheck.check("ReLU", buffer: x.pointer, indices: Array(0..<36), analytic: analytic) {
            GradientCheck.project(l.forward(xm, context: .evaluation), r)
        }
    }

    func testGELU() {
        let store = ParameterStore()
        store.materialize(seed: 1)
        GradientCheck.checkLayer(GELU(size: 8, maxRows: 5), store: store, rows: 5, name: "GELU")
    }

    func testLayerNorm() {
        let store = ParameterStore()
        let l = LayerNorm("ln", size: 6, maxRows: 5, store: store)
        store.materialize(seed: 1)
        // Non-trivial gain and bias.
        GradientCheck.randomFill(store.values.pointer, store.count, seed: 9, scale: 0.7)
        GradientCheck.checkLayer(l, store: store, rows: 5, name: "LayerNorm")
    }

    func testDropoutWithFixedMask() {
        let store = ParameterStore()
        store.materialize(seed: 1)
        let d = Dropout("d", size: 10, probability: 0.3, maxRows: 4)
        GradientCheck.checkLayer(d, store: store, rows: 4, name: "Dropout")
        // The mask depends on the global sample id, not the row: row 0 with id 5 equals row 5 with id 5.
        let x = FloatBuffer(count: 60, value: 1)
        let ids6 = [0, 1, 2, 3, 4, 5]
        let big = Dropout("d", size: 10, probability: 0.3, maxRows: 6)
        let yAll = ids6.withUnsafeBufferPointer { big.forward(x.matrix(rows: 6, cols: 10), context: ForwardContext(training: true, seed: 3, step: 7, sampleIDs: $0.baseAddress)) }
        let all = Array(UnsafeBufferPointer(start: yAll.pointer, count: 60))
        let one = [5]
        let yOne = one.withUnsafeBufferPointer { d.forward(x.matrix(rows: 1, cols: 10), context: ForwardContext(training: true, seed: 3, step: 7, sampleIDs: $0.baseAddress)) }
        XCTAssertEqual(Array(UnsafeBufferPointer(start: yOne.pointer, count: 10)), Array(all[50..<60]))
        // Evaluation is the identity; the kept share is about 1 - p.
        let kept = all.filter { $0 != 0 }.count
        XCTAssert(kept > 25 && kept < 60, "kept \(kept) of 60")
        let yEval = d.forward(x.matrix(rows: 4, cols: 10), context: .evaluation)
        XCTAssertEqual(Array(UnsafeBufferPointer(start: yEval.pointer, count: 40)), [Float](repeating: 1, count: 40))
    }

    func testSequentialMLP() {
        let store = ParameterStore()
        let s = Sequential([
            Linear("a", inputSize: 6, outputSize: 8, maxRows: 4, store: store),
            LayerNorm("n", size: 8, maxRows: 4, store: store),
            GELU(size: 8, maxRows: 4),
            Linear("b", inputSize: 8, outputSize: 3, maxRows: 4, store: store),
        ], inputSize: 6)
        store.materialize(seed: 5)
        GradientCheck.checkLayer(s, store: store, rows: 4, name: "Sequential")
    }

    func testEmbeddingInput() {
        let store = ParameterStore()
        let e = EmbeddingInput(denseWidth: 3, buckets: [4, 2], dim: 5, maxRows: 6, store: store)
        store.materialize(seed: 2)
        let dense = FloatBuffer(count: 18)
        GradientCheck.randomFill(dense.pointer, 18, seed: 4)
        let idx: [Int32] = [0, 1, 3, 0, 3, 1, 2, 0, 0, 1, 3, 1]
        let r = FloatBuffer(count: 6 * e.outputSize)
        GradientCheck.randomFill(r.pointer, r.count, seed: 8)
        idx.withUnsafeBufferPointer { ip in
            let y = e.forward(dense: dense.matrix(rows: 6, cols: 3), indices: ip.baseAddress!)
            e.backward(r.matrix(rows: 6, cols: y.cols))
            let g = store.gradients.array
            GradientCheck.check("Embedding", buffer: store.values.pointer, indices: Array(0..<store.count), analytic: g) {
                GradientCheck.project(e.forward(dense: dense.matrix(rows: 6, cols: 3), indices: ip.baseAddress!), r)
            }
        }
    }
}
