import Foundation
import Logging
import MTLCore
import MTLData
import MTLDistributed
import MTLModels
import MTLTraining
import MTLWeighting

/// `mtl-worker compare`: trains every candidate (architecture x weighting method) and the
/// single-task baseline with K seeds under the same budget and data, measures the tasks'
/// relationships in one more run, and turns the results into a ranking and a recommendation.
///
/// On N ranks the world is split (MPI_Comm_split) into groups of equal size; in each round every
/// group trains one job, data-parallel inside the group, so candidates train at the same time.
/// Results travel to world rank 0 after each round (an allgather of the finished jobs' JSON),
/// which writes results/<job>.json atomically: an interrupted comparison started again skips the
/// finished jobs and resumes a job cut short from its newest checkpoint. The output folder must be
/// one every rank sees (a shared file system on a cluster), as for `train --resume`.
public final class Comparison {
    public struct Job: Equatable {
        public let id: String
        public let candidate: CompareConfig.Candidate?   // nil: the relationship run
        public let seed: Int
        /// The cross-validation fold (compare.folds), nil for the validation split.
        public var fold: Int? = nil
        /// Epochs it trains (nil: compare.epochs, else training.epochs).
        public var epochs: Int? = nil
        var folder: String { String(id.map { $0.isLetter || $0.isNumber || "-.".contains($0) ? $0 : "_" }) }
    }

    public let config: RunConfig
    public let world: Communicator
    public let output: String
    let logger: Logger
    let jobLogger: Logger

    public init(config: RunConfig, world: Communicator, output: String, logger: Logger) {
        self.config = config
        self.world = world
        self.output = output
        self.logger = logger
        var quiet = logger
        if quiet.logLevel < .warning { quiet.logLevel = .warning }
        jobLogger = quiet
    }

    /// The jobs in order: each candidate's replicates (seeds x folds, so that groups running
    /// side by side train the same candidate and finish their round together), then the short
    /// relationship run.
    public var jobs: [Job] { jobs(for: config.compare.plan) + [relationshipJob] }

    /// Every replicate of each candidate, trained for `epochs` (nil: compare.epochs).
    func jobs(for plan: [CompareConfig.Candidate], epochs: Int? = nil) -> [Job] {
        let c = config.compare
        var list: [Job] = []
        for cand in plan {
            for k in 0..<c.seeds {
                if c.folds > 1 {
                    for f in 0..<c.folds {
                        list.append(Job(id: "\(cand.folder)/seed-\(k)/fold-\(f)", candidate: cand, seed: Int(config.training.seed) + k, fold: f, epochs: epochs))
                    }
                } else {
                    list.append(Job(id: "\(cand.folder)/seed-\(k)", candidate: cand, seed: Int(config.training.seed) + k, epochs: epochs))
                }
            }
        }
        return list
    }

    public var relationshipJob: Job { Job(id: "relationships", candidate: nil, seed: Int(config.training.seed)) }

    func path(_ parts: String...) -> String { parts.reduce(output) { ($0 as NSString).appendingPathComponent($1) } }
    func resultPath(_ job: Job) -> String { path("results", job.folder + ".json") }
    func runFolder(_ job: Job) -> String { path("runs", job.folder) }

    /// The config a job trains with.
    func jobConfig(_ job: Job) throws -> RunConfig {
        var c = config
        var o: [RunConfig.Override] = [.seed(UInt64(job.seed))]
        if let cand = job.candidate {
            o += [.architecture(cand.architecture), .weighting(cand.weighting)]
            if let e = job.epochs ?? config.compare.epochs { o.append(.epochs(e)) }
            let s = cand.settings
            if let v = s.learningRate { o.append(.learningRate(v)) }
            if let v = s.weightDecay { o.append(.weightDecay(v)) }
            if let v = s.dropout { o.append(.dropout(v)) }
            if let v = s.width { o.append(.width(v * c.model.width)) }
        } else {
            o += [.architecture(.hardSharing), .weighting(.fixed), .epochs(config.compare.probeEpochs)]
        }
        try c.apply(o)
        if let f = job.fold { c.data.fold = Fold(index: f, count: config.compare.folds) }
        return c
    }

