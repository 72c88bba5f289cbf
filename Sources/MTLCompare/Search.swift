import Foundation
import MTLCore
import MTLModels
import MTLTraining
import MTLWeighting

/// What the search did, rung by rung (results.json `search`, the report and the terminal).
public struct SearchLog: Codable, Sendable {
    public struct Entry: Codable, Sendable {
        public var bracket: String
        public var candidate: String
        /// The validation value of checkpoint.best_metric at its best epoch (null: none).
        public var score: Double?
        public var epochs: Int
        public var promoted: Bool
    }
    public struct Rung: Codable, Sendable {
        public var epochs: Int
        public var entries: [Entry]
    }
    public var metric: String
    public var rungs: [Rung] = []
    /// The rungs the schedule had; fewer ran when the time budget ran short.
    public var plannedRungs: Int
    public var stoppedByBudget = false
    /// Each bracket's finalists, best first.
    public var finalists: [String] = []
    enum CodingKeys: String, CodingKey {
        case metric, rungs, finalists
        case plannedRungs = "planned_rungs", stoppedByBudget = "stopped_by_budget"
    }
}

/// `compare` with `compare.search`: successive halving (Jamieson and Talwalkar, AISTATS 2016;
/// the inner loop of Hyperband, Li et al., JMLR 2018) over architectures x weighting methods x
/// learning rate, weight decay, dropout and width.
///
/// Three brackets run side by side, so that the baselines are tuned as the candidates are:
/// multi-task configurations, single-task ones and linear ones (single-task without hidden
/// layers: logistic regression for classification tasks). Every rung trains each surviving
/// configuration from scratch for the rung's epochs (early stopping included) on one replicate
/// (the first seed; fold 0 under compare.folds) and keeps the best 1/eta of each bracket by the
/// validation value of checkpoint.best_metric; the rungs' epochs grow by eta up to the last,
/// compare.epochs (else training.epochs). The brackets' best (and the multi-task runner-up)
/// then train every replicate (seeds x folds) at the full epochs, and `CompareAnalysis` ranks
/// them by validation only; the test split is read only for these final runs' report.
///
/// Rungs run one after another (a rung's survivors depend on the rung before); inside one, the
/// jobs run in the comparison's MPI groups. World rank 0 decides the survivors and broadcasts
/// them, so every rank trains the same jobs. Every job's result is a file, so an interrupted
/// search started again skips what is done. Without `search.seconds` the search is a function
/// of the config and the validation data alone.
public struct SuccessiveHalving {
    public enum Bracket: String, CaseIterable, Sendable { case multiTask = "multi-task", singleTask = "single-task", linear }

    let comparison: Comparison
    var config: RunConfig { comparison.config }
    var search: CompareConfig.Search { config.compare.search ?? CompareConfig.Search() }

