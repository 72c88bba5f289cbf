/// Learning rate over steps: linear warm-up from 0, then constant, cosine or linear decay to
/// `minimum` at `totalSteps`.
public struct LearningRateSchedule: Equatable, Sendable {
    public enum Decay: String, Sendable, CaseIterable { case constant, cosine, linear }
    public var base: Float
    public var warmupSteps: Int
    public var decay: Decay
    public var totalSteps: Int
    public var minimum: Float

    public init(base: Float, warmupSteps: Int = 0, decay: Decay = .constant, totalSteps: Int, minimum: Float = 0) {
        self.base = base; self.warmupSteps = warmupSteps; self.decay = decay
        self.totalSteps = totalSteps; self.minimum = minimum
    }

    /// The rate for `step`, counting from 1.
    public func rate(at step: Int) -> Float {
        if warmupSteps > 0 && step <= warmupSteps { return base * Float(step) / Float(warmupSteps) }
        let span = max(totalSteps - warmupSteps, 1)
        let progress = min(max(Double(step - warmupSteps) / Double(span), 0), 1)
        switch decay {
        case .constant: return base
        case .linear: return minimum + (base - minimum) * Float(1 - progress)
        case .cosine: return minimum + (base - minimum) * Float(0.5 * (1 + _cos(Double.pi * progress)))
        }
    }
}
