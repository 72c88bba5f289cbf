import ArgumentParser
import Foundation
import MTLCore
import MTLCompare
import MTLModels
import MTLTraining
import MTLWeighting

extension Architecture: ExpressibleByArgument {}
extension WeightingMethod: ExpressibleByArgument {}
extension ProgressMode: ExpressibleByArgument {}

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a multi-task model, data-parallel over MPI when started by mpirun.",
        discussion: "Writes metrics.jsonl, summary.json and checkpoints/ under the output folder (default: the config's output key, else runs/<config name>); rank 0 evaluates and writes.")

    @OptionGroup var options: ConfigOptions
    @Flag(help: "Continue the run in the output folder from its newest checkpoint.") var resume = false
    @Option(help: "Override training.epochs.") var epochs: Int?
    @Option(help: "Override training.batch_size (the global batch, split across ranks).") var batchSize: Int?
    @Option(help: "Override training.seed.") var seed: Int?
    @Option(help: "Override model.architecture (\(Architecture.names.joined(separator: ", "))).") var architecture: Architecture?
    @Option(help: "Override weighting.method (\(WeightingMethod.names.joined(separator: ", "))).") var weighting: WeightingMethod?
    @Option(help: "Stop after this many epochs in this invocation (resume later with --resume).") var stopAfterEpochs: Int?
    @Flag(help: "Also write report.html (learning curves and test metrics) in the output folder.") var report = false
    @Option(help: "Progress inside an epoch on rank 0: auto (a bar when standard error reaches a terminal, also under mpirun; else log), bar, log (a line every --progress-every seconds), none.")
    var progress: ProgressMode = .auto
    @Option(help: "Seconds between progress lines in log mode.") var progressEvery: Double = 30
    @OptionGroup var common: CommonOptions

    func validate() throws {
        if let e = epochs, e < 1 || e > ConfigLimits.epochs { throw ValidationError("--epochs must be between 1 and \(ConfigLimits.epochs)") }
        if let b = batchSize, b < 1 || b > ConfigLimits.batch { throw ValidationError("--batch-size must be between 1 and \(ConfigLimits.batch)") }
        if let s = seed, s < 0 || s > ConfigLimits.seed { throw ValidationError("--seed must be between 0 and \(ConfigLimits.seed)") }
        if let s = stopAfterEpochs, s < 1 { throw ValidationError("--stop-after-epochs must be at least 1") }
        if !(progressEvery > 0 && progressEvery <= 86_400) { throw ValidationError("--progress-every must be between 0 and 86400 seconds") }
    }

    func run() throws {
        var cfg = try options.load()
        var overrides: [RunConfig.Override] = []
        if let e = epochs { overrides.append(.epochs(e)) }
        if let b = batchSize { overrides.append(.batchSize(b)) }
        if let s = seed { overrides.append(.seed(UInt64(s))) }
        if let a = architecture { overrides.append(.architecture(a)) }
        if let w = weighting { overrides.append(.weighting(w)) }
        do { try cfg.apply(overrides) } catch let e as UserError { print(error: e); throw ExitCode(1) }
        let name = options.name
        let out = options.output ?? cfg.output ?? "runs/\(name)"
        var resumeMe = false
        StopRequest.installSignalHandlers()
        try withRuntime(common, threads: cfg.training.threads, collectiveTimeout: cfg.training.collectiveTimeout, heartbeatTimeout: cfg.training.heartbeatTimeout) { comm, logger in
            let run = try TrainingRun(config: cfg, comm: comm,
                                      options: .init(output: out, resume: resume, stopAfterEpochs: stopAfterEpochs,
                                                     progress: comm.isRoot ? ProgressReporter.style(progress, every: progressEvery) : .none),
                                      logger: logger)
            guard let summary = try run.run() else { resumeMe = run.stoppedEarly; return }
            if let test = summary.test {
                print("Test metrics (\(summary.testParameters ?? "")), \(comm.size) rank(s), \(String(format: "%.1f", summary.wallSeconds)) s training:")
                print(TrainingRun.table(test, tasks: run.trainer.tasks))
                print("Summary: \(run.summaryPath)")
            } else {
                // Without a test split (no data.test, test_fraction or split_column test value),
                // the validation metrics of the best epoch are all there is to show.
                print("No test split in the config (data.test, data.test_fraction or data.split_column); \(comm.size) rank(s), \(String(format: "%.1f", summary.wallSeconds)) s training.")
                if let v = summary.validation {
                    print("Validation metrics (best epoch \(summary.bestEpoch.map(String.init) ?? "?")):")
                    print(TrainingRun.table(v, tasks: run.trainer.tasks))
                }
                print("Summary: \(run.summaryPath)")
            }
            if report {
                let path = (out as NSString).appendingPathComponent("report.html")
                try AtomicFile.write(path, text: Report.run(summary: summary, tasks: run.trainer.tasks, title: name))
                print("Report: \(path)")
            }
        }
        // Every rank stops early together, so every rank exits with the same code.
        if resumeMe { throw ExitCode(TrainingRun.resumeExitCode) }
    }
}
