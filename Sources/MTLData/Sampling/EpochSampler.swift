import Foundation
import MTLCore

/// How a global batch mixes tasks that have their own data sets (`training.sampling` and the
/// keys beside it).
public struct SamplingConfig: Sendable, Equatable {
    public enum Rule: String, Sendable, CaseIterable {
        /// Rows in proportion to the data sets' sizes (one permutation of all rows).
        case proportional
        /// Every data set equally often.
        case uniform
        /// Data set t with probability proportional to n_t^(1 / temperature).
        case temperature
    }
    public var rule: Rule = .proportional
    public var temperature: Double = 2
    /// The epoch: one pass over this task's rows in expectation (mixed sampling).
    public var epochTask: String? = nil
    /// The epoch: this many steps (mixed sampling); 0: not set.
    public var stepsPerEpoch: Int = 0
    public init() {}
}

/// The order in which an epoch visits the training rows, the same on every rank: one seeded
/// permutation of all rows, or for tasks with their own data sets under a mixing rule, a
/// sequence of draws (MT-DNN style: each slot draws a data set with probability p_t, then that
/// data set's next row from its own stream of seeded permutations). Every draw depends on
/// (seed, epoch, slot) only.
public struct EpochSampler {
    public let data: LoadedData
    public let sampling: SamplingConfig
    public let taskNames: [String]
    public let batchSize: Int
    public let seed: UInt64
    /// Each data set's probability per draw; nil: one permutation of all rows.
    public let mixing: [Double]?
    /// Rows drawn per epoch.
    public let rows: Int

    public init(data: LoadedData, sampling: SamplingConfig, taskNames: [String], batchSize: Int, seed: UInt64) {
        self.data = data
        self.sampling = sampling
        self.taskNames = taskNames
        self.batchSize = batchSize
        self.seed = seed
        mixing = Self.mixing(sampling, data: data)
        rows = Self.epochRows(sampling, mixing: mixing, taskNames: taskNames, data: data, batch: batchSize)
    }

    static func mixing(_ t: SamplingConfig, data: LoadedData) -> [Double]? {
        guard let ranges = data.taskRows, t.rule != .proportional || t.epochTask != nil || t.stepsPerEpoch > 0 else { return nil }
        let sizes = ranges.map { Double($0.count) }
        let raw: [Double]
        switch t.rule {
        case .uniform: raw = sizes.map { _ in 1 }
        case .temperature: raw = sizes.map { Foundation.pow($0, 1 / t.temperature) }
        case .proportional: raw = sizes
        }
        let total = raw.reduce(0, +)
        return raw.map { $0 / total }
    }

    static func epochRows(_ t: SamplingConfig, mixing: [Double]?, taskNames: [String], data: LoadedData, batch b: Int) -> Int {
        guard let p = mixing, let ranges = data.taskRows else { return data.train.rows }
        if t.stepsPerEpoch > 0 { return t.stepsPerEpoch * b }
        if let name = t.epochTask, let task = taskNames.firstIndex(of: name),
           let i = data.sourceTasks.firstIndex(where: { $0.contains(task) }) {
            // Enough steps that the rows of the task's data set are drawn once in expectation.
            let n = Double(ranges[i].count)
            return Int((n / (Double(b) * p[i])).rounded(.up)) * b
        }
        return data.train.rows
    }

    /// The row order of epoch `e` (0-based).
    public func order(epoch e: Int) -> [Int] {
        guard let p = mixing, let ranges = data.taskRows else {
            return seededPermutation(data.train.rows, seed: SplitMix64.mix(seed &+ 0x0E90_C400 &+ UInt64(e)))
        }
        let seed = SplitMix64.mix(self.seed ^ 0x7A5C_0000_0000 &+ UInt64(e))
        var cumulative: [Float] = []
        var sum = 0.0
        for q in p { sum += q; cumulative.append(Float(sum)) }
        var cursors = [Int](repeating: 0, count: ranges.count)
        var streams: [[Int]] = ranges.map { _ in [] }
        var order = [Int](repeating: 0, count: rows)
        for slot in 0..<rows {
            let u = CounterRandom.uniform(seed, UInt64(slot), 0x51)
            let t = cumulative.firstIndex(where: { u < $0 }) ?? (ranges.count - 1)
            let n = ranges[t].count
            if cursors[t] % n == 0 {
                streams[t] = seededPermutation(n, seed: SplitMix64.mix(seed ^ UInt64(t) &* 0x1_0000_0001 ^ UInt64(cursors[t] / n)))
            }
            order[slot] = ranges[t].lowerBound + streams[t][cursors[t] % n]
            cursors[t] += 1
        }
        return order
    }
}
