import ArgumentParser
import Foundation
import Logging
import MTLCore
import MTLDistributed
import MTLMPI
import MTLTraining

/// Options every subcommand shares.
struct CommonOptions: ParsableArguments {
    @Option(help: "OpenBLAS threads per process (default: training.threads from the config, else 1).")
    var threads: Int?

    @Option(help: "Log level: trace, debug, info, warning, error.")
    var logLevel: String = "info"

    func validate() throws {
        if let t = threads, t < 1 { throw ValidationError("--threads must be at least 1") }
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical")
        }
    }
}

/// Starts MPI when a launcher started this process (otherwise one local process), sets up
/// logging, runs `body`, and turns any error into a message and a non-zero exit. Under MPI a
/// failing rank aborts the whole job, so no other rank waits for it forever.
func withRuntime(_ common: CommonOptions, threads configThreads: Int? = nil, _ body: (Communicator, Logger) throws -> Void) throws {
    let comm: Communicator
    do {
        comm = launchedByMPI(environment: ProcessInfo.processInfo.environment) ? try MPICommunicator() : SingleProcessCommunicator()
    } catch {
        FileHandle.standardError.write(Data("error: cannot start MPI: \(error)\nHINT: run under mpirun from Open MPI, or without a launcher for one process\n".utf8))
        throw ExitCode(1)
    }
    let level = Logger.Level(rawValue: common.logLevel) ?? .info
    let rank = comm.rank, size = comm.size
    LoggingSystem.bootstrap { label in
        var h = StreamLogHandler.standardError(label: size > 1 ? "\(label)[\(rank)]" : label)
        h.logLevel = rank == 0 ? level : max(level, .warning)
        return h
    }
    BLAS.setThreads(common.threads ?? configThreads ?? 1)
    let logger = Logger(label: "mtl-worker")
    do {
        try body(comm, logger)
    } catch {
        let prefix = size > 1 ? "rank \(rank): " : ""
        FileHandle.standardError.write(Data("error: \(prefix)\(error)\n".utf8))
        if size > 1 { comm.abort(code: 1) }
        throw ExitCode(1)
    }
    (comm as? MPICommunicator)?.finalize()
}

