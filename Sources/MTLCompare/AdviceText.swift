import Foundation
import MTLTraining

/// `advise`'s terminal output.
public enum AdviceText {
    public static func render(_ r: Relationships, data d: DataSummary, shortlist: [Advice.Suggestion]) -> String {
        func f(_ x: Double, _ k: Int = 3) -> String { x.isFinite ? String(format: "%.\(k)f", x) : "n/a" }
        let names = r.tasks
        let t = names.count
        var out = ["Data:"]
        for task in d.tasks {
            var l = "  \(task.task) (\(task.kind.rawValue)): \(task.trainLabelled) labelled training rows"
            if let p = task.positiveShare { l += ", \(f(100 * p, 1)) % positive" }
            if let p = task.largestClassShare { l += ", largest class \(f(100 * p, 1)) %" }
            out.append(l)
        }
        for pr in d.labelCorrelation {
            out.append("  label correlation \(pr.a)/\(pr.b): " + (pr.value.map { "\(f($0)) (\(pr.measure), \(pr.rows) rows)" }
                ?? (pr.measure == "multilabel" ? "n/a (a multi-label task)" : "n/a (\(pr.rows) rows carry both labels, fewer than 10)")))
        }
        out.append("Task relationships (\(r.measuredSteps) measured steps, \(r.sharedParameters) shared parameters):")
        if r.measuredSteps < Advice.fewMeasurements {
            out.append("  warning: only \(r.measuredSteps) measured steps: too few for the cosines, conflicts and affinities below (and the shortlist) to be trusted; raise compare.probe_epochs or lower compare.probe_every")
        }
        let cos = r.gradientCosine, share = r.conflictShare, aff = r.affinity
        for i in 0..<t {
            for j in 0..<t where j > i && cos.count == t * t && share.count == t * t && aff.count == t * t {
                out.append("  \(names[i])/\(names[j]): mean gradient cosine \(f(cos[i * t + j])), in conflict on \(f(100 * share[i * t + j], 0)) % of steps; affinity \(names[i])→\(names[j]) \(String(format: "%.2e", aff[i * t + j])), \(names[j])→\(names[i]) \(String(format: "%.2e", aff[j * t + i]))")
            }
        }
        out.append("Shortlist (confirm with `mtl-worker compare`):")
        for (k, s) in shortlist.enumerated() { out.append("  \(k + 1). \(s.candidate.name): \(s.reason)") }
        out.append("As a compare: section:")
        out.append("compare:\n  candidates:")
        for s in shortlist { out.append("    - {architecture: \(s.candidate.architecture.rawValue), weighting: \(s.candidate.weighting.rawValue)}") }
        return out.joined(separator: "\n")
    }
}
