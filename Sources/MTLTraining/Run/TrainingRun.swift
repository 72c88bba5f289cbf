import Foundation
import Logging
import MTLCore
import MTLData
import MTLDistributed
import MTLModels
import MTLWeighting

/// A whole `train` invocation: output folder, epochs, validation, checkpoints, resume, test and
/// summary. Rank 0 evaluates and writes; every rank trains.
public final class TrainingRun {
    public struct Options {
        public var output: String
        public var resume: Bool
        /// Run at most this many epochs in this invocation (to fit a batch job's time limit);
        /// the schedule still spans `training.epochs`.
        public var stopAfterEpochs: Int?
        /// How rank 0 shows progress inside an epoch.
        public var progress: ProgressReporter.Style
        /// A time budget: training ends (and is evaluated as finished) after the first epoch that
        /// brings this invocation's training time to at least this many seconds.
        public var maxSeconds: Double?
        public init(output: String, resume: Bool = false, stopAfterEpochs: Int? = nil, progress: ProgressReporter.Style = .none, maxSeconds: Double? = nil) {
            self.output = output; self.resume = resume; self.stopAfterEpochs = stopAfterEpochs; self.progress = progress
            self.maxSeconds = maxSeconds
        }
    }

    public let trainer: Trainer
    public let options: Options
    let logger: Logger
    var metricLines: [MetricsLine] = []
    var budgetReached = false
    var patienceReached = false

    /// Whether `training.patience` epochs have passed without a better validation value (every
    /// rank knows the best epoch: it is broadcast at start and after each epoch).
    func patienceRunsOut() -> Bool {
        let t = trainer, p = t.config.training.patience
        guard p > 0, t.data.validation != nil, let b = t.best else { return false }
        return t.epoch - b.epoch >= p
    }
    /// Set when this invocation ended before the run's last epoch (`--stop-after-epochs`): the
    /// run is to be resumed (the command exits with `TrainingRun.resumeExitCode`).
    public private(set) var stoppedEarly = false
    /// The exit code of an invocation that stopped early and is to be resumed (EX_TEMPFAIL).
    public static let resumeExitCode: Int32 = 75
    /// Training seconds, samples and invocations of the pieces before this one (from the
    /// checkpoint resumed), and this invocation's start and samples: summary.json adds them up.
    var prior = (seconds: 0.0, samples: 0, pieces: 0)
    var invocationStart = Date()
    var invocationSamples = 0
    var checkpointDir: String { (options.output as NSString).appendingPathComponent("checkpoints") }
    var metricsPath: String { (options.output as NSString).appendingPathComponent("metrics.jsonl") }
    public var summaryPath: String { (options.output as NSString).appendingPathComponent("summary.json") }
    var comm: Communicator { trainer.comm }

