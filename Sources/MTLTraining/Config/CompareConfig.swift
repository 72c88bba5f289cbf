import MTLModels
import MTLWeighting

/// What `compare` trains and how (`compare:`), and what `advise` measures.
public struct CompareConfig: Sendable, Equatable {
    public struct Candidate: Sendable, Equatable, Hashable, Codable {
        public var architecture: Architecture
        public var weighting: WeightingMethod
        public init(architecture: Architecture, weighting: WeightingMethod) { self.architecture = architecture; self.weighting = weighting }
        /// The candidate's name in tables and folders, e.g. `mmoe+uncertainty`.
        public var name: String { architecture == .singleTask ? "single-task" : "\(architecture.rawValue)+\(weighting.rawValue)" }
        /// The single-task baseline every comparison includes.
        public static let baseline = Candidate(architecture: .singleTask, weighting: .fixed)
    }
    public var architectures: [Architecture] = [.hardSharing, .mmoe, .cgc, .crossStitch]
    public var weighting: [WeightingMethod] = [.equal, .uncertainty, .pcgrad]
    /// An explicit list instead of the grid architectures x weighting.
    public var candidates: [Candidate]? = nil
    public var seeds: Int = 2
    /// Epochs every candidate trains (nil: training.epochs).
    public var epochs: Int? = nil
    /// A time budget per candidate run, in seconds of training (nil: epochs only).
    public var seconds: Double? = nil
    /// Ranks per group training one candidate (0: chosen so that every rank is busy).
    public var groupSize: Int = 0
    /// Measure task relationships every this many steps in the relationship run.
    public var probeEvery: Int = 10
    /// Epochs of the relationship run (compare) and of `advise`'s pilot.
    public var probeEpochs: Int = 1
    public var output: String? = nil

    public init() {}

    /// The candidates in order: the explicit list or the grid, then the single-task baseline.
    public var plan: [Candidate] {
        var list = candidates ?? architectures.filter { $0 != .singleTask }.flatMap { a in weighting.map { Candidate(architecture: a, weighting: $0) } }
        list.removeAll { $0.architecture == .singleTask }
        return list + [.baseline]
    }
}

extension ConfigReader {
    /// A list of enumeration values by their config names.
    mutating func choices<E: RawRepresentable & CaseIterable>(_ k: String, what: String) throws -> [E]? where E.RawValue == String {
        guard let names = try strings(k) else { return nil }
        return try names.map { n in
            guard let e = E(rawValue: n) else {
                throw fail(k, nil, "names '\(n)', which is not \(what)", hint: "one of: \(E.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            return e
        }
    }

    /// The `compare:` section (finished).
    mutating func compareSection() throws -> CompareConfig {
        var c = CompareConfig()
        c.architectures = try choices("architectures", what: "an architecture") ?? c.architectures
        c.weighting = try choices("weighting", what: "a weighting method") ?? c.weighting
        if let list = try children("candidates") {
            var out: [CompareConfig.Candidate] = []
            for var e in list {
                out.append(CompareConfig.Candidate(architecture: try e.choice("architecture", default: Architecture.hardSharing),
                                                   weighting: try e.choice("weighting", default: WeightingMethod.fixed)))
                try e.finish()
            }
            c.candidates = out
        }
        c.seeds = try int("seeds", default: c.seeds, min: 1, max: ConfigLimits.count)
        c.epochs = try int("epochs")
        if let e = c.epochs, e < 1 || e > ConfigLimits.epochs { throw fail("epochs", nil, "must be between 1 and \(ConfigLimits.epochs)") }
        c.seconds = try double("seconds")
        if let v = c.seconds, !(v > 0) { throw fail("seconds", nil, "must be a positive number of seconds") }
        c.groupSize = try int("group_size", default: 0, min: 0, max: ConfigLimits.width)
        c.probeEvery = try int("probe_every", default: c.probeEvery, min: 1)
        c.probeEpochs = try int("probe_epochs", default: c.probeEpochs, min: 1, max: ConfigLimits.epochs)
        c.output = try string("output")
        if c.plan.count < 2 {
            throw fail("architectures", nil, "leaves no multi-task candidate to compare with the single-task baseline")
        }
        try finish()
        return c
    }
}