func loadConfig(_ path: String) throws -> RunConfig {
    do { return try RunConfig.load(path: path) } catch let e as UserError {
        FileHandle.standardError.write(Data("error: \(e)\n".utf8))
        throw ExitCode(1)
    }
}

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a multi-task model, data-parallel over MPI when started by mpirun.",
        discussion: "Writes metrics.jsonl, summary.json and checkpoints/ under the output folder; rank 0 evaluates and writes.")

    @Option(help: "The run's YAML config.") var config: String
    @Option(help: "Output folder (default: the config's output key, else runs/<config name>).") var output: String?
    @Flag(help: "Continue the run in the output folder from its newest checkpoint.") var resume = false
    @Option(help: "Override training.epochs.") var epochs: Int?
    @Option(help: "Override training.batch_size (the global batch, split across ranks).") var batchSize: Int?
    @Option(help: "Override training.seed.") var seed: Int?
    @Option(help: "Override model.architecture (\(architectureNames.joined(separator: ", "))).") var architecture: String?
    @Option(help: "Override weighting.method (\(WeightingConfig.methods.joined(separator: ", "))).") var weighting: String?
    @Option(help: "Stop after this many epochs in this invocation (resume later with --resume).") var stopAfterEpochs: Int?
    @Flag(help: "Also write report.html (learning curves and test metrics) in the output folder.") var report = false
    @OptionGroup var common: CommonOptions

    func validate() throws {
        if let e = epochs, e < 1 { throw ValidationError("--epochs must be at least 1") }
        if let b = batchSize, b < 1 { throw ValidationError("--batch-size must be at least 1") }
        if let s = seed, s < 0 { throw ValidationError("--seed must be non-negative") }
        if let s = stopAfterEpochs, s < 1 { throw ValidationError("--stop-after-epochs must be at least 1") }
        if let a = architecture, !architectureNames.contains(a) {
            throw ValidationError("--architecture must be one of: \(architectureNames.joined(separator: ", "))")
        }
        if let w = weighting, !WeightingConfig.methods.contains(w) {
            throw ValidationError("--weighting must be one of: \(WeightingConfig.methods.joined(separator: ", "))")
        }
    }

    func run() throws {
        var cfg = try loadConfig(config)
        var overrides: [String: String] = [:]
        if let e = epochs { overrides["training.epochs"] = String(e) }
        if let b = batchSize { overrides["training.batch_size"] = String(b) }
        if let s = seed { overrides["training.seed"] = String(s) }
        if let a = architecture { overrides["model.architecture"] = a }
        if let w = weighting { overrides["weighting.method"] = w }
        try cfg.apply(overrides: overrides)
        let name = ((config as NSString).lastPathComponent as NSString).deletingPathExtension
        let out = output ?? cfg.output ?? "runs/\(name)"
        try withRuntime(common, threads: cfg.training.threads) { comm, logger in
            let run = try TrainingRun(config: cfg, comm: comm,
                                      options: .init(output: out, resume: resume, stopAfterEpochs: stopAfterEpochs,
                                                     interactive: isatty(STDERR_FILENO) != 0),
                                      logger: logger)
            if let summary = try run.run(), let test = summary["test"] as? [String: [String: Double]] {
                print("Test metrics (\(summary["test_parameters"] ?? "")), \(comm.size) rank(s), \(String(format: "%.1f", summary["wall_seconds"] as? Double ?? 0)) s training:")
                print(TrainingRun.table(test, tasks: run.trainer.tasks))
                print("Summary: \(run.summaryPath)")
            }
            if report && comm.isRoot, let summary = try? JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: run.summaryPath))) as? [String: Any] {
                let path = (out as NSString).appendingPathComponent("report.html")
                try AtomicFile.write(path, text: Report.run(summary: normalizedSummary(summary), tasks: run.trainer.tasks, title: name))
                print("Report: \(path)")
            }
        }
    }
}

/// A summary read back from JSON with its histories as [Double] (JSON numbers come back as NSNumber).
func normalizedSummary(_ s: [String: Any]) -> [String: Any] {
    var out = s
    if let h = s["history"] as? [String: [String: [Any]]] {
        out["history"] = h.mapValues { $0.mapValues { $0.map { ($0 as? Double) ?? .nan } } }
    }
    if let t = s["test"] as? [String: [String: Any]] { out["test"] = t.mapValues { $0.compactMapValues { $0 as? Double } } }
    return out
}

struct Compare: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train every candidate (architecture x weighting) and the single-task baseline with K seeds; rank them by Δm% and recommend one.",
        discussion: "Candidates, seeds and budget come from the config's compare: section. Under mpirun the ranks split into groups that train candidates at the same time. Writes results.json, results.csv, recommended.yaml and report.html; run it again to resume an interrupted comparison.")
    @Option(help: "The run's YAML config (with an optional compare: section).") var config: String
    @Option(help: "Output folder (default: compare.output, else runs/<config name>-compare).") var output: String?
    @Option(help: "Override compare.seeds.") var seeds: Int?
    @Option(help: "Override compare.epochs (epochs per candidate).") var epochs: Int?
    @OptionGroup var common: CommonOptions

    func validate() throws {
        if let s = seeds, s < 1 { throw ValidationError("--seeds must be at least 1") }
        if let e = epochs, e < 1 { throw ValidationError("--epochs must be at least 1") }
    }

    func run() throws {
        var cfg = try loadConfig(config)
        if let s = seeds { cfg.compare.seeds = s }
        if let e = epochs { cfg.compare.epochs = e }
        let name = ((config as NSString).lastPathComponent as NSString).deletingPathExtension
        let out = output ?? cfg.compare.output ?? "runs/\(name)-compare"
        try withRuntime(common, threads: cfg.training.threads) { comm, logger in
            let comparison = Comparison(config: cfg, world: comm, output: out, logger: logger)
            guard let results = try comparison.run() else { return }
            let analysis = try CompareAnalysis(config: cfg, results: results, jobs: comparison.jobs)
            let file = { (n: String) in (out as NSString).appendingPathComponent(n) }
            try AtomicFile.write(file("results.json"), text: TrainingRun.json(analysis.json, pretty: true) + "\n")
            try AtomicFile.write(file("results.csv"), text: analysis.csv)
            let winner = analysis.recommendation.winner
            try AtomicFile.write(file("recommended.yaml"), text: try CompareAnalysis.recommendedConfig(cfg, winner: winner, candidates: analysis.candidates))
            try AtomicFile.write(file("report.html"), text: Report.comparison(analysis, config: cfg))
            print(CompareAnalysis.table(analysis))
            print("\nRecommendation: \(analysis.recommendation.trainSeparately ? "train the tasks separately (single-task)" : winner)")
            for r in analysis.recommendation.reasons { print("  - \(r)") }
            print("Files: \(file("report.html")), results.json, results.csv, recommended.yaml")
        }
    }
}

