import Foundation
import MTLData
import MTLTraining

/// What the data says about the tasks before any training: labelled rows per split, the
/// positive share or class balance, and label correlations where tasks label the same rows.
public enum TaskData {
    /// The association of two tasks' labels over the training rows labelled for both: Pearson's
    /// r (binary or regression with each other), Cramér's V (multiclass with multiclass or
    /// binary), the correlation ratio η (multiclass with regression); no value (measure
    /// `multilabel` or `too_few_rows`) for a multi-label task or fewer than 10 shared rows.
    public static func labelCorrelation(_ split: EncodedSplit, _ tasks: [Preprocessor.TaskEncoding], _ a: Int, _ b: Int) -> (value: Double?, kind: String, rows: Int) {
        let ta = tasks[a], tb = tasks[b]
        let rows = ta.kind == .multilabel || tb.kind == .multilabel ? []
            : (0..<split.rows).filter { split.masks[a][$0] != 0 && split.masks[b][$0] != 0 }
        guard ta.kind != .multilabel, tb.kind != .multilabel else { return (nil, "multilabel", 0) }
        guard rows.count >= 10 else { return (nil, "too_few_rows", rows.count) }
        let x = rows.map { Double(split.targets[a][$0]) }, y = rows.map { Double(split.targets[b][$0]) }
        switch (ta.kind, tb.kind) {
        case (.multiclass, .regression): return (correlationRatio(x.map { Int($0) }, y), "correlation_ratio", rows.count)
        case (.regression, .multiclass): return (correlationRatio(y.map { Int($0) }, x), "correlation_ratio", rows.count)
        case (.multiclass, _), (_, .multiclass): return (cramersV(x.map { Int($0) }, y.map { Int($0) }), "cramers_v", rows.count)
        default: return (pearson(x, y), "pearson", rows.count)
        }
    }

    /// The correlation ratio η = sqrt(between-class sum of squares / total sum of squares) of a
    /// numeric `y` over classes `x` (0: the class says nothing about y; 1: it fixes it).
    static func correlationRatio(_ x: [Int], _ y: [Double]) -> Double {
        let n = Double(y.count)
        let mean = y.reduce(0, +) / n
        var sums: [Int: (Double, Double)] = [:]
        for (k, v) in zip(x, y) { let s = sums[k] ?? (0, 0); sums[k] = (s.0 + v, s.1 + 1) }
        let between = sums.values.reduce(0.0) { $0 + $1.1 * ($1.0 / $1.1 - mean) * ($1.0 / $1.1 - mean) }
        let total = y.reduce(0.0) { $0 + ($1 - mean) * ($1 - mean) }
        return total > 0 ? (between / total).squareRoot() : 0
    }

    static func pearson(_ x: [Double], _ y: [Double]) -> Double {
        let n = Double(x.count)
        let mx = x.reduce(0, +) / n, my = y.reduce(0, +) / n
        var sxy = 0.0, sxx = 0.0, syy = 0.0
        for i in x.indices { let dx = x[i] - mx, dy = y[i] - my; sxy += dx * dy; sxx += dx * dx; syy += dy * dy }
        return sxx > 0 && syy > 0 ? sxy / (sxx * syy).squareRoot() : 0
    }

