/// Scales the gradient so its global L2 norm is at most `maxNorm`; returns the norm before.
@discardableResult
public func clipGradientNorm(_ gradients: UnsafeMutablePointer<Float>, count: Int, maxNorm: Float) -> Float {
    var sum: Double = 0
    for i in 0..<count { sum += Double(gradients[i]) * Double(gradients[i]) }
    let norm = Float(sum.squareRoot())
    if maxNorm > 0 && norm > maxNorm {
        let s = maxNorm / (norm + 1e-6)
        for i in 0..<count { gradients[i] *= s }
    }
    return norm
}
