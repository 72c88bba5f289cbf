import MTLData

/// Every figure the evaluation reports per task, by its name in configs, logs and JSON files.
public enum Metric: String, CaseIterable, Sendable, Codable, CodingKeyRepresentable {
    case rocAUC = "roc_auc"
    case prAUC = "pr_auc"
    case accuracy
    case f1
    case microF1 = "micro_f1"
    case logLoss = "log_loss"
    case rmse, mae, r2
    /// The training objective.
    case loss
    /// Multi-label: the mean decision threshold the other figures were computed at.
    case threshold
    /// The labelled rows the figures were computed over.
    case labelled

    /// The metrics `checkpoint.best_metric` can name (the figures that judge a model).
    public static var selectable: [Metric] { allCases.filter { $0 != .threshold && $0 != .labelled } }

    /// The range of a metric that is a fraction (0...1); nil for losses, errors in the target's
    /// units, R² (which can be negative), thresholds and counts.
    public var fractionRange: ClosedRange<Double>? {
        switch self {
        case .rocAUC, .prAUC, .accuracy, .f1, .microF1: return 0...1
        case .logLoss, .rmse, .mae, .r2, .loss, .threshold, .labelled: return nil
        }
    }

    public var higherIsBetter: Bool {
        switch self {
        case .rocAUC, .prAUC, .accuracy, .f1, .microF1, .r2: return true
        case .logLoss, .rmse, .mae, .loss, .threshold, .labelled: return false
        }
    }

    /// The metric an epoch's log line and the tables show for a task kind.
    public static func headline(_ kind: TaskKind) -> Metric {
        switch kind {
        case .regression: return .rmse
        case .binary: return .rocAUC
        case .multiclass: return .accuracy
        case .multilabel: return .f1
        }
    }

    /// The metrics the terminal table prints for a task kind.
    public static func reported(_ kind: TaskKind) -> [Metric] {
        switch kind {
        case .regression: return [.rmse, .mae, .r2, .loss]
        case .multilabel: return [.f1, .microF1, .rocAUC, .accuracy, .threshold]
        case .binary, .multiclass: return [.rocAUC, .prAUC, .accuracy, .f1, .logLoss]
        }
    }

    /// The metrics Δm% averages for a task kind.
    public static func deltaMetrics(_ kind: TaskKind) -> [Metric] {
        switch kind {
        case .binary: return [.rocAUC, .prAUC]
        case .multiclass: return [.accuracy, .f1]
        case .multilabel: return [.f1, .microF1]
        case .regression: return [.rmse, .mae]
        }
    }
}

/// `checkpoint.best_metric`: a metric of one task, or its mean over the tasks that have it.
public struct MetricSelector: Sendable, Equatable, CustomStringConvertible {
    public enum Scope: Sendable, Equatable {
        case mean
        case task(String)
    }
    public var scope: Scope
    public var metric: Metric

    public init(scope: Scope, metric: Metric) { self.scope = scope; self.metric = metric }

    /// Parses `<task or mean>.<metric>`; nil when it names no task or no selectable metric.
    public init?(_ text: String, tasks: [String]) {
        let parts = text.split(separator: ".", maxSplits: 1).map(String.init)
        guard parts.count == 2, let m = Metric(rawValue: parts[1]), Metric.selectable.contains(m) else { return nil }
        if parts[0] == "mean" { scope = .mean } else if tasks.contains(parts[0]) { scope = .task(parts[0]) } else { return nil }
        metric = m
    }

    public var description: String {
        switch scope {
        case .mean: return "mean.\(metric.rawValue)"
        case .task(let t): return "\(t).\(metric.rawValue)"
        }
    }

    /// The selected value in per-task metrics (the mean skips tasks without it and NaN values).
    public func value(in metrics: [String: MetricValues]) -> Double? {
        switch scope {
        case .mean:
            let vals = metrics.values.compactMap { $0[metric] }.filter { !$0.isNaN }
            return vals.isEmpty ? nil : vals.reduce(0, +) / Double(vals.count)
        case .task(let t):
            return metrics[t]?[metric]
        }
    }
}

/// A task's figures by metric. JSON writes them as an object of numbers, with null where a
/// figure is undefined (NaN: one class absent, no labelled rows).
public struct MetricValues: Sendable, Equatable, Codable, Sequence {
    public var values: [Metric: Double]

    public init(_ values: [Metric: Double] = [:]) { self.values = values }

    public subscript(_ m: Metric) -> Double? {
        get { values[m] }
        set { values[m] = newValue }
    }

    public var metrics: [Metric] { Metric.allCases.filter { values[$0] != nil } }

    public func makeIterator() -> Dictionary<Metric, Double>.Iterator { values.makeIterator() }

    public init(from decoder: Decoder) throws {
        let raw = try [String: JSONNumber](from: decoder)
        values = [:]
        for (k, v) in raw { if let m = Metric(rawValue: k) { values[m] = v.value } }
    }

    public func encode(to encoder: Encoder) throws {
        try Dictionary(uniqueKeysWithValues: values.map { ($0.key.rawValue, JSONNumber($0.value)) }).encode(to: encoder)
    }

    public static func == (a: MetricValues, b: MetricValues) -> Bool {
        a.values.count == b.values.count && a.values.allSatisfy { k, v in
            guard let w = b.values[k] else { return false }
            return v == w || (v.isNaN && w.isNaN)
        }
    }
}
