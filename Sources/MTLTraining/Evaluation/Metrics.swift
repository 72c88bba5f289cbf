import Foundation

/// Whole-split evaluation metrics, computed over the labelled rows of one task.
public enum Metrics {
    /// ROC-AUC by the rank-sum (Mann-Whitney) statistic, ties given their average rank.
    /// NaN when one class is absent.
    public static func rocAUC(scores: [Double], labels: [Bool]) -> Double {
        let n = scores.count
        let order = (0..<n).sorted { scores[$0] < scores[$1] }
        var rankSumPositive = 0.0
        var positives = 0
        var i = 0
        while i < n {
            var j = i
            while j + 1 < n && scores[order[j + 1]] == scores[order[i]] { j += 1 }
            let averageRank = Double(i + j + 2) / 2
            for k in i...j where labels[order[k]] { rankSumPositive += averageRank; positives += 1 }
            i = j + 1
        }
        let negatives = n - positives
        guard positives > 0, negatives > 0 else { return .nan }
        return (rankSumPositive - Double(positives) * Double(positives + 1) / 2) / (Double(positives) * Double(negatives))
    }

    /// PR-AUC as average precision (scikit-learn's definition): sum over thresholds of
    /// (R_k - R_{k-1}) P_k, tied scores forming one threshold.
    public static func averagePrecision(scores: [Double], labels: [Bool]) -> Double {
        let n = scores.count
        let order = (0..<n).sorted { scores[$0] > scores[$1] }
        let totalPositive = labels.reduce(0) { $0 + ($1 ? 1 : 0) }
        guard totalPositive > 0 else { return .nan }
        var tp = 0, fp = 0, previousRecall = 0.0, ap = 0.0
        var i = 0
        while i < n {
            var j = i
            while j + 1 < n && scores[order[j + 1]] == scores[order[i]] { j += 1 }
            for k in i...j { if labels[order[k]] { tp += 1 } else { fp += 1 } }
            let recall = Double(tp) / Double(totalPositive)
            let precision = Double(tp) / Double(tp + fp)
            ap += (recall - previousRecall) * precision
            previousRecall = recall
            i = j + 1
        }
        return ap
    }

    /// F1 of the positive class.
    public static func f1(predicted: [Bool], labels: [Bool]) -> Double {
        var tp = 0, fp = 0, fn = 0
        for (p, y) in zip(predicted, labels) {
            if p && y { tp += 1 } else if p { fp += 1 } else if y { fn += 1 }
        }
        let d = 2 * tp + fp + fn
        return d == 0 ? 0 : 2 * Double(tp) / Double(d)
    }

    /// Binary metrics from positive-class probabilities.
    public static func binary(probabilities: [Double], labels: [Bool]) -> MetricValues {
        let eps = 1e-7
        var logLoss = 0.0, correct = 0
        for (p, y) in zip(probabilities, labels) {
            let q = min(max(p, eps), 1 - eps)
            logLoss -= y ? Foundation.log(q) : Foundation.log(1 - q)
            if (p >= 0.5) == y { correct += 1 }
        }
        let n = Double(max(labels.count, 1))
        return MetricValues([.rocAUC: rocAUC(scores: probabilities, labels: labels),
                .prAUC: averagePrecision(scores: probabilities, labels: labels),
                .accuracy: Double(correct) / n,
                .f1: f1(predicted: probabilities.map { $0 >= 0.5 }, labels: labels),
                .logLoss: logLoss / n])
    }

    /// Multiclass metrics from class probabilities (rows of `classes` values): accuracy, macro
    /// F1, log-loss, and macro one-vs-rest ROC-AUC and PR-AUC over the classes present.
    public static func multiclass(probabilities: [[Double]], labels: [Int], classes: Int) -> MetricValues {
        let n = labels.count
        var correct = 0, logLoss = 0.0
        var predicted = [Int](repeating: 0, count: n)
        for i in 0..<n {
            let p = probabilities[i]
            var best = 0
            for c in 1..<classes where p[c] > p[best] { best = c }
            predicted[i] = best
            if best == labels[i] { correct += 1 }
            logLoss -= Foundation.log(min(max(p[labels[i]], 1e-7), 1))
        }
        var f1s: [Double] = [], aucs: [Double] = [], aps: [Double] = []
        for c in 0..<classes {
            let truth = labels.map { $0 == c }
            f1s.append(f1(predicted: predicted.map { $0 == c }, labels: truth))
            let scores = probabilities.map { $0[c] }
            let auc = rocAUC(scores: scores, labels: truth)
            if !auc.isNaN { aucs.append(auc); aps.append(averagePrecision(scores: scores, labels: truth)) }
        }
        let mean: ([Double]) -> Double = { $0.isEmpty ? .nan : $0.reduce(0, +) / Double($0.count) }
        return MetricValues([.accuracy: Double(correct) / Double(max(n, 1)), .f1: mean(f1s), .logLoss: logLoss / Double(max(n, 1)),
                .rocAUC: mean(aucs), .prAUC: mean(aps)])
    }

