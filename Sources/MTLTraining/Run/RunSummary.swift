import Foundation
import MTLModels
import MTLWeighting

/// `summary.json`: what a finished run did and reached.
public struct RunSummary: Codable, Sendable {
    public var config: String
    public var architecture: Architecture
    public var worldSize: Int
    public var weighting: WeightingMethod
    public var epochs: Int
    public var steps: Int
    public var parameters: Int
    /// Seconds of training in this invocation.
    @NaNAsNull public var wallSeconds: Double
    @NaNAsNull public var samplesPerSecond: Double
    public var bestMetric: String
    public var bestValue: Double?
    public var bestEpoch: Int?
    /// Set when `compare.seconds` ended the run before its epochs.
    public var stoppedByTimeBudget: Bool?
    /// Set when `training.patience` epochs passed without a better validation value.
    public var stoppedByPatience: Bool?
    /// How many invocations the run took (`--stop-after-epochs` and `--resume`); wall time and
    /// samples/s add up all of them.
    public var pieces: Int?
    /// Per task: `epoch`, `train_loss` and each validation metric, one value per epoch
    /// (the learning curves; NaN, null in JSON, where an epoch lacks one).
    @NaNAsNull public var history: [String: [String: [Double]]]
    /// Per task: the validation metrics of the best epoch.
    public var validation: [String: MetricValues]?
    /// Per task: the test metrics, and which parameters gave them.
    public var test: [String: MetricValues]?
    public var testParameters: String?

    enum CodingKeys: String, CodingKey {
        case config, architecture, weighting, epochs, steps, parameters, history, validation, test
        case worldSize = "world_size", wallSeconds = "wall_seconds", samplesPerSecond = "samples_per_second"
        case bestMetric = "best_metric", bestValue = "best_value", bestEpoch = "best_epoch"
        case stoppedByTimeBudget = "stopped_by_time_budget", stoppedByPatience = "stopped_by_patience", testParameters = "test_parameters", pieces
    }

    public init(config: String, architecture: Architecture, worldSize: Int, weighting: WeightingMethod, epochs: Int, steps: Int,
                parameters: Int, wallSeconds: Double, samplesPerSecond: Double, bestMetric: String) {
        self.config = config; self.architecture = architecture; self.worldSize = worldSize; self.weighting = weighting
        self.epochs = epochs; self.steps = steps; self.parameters = parameters; self.wallSeconds = wallSeconds
        self.samplesPerSecond = samplesPerSecond; self.bestMetric = bestMetric; history = [:]
    }

    /// Task `task`'s curve of `key` (`train_loss` or a metric name) over the epochs.
    public func curve(_ task: String, _ key: String) -> [Double] { history[task]?[key] ?? [] }
}
