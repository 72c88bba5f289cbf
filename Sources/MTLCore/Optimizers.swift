/// An update rule over flat buffers: parameters, their gradients and the rule's own state,
/// all in fixed order, so the update is one loop and its state one checkpoint tensor.
public protocol Optimizer {
    /// The rule's name as written in configs and checkpoints.
    var name: String { get }
    /// Floats of state per parameter (SGD with momentum 1, Adam 2).
    var stateMultiplier: Int { get }
    /// Applies one update; `step` counts from 1.
    func update(parameters: UnsafeMutablePointer<Float>, gradients: UnsafePointer<Float>,
                state: UnsafeMutablePointer<Float>, count: Int, learningRate: Float, step: Int)
    /// Applies one update to the elements [offset, offset + count) of buffers of `total` elements
    /// (state laid out for `total`), leaving every other element and its state as they are.
    func update(parameters: UnsafeMutablePointer<Float>, gradients: UnsafePointer<Float>,
                state: UnsafeMutablePointer<Float>, total: Int, offset: Int, count: Int, learningRate: Float, step: Int)
}

/// Stochastic gradient descent with momentum and L2 weight decay, as PyTorch's SGD:
/// g += wd p; v = mu v + g; p -= lr (nesterov ? g + mu v : v).
public struct SGD: Optimizer {
    public var momentum: Float
    public var weightDecay: Float
    public var nesterov: Bool
    public init(momentum: Float = 0, weightDecay: Float = 0, nesterov: Bool = false) {
        self.momentum = momentum; self.weightDecay = weightDecay; self.nesterov = nesterov
    }
    public var name: String { "sgd" }
    public var stateMultiplier: Int { 1 }

    public func update(parameters p: UnsafeMutablePointer<Float>, gradients g: UnsafePointer<Float>,
                       state: UnsafeMutablePointer<Float>, total: Int, offset: Int, count: Int, learningRate: Float, step: Int) {
        update(parameters: p + offset, gradients: g + offset, state: state + offset, count: count, learningRate: learningRate, step: step)
    }

    public func update(parameters p: UnsafeMutablePointer<Float>, gradients g: UnsafePointer<Float>,
                       state v: UnsafeMutablePointer<Float>, count: Int, learningRate lr: Float, step: Int) {
        for i in 0..<count {
            let grad = g[i] + weightDecay * p[i]
            let vel = momentum * v[i] + grad
            v[i] = vel
            p[i] -= lr * (nesterov ? grad + momentum * vel : vel)
        }
    }
}

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

/// Learning rate over steps: linear warm-up from 0, then constant, cosine or linear decay to
/// `minimum` at `totalSteps`.
public struct LearningRateSchedule: Equatable, Sendable {
    public enum Decay: String, Sendable, CaseIterable { case constant, cosine, linear }
    public var base: Float
    public var warmupSteps: Int
    public var decay: Decay
    public var totalSteps: Int
    public var minimum: Float

    public init(base: Float, warmupSteps: Int = 0, decay: Decay = .constant, totalSteps: Int, minimum: Float = 0) {
        self.base = base; self.warmupSteps = warmupSteps; self.decay = decay
        self.totalSteps = totalSteps; self.minimum = minimum
    }

    /// The rate for `step`, counting from 1.
    public func rate(at step: Int) -> Float {
        if warmupSteps > 0 && step <= warmupSteps { return base * Float(step) / Float(warmupSteps) }
        let span = max(totalSteps - warmupSteps, 1)
        let progress = min(max(Double(step - warmupSteps) / Double(span), 0), 1)
        switch decay {
        case .constant: return base
        case .linear: return minimum + (base - minimum) * Float(1 - progress)
        case .cosine: return minimum + (base - minimum) * Float(0.5 * (1 + _cos(Double.pi * progress)))
        }
    }
}