    /// Multi-label metrics from per-class probabilities (rows of `classes` values) at a decision
    /// threshold per class (`threshold` in the result: their mean): macro F1 (`f1`, the mean over
    /// classes), micro F1 (over all row-class pairs), exact-match accuracy, the mean per-class ROC-AUC and PR-AUC over the classes that have
    /// both labels, and log-loss (mean over classes).
    public static func multilabel(probabilities: [[Double]], labels: [[Bool]], classes: Int, thresholds threshold: [Double]) -> MetricValues {
        precondition(threshold.count == classes, "one threshold per class")
        let n = labels.count
        var tp = 0, fp = 0, fn = 0, exact = 0, logLoss = 0.0
        for i in 0..<n {
            var all = true
            for c in 0..<classes {
                let p = probabilities[i][c] >= threshold[c], y = labels[i][c]
                if p && y { tp += 1 } else if p { fp += 1 } else if y { fn += 1 }
                if p != y { all = false }
                let q = min(max(probabilities[i][c], 1e-7), 1 - 1e-7)
                logLoss -= y ? Foundation.log(q) : Foundation.log(1 - q)
            }
            if all { exact += 1 }
        }
        var f1s: [Double] = [], aucs: [Double] = [], aps: [Double] = []
        for c in 0..<classes {
            let truth = labels.map { $0[c] }, scores = probabilities.map { $0[c] }
            f1s.append(f1(predicted: scores.map { $0 >= threshold[c] }, labels: truth))
            let auc = rocAUC(scores: scores, labels: truth)
            if !auc.isNaN { aucs.append(auc); aps.append(averagePrecision(scores: scores, labels: truth)) }
        }
        let mean: ([Double]) -> Double = { $0.isEmpty ? .nan : $0.reduce(0, +) / Double($0.count) }
        let d = 2 * tp + fp + fn
        return MetricValues([.f1: mean(f1s), .microF1: d == 0 ? 0 : 2 * Double(tp) / Double(d),
                .accuracy: Double(exact) / Double(max(n, 1)), .rocAUC: mean(aucs), .prAUC: mean(aps),
                .logLoss: logLoss / Double(max(n * classes, 1)), .threshold: mean(threshold)])
    }

    /// Decision thresholds from the grid 0.05, 0.10, ..., 0.95 (the lowest on ties): one per class,
    /// each the best for its class's F1 when `perClass`, else one for all classes, the best for
    /// their macro F1. Returns one threshold per class.
    public static func tunedThresholds(probabilities: [[Double]], labels: [[Bool]], classes: Int, perClass: Bool = false) -> [Double] {
        let grid = (1...19).map { Double($0) * 0.05 }
        // f1s[g][c]: class c's F1 at grid[g].
        let f1s = grid.map { th in (0..<classes).map { c in f1(predicted: probabilities.map { $0[c] >= th }, labels: labels.map { $0[c] }) } }
        func best(_ score: (Int) -> Double) -> Double {
            var pick = (threshold: 0.5, score: -Double.infinity)
            for g in grid.indices where score(g) > pick.score + 1e-12 { pick = (grid[g], score(g)) }
            return pick.threshold
        }
        if perClass { return (0..<classes).map { c in best { f1s[$0][c] } } }
        return [Double](repeating: best { f1s[$0].reduce(0, +) / Double(max(classes, 1)) }, count: classes)
    }

    /// Regression metrics in the target's own units.
    public static func regression(predictions: [Double], targets: [Double]) -> MetricValues {
        let n = Double(max(targets.count, 1))
        var se = 0.0, ae = 0.0
        for (p, y) in zip(predictions, targets) { se += (p - y) * (p - y); ae += abs(p - y) }
        let mean = targets.reduce(0, +) / n
        let total = targets.reduce(0) { $0 + ($1 - mean) * ($1 - mean) }
        return MetricValues([.rmse: (se / n).squareRoot(), .mae: ae / n, .r2: total > 0 ? 1 - se / total : .nan])
    }
}
