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