    /// Each bracket's configurations: the config's own, then ones sampled without replacement
    /// from its grid by a permutation seeded from training.seed (multi-task: `configurations`
    /// in all; single-task: a third as many; linear: a sixth; at least 2 each, at most the grid
    /// and the config's own).
    public static func sample(_ config: RunConfig) -> [(Bracket, [CompareConfig.Candidate])] {
        let s = config.compare.search ?? CompareConfig.Search()
        let widths = s.width.filter { $0 > 0 }.isEmpty ? [1] : s.width.filter { $0 > 0 }
        let pairs: [(Architecture, WeightingMethod)] = (config.compare.candidates?.map { ($0.architecture, $0.weighting) }
            ?? config.compare.architectures.flatMap { a in config.compare.weighting.map { (a, $0) } }).filter { $0.0 != .singleTask }
        func grid(_ pairs: [(Architecture, WeightingMethod)], widths: [Double], dropouts: [Double]) -> [CompareConfig.Candidate] {
            var out: [CompareConfig.Candidate] = []
            for (a, w) in pairs { for lr in s.learningRate { for wd in s.weightDecay { for d in dropouts { for wi in widths {
                out.append(CompareConfig.Candidate(architecture: a, weighting: w,
                                                   settings: .init(learningRate: lr, weightDecay: wd, dropout: d, width: wi)))
            } } } } }
            return out
        }
        let spaces: [(Bracket, [CompareConfig.Candidate], Int)] = [
            (.multiTask, grid(pairs, widths: widths, dropouts: s.dropout), s.configurations),
            (.singleTask, grid([(.singleTask, .fixed)], widths: widths, dropouts: s.dropout), max(2, s.configurations / 3)),
            (.linear, grid([(.singleTask, .fixed)], widths: [0], dropouts: [0]), max(2, s.configurations / 6)),
        ]
        // Each bracket starts from the config as written (its architecture and weighting method,
        // or single-task, or single-task without hidden layers, with the config's own settings),
        // so the search never loses the configuration its user wrote; the rest is sampled.
        let own = config.model.architecture == .singleTask ? (pairs.first?.0 ?? .hardSharing) : config.model.architecture
        let incumbents = [CompareConfig.Candidate(architecture: own, weighting: config.weighting.method),
                          CompareConfig.Candidate.baseline,
                          CompareConfig.Candidate(architecture: .singleTask, weighting: .fixed, settings: .init(width: 0))]
        return spaces.enumerated().map { k, space in
            let order = seededPermutation(space.1.count, seed: SplitMix64.mix(config.training.seed ^ 0x5EA2C4 ^ UInt64(k)))
            let sampled = order.prefix(max(0, min(space.2, space.1.count + 1) - 1)).map { space.1[$0] }
            return (space.0, [incumbents[k]] + sampled)
        }
    }

    /// The rungs' epochs, from the top: the last, last/eta, last/eta², ... while at least
    /// `min` (integer division), in increasing order; one rung when last/eta < min.
    public static func rungEpochs(min: Int, last: Int, eta: Int) -> [Int] {
        var out = [last], r = last
        while r / eta >= Swift.max(min, 1) && r / eta < out[0] { r /= eta; out.insert(r, at: 0) }
        return out
    }

    /// How many finalists a bracket sends to the final runs: the multi-task bracket's best two
    /// (the winner and the runner-up), the baselines' best one.
    static func finalists(_ bracket: Int) -> Int { bracket == 0 ? 2 : 1 }

    /// How many of `n` configurations the next rung keeps.
    public static func keep(_ n: Int, eta: Int) -> Int { Swift.max(1, n / eta) }

    /// Ranks the configurations of a rung by score, best first (undefined scores last, ties in
    /// sampling order).
    public static func order(_ scores: [Double?], higherIsBetter: Bool) -> [Int] {
        scores.indices.sorted { a, b in
            let x = scores[a].flatMap { $0.isFinite ? $0 : nil }, y = scores[b].flatMap { $0.isFinite ? $0 : nil }
            switch (x, y) {
            case let (x?, y?): return x != y ? (higherIsBetter ? x > y : x < y) : a < b
            case (.some, nil): return true
            case (nil, .some): return false
            default: return a < b
            }
        }
    }

    /// Rank 0's decision (nil on the other ranks) on every rank, as JSON.
    func decide<T: Codable>(_ value: T?, what: String) throws -> T {
        let bytes = try value.map { Array(try JSON.text($0).utf8) } ?? []
        return try JSON.decode(T.self, from: Data(try comparison.world.broadcast(bytes: bytes, root: 0)), file: what)
    }

