import Foundation
import MTLWeighting

/// One line of `metrics.jsonl`: a task's figures after an epoch (split `validation`, or `train`
/// without a validation split) or at the end (split `test`).
public struct MetricsLine: Codable, Equatable, Sendable {
    public var epoch: Int
    public var step: Int
    public var task: String
    public var split: String
    public var trainLoss: Double?
    public var learningRate: Double?
    public var seconds: Double?
    /// The epoch's mean effective weight of the task (NaN when not recorded).
    public var weight: Double?
    public var weighting: WeightingMethod?
    public var metrics: MetricValues

    public init(epoch: Int, step: Int, task: String, split: String, trainLoss: Double? = nil, learningRate: Double? = nil,
                seconds: Double? = nil, weight: Double? = nil, weighting: WeightingMethod? = nil, metrics: MetricValues = MetricValues()) {
        self.epoch = epoch; self.step = step; self.task = task; self.split = split; self.trainLoss = trainLoss
        self.learningRate = learningRate; self.seconds = seconds; self.weight = weight; self.weighting = weighting
        self.metrics = metrics
    }

    /// The fixed keys; the metrics sit beside them in the same object, under their own names.
    static let keys = (epoch: AnyKey("epoch"), step: AnyKey("step"), task: AnyKey("task"), split: AnyKey("split"),
                       trainLoss: AnyKey("train_loss"), learningRate: AnyKey("learning_rate"), seconds: AnyKey("seconds"),
                       weight: AnyKey("weight"), weighting: AnyKey("weighting"))

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: AnyKey.self)
        epoch = try c.decode(Int.self, forKey: Self.keys.epoch)
        step = try c.decode(Int.self, forKey: Self.keys.step)
        task = try c.decode(String.self, forKey: Self.keys.task)
        split = try c.decode(String.self, forKey: Self.keys.split)
        trainLoss = try c.decodeIfPresent(JSONNumber.self, forKey: Self.keys.trainLoss)?.value
        learningRate = try c.decodeIfPresent(JSONNumber.self, forKey: Self.keys.learningRate)?.value
        seconds = try c.decodeIfPresent(JSONNumber.self, forKey: Self.keys.seconds)?.value
        weight = try c.decodeIfPresent(JSONNumber.self, forKey: Self.keys.weight)?.value
        weighting = try c.decodeIfPresent(WeightingMethod.self, forKey: Self.keys.weighting)
        metrics = MetricValues()
        for m in Metric.allCases where c.contains(AnyKey(m.rawValue)) {
            metrics[m] = try c.decode(JSONNumber.self, forKey: AnyKey(m.rawValue)).value
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: AnyKey.self)
        try c.encode(epoch, forKey: Self.keys.epoch)
        try c.encode(step, forKey: Self.keys.step)
        try c.encode(task, forKey: Self.keys.task)
        try c.encode(split, forKey: Self.keys.split)
        try c.encodeIfPresent(trainLoss.map(JSONNumber.init), forKey: Self.keys.trainLoss)
        try c.encodeIfPresent(learningRate.map(JSONNumber.init), forKey: Self.keys.learningRate)
        try c.encodeIfPresent(seconds.map(JSONNumber.init), forKey: Self.keys.seconds)
        try c.encodeIfPresent(weight.map(JSONNumber.init), forKey: Self.keys.weight)
        try c.encodeIfPresent(weighting, forKey: Self.keys.weighting)
        for (m, v) in metrics { try c.encode(JSONNumber(v), forKey: AnyKey(m.rawValue)) }
    }
}
