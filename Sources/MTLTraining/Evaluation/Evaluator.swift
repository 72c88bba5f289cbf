import Foundation
import MTLCore
import MTLData
import MTLModels

/// Per-task predictions for a split, in the target's own terms: the positive-class probability
/// (binary), class probabilities (multiclass, row-major; multilabel, one sigmoid per class) or
/// the value in the target's units (regression).
public struct Predictions {
    public var tasks: [Preprocessor.TaskEncoding]
    public var values: [[Double]]
    /// The mean training objective per task (in standardised units for regression).
    public var loss: [Double]

    public init(tasks: [Preprocessor.TaskEncoding], values: [[Double]], loss: [Double]) {
        self.tasks = tasks; self.values = values; self.loss = loss
    }
}

/// Runs a model over whole splits in chunks of its row capacity and computes the metrics.
public enum Evaluator {
    public static func predict(model: MultiTaskModel, split: EncodedSplit, tasks: [Preprocessor.TaskEncoding]) -> Predictions {
        let chunk = model.maxRows
        var values = tasks.map { _ in [Double]() }
        for (t, task) in tasks.enumerated() { values[t].reserveCapacity(split.rows * task.outputs) }
        var lossSums = [Double](repeating: 0, count: tasks.count)
        let scratch = FloatBuffer(count: chunk * (tasks.map(\.outputs).max() ?? 1))
        let dense = FloatBuffer(count: chunk * split.denseWidth)
        let sparse = split.sparse.map { SparseBatch(width: $0.width, maxRows: chunk) }
        var start = 0
        while start < split.rows {
            let n = min(chunk, split.rows - start)
            if let s = sparse, let m = split.sparse { m.fill(s, rows: start..<(start + n)) }
            split.writeDense(rows: start..<(start + n), into: dense.pointer)
            split.categories.withUnsafeBufferPointer { c in
                let cats = split.categoryColumns > 0 ? c.baseAddress! + start * split.categoryColumns : nil
                model.forward(BatchInput(dense: dense.matrix(rows: n, cols: split.denseWidth), categories: cats, sparse: sparse),
                              context: .evaluation)
            }
            let members = model.members
            for (t, task) in tasks.enumerated() {
                let all = model.output(t), k = task.outputs
                let base = values[t].count
                values[t].append(contentsOf: repeatElement(0, count: n * k))
                for member in 0..<members {
                    let out = Matrix(all.pointer + member * n * k, rows: n, cols: k)
                    split.targets[t].withUnsafeBufferPointer { y in
                        split.masks[t].withUnsafeBufferPointer { m in
                            lossSums[t] += TaskLoss.compute(task, out, target: y.baseAddress! + start * task.targetWidth, mask: m.baseAddress! + start,
                                                                     scale: 0, gradient: scratch.pointer) / Double(members)
                        }
                    }
                    values[t].withUnsafeMutableBufferPointer { v in
                        addPrediction(task, logits: UnsafePointer(out.pointer), rows: n, share: 1 / Double(members), into: v.baseAddress! + base)
                    }
                }
            }
            start += n
        }
        let counts = split.labelCounts
        return Predictions(tasks: tasks, values: values,
                           loss: lossSums.indices.map { counts[$0] > 0 ? lossSums[$0] / Double(counts[$0]) : .nan })
    }

    /// Adds `share` times the predictions of one member's outputs (rows, outputs) to `values`:
    /// probabilities (sigmoid, softmax) for classification, values in the target's units for
    /// regression. Members' predictions are averaged: each adds 1 / members of its own.
    public static func addPrediction(_ task: Preprocessor.TaskEncoding, logits: UnsafePointer<Float>, rows n: Int, share: Double,
                                     into values: UnsafeMutablePointer<Double>) {
        let k = task.outputs
        switch task.kind {
        case .binary, .multilabel:
            for i in 0..<(n * k) { values[i] += share * Double(Loss.sigmoid(logits[i])) }
        case .multiclass:
            for i in 0..<n {
                let z = logits + i * k
                var m = -Float.infinity
                for c in 0..<k { m = max(m, z[c]) }
                var sum = 0.0
                for c in 0..<k { sum += Foundation.exp(Double(z[c] - m)) }
                for c in 0..<k { values[i * k + c] += share * Foundation.exp(Double(z[c] - m)) / sum }
            }
        case .regression:
            for i in 0..<n { values[i] += share * (Double(logits[i]) * task.targetStd + task.targetMean) }
        }
    }

    /// Metrics per task name, over the labelled rows of the split, plus `loss`. A multi-label task
    /// is judged at `thresholds[task]` (one per class) when given, else at its configured
    /// threshold, else (tuned) at the thresholds that are best on this split.
    public static func metrics(_ p: Predictions, split: EncodedSplit, thresholds: [String: [Double]] = [:]) -> [String: MetricValues] {
        var result: [String: MetricValues] = [:]
        for (t, task) in p.tasks.enumerated() {
            let labelled = (0..<split.rows).filter { split.masks[t][$0] != 0 }
            var m: MetricValues
            switch task.kind {
            case .binary:
                m = Metrics.binary(probabilities: labelled.map { p.values[t][$0] }, labels: labelled.map { split.targets[t][$0] == 1 })
            case .multiclass:
                let k = task.outputs
                m = Metrics.multiclass(probabilities: labelled.map { Array(p.values[t][($0 * k)..<($0 * k + k)]) },
                                       labels: labelled.map { Int(split.targets[t][$0]) }, classes: k)
            case .multilabel:
                let k = task.outputs
                let probabilities = labelled.map { Array(p.values[t][($0 * k)..<($0 * k + k)]) }
                let labels = labelled.map { r in (0..<k).map { split.targets[t][r * k + $0] == 1 } }
                let threshold: [Double]
                if let given = thresholds[task.name] { threshold = given } else {
                    switch task.thresholdRule {
                    case .fixed(let v): threshold = [Double](repeating: v, count: k)
                    case .tune, .tunePerClass:
                        threshold = Metrics.tunedThresholds(probabilities: probabilities, labels: labels, classes: k,
                                                            perClass: task.thresholdRule == .tunePerClass)
                    }
                }
                m = Metrics.multilabel(probabilities: probabilities, labels: labels, classes: k, thresholds: threshold)
            case .regression:
                m = Metrics.regression(predictions: labelled.map { p.values[t][$0] },
                                       targets: labelled.map { Double(split.targets[t][$0]) * task.targetStd + task.targetMean })
            }
            m[.loss] = p.loss[t]
            m[.labelled] = Double(labelled.count)
            result[task.name] = m
        }
        return result
    }

    /// Tuned thresholds of the multi-label tasks that ask for tuning, from a validation split.
    public static func tunedThresholds(_ p: Predictions, split: EncodedSplit) -> [String: [Double]] {
        var out: [String: [Double]] = [:]
        for (t, task) in p.tasks.enumerated() where task.tunesThreshold {
            let k = task.outputs
            let labelled = (0..<split.rows).filter { split.masks[t][$0] != 0 }
            out[task.name] = Metrics.tunedThresholds(probabilities: labelled.map { Array(p.values[t][($0 * k)..<($0 * k + k)]) },
                                                     labels: labelled.map { r in (0..<k).map { split.targets[t][r * k + $0] == 1 } },
                                                     classes: k, perClass: task.thresholdRule == .tunePerClass)
        }
        return out
    }
}
