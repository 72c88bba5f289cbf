import Foundation
import Yams

/// The numbers a comparison is judged by, computed from its jobs' results: per candidate and
/// task the metrics' mean and spread over seeds, Δm% against the single-task baseline, cost,
/// and the recommendation with its reasons.
public struct CompareAnalysis {
    public struct Stat { public var mean: Double; public var std: Double; public var n: Int }
    public struct Candidate {
        public var name: String
        public var architecture: String
        public var weighting: String
        public var seeds: Int
        public var parameters: Int
        public var wallSeconds: Double
        public var samplesPerSecond: Double
        /// task -> metric -> statistic over seeds.
        public var test: [String: [String: Stat]]
        public var validation: [String: [String: Stat]]
        public var deltaTest: Stat
        public var deltaValidation: Stat?
        /// Per seed: task -> metric -> values per epoch (validation).
        public var histories: [[String: [String: [Double]]]]
    }

    public var tasks: [(name: String, kind: TaskKind)]
    public var candidates: [Candidate]
    public var relationships: [String: Any]?
    public var data: [String: Any]?
    public var ranking: [Int]
    public var recommendation: Recommendation

    public struct Recommendation {
        public var winner: String
        public var runnerUp: String?
        public var trainSeparately: Bool
        public var reasons: [String]
        public var selectedBy: String
    }

