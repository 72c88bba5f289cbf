import Foundation
import MTLData

extension Preprocessor.TaskEncoding {
    /// A task's decision from its predictions: binary 1 at 0.5 and above, multiclass the most
    /// probable class, multilabel the classes at or above their thresholds (tuned ones when
    /// given, else the configured one, else 0.5) joined by |, regression the value.
    public func decision(_ row: [Double], tuned: [Double]?) -> String {
        switch kind {
        case .binary: return row[0] >= 0.5 ? "1" : "0"
        case .regression: return String(format: "%.9g", row[0])
        case .multiclass:
            let best = row.indices.max { row[$0] < row[$1] } ?? 0
            return classes[best]
        case .multilabel:
            return chosen(row, tuned: tuned).map { classes[$0] }.joined(separator: "|")
        }
    }

    /// A multi-label task's classes at or above their thresholds.
    public func chosen(_ row: [Double], tuned: [Double]?) -> [Int] {
        let cut: [Double]
        if let t = tuned, t.count == row.count { cut = t } else if case .fixed(let v) = thresholdRule {
            cut = [Double](repeating: v, count: row.count)
        } else { cut = [Double](repeating: 0.5, count: row.count) }
        return row.indices.filter { row[$0] >= cut[$0] }
    }
}
