import Foundation
import Logging
import MTLCore
import MTLDistributed

/// A whole `train` invocation: output folder, epochs, validation, checkpoints, resume, test and
/// summary. Rank 0 evaluates and writes; every rank trains.
public final class TrainingRun {
    public struct Options {
        public var output: String
        public var resume: Bool
        /// Run at most this many epochs in this invocation (to fit a batch job's time limit);
        /// the schedule still spans `training.epochs`.
        public var stopAfterEpochs: Int?
        public var interactive: Bool
        /// A time budget: training ends (and is evaluated as finished) after the first epoch that
        /// brings this invocation's training time to at least this many seconds.
        public var maxSeconds: Double?
        public init(output: String, resume: Bool = false, stopAfterEpochs: Int? = nil, interactive: Bool = false, maxSeconds: Double? = nil) {
            self.output = output; self.resume = resume; self.stopAfterEpochs = stopAfterEpochs; self.interactive = interactive
            self.maxSeconds = maxSeconds
        }
    }

    public let trainer: Trainer
    public let options: Options
    let logger: Logger
    var metricLines: [String] = []
    var budgetReached = false
    var checkpointDir: String { (options.output as NSString).appendingPathComponent("checkpoints") }
    var metricsPath: String { (options.output as NSString).appendingPathComponent("metrics.jsonl") }
    public var summaryPath: String { (options.output as NSString).appendingPathComponent("summary.json") }
    var comm: Communicator { trainer.comm }

