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
