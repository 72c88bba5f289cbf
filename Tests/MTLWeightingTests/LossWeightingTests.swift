import Foundation
import XCTest
import MTLCore
@testable import MTLWeighting

/// The loss methods' hand-computed weights and updates, and GradNorm's step.
final class LossWeightingTests: XCTestCase {
    func weighting(_ method: WeightingMethod, tasks n: Int = 2, _ adjust: (inout WeightingConfig) -> Void = { _ in }) -> TaskWeighting {
        var c = WeightingConfig()
        c.method = method
        adjust(&c)
        return makeWeighting(c, taskWeights: [Double](repeating: 1, count: n), optimizer: SGD(momentum: 0))
    }

    func losses(_ method: WeightingMethod, tasks n: Int = 2, _ adjust: (inout WeightingConfig) -> Void = { _ in }) -> LossWeighting {
        guard case .losses(let w) = weighting(method, tasks: n, adjust).role else { preconditionFailure("\(method) is a loss method") }
        return w
    }

    /// FAMO by hand: z = softmax(0, 0) = (1/2, 1/2), losses (1, 4): c = 1/2 + 1/8 = 5/8, weights
    /// z_i / (c l_i) = (0.8, 0.2). After the update the losses are (0.5, 4): delta = (ln 2, 0),
    /// the softmax's Jacobian gives d = z (delta - z . delta) = (ln 2 / 4, -ln 2 / 4), and Adam's
    /// first step moves each logit by lr sign(d): the task whose loss fell least gains weight.
    func testFAMOWeightsAndLogitStep() throws {
        let w = losses(.famo)
        XCTAssert(w.needsStepLosses && w.needsLossesAfterUpdate)
        let first = w.weights(step: 1, seed: 0, losses: [1, 4])
        XCTAssertEqual(first[0], 0.8, accuracy: 1e-7); XCTAssertEqual(first[1], 0.2, accuracy: 1e-7)
        w.afterUpdate(losses: [0.5, 4])
        let logits = try XCTUnwrap(w.state.first { $0.name == "weighting.famo.logits" }?.values)
        XCTAssertEqual(Double(logits[0]), -0.025, accuracy: 1e-6)
        XCTAssertEqual(Double(logits[1]), 0.025, accuracy: 1e-6)
        // z = softmax(-0.025, 0.025); losses (1, 1): the weights are z itself (c = 1).
        let z1 = 1 / (1 + exp(0.05))
        let next = w.weights(step: 2, seed: 0, losses: [1, 1])
        XCTAssertEqual(next[0], z1, accuracy: 1e-6); XCTAssertEqual(next[1], 1 - z1, accuracy: 1e-6)
    }

    func testUncertaintyWeightsAndTheirUpdate() {
        let w = losses(.uncertainty)
        let s = { (w as? UncertaintyWeighting)?.logVariances.values ?? [] }
        // s = -0.5: w = exp(0.5) / 2.
        XCTAssertEqual(w.weights(step: 1, seed: 0, losses: [2, 0.5])[0], exp(0.5) / 2, accuracy: 1e-6)
        // dL/ds = 1/2 - L / (2 exp(s)); SGD with lr 0.1.
        w.afterStep(losses: [2, 0.5], step: 1, learningRate: 0.1)
        XCTAssertEqual(Double(s()[0]), -0.5 - 0.1 * (0.5 - 2 * 0.5 * exp(0.5)), accuracy: 1e-6)
        XCTAssertEqual(Double(s()[1]), -0.5 - 0.1 * (0.5 - 0.5 * 0.5 * exp(0.5)), accuracy: 1e-6)
    }

    func testGeometricLossWeights() {
        // L = sqrt(1 * 4) = 2: w_t = L / (T L_t) = (1, 0.25).
        XCTAssertEqual(losses(.gls).weights(step: 1, seed: 0, losses: [1, 4]), [1, 0.25])
    }

    func testDynamicWeightAverage() {
        let w = losses(.dwa) { $0.dwaTemperature = 2 }
        XCTAssertEqual(w.weights(step: 1, seed: 0, losses: []), [1, 1], "equal for the first two epochs")
        w.endEpoch(losses: [1, 2])
        XCTAssertEqual(w.weights(step: 1, seed: 0, losses: []), [1, 1])
        w.endEpoch(losses: [0.5, 2])
        // r = (0.5, 1): w = 2 softmax(r / 2).
        let e0 = exp(0.25), e1 = exp(0.5)
        let got = w.weights(step: 1, seed: 0, losses: [])
        XCTAssertEqual(got[0], 2 * e0 / (e0 + e1), accuracy: 1e-12)
        XCTAssertEqual(got[1], 2 * e1 / (e0 + e1), accuracy: 1e-12)
    }

    func testRandomLossWeightsComeFromSeedAndStep() {
        let w = losses(.rlw, tasks: 3)
        let a = w.weights(step: 7, seed: 1, losses: [])
        XCTAssertEqual(a.reduce(0, +), 1, accuracy: 1e-12)
        XCTAssertEqual(a, losses(.rlw, tasks: 3).weights(step: 7, seed: 1, losses: []), "same (seed, step), same weights")
        XCTAssertNotEqual(a, w.weights(step: 8, seed: 1, losses: []))
    }

    func testGradNormStepByHand() {
        let w = GradNorm(tasks: 2, alpha: 1.5, optimizer: SGD(momentum: 0))   // SGD lr 0.1
        // |g| = (1, 2), first step: ratios 1, target = mean(w |g|) = 1.5; d/dw = (-1, +2) * |g| signs:
        // (-1 * 1, +1 * 2); through w = 2 softmax(theta) at theta = 0: d/dtheta = w (dw - mean(dw w)) = (-1.5, 1.5).
        let c = w.coefficients(gram: [1, 0, 0, 4], losses: [0.7, 0.3], step: 1, seed: 0, learningRate: 0.1)
        XCTAssertEqual(c, [1, 1], "this step uses the weights before the update")
        XCTAssertEqual(w.logits.values[0], 0.15, accuracy: 1e-7)
        XCTAssertEqual(w.logits.values[1], -0.15, accuracy: 1e-7)
        let next = w.coefficients(gram: [1, 0, 0, 4], losses: [0.7, 0.3], step: 2, seed: 0, learningRate: 0)
        XCTAssertEqual(next[0], 2 * exp(0.15) / (exp(0.15) + exp(-0.15)), accuracy: 1e-6)
    }
}
