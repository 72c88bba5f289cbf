import ArgumentParser
import Foundation
import MTLCompare
import MTLTraining

struct Advise: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "A short pilot that measures the tasks' relationships and the data's characteristics, and prints a shortlist of candidates.",
        discussion: "Trains hard-sharing for compare.probe_epochs epochs (in the output folder, default runs/<config name>-advise), measuring gradient cosines, conflicts and inter-task affinity every compare.probe_every steps. Prints JSON with --json.")
    @OptionGroup var options: ConfigOptions
    @Option(help: "Override compare.probe_epochs.") var epochs: Int?
    @Flag(help: "Print the measurements and the shortlist as JSON.") var json = false
    @OptionGroup var common: CommonOptions

    /// `advise --json`.
    struct Output: Encodable {
        struct Item: Encodable { var architecture: String; var weighting: String; var reason: String }
        var relationships: Relationships
        var data: DataSummary
        var shortlist: [Item]
        var warnings: [String]
    }

    func validate() throws {
        if let e = epochs, e < 1 || e > ConfigLimits.epochs { throw ValidationError("--epochs must be between 1 and \(ConfigLimits.epochs)") }
    }

    func run() throws {
        var cfg = try options.load()
        if let e = epochs { cfg.compare.probeEpochs = e }
        let out = options.output ?? "runs/\(options.name)-advise"
        try withRuntime(common, threads: cfg.training.threads, collectiveTimeout: cfg.training.collectiveTimeout, heartbeatTimeout: cfg.training.heartbeatTimeout) { comm, logger in
            let comparison = Comparison(config: cfg, world: comm, output: out, logger: logger)
            let result = try comparison.runJob(comparison.relationshipJob, resume: false, comm: comm)
            guard comm.isRoot, let rel = result.relationships, let data = result.data else { return }
            let list = Advice.shortlist(relationships: rel, data: data, kinds: cfg.tasks.map(\.kind))
            var warnings: [String] = []
            if rel.measuredSteps < cfg.compare.probeSteps {
                let trust = rel.measuredSteps < Advice.fewMeasurements ? "too few for the relationships and the shortlist to be trusted" : "fewer than compare.probe_steps (\(cfg.compare.probeSteps))"
                warnings.append("only \(rel.measuredSteps) measured steps: \(trust); raise compare.probe_epochs (the run measured every step it had)")
                logger.warning("\(warnings[0])")
            }
            if json {
                let items = list.map { Output.Item(architecture: $0.candidate.architecture.rawValue, weighting: $0.candidate.weighting.rawValue, reason: $0.reason) }
                print(try JSON.text(Output(relationships: rel, data: data, shortlist: items, warnings: warnings), pretty: true))
                return
            }
            print(AdviceText.render(rel, data: data, shortlist: list))
        }
    }
}
