import XCTest
@testable import MTLCore
import MTLTestSupport

final class LossTests: XCTestCase {
    let logits: [Float] = [2.5, -1.2, 0.3, -3.0, 0.9, 15, -15]
    let binary: [Float] = [1, 0, 1, 1, 0, 1, 0]
    let mask: [Float] = [1, 1, 0, 1, 1, 1, 1]

    func testBinaryCrossEntropyValuesAndGradient() {
        let z = logits; var g = [Float](repeating: 9, count: 7)
        let loss = Loss.binaryCrossEntropyWithLogits(logits: z, targets: binary, mask: mask, rows: 7, scale: 1, gradient: &g)
        // Hand formula: -[y log s(z) + (1 - y) log(1 - s(z))] over unmasked rows.
        var expected = 0.0
        for i in 0..<7 where mask[i] != 0 {
            let s = 1 / (1 + exp(-Double(z[i])))
            expected -= Double(binary[i]) * log(s) + (1 - Double(binary[i])) * log(1 - s)
        }
        XCTAssertEqual(loss, expected, accuracy: 1e-5)
        XCTAssertEqual(g[2], 0, "masked row has no gradient")
        var scratch = [Float](repeating: 0, count: 7)
        let zb = buffer(z)
        GradientCheck.check("BCE", buffer: zb.pointer, indices: Array(0..<5), analytic: Array(g[0..<5]), h: 1e-2) {
            Loss.binaryCrossEntropyWithLogits(logits: zb.pointer, targets: binary, mask: mask, rows: 7, scale: 1, gradient: &scratch)
        }
    }

    func testSoftmaxCrossEntropyGradient() {
        let z: [Float] = [0.2, -1.0, 1.5, 0.3, 0.0, -0.4, 2.0, 1.0, -2.0, 0.1, 0.1, 0.1]
        let y: [Float] = [2, 0, 1, 1]
        let m: [Float] = [1, 1, 0, 1]
        var g = [Float](repeating: 0, count: 12)
        let loss = Loss.softmaxCrossEntropy(logits: z, targets: y, mask: m, rows: 4, classes: 3, scale: 1, gradient: &g)
        // Last row: uniform logits over 3 classes -> log 3.
        let row0 = log(exp(0.2) + exp(-1.0) + exp(1.5)) - 1.5
        let row1 = log(exp(0.3) + exp(0.0) + exp(-0.4)) - 0.3
        XCTAssertEqual(loss, row0 + row1 + log(3.0), accuracy: 1e-5)
        var scratch = g
        let zb = buffer(z)
        GradientCheck.check("SoftmaxCE", buffer: zb.pointer, indices: Array(0..<12), analytic: g, h: 1e-2) {
            Loss.softmaxCrossEntropy(logits: zb.pointer, targets: y, mask: m, rows: 4, classes: 3, scale: 1, gradient: &scratch)
        }
    }

    func testMeanSquaredErrorGradientAndScale() {
        let p: [Float] = [0.5, -1, 2, 3]
        let y: [Float] = [1, 1, 1, 1]
        let m: [Float] = [1, 0, 1, 1]
        var g = [Float](repeating: 0, count: 4)
        let loss = Loss.meanSquaredError(predictions: p, targets: y, mask: m, rows: 4, scale: 0.5, gradient: &g)
        XCTAssertEqual(loss, 0.25 + 1 + 4, accuracy: 1e-6)
        let expectedGradient: [Float] = [-0.5, 0, 1, 2]
        XCTAssertEqual(g, expectedGradient)
        var scratch = g
        let pb = buffer(p)
        GradientCheck.check("MSE", buffer: pb.pointer, indices: Array(0..<4), analytic: g.map { $0 / 0.5 }, h: 1e-2) {
            Loss.meanSquaredError(predictions: pb.pointer, targets: y, mask: m, rows: 4, scale: 1, gradient: &scratch)
        }
    }

    func buffer(_ a: [Float]) -> FloatBuffer {
        let b = FloatBuffer(count: a.count)
        for i in a.indices { b.pointer[i] = a[i] }
        return b
    }
}
