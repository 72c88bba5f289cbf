/// What a forward pass needs to know beyond its input.
public struct ForwardContext {
    /// Training (dropout active) or evaluation.
    public var training: Bool
    /// The run's seed and the optimizer step: with `sampleIDs`, they fix every dropout mask.
    public var seed: UInt64
    public var step: UInt64
    /// For each row of the batch, its position in the global batch: dropout masks are drawn per
    /// global sample, so a rank's rows get the same masks as in a one-rank run.
    public var sampleIDs: UnsafePointer<Int>?

    public init(training: Bool, seed: UInt64 = 0, step: UInt64 = 0, sampleIDs: UnsafePointer<Int>? = nil) {
        self.training = training
        self.seed = seed
        self.step = step
        self.sampleIDs = sampleIDs
    }

    public static var evaluation: ForwardContext { ForwardContext(training: false) }
}

/// A differentiable layer with explicit forward and backward, in the style of llm.c:
/// forward keeps what backward needs; backward *adds* into the parameter gradients and returns
/// the gradient with respect to its input. Buffers are allocated once for `maxRows` rows.
public protocol Layer: AnyObject {
    var inputSize: Int { get }
    var outputSize: Int { get }
    /// x: (rows, inputSize) -> (rows, outputSize). The returned matrix is owned by the layer and
    /// valid until its next forward; `x` must stay valid until the matching backward.
    func forward(_ x: Matrix, context: ForwardContext) -> Matrix
    /// dy: (rows, outputSize) -> dx: (rows, inputSize), owned by the layer.
    /// When `needsInputGradient` is false, dx is not computed and the returned matrix is unspecified.
    func backward(_ dy: Matrix, needsInputGradient: Bool) -> Matrix
}

/// Layers applied one after another.
public final class Sequential: Layer {
    public let layers: [Layer]
    public let inputSize: Int
    public let outputSize: Int

    public init(_ layers: [Layer], inputSize: Int) {
        self.layers = layers
        self.inputSize = inputSize
        self.outputSize = layers.last?.outputSize ?? inputSize
        var width = inputSize
        for l in layers {
            precondition(l.inputSize == width, "layer input \(l.inputSize) does not follow width \(width)")
            width = l.outputSize
        }
    }

    public func forward(_ x: Matrix, context: ForwardContext) -> Matrix {
        var h = x
        for l in layers { h = l.forward(h, context: context) }
        return h
    }

    public func backward(_ dy: Matrix, needsInputGradient: Bool) -> Matrix {
        var g = dy
        for (i, l) in layers.enumerated().reversed() {
            g = l.backward(g, needsInputGradient: i > 0 || needsInputGradient)
        }
        return g
    }
}
