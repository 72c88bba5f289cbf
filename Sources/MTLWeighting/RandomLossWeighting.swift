import MTLCore

/// Random loss weighting (Lin et al., "Reasonable Effectiveness of Random Weighting: A Litmus
/// Test for Multi-Task Learning", TMLR 2022): w = softmax(z), z ~ N(0, 1) per task, drawn anew
/// each step from (seed, step), so every rank draws the same.
public final class RandomLossWeighting: LossWeighting {
    public var method: WeightingMethod { .rlw }
    public let tasks: Int

    public init(tasks: Int) { self.tasks = tasks }

    public func weights(step: Int, seed: UInt64, losses: [Double]) -> [Double] {
        var rng = SplitMix64(seed: SplitMix64.mix(seed ^ 0x5A17_0000_0000_0000 ^ UInt64(step)))
        return softmax((0..<tasks).map { _ in Double(rng.nextNormal()) })
    }
}
