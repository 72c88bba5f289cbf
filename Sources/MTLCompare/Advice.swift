import Foundation
import MTLData
import MTLTraining

/// `mtl-worker advise`: the relationship run alone (a short hard-sharing pilot that measures
/// gradient cosines, conflicts and affinities) plus the data's characteristics, turned into a
/// shortlist of candidates for users who cannot afford a full comparison. The rules are stated
/// with each suggestion; they are heuristics from the measurements, to be confirmed by `compare`.
public enum Advice {
    /// Fewer measured steps than this make the relationships too noisy to act on (a warning).
    public static let fewMeasurements = 10
    public struct Suggestion { public var candidate: CompareConfig.Candidate; public var reason: String }

    public static func shortlist(relationships r: Relationships, data d: DataSummary, kinds: [TaskKind]) -> [Suggestion] {
        let t = r.tasks.count
        let cos = r.gradientCosine
        let aff = r.affinity
        let conflict = r.overallConflictShare
        var pairCos: [Double] = [], negativeAffinity = 0, affinityPairs = 0
        for i in 0..<t {
            for j in 0..<t where j != i {
                if j > i, cos.count == t * t { pairCos.append(cos[i * t + j]) }
                if aff.count == t * t, aff[i * t + j].isFinite { affinityPairs += 1; if aff[i * t + j] < 0 { negativeAffinity += 1 } }
            }
        }
        let minCos = pairCos.min() ?? .nan
        let counts = d.tasks.map(\.trainLabelled)
        let sizeRatio = Double(counts.max() ?? 1) / Double(max(counts.min() ?? 1, 1))
        let mixedKinds = Set(kinds.map { $0 == .regression }).count > 1
        func f(_ x: Double) -> String { x.isFinite ? String(format: "%.2f", x) : "n/a" }
        var out: [Suggestion] = []
        let conflictText = "gradients conflict on \(f(conflict * 100)) % of (step, pair); lowest pair cosine \(f(minCos))"
        if conflict >= 0.3 || negativeAffinity > 0 {
            out.append(Suggestion(candidate: .init(architecture: .cgc, weighting: .equal),
                                  reason: "the tasks pull apart (\(conflictText); \(negativeAffinity) of \(affinityPairs) affinities negative): task-specific experts keep each task's own features"))
            out.append(Suggestion(candidate: .init(architecture: .mmoe, weighting: .pcgrad),
                                  reason: "per-task gates over shared experts, with conflicting gradient components projected away"))
            out.append(Suggestion(candidate: .init(architecture: .hardSharing, weighting: .cagrad),
                                  reason: "the cheapest shared model, with the update that protects the worst-off task"))
        } else {
            out.append(Suggestion(candidate: .init(architecture: .hardSharing, weighting: mixedKinds ? .uncertainty : .equal),
                                  reason: "the tasks agree (\(conflictText)): one shared trunk is the cheapest way to share" + (mixedKinds ? "; regression and classification losses differ in scale, so uncertainty weighting sets their balance" : "")))
            out.append(Suggestion(candidate: .init(architecture: .mmoe, weighting: .equal),
                                  reason: "per-task gates cost little and leave room should the tasks diverge later in training"))
        }
        if sizeRatio > 5 {
            out.append(Suggestion(candidate: .init(architecture: .hardSharing, weighting: .uncertainty),
                                  reason: "labelled rows differ \(f(sizeRatio))-fold between tasks: the smaller task is the likeliest to gain from sharing, and its loss needs a learned weight"))
        }
        var seen = Set<String>()
        return out.filter { seen.insert($0.candidate.name).inserted }
    }
}
