import Foundation
import Logging
import MTLDistributed

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
        var folder: String { id.replacingOccurrences(of: "+", with: "_") }
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

    /// The jobs in order: each candidate's seeds (so that groups running side by side train the
    /// same candidate and finish their round together), then the short relationship run.
    public var jobs: [Job] {
        let c = config.compare
        var list: [Job] = []
        for cand in c.plan {
            for k in 0..<c.seeds { list.append(Job(id: "\(cand.name)/seed-\(k)", candidate: cand, seed: Int(config.training.seed) + k)) }
        }
        return list + [relationshipJob]
    }

    public var relationshipJob: Job { Job(id: "relationships", candidate: nil, seed: Int(config.training.seed)) }

    func path(_ parts: String...) -> String { parts.reduce(output) { ($0 as NSString).appendingPathComponent($1) } }
    func resultPath(_ job: Job) -> String { path("results", job.folder.replacingOccurrences(of: "/", with: "__") + ".json") }
    func runFolder(_ job: Job) -> String { path("runs", job.folder) }

    /// The config a job trains with.
    func jobConfig(_ job: Job) throws -> RunConfig {
        var c = config
        var o: [String: String] = ["training.seed": String(job.seed)]
        if let cand = job.candidate {
            o["model.architecture"] = cand.architecture
            o["weighting.method"] = cand.weighting
            if let e = config.compare.epochs { o["training.epochs"] = String(e) }
        } else {
            o["model.architecture"] = "hard-sharing"
            o["weighting.method"] = "fixed"
            o["training.epochs"] = String(config.compare.probeEpochs)
        }
        try c.apply(overrides: o)
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

    /// Runs the jobs not yet finished; on world rank 0 returns every job's result.
    @discardableResult
    public func run() throws -> [String: [String: Any]]? {
        let all = jobs
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
            let done = all.count - remaining.count
            logger.info("compare: \(config.compare.plan.count) candidates x \(config.compare.seeds) seed(s) + the relationship run = \(all.count) jobs (\(done) already finished); \(groups) group(s) of \(g) rank(s)")
        }
        let comm = try world.split(color: group, key: world.rank)
        let rounds = (remaining.count + groups - 1) / groups
        for r in 0..<rounds {
            var mine: [UInt8] = []
            let slot = r * groups + group
            if slot < remaining.count {
                let i = remaining[slot]
                let result = try runJob(all[i], resume: status[i] == 1, comm: comm)
                if comm.isRoot { mine = Array(TrainingRun.json(result).utf8) }
            }
            for bytes in try world.allgather(bytes: mine) where !bytes.isEmpty && world.isRoot {
                guard let obj = try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any],
                      let id = obj["id"] as? String, let job = all.first(where: { $0.id == id }) else { continue }
                try AtomicFile.write(resultPath(job), text: String(decoding: bytes, as: UTF8.self) + "\n")
                logger.info("\(Self.describe(obj))")
            }
        }
        (comm as AnyObject as? FinalizableCommunicator)?.finalize()
        guard world.isRoot else { return nil }
        var results: [String: [String: Any]] = [:]
        for job in all {
            guard let data = FileManager.default.contents(atPath: resultPath(job)),
                  let obj = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
                throw UserError("\(resultPath(job)) is missing or unreadable", hint: "run compare again to redo that job")
            }
            results[job.id] = obj
        }
        return results
    }

    /// Trains one job on this group's communicator; the result on the group's root.
    public func runJob(_ job: Job, resume: Bool, comm: Communicator) throws -> [String: Any] {
        let cfg = try jobConfig(job)
        let run = try TrainingRun(config: cfg, comm: comm,
                                  options: .init(output: runFolder(job), resume: resume,
                                                 maxSeconds: job.candidate == nil ? nil : config.compare.seconds), logger: jobLogger)
        var probe: RelationshipProbe?
        if job.candidate == nil {
            let p = RelationshipProbe(taskNames: run.trainer.tasks.map(\.name), every: config.compare.probeEvery)
            run.trainer.attach(probe: p)
            probe = p
        }
        let summary = try run.run() ?? [:]
        var result: [String: Any] = ["id": job.id, "seed": job.seed, "summary": summary, "group_size": comm.size]
        if let c = job.candidate {
            result["candidate"] = c.name; result["architecture"] = c.architecture; result["weighting"] = c.weighting
        }
        if let p = probe {
            result["relationships"] = p.json
            result["data"] = TaskData.summary(run.trainer.data)
        }
        return result
    }

    static func describe(_ obj: [String: Any]) -> String {
        let id = obj["id"] as? String ?? "?"
        let s = obj["summary"] as? [String: Any] ?? [:]
        let seconds = String(format: "%.1f s", s["wall_seconds"] as? Double ?? 0)
        if let r = obj["relationships"] as? [String: Any] {
            let share = r["overall_conflict_share"] as? Double ?? .nan
            return "finished \(id): \(r["measured_steps"] ?? 0) measured steps, gradients in conflict on \(String(format: "%.0f", share * 100)) % of them (\(seconds))"
        }
        let test = s["test"] as? [String: [String: Double]] ?? [:]
        let parts = test.keys.sorted().map { task in
            let m = test[task]!
            let key = ["roc_auc", "accuracy", "f1", "rmse"].first { m[$0] != nil } ?? "loss"
            return "\(task) \(key) \(String(format: "%.4f", m[key] ?? .nan))"
        }
        return "finished \(id): test \(parts.joined(separator: ", ")) (\(seconds))"
    }
}

