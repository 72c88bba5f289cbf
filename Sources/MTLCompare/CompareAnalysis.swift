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
    /// A figure's mean, standard deviation and count over seeds (NaN where none was finite).
    public struct Stat: Codable, Sendable {
        @NaNAsNull public var mean: Double
        @NaNAsNull public var std: Double
        public var n: Int
        public init(mean: Double, std: Double, n: Int) { self.mean = mean; self.std = std; self.n = n }
    }
    public struct Candidate {
        public var name: String
        public var architecture: Architecture
        public var weighting: WeightingMethod
        public var seeds: Int
        public var parameters: Int
        public var wallSeconds: Double
        public var samplesPerSecond: Double
        /// task -> metric -> statistic over seeds.
        public var test: [String: [Metric: Stat]]
        public var validation: [String: [Metric: Stat]]
        public var deltaTest: Stat
        public var deltaValidation: Stat?
        /// Per seed: task -> key -> values per epoch (validation; the summaries' histories).
        public var histories: [[String: [String: [Double]]]]
    }

    public typealias TaskInfo = (name: String, kind: TaskKind)
    public var tasks: [TaskInfo]
    public var candidates: [Candidate]
    public var relationships: Relationships?
    public var data: DataSummary?
    public var ranking: [Int]
    public var recommendation: Recommendation

    public struct Recommendation: Codable, Equatable, Sendable {
        public var winner: String
        public var runnerUp: String?
        public var trainSeparately: Bool
        public var reasons: [String]
        public var selectedBy: String
        enum CodingKeys: String, CodingKey {
            case winner, reasons
            case runnerUp = "runner_up", trainSeparately = "train_separately", selectedBy = "selected_by"
        }
        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(winner, forKey: .winner)
            try c.encode(runnerUp, forKey: .runnerUp)   // null when there is none
            try c.encode(trainSeparately, forKey: .trainSeparately)
            try c.encode(reasons, forKey: .reasons)
            try c.encode(selectedBy, forKey: .selectedBy)
        }
    }

    static func stat(_ xs: [Double]) -> Stat {
        let v = xs.filter { $0.isFinite }
        guard !v.isEmpty else { return Stat(mean: .nan, std: .nan, n: 0) }
        let m = v.reduce(0, +) / Double(v.count)
        let sd = v.count > 1 ? (v.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(v.count - 1)).squareRoot() : 0
        return Stat(mean: m, std: sd, n: v.count)
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

    public init(config: RunConfig, results: [String: JobResult], jobs: [Comparison.Job]) throws {
        let taskList: [TaskInfo] = config.tasks.map { ($0.name, $0.kind) }
        tasks = taskList
        relationships = results["relationships"]?.relationships
        data = results["relationships"]?.data
        func metrics(_ r: JobResult, _ split: String) -> [String: MetricValues] {
            (split == "test" ? r.summary?.test : r.summary?.validation) ?? [:]
        }
        let plan = config.compare.plan
        var perCandidate: [[JobResult]] = plan.map { c in jobs.filter { $0.candidate == c }.compactMap { results[$0.id] } }
        guard let baseIndex = plan.firstIndex(where: { $0.architecture == .singleTask }), !perCandidate[baseIndex].isEmpty else {
            throw UserError("the comparison has no single-task results", hint: "run compare again")
        }
        perCandidate = perCandidate.map { $0.sorted { $0.seed < $1.seed } }
        func keys(_ runs: [JobResult], _ split: String, _ task: String) -> [Metric] {
            var found = Set<Metric>()
            for r in runs { found.formUnion(metrics(r, split)[task]?.metrics ?? []) }
            return Metric.allCases.filter(found.contains)
        }
        // The baseline: the single-task metrics' mean over seeds.
        func meanMetrics(_ runs: [JobResult], _ split: String) -> [String: MetricValues] {
            var out: [String: MetricValues] = [:]
            for t in taskList {
                for k in keys(runs, split, t.name) {
                    out[t.name, default: MetricValues()][k] = Self.stat(runs.map { metrics($0, split)[t.name]?[k] ?? .nan }).mean
                }
            }
            return out
        }
        let baseTest = meanMetrics(perCandidate[baseIndex], "test")
        let baseValidation = meanMetrics(perCandidate[baseIndex], "validation")
        var cands: [Candidate] = []
        for (ci, c) in plan.enumerated() {
            let runs = perCandidate[ci]
            guard !runs.isEmpty else { continue }
            func stats(_ split: String) -> [String: [Metric: Stat]] {
                var out: [String: [Metric: Stat]] = [:]
                for t in taskList {
                    for k in keys(runs, split, t.name) {
                        out[t.name, default: [:]][k] = Self.stat(runs.map { metrics($0, split)[t.name]?[k] ?? .nan })
                    }
                }
                return out
            }
            let summaries = runs.compactMap(\.summary)
            let hasValidation = !baseValidation.isEmpty && runs.allSatisfy { !metrics($0, "validation").isEmpty }
            cands.append(Candidate(
                name: c.name, architecture: c.architecture, weighting: c.weighting, seeds: runs.count,
                parameters: summaries.first?.parameters ?? 0,
                wallSeconds: Self.stat(summaries.map(\.wallSeconds)).mean,
                samplesPerSecond: Self.stat(summaries.map(\.samplesPerSecond)).mean,
                test: stats("test"), validation: stats("validation"),
                deltaTest: Self.stat(runs.map { Self.deltaM(metrics($0, "test"), baseline: baseTest, tasks: taskList) }),
                deltaValidation: hasValidation ? Self.stat(runs.map { Self.deltaM(metrics($0, "validation"), baseline: baseValidation, tasks: taskList) }) : nil,
                histories: summaries.map(\.history)))
        }
        candidates = cands
        // Ranked by validation Δm% when there is a validation split (choosing by test would fit the test set), else by test.
        let byValidation = cands.allSatisfy { $0.deltaValidation != nil }
        func key(_ c: Candidate) -> Double {
            let v = (byValidation ? c.deltaValidation?.mean : c.deltaTest.mean) ?? .nan
            return v.isNaN ? -.infinity : v
        }
        ranking = cands.indices.sorted { key(cands[$0]) > key(cands[$1]) }
        recommendation = Self.recommend(cands, ranking: ranking, byValidation: byValidation, relationships: relationships)
    }

    static func f(_ x: Double, _ digits: Int = 2) -> String { x.isFinite ? String(format: "%.\(digits)f", x) : "n/a" }

    static func recommend(_ c: [Candidate], ranking: [Int], byValidation: Bool, relationships: Relationships?) -> Recommendation {
        let split = byValidation ? "validation" : "test"
        func d(_ x: Candidate) -> Stat { (byValidation ? x.deltaValidation : nil) ?? x.deltaTest }
        let multi = ranking.filter { c[$0].architecture != .singleTask }
        guard let base = c.first(where: { $0.architecture == .singleTask }) else {
            return Recommendation(winner: "single-task", runnerUp: nil, trainSeparately: true, reasons: ["the single-task baseline did not finish"], selectedBy: split)
        }
        var reasons: [String] = []
        let conflict = relationships?.overallConflictShare
        let conflictText = conflict.map { "the tasks' gradients on the shared parameters conflict (negative cosine) on \(f($0 * 100, 0)) % of measured steps" }
        guard let best = multi.first else {
            return Recommendation(winner: base.name, runnerUp: nil, trainSeparately: true, reasons: ["no multi-task candidate finished"], selectedBy: split)
        }
        let b = c[best]
        // With one seed per candidate there is no spread: say so rather than compare with 0.
        let oneSeed = b.seeds < 2 || base.seeds < 2
        let noise = max(d(base).std, d(b).std)
        let noiseText = oneSeed ? "one seed: no spread measured, so not tested against seed noise" : "the seed spread of \(f(noise))"
        if !(d(b).mean > 0) || (!oneSeed && d(b).mean <= noise) {
            reasons.append("the best multi-task candidate, \(b.name), is at \(f(d(b).mean)) Δm% on \(split) against the single-task baseline (test \(f(b.deltaTest.mean)) Δm%)"
                           + (d(b).mean > 0 ? ", not beyond \(noiseText)" : "") + ": train the tasks separately")
            if let t = conflictText { reasons.append(t) }
            reasons.append("single-task: \(base.parameters) parameters, \(f(base.wallSeconds, 1)) s of training per seed")
            return Recommendation(winner: base.name, runnerUp: b.name, trainSeparately: true, reasons: reasons, selectedBy: split)
        }
        // The runner-up is the second of the ranking, whatever it is (the baseline included).
        let runner = c[ranking.first { $0 != best } ?? best]
        let gap = d(b).mean - d(runner).mean
        let pairOneSeed = b.seeds < 2 || runner.seeds < 2
        let spread = max(d(b).std, d(runner).std)
        reasons.append("\(b.name) has the highest \(split) Δm%: \(f(d(b).mean))" + (b.seeds > 1 ? " ± \(f(d(b).std)) over \(b.seeds) seeds" : " (one seed)")
                       + " (test \(f(b.deltaTest.mean))" + (b.seeds > 1 ? " ± \(f(b.deltaTest.std)))" : ")"))
        if pairOneSeed {
            reasons.append("it beats the runner-up \(runner.name) by \(f(gap)) Δm%; one seed: no spread measured, so the gap is not tested against seed noise (raise compare.seeds)")
        } else {
            reasons.append("it beats the runner-up \(runner.name) by \(f(gap)) Δm%, \(gap > spread ? "beyond" : "within") the seed spread of \(f(spread))")
        }
        if byValidation && (b.deltaTest.mean < 0 || b.deltaTest.mean < runner.deltaTest.mean) {
            // The choice stays by validation (choosing by test would fit the test set), but the
            // disagreement is the user's to know.
            reasons.append("on test it is at \(f(b.deltaTest.mean)) Δm% (\(runner.name): \(f(runner.deltaTest.mean))): the test split disagrees with validation, so the advantage may not hold on new data")
        }
        if !pairOneSeed && gap <= spread {
            let cheaper = runner.wallSeconds < b.wallSeconds ? runner : b
            reasons.append("the two are not told apart by these seeds; \(cheaper.name) is the cheaper (\(f(cheaper.wallSeconds, 1)) s per seed, \(cheaper.parameters) parameters)")
        }
        if let t = conflictText { reasons.append(t) }
        if let r = relationships, r.tasks.count > 1, r.gradientCosine.count == r.tasks.count * r.tasks.count {
            let cos = r.gradientCosine, names = r.tasks
            var pairs: [String] = []
            for i in names.indices { for j in names.indices where j > i { pairs.append("\(names[i])/\(names[j]) \(f(cos[i * names.count + j]))") } }
            reasons.append("mean gradient cosine: \(pairs.joined(separator: ", "))")
        }
        return Recommendation(winner: b.name, runnerUp: runner.name, trainSeparately: false, reasons: reasons, selectedBy: split)
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
        enum CodingKeys: String, CodingKey {
            case candidates, tasks, recommendation, relationships, data
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
                       relationships: relationships, data: data)
    }

    /// One row per candidate, task, split and metric, plus the candidate-level figures (task `*`).
    public var csv: String {
        func field(_ s: String) -> String { s.contains(where: { ",\"\n".contains($0) }) ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s }
        var lines = ["rank,candidate,architecture,weighting,task,split,metric,mean,std,seeds"]
        func num(_ x: Double) -> String { x.isFinite ? String(format: "%.6g", x) : "" }
        for (rank, i) in ranking.enumerated() {
            let c = candidates[i]
            let head = "\(rank + 1),\(field(c.name)),\(field(c.architecture.rawValue)),\(field(c.weighting.rawValue))"
            lines.append("\(head),*,test,delta_m_percent,\(num(c.deltaTest.mean)),\(num(c.deltaTest.std)),\(c.seeds)")
            if let v = c.deltaValidation { lines.append("\(head),*,validation,delta_m_percent,\(num(v.mean)),\(num(v.std)),\(c.seeds)") }
            lines.append("\(head),*,train,parameters,\(c.parameters),,\(c.seeds)")
            lines.append("\(head),*,train,wall_seconds,\(num(c.wallSeconds)),,\(c.seeds)")
            lines.append("\(head),*,train,samples_per_second,\(num(c.samplesPerSecond)),,\(c.seeds)")
            for (split, m) in [("validation", c.validation), ("test", c.test)] {
                for t in tasks {
                    for (k, s) in (m[t.name] ?? [:]).sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
                        lines.append("\(head),\(field(t.name)),\(split),\(k.rawValue),\(num(s.mean)),\(num(s.std)),\(s.n)")
                    }
                }
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The config to train the winner: the compared config with the winner's architecture and
    /// weighting, without the compare section, and with its file paths made absolute so it runs
    /// from the output folder.
    public static func recommendedConfig(_ config: RunConfig, winner: String, candidates: [Candidate]) throws -> String {
        guard let c = candidates.first(where: { $0.name == winner }), var root = try Yams.compose(yaml: config.sourceText),
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
        top["model"] = Node.mapping(model)
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
        func f(_ x: Double, _ d: Int) -> String { x.isFinite ? String(format: "%.\(d)f", x) : "n/a" }
        let nameW = max(12, (a.candidates.map(\.name.count).max() ?? 0) + 2)
        var head = pad("rank", 6) + pad("candidate", nameW) + pad("Δm% val", 16) + pad("Δm% test", 16)
        for t in a.tasks { head += pad("\(t.name) \(Metric.headline(t.kind).rawValue)", 22) }
        head += pad("params", 10) + "s/seed"
        var lines = [head]
        for (r, i) in a.ranking.enumerated() {
            let c = a.candidates[i]
            var l = pad("\(r + 1)", 6) + pad(c.name, nameW)
            l += pad(c.deltaValidation.map { "\(f($0.mean, 2)) ± \(f($0.std, 2))" } ?? "", 16)
            l += pad("\(f(c.deltaTest.mean, 2)) ± \(f(c.deltaTest.std, 2))", 16)
            for t in a.tasks {
                let s = c.test[t.name]?[Metric.headline(t.kind)]
                l += pad(s.map { "\(f($0.mean, 4)) ± \(f($0.std, 4))" } ?? "", 22)
            }
            l += pad("\(c.parameters)", 10) + f(c.wallSeconds, 1)
            lines.append(l)
        }
        return lines.joined(separator: "\n")
    }
}

