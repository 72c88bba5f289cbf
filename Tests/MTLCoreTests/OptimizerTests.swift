import XCTest
@testable import MTLCore
import MTLTestSupport

final class OptimizerTests: XCTestCase {
    func testSGDWithMomentumByHand() {
        var p: [Float] = [1, -2], v: [Float] = [0, 0]
        let o = SGD(momentum: 0.9, weightDecay: 0.1)
        // step 1: g = [0.5, 0.5] + 0.1 p = [0.6, 0.3]; v = g; p = [1 - 0.06, -2 - 0.03]
        o.update(parameters: &p, gradients: [0.5, 0.5], state: &v, count: 2, learningRate: 0.1, step: 1)
        XCTAssertEqual(p[0], 0.94, accuracy: 1e-6); XCTAssertEqual(p[1], -2.03, accuracy: 1e-6)
        // step 2: g = [0.5 + 0.094, 0.5 - 0.203] = [0.594, 0.297]; v = 0.9 [0.6, 0.3] + g = [1.134, 0.567]
        o.update(parameters: &p, gradients: [0.5, 0.5], state: &v, count: 2, learningRate: 0.1, step: 2)
        XCTAssertEqual(v[0], 1.134, accuracy: 1e-6); XCTAssertEqual(v[1], 0.567, accuracy: 1e-6)
        XCTAssertEqual(p[0], 0.94 - 0.1134, accuracy: 1e-6); XCTAssertEqual(p[1], -2.03 - 0.0567, accuracy: 1e-6)
    }

    func testAdamThreeStepsByHand() {
        var p: [Float] = [1], s: [Float] = [0, 0]
        let o = Adam()
        let grads: [Float] = [0.5, 0.25, -1]
        // Hand-computed with beta1 0.9, beta2 0.999, lr 0.1:
        // t1: m 0.05, v 0.00025, mhat 0.5, vhat 0.25 -> p = 1 - 0.1 * 0.5 / 0.5 = 0.9
        // t2: m 0.07, v 0.00031225; mhat 0.07/0.19 = 0.3684211, vhat 0.00031225/0.001999 = 0.1562031
        //     p = 0.9 - 0.1 * 0.3684211 / 0.3952254 = 0.8067819
        // t3: m 0.063 - 0.1 = -0.037, v 0.00031193775 + 0.001 = 0.00131193775
        //     mhat -0.037/0.271 = -0.1365314, vhat 0.00131193775/0.002997001 = 0.4377502
        //     p = 0.8067819 + 0.1 * 0.1365314 / 0.6616269 = 0.8274173
        let expected: [Float] = [0.9, 0.8067819, 0.8274173]
        for (t, g) in grads.enumerated() {
            o.update(parameters: &p, gradients: [g], state: &s, count: 1, learningRate: 0.1, step: t + 1)
            XCTAssertEqual(p[0], expected[t], accuracy: 2e-6, "step \(t + 1)")
        }
        XCTAssertEqual(s[0], -0.037, accuracy: 1e-7)
        // 1 - beta2 is 0.00099998713 in Float32, as in any fp32 Adam.
        XCTAssertEqual(s[1], 0.00131193775, accuracy: 5e-8)
    }

    /// An update of a slice changes that slice and its state exactly as the whole update does,
    /// and nothing else (Adam's second-moment state lives `total` floats after the first).
    func testSliceUpdateMatchesTheWholeUpdateThereAndLeavesTheRest() {
        let g: [Float] = [0.5, -0.25, 1, 0.125, -2, 0.75]
        let optimizers: [Optimizer] = [SGD(momentum: 0.9, weightDecay: 0.1), Adam(weightDecay: 0.01), Adam(weightDecay: 0.5, decoupled: true)]
        for o in optimizers {
            var whole: [Float] = [1, -2, 0.5, 3, -1, 2], wholeState = [Float](repeating: 0.25, count: 6 * o.stateMultiplier)
            var part = whole, partState = wholeState
            for step in 1...3 {
                o.update(parameters: &whole, gradients: g, state: &wholeState, count: 6, learningRate: 0.1, step: step)
                o.update(parameters: &part, gradients: g, state: &partState, total: 6, offset: 2, count: 3, learningRate: 0.1, step: step)
            }
            for i in 0..<6 {
                let inSlice = (2..<5).contains(i)
                XCTAssertEqual(part[i], inSlice ? whole[i] : [1, -2, 0.5, 3, -1, 2][i], "\(o.name) parameter \(i)")
                for k in 0..<o.stateMultiplier {
                    XCTAssertEqual(partState[k * 6 + i], inSlice ? wholeState[k * 6 + i] : 0.25, "\(o.name) state \(k) of \(i)")
                }
            }
        }
    }

    func testAdamWDecouplesWeightDecay() {
        var p: [Float] = [2], s: [Float] = [0, 0]
        Adam(weightDecay: 0.5, decoupled: true).update(parameters: &p, gradients: [0.5], state: &s, count: 1, learningRate: 0.1, step: 1)
        // p (1 - lr wd) - lr mhat / sqrt(vhat) = 2 * 0.95 - 0.1 = 1.8
        XCTAssertEqual(p[0], 1.8, accuracy: 1e-6)
        var q: [Float] = [2], r: [Float] = [0, 0]
        Adam(weightDecay: 0.5, decoupled: false).update(parameters: &q, gradients: [0.5], state: &r, count: 1, learningRate: 0.1, step: 1)
        // L2: g = 0.5 + 0.5 * 2 = 1.5; first Adam step moves by lr: 1.9
        XCTAssertEqual(q[0], 1.9, accuracy: 1e-6)
    }

    func testClipGradientNorm() {
        var g: [Float] = [3, 4]
        let norm = clipGradientNorm(&g, count: 2, maxNorm: 1)
        XCTAssertEqual(norm, 5)
        XCTAssertEqual(g[0], 0.6, accuracy: 1e-5); XCTAssertEqual(g[1], 0.8, accuracy: 1e-5)
        var small: [Float] = [0.3, 0.4]
        clipGradientNorm(&small, count: 2, maxNorm: 1)
        XCTAssertEqual(small, [0.3, 0.4])
    }

    func testSchedules() {
        let cos = LearningRateSchedule(base: 1, warmupSteps: 10, decay: .cosine, totalSteps: 110, minimum: 0)
        XCTAssertEqual(cos.rate(at: 1), 0.1, accuracy: 1e-6)
        XCTAssertEqual(cos.rate(at: 10), 1, accuracy: 1e-6)
        XCTAssertEqual(cos.rate(at: 60), 0.5, accuracy: 1e-6)
        XCTAssertEqual(cos.rate(at: 110), 0, accuracy: 1e-6)
        let lin = LearningRateSchedule(base: 2, warmupSteps: 0, decay: .linear, totalSteps: 100, minimum: 1)
        XCTAssertEqual(lin.rate(at: 50), 1.5, accuracy: 1e-6)
        XCTAssertEqual(LearningRateSchedule(base: 3, totalSteps: 5).rate(at: 4), 3)
    }

    func testSeededPermutationIsAPermutationAndReproducible() {
        let p = seededPermutation(1000, seed: 7)
        XCTAssertEqual(p.sorted(), Array(0..<1000))
        XCTAssertEqual(p, seededPermutation(1000, seed: 7))
        XCTAssertNotEqual(p, seededPermutation(1000, seed: 8))
    }
}
