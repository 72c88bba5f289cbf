import Foundation
import MTLCore

/// FAMO, fast adaptive multitask optimization (Liu, Liu, Jin, Stone and Liu, NeurIPS 2023), as its
/// reference implementation (github.com/Cranial-XIX/FAMO) does it: task logits xi, z = softmax(xi);
/// the step descends sum_i z_i log l_i, i.e. the losses weighted by z_i / (c l_i) with
/// c = sum_j z_j / l_j (one backward pass, whatever the number of tasks); after the update the
/// same batch's losses l'_i are measured (one more forward pass) and the logits take one Adam
/// step (lr `famo_lr`, L2 decay `famo_gamma`) along the softmax's Jacobian times
/// delta_i = log l_i - log l'_i, raising the weight of tasks whose loss fell least.
/// Every input is a global-batch loss, so every rank computes the same weights. Logits and Adam
/// moments are kept as 32-bit floats (as checkpoints store them): a resumed run continues exactly.
public final class FAMO: LossWeighting {
    public var method: WeightingMethod { .famo }
    public let tasks: Int
    let learningRate: Double, decay: Double
    var logits: [Float], first: [Float], second: [Float]
    var updates = 0
    /// The losses the last weights were computed from (this step's, before its update).
    var before: [Double] = []
    static let epsilon = 1e-8

    public init(tasks: Int, learningRate: Double, decay: Double) {
        self.tasks = tasks; self.learningRate = learningRate; self.decay = decay
        logits = [Float](repeating: 0, count: tasks)
        first = logits; second = logits
    }

    public var needsStepLosses: Bool { true }
    public var needsLossesAfterUpdate: Bool { true }

    var z: [Double] { softmax(logits.map(Double.init)) }

    public func weights(step: Int, seed: UInt64, losses: [Double]) -> [Double] {
        before = losses
        let z = self.z
        let d = losses.map { max($0, 0) + FAMO.epsilon }
        let c = zip(z, d).reduce(0) { $0 + $1.0 / $1.1 }
        return (0..<tasks).map { z[$0] / (d[$0] * c) }
    }

    public func afterUpdate(losses after: [Double]) {
        guard before.count == tasks, after.count == tasks else { return }
        let z = self.z
        let delta = (0..<tasks).map { log(max(before[$0], 0) + FAMO.epsilon) - log(max(after[$0], 0) + FAMO.epsilon) }
        // The gradient through the softmax: d_i = z_i (delta_i - sum_j z_j delta_j).
        let mean = zip(z, delta).reduce(0) { $0 + $1.0 * $1.1 }
        updates += 1
        let b1 = 0.9, b2 = 0.999
        for i in 0..<tasks {
            let g = z[i] * (delta[i] - mean) + decay * Double(logits[i])
            first[i] = Float(b1 * Double(first[i]) + (1 - b1) * g)
            second[i] = Float(b2 * Double(second[i]) + (1 - b2) * g * g)
            let mHat = Double(first[i]) / (1 - pow(b1, Double(updates))), vHat = Double(second[i]) / (1 - pow(b2, Double(updates)))
            logits[i] = Float(Double(logits[i]) - learningRate * mHat / (vHat.squareRoot() + 1e-8))
        }
    }

    public var state: [(name: String, values: [Float])] {
        [("weighting.famo.logits", logits), ("weighting.famo.adam", first + second + [Float(updates)])]
    }

    public func restore(_ tensors: [String: [Float]]) throws {
        logits = try take(tensors, "weighting.famo.logits", tasks)
        let a = try take(tensors, "weighting.famo.adam", 2 * tasks + 1)
        first = Array(a[0..<tasks]); second = Array(a[tasks..<(2 * tasks)])
        guard let n = Int(exactly: a[2 * tasks].rounded()), n >= 0 else {
            throw UserError("the checkpoint's weighting.famo.adam holds \(a[2 * tasks]) as its step count", hint: "the checkpoint is damaged; resume from another")
        }
        updates = n
    }
}
