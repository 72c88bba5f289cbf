import Foundation
import MTLData
import MTLTraining

extension Report {
    /// A single training run's page: learning curves per task, and the test metrics.
    public static func run(summary: RunSummary, tasks: [Preprocessor.TaskEncoding], title: String) -> String {
        var b = "<h1>mtl-worker train: \(esc(title))</h1>"
        b += "<p>Architecture \(esc(summary.architecture.rawValue)), weighting \(esc(summary.weighting.rawValue)), \(summary.parameters) parameters, \(summary.epochs) epochs, \(n(summary.wallSeconds, 1)) s on \(summary.worldSize) rank(s).</p>"
        b += "<h2>Learning curves</h2><div class=\"grid\">"
        for t in tasks {
            let key = Metric.headline(t.kind).rawValue
            b += lines([("validation \(key)", summary.curve(t.name, key))], title: "\(t.name): validation \(key)", yLabel: key)
            b += lines([("train loss", summary.curve(t.name, "train_loss"))], title: "\(t.name): training loss", yLabel: "loss")
        }
        b += "</div>"
        if let test = summary.test {
            b += "<h2>Test metrics (\(esc(summary.testParameters ?? "")))</h2><div class=\"grid\">"
            for t in tasks {
                let m = test[t.name] ?? MetricValues()
                b += bars(m.metrics.filter { $0 != .threshold }.sorted { $0.rawValue < $1.rawValue }.map { ($0.rawValue, m[$0] ?? .nan, 0) }, title: t.name)
            }
            b += "</div>"
        }
        return page(title: "mtl-worker train", body: b)
    }
}
