import MTLModels
import MTLWeighting

/// What `compare` trains and how (`compare:`), and what `advise` measures.
public struct CompareConfig: Sendable, Equatable {
    public struct Candidate: Sendable, Equatable, Hashable, Codable {
        public var architecture: Architecture
        public var weighting: WeightingMethod
        /// Settings the search chose for it (nil: the config's own).
        public var settings: Settings = Settings()
        public init(architecture: Architecture, weighting: WeightingMethod, settings: Settings = Settings()) {
            self.architecture = architecture; self.weighting = weighting; self.settings = settings
        }
        /// The candidate's name in tables and folders, e.g. `mmoe+uncertainty`, and with the
        /// search's settings `mmoe+uncertainty (lr 0.003, width x0.5)`; a single-task model
        /// without hidden layers is `linear` (logistic regression for classification tasks).
        public var name: String {
            let base = isLinear ? "linear" : architecture == .singleTask ? "single-task" : "\(architecture.rawValue)+\(weighting.rawValue)"
            let s = settings.description(linear: isLinear)
            return s.isEmpty ? base : "\(base) (\(s))"
        }
        /// A single-task model without hidden layers: one linear model per task.
        public var isLinear: Bool { architecture == .singleTask && settings.width == 0 }
        /// Whether it trains the tasks separately (single-task or linear).
        public var isSeparate: Bool { architecture == .singleTask }
        /// The single-task baseline every comparison includes.
        public static let baseline = Candidate(architecture: .singleTask, weighting: .fixed)

        /// A folder name: the name with everything but letters, digits, '+', '.' and '-' as '_'.
        public var folder: String {
            String(name.map { $0.isLetter || $0.isNumber || "+.-".contains($0) ? $0 : "_" })
        }
    }

    /// The settings a search varies (nil: the config's own value).
    public struct Settings: Sendable, Equatable, Hashable, Codable {
        public var learningRate: Double? = nil
        public var weightDecay: Double? = nil
        public var dropout: Double? = nil
        /// A factor on model.width (every hidden width); 0: no hidden layers.
        public var width: Double? = nil
        public init(learningRate: Double? = nil, weightDecay: Double? = nil, dropout: Double? = nil, width: Double? = nil) {
            self.learningRate = learningRate; self.weightDecay = weightDecay; self.dropout = dropout; self.width = width
        }
        enum CodingKeys: String, CodingKey {
            case learningRate = "learning_rate", weightDecay = "weight_decay", dropout, width
        }
        func description(linear: Bool) -> String {
            var parts: [String] = []
            func g(_ x: Double) -> String { String(format: "%g", x) }
            if let v = learningRate { parts.append("lr \(g(v))") }
            if let v = weightDecay { parts.append("wd \(g(v))") }
            if let v = dropout, !linear { parts.append("dropout \(g(v))") }
            if let v = width, !linear { parts.append("width x\(g(v))") }
            return parts.joined(separator: ", ")
        }
    }

    /// `compare.search`: successive halving (Jamieson and Talwalkar, AISTATS 2016) over
    /// architectures x weighting x these settings, in three brackets run side by side (the
    /// multi-task candidates, single-task models, linear models), each keeping the best
    /// 1/`eta` of its configurations at every rung and training the rest `eta` times longer.
    public struct Search: Sendable, Equatable {
        /// Multi-task configurations sampled at the first rung (single-task: a third as many,
        /// linear: a sixth, at least 2 each where the space has them).
        public var configurations: Int = 18
        public var eta: Int = 3
        /// The fewest epochs a rung trains; the last rung trains compare.epochs (else
        /// training.epochs), each rung before it 1/eta as many.
        public var minEpochs: Int = 1
        /// A wall-clock budget for the whole comparison, search and final runs (nil: epochs only).
        public var seconds: Double? = nil
        public var learningRate: [Double] = [3e-4, 1e-3, 3e-3]
        public var weightDecay: [Double] = [0, 1e-5, 1e-4]
        public var dropout: [Double] = [0, 0.1, 0.3]
        public var width: [Double] = [0.5, 1]
        public init() {}
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
    /// The fewest measurements the relationship run takes: probe_every is lowered (to every
    /// step at most) to reach them; a warning says when even that falls short.
    public var probeSteps: Int = 20
    /// Epochs of the relationship run (compare) and of `advise`'s pilot.
    public var probeEpochs: Int = 1
    public var output: String? = nil
    /// k-fold cross-validation of the training rows (0: the validation split, once per seed).
    public var folds: Int = 0
    public var search: Search? = nil

    public init() {}

    /// The replicates every final candidate trains, and across which differences are paired:
    /// seeds x folds.
    public var replicates: Int { seeds * max(folds, 1) }

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
        c.probeSteps = try int("probe_steps", default: c.probeSteps, min: 1, max: ConfigLimits.steps)
        c.output = try string("output")
        c.folds = try int("folds", default: 0, min: 0, max: ConfigLimits.count)
        if c.folds == 1 { throw fail("folds", nil, "is 1; cross-validation needs at least 2 folds", hint: "0 uses the validation split") }
        if var s = try child("search") {
            var r = CompareConfig.Search()
            r.configurations = try s.int("configurations", default: r.configurations, min: 1, max: ConfigLimits.count)
            r.eta = try s.int("eta", default: r.eta, min: 2, max: 100)
            r.minEpochs = try s.int("min_epochs", default: r.minEpochs, min: 1, max: ConfigLimits.epochs)
            r.seconds = try s.double("seconds")
            if let v = r.seconds, !(v > 0) { throw s.fail("seconds", nil, "must be a positive number of seconds") }
            func list(_ k: String, _ d: [Double], _ range: ClosedRange<Double>) throws -> [Double] {
                guard let names = try s.strings(k) else { return d }
                let v = try names.map { n -> Double in
                    guard let x = Double(n), range.contains(x) else { throw s.fail(k, nil, "lists '\(n)', which is not a number in \(range)") }
                    return x
                }
                guard !v.isEmpty else { throw s.fail(k, nil, "is empty", hint: "list at least one value, or leave it out for the default \(d)") }
                return Array(Set(v)).sorted()
            }
            r.learningRate = try list("learning_rate", r.learningRate, 1e-9...10)
            r.weightDecay = try list("weight_decay", r.weightDecay, 0...10)
            r.dropout = try list("dropout", r.dropout, 0...0.95)
            r.width = try list("width", r.width, 0...16)
            try s.finish()
            c.search = r
        }
        if c.plan.count < 2 {
            throw fail("architectures", nil, "leaves no multi-task candidate to compare with the single-task baseline")
        }
        try finish()
        return c
    }
}
