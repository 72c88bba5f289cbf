import Foundation
import MTLData
import MTLTraining

extension Report {
    /// A single training run's page: learning curves per task, and the test metrics.
    public static func run(summary: RunSummary, tasks: [Preprocessor.TaskEncoding], title: String) -> String {
        var b = "<h1>mtl-worker train: \(esc(title))</h1>"
        b += "<p>Architecture \(esc(summary.architecture.rawValue)), weighting \(esc(summary.weighting.rawValue)), \(summary.parameters) parameters, \(summary.epochs) epochs, \(n(summary.wallSeconds, 1)) s on \(summary.worldSize) rank(s).</p>"
        b += "<h2>Learning curves</h2><div class=\"grid\">"
        let best = summary.bestEpoch
        for t in tasks {
            let key = Metric.headline(t.kind).rawValue
            b += lines([("validation \(key)", summary.curve(t.name, key))], title: "\(t.name): validation \(key)", yLabel: key, best: best)
            b += lines([("training", summary.curve(t.name, "train_loss")), ("validation", summary.curve(t.name, Metric.loss.rawValue))],
                       title: "\(t.name): loss", yLabel: "loss", best: best)
        }
        b += "</div>"
        if let test = summary.test {
            b += "<h2>Test metrics (\(esc(summary.testParameters ?? "")))</h2><div class=\"grid\">"
            for t in tasks {
                // Fractions share a 0-1 axis; losses, errors, R² and the row count are printed,
                // each in its own units, beneath.
                let m = test[t.name] ?? MetricValues()
                let shown = m.metrics.filter { $0.fractionRange != nil }.sorted { $0.rawValue < $1.rawValue }
                b += "<div>"
                if !shown.isEmpty { b += bars(shown.map { ($0.rawValue, m[$0] ?? .nan, 0) }, title: "\(t.name) (0–1)", range: 0...1) }
                let rest = m.metrics.filter { $0.fractionRange == nil && $0 != .labelled }.sorted { $0.rawValue < $1.rawValue }
                b += "<p class=\"small\">" + (shown.isEmpty ? "<b>\(esc(t.name))</b>: " : "")
                    + rest.map { "\($0.rawValue) \(n(m[$0] ?? .nan))" }.joined(separator: " · ")
                    + (m[.labelled].map { " · \(Int($0)) labelled test rows" } ?? "") + "</p></div>"
            }
            b += "</div>"
        }
        return page(title: "mtl-worker train", body: b)
    }
}