    public init(config: RunConfig, comm: Communicator, options: Options, logger: Logger) throws {
        self.options = options
        self.logger = logger
        if comm.isRoot { try Self.prepareOutput(options) }
        let started = Date()
        let data = try LoadedData.load(source: config.dataSource, comm: comm)
        for w in data.warnings where comm.isRoot { logger.warning("\(w)") }
        for s in data.skipped where comm.isRoot {
            logger.warning("\(s.file): skipped \(s.count) bad row(s) under data.bad_rows: skip (first at line \(s.firstLine): \(s.reason))")
        }
        trainer = try Trainer(config: config, data: data, comm: comm, logger: logger)
        // The flags that change control flow must match too, or one rank would stop or resume alone.
        try StartupAgreement.verify(stableHash("resume \(options.resume), stop after \(options.stopAfterEpochs ?? -1), seconds \(options.maxSeconds ?? -1)"), on: comm,
                                       what: "the config's run flags (--resume, --stop-after-epochs, the time budget)")
        if comm.isRoot {
            let counts = { (s: EncodedSplit?) in s.map { "\($0.rows) rows, labelled " + zip(data.preprocessor.tasks, $0.labelCounts).map { "\($0.name) \($1)" }.joined(separator: ", ") } ?? "none" }
            logger.info("data: train \(counts(data.train)); validation \(counts(data.validation)); test \(counts(data.test)); input width \(data.preprocessor.inputWidth) dense + \(data.preprocessor.sparseWidth) sparse; loaded in \(String(format: "%.1f", Date().timeIntervalSince(started))) s")
            logger.info("columns: \(data.preprocessor.columnSummary)")
            let m = config.model.resolved(inputWidth: ModelConfig.inputWidth(data.preprocessor.layout, sparseProjection: config.model.sparseProjection))
            let sized = config.model.given.count < 3 || config.model.width != 1 ? " (widths not in the config sized from the input width; model.width \(config.model.width))" : ""
            logger.info("model: \(config.model.architecture.rawValue), \(trainer.parameterCount) parameters, trunk \(m.trunk), head \(m.head)\([.mmoe, .cgc, .ple].contains(m.architecture) ? ", expert \(m.expert)" : "")\(sized); \(comm.size) rank(s), global batch \(config.training.batchSize), \(trainer.stepsPerEpoch) steps per epoch")
            let w = trainer.weighting
            if config.weighting.method != .fixed, let t = config.tasks.first(where: { $0.weight != 1 }) {
                logger.warning("task '\(t.name)' sets weight \(t.weight), which weighting.method \(config.weighting.method.rawValue) ignores (task weights apply to method fixed only)")
            }
            var line = "weighting: \(config.weighting.method.rawValue)"
            if w.combinesGradients {
                if let rep = trainer.representationModel {
                    line += ", task gradients at the shared representation (width \(rep.representationWidth); an approximation of gradients on the shared parameters)"
                } else {
                    line += ", task gradients on the \(trainer.sharedCount) shared parameters (\(trainer.sharedEntries.count) tensors)"
                    if trainer.sharedCount == 0 { logger.warning("\(config.model.architecture.rawValue) has no parameters shared between tasks: weighting.method \(config.weighting.method.rawValue) leaves the gradients as they are") }
                }
                line += "; \(config.tasks.count) backward passes per step"
            }
            line += "; extra communication per step: \(Self.communicationNote(trainer))"
            logger.info("\(line)")
            let table = trainer.sparseTables.reduce(0) { $0 + $1.count }
            if table > 0 {
                let how = !trainer.lazyRows ? "dense"
                    : trainer.ownsTableRows ? "lazy (only the table rows a batch touches; row j updated by rank j mod \(comm.size), its new values sent to the others)"
                    : "lazy (only the table rows a batch touches)"
                let why = config.training.sparseUpdates == .auto ? " (training.sparse_updates: auto, lazy from \(SparseUpdates.autoLazyParameters))" : ""
                logger.info("sparse updates: \(how) for \(table) parameters in sparse tables\(why)")
            }
        }
        if options.resume { try resume() }
    }

    static func prepareOutput(_ o: Options) throws {
        let fm = FileManager.default
        let ckpt = (o.output as NSString).appendingPathComponent("checkpoints")
        let existing = (try? fm.contentsOfDirectory(atPath: ckpt))?.filter { $0.hasSuffix(".safetensors") } ?? []
        if !o.resume && !existing.isEmpty {
            throw UserError("output folder '\(o.output)' already holds checkpoints of a run",
                            hint: "pass --resume to continue that run, or choose another --output")
        }
        try AtomicFile.makeDirectories(ckpt)
        for dir in [o.output, ckpt] { AtomicFile.removeStaleTemporaries(in: dir) }
    }

