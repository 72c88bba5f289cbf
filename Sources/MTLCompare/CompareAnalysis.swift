import Foundation
import Yams
import MTLCore
import MTLData
import MTLModels
import MTLTraining
import MTLWeighting

/// The numbers a comparison is judged by, computed from its jobs' results: per candidate and
/// task the metrics' mean and spread over seeds, Δm% against the single-task baseline, cost,
/// and the recommendation with its reasons.
public struct CompareAnalysis {
    /// A figure's mean, standard deviation, count over replicates, and the half-width of its
    /// 95 % confidence interval (Student's t; NaN with fewer than 2 replicates).
    public struct Stat: Codable, Sendable {
        @NaNAsNull public var mean: Double
        @NaNAsNull public var std: Double
        public var n: Int
        @NaNAsNull public var ci95: Double
        public init(mean: Double, std: Double, n: Int, ci95: Double = .nan) { self.mean = mean; self.std = std; self.n = n; self.ci95 = ci95 }
        /// Whether the interval excludes 0 (false without an interval).
        public var beyondZero: Bool { ci95.isFinite && abs(mean) > ci95 }
        /// `mean ± ci95` with `digits` decimals, or the mean alone without an interval.
        public func formatted(_ digits: Int) -> String {
            let m = mean.isFinite ? String(format: "%.\(digits)f", mean) : "n/a"
            return ci95.isFinite ? m + " ± " + String(format: "%.\(digits)f", ci95) : m
        }
        enum CodingKeys: String, CodingKey { case mean, std, n, ci95 = "ci95" }
    }
    public struct Candidate {
        public var name: String
        public var architecture: Architecture
        public var weighting: WeightingMethod
        public var seeds: Int
        public var parameters: Int
        public var wallSeconds: Double
        public var samplesPerSecond: Double
        /// task -> metric -> statistic over replicates.
        public var test: [String: [Metric: Stat]]
        public var validation: [String: [Metric: Stat]]
        /// Δm% against the baseline, paired replicate by replicate.
        public var deltaTest: Stat
        public var deltaValidation: Stat?
        /// Per seed: task -> key -> values per epoch (validation; the summaries' histories).
        public var histories: [[String: [String: [Double]]]]
        /// Trains the tasks separately (single-task or linear).
        public var isSeparate: Bool = false
        /// Δm% per replicate ("seed/fold"), for differences paired between candidates.
        public var validationByReplicate: [String: Double] = [:]
        public var testByReplicate: [String: Double] = [:]
    }
    public typealias TaskInfo = (name: String, kind: TaskKind)
    public var tasks: [TaskInfo]
    public var candidates: [Candidate]
    public var relationships: Relationships?
    public var data: DataSummary?
    public var ranking: [Int]
    public var recommendation: Recommendation
    /// What the search did (nil without compare.search).
    public var search: SearchLog? = nil
    /// The folds' interval correction (1/(k-1) under compare.folds, else 0).
    public var overlap: Double
    /// Replicates per candidate (seeds x folds).
    public var replicates: Int