    /// Ranks per group: the configured size, or the largest that lets every group have a job.
    static func groupSize(world: Int, jobs: Int, configured: Int) throws -> Int {
        if configured > 0 {
            guard world % configured == 0 else {
                throw UserError("compare.group_size \(configured) does not divide the \(world) ranks",
                                hint: "choose a divisor of the number of ranks, or 0 to choose automatically")
            }
            return configured
        }
        let groups = (1...world).filter { world % $0 == 0 && $0 <= max(jobs, 1) }.max() ?? 1
        return world / groups
    }

    /// What a comparison trained: the candidates compared at the end, their jobs and results
    /// (world rank 0 only), and the search that chose them, if any.
    public struct Outcome {
        public var plan: [CompareConfig.Candidate]
        public var jobs: [Job]
        public var results: [String: JobResult]
        public var search: SearchLog?
    }

    /// Runs what is not yet finished (the search's rungs, then the compared candidates'
    /// replicates and the relationship run); the outcome on world rank 0, nil elsewhere.
    @discardableResult
    public func run() throws -> Outcome? {
        if config.compare.search != nil { return try SuccessiveHalving(comparison: self).run() }
        let all = jobs
        if world.isRoot {
            logger.info("compare: \(config.compare.plan.count) candidates x \(config.compare.replicates) replicate(s) + the relationship run = \(all.count) jobs")
        }
        guard let results = try run(all) else { return nil }
        return Outcome(plan: config.compare.plan, jobs: all, results: results, search: nil)
    }

    /// Runs the jobs of `all` not yet finished, each for at most `maxSeconds` of training (nil:
    /// compare.seconds); on world rank 0 returns every job's result.
    func run(_ all: [Job], maxSeconds: Double? = nil) throws -> [String: JobResult]? {
        // World rank 0 decides what is finished (0 new, 1 cut short: resume, 2 finished) for everyone.
        var status = [UInt8](repeating: 0, count: all.count)
        if world.isRoot {
            try AtomicFile.makeDirectories(path("results"))
            for (i, job) in all.enumerated() {
                if FileManager.default.fileExists(atPath: resultPath(job)) { status[i] = 2; continue }
                let ckpt = (runFolder(job) as NSString).appendingPathComponent("checkpoints")
                let files = (try? FileManager.default.contentsOfDirectory(atPath: ckpt)) ?? []
                if files.contains(where: { $0.hasPrefix("epoch-") && $0.hasSuffix(".safetensors") }) { status[i] = 1 }
            }
        }
        status = try world.broadcast(bytes: status, root: 0)
        let remaining = all.indices.filter { status[$0] != 2 }
        let g = try Self.groupSize(world: world.size, jobs: remaining.count, configured: config.compare.groupSize)
        let groups = world.size / g
        let group = world.rank / g
        if world.isRoot {
            logger.info(remaining.isEmpty ? "all \(all.count) job(s) already finished"
                        : "\(remaining.count) job(s) to train (\(all.count - remaining.count) already finished) in \(groups) group(s) of \(g) rank(s)")
        }
        let comm = try world.split(color: group, key: world.rank)
        let rounds = (remaining.count + groups - 1) / groups
        for r in 0..<rounds {
            var mine: [UInt8] = []
            let slot = r * groups + group
            if slot < remaining.count {
                let i = remaining[slot]
                let result = try runJob(all[i], resume: status[i] == 1, comm: comm, maxSeconds: maxSeconds)
                if comm.isRoot { mine = Array(try JSON.text(result).utf8) }
            }
            for bytes in try world.allgather(bytes: mine) where !bytes.isEmpty && world.isRoot {
                let result = try JSON.decode(JobResult.self, from: Data(bytes), file: "a job result from another group")
                guard let job = all.first(where: { $0.id == result.id }) else { continue }
                try AtomicFile.write(resultPath(job), text: String(decoding: bytes, as: UTF8.self) + "\n")
                logger.info("\(Self.describe(result))")
            }
        }
        (comm as AnyObject as? FinalizableCommunicator)?.finalize()
        guard world.isRoot else { return nil }
        var results: [String: JobResult] = [:]
        for job in all {
            guard let data = FileManager.default.contents(atPath: resultPath(job)) else {
                throw UserError("\(resultPath(job)) is missing or unreadable", hint: "run compare again to redo that job")
            }
            results[job.id] = try JSON.decode(JobResult.self, from: data, file: resultPath(job))
        }
        return results
    }

    /// The probe's interval: `every`, lowered (to 1 at most) until `steps` steps hold `atLeast`
    /// measurements.
    public static func probeInterval(steps: Int, every: Int, atLeast: Int) -> Int {
        guard steps / max(every, 1) < atLeast else { return every }
        return max(1, steps / max(atLeast, 1))
    }

