import XCTest
@testable import MTLCore
import MTLTestSupport

final class SparseLinearTests: XCTestCase {
    /// Three rows over width 10 (one row empty), a repeated index in another.
    func batch() -> SparseBatch {
        let b = SparseBatch(width: 10, maxRows: 4, capacity: 1)   // capacity 1: growing is exercised
        let rows: [([Int32], [Float])] = [([1, 4, 9], [0.5, -1, 2]), ([], []), ([4, 4, 0], [1, 0.25, -0.5])]
        for (i, v) in rows { i.withUnsafeBufferPointer { ip in v.withUnsafeBufferPointer { b.append(index: ip, value: $0) } } }
        return b
    }

    func testForwardIsTheDenseProduct() {
        let store = ParameterStore()
        let layer = SparseLinear("s", inputSize: 10, outputSize: 3, maxRows: 4, store: store)
        store.materialize(seed: 1)
        XCTAssert((0..<30).allSatisfy { store.value(layer.weight)[$0] == 0 }, "the table starts at zero")
        GradientCheck.randomFill(store.value(layer.weight), 30, seed: 3)
        GradientCheck.randomFill(store.value(layer.bias), 3, seed: 2)
        let x = batch()
        XCTAssertEqual(x.rows, 3)
        XCTAssertEqual(x.nonzeros, 6)
        let y = layer.forward(x)
        let w = store.value(layer.weight), b = store.value(layer.bias)
        // Dense x for the same rows.
        var dense = [[Float]](repeating: [Float](repeating: 0, count: 10), count: 3)
        for r in 0..<3 { for k in x.rowStart[r]..<x.rowStart[r + 1] { dense[r][Int(x.index[k])] += x.value[k] } }
        for r in 0..<3 {
            for j in 0..<3 {
                var e = b[j]
                for i in 0..<10 { e += dense[r][i] * w[i * 3 + j] }
                XCTAssertEqual(y.pointer[r * 3 + j], e, accuracy: 1e-5)
            }
        }
    }

    func testGradientsAgainstFiniteDifferencesAndOnlyTouchedRows() {
        let store = ParameterStore()
        let layer = SparseLinear("s", inputSize: 10, outputSize: 3, maxRows: 4, store: store)
        store.materialize(seed: 1)
        GradientCheck.randomFill(store.values.pointer, store.count, seed: 4)
        let x = batch()
        let r = FloatBuffer(count: 9)
        GradientCheck.randomFill(r.pointer, 9, seed: 5)
        store.zeroGradients()
        let y = layer.forward(x)
        layer.backward(UnsafePointer(r.pointer), stride: 3)
        let analytic = store.gradients.array
        let f = { GradientCheck.project(layer.forward(x), r) }
        _ = y
        let all = Array(0..<store.count)
        GradientCheck.check("sparse", buffer: store.values.pointer, indices: all, analytic: all.map { analytic[$0] }, f)
        // Rows of W no sample touches get no gradient at all.
        for i in [2, 3, 5, 6, 7, 8] { for j in 0..<3 { XCTAssertEqual(analytic[i * 3 + j], 0) } }
    }

    func testMultiLabelCrossEntropyGradientAndValue() {
        let logits: [Float] = [0.3, -1.2, 2.0, 0.1, 0.5, -0.4]
        let targets: [Float] = [1, 0, 1, 0, 1, 1]
        let mask: [Float] = [1, 0]   // second row's labels missing
        var g = [Float](repeating: 9, count: 6)
        let loss = Loss.multiLabelCrossEntropy(logits: logits, targets: targets, mask: mask, rows: 2, classes: 3, scale: 0.5, gradient: &g)
        // Row 0: mean over its classes of BCE.
        func bce(_ z: Float, _ y: Float) -> Double { Double(-(y * log(1 / (1 + exp(-z))) + (1 - y) * log(1 - 1 / (1 + exp(-z))))) }
        XCTAssertEqual(loss, (bce(0.3, 1) + bce(-1.2, 0) + bce(2.0, 1)) / 3, accuracy: 1e-6)
        XCTAssertEqual(g[3], 0); XCTAssertEqual(g[4], 0); XCTAssertEqual(g[5], 0)
        XCTAssertEqual(g[1], 0.5 / 3 * Loss.sigmoid(-1.2), accuracy: 1e-7)
        XCTAssertEqual(g[0], 0.5 / 3 * (Loss.sigmoid(0.3) - 1), accuracy: 1e-7)
        // Class weights: positives of class c by w[c], negatives by w[3 + c].
        let w: [Float] = [2, 1, 4, 0.5, 3, 1]
        var gw = [Float](repeating: 0, count: 6)
        let weighted = Loss.multiLabelCrossEntropy(logits: logits, targets: targets, mask: mask, rows: 2, classes: 3, scale: 0.5,
                                                   gradient: &gw, classWeights: w)
        XCTAssertEqual(weighted, (2 * bce(0.3, 1) + 3 * bce(-1.2, 0) + 4 * bce(2.0, 1)) / 3, accuracy: 1e-6)
        XCTAssertEqual(gw[1], 3 * g[1], accuracy: 1e-7)
        XCTAssertEqual(gw[0], 2 * g[0], accuracy: 1e-7)
    }
}