    func run() throws -> Comparison.Outcome? {
        let world = comparison.world, logger = comparison.logger
        let start = Date()
        let brackets = Self.sample(config)
        let last = config.compare.epochs ?? config.training.epochs
        let epochs = Self.rungEpochs(min: search.minEpochs, last: last, eta: search.eta)
        let selector = config.checkpoint.bestMetric
        let higher = selector.metric.higherIsBetter
        var log = SearchLog(metric: "validation \(selector.description)", plannedRungs: epochs.count)
        // alive[b]: indices into brackets[b]'s configurations, best first after each rung.
        var alive: [[Int]] = brackets.map { Array($0.1.indices) }
        // Each rung's full order per bracket (best first), for the multi-task runner-up.
        var ranks: [[[Int]]] = []
        // The rungs run and the last one's configurations, alike on every rank.
        var ranRungs = 0, participants = Set<String>()
        // The budget's measurements, from the last rung run: a round's seconds of training per
        // epoch (the 75th percentile of its jobs' training seconds, as the slower group of a
        // round sets its pace) and a round's seconds outside training (data loading,
        // evaluation, writing): the rest of the rung's wall time.
        var secondsPerEpoch: Double? = nil, overhead = 0.0
        let fold: Int? = config.compare.folds > 1 ? 0 : nil
        if world.isRoot {
            logger.info("compare.search: \(brackets.map { "\($0.1.count) \($0.0.rawValue)" }.joined(separator: ", ")) configuration(s); rungs of \(epochs.map(String.init).joined(separator: ", ")) epoch(s), keeping 1/\(search.eta) at each; then \(config.compare.replicates) replicate(s) of the finalists")
        }
        let finalCount = { (alive: [[Int]]) -> Int in alive.enumerated().map { min(Self.finalists($0.offset), $0.element.count) }.reduce(0, +) }
        for (k, e) in epochs.enumerated() {
            if k > 0 {
                // Budget: this rung and the final runs must fit in what is left (rank 0 decides).
                var stop = false
                if world.isRoot, let budget = search.seconds, let spe = secondsPerEpoch {
                    let jobs = alive.map(\.count).reduce(0, +)
                    let rung = Double((jobs + comparison.groups(jobs: jobs) - 1) / comparison.groups(jobs: jobs)) * (overhead + Double(e) * spe)
                    // After the last rung its finalists' first replicates are done already.
                    let reused = k + 1 == epochs.count && e == last ? finalCount(alive) : 0
                    let finals = finalCount(alive) * config.compare.replicates + 1 - reused
                    let final = Double((finals + comparison.groups(jobs: finals) - 1) / comparison.groups(jobs: finals)) * (overhead + Double(last) * spe)
                    let elapsed = Date().timeIntervalSince(start)
                    if elapsed + rung + final > budget {
                        stop = true
                        logger.info("compare.search: rung \(k + 1) (\(Int(rung)) s estimated) and the final runs (\(Int(final)) s) would not fit in the \(Int(budget)) s budget (\(Int(elapsed)) s spent): the search ends after rung \(k)")
                    }
                }
                if try decide(world.isRoot ? stop : nil, what: "the search's budget decision") { log.stoppedByBudget = true; break }
            }
            var jobs: [Comparison.Job] = [], owner: [(Int, Int)] = []
            for (b, bracket) in brackets.enumerated() {
                for i in alive[b] {
                    let cand = bracket.1[i]
                    jobs.append(Comparison.Job(id: "search/rung-\(k + 1)/\(cand.folder)", candidate: cand, seed: Int(config.training.seed), fold: fold, epochs: e))
                    owner.append((b, i))
                }
            }
            if world.isRoot { logger.info("compare.search: rung \(k + 1) of \(epochs.count): \(jobs.count) configuration(s) for \(e) epoch(s)") }
            ranRungs += 1
            participants = Set(jobs.compactMap { $0.candidate?.name })
            let rungStart = Date()
            let results = try comparison.run(jobs)
            let rungSeconds = Date().timeIntervalSince(rungStart)
            // Rank 0 orders each bracket by score and tells the others (as indices).
            var order: [[[Int]]]? = nil
            if let results {
                var rung = SearchLog.Rung(epochs: e, entries: [])
                var next: [[Int]] = [], full: [[Int]] = []
                for (b, bracket) in brackets.enumerated() {
                    let mine = owner.indices.filter { owner[$0].0 == b }
                    let scores = mine.map { results[jobs[$0].id]?.summary?.bestValue }
                    let ranked = Self.order(scores, higherIsBetter: higher).map { owner[mine[$0]].1 }
                    let kept = k + 1 < epochs.count ? Array(ranked.prefix(Self.keep(ranked.count, eta: search.eta))) : ranked
                    next.append(kept)
                    full.append(ranked)
                    // Marked: what goes on, to the next rung or (after the last) to the final runs.
                    let marked = k + 1 < epochs.count ? kept : Array(ranked.prefix(Self.finalists(b)))
                    for (j, job) in zip(mine, mine.map { jobs[$0] }) {
                        rung.entries.append(.init(bracket: bracket.0.rawValue, candidate: job.candidate?.name ?? "", score: results[job.id]?.summary?.bestValue,
                                                  epochs: results[job.id]?.summary?.epochs ?? 0, promoted: marked.contains(owner[j].1)))
                    }
                }
                log.rungs.append(rung)
                let groups = comparison.groups(jobs: jobs.count)
                let rounds = Double((jobs.count + groups - 1) / groups)
                let training = results.values.compactMap { $0.summary?.wallSeconds }.sorted()
                if rungSeconds > 1e-3 && !training.isEmpty {
                    let pace = training[min(training.count - 1, training.count * 3 / 4)]
                    secondsPerEpoch = pace / Double(e)
                    overhead = max(0, rungSeconds / rounds - pace)
                }
                order = [next, full]
            }
            let decided = try decide(order, what: "the search's survivors")
            guard decided.count == 2 else { throw UserError("the search's survivors arrived damaged from rank 0") }
            alive = decided[0]
            ranks.append(decided[1])
        }
        // The finalists: the multi-task bracket's best two (the second from an earlier rung when
        // the last kept one), the single-task and linear brackets' best.
        var plan: [CompareConfig.Candidate] = []
        for (b, bracket) in brackets.enumerated() {
            let wanted = Self.finalists(b)
            var chosen = Array(alive[b].prefix(wanted))
            for order in ranks.reversed() where chosen.count < wanted {
                chosen += order[b].filter { !chosen.contains($0) }.prefix(wanted - chosen.count)
            }
            plan += chosen.map { bracket.1[$0] }
        }
        // CompareAnalysis takes the first separate candidate that is not linear as the baseline.
        func place(_ c: CompareConfig.Candidate) -> Int { c.isLinear ? 2 : c.isSeparate ? 1 : 0 }
        plan.sort { place($0) < place($1) }
        log.finalists = plan.map(\.name)
        // A finalist's first replicate is its last rung's run when that trained the full epochs
        // (same config, seed, fold and epochs): the same job id reuses its result.
        // (From what every rank knows alike: the log is rank 0's.)
        let lastRung = ranRungs == epochs.count && epochs.last == last
        let finalJobs = comparison.jobs(for: plan, epochs: last).map { job -> Comparison.Job in
            guard lastRung, let c = job.candidate, participants.contains(c.name), job.seed == Int(config.training.seed), job.fold == fold else { return job }
            return Comparison.Job(id: "search/rung-\(epochs.count)/\(c.folder)", candidate: c, seed: job.seed, fold: fold, epochs: last)
        } + [comparison.relationshipJob]
        var maxSeconds: Double? = nil
        if world.isRoot, let budget = search.seconds {
            // What is left of the budget, shared by the final rounds.
            let toRun = finalJobs.filter { !$0.id.hasPrefix("search/") }.count   // reused last-rung runs are done
            let groups = comparison.groups(jobs: toRun)
            let rounds = Double(max(1, (toRun + groups - 1) / groups))
            maxSeconds = max(1, (budget - Date().timeIntervalSince(start)) / rounds - overhead)
        }
        // Rank 0's clock decides (0: no cap).
        let shared = try decide(world.isRoot ? maxSeconds ?? 0 : nil, what: "the final runs' time budget")
        if world.isRoot {
            let cap = shared > 0 ? ", at most \(Int(shared)) s of training each (the budget)" : ""
            logger.info("compare.search: finalists \(plan.map(\.name).joined(separator: "; ")); \(config.compare.replicates) replicate(s) each for \(last) epoch(s)\(cap)")
        }
        guard let results = try comparison.run(finalJobs, maxSeconds: shared > 0 ? shared : nil) else { return nil }
        return Comparison.Outcome(plan: plan, jobs: finalJobs, results: results, search: log)
    }
}