    /// The metrics Δm% averages for a task kind, and whether higher is better.
    public static func deltaMetrics(_ kind: TaskKind) -> [(String, Bool)] {
        switch kind {
        case .binary: return [("roc_auc", true), ("pr_auc", true)]
        case .multiclass: return [("accuracy", true), ("f1", true)]
        case .multilabel: return [("f1", true), ("micro_f1", true)]
        case .regression: return [("rmse", false), ("mae", false)]
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
    public static func deltaM(_ metrics: [String: [String: Double]], baseline: [String: [String: Double]],
                              tasks: [(name: String, kind: TaskKind)]) -> Double {
        var total = 0.0, counted = 0
        for t in tasks {
            var sum = 0.0, n = 0
            for (m, higher) in deltaMetrics(t.kind) {
                guard let v = metrics[t.name]?[m], let b = baseline[t.name]?[m], v.isFinite, b.isFinite, b != 0 else { continue }
                sum += (higher ? 1 : -1) * (v - b) / abs(b); n += 1
            }
            if n > 0 { total += sum / Double(n); counted += 1 }
        }
        return counted > 0 ? 100 * total / Double(counted) : .nan
    }

    public init(config: RunConfig, results: [String: [String: Any]], jobs: [Comparison.Job]) throws {
        let taskList = config.tasks.map { ($0.name, $0.kind) }
        tasks = taskList
        relationships = results["relationships"]?["relationships"] as? [String: Any]
        data = results["relationships"]?["data"] as? [String: Any]
        func metrics(_ obj: [String: Any]?, _ key: String) -> [String: [String: Double]] {
            ((obj?["summary"] as? [String: Any])?[key] as? [String: [String: Any]] ?? [:]).mapValues { $0.compactMapValues { $0 as? Double } }
        }
        let plan = config.compare.plan
        var perCandidate: [[[String: Any]]] = plan.map { c in jobs.filter { $0.candidate == c }.compactMap { results[$0.id] } }
        guard let baseIndex = plan.firstIndex(where: { $0.architecture == "single-task" }), !perCandidate[baseIndex].isEmpty else {
            throw UserError("the comparison has no single-task results", hint: "run compare again")
        }
        perCandidate = perCandidate.map { $0.sorted { ($0["seed"] as? Int ?? 0) < ($1["seed"] as? Int ?? 0) } }
        // The baseline: the single-task metrics' mean over seeds.
        func meanMetrics(_ runs: [[String: Any]], _ key: String) -> [String: [String: Double]] {
            var out: [String: [String: Double]] = [:]
            for t in taskList {
                var keys = Set<String>()
                for r in runs { keys.formUnion(metrics(r, key)[t.0]?.keys ?? [:].keys) }
                for k in keys { out[t.0, default: [:]][k] = Self.stat(runs.map { metrics($0, key)[t.0]?[k] ?? .nan }).mean }
            }
            return out
        }
        let baseTest = meanMetrics(perCandidate[baseIndex], "test")
        let baseValidation = meanMetrics(perCandidate[baseIndex], "validation")
        var cands: [Candidate] = []
        for (ci, c) in plan.enumerated() {
            let runs = perCandidate[ci]
            guard !runs.isEmpty else { continue }
            func stats(_ key: String) -> [String: [String: Stat]] {
                var out: [String: [String: Stat]] = [:]
                for t in taskList {
                    var keys = Set<String>()
                    for r in runs { keys.formUnion(metrics(r, key)[t.0]?.keys ?? [:].keys) }
                    for k in keys { out[t.0, default: [:]][k] = Self.stat(runs.map { metrics($0, key)[t.0]?[k] ?? .nan }) }
                }
                return out
            }
            let summaries = runs.map { $0["summary"] as? [String: Any] ?? [:] }
            let hasValidation = !baseValidation.isEmpty && runs.allSatisfy { !metrics($0, "validation").isEmpty }
            cands.append(Candidate(
                name: c.name, architecture: c.architecture, weighting: c.weighting, seeds: runs.count,
                parameters: summaries.first?["parameters"] as? Int ?? 0,
                wallSeconds: Self.stat(summaries.map { $0["wall_seconds"] as? Double ?? .nan }).mean,
                samplesPerSecond: Self.stat(summaries.map { $0["samples_per_second"] as? Double ?? .nan }).mean,
                test: stats("test"), validation: stats("validation"),
                deltaTest: Self.stat(runs.map { Self.deltaM(metrics($0, "test"), baseline: baseTest, tasks: taskList) }),
                deltaValidation: hasValidation ? Self.stat(runs.map { Self.deltaM(metrics($0, "validation"), baseline: baseValidation, tasks: taskList) }) : nil,
                histories: summaries.map { ($0["history"] as? [String: [String: Any]] ?? [:]).mapValues { $0.compactMapValues { ($0 as? [Any])?.map { ($0 as? Double) ?? .nan } } } }))
        }
        candidates = cands
        // Ranked by validation Δm% when there is a validation split (choosing by test would fit the test set), else by test.
        let byValidation = cands.allSatisfy { $0.deltaValidation != nil }
        func key(_ c: Candidate) -> Double { (byValidation ? c.deltaValidation!.mean : c.deltaTest.mean).isNaN ? -.infinity : (byValidation ? c.deltaValidation!.mean : c.deltaTest.mean) }
        ranking = cands.indices.sorted { key(cands[$0]) > key(cands[$1]) }
        recommendation = Self.recommend(cands, ranking: ranking, byValidation: byValidation, relationships: relationships)
    }

    static func f(_ x: Double, _ digits: Int = 2) -> String { x.isFinite ? String(format: "%.\(digits)f", x) : "n/a" }

    static func recommend(_ c: [Candidate], ranking: [Int], byValidation: Bool, relationships: [String: Any]?) -> Recommendation {
        let split = byValidation ? "validation" : "test"
        func d(_ x: Candidate) -> Stat { byValidation ? x.deltaValidation! : x.deltaTest }
        let multi = ranking.filter { c[$0].architecture != "single-task" }
        let base = c.first { $0.architecture == "single-task" }!
        var reasons: [String] = []
        let conflict = relationships?["overall_conflict_share"] as? Double
        let conflictText = conflict.map { "the tasks' gradients on the shared parameters conflict (negative cosine) on \(f($0 * 100, 0)) % of measured steps" }
        guard let best = multi.first else {
            return Recommendation(winner: base.name, runnerUp: nil, trainSeparately: true, reasons: ["no multi-task candidate finished"], selectedBy: split)
        }
        let b = c[best]
        let noise = max(d(base).std, d(b).std)
        if !(d(b).mean > 0) || d(b).mean <= noise {
            reasons.append("the best multi-task candidate, \(b.name), is at \(f(d(b).mean)) Δm% on \(split) against the single-task baseline (test \(f(b.deltaTest.mean)) Δm%), not beyond the seed spread of \(f(noise)): train the tasks separately")
            if let t = conflictText { reasons.append(t) }
            reasons.append("single-task: \(base.parameters) parameters, \(f(base.wallSeconds, 1)) s of training per seed")
            return Recommendation(winner: base.name, runnerUp: b.name, trainSeparately: true, reasons: reasons, selectedBy: split)
        }
        let runner = multi.count > 1 ? c[multi[1]] : base
        let gap = d(b).mean - d(runner).mean
        let spread = max(d(b).std, d(runner).std)
        reasons.append("\(b.name) has the highest \(split) Δm%: \(f(d(b).mean)) ± \(f(d(b).std)) over \(b.seeds) seed(s) (test \(f(b.deltaTest.mean)) ± \(f(b.deltaTest.std)))")
        reasons.append("it beats the runner-up \(runner.name) by \(f(gap)) Δm%, \(gap > spread ? "beyond" : "within") the seed spread of \(f(spread))")
        if gap <= spread {
            let cheaper = runner.wallSeconds < b.wallSeconds ? runner : b
            reasons.append("the two are not told apart by these seeds; \(cheaper.name) is the cheaper (\(f(cheaper.wallSeconds, 1)) s per seed, \(cheaper.parameters) parameters)")
        }
        if let t = conflictText { reasons.append(t) }
        if let cos = relationships?["gradient_cosine"] as? [Double], let names = relationships?["tasks"] as? [String], names.count > 1 {
            var pairs: [String] = []
            for i in names.indices { for j in names.indices where j > i { pairs.append("\(names[i])/\(names[j]) \(f(cos[i * names.count + j]))") } }
            reasons.append("mean gradient cosine: \(pairs.joined(separator: ", "))")
        }
        return Recommendation(winner: b.name, runnerUp: runner.name, trainSeparately: false, reasons: reasons, selectedBy: split)
    }

    // MARK: - Outputs

    public var json: [String: Any] {
        func stats(_ m: [String: [String: Stat]]) -> [String: [String: [String: Any]]] {
            m.mapValues { $0.mapValues { ["mean": $0.mean, "std": $0.std, "n": $0.n] as [String: Any] } }
        }
        let cands: [[String: Any]] = ranking.enumerated().map { rank, i in
            let c = candidates[i]
            var o: [String: Any] = ["rank": rank + 1, "name": c.name, "architecture": c.architecture, "weighting": c.weighting,
                                    "seeds": c.seeds, "parameters": c.parameters, "wall_seconds": c.wallSeconds,
                                    "samples_per_second": c.samplesPerSecond, "test": stats(c.test), "validation": stats(c.validation),
                                    "delta_m_test": ["mean": c.deltaTest.mean, "std": c.deltaTest.std]]
            if let v = c.deltaValidation { o["delta_m_validation"] = ["mean": v.mean, "std": v.std] }
            return o
        }
        var out: [String: Any] = ["candidates": cands, "tasks": tasks.map { ["name": $0.name, "kind": $0.kind.rawValue] },
                                  "recommendation": ["winner": recommendation.winner, "runner_up": recommendation.runnerUp ?? NSNull(),
                                                     "train_separately": recommendation.trainSeparately, "reasons": recommendation.reasons,
                                                     "selected_by": recommendation.selectedBy],
                                  "delta_m_metrics": Dictionary(uniqueKeysWithValues: TaskKind.allCases.map { k in (k.rawValue, Self.deltaMetrics(k).map { $0.0 }) })]
        if let r = relationships { out["relationships"] = r }
        if let d = data { out["data"] = d }
        return out
    }

    /// One row per candidate, task, split and metric, plus the candidate-level figures (task `*`).
    public var csv: String {
        func field(_ s: String) -> String { s.contains(where: { ",\"\n".contains($0) }) ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s }
        var lines = ["rank,candidate,architecture,weighting,task,split,metric,mean,std,seeds"]
        func num(_ x: Double) -> String { x.isFinite ? String(format: "%.6g", x) : "" }
        for (rank, i) in ranking.enumerated() {
            let c = candidates[i]
            let head = "\(rank + 1),\(field(c.name)),\(field(c.architecture)),\(field(c.weighting))"
            lines.append("\(head),*,test,delta_m_percent,\(num(c.deltaTest.mean)),\(num(c.deltaTest.std)),\(c.seeds)")
            if let v = c.deltaValidation { lines.append("\(head),*,validation,delta_m_percent,\(num(v.mean)),\(num(v.std)),\(c.seeds)") }
            lines.append("\(head),*,train,parameters,\(c.parameters),,\(c.seeds)")
            lines.append("\(head),*,train,wall_seconds,\(num(c.wallSeconds)),,\(c.seeds)")
            lines.append("\(head),*,train,samples_per_second,\(num(c.samplesPerSecond)),,\(c.seeds)")
            for (split, m) in [("validation", c.validation), ("test", c.test)] {
                for t in tasks {
                    for k in (m[t.name] ?? [:]).keys.sorted() {
                        let s = m[t.name]![k]!
                        lines.append("\(head),\(field(t.name)),\(split),\(k),\(num(s.mean)),\(num(s.std)),\(s.n)")
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
        let dir = ((config.sourcePath as NSString).deletingLastPathComponent as NSString)
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
        model["architecture"] = Node(c.architecture)
        top["model"] = Node.mapping(model)
        var w = top["weighting"]?.mapping ?? Node.Mapping([])
        w["method"] = Node(c.weighting)
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
        for t in a.tasks { head += pad("\(t.name) \(TrainingRun.headlineMetric(t.kind))", 22) }
        head += pad("params", 10) + "s/seed"
        var lines = [head]
        for (r, i) in a.ranking.enumerated() {
            let c = a.candidates[i]
            var l = pad("\(r + 1)", 6) + pad(c.name, nameW)
            l += pad(c.deltaValidation.map { "\(f($0.mean, 2)) ± \(f($0.std, 2))" } ?? "", 16)
            l += pad("\(f(c.deltaTest.mean, 2)) ± \(f(c.deltaTest.std, 2))", 16)
            for t in a.tasks {
                let s = c.test[t.name]?[TrainingRun.headlineMetric(t.kind)]
                l += pad(s.map { "\(f($0.mean, 4)) ± \(f($0.std, 4))" } ?? "", 22)
            }
            l += pad("\(c.parameters)", 10) + f(c.wallSeconds, 1)
            lines.append(l)
        }
        return lines.joined(separator: "\n")
    }
}

/// `advise`'s terminal output.
public enum AdviceText {
    public static func render(_ r: [String: Any], data d: [String: Any], shortlist: [Advice.Suggestion]) -> String {
        func f(_ x: Double, _ k: Int = 3) -> String { x.isFinite ? String(format: "%.\(k)f", x) : "n/a" }
        let names = r["tasks"] as? [String] ?? []
        let t = names.count
        var out = ["Data:"]
        for task in d["tasks"] as? [[String: Any]] ?? [] {
            var l = "  \(task["task"] ?? "?") (\(task["kind"] ?? "?")): \(task["train_labelled"] ?? 0) labelled training rows"
            if let p = task["positive_share"] as? Double { l += ", \(f(100 * p, 1)) % positive" }
            if let p = task["largest_class_share"] as? Double { l += ", largest class \(f(100 * p, 1)) %" }
            out.append(l)
        }
        for pr in d["label_correlation"] as? [[String: Any]] ?? [] {
            out.append("  label correlation \(pr["a"] ?? "")/\(pr["b"] ?? ""): " + ((pr["value"] as? Double).map { "\(f($0)) (\(pr["measure"] ?? ""), \(pr["rows"] ?? 0) rows)" } ?? "n/a (no shared rows or multi-label)"))
        }
        out.append("Task relationships (\(r["measured_steps"] ?? 0) measured steps, \(r["shared_parameters"] ?? 0) shared parameters):")
        let cos = r["gradient_cosine"] as? [Double] ?? [], share = r["conflict_share"] as? [Double] ?? [], aff = r["affinity"] as? [Double] ?? []
        for i in 0..<t {
            for j in 0..<t where j > i && cos.count == t * t {
                out.append("  \(names[i])/\(names[j]): mean gradient cosine \(f(cos[i * t + j])), in conflict on \(f(100 * share[i * t + j], 0)) % of steps; affinity \(names[i])→\(names[j]) \(String(format: "%.2e", aff[i * t + j])), \(names[j])→\(names[i]) \(String(format: "%.2e", aff[j * t + i]))")
            }
        }
        out.append("Shortlist (confirm with `mtl-worker compare`):")
        for (k, s) in shortlist.enumerated() { out.append("  \(k + 1). \(s.candidate.name): \(s.reason)") }
        out.append("As a compare: section:")
        out.append("compare:\n  candidates:")
        for s in shortlist { out.append("    - {architecture: \(s.candidate.architecture), weighting: \(s.candidate.weighting)}") }
        return out.joined(separator: "\n")
    }
}