/// `mtl-worker advise`: the relationship run alone (a short hard-sharing pilot that measures
/// gradient cosines, conflicts and affinities) plus the data's characteristics, turned into a
/// shortlist of candidates for users who cannot afford a full comparison. The rules are stated
/// with each suggestion; they are heuristics from the measurements, to be confirmed by `compare`.
public enum Advice {
    public struct Suggestion { public var candidate: CompareConfig.Candidate; public var reason: String }

    public static func shortlist(relationships r: [String: Any], data d: [String: Any], kinds: [TaskKind]) -> [Suggestion] {
        let names = r["tasks"] as? [String] ?? []
        let t = names.count
        let cos = r["gradient_cosine"] as? [Double] ?? []
        let aff = r["affinity"] as? [Double] ?? []
        let conflict = r["overall_conflict_share"] as? Double ?? .nan
        var pairCos: [Double] = [], negativeAffinity = 0, affinityPairs = 0
        for i in 0..<t {
            for j in 0..<t where j != i {
                if j > i, cos.count == t * t { pairCos.append(cos[i * t + j]) }
                if aff.count == t * t, aff[i * t + j].isFinite { affinityPairs += 1; if aff[i * t + j] < 0 { negativeAffinity += 1 } }
            }
        }
        let minCos = pairCos.min() ?? .nan
        let counts = (d["tasks"] as? [[String: Any]] ?? []).compactMap { $0["train_labelled"] as? Int }
        let sizeRatio = counts.isEmpty ? 1 : Double(counts.max()!) / Double(max(counts.min()!, 1))
        let mixedKinds = Set(kinds.map { $0 == .regression }).count > 1
        func f(_ x: Double) -> String { x.isFinite ? String(format: "%.2f", x) : "n/a" }
        var out: [Suggestion] = []
        let conflictText = "gradients conflict on \(f(conflict * 100)) % of (step, pair); lowest pair cosine \(f(minCos))"
        if conflict >= 0.3 || negativeAffinity > 0 {
            out.append(Suggestion(candidate: .init(architecture: "cgc", weighting: "equal"),
                                  reason: "the tasks pull apart (\(conflictText); \(negativeAffinity) of \(affinityPairs) affinities negative): task-specific experts keep each task's own features"))
            out.append(Suggestion(candidate: .init(architecture: "mmoe", weighting: "pcgrad"),
                                  reason: "per-task gates over shared experts, with conflicting gradient components projected away"))
            out.append(Suggestion(candidate: .init(architecture: "hard-sharing", weighting: "cagrad"),
                                  reason: "the cheapest shared model, with the update that protects the worst-off task"))
        } else {
            out.append(Suggestion(candidate: .init(architecture: "hard-sharing", weighting: mixedKinds ? "uncertainty" : "equal"),
                                  reason: "the tasks agree (\(conflictText)): one shared trunk is the cheapest way to share" + (mixedKinds ? "; regression and classification losses differ in scale, so uncertainty weighting sets their balance" : "")))
            out.append(Suggestion(candidate: .init(architecture: "mmoe", weighting: "equal"),
                                  reason: "per-task gates cost little and leave room should the tasks diverge later in training"))
        }
        if sizeRatio > 5 {
            out.append(Suggestion(candidate: .init(architecture: "hard-sharing", weighting: "uncertainty"),
                                  reason: "labelled rows differ \(f(sizeRatio))-fold between tasks: the smaller task is the likeliest to gain from sharing, and its loss needs a learned weight"))
        }
        var seen = Set<String>()
        return out.filter { seen.insert($0.candidate.name).inserted }
    }
}
