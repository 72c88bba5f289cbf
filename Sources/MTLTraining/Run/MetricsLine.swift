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
    struct Key: CodingKey {
        var stringValue: String
        init(_ s: String) { stringValue = s }
        init?(stringValue: String) { self.stringValue = stringValue }
        var intValue: Int? { nil }
        init?(intValue: Int) { nil }
        static let epoch = Key("epoch"), step = Key("step"), task = Key("task"), split = Key("split")
        static let trainLoss = Key("train_loss"), learningRate = Key("learning_rate"), seconds = Key("seconds")
        static let weight = Key("weight"), weighting = Key("weighting")
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: Key.self)
        epoch = try c.decode(Int.self, forKey: .epoch)
        step = try c.decode(Int.self, forKey: .step)
        task = try c.decode(String.self, forKey: .task)
        split = try c.decode(String.self, forKey: .split)
        trainLoss = try c.decodeIfPresent(JSONNumber.self, forKey: .trainLoss)?.value
        learningRate = try c.decodeIfPresent(JSONNumber.self, forKey: .learningRate)?.value
        seconds = try c.decodeIfPresent(JSONNumber.self, forKey: .seconds)?.value
        weight = try c.decodeIfPresent(JSONNumber.self, forKey: .weight)?.value
        weighting = try c.decodeIfPresent(WeightingMethod.self, forKey: .weighting)
        metrics = MetricValues()
        for m in Metric.allCases where c.contains(Key(m.rawValue)) {
            metrics[m] = try c.decode(JSONNumber.self, forKey: Key(m.rawValue)).value
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: Key.self)
        try c.encode(epoch, forKey: .epoch)
        try c.encode(step, forKey: .step)
        try c.encode(task, forKey: .task)
        try c.encode(split, forKey: .split)
        try c.encodeIfPresent(trainLoss.map(JSONNumber.init), forKey: .trainLoss)
        try c.encodeIfPresent(learningRate.map(JSONNumber.init), forKey: .learningRate)
        try c.encodeIfPresent(seconds.map(JSONNumber.init), forKey: .seconds)
        try c.encodeIfPresent(weight.map(JSONNumber.init), forKey: .weight)
        try c.encodeIfPresent(weighting, forKey: .weighting)
        for (m, v) in metrics { try c.encode(JSONNumber(v), forKey: Key(m.rawValue)) }
    }
}
