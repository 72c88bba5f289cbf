import MTLCore
import MTLData

/// The training objective of each task kind over a block of one task's outputs.
public enum TaskLoss {
    /// The summed loss of one task's block (rows of `task.outputs`) and its gradient, scaled by
    /// `scale` (see `Loss`).
    public static func compute(_ task: Preprocessor.TaskEncoding, _ output: Matrix, target: UnsafePointer<Float>,
                               mask: UnsafePointer<Float>, scale: Float, gradient: UnsafeMutablePointer<Float>) -> Double {
        switch task.kind {
        case .binary:
            return Loss.binaryCrossEntropyWithLogits(logits: output.pointer, targets: target, mask: mask, rows: output.rows,
                                                     scale: scale, gradient: gradient)
        case .multiclass:
            return Loss.softmaxCrossEntropy(logits: output.pointer, targets: target, mask: mask, rows: output.rows,
                                            classes: task.outputs, scale: scale, gradient: gradient)
        case .regression:
            return Loss.meanSquaredError(predictions: output.pointer, targets: target, mask: mask, rows: output.rows,
                                         scale: scale, gradient: gradient)
        case .multilabel:
            guard let weights = task.classWeights else {
                return Loss.multiLabelCrossEntropy(logits: output.pointer, targets: target, mask: mask, rows: output.rows,
                                                   classes: task.outputs, scale: scale, gradient: gradient)
            }
            return weights.withUnsafeBufferPointer {
                Loss.multiLabelCrossEntropy(logits: output.pointer, targets: target, mask: mask, rows: output.rows,
                                            classes: task.outputs, scale: scale, gradient: gradient, classWeights: $0.baseAddress)
            }
        }
    }
}
