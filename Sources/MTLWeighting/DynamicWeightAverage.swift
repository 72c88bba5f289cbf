import MTLCore

/// Dynamic weight average (Liu, Johns and Davison, "End-to-End Multi-Task Learning with
/// Attention", CVPR 2019): w = T softmax(r / temperature), r_t = L_t(e-1) / L_t(e-2), the ratio of
/// the task's mean training loss in the last two epochs; equal weights for the first two epochs.
public final class DynamicWeightAverage: LossWeighting {
    public var method: WeightingMethod { .dwa }
    public let tasks: Int
    let temperature: Double
    /// The mean training loss of each task in the last two epochs (older first), and how many
    /// epochs are recorded (at most 2).
    var history: [Float]
    var epochsRecorded = 0

    public init(tasks: Int, temperature: Double) {
        self.tasks = tasks
        self.temperature = temperature
        history = [Float](repeating: 0, count: 2 * tasks)
    }

    public func weights(step: Int, seed: UInt64, losses: [Double]) -> [Double] {
        let t = tasks
        guard epochsRecorded >= 2 else { return [Double](repeating: 1, count: t) }
        let r = (0..<t).map { Double(history[t + $0]) / max(Double(history[$0]), 1e-20) / temperature }
        return softmax(r).map { $0 * Double(t) }
    }

    public func endEpoch(losses: [Double]) {
        for i in 0..<tasks { history[i] = history[tasks + i]; history[tasks + i] = Float(losses[i]) }
        epochsRecorded = min(2, epochsRecorded + 1)
    }

    public var state: [(name: String, values: [Float])] { [("weighting.dwa.history", history + [Float(epochsRecorded)])] }

    public func restore(_ tensors: [String: [Float]]) throws {
        let h = try take(tensors, "weighting.dwa.history", 2 * tasks + 1)
        history = Array(h.prefix(2 * tasks))
        guard let n = Int(exactly: h[2 * tasks]), (0...2).contains(n) else {
            throw UserError("the checkpoint's weighting.dwa.history holds \(h[2 * tasks]) as its epoch count, not 0, 1 or 2",
                            hint: "the checkpoint is damaged; resume from another")
        }
        epochsRecorded = n
    }
}