    /// Cramér's V = sqrt(chi^2 / (n (min(r, c) - 1))) of the contingency table.
    static func cramersV(_ x: [Int], _ y: [Int]) -> Double {
        let xs = Array(Set(x)).sorted(), ys = Array(Set(y)).sorted()
        guard xs.count > 1, ys.count > 1 else { return 0 }
        let xi = Dictionary(uniqueKeysWithValues: xs.enumerated().map { ($1, $0) })
        let yi = Dictionary(uniqueKeysWithValues: ys.enumerated().map { ($1, $0) })
        var table = [Double](repeating: 0, count: xs.count * ys.count)
        for k in x.indices { table[xi[x[k]]! * ys.count + yi[y[k]]!] += 1 }
        let n = Double(x.count)
        var rowSum = [Double](repeating: 0, count: xs.count), colSum = [Double](repeating: 0, count: ys.count)
        for i in xs.indices { for j in ys.indices { rowSum[i] += table[i * ys.count + j]; colSum[j] += table[i * ys.count + j] } }
        var chi2 = 0.0
        for i in xs.indices {
            for j in ys.indices {
                let e = rowSum[i] * colSum[j] / n
                if e > 0 { chi2 += (table[i * ys.count + j] - e) * (table[i * ys.count + j] - e) / e }
            }
        }
        return (chi2 / (n * Double(min(xs.count, ys.count) - 1))).squareRoot()
    }

    /// Labelled rows per task and split, the label balance, and the pairwise label correlations.
    public static func summary(_ data: LoadedData) -> DataSummary {
        let tasks = data.preprocessor.tasks
        var perTask: [DataSummary.Task] = []
        for (t, task) in tasks.enumerated() {
            var o = DataSummary.Task(task: task.name, kind: task.kind, trainLabelled: data.train.labelCounts[t],
                                     validationLabelled: data.validation?.labelCounts[t] ?? 0,
                                     testLabelled: data.test?.labelCounts[t] ?? 0)
            let m = data.train.masks[t], y = data.train.targets[t]
            switch task.kind {
            case .binary:
                var pos = 0.0, n = 0.0
                for r in 0..<data.train.rows where m[r] != 0 { n += 1; pos += Double(y[r]) }
                o.positiveShare = n > 0 ? pos / n : nil
            case .multiclass:
                var counts = [Double](repeating: 0, count: task.classes.count)
                for r in 0..<data.train.rows where m[r] != 0 {
                    let k = Int(y[r])
                    if counts.indices.contains(k) { counts[k] += 1 }
                }
                let n = counts.reduce(0, +)
                o.largestClassShare = n > 0 ? (counts.max() ?? 0) / n : nil
                o.classes = task.classes.count
            case .multilabel:
                o.classes = task.classes.count
            case .regression: break
            }
            perTask.append(o)
        }
        var pairs: [DataSummary.Correlation] = []
        for a in tasks.indices {
            for b in tasks.indices where b > a {
                let c = labelCorrelation(data.train, tasks, a, b)
                pairs.append(.init(a: tasks[a].name, b: tasks[b].name, value: c.value, measure: c.kind, rows: c.rows))
            }
        }
        return DataSummary(tasks: perTask, labelCorrelation: pairs, trainRows: data.train.rows)
    }
}

/// What the data says about the tasks (`advise`, the relationship run's result).
public struct DataSummary: Codable, Equatable, Sendable {
    public struct Task: Codable, Equatable, Sendable {
        public var task: String
        public var kind: TaskKind
        public var trainLabelled: Int
        public var validationLabelled: Int
        public var testLabelled: Int
        /// binary: the share of positive labels.
        public var positiveShare: Double? = nil
        /// multiclass: the share of the largest class.
        public var largestClassShare: Double? = nil
        public var classes: Int? = nil

        enum CodingKeys: String, CodingKey {
            case task, kind, classes
            case trainLabelled = "train_labelled", validationLabelled = "validation_labelled", testLabelled = "test_labelled"
            case positiveShare = "positive_share", largestClassShare = "largest_class_share"
        }
    }

    public struct Correlation: Codable, Equatable, Sendable {
        public var a: String
        public var b: String
        /// nil: fewer than 10 rows labelled for both, or a multi-label task.
        public var value: Double?
        /// pearson, cramers_v or none.
        public var measure: String
        public var rows: Int
    }

    public var tasks: [Task]
    public var labelCorrelation: [Correlation]
    public var trainRows: Int

    enum CodingKeys: String, CodingKey {
        case tasks, labelCorrelation = "label_correlation", trainRows = "train_rows"
    }
}
