import MTLCore

/// Where training steps' time goes on this rank, summed over the steps since `Trainer.phases`
/// was set (bench turns it on; it is nil, and costs nothing, otherwise).
public struct StepPhases: Sendable {
    /// Copying the batch in, zeroing the gradients, collecting the touched table rows.
    public var load = Duration.zero
    /// The forward pass and the losses.
    public var forward = Duration.zero
    /// Backward passes (one per task for the gradient methods).
    public var backward = Duration.zero
    /// Collectives, including the wait for the slowest rank.
    public var communication = Duration.zero
    /// A gradient method's own arithmetic: the Gram matrix, the coefficients, the combination.
    public var weighting = Duration.zero
    /// Clipping and the optimizer's update.
    public var optimizer = Duration.zero
    public var steps = 0
    /// The steps' whole time, the phases and what lies between them (probes, bookkeeping).
    public var total = Duration.zero

    public init() {}

    public static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }

    /// Each phase's share of the total, and `other` for the rest.
    public var shares: [String: Double] {
        let t = max(Self.seconds(total), 1e-12)
        var s: [String: Double] = [:]
        let parts: [(String, Duration)] = [("load", load), ("forward", forward), ("backward", backward),
                                           ("communication", communication), ("weighting", weighting), ("optimizer", optimizer)]
        var covered = 0.0
        for (name, d) in parts { s[name] = Self.seconds(d) / t; covered += Self.seconds(d) }
        s["other"] = max(0, (Self.seconds(total) - covered) / t)
        return s
    }
}

extension Trainer {
    /// Runs `body`, adding its time to `phase` when phases are measured.
    @inline(__always)
    func timed<T>(_ phase: WritableKeyPath<StepPhases, Duration>, _ body: () throws -> T) rethrows -> T {
        guard phases != nil else { return try body() }
        let start = ContinuousClock.now
        defer { phases?[keyPath: phase] += ContinuousClock.now - start }
        return try body()
    }
}