    public init(config: RunConfig, comm: Communicator, options: Options, logger: Logger) throws {
        self.options = options
        self.logger = logger
        if comm.isRoot { try Self.prepareOutput(options) }
        let started = Date()
        let data = try LoadedData.load(config: config, comm: comm)
        for s in data.skipped where comm.isRoot {
            logger.warning("\(s.file): skipped \(s.count) bad row(s) under data.bad_rows: skip (first at line \(s.firstLine): \(s.reason))")
        }
        trainer = try Trainer(config: config, data: data, comm: comm, logger: logger)
        if comm.isRoot {
            let counts = { (s: EncodedSplit?) in s.map { "\($0.rows) rows, labelled " + zip(data.preprocessor.tasks, $0.labelCounts).map { "\($0.name) \($1)" }.joined(separator: ", ") } ?? "none" }
            logger.info("data: train \(counts(data.train)); validation \(counts(data.validation)); test \(counts(data.test)); input width \(data.preprocessor.inputWidth); loaded in \(String(format: "%.1f", Date().timeIntervalSince(started))) s")
            logger.info("model: \(config.model.architecture), \(trainer.parameterCount) parameters; \(comm.size) rank(s), global batch \(config.training.batchSize), \(trainer.stepsPerEpoch) steps per epoch")
            let w = trainer.weighting
            if config.weighting.method != "fixed", let t = config.tasks.first(where: { $0.weight != 1 }) {
                logger.warning("task '\(t.name)' sets weight \(t.weight), which weighting.method \(config.weighting.method) ignores (task weights apply to method fixed only)")
            }
            var line = "weighting: \(config.weighting.method)"
            if w.needsGradients {
                if let rep = trainer.representationModel {
                    line += ", task gradients at the shared representation (width \(rep.representationWidth); an approximation of gradients on the shared parameters)"
                } else {
                    line += ", task gradients on the \(trainer.sharedCount) shared parameters (\(trainer.sharedEntries.count) tensors)"
                    if trainer.sharedCount == 0 { logger.warning("\(config.model.architecture) has no parameters shared between tasks: weighting.method \(config.weighting.method) leaves the gradients as they are") }
                }
                line += "; \(config.tasks.count) backward passes per step"
            }
            line += "; extra communication per step: \(w.communicationNote(sharedParameters: trainer.sharedCount, representationWidth: trainer.representationModel?.representationWidth))"
            logger.info("\(line)")
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
    }

    /// The newest epoch checkpoint in the output folder, if any.
    func latestCheckpoint() -> String? {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: checkpointDir)) ?? []
        return names.filter { $0.hasPrefix("epoch-") && $0.hasSuffix(".safetensors") }.sorted().last
            .map { (checkpointDir as NSString).appendingPathComponent($0) }
    }

    func resume() throws {
        if comm.isRoot {
            if let path = latestCheckpoint() {
                let file = try SafeTensors.read(path: path)
                try Checkpoint.load(file, store: trainer.model.store, into: trainer.model.store.values.pointer,
                                    optimizer: trainer.optimizer, state: trainer.optimizerState.pointer)
                try trainer.weighting.restore(Checkpoint.extra(file, like: trainer.weighting.state))
                trainer.step = Int(file.metadata["step"] ?? "") ?? 0
                trainer.epoch = Int(file.metadata["epoch"] ?? "") ?? 0
                if let v = file.metadata["best_value"].flatMap(Double.init), let e = file.metadata["best_epoch"].flatMap(Int.init) {
                    trainer.best = (v, e)
                    let bestPath = (checkpointDir as NSString).appendingPathComponent("best.safetensors")
                    if let bestFile = try? SafeTensors.read(path: bestPath) {
                        var params = [Float](repeating: 0, count: trainer.model.store.count)
                        try params.withUnsafeMutableBufferPointer {
                            try Checkpoint.load(bestFile, store: trainer.model.store, into: $0.baseAddress!, optimizer: nil, state: nil)
                        }
                        trainer.bestParameters = params
                    }
                }
                metricLines = ((try? String(contentsOfFile: metricsPath, encoding: .utf8)) ?? "")
                    .split(separator: "\n").map(String.init)
                    .filter { line in (Self.epochOf(line) ?? Int.max) <= trainer.epoch }
                logger.info("resuming from \(path): epoch \(trainer.epoch), step \(trainer.step)")
            } else {
                logger.warning("--resume: no checkpoint in \(checkpointDir); starting a new run")
            }
        }
        try trainer.broadcastState()
    }

    static func epochOf(_ line: String) -> Int? {
        guard let obj = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { return nil }
        if obj["split"] as? String == "test" { return Int.max }
        return obj["epoch"] as? Int
    }

    /// Trains to the configured number of epochs (or `stopAfterEpochs` more); returns the
    /// summary when the run is complete, nil when it stopped early by request.
    @discardableResult
    public func run() throws -> [String: Any]? {
        let t = trainer
        let total = t.config.training.epochs
        let last = min(total, t.epoch + (options.stopAfterEpochs ?? total))
        let progress = comm.isRoot ? ProgressReporter(epochs: total, interactive: options.interactive) : nil
        let started = Date()
        var trainedSamples = 0
        while t.epoch < last {
            progress?.begin(epoch: t.epoch + 1)
            let epochStart = Date()
            let losses = try t.trainEpoch(progress: progress)
            let seconds = Date().timeIntervalSince(epochStart)
            trainedSamples += t.epochRows
            progress?.end()
            if comm.isRoot { try endEpoch(losses: losses, seconds: seconds) }
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
        guard t.epoch >= total || budgetReached else {
            if comm.isRoot { logger.info("stopped after epoch \(t.epoch) of \(total) as asked; continue with --resume") }
            return nil
        }
        guard comm.isRoot else { return nil }
        return try finish(wallSeconds: wall, trainedSamples: trainedSamples)
    }

    func endEpoch(losses: [Double], seconds: Double) throws {
        let t = trainer
        var line = "epoch \(t.epoch)/\(t.config.training.epochs) \(String(format: "%.1f", seconds)) s, \(Int(Double(t.epochRows) / seconds)) samples/s, train loss "
        line += zip(t.tasks, losses).map { "\($0.name) \(String(format: "%.4f", $1))" }.joined(separator: " ")
        if t.config.weighting.method != "fixed" || t.tasks.contains(where: { $0.weight != 1 }) {
            line += ", mean weights " + zip(t.tasks, t.epochWeights).map { "\($0.name) \(String(format: "%.3f", $1))" }.joined(separator: " ")
        }
        var validation: [String: [String: Double]]?
        if let v = t.data.validation {
            let m = Evaluator.metrics(Evaluator.predict(model: t.model, split: v, tasks: t.tasks), split: v)
            validation = m
            line += "; validation " + t.tasks.map { task in
                let mm = m[task.name]!
                let key = Self.headlineMetric(task.taskKind)
                return "\(task.name) \(key) \(String(format: "%.4f", mm[key] ?? .nan))"
            }.joined(separator: " ")
        }
        logger.info("\(line)")
        for (i, task) in t.tasks.enumerated() {
            var obj: [String: Any] = ["epoch": t.epoch, "step": t.step, "task": task.name, "split": "validation",
                                      "train_loss": losses[i], "learning_rate": Double(t.schedule.rate(at: t.step)),
                                      "seconds": seconds, "weight": t.epochWeights.indices.contains(i) ? t.epochWeights[i] : Double.nan,
                                      "weighting": t.config.weighting.method]
            for (k, v) in validation?[task.name] ?? [:] { obj[k] = v }
            if validation == nil { obj["split"] = "train" }
            metricLines.append(Self.json(obj))
        }
        try AtomicFile.write(metricsPath, text: metricLines.joined(separator: "\n") + "\n")

        // Best by the configured validation metric (or by training loss without a validation split).
        let metric = t.config.checkpoint.bestMetric
        let key = String(metric.split(separator: ".").last ?? "")
        let current: Double? = validation.flatMap { Evaluator.value(of: metric, in: $0) }
            ?? (validation == nil ? losses.reduce(0, +) : nil)
        let higher = validation != nil && Metrics.higherIsBetter(key)
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

    func metadata() -> [String: String] {
        let t = trainer
        var m: [String: String] = [
            "step": String(t.step), "epoch": String(t.epoch), "epochs": String(t.config.training.epochs),
            "seed": String(t.config.training.seed),
            "rng": "counter-based: permutation(seed, epoch), dropout(seed, step, sample)",
            "config": t.config.sourceText,
            "overrides": Self.json(t.config.overrides),
            "config_path": (t.config.sourcePath as NSString).standardizingPath.hasPrefix("/") ? t.config.sourcePath
                : FileManager.default.currentDirectoryPath + "/" + t.config.sourcePath,
            "preprocessor": t.data.preprocessor.json(), "optimizer": t.optimizer.name,
            "architecture": t.config.model.architecture, "world_size": String(comm.size), "weighting": t.config.weighting.method,
            "best_metric": t.config.checkpoint.bestMetric,
        ]
        if let b = t.best { m["best_value"] = "\(b.value)"; m["best_epoch"] = String(b.epoch) }
        return m
    }

    func saveCheckpoints(improved: Bool) throws {
        let t = trainer
        let path = (checkpointDir as NSString).appendingPathComponent(String(format: "epoch-%04d.safetensors", t.epoch))
        let meta = metadata()
        let extra = t.weighting.state
        try Checkpoint.write(path: path, store: t.model.store, parameters: UnsafeBufferPointer(t.model.store.values.buffer),
                             optimizer: t.optimizer, state: UnsafeBufferPointer(t.optimizerState.buffer), metadata: meta, extra: extra)
        if improved {
            try Checkpoint.write(path: (checkpointDir as NSString).appendingPathComponent("best.safetensors"),
                                 store: t.model.store, parameters: UnsafeBufferPointer(t.model.store.values.buffer),
                                 optimizer: t.optimizer, state: UnsafeBufferPointer(t.optimizerState.buffer), metadata: meta, extra: extra)
        }
        // Keep the newest `keep_last` epoch checkpoints; the new one is complete before any is removed.
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: checkpointDir)) ?? [])
            .filter { $0.hasPrefix("epoch-") && $0.hasSuffix(".safetensors") }.sorted()
        for old in names.dropLast(t.config.checkpoint.keepLast) {
            try? FileManager.default.removeItem(atPath: (checkpointDir as NSString).appendingPathComponent(old))
        }
    }

    func finish(wallSeconds: Double, trainedSamples: Int) throws -> [String: Any] {
        let t = trainer
        var summary: [String: Any] = [
            "config": t.config.sourcePath, "architecture": t.config.model.architecture, "world_size": comm.size,
            "weighting": t.config.weighting.method,
            "epochs": t.epoch, "steps": t.step, "parameters": t.parameterCount, "wall_seconds": wallSeconds,
            "samples_per_second": wallSeconds > 0 ? Double(trainedSamples) / wallSeconds : 0,
            "best_metric": t.config.checkpoint.bestMetric,
        ]
        if budgetReached { summary["stopped_by_time_budget"] = true }
        if let b = t.best { summary["best_value"] = b.value; summary["best_epoch"] = b.epoch }
        // Per task: the validation metrics of every epoch (learning curves) and those of the best epoch.
        var history: [String: [String: [Double]]] = [:], bestValidation: [String: [String: Double]] = [:]
        for line in metricLines {
            guard let obj = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let task = obj["task"] as? String, obj["split"] as? String != "test", let epoch = obj["epoch"] as? Int else { continue }
            var h = history[task] ?? [:]
            for (k, v) in obj where k == "epoch" || k == "train_loss" || RunConfig.metricNames.contains(k) || k == "micro_f1" {
                h[k, default: []].append((v as? Double) ?? (v as? Int).map(Double.init) ?? .nan)
            }
            history[task] = h
            if epoch == t.best?.epoch, obj["split"] as? String == "validation" {
                var m: [String: Double] = [:]
                for (k, v) in obj where RunConfig.metricNames.contains(k) || k == "micro_f1" { m[k] = v as? Double }
                bestValidation[task] = m
            }
        }
        summary["history"] = history
        if !bestValidation.isEmpty { summary["validation"] = bestValidation }
        if let test = t.data.test {
            // Test with the parameters of the best validation epoch, as the checkpoint `best.safetensors`.
            let current = t.model.store.values.array
            let useBest = t.data.validation != nil && t.bestParameters != nil
            if useBest { t.bestParameters!.withUnsafeBufferPointer { t.model.store.values.pointer.update(from: $0.baseAddress!, count: $0.count) } }
            // Multi-label thresholds set to tune are tuned on the validation split, then applied to test.
            var thresholds: [String: [Double]] = [:]
            if let v = t.data.validation, t.tasks.contains(where: { $0.taskKind == .multilabel && $0.threshold == nil }) {
                thresholds = Evaluator.tunedThresholds(Evaluator.predict(model: t.model, split: v, tasks: t.tasks), split: v)
            }
            let m = Evaluator.metrics(Evaluator.predict(model: t.model, split: test, tasks: t.tasks), split: test, thresholds: thresholds)
            if useBest { current.withUnsafeBufferPointer { t.model.store.values.pointer.update(from: $0.baseAddress!, count: $0.count) } }
            summary["test"] = m
            summary["test_parameters"] = useBest ? "best validation epoch \(t.best!.epoch)" : "last epoch"
            for task in t.tasks {
                var obj: [String: Any] = ["epoch": t.epoch, "step": t.step, "task": task.name, "split": "test"]
                for (k, v) in m[task.name] ?? [:] { obj[k] = v }
                metricLines.append(Self.json(obj))
            }
            try AtomicFile.write(metricsPath, text: metricLines.joined(separator: "\n") + "\n")
        }
        try AtomicFile.write(summaryPath, text: Self.json(summary, pretty: true) + "\n")
        return summary
    }

    /// The metric an epoch's log line shows for a task kind.
    static func headlineMetric(_ kind: TaskKind) -> String {
        switch kind {
        case .regression: return "rmse"
        case .binary: return "roc_auc"
        case .multiclass: return "accuracy"
        case .multilabel: return "f1"
        }
    }

    /// JSON text with NaN written as null.
    public static func json(_ object: Any, pretty: Bool = false) -> String {
        func clean(_ v: Any) -> Any {
            if let d = v as? Double { return d.isFinite ? d : NSNull() }
            if let m = v as? [String: Any] { return m.mapValues(clean) }
            if let m = v as? [String: [String: Double]] { return m.mapValues { $0.mapValues(clean) } }
            if let m = v as? [String: [String: [Double]]] { return m.mapValues { $0.mapValues { $0.map(clean) } } }
            if let a = v as? [Double] { return a.map(clean) }
            if let a = v as? [Any] { return a.map(clean) }
            return v
        }
        var opts: JSONSerialization.WritingOptions = [.sortedKeys]
        if pretty { opts.insert(.prettyPrinted) }
        let data = (try? JSONSerialization.data(withJSONObject: clean(object), options: opts)) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }

    /// A plain table of test metrics per task for the terminal.
    public static func table(_ metrics: [String: [String: Double]], tasks: [Preprocessor.TaskEncoding]) -> String {
        var lines: [String] = []
        for task in tasks {
            guard let m = metrics[task.name] else { continue }
            let keys: [String]
            switch task.taskKind {
            case .regression: keys = ["rmse", "mae", "r2", "loss"]
            case .multilabel: keys = ["f1", "micro_f1", "roc_auc", "accuracy", "threshold"]
            default: keys = ["roc_auc", "pr_auc", "accuracy", "f1", "log_loss"]
            }
            lines.append(task.name.padding(toLength: max(16, task.name.count + 1), withPad: " ", startingAt: 0)
                         + keys.map { "\($0) \(String(format: "%.4f", m[$0] ?? .nan))" }.joined(separator: "  "))
        }
        return lines.joined(separator: "\n")
    }
}