    /// Groups the jobs of one batch would run in (for the search's time estimates).
    func groups(jobs: Int) -> Int {
        let g = (try? Self.groupSize(world: world.size, jobs: jobs, configured: config.compare.groupSize)) ?? 1
        return world.size / g
    }

    /// Trains one job on this group's communicator; the result on the group's root.
    public func runJob(_ job: Job, resume: Bool, comm: Communicator, maxSeconds: Double? = nil) throws -> JobResult {
        let cfg = try jobConfig(job)
        let run = try TrainingRun(config: cfg, comm: comm,
                                  options: .init(output: runFolder(job), resume: resume,
                                                 maxSeconds: job.candidate == nil ? nil : maxSeconds ?? config.compare.seconds), logger: jobLogger)
        var probe: RelationshipProbe?
        if job.candidate == nil {
            // At least compare.probe_steps measurements: a shorter interval where the run is short.
            let total = run.trainer.stepsPerEpoch * cfg.training.epochs
            let every = Self.probeInterval(steps: total, every: config.compare.probeEvery, atLeast: config.compare.probeSteps)
            if every < config.compare.probeEvery && comm.isRoot {
                logger.info("relationships: measuring every \(every) step(s) instead of every \(config.compare.probeEvery) (compare.probe_every) for at least \(config.compare.probeSteps) measurements (compare.probe_steps) in \(total) steps")
            }
            let p = RelationshipProbe(taskNames: run.trainer.tasks.map(\.name), every: every)
            run.trainer.attach(hook: p)
            probe = p
        }
        let summary = try run.run()
        if run.stoppedEarly {
            throw UserError("compare stopped by a signal while training \(job.id)", hint: "run compare again on the same output to continue")
        }
        var result = JobResult(id: job.id, seed: job.seed, summary: summary, groupSize: comm.size)
        result.fold = job.fold
        if let c = job.candidate {
            result.candidate = c.name; result.architecture = c.architecture; result.weighting = c.weighting
        }
        if let p = probe {
            result.relationships = p.result
            result.data = TaskData.summary(run.trainer.data)
        }
        return result
    }

    static func describe(_ r: JobResult) -> String {
        let seconds = String(format: "%.1f s", r.summary?.wallSeconds ?? 0)
        if let rel = r.relationships {
            return "finished \(r.id): \(rel.measuredSteps) measured steps, gradients in conflict on \(String(format: "%.0f", rel.overallConflictShare * 100)) % of them (\(seconds))"
        }
        if r.id.hasPrefix("search/"), let s = r.summary {
            // A search job is shown by what chooses: its validation score.
            return "finished \(r.id): validation \(s.bestMetric) \(s.bestValue.map { String(format: "%.4f", $0) } ?? "n/a") at epoch \(s.bestEpoch ?? 0) of \(s.epochs) (\(seconds))"
        }
        let test = r.summary?.test ?? [:]
        let parts = test.keys.sorted().map { task -> String in
            let m = test[task] ?? MetricValues()
            let key = [Metric.rocAUC, .accuracy, .f1, .rmse].first { m[$0] != nil } ?? .loss
            return "\(task) \(key.rawValue) \(String(format: "%.4f", m[key] ?? .nan))"
        }
        return "finished \(r.id): test \(parts.joined(separator: ", ")) (\(seconds))"
    }
}

/// One comparison job's result (`results/<job>.json`): the run's summary, and for the
/// relationship run the measured relationships and the data's characteristics.
public struct JobResult: Codable, Sendable {
    public var id: String
    public var seed: Int
    /// nil on ranks other than the group's root.
    public var summary: RunSummary?
    public var groupSize: Int
    public var candidate: String? = nil
    public var architecture: Architecture? = nil
    public var weighting: WeightingMethod? = nil
    public var relationships: Relationships? = nil
    public var data: DataSummary? = nil
    public var fold: Int? = nil

    /// The replicate it belongs to: candidates are paired on equal (seed, fold).
    public var replicate: String { "\(seed)/\(fold ?? -1)" }

    public init(id: String, seed: Int, summary: RunSummary?, groupSize: Int) {
        self.id = id; self.seed = seed; self.summary = summary; self.groupSize = groupSize
    }

    enum CodingKeys: String, CodingKey {
        case id, seed, summary, candidate, architecture, weighting, relationships, data, fold
        case groupSize = "group_size"
    }
}

