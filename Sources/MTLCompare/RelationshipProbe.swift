import Foundation
import MTLCore
import MTLTraining
import MTLWeighting

/// Task relationships measured while a model trains, on the parameters the tasks share:
///
/// - gradient cosine similarity: for every measured step, cos(g_i, g_j) of the tasks' gradients
///   of the global batch on the shared parameters; its mean and the share of steps in conflict
///   (cosine < 0), as in the analyses of PCGrad (Yu et al., NeurIPS 2020);
/// - inter-task affinity (Fifty et al., "Efficiently Identifying Task Groupings for Multi-Task
///   Learning", NeurIPS 2021): Z(i -> j) = 1 - L_j(theta_s - lr g_i) / L_j(theta_s), how a step
///   on task i's gradient alone changes task j's loss on the same batch (positive: i helps j).
///   The lookahead is a plain gradient step with the schedule's learning rate, so the values are
///   small for adaptive optimizers; their signs and ratios are what compare tasks.
///
/// Every rank computes the same numbers: the task gradients and losses are sums over the ranks.
/// It is a `TrainingHook`: the trainer calls it, and it works only through `StepInspector`.
public final class RelationshipProbe: TrainingHook {
    public let every: Int
    public let taskNames: [String]
    public private(set) var steps = 0
    var cosineSum: [Double]
    var conflictCount: [Int]
    var affinitySum: [Double]
    var affinityCount: [Int]
    /// The shared parameter count (0: the model shares nothing between tasks, nothing to measure).
    public private(set) var sharedParameters = 0
    /// The task gradients (T x S) and the saved shared parameters (S), allocated once by `prepare`.
    var gradients: [Float] = []
    var savedShared: [Float] = []
    /// The last measurement: the Gram matrix of the task gradients and the losses before the lookahead.
    public private(set) var lastGram: [Double] = []
    public private(set) var lastLosses: [Double] = []

    public init(taskNames: [String], every: Int) {
        precondition(every >= 1)
        self.every = every
        self.taskNames = taskNames
        let n = taskNames.count * taskNames.count
        cosineSum = [Double](repeating: 0, count: n)
        conflictCount = [Int](repeating: 0, count: n)
        affinitySum = [Double](repeating: 0, count: n)
        affinityCount = [Int](repeating: 0, count: n)
    }

    public func prepare(tasks: [String], sharedParameters s: Int) {
        sharedParameters = s
        gradients = [Float](repeating: 0, count: tasks.count * s)
        savedShared = [Float](repeating: 0, count: s)
    }

    /// One measurement on the step's batch: the task gradients on the shared parameters, their
    /// Gram matrix, and for each task a lookahead step on its gradient alone followed by every
    /// task's loss. Parameters are left as they were; gradients are left zero.
    public func measure(_ step: StepInspector) throws {
        let t = step.taskCount, s = step.sharedCount
        guard s > 0, t > 1 else { return }
        let before = try step.forwardAndTaskLosses()
        try step.sharedTaskGradients(into: &gradients)
        let grads = gradients
        let gram = grads.withUnsafeBufferPointer { b in
            b.baseAddress.map { GradientBalancing.gram($0, tasks: t, length: s, stride: s) } ?? []
        }
        let values = step.store.values.pointer
        let entries = step.sharedEntries
        var o = 0
        for e in entries { for i in 0..<e.count { savedShared[o + i] = values[e.offset + i] }; o += e.count }
        let saved = savedShared
        let rate = step.learningRate
        var after: [[Double]] = []
        for task in 0..<t {
            o = 0
            for e in entries {
                for i in 0..<e.count { values[e.offset + i] = saved[o + i] - rate * grads[task * s + o + i] }
                o += e.count
            }
            after.append(try step.forwardAndTaskLosses())
        }
        o = 0
        for e in entries { for i in 0..<e.count { values[e.offset + i] = saved[o + i] }; o += e.count }
        record(gram: gram, before: before, after: after)
    }

    /// Adds one step's Gram matrix of the task gradients and its losses before and after each lookahead.
    func record(gram: [Double], before: [Double], after: [[Double]]) {
        let t = taskNames.count
        steps += 1
        lastGram = gram; lastLosses = before
        for i in 0..<t {
            for j in 0..<t {
                let d = (gram[i * t + i] * gram[j * t + j]).squareRoot()
                let c = d > 0 ? gram[i * t + j] / d : 0
                cosineSum[i * t + j] += c
                if c < 0 { conflictCount[i * t + j] += 1 }
                if before[j] > 0, after[i][j].isFinite {
                    affinitySum[i * t + j] += 1 - after[i][j] / before[j]
                    affinityCount[i * t + j] += 1
                }
            }
        }
    }

    /// Mean cosine of task i's and j's gradients, row-major T x T.
    public var meanCosine: [Double] { cosineSum.map { steps > 0 ? $0 / Double(steps) : .nan } }
    /// Share of measured steps whose cosine was negative, row-major T x T.
    public var conflictShare: [Double] { conflictCount.map { steps > 0 ? Double($0) / Double(steps) : .nan } }
    /// Mean affinity Z(i -> j), row i (the task stepped on), column j (the task whose loss moves).
    public var meanAffinity: [Double] { zip(affinitySum, affinityCount).map { $1 > 0 ? $0 / Double($1) : .nan } }

    /// Share of (step, pair i < j) in conflict over all pairs.
    public var overallConflictShare: Double {
        let t = taskNames.count
        var c = 0, n = 0
        for i in 0..<t { for j in (i + 1)..<max(i + 1, t) { c += conflictCount[i * t + j]; n += steps } }
        return n > 0 ? Double(c) / Double(n) : .nan
    }

    /// What was measured, as the comparison's results hold it.
    public var result: Relationships {
        Relationships(tasks: taskNames, measuredSteps: steps, every: every, sharedParameters: sharedParameters,
                      gradientCosine: meanCosine, conflictShare: conflictShare, affinity: meanAffinity,
                      overallConflictShare: overallConflictShare)
    }
}

/// The measured task relationships (`results/relationships.json`, `results.json`): T x T
/// row-major matrices; NaN (null in JSON) where nothing was measured.
public struct Relationships: Codable, Sendable {
    public var tasks: [String]
    public var measuredSteps: Int
    public var every: Int
    public var sharedParameters: Int
    @NaNAsNull public var gradientCosine: [Double]
    @NaNAsNull public var conflictShare: [Double]
    @NaNAsNull public var affinity: [Double]
    @NaNAsNull public var overallConflictShare: Double

    public init(tasks: [String], measuredSteps: Int, every: Int, sharedParameters: Int, gradientCosine: [Double],
                conflictShare: [Double], affinity: [Double], overallConflictShare: Double) {
        self.tasks = tasks; self.measuredSteps = measuredSteps; self.every = every; self.sharedParameters = sharedParameters
        self.gradientCosine = gradientCosine; self.conflictShare = conflictShare; self.affinity = affinity
        self.overallConflictShare = overallConflictShare
    }

    enum CodingKeys: String, CodingKey {
        case tasks, every
        case measuredSteps = "measured_steps", sharedParameters = "shared_parameters", gradientCosine = "gradient_cosine"
        case conflictShare = "conflict_share", affinity, overallConflictShare = "overall_conflict_share"
    }
}
