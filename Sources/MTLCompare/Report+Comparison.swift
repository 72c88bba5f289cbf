import Foundation
import MTLData
import MTLTraining

extension Report {
    /// The comparison's page.
    public static func comparison(_ a: CompareAnalysis, config: RunConfig) -> String {
        var b = "<h1>mtl-worker compare: \(esc((config.sourcePath as NSString).lastPathComponent))</h1>"
        b += "<p>Tasks: " + a.tasks.map { "\(esc($0.name)) (\($0.kind.rawValue))" }.joined(separator: ", ")
        b += ". Candidates: \(a.candidates.count), seeds per candidate: \(config.compare.seeds), epochs: \(config.compare.epochs ?? config.training.epochs).</p>"
        let r = a.recommendation
        b += "<div class=\"rec\(r.trainSeparately ? " sep" : "")\"><h2 style=\"border:0;margin-top:.3em\">Recommendation: \(esc(r.trainSeparately ? "train the tasks separately (single-task)" : r.winner))</h2>"
        if let ru = r.runnerUp { b += "<p>Runner-up: \(esc(ru)). Ranked by Δm% on the \(r.selectedBy) split.</p>" }
        b += "<ul>" + r.reasons.map { "<li>\(esc($0))</li>" }.joined() + "</ul>"
        b += "<p>Ready-to-run config: <code>recommended.yaml</code> beside this page.</p></div>"

        b += "<h2>Δm% ranking</h2><p>Δm%: the mean over tasks of the mean relative change of each task's metrics against the single-task baseline (higher is better; "
        b += TaskKind.allCases.map { k in "\(k.rawValue): " + Metric.deltaMetrics(k).map { $0.higherIsBetter ? $0.rawValue : "\($0.rawValue) (lower is better)" }.joined(separator: ", ") }.joined(separator: "; ")
        b += "). Whiskers: standard deviation over seeds.</p><div class=\"grid\">"
        let ordered = a.ranking.map { a.candidates[$0] }
        if ordered.allSatisfy({ $0.deltaValidation != nil }) {
            b += bars(ordered.map { ($0.name, $0.deltaValidation!.mean, $0.deltaValidation!.std) }, title: "Δm% on validation", highlight: r.winner)
        }
        b += bars(ordered.map { ($0.name, $0.deltaTest.mean, $0.deltaTest.std) }, title: "Δm% on test", highlight: r.winner) + "</div>"

        b += "<h2>Per-task test metrics</h2><div class=\"grid\">"
        for t in a.tasks {
            for metric in Metric.deltaMetrics(t.kind) {
                b += bars(ordered.map { c in (c.name, c.test[t.name]?[metric]?.mean ?? .nan, c.test[t.name]?[metric]?.std ?? 0) },
                          title: "\(t.name): test \(metric.rawValue) (mean ± sd over seeds)", highlight: r.winner, range: metric.fractionRange)
            }
        }
        b += "</div>"

        b += "<h2>Learning curves</h2><p>Validation metric per epoch, mean over seeds.</p><div class=\"grid\">"
        for t in a.tasks {
            let key = Metric.headline(t.kind)
            let series: [(name: String, values: [Double])] = ordered.map { c in
                let runs = c.histories.compactMap { $0[t.name]?[key.rawValue] }
                let len = runs.map(\.count).max() ?? 0
                let mean = (0..<len).map { e -> Double in
                    let v = runs.compactMap { $0.count > e ? $0[e] : nil }.filter(\.isFinite)
                    return v.isEmpty ? .nan : v.reduce(0, +) / Double(v.count)
                }
                return (c.name, mean)
            }
            b += lines(series, title: "\(t.name): validation \(key.rawValue)", yLabel: key.rawValue)
        }
        b += "</div>"

        b += "<h2>Task relationships</h2>"
        if let rel = a.relationships {
            let names = rel.tasks
            b += "<p>Measured in a hard-sharing run of \(config.compare.probeEpochs) epoch(s), every \(rel.every) steps (\(rel.measuredSteps) measurements) on the \(rel.sharedParameters) shared parameters. "
            b += "Gradient conflict (negative cosine) on \(n(100 * rel.overallConflictShare, 1)) % of (step, task pair).</p><div class=\"grid\">"
            b += heatmap(rel.gradientCosine, labels: names, title: "Mean gradient cosine")
            b += heatmap(rel.conflictShare, labels: names, title: "Share of steps in conflict")
            b += heatmap(rel.affinity, labels: names, title: "Inter-task affinity Z(row → column)",
                         rowAxis: "row: task stepped on; column: task whose loss moves (positive: helps)")
            b += "</div>"
        }
        if let d = a.data {
            b += "<table><tr><th>task</th><th>kind</th><th>train labelled</th><th>validation labelled</th><th>test labelled</th><th>balance</th></tr>"
            for t in d.tasks {
                let bal = t.positiveShare.map { "positive \(n(100 * $0, 1)) %" } ?? t.largestClassShare.map { "largest class \(n(100 * $0, 1)) %" } ?? ""
                b += "<tr><td>\(esc(t.task))</td><td>\(esc(t.kind.rawValue))</td><td>\(t.trainLabelled)</td><td>\(t.validationLabelled)</td><td>\(t.testLabelled)</td><td>\(bal)</td></tr>"
            }
            b += "</table>"
            if !d.labelCorrelation.isEmpty {
                b += "<p>Label correlation on rows labelled for both tasks: " + d.labelCorrelation.map { pr in
                    "\(esc(pr.a))/\(esc(pr.b)) \(pr.value.map { n($0, 3) } ?? "n/a") (\(pr.measure), \(pr.rows) rows)"
                }.joined(separator: "; ") + ".</p>"
            }
        }

        b += "<h2>All candidates</h2><table><tr><th>rank</th><th>candidate</th><th>parameters</th><th>training s per seed</th><th>samples/s</th><th>Δm% validation</th><th>Δm% test</th>"
        for t in a.tasks { b += "<th>\(esc(t.name)) test \(Metric.headline(t.kind).rawValue)</th>" }
        b += "</tr>"
        for (rank, c) in ordered.enumerated() {
            b += "<tr><td>\(rank + 1)</td><td>\(esc(c.name))</td><td>\(c.parameters)</td><td>\(n(c.wallSeconds, 1))</td><td>\(n(c.samplesPerSecond, 0))</td>"
            b += "<td>\(c.deltaValidation.map { "\(n($0.mean, 2)) ± \(n($0.std, 2))" } ?? "")</td><td>\(n(c.deltaTest.mean, 2)) ± \(n(c.deltaTest.std, 2))</td>"
            for t in a.tasks {
                let s = c.test[t.name]?[Metric.headline(t.kind)]
                b += "<td>\(s.map { "\(n($0.mean)) ± \(n($0.std))" } ?? "")</td>"
            }
            b += "</tr>"
        }
        b += "</table><p>Files: results.json, results.csv, recommended.yaml, runs/&lt;candidate&gt;/seed-&lt;k&gt;/ (each run's metrics.jsonl, summary.json, checkpoints).</p>"
        return page(title: "mtl-worker compare", body: b)
    }
}
