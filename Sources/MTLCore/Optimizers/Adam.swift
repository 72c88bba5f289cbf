/// Adam (Kingma and Ba, ICLR 2015) with bias correction; `decoupled` gives AdamW (Loshchilov and
/// Hutter, ICLR 2019): weight decay applied to the parameters, not added to the gradient.
public struct Adam: Optimizer {
    public var beta1: Float
    public var beta2: Float
    public var epsilon: Float
    public var weightDecay: Float
    public var decoupled: Bool
    public init(beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8, weightDecay: Float = 0, decoupled: Bool = false) {
        self.beta1 = beta1; self.beta2 = beta2; self.epsilon = epsilon
        self.weightDecay = weightDecay; self.decoupled = decoupled
    }
    public var name: String { decoupled ? "adamw" : "adam" }
    public var stateMultiplier: Int { 2 }

    // state: m in [0, count), v in [count, 2 count)
    public func update(parameters p: UnsafeMutablePointer<Float>, gradients g: UnsafePointer<Float>,
                       state: UnsafeMutablePointer<Float>, count: Int, learningRate lr: Float, step: Int) {
        update(parameters: p, gradients: g, state: state, total: count, offset: 0, count: count, learningRate: lr, step: step)
    }

    public func update(parameters p0: UnsafeMutablePointer<Float>, gradients g0: UnsafePointer<Float>,
                       state: UnsafeMutablePointer<Float>, total: Int, offset: Int, count: Int, learningRate lr: Float, step: Int) {
        let p = p0 + offset, g = g0 + offset, m = state + offset, v = state + total + offset
        let b1 = beta1, b2 = beta2, eps = epsilon
        let c1 = 1 - Float(Double(b1).power(step)), c2 = 1 - Float(Double(b2).power(step))
        let stepSize = lr / c1
        let c2Root = c2.squareRoot()
        let l2 = decoupled ? 0 : weightDecay
        let decay = decoupled ? 1 - lr * weightDecay : 1
        VectorKernels.adam(p: p, g: g, m: m, v: v, count: count, beta1: b1, beta2: b2, epsilon: eps,
                           stepSize: stepSize, c2Root: c2Root, l2: l2, decay: decay)
    }
}

extension Double {
    /// self^n for a non-negative integer n, by repeated squaring (exact order, no libm).
    func power(_ n: Int) -> Double {
        var result = 1.0, base = self, e = n
        while e > 0 {
            if e & 1 == 1 { result *= base }
            base *= base
            e >>= 1
        }
        return result
    }
}
