import Foundation
import MTLCore
import MTLDistributed

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
public final class RelationshipProbe {
    public let every: Int
    public let taskNames: [String]
    public private(set) var steps = 0
    var cosineSum: [Double]
    var conflictCount: [Int]
    var affinitySum: [Double]
    var affinityCount: [Int]
    /// Set when the model shares no parameters between tasks (nothing to measure).
    public internal(set) var sharedParameters = 0
    /// The task gradients (T x S) and the saved shared parameters (S), allocated once by `attach`.
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

    public var json: [String: Any] {
        ["tasks": taskNames, "measured_steps": steps, "every": every, "shared_parameters": sharedParameters,
         "gradient_cosine": meanCosine, "conflict_share": conflictShare, "affinity": meanAffinity,
         "overall_conflict_share": overallConflictShare]
    }
}

extension Trainer {
    /// Starts measuring task relationships every `every` steps (before the step's own update, on
    /// its batch). Finds the shared parameters the way gradient methods do.
    public func attach(probe p: RelationshipProbe) {
        if sharedEntries.isEmpty && otherEntries.isEmpty {
            let (shared, other) = probeSharing()
            sharedEntries = shared; otherEntries = other
            sharedCount = shared.reduce(0) { $0 + $1.count }
        }
        if zeroOutputs.isEmpty {
            zeroOutputs = tasks.map { FloatBuffer(count: model.members * localCapacity * $0.outputs) }
        }
        p.sharedParameters = sharedCount
        p.gradients = [Float](repeating: 0, count: tasks.count * sharedCount)
        p.savedShared = [Float](repeating: 0, count: sharedCount)
        probe = p
    }

    /// This step's task losses over the global batch (each task's mean over its labelled rows),
    /// from the forward pass just made; leaves each task's output gradient in `outputGradients`.
    func globalTaskLosses(localCount: Int) throws -> [Double] {
        let members = model.members
        var losses = [Double](repeating: 0, count: tasks.count)
        if localCount > 0 {
            for (t, task) in tasks.enumerated() {
                let k = task.outputs
                let out = model.output(t).pointer, g = outputGradients[t].pointer
                for member in 0..<members {
                    let count = taskLabelCounts[t * members + member]
                    let loss = Self.taskLoss(task, Matrix(out + member * localCount * k, rows: localCount, cols: k),
                                             target: batchTargets[t].pointer, mask: batchMasks[t].pointer + member * localCount,
                                             scale: count > 0 ? 1 / count : 0, gradient: g + member * localCount * k)
                    losses[t] += count > 0 ? loss / Double(count) / Double(members) : 0
                }
            }
        }
        try comm.allreduceSum(&losses)
        return losses
    }

    /// One measurement on the step's batch: the task gradients on the shared parameters (one
    /// backward pass per task, summed over the ranks), their Gram matrix, and for each task a
    /// lookahead step on its gradient alone followed by every task's loss. Parameters and
    /// gradients are left as they were.
    func measureRelationships(_ p: RelationshipProbe, localCount: Int) throws {
        let t = tasks.count, s = sharedCount, members = model.members
        guard s > 0, t > 1 else { return }
        if localCount > 0 { forwardBatch(localCount: localCount) }
        let before = try globalTaskLosses(localCount: localCount)
        let g = model.store.gradients.pointer
        for task in 0..<t {
            model.store.zeroGradients()
            if localCount > 0 {
                model.backward { u in (u == task ? self.outputGradients[u] : self.zeroOutputs[u]).matrix(rows: members * localCount, cols: self.tasks[u].outputs) }
            }
            var o = task * s
            for e in sharedEntries { for i in 0..<e.count { p.gradients[o + i] = g[e.offset + i] }; o += e.count }
        }
        model.store.zeroGradients()
        try comm.allreduceSum(&p.gradients)
        let grads = p.gradients
        let gram = grads.withUnsafeBufferPointer { GradientBalancing.gram($0.baseAddress!, tasks: t, length: s, stride: s) }

        let values = model.store.values.pointer
        var o = 0
        for e in sharedEntries { for i in 0..<e.count { p.savedShared[o + i] = values[e.offset + i] }; o += e.count }
        let saved = p.savedShared
        let rate = schedule.rate(at: step)
        var after: [[Double]] = []
        for task in 0..<t {
            o = 0
            for e in sharedEntries {
                for i in 0..<e.count { values[e.offset + i] = saved[o + i] - rate * grads[task * s + o + i] }
                o += e.count
            }
            if localCount > 0 { forwardBatch(localCount: localCount) }
            after.append(try globalTaskLosses(localCount: localCount))
        }
        o = 0
        for e in sharedEntries { for i in 0..<e.count { values[e.offset + i] = saved[o + i] }; o += e.count }
        p.record(gram: gram, before: before, after: after)
    }
}