    public struct Recommendation: Codable, Equatable, Sendable {
        public var winner: String
        public var runnerUp: String?
        public var trainSeparately: Bool
        public var reasons: [String]
        public var selectedBy: String
        /// Whether the winner is measurably ahead of every other candidate (false: it is the
        /// cheapest of those it cannot be told from).
        public var measurable: Bool = false
        public init(winner: String, runnerUp: String?, trainSeparately: Bool, reasons: [String], selectedBy: String) {
            self.winner = winner; self.runnerUp = runnerUp; self.trainSeparately = trainSeparately; self.reasons = reasons; self.selectedBy = selectedBy
        }
        enum CodingKeys: String, CodingKey {
            case winner, reasons, measurable
            case runnerUp = "runner_up", trainSeparately = "train_separately", selectedBy = "selected_by"
        }
        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(winner, forKey: .winner)
            try c.encode(runnerUp, forKey: .runnerUp)   // null when there is none
            try c.encode(trainSeparately, forKey: .trainSeparately)
            try c.encode(reasons, forKey: .reasons)
            try c.encode(selectedBy, forKey: .selectedBy)
            try c.encode(measurable, forKey: .measurable)
        }
    }

    /// The 0.975 quantile of Student's t with `df` degrees of freedom (table to 30, then
    /// 1.96 + 2.5/df, within 0.003 of the exact value).
    public static func t975(_ df: Int) -> Double {
        let table = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
                     2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042]
        guard df >= 1 else { return .nan }
        return df <= table.count ? table[df - 1] : 1.96 + 2.5 / Double(df)
    }

    /// Mean, spread and 95 % interval of `xs` (non-finite values left out). `overlap` widens the
    /// interval for replicates that share training rows: Nadeau and Bengio's corrected resampled
    /// t (Machine Learning 2003), variance x (1/n + n_validation/n_train), which is 1/(k-1) for
    /// k folds; 0 for independent replicates.
    static func stat(_ xs: [Double], overlap: Double = 0) -> Stat {
        let v = xs.filter { $0.isFinite }
        guard !v.isEmpty else { return Stat(mean: .nan, std: .nan, n: 0) }
        let m = v.reduce(0, +) / Double(v.count)
        let sd = v.count > 1 ? (v.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(v.count - 1)).squareRoot() : 0
        let ci = v.count > 1 ? t975(v.count - 1) * sd * (1 / Double(v.count) + overlap).squareRoot() : .nan
        return Stat(mean: m, std: sd, n: v.count, ci95: ci)
    }

    /// The paired difference a - b over the replicates both have.
    static func difference(_ a: [String: Double], _ b: [String: Double], overlap: Double) -> Stat {
        stat(a.keys.sorted().compactMap { k in b[k].map { (a[k] ?? .nan) - $0 } }, overlap: overlap)
    }

    /// Δm% (Maninis et al., CVPR 2019; Vandenhende et al., TPAMI 2021): the mean over tasks of
    /// the mean over the task's metrics of the signed relative change against the baseline, x 100.
    public static func deltaM(_ metrics: [String: MetricValues], baseline: [String: MetricValues], tasks: [TaskInfo]) -> Double {
        var total = 0.0, counted = 0
        for t in tasks {
            var sum = 0.0, n = 0
            for m in Metric.deltaMetrics(t.kind) {
                guard let v = metrics[t.name]?[m], let b = baseline[t.name]?[m], v.isFinite, b.isFinite, b != 0 else { continue }
                sum += (m.higherIsBetter ? 1 : -1) * (v - b) / abs(b); n += 1
            }
            if n > 0 { total += sum / Double(n); counted += 1 }
        }
        return counted > 0 ? 100 * total / Double(counted) : .nan
    }

    /// The analysis of what a comparison trained.
    public init(config: RunConfig, outcome: Comparison.Outcome) throws {
        try self.init(config: config, plan: outcome.plan, results: outcome.results, jobs: outcome.jobs)
        search = outcome.search
    }

    public init(config: RunConfig, plan: [CompareConfig.Candidate], results: [String: JobResult], jobs: [Comparison.Job]) throws {
        let taskList: [TaskInfo] = config.tasks.map { ($0.name, $0.kind) }
        tasks = taskList
        relationships = results["relationships"]?.relationships
        data = results["relationships"]?.data
        overlap = config.compare.folds > 1 ? 1 / Double(config.compare.folds - 1) : 0
        replicates = config.compare.replicates
        func metrics(_ r: JobResult, _ split: String) -> [String: MetricValues] {
            (split == "test" ? r.summary?.test : r.summary?.validation) ?? [:]
        }
        var perCandidate: [[JobResult]] = plan.map { c in jobs.filter { $0.candidate == c }.compactMap { results[$0.id] } }
        // The baseline: the first single-task candidate with hidden layers, else the first separate one.
        guard let baseIndex = plan.firstIndex(where: { $0.isSeparate && !$0.isLinear }) ?? plan.firstIndex(where: \.isSeparate),
              !perCandidate[baseIndex].isEmpty else {
            throw UserError("the comparison has no single-task results", hint: "run compare again")
        }
        perCandidate = perCandidate.map { $0.sorted { ($0.seed, $0.fold ?? -1) < ($1.seed, $1.fold ?? -1) } }
        func keys(_ runs: [JobResult], _ split: String, _ task: String) -> [Metric] {
            var found = Set<Metric>()
            for r in runs { found.formUnion(metrics(r, split)[task]?.metrics ?? []) }
            return Metric.allCases.filter(found.contains)
        }
        // The baseline's metrics per replicate, and their mean (for a replicate it lacks).
        func meanMetrics(_ runs: [JobResult], _ split: String) -> [String: MetricValues] {
            var out: [String: MetricValues] = [:]
            for t in taskList {
                for k in keys(runs, split, t.name) {
                    out[t.name, default: MetricValues()][k] = Self.stat(runs.map { metrics($0, split)[t.name]?[k] ?? .nan }).mean
                }
            }
            return out
        }
        let baseRuns = Dictionary(perCandidate[baseIndex].map { ($0.replicate, $0) }, uniquingKeysWith: { a, _ in a })
        let baseMean = ["test": meanMetrics(perCandidate[baseIndex], "test"), "validation": meanMetrics(perCandidate[baseIndex], "validation")]
        func delta(_ r: JobResult, _ split: String) -> Double {
            let base = baseRuns[r.replicate].map { metrics($0, split) } ?? baseMean[split] ?? [:]
            return Self.deltaM(metrics(r, split), baseline: base, tasks: taskList)
        }
        let overlap = self.overlap
        var cands: [Candidate] = []
        for (ci, c) in plan.enumerated() {
            let runs = perCandidate[ci]
            guard !runs.isEmpty else { continue }
            func stats(_ split: String) -> [String: [Metric: Stat]] {
                var out: [String: [Metric: Stat]] = [:]
                for t in taskList {
                    for k in keys(runs, split, t.name) {
                        out[t.name, default: [:]][k] = Self.stat(runs.map { metrics($0, split)[t.name]?[k] ?? .nan }, overlap: overlap)
                    }
                }
                return out
            }
            let summaries = runs.compactMap(\.summary)
            let hasValidation = !(baseMean["validation"] ?? [:]).isEmpty && runs.allSatisfy { !metrics($0, "validation").isEmpty }
            let byReplicate = { (split: String) in Dictionary(runs.map { ($0.replicate, delta($0, split)) }, uniquingKeysWith: { a, _ in a }) }
            var cand = Candidate(
                name: c.name, architecture: c.architecture, weighting: c.weighting, seeds: runs.count,
                parameters: summaries.first?.parameters ?? 0,
                wallSeconds: Self.stat(summaries.map(\.wallSeconds)).mean,
                samplesPerSecond: Self.stat(summaries.map(\.samplesPerSecond)).mean,
                test: stats("test"), validation: stats("validation"),
                deltaTest: Self.stat(runs.map { delta($0, "test") }, overlap: overlap),
                deltaValidation: hasValidation ? Self.stat(runs.map { delta($0, "validation") }, overlap: overlap) : nil,
                histories: summaries.map(\.history))
            cand.isSeparate = c.isSeparate
            cand.validationByReplicate = hasValidation ? byReplicate("validation") : [:]
            cand.testByReplicate = byReplicate("test")
            cands.append(cand)
        }
        candidates = cands
        // Ranked by validation Δm% when there is a validation split (choosing by test would fit the test set), else by test.
        let byValidation = cands.allSatisfy { $0.deltaValidation != nil }
        func key(_ c: Candidate) -> Double {
            let v = (byValidation ? c.deltaValidation?.mean : c.deltaTest.mean) ?? .nan
            return v.isNaN ? -.infinity : v
        }
        ranking = cands.indices.sorted { key(cands[$0]) > key(cands[$1]) }
        recommendation = Self.recommend(cands, ranking: ranking, byValidation: byValidation, relationships: relationships, overlap: overlap)
    }

    static func f(_ x: Double, _ digits: Int = 2) -> String { x.isFinite ? String(format: "%.\(digits)f", x) : "n/a" }

    /// A difference with its interval: `1.20 ± 0.35`, or `1.20 (one replicate: no interval)`.
    static func withInterval(_ s: Stat) -> String { s.formatted(2) + (s.ci95.isFinite ? "" : " (one replicate: no interval)") }

    /// The recommendation, from the split the ranking used (validation where there is one).
    ///
    /// The ranking's first is recommended only when its paired difference to every other
    /// candidate (Δm% replicate by replicate) has a 95 % interval above 0; otherwise every
    /// candidate it cannot be told from is "no measurable difference", and the cheapest of them
    /// (seconds of training per replicate) is recommended and named as such.
    static func recommend(_ c: [Candidate], ranking: [Int], byValidation: Bool, relationships: Relationships?, overlap: Double = 0) -> Recommendation {
        let split = byValidation ? "validation" : "test"
        func d(_ x: Candidate) -> Stat { (byValidation ? x.deltaValidation : nil) ?? x.deltaTest }
        func reps(_ x: Candidate) -> [String: Double] { byValidation ? x.validationByReplicate : x.testByReplicate }
        guard let first = ranking.first, let baseIndex = c.indices.first(where: { c[$0].isSeparate }) else {
            return Recommendation(winner: "single-task", runnerUp: nil, trainSeparately: true, reasons: ["the single-task baseline did not finish"], selectedBy: split)
        }
        let best = c[first], base = c[baseIndex]
        var reasons: [String] = []
        let runner = ranking.count > 1 ? c[ranking[1]] : nil
        let over = "95 % intervals over \(d(best).n) replicate(s)" + (overlap > 0 ? ", corrected for the folds' shared training rows" : "")
        if first == baseIndex {
            reasons.append("the single-task baseline, \(best.name), ranks first on \(split) Δm% (\(over)); the differences below are it minus each other candidate")
        } else {
            reasons.append("\(best.name) has the highest \(split) Δm% against \(base.name): \(withInterval(d(best))) (\(over); test \(f(best.deltaTest.mean)))")
        }
        // Which candidates the best cannot be told from: the paired difference's interval includes 0.
        var tied: [Int] = []
        for j in ranking.dropFirst() {
            let diff = j == baseIndex ? d(best) : difference(reps(best), reps(c[j]), overlap: overlap)
            let text = "\(best.name) - \(c[j].name): \(withInterval(diff)) Δm%"
            if diff.beyondZero && diff.mean > 0 {
                if j == ranking[1] || j == baseIndex { reasons.append("\(text), beyond the interval") }
            } else {
                tied.append(j)
                reasons.append("\(text): no measurable difference")
            }
        }
        var winner = best
        var measurable = tied.isEmpty
        if !tied.isEmpty {
            let cheapest = ([first] + tied).min { c[$0].wallSeconds < c[$1].wallSeconds } ?? first
            winner = c[cheapest]
            measurable = false
            let oneReplicate = d(best).n < 2
            reasons.append((oneReplicate ? "one replicate measures no interval (raise compare.seeds or set compare.folds); " : "")
                           + "no measurable difference between \(([first] + tied).map { c[$0].name }.joined(separator: ", ")): "
                           + "\(winner.name) is the cheapest (\(f(winner.wallSeconds, 1)) s of training per replicate, \(winner.parameters) parameters)")
        }
        if byValidation, winner.name == best.name, let r = runner, best.deltaTest.mean < r.deltaTest.mean || (!best.isSeparate && best.deltaTest.mean < 0) {
            // The choice stays by validation (choosing by test would fit the test set), but the
            // disagreement is the user's to know.
            reasons.append("on test it is at \(f(best.deltaTest.mean)) Δm% (\(r.name): \(f(r.deltaTest.mean))): the test split disagrees with validation, so the advantage may not hold on new data")
        }
        if let share = relationships?.overallConflictShare {
            reasons.append("the tasks' gradients on the shared parameters conflict (negative cosine) on \(f(share * 100, 0)) % of measured steps")
        }
        if let r = relationships, r.tasks.count > 1, r.gradientCosine.count == r.tasks.count * r.tasks.count {
            let cos = r.gradientCosine, names = r.tasks
            var pairs: [String] = []
            for i in names.indices { for j in names.indices where j > i { pairs.append("\(names[i])/\(names[j]) \(f(cos[i * names.count + j]))") } }
            reasons.append("mean gradient cosine: \(pairs.joined(separator: ", "))")
        }
        var rec = Recommendation(winner: winner.name, runnerUp: runner?.name, trainSeparately: winner.isSeparate, reasons: reasons, selectedBy: split)
        rec.measurable = measurable
        return rec
    }

    // MARK: - Outputs

    /// `results.json`: the ranking with every candidate's figures, the recommendation, and what
    /// the relationship run measured.
    public struct Results: Encodable {
        public struct Entry: Encodable {
            var rank: Int, name: String, architecture: Architecture, weighting: WeightingMethod, seeds: Int, parameters: Int
            var wallSeconds: JSONNumber, samplesPerSecond: JSONNumber
            var test: [String: [String: Stat]], validation: [String: [String: Stat]]
            var deltaMTest: Stat, deltaMValidation: Stat?
            enum CodingKeys: String, CodingKey {
                case rank, name, architecture, weighting, seeds, parameters, test, validation
                case wallSeconds = "wall_seconds", samplesPerSecond = "samples_per_second"
                case deltaMTest = "delta_m_test", deltaMValidation = "delta_m_validation"
            }
        }
        public struct Task: Encodable { var name: String; var kind: TaskKind }
        var candidates: [Entry]
        var tasks: [Task]
        var recommendation: Recommendation
        var deltaMMetrics: [String: [Metric]]
        var relationships: Relationships?
        var data: DataSummary?
        var replicates: Int
        var search: SearchLog?
        enum CodingKeys: String, CodingKey {
            case candidates, tasks, recommendation, relationships, data, replicates, search
            case deltaMMetrics = "delta_m_metrics"
        }
    }

    public var results: Results {
        func byName(_ m: [String: [Metric: Stat]]) -> [String: [String: Stat]] {
            m.mapValues { Dictionary(uniqueKeysWithValues: $0.map { ($0.key.rawValue, $0.value) }) }
        }
        let entries = ranking.enumerated().map { rank, i -> Results.Entry in
            let c = candidates[i]
            return Results.Entry(rank: rank + 1, name: c.name, architecture: c.architecture, weighting: c.weighting, seeds: c.seeds,
                                 parameters: c.parameters, wallSeconds: JSONNumber(c.wallSeconds), samplesPerSecond: JSONNumber(c.samplesPerSecond),
                                 test: byName(c.test), validation: byName(c.validation), deltaMTest: c.deltaTest, deltaMValidation: c.deltaValidation)
        }
        return Results(candidates: entries, tasks: tasks.map { Results.Task(name: $0.name, kind: $0.kind) },
                       recommendation: recommendation,
                       deltaMMetrics: Dictionary(uniqueKeysWithValues: TaskKind.allCases.map { ($0.rawValue, Metric.deltaMetrics($0)) }),
                       relationships: relationships, data: data, replicates: replicates, search: search)
    }

    /// One row per candidate, task, split and metric, plus the candidate-level figures (task `*`).
    public var csv: String {
        func field(_ s: String) -> String { s.contains(where: { ",\"\n".contains($0) }) ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s }
        var lines = ["rank,candidate,architecture,weighting,task,split,metric,mean,std,ci95,replicates"]
        func num(_ x: Double) -> String { x.isFinite ? String(format: "%.6g", x) : "" }
        for (rank, i) in ranking.enumerated() {
            let c = candidates[i]
            let head = "\(rank + 1),\(field(c.name)),\(field(c.architecture.rawValue)),\(field(c.weighting.rawValue))"
            lines.append("\(head),*,test,delta_m_percent,\(num(c.deltaTest.mean)),\(num(c.deltaTest.std)),\(num(c.deltaTest.ci95)),\(c.seeds)")
            if let v = c.deltaValidation { lines.append("\(head),*,validation,delta_m_percent,\(num(v.mean)),\(num(v.std)),\(num(v.ci95)),\(c.seeds)") }
            lines.append("\(head),*,train,parameters,\(c.parameters),,,\(c.seeds)")
            lines.append("\(head),*,train,wall_seconds,\(num(c.wallSeconds)),,,\(c.seeds)")
            lines.append("\(head),*,train,samples_per_second,\(num(c.samplesPerSecond)),,,\(c.seeds)")
            for (split, m) in [("validation", c.validation), ("test", c.test)] {
                for t in tasks {
                    for (k, s) in (m[t.name] ?? [:]).sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
                        lines.append("\(head),\(field(t.name)),\(split),\(k.rawValue),\(num(s.mean)),\(num(s.std)),\(num(s.ci95)),\(s.n)")
                    }
                }
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The config to train the winner: the compared config with the winner's architecture and
    /// weighting, without the compare section, and with its file paths made absolute so it runs
    /// from the output folder.
    public static func recommendedConfig(_ config: RunConfig, winner: String, plan: [CompareConfig.Candidate]) throws -> String {
        guard let c = plan.first(where: { $0.name == winner }), var root = try Yams.compose(yaml: config.sourceText),
              var top = root.mapping else { return "" }
        let dir = (Paths.folder(of: config.sourcePath) as NSString)
        let base = dir.isAbsolutePath ? dir as String : (FileManager.default.currentDirectoryPath as NSString).appendingPathComponent(dir as String)
        func absolute(_ n: Node?) -> Node? {
            guard let s = n?.string, !s.isEmpty, !s.hasPrefix("/") else { return n }
            return Node(((base as NSString).appendingPathComponent(s) as NSString).standardizingPath)
        }
        if var d = top["data"]?.mapping {
            for k in ["train", "validation", "test"] where d[k] != nil { d[k] = absolute(d[k]) }
            top["data"] = Node.mapping(d)
        }
        if let tasks = top["tasks"]?.sequence {
            top["tasks"] = Node.sequence(Node.Sequence(tasks.map { t -> Node in
                guard var m = t.mapping else { return t }
                if m["classes_file"] != nil { m["classes_file"] = absolute(m["classes_file"]) }
                if var d = m["data"]?.mapping {
                    for k in ["train", "validation", "test"] where d[k] != nil { d[k] = absolute(d[k]) }
                    m["data"] = Node.mapping(d)
                }
                return Node.mapping(m)
            }))
        }
        var model = top["model"]?.mapping ?? Node.Mapping([])
        model["architecture"] = Node(c.architecture.rawValue)
        // The search's settings, written as the keys they set.
        if let v = c.settings.width { model["width"] = Node(String(v * config.model.width)) }
        if let v = c.settings.dropout { model["dropout"] = Node(String(v)) }
        top["model"] = Node.mapping(model)
        var training = top["training"]?.mapping ?? Node.Mapping([])
        if let v = c.settings.learningRate { training["learning_rate"] = Node(String(v)) }
        if let v = c.settings.weightDecay { training["weight_decay"] = Node(String(v)) }
        if let e = config.compare.epochs { training["epochs"] = Node(String(e)) }
        if !training.isEmpty { top["training"] = Node.mapping(training) }
        var w = top["weighting"]?.mapping ?? Node.Mapping([])
        w["method"] = Node(c.weighting.rawValue)
        top["weighting"] = Node.mapping(w)
        top["compare"] = nil
        top["output"] = nil
        root = Node.mapping(top)
        let body = try Yams.serialize(node: root)
        return "# Recommended by `mtl-worker compare` on \(config.sourcePath): \(c.name).\n# Train it with: mtl-worker train --config <this file>\n" + body
    }
}

extension CompareAnalysis {
    /// The ranking as a plain terminal table.
    public static func table(_ a: CompareAnalysis) -> String {
        func pad(_ s: String, _ w: Int) -> String { s.count >= w ? s : s + String(repeating: " ", count: w - s.count) }
        let nameW = max(12, (a.candidates.map(\.name.count).max() ?? 0) + 2)
        var head = pad("rank", 6) + pad("candidate", nameW) + pad("Δm% val", 16) + pad("Δm% test", 16)
        // The ± figures are 95 % intervals over the replicates (none with one replicate).
        for t in a.tasks { head += pad("\(t.name) \(Metric.headline(t.kind).rawValue)", 22) }
        head += pad("params", 10) + "s/replicate"
        var lines = [head]
        for (r, i) in a.ranking.enumerated() {
            let c = a.candidates[i]
            var l = pad("\(r + 1)", 6) + pad(c.name, nameW)
            l += pad(c.deltaValidation?.formatted(2) ?? "", 16)
            l += pad(c.deltaTest.formatted(2), 16)
            for t in a.tasks {
                let s = c.test[t.name]?[Metric.headline(t.kind)]
                l += pad(s?.formatted(4) ?? "", 22)
            }
            l += pad("\(c.parameters)", 10) + f(c.wallSeconds, 1)
            lines.append(l)
        }
        lines.append("±: 95 % confidence interval over the \(a.replicates) replicate(s) (seeds x folds; none for one); Δm% paired replicate by replicate against the single-task baseline; test figures are reported, never chosen by")
        return lines.joined(separator: "\n")
    }
}

extension CompareAnalysis {
    /// The search's rungs as a plain terminal table.
    public static func searchTable(_ s: SearchLog) -> String {
        var lines = ["search: \(s.rungs.count) of \(s.plannedRungs) rung(s)\(s.stoppedByBudget ? " (ended by the time budget)" : ""), scored by \(s.metric)"]
        for (k, rung) in s.rungs.enumerated() {
            lines.append("rung \(k + 1) (\(rung.epochs) epochs):")
            for e in rung.entries {
                lines.append("  \(e.promoted ? "kept" : "    ") \(e.bracket.padding(toLength: 12, withPad: " ", startingAt: 0)) \(e.score.map { f($0, 4) } ?? "n/a")  \(e.candidate)")
            }
        }
        lines.append("finalists: \(s.finalists.joined(separator: "; "))")
        return lines.joined(separator: "\n")
    }
}
