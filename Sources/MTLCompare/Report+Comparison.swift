import Foundation
import MTLData
import MTLTraining

extension Report {
    /// The comparison's page.
    public static func comparison(_ a: CompareAnalysis, config: RunConfig) -> String {
        var b = "<h1>mtl-worker compare: \(esc((config.sourcePath as NSString).lastPathComponent))</h1>"
        b += "<p>Tasks: " + a.tasks.map { "\(esc($0.name)) (\($0.kind.rawValue))" }.joined(separator: ", ")
        b += ". Candidates: \(a.candidates.count), replicates per candidate: \(a.replicates) (\(config.compare.seeds) seed(s)\(config.compare.folds > 1 ? " x \(config.compare.folds) folds of the training rows" : "")), epochs: \(config.compare.epochs ?? config.training.epochs).</p>"
        let r = a.recommendation
        b += "<div class=\"rec\(r.trainSeparately ? " sep" : "")\"><h2 style=\"border:0;margin-top:.3em\">Recommendation: \(r.measurable ? "" : "no measurable difference; the cheapest: ")\(esc(r.trainSeparately ? "train the tasks separately, \(r.winner)" : r.winner))</h2>"
        if let ru = r.runnerUp { b += "<p>Runner-up: \(esc(ru)). Ranked by Δm% on the \(r.selectedBy) split.</p>" }
        b += "<ul>" + r.reasons.map { "<li>\(esc($0))</li>" }.joined() + "</ul>"
        b += "<p>Ready-to-run config: <code>recommended.yaml</code> beside this page.</p></div>"

        b += "<h2>Δm% ranking</h2><p>Δm%: the mean over tasks of the mean relative change of each task's metrics against the single-task baseline (higher is better; "
        b += TaskKind.allCases.map { k in "\(k.rawValue): " + Metric.deltaMetrics(k).map { $0.higherIsBetter ? $0.rawValue : "\($0.rawValue) (lower is better)" }.joined(separator: ", ") }.joined(separator: "; ")
        b += "), paired replicate by replicate. Whiskers: 95 % confidence interval over the replicates (none with one replicate).</p><div class=\"grid\">"
        let ordered = a.ranking.map { a.candidates[$0] }
        func ci(_ s: CompareAnalysis.Stat) -> Double { s.ci95.isFinite ? s.ci95 : 0 }
        let validation = ordered.compactMap { c in c.deltaValidation.map { (c.name, $0.mean, ci($0)) } }
        if validation.count == ordered.count { b += bars(validation, title: "Δm% on validation (chooses)", highlight: r.winner) }
        b += bars(ordered.map { ($0.name, $0.deltaTest.mean, ci($0.deltaTest)) }, title: "Δm% on test (reported only)", highlight: r.winner) + "</div>"

        b += "<h2>Per-task test metrics</h2><div class=\"grid\">"
        for t in a.tasks {
            for metric in Metric.deltaMetrics(t.kind) {
                b += bars(ordered.map { c in (c.name, c.test[t.name]?[metric]?.mean ?? .nan, c.test[t.name]?[metric]?.std ?? 0) },
                          title: "\(t.name): test \(metric.rawValue) (mean ± sd over replicates)", highlight: r.winner, range: metric.fractionRange)
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

        b += "<h2>All candidates</h2><table><tr><th>rank</th><th>candidate</th><th>parameters</th><th>training s per replicate</th><th>samples/s</th><th>Δm% validation (95 % interval)</th><th>Δm% test (95 % interval)</th>"
        for t in a.tasks { b += "<th>\(esc(t.name)) test \(Metric.headline(t.kind).rawValue) (95 % interval)</th>" }
        b += "</tr>"
        for (rank, c) in ordered.enumerated() {
            b += "<tr><td>\(rank + 1)</td><td>\(esc(c.name))</td><td>\(c.parameters)</td><td>\(n(c.wallSeconds, 1))</td><td>\(n(c.samplesPerSecond, 0))</td>"
            b += "<td>\(c.deltaValidation?.formatted(2) ?? "")</td><td>\(c.deltaTest.formatted(2))</td>"
            for t in a.tasks {
                let s = c.test[t.name]?[Metric.headline(t.kind)]
                b += "<td>\(s?.formatted(4) ?? "")</td>"
            }
            b += "</tr>"
        }
        b += "</table>"
        if let s = a.search {
            b += "<h2>Search (successive halving)</h2><p>Every rung trains each surviving configuration from scratch and keeps the best 1/\(config.compare.search?.eta ?? 3) of its bracket by \(esc(s.metric)); "
            b += "\(s.rungs.count) of \(s.plannedRungs) rung(s) ran\(s.stoppedByBudget ? " (the time budget ended the search)" : ""). Finalists: \(esc(s.finalists.joined(separator: "; "))).</p>"
            b += "<table><tr><th>rung</th><th>epochs</th><th>bracket</th><th>configuration</th><th>score</th><th>kept</th></tr>"
            for (k, rung) in s.rungs.enumerated() {
                for e in rung.entries {
                    b += "<tr><td>\(k + 1)</td><td>\(e.epochs)/\(rung.epochs)</td><td>\(esc(e.bracket))</td><td>\(esc(e.candidate))</td><td>\(e.score.map { n($0, 4) } ?? "n/a")</td><td>\(e.promoted ? "yes" : "")</td></tr>"
                }
            }
            b += "</table>"
        }
        b += "<p>Files: results.json, results.csv, recommended.yaml, runs/&lt;job&gt;/ (each run's metrics.jsonl, summary.json, checkpoints).</p>"
        return page(title: "mtl-worker compare", body: b)
    }
}
