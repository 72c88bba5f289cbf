#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Loss functions over a batch with a per-sample mask for missing labels.
///
/// The mask is a per-sample weight: 0 for a missing label, 1 for a present one (or a bootstrap
/// count). Each returns the weighted *sum* of the per-sample losses and writes
/// `scale * mask_i * d(loss_i)/d(logits_i)` into `gradient` (zero on masked rows). The trainer passes
/// `scale = weight / labelled rows in the global batch`, so the gradients of all ranks add up to
/// the gradient of the global-batch mean, whatever the number of ranks.
public enum Loss {
    /// log(1 + exp(-|z|)) + max(z, 0) - z y: binary cross-entropy with logits, stable for any z.
    public static func binaryCrossEntropyWithLogits(logits: UnsafePointer<Float>, targets: UnsafePointer<Float>,
                                                    mask: UnsafePointer<Float>, rows: Int, scale: Float,
                                                    gradient: UnsafeMutablePointer<Float>) -> Double {
        var total: Double = 0
        for i in 0..<rows {
            guard mask[i] != 0 else { gradient[i] = 0; continue }
            let z = logits[i], y = targets[i]
            let w = mask[i]
            total += Double(w * (max(z, 0) - z * y + log1pf(expf(-abs(z)))))
            gradient[i] = scale * w * (sigmoid(z) - y)
        }
        return total
    }

    /// Multi-label binary cross-entropy: one sigmoid per class, logits and targets (rows, classes),
    /// the mask per row. A row's loss is the mean over its classes, so a multi-label task weighs
    /// like one binary task whatever its class count.
    /// `classWeights`, when given, holds 2 x classes factors: a positive label of class c weighs
    /// classWeights[c], a negative one classWeights[classes + c] (class balancing).
    public static func multiLabelCrossEntropy(logits: UnsafePointer<Float>, targets: UnsafePointer<Float>,
                                              mask: UnsafePointer<Float>, rows: Int, classes: Int, scale: Float,
                                              gradient: UnsafeMutablePointer<Float>, classWeights: UnsafePointer<Float>? = nil) -> Double {
        var total: Double = 0
        let perClass = 1 / Float(classes)
        for i in 0..<rows {
            let z = logits + i * classes, y = targets + i * classes, g = gradient + i * classes
            guard mask[i] != 0 else { g.update(repeating: 0, count: classes); continue }
            let w = mask[i] * perClass
            var rowLoss: Float = 0
            for c in 0..<classes {
                let k = classWeights.map { y[c] >= 0.5 ? $0[c] : $0[classes + c] } ?? 1
                rowLoss += k * (max(z[c], 0) - z[c] * y[c] + log1pf(expf(-abs(z[c]))))
                g[c] = scale * w * k * (sigmoid(z[c]) - y[c])
            }
            total += Double(w * rowLoss)
        }
        return total
    }

    /// Softmax cross-entropy; `targets` hold class indices as Floats; logits are (rows, classes).
    public static func softmaxCrossEntropy(logits: UnsafePointer<Float>, targets: UnsafePointer<Float>,
                                           mask: UnsafePointer<Float>, rows: Int, classes: Int, scale: Float,
                                           gradient: UnsafeMutablePointer<Float>) -> Double {
        var total: Double = 0
        for i in 0..<rows {
            let z = logits + i * classes, g = gradient + i * classes
            guard mask[i] != 0 else { g.update(repeating: 0, count: classes); continue }
            var m = -Float.infinity
            for c in 0..<classes { m = max(m, z[c]) }
            var sum: Float = 0
            for c in 0..<classes { sum += expf(z[c] - m) }
            let logSum = m + logf(sum)
            let label = Int(targets[i])
            let w = mask[i]
            total += Double(w * (logSum - z[label]))
            for c in 0..<classes { g[c] = scale * w * (expf(z[c] - logSum) - (c == label ? 1 : 0)) }
        }
        return total
    }

    /// Squared error (z - y)^2 per sample.
    public static func meanSquaredError(predictions: UnsafePointer<Float>, targets: UnsafePointer<Float>,
                                        mask: UnsafePointer<Float>, rows: Int, scale: Float,
                                        gradient: UnsafeMutablePointer<Float>) -> Double {
        var total: Double = 0
        for i in 0..<rows {
            guard mask[i] != 0 else { gradient[i] = 0; continue }
            let d = predictions[i] - targets[i], w = mask[i]
            total += Double(w * d * d)
            gradient[i] = scale * w * 2 * d
        }
        return total
    }

    @inline(__always)
    public static func sigmoid(_ z: Float) -> Float {
        z >= 0 ? 1 / (1 + expf(-z)) : { let e = expf(z); return e / (1 + e) }()
    }
}