    /// The epoch checkpoints in the output folder, newest first.
    func epochCheckpoints() -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: checkpointDir)) ?? []
        return names.filter { $0.hasPrefix("epoch-") && $0.hasSuffix(".safetensors") }.sorted().reversed()
            .map { (checkpointDir as NSString).appendingPathComponent($0) }
    }

    /// Restores the newest intact epoch checkpoint (a damaged one is skipped with a warning naming
    /// it), and the best epoch's parameters from the checkpoint that holds exactly that epoch.
    func resume() throws {
        if comm.isRoot {
            var skipped: [String] = []
            var restored: (path: String, meta: CheckpointMetadata)?
            for path in epochCheckpoints() {
                do {
                    let file = try SafeTensors.read(path: path)
                    let meta = try CheckpointMetadata(file.metadata, file: file.path)
                    try Checkpoint.load(file, store: trainer.model.store, into: trainer.model.store.values.pointer,
                                        optimizer: trainer.optimizer, state: trainer.optimizerState.pointer)
                    try trainer.weighting.restore(Checkpoint.extra(file, like: trainer.weighting.state))
                    restored = (path, meta)
                    break
                } catch {
                    logger.warning("--resume: skipping \(path): \(error)")
                    skipped.append(path)
                }
            }
            if let (path, meta) = restored {
                trainer.step = meta.step
                trainer.epoch = meta.epoch
                prior = meta.trained
                if meta.position > 0 {
                    trainer.positionInEpoch = meta.position
                    trainer.pendingEpochLoss = meta.epochLossByRank
                    trainer.weightSums.partial = (meta.weightSums, meta.weightSteps)
                }
                if let b = meta.best {
                    trainer.best = b
                    try restoreBest(epoch: b.epoch)
                }
                var unreadable = 0
                for line in ((try? String(contentsOfFile: metricsPath, encoding: .utf8)) ?? "").split(separator: "\n") {
                    guard let m = try? JSONDecoder().decode(MetricsLine.self, from: Data(line.utf8)) else { unreadable += 1; continue }
                    if m.split != "test" && m.epoch <= trainer.epoch { metricLines.append(m) }
                }
                if unreadable > 0 { logger.warning("\(metricsPath): \(unreadable) line(s) do not parse and are left out") }
                logger.info("resuming from \(path): epoch \(trainer.epoch), step \(trainer.step)")
            } else if !skipped.isEmpty {
                throw UserError("--resume: no checkpoint in \(checkpointDir) is intact (\(skipped.count) damaged)",
                                hint: "start a new run in another --output folder")
            } else {
                logger.warning("--resume: no checkpoint in \(checkpointDir); starting a new run")
            }
        }
        try trainer.broadcastState()
    }

    /// The parameters of the best epoch: from best.safetensors when it holds that epoch, else from
    /// that epoch's own checkpoint (a run stopped between writing the two leaves best.safetensors
    /// one improvement behind), which then replaces best.safetensors.
    func restoreBest(epoch: Int) throws {
        let bestPath = (checkpointDir as NSString).appendingPathComponent("best.safetensors")
        let epochPath = (checkpointDir as NSString).appendingPathComponent(String(format: "epoch-%04d.safetensors", epoch))
        for path in [bestPath, epochPath] {
            guard let file = try? SafeTensors.read(path: path), let meta = try? CheckpointMetadata(file.metadata, file: path),
                  meta.epoch == epoch else { continue }
            let params = FloatBuffer(count: trainer.model.store.count)
            guard (try? Checkpoint.load(file, store: trainer.model.store, into: params.pointer, optimizer: nil, state: nil)) != nil else { continue }
            trainer.bestParameters = params.array
            if path != bestPath {
                logger.warning("--resume: best.safetensors did not hold the best epoch \(epoch); restored it from \(path)")
                try AtomicFile.write(bestPath, data: file.bytes)
            }
            return
        }
        logger.warning("--resume: no intact checkpoint holds the best epoch \(epoch)'s parameters; the test metrics will use the last epoch's")
        trainer.best = nil
    }

    /// Trains to the configured number of epochs (or `stopAfterEpochs` more); returns the
    /// summary when the run is complete, nil when it stopped early by request.
    @discardableResult
    public func run() throws -> RunSummary? {
        let t = trainer
        let total = t.config.training.epochs
        let last = min(total, t.epoch + (options.stopAfterEpochs ?? total))
        let log = logger
        let progress = comm.isRoot ? ProgressReporter(epochs: total, tasks: t.tasks.map(\.name), style: options.progress) { log.info("\($0)") } : nil
        if options.resume && (t.epoch >= total || patienceRunsOut()), FileManager.default.fileExists(atPath: summaryPath) {
            // Already complete: nothing to train, and the summary stays as it is.
            guard comm.isRoot, let data = FileManager.default.contents(atPath: summaryPath) else { return nil }
            logger.info("the run in \(options.output) is already complete (epoch \(t.epoch) of \(total)); nothing to do")
            return try JSON.decode(RunSummary.self, from: data, file: summaryPath)
        }
        let started = Date()
        invocationStart = started
        // A run resumed after its patience ran out (but before its summary was written) ends here.
        if patienceRunsOut() && t.epoch < total { patienceReached = true }
        while t.epoch < last && !patienceReached {
            progress?.begin(epoch: t.epoch + 1)
            let epochStart = Date()
            guard let losses = try t.trainEpoch(progress: progress) else {
                // A stop request mid-epoch: a checkpoint of the epoch in progress, then "resume me".
                progress?.end()
                try savePartialCheckpoint()
                stoppedEarly = true
                if comm.isRoot { logger.info("stopped by a signal in epoch \(t.epoch + 1) after step \(t.positionInEpoch) of \(t.stepsPerEpoch); continue with --resume") }
                return nil
            }
            let seconds = Date().timeIntervalSince(epochStart)
            invocationSamples += t.epochRows
            progress?.end()
            // Rank 0 writes the epoch's checkpoint with every table row's optimizer state.
            try t.collectTableState()
            if comm.isRoot { try endEpoch(losses: losses, seconds: seconds) }
            t.releaseTableState()
            if t.epoch < total, try t.stopRequested() {
                if comm.isRoot { logger.info("stopped by a signal after epoch \(t.epoch) of \(total); continue with --resume") }
                stoppedEarly = true
                return nil
            }
            if t.config.training.patience > 0 && t.data.validation != nil {
                // Rank 0 alone evaluates: its best epoch goes to every rank, which then decide alike.
                var best = [Double(t.best?.epoch ?? -1), t.best?.value ?? .nan]
                try best.withUnsafeMutableBytes { try comm.broadcast($0, root: 0) }
                if best[0] >= 0 { t.best = (best[1], Int(best[0])) }
                if patienceRunsOut() && t.epoch < total {
                    if comm.isRoot {
                        logger.info("no better validation \(t.config.checkpoint.bestMetric.description) for \(t.config.training.patience) epochs (best: epoch \(t.best?.epoch ?? 0)): training ends after epoch \(t.epoch) of \(total) (training.patience)")
                    }
                    patienceReached = true
                    break
                }
            }
            if let budget = options.maxSeconds {
                // Rank 0's clock decides, so every rank stops after the same epoch.
                var spent = [Date().timeIntervalSince(started)]
                try spent.withUnsafeMutableBytes { try comm.broadcast($0, root: 0) }
                if spent[0] >= budget {
                    if comm.isRoot { logger.info("time budget of \(budget) s reached after epoch \(t.epoch) of \(total)") }
                    budgetReached = true
                    break
                }
            }
        }
        let wall = Date().timeIntervalSince(started)
        guard t.epoch >= total || budgetReached || patienceReached else {
            if comm.isRoot { logger.info("stopped after epoch \(t.epoch) of \(total) as asked; continue with --resume") }
            stoppedEarly = true
            return nil
        }
        guard comm.isRoot else { return nil }
        return try finish(wallSeconds: prior.seconds + wall, trainedSamples: prior.samples + invocationSamples)
    }

    func endEpoch(losses: [Double], seconds: Double) throws {
        let t = trainer
        var line = "epoch \(t.epoch)/\(t.config.training.epochs) \(String(format: "%.1f", seconds)) s, \(Int(Double(t.epochRows) / seconds)) samples/s, train loss "
        line += zip(t.tasks, losses).map { "\($0.name) \(String(format: "%.4f", $1))" }.joined(separator: " ")
        if t.config.weighting.method != .fixed || t.tasks.contains(where: { $0.weight != 1 }) {
            line += ", mean weights " + zip(t.tasks, t.epochWeights).map { "\($0.name) \(String(format: "%.3f", $1))" }.joined(separator: " ")
        }
        var validation: [String: MetricValues]?
        if let v = t.data.validation {
            let m = Evaluator.metrics(Evaluator.predict(model: t.model, split: v, tasks: t.tasks), split: v)
            validation = m
            line += "; validation " + t.tasks.map { task in
                let key = Metric.headline(task.kind)
                return "\(task.name) \(key.rawValue) \(String(format: "%.4f", m[task.name]?[key] ?? .nan))"
            }.joined(separator: " ")
        }
        logger.info("\(line)")
        for (i, task) in t.tasks.enumerated() {
            metricLines.append(MetricsLine(epoch: t.epoch, step: t.step, task: task.name, split: validation == nil ? "train" : "validation",
                                           trainLoss: losses[i], learningRate: Double(t.schedule.rate(at: t.step)), seconds: seconds,
                                           weight: t.epochWeights.indices.contains(i) ? t.epochWeights[i] : .nan,
                                           weighting: t.config.weighting.method, metrics: validation?[task.name] ?? MetricValues()))
        }
        try writeMetrics()

        // Best by the configured validation metric (or by training loss without a validation split).
        let selector = t.config.checkpoint.bestMetric
        let current: Double? = validation.flatMap { selector.value(in: $0) } ?? (validation == nil ? losses.reduce(0, +) : nil)
        let higher = validation != nil && selector.metric.higherIsBetter
        var improved = false
        if let c = current, !c.isNaN {
            if let b = t.best { improved = higher ? c > b.value : c < b.value } else { improved = true }
        }
        if improved, let c = current {
            t.best = (c, t.epoch)
            t.bestParameters = t.model.store.values.array
        }
        try saveCheckpoints(improved: improved)
    }

    func writeMetrics() throws {
        try AtomicFile.write(metricsPath, text: try metricLines.map { try JSON.text($0) }.joined(separator: "\n") + "\n")
    }

    func metadata() throws -> CheckpointMetadata {
        let t = trainer, c = t.config
        let path = (c.sourcePath as NSString).standardizingPath.hasPrefix("/") ? c.sourcePath
            : FileManager.default.currentDirectoryPath + "/" + c.sourcePath
        return CheckpointMetadata(step: t.step, epoch: t.epoch, epochs: c.training.epochs, seed: c.training.seed,
                                  config: c.sourceText, configPath: path, overrides: c.overrides,
                                  preprocessor: try t.data.preprocessor.json(), optimizer: t.optimizer.name,
                                  architecture: c.model.architecture, worldSize: comm.size, weighting: c.weighting.method,
                                  bestMetric: c.checkpoint.bestMetric.description, best: t.best, layout: t.model.store.layoutDescription,
                                  trained: (prior.seconds + Date().timeIntervalSince(invocationStart), prior.samples + invocationSamples, prior.pieces + 1))
    }

    /// A checkpoint of the epoch in progress (every rank calls it: each rank's partial loss sums
    /// travel to rank 0, which writes). Named after the epoch in progress, so it sorts after the
    /// last finished epoch's checkpoint and before that epoch's own.
    func savePartialCheckpoint() throws {
        let t = trainer
        let mine = t.epochLoss.withUnsafeBytes { Array($0) }
        let all = try comm.allgather(bytes: mine).map { bytes in
            bytes.withUnsafeBytes { Array($0.bindMemory(to: Double.self)) }
        }
        try t.collectTableState()
        defer { t.releaseTableState() }
        guard comm.isRoot else { return }
        var meta = try metadata()
        meta.position = t.positionInEpoch
        meta.epochLossByRank = all
        (meta.weightSums, meta.weightSteps) = t.weightSums.partial
        let path = (checkpointDir as NSString).appendingPathComponent(String(format: "epoch-%04d-partial-%06d.safetensors", t.epoch + 1, t.positionInEpoch))
        try Checkpoint.write(path: path, store: t.model.store, parameters: UnsafeBufferPointer(t.model.store.values.buffer),
                             optimizer: t.optimizer, state: UnsafeBufferPointer(t.optimizerState.buffer), metadata: meta, extra: t.weighting.state)
        pruneCheckpoints()
    }

    func saveCheckpoints(improved: Bool) throws {
        let t = trainer
        let path = (checkpointDir as NSString).appendingPathComponent(String(format: "epoch-%04d.safetensors", t.epoch))
        let meta = try metadata()
        let extra = t.weighting.state
        try Checkpoint.write(path: path, store: t.model.store, parameters: UnsafeBufferPointer(t.model.store.values.buffer),
                             optimizer: t.optimizer, state: UnsafeBufferPointer(t.optimizerState.buffer), metadata: meta, extra: extra)
        if improved {
            try Checkpoint.write(path: (checkpointDir as NSString).appendingPathComponent("best.safetensors"),
                                 store: t.model.store, parameters: UnsafeBufferPointer(t.model.store.values.buffer),
                                 optimizer: t.optimizer, state: UnsafeBufferPointer(t.optimizerState.buffer), metadata: meta, extra: extra)
        }
        pruneCheckpoints()
    }

    /// Keeps the newest `keep_last` epoch checkpoints; the new one is complete before any is removed.
    func pruneCheckpoints() {
        let t = trainer
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: checkpointDir)) ?? [])
            .filter { $0.hasPrefix("epoch-") && $0.hasSuffix(".safetensors") }.sorted()
        for old in names.dropLast(t.config.checkpoint.keepLast) {
            try? FileManager.default.removeItem(atPath: (checkpointDir as NSString).appendingPathComponent(old))
        }
    }

    func finish(wallSeconds: Double, trainedSamples: Int) throws -> RunSummary {
        let t = trainer
        var summary = RunSummary(config: t.config.sourcePath, architecture: t.config.model.architecture, worldSize: comm.size,
                                 weighting: t.config.weighting.method, epochs: t.epoch, steps: t.step, parameters: t.parameterCount,
                                 wallSeconds: wallSeconds, samplesPerSecond: wallSeconds > 0 ? Double(trainedSamples) / wallSeconds : 0,
                                 bestMetric: t.config.checkpoint.bestMetric.description)
        if budgetReached { summary.stoppedByTimeBudget = true }
        if patienceReached || (t.epoch < t.config.training.epochs && patienceRunsOut()) { summary.stoppedByPatience = true }
        summary.pieces = prior.pieces + 1
        if let b = t.best { summary.bestValue = b.value; summary.bestEpoch = b.epoch }
        // Per task: the validation metrics of every epoch (learning curves) and those of the best epoch.
        var bestValidation: [String: MetricValues] = [:]
        for line in metricLines where line.split != "test" {
            var h = summary.history[line.task] ?? [:]
            h["epoch", default: []].append(Double(line.epoch))
            if let l = line.trainLoss { h["train_loss", default: []].append(l) }
            for m in line.metrics.metrics where Metric.selectable.contains(m) { h[m.rawValue, default: []].append(line.metrics[m] ?? .nan) }
            summary.history[line.task] = h
            if line.epoch == t.best?.epoch, line.split == "validation" {
                bestValidation[line.task] = MetricValues(line.metrics.values.filter { Metric.selectable.contains($0.key) })
            }
        }
        if !bestValidation.isEmpty { summary.validation = bestValidation }
        if let test = t.data.test {
            // Test with the parameters of the best validation epoch, as the checkpoint `best.safetensors`.
            let current = t.model.store.values.array
            let best = t.data.validation != nil ? t.bestParameters : nil
            if let b = best { b.withUnsafeBufferPointer { src in if let s = src.baseAddress { t.model.store.values.pointer.update(from: s, count: src.count) } } }
            // Multi-label thresholds set to tune are tuned on the validation split, then applied to test.
            var thresholds: [String: [Double]] = [:]
            if let v = t.data.validation, t.tasks.contains(where: \.tunesThreshold) {
                thresholds = Evaluator.tunedThresholds(Evaluator.predict(model: t.model, split: v, tasks: t.tasks), split: v)
            }
            let m = Evaluator.metrics(Evaluator.predict(model: t.model, split: test, tasks: t.tasks), split: test, thresholds: thresholds)
            if best != nil { current.withUnsafeBufferPointer { src in if let s = src.baseAddress { t.model.store.values.pointer.update(from: s, count: src.count) } } }
            summary.test = m
            summary.testParameters = best != nil ? "best validation epoch \(t.best?.epoch ?? 0)" : "last epoch"
            for task in t.tasks {
                metricLines.append(MetricsLine(epoch: t.epoch, step: t.step, task: task.name, split: "test", metrics: m[task.name] ?? MetricValues()))
            }
            try writeMetrics()
        }
        try AtomicFile.write(summaryPath, text: try JSON.text(summary, pretty: true) + "\n")
        return summary
    }

    /// The extra communication per step of the weighting method, for the start-up log.
    static func communicationNote(_ trainer: Trainer) -> String {
        let t = trainer.tasks.count
        var parts: [String] = []
        if trainer.weighting.needsStepLosses { parts.append("\(t) doubles (the step's task losses)") }
        if trainer.weighting.combinesGradients {
            if trainer.representationModel != nil {
                parts.append("\(t * t) doubles (Gram matrix of the task gradients at the shared representation)")
            } else {
                let extra = trainer.synchronizer.taskGradientExtraFloats
                parts.append("\(extra) floats (\(String(format: "%.2f", Double(extra) * 4 / 1_048_576)) MiB: the \(t) x \(trainer.sharedCount) task-gradient matrix in place of the summed shared gradient)")
            }
        }
        return parts.isEmpty ? "none" : parts.joined(separator: " + ")
    }

    /// A plain table of test metrics per task for the terminal.
    public static func table(_ metrics: [String: MetricValues], tasks: [Preprocessor.TaskEncoding]) -> String {
        var lines: [String] = []
        for task in tasks {
            guard let m = metrics[task.name] else { continue }
            lines.append(task.name.padding(toLength: max(16, task.name.count + 1), withPad: " ", startingAt: 0)
                         + Metric.reported(task.kind).map { "\($0.rawValue) \(String(format: "%.4f", m[$0] ?? .nan))" }.joined(separator: "  "))
        }
        return lines.joined(separator: "\n")
    }
}
