import Foundation
import MTLModels
import MTLWeighting

/// `summary.json`: what a finished run did and reached.
public struct RunSummary: Codable, Equatable, Sendable {
    public var config: String
    public var architecture: Architecture
    public var worldSize: Int
    public var weighting: WeightingMethod
    public var epochs: Int
    public var steps: Int
    public var parameters: Int
    /// Seconds of training in this invocation.
    public var wallSeconds: Double
    public var samplesPerSecond: Double
    public var bestMetric: String
    public var bestValue: Double?
    public var bestEpoch: Int?
    /// Set when `compare.seconds` ended the run before its epochs.
    public var stoppedByTimeBudget: Bool?
    /// Per task: `epoch`, `train_loss` and each validation metric, one value per epoch
    /// (the learning curves; NaN, null in JSON, where an epoch lacks one).
    public var history: [String: [String: [Double]]]
    /// Per task: the validation metrics of the best epoch.
    public var validation: [String: MetricValues]?
    /// Per task: the test metrics, and which parameters gave them.
    public var test: [String: MetricValues]?
    public var testParameters: String?

    enum CodingKeys: String, CodingKey {
        case config, architecture, weighting, epochs, steps, parameters, history, validation, test
        case worldSize = "world_size", wallSeconds = "wall_seconds", samplesPerSecond = "samples_per_second"
        case bestMetric = "best_metric", bestValue = "best_value", bestEpoch = "best_epoch"
        case stoppedByTimeBudget = "stopped_by_time_budget", testParameters = "test_parameters"
    }

    public init(config: String, architecture: Architecture, worldSize: Int, weighting: WeightingMethod, epochs: Int, steps: Int,
                parameters: Int, wallSeconds: Double, samplesPerSecond: Double, bestMetric: String) {
        self.config = config; self.architecture = architecture; self.worldSize = worldSize; self.weighting = weighting
        self.epochs = epochs; self.steps = steps; self.parameters = parameters; self.wallSeconds = wallSeconds
        self.samplesPerSecond = samplesPerSecond; self.bestMetric = bestMetric; history = [:]
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        config = try c.decode(String.self, forKey: .config)
        architecture = try c.decode(Architecture.self, forKey: .architecture)
        worldSize = try c.decode(Int.self, forKey: .worldSize)
        weighting = try c.decode(WeightingMethod.self, forKey: .weighting)
        epochs = try c.decode(Int.self, forKey: .epochs)
        steps = try c.decode(Int.self, forKey: .steps)
        parameters = try c.decode(Int.self, forKey: .parameters)
        wallSeconds = try c.decode(JSONNumber.self, forKey: .wallSeconds).value
        samplesPerSecond = try c.decode(JSONNumber.self, forKey: .samplesPerSecond).value
        bestMetric = try c.decode(String.self, forKey: .bestMetric)
        bestValue = try c.decodeIfPresent(JSONNumber.self, forKey: .bestValue)?.value
        bestEpoch = try c.decodeIfPresent(Int.self, forKey: .bestEpoch)
        stoppedByTimeBudget = try c.decodeIfPresent(Bool.self, forKey: .stoppedByTimeBudget)
        history = try c.decode([String: [String: [JSONNumber]]].self, forKey: .history).mapValues { $0.mapValues(\.values) }
        validation = try c.decodeIfPresent([String: MetricValues].self, forKey: .validation)
        test = try c.decodeIfPresent([String: MetricValues].self, forKey: .test)
        testParameters = try c.decodeIfPresent(String.self, forKey: .testParameters)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(config, forKey: .config)
        try c.encode(architecture, forKey: .architecture)
        try c.encode(worldSize, forKey: .worldSize)
        try c.encode(weighting, forKey: .weighting)
        try c.encode(epochs, forKey: .epochs)
        try c.encode(steps, forKey: .steps)
        try c.encode(parameters, forKey: .parameters)
        try c.encode(JSONNumber(wallSeconds), forKey: .wallSeconds)
        try c.encode(JSONNumber(samplesPerSecond), forKey: .samplesPerSecond)
        try c.encode(bestMetric, forKey: .bestMetric)
        try c.encodeIfPresent(bestValue.map(JSONNumber.init), forKey: .bestValue)
        try c.encodeIfPresent(bestEpoch, forKey: .bestEpoch)
        try c.encodeIfPresent(stoppedByTimeBudget, forKey: .stoppedByTimeBudget)
        try c.encode(history.mapValues { $0.mapValues(\.json) }, forKey: .history)
        try c.encodeIfPresent(validation, forKey: .validation)
        try c.encodeIfPresent(test, forKey: .test)
        try c.encodeIfPresent(testParameters, forKey: .testParameters)
    }

    /// Task `task`'s curve of `key` (`train_loss` or a metric name) over the epochs.
    public func curve(_ task: String, _ key: String) -> [Double] { history[task]?[key] ?? [] }
}
