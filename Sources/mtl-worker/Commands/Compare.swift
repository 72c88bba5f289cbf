import MTLCore
import ArgumentParser
import Foundation
import MTLCompare
import MTLTraining

struct Compare: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train every candidate (architecture x weighting) and the single-task baseline with K seeds; rank them by Δm% and recommend one.",
        discussion: "Candidates, seeds and budget come from the config's compare: section; with compare.search, a successive-halving search over them and their learning rate, weight decay, dropout and width chooses the finalists on validation data. Differences carry 95 % intervals over the replicates (seeds x compare.folds); a candidate is recommended as measurably best only beyond them, else the cheapest of those not told apart. Under mpirun the ranks split into groups that train candidates at the same time. Writes results.json, results.csv, recommended.yaml and report.html under the output folder (default: compare.output, else runs/<config name>-compare); run it again to resume an interrupted comparison.")
    @OptionGroup var options: ConfigOptions
    @Option(help: "Override compare.seeds.") var seeds: Int?
    @Option(help: "Override compare.epochs (epochs per candidate).") var epochs: Int?
    @OptionGroup var common: CommonOptions

    func validate() throws {
        if let s = seeds, s < 1 || s > ConfigLimits.count { throw ValidationError("--seeds must be between 1 and \(ConfigLimits.count)") }
        if let e = epochs, e < 1 || e > ConfigLimits.epochs { throw ValidationError("--epochs must be between 1 and \(ConfigLimits.epochs)") }
    }

    func run() throws {
        var cfg = try options.load()
        if let s = seeds { cfg.compare.seeds = s }
        if let e = epochs { cfg.compare.epochs = e }
        let out = options.output ?? cfg.compare.output ?? "runs/\(options.name)-compare"
        try withRuntime(common, threads: cfg.training.threads, collectiveTimeout: cfg.training.collectiveTimeout, heartbeatTimeout: cfg.training.heartbeatTimeout) { comm, logger in
            let comparison = Comparison(config: cfg, world: comm, output: out, logger: logger)
            guard let outcome = try comparison.run() else { return }
            let analysis = try CompareAnalysis(config: cfg, outcome: outcome)
            let file = { (n: String) in (out as NSString).appendingPathComponent(n) }
            try AtomicFile.write(file("results.json"), text: try JSON.text(analysis.results, pretty: true) + "\n")
            try AtomicFile.write(file("results.csv"), text: analysis.csv)
            let winner = analysis.recommendation.winner
            try AtomicFile.write(file("recommended.yaml"), text: try CompareAnalysis.recommendedConfig(cfg, winner: winner, plan: outcome.plan))
            try AtomicFile.write(file("report.html"), text: Report.comparison(analysis, config: cfg))
            if let search = analysis.search { print(CompareAnalysis.searchTable(search) + "\n") }
            print(CompareAnalysis.table(analysis))
            let rec = analysis.recommendation
            print("\nRecommendation: \(rec.measurable ? "" : "no measurable difference; the cheapest: ")\(rec.trainSeparately ? "train the tasks separately, \(winner)" : winner)")
            for r in analysis.recommendation.reasons { print("  - \(r)") }
            print("Files: \(file("report.html")), results.json, results.csv, recommended.yaml")
        }
    }
}
