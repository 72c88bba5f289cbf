import Foundation
import MTLCore

extension GradientBalancing {
    /// Aligned-MTL (Senushkin et al., CVPR 2023): the task gradients are replaced by an orthogonal
    /// system of equal norms, B G with B = sigma_min V Lambda^{-1/2} V^T from the eigenvalues
    /// Lambda and eigenvectors V of M (those above a rank tolerance), so no task dominates; with
    /// equal preferences the combined direction has coefficients alpha = column sums of B.
    public static func alignedMTL(gram m: [Double], tasks t: Int) -> [Double] {
        guard let (w, a) = LAPACK.symmetricEigen(m, n: t), let top = w.max(), top > 0 else { return [Double](repeating: 1, count: t) }
        // Eigenvector k is column k of the column-major result: a[k * t + i].
        let tolerance = top * Double(t) * Double(Float.ulpOfOne)
        let kept = (0..<t).filter { w[$0] > tolerance }
        let smallest = kept.map { w[$0] }.min()!
        var alpha = [Double](repeating: 0, count: t)
        for j in 0..<t {
            var sum = 0.0
            for i in 0..<t {
                var b = 0.0
                for k in kept { b += a[k * t + i] * a[k * t + j] / w[k].squareRoot() }
                sum += b
            }
            alpha[j] = smallest.squareRoot() * sum
        }
        return alpha
    }

    
}

/// Aligned-MTL (Senushkin et al., "Independent Component Alignment for Multi-Task Learning",
/// CVPR 2023).
public final class AlignedMTL: GradientWeighting {
    public var method: WeightingMethod { .alignedMTL }
    public let tasks: Int
    public init(tasks: Int) { self.tasks = tasks }

    public func coefficients(gram m: [Double], losses: [Double], step: Int, seed: UInt64, learningRate: Float) -> [Double] {
        GradientBalancing.alignedMTL(gram: m, tasks: tasks)
    }
}