/// What the data says about the tasks before any training: labelled rows per split, the
/// positive share or class balance, and label correlations where tasks label the same rows.
public enum TaskData {
    /// Pearson correlation of two tasks' targets (binary or regression) or Cramér's V (when a
    /// multiclass task is involved), over the training rows labelled for both; nil when fewer
    /// than 10 rows carry both labels or a task is multi-label.
    public static func labelCorrelation(_ split: EncodedSplit, _ tasks: [Preprocessor.TaskEncoding], _ a: Int, _ b: Int) -> (value: Double, kind: String, rows: Int)? {
        let ta = tasks[a], tb = tasks[b]
        guard ta.taskKind != .multilabel, tb.taskKind != .multilabel else { return nil }
        let rows = (0..<split.rows).filter { split.masks[a][$0] != 0 && split.masks[b][$0] != 0 }
        guard rows.count >= 10 else { return nil }
        let x = rows.map { Double(split.targets[a][$0]) }, y = rows.map { Double(split.targets[b][$0]) }
        if ta.taskKind == .multiclass || tb.taskKind == .multiclass {
            guard ta.taskKind != .regression, tb.taskKind != .regression else { return nil }
            return (cramersV(x.map { Int($0) }, y.map { Int($0) }), "cramers_v", rows.count)
        }
        return (pearson(x, y), "pearson", rows.count)
    }

    static func pearson(_ x: [Double], _ y: [Double]) -> Double {
        let n = Double(x.count)
        let mx = x.reduce(0, +) / n, my = y.reduce(0, +) / n
        var sxy = 0.0, sxx = 0.0, syy = 0.0
        for i in x.indices { let dx = x[i] - mx, dy = y[i] - my; sxy += dx * dy; sxx += dx * dx; syy += dy * dy }
        return sxx > 0 && syy > 0 ? sxy / (sxx * syy).squareRoot() : 0
    }

    /// Cramér's V = sqrt(chi^2 / (n (min(r, c) - 1))) of the contingency table.
    static func cramersV(_ x: [Int], _ y: [Int]) -> Double {
        let xs = Array(Set(x)).sorted(), ys = Array(Set(y)).sorted()
        guard xs.count > 1, ys.count > 1 else { return 0 }
        let xi = Dictionary(uniqueKeysWithValues: xs.enumerated().map { ($1, $0) })
        let yi = Dictionary(uniqueKeysWithValues: ys.enumerated().map { ($1, $0) })
        var table = [Double](repeating: 0, count: xs.count * ys.count)
        for k in x.indices { table[xi[x[k]]! * ys.count + yi[y[k]]!] += 1 }
        let n = Double(x.count)
        var rowSum = [Double](repeating: 0, count: xs.count), colSum = [Double](repeating: 0, count: ys.count)
        for i in xs.indices { for j in ys.indices { rowSum[i] += table[i * ys.count + j]; colSum[j] += table[i * ys.count + j] } }
        var chi2 = 0.0
        for i in xs.indices {
            for j in ys.indices {
                let e = rowSum[i] * colSum[j] / n
                if e > 0 { chi2 += (table[i * ys.count + j] - e) * (table[i * ys.count + j] - e) / e }
            }
        }
        return (chi2 / (n * Double(min(xs.count, ys.count) - 1))).squareRoot()
    }

    /// Labelled rows per task and split, the label balance, and the pairwise label correlations.
    public static func summary(_ data: LoadedData) -> [String: Any] {
        let tasks = data.preprocessor.tasks
        var perTask: [[String: Any]] = []
        for (t, task) in tasks.enumerated() {
            var o: [String: Any] = ["task": task.name, "kind": task.kind, "train_labelled": data.train.labelCounts[t],
                                    "validation_labelled": data.validation?.labelCounts[t] ?? 0,
                                    "test_labelled": data.test?.labelCounts[t] ?? 0]
            let m = data.train.masks[t], y = data.train.targets[t]
            switch task.taskKind {
            case .binary:
                var pos = 0.0, n = 0.0
                for r in 0..<data.train.rows where m[r] != 0 { n += 1; pos += Double(y[r]) }
                o["positive_share"] = n > 0 ? pos / n : Double.nan
            case .multiclass:
                var counts = [Double](repeating: 0, count: task.classes.count)
                for r in 0..<data.train.rows where m[r] != 0 { counts[Int(y[r])] += 1 }
                let n = counts.reduce(0, +)
                o["largest_class_share"] = n > 0 ? (counts.max() ?? 0) / n : Double.nan
                o["classes"] = task.classes.count
            case .multilabel:
                o["classes"] = task.classes.count
            case .regression: break
            }
            perTask.append(o)
        }
        var pairs: [[String: Any]] = []
        for a in tasks.indices {
            for b in tasks.indices where b > a {
                if let c = labelCorrelation(data.train, tasks, a, b) {
                    pairs.append(["a": tasks[a].name, "b": tasks[b].name, "value": c.value, "measure": c.kind, "rows": c.rows])
                } else {
                    pairs.append(["a": tasks[a].name, "b": tasks[b].name, "measure": "none", "rows": 0])
                }
            }
        }
        return ["tasks": perTask, "label_correlation": pairs, "train_rows": data.train.rows]
    }
}