struct Advise: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "A short pilot that measures the tasks' relationships and the data's characteristics, and prints a shortlist of candidates.",
        discussion: "Trains hard-sharing for compare.probe_epochs epochs, measuring gradient cosines, conflicts and inter-task affinity every compare.probe_every steps. Prints JSON with --json.")
    @Option(help: "The run's YAML config.") var config: String
    @Option(help: "Output folder of the pilot run (default: runs/<config name>-advise).") var output: String?
    @Option(help: "Override compare.probe_epochs.") var epochs: Int?
    @Flag(help: "Print the measurements and the shortlist as JSON.") var json = false
    @OptionGroup var common: CommonOptions

    func run() throws {
        var cfg = try loadConfig(config)
        if let e = epochs { cfg.compare.probeEpochs = max(1, e) }
        let name = ((config as NSString).lastPathComponent as NSString).deletingPathExtension
        let out = output ?? "runs/\(name)-advise"
        try withRuntime(common, threads: cfg.training.threads) { comm, logger in
            let comparison = Comparison(config: cfg, world: comm, output: out, logger: logger)
            let job = comparison.relationshipJob
            let result = try comparison.runJob(job, resume: false, comm: comm)
            guard comm.isRoot, let rel = result["relationships"] as? [String: Any], let data = result["data"] as? [String: Any] else { return }
            let list = Advice.shortlist(relationships: rel, data: data, kinds: cfg.tasks.map(\.kind))
            if json {
                print(TrainingRun.json(["relationships": rel, "data": data,
                                        "shortlist": list.map { ["architecture": $0.candidate.architecture, "weighting": $0.candidate.weighting, "reason": $0.reason] }], pretty: true))
                return
            }
            print(AdviceText.render(rel, data: data, shortlist: list))
        }
    }
}

struct Featurize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Read a config's data, fit the preprocessing (vocabularies, TF-IDF, statistics) and encode every split; prints sizes and times as JSON.")
    @Option(help: "The run's YAML config.") var config: String
    @Option(help: "Times to repeat (the median time is printed too).") var repeats: Int = 1
    @OptionGroup var common: CommonOptions

    func run() throws {
        let cfg = try loadConfig(config)
        try withRuntime(common) { comm, _ in
            var seconds: [Double] = []
            var data: LoadedData?
            for _ in 0..<max(1, repeats) {
                try comm.barrier()
                let start = Date()
                data = try LoadedData.load(config: cfg, comm: comm)
                try comm.barrier()
                seconds.append(Date().timeIntervalSince(start))
            }
            guard comm.isRoot, let d = data else { return }
            let splits = [d.train, d.validation, d.test].compactMap { $0 }
            print(TrainingRun.json([
                "config": config, "world_size": comm.size, "seconds": seconds, "median_seconds": seconds.sorted()[seconds.count / 2],
                "rows": Dictionary(uniqueKeysWithValues: splits.map { ($0.name, $0.rows) }),
                "sparse_nonzeros": Dictionary(uniqueKeysWithValues: splits.map { ($0.name, $0.sparse?.index.count ?? 0) }),
                "sparse_fields": d.preprocessor.sparseFields.map { ["name": $0.name, "kind": $0.kind, "width": $0.width] as [String: Any] },
                "dense_width": d.preprocessor.inputWidth,
            ], pretty: true))
        }
    }
}

struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Evaluate a checkpoint on a split of its run's data; prints JSON.")
    @Option(help: "A checkpoint written by train.") var checkpoint: String
    @Option(help: "The split: train, validation or test.") var split: String = "test"
    @OptionGroup var common: CommonOptions

    func validate() throws {
        guard ["train", "validation", "test"].contains(split) else { throw ValidationError("--split must be train, validation or test") }
    }

    func run() throws {
        try withRuntime(common) { comm, _ in
            guard comm.isRoot else { return }
            let file = try SafeTensors.read(path: checkpoint)
            let (cfg, pre) = try Checkpoint.runConfig(of: file)
            let data = try LoadedData.load(config: cfg, preprocessor: pre)
            guard let s = split == "train" ? data.train : (split == "validation" ? data.validation : data.test) else {
                throw UserError("the run has no \(split) split", hint: "its config defines no \(split) file or fraction")
            }
            let model = makeModel(cfg.model, preprocessor: pre, maxRows: 1024, seed: cfg.training.seed)
            try Checkpoint.load(file, store: model.store, into: model.store.values.pointer, optimizer: nil, state: nil)
            // Multi-label thresholds set to tune come from the validation split, as in training.
            var thresholds: [String: [Double]] = [:]
            if split != "validation", let v = data.validation, pre.tasks.contains(where: { $0.taskKind == .multilabel && $0.threshold == nil }) {
                thresholds = Evaluator.tunedThresholds(Evaluator.predict(model: model, split: v, tasks: pre.tasks), split: v)
            }
            let metrics = Evaluator.metrics(Evaluator.predict(model: model, split: s, tasks: pre.tasks), split: s, thresholds: thresholds)
            print(TrainingRun.json(["checkpoint": checkpoint, "split": split, "rows": s.rows, "metrics": metrics], pretty: true))
        }
    }
}

struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write per-task predictions for an input file as CSV.",
        discussion: "Columns: line (the input line), then per binary task its positive-class probability, per multiclass task one probability column per class (task:class), per regression task its value.")
    @Option(help: "A checkpoint written by train.") var checkpoint: String
    @Option(help: "Input file with the training data's feature columns and format.") var input: String
    @Option(help: "Output CSV file (written atomically).") var output: String
    @OptionGroup var common: CommonOptions

    func run() throws {
        try withRuntime(common) { comm, _ in
            guard comm.isRoot else { return }
            let file = try SafeTensors.read(path: checkpoint)
            let (cfg, pre) = try Checkpoint.runConfig(of: file)
            let d = cfg.data
            let table = try TextTable.read(path: input, format: .init(separator: cfg.separatorByte, header: d.header, columns: d.columns,
                                                                      comment: d.comment, trim: d.trim, skipBadRows: false, quoting: d.quoting))
            let split = try pre.encode(table, split: "input", labels: false)
            let model = makeModel(cfg.model, preprocessor: pre, maxRows: 1024, seed: cfg.training.seed)
            try Checkpoint.load(file, store: model.store, into: model.store.values.pointer, optimizer: nil, state: nil)
            let p = Evaluator.predict(model: model, split: split, tasks: pre.tasks)
            var header = ["line"]
            for t in pre.tasks {
                if t.taskKind == .multiclass || t.taskKind == .multilabel { header += t.classes.map { csvField("\(t.name):\($0)") } } else { header.append(csvField(t.name)) }
            }
            var text = header.joined(separator: ",") + "\n"
            for r in 0..<split.rows {
                var fields = [String(table.lines[r])]
                for (t, task) in pre.tasks.enumerated() {
                    let k = task.outputs
                    for c in 0..<k { fields.append(String(format: "%.6g", p.values[t][r * k + c])) }
                }
                text += fields.joined(separator: ",") + "\n"
            }
            try AtomicFile.write(output, text: text)
            FileHandle.standardError.write(Data("wrote \(split.rows) rows to \(output)\n".utf8))
        }
    }

    func csvField(_ s: String) -> String {
        s.contains(",") || s.contains("\"") ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
    }
}

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a reference workload on synthetic data and print samples/s (JSON), to compare with the PyTorch peer.")
    @Option(help: "Workload: hps (trunk 512-256, heads 64-1) or mmoe (8 experts 256-128, gates, towers 64-1); Adam.") var workload: String = "hps"
    @Option(help: "Input width.") var dim: Int = 512
    @Option(help: "Binary tasks.") var tasks: Int = 2
    @Option(help: "Batch per rank.") var batch: Int = 256
    @Option(help: "Timed steps.") var steps: Int = 300
    @Option(help: "Warm-up steps before timing.") var warmup: Int = 20
    @Option(help: "Synthetic rows.") var rows: Int = 100_000
    @Option(help: "Weighting method (\(WeightingConfig.methods.joined(separator: ", "))).") var weighting: String = "fixed"
    @OptionGroup var common: CommonOptions

    func validate() throws {
        for (name, v) in [("--dim", dim), ("--tasks", tasks), ("--batch", batch), ("--steps", steps), ("--rows", rows)] where v < 1 {
            throw ValidationError("\(name) must be at least 1")
        }
        if !WeightingConfig.methods.contains(weighting) {
            throw ValidationError("--weighting must be one of: \(WeightingConfig.methods.joined(separator: ", "))")
        }
    }

    func run() throws {
        try withRuntime(common) { comm, logger in
            let r = try Benchmark.run(workload: workload, dim: dim, tasks: tasks, batchPerRank: batch, steps: steps,
                                      warmup: warmup, rows: rows, weighting: weighting, comm: comm, logger: logger)
            if comm.isRoot {
                print(TrainingRun.json(["workload": r.workload, "world_size": r.worldSize, "batch": r.batchPerRank, "dim": dim,
                                        "steps": r.steps, "seconds": r.seconds, "samples_per_sec": r.samplesPerSecond,
                                        "parameters": r.parameters, "threads": common.threads ?? 1, "weighting": weighting]))
            }
        }
    }
}

struct SelfTest: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "selftest",
        abstract: "Check the MPI collectives at this world size (sum == x * size, broadcast, allgather).")
    @OptionGroup var common: CommonOptions

    func run() throws {
        try withRuntime(common) { comm, _ in
            try CollectiveChecks.run(on: comm)
            try comm.barrier()
            if comm.isRoot { print("selftest: collectives correct on \(comm.size) rank(s)") }
        }
    }
}

struct MTLWorker: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mtl-worker",
        abstract: "Data-parallel multi-task learning over MPI.",
        subcommands: [Train.self, Compare.self, Advise.self, Evaluate.self, Predict.self, Featurize.self, Bench.self, SelfTest.self])
}

/// Restarts the process once with OPENBLAS_CORETYPE set when OpenBLAS chose its generic kernels
/// on a CPU it does not know (see `BLAS.betterCoreType`). OpenBLAS reads the variable only when
/// it loads, so it must be in the environment before the process starts. A value the user set is
/// always kept.
func selectBLASKernels() {
    let env = ProcessInfo.processInfo.environment
    guard env["OPENBLAS_CORETYPE"] == nil, env["MTL_KEEP_BLAS_CORE"] == nil,
          let cpuinfo = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
          let flagsLine = cpuinfo.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return }
    let flags = Set(flagsLine.split(separator: " ").map(String.init))
    guard let core = BLAS.betterCoreType(cpuFlags: flags) else { return }
    setenv("OPENBLAS_CORETYPE", core, 1)
    setenv("MTL_KEEP_BLAS_CORE", "1", 1)
    let args = CommandLine.unsafeArgv
    execv("/proc/self/exe", args)
    // exec failed: go on with the generic kernels.
}

selectBLASKernels()
MTLWorker.main()
