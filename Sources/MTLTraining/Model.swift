import MTLCore

/// One batch of model input: dense features and, in embedding mode, category indices.
public struct BatchInput {
    public var dense: Matrix
    public var categories: UnsafePointer<Int32>?
    public init(dense: Matrix, categories: UnsafePointer<Int32>?) {
        self.dense = dense
        self.categories = categories
    }
}

/// A multi-task model: one output block per task, explicit forward and backward over a
/// parameter store. Distribution never reaches into it: the trainer synchronises the store.
public protocol MultiTaskModel: AnyObject {
    var store: ParameterStore { get }
    var maxRows: Int { get }
    /// Output width of each task's head.
    var taskOutputs: [Int] { get }
    /// Computes every task's output for the batch.
    func forward(_ input: BatchInput, context: ForwardContext)
    /// Task `t`'s logits (or standardised values, for regression) from the last forward: (rows, outputs).
    func output(_ t: Int) -> Matrix
    /// Adds the parameter gradients for d(loss)/d(outputs); `gradient(t)` is task t's, (rows, outputs).
    func backward(_ gradient: (Int) -> Matrix)
}

/// Builds the architecture a config names.
public func makeModel(_ config: ModelConfig, preprocessor: Preprocessor, maxRows: Int, seed: UInt64) -> MultiTaskModel {
    switch config.architecture {
    default:
        return HardSharingModel(config, preprocessor: preprocessor, maxRows: maxRows, seed: seed)
    }
}

/// Hard parameter sharing, the design's "early fusion" (Caruana, Machine Learning 1997; Ruder,
/// arXiv:1706.05098): a shared MLP trunk over the input and one MLP head per task on the trunk's
/// last hidden layer. The trunk's gradient is the sum of the heads' input gradients.
public final class HardSharingModel: MultiTaskModel {
    public let store = ParameterStore()
    public let maxRows: Int
    public let taskOutputs: [Int]
    let embeddings: EmbeddingInput?
    let trunk: Sequential
    let heads: [Sequential]
    private let trunkGradient: FloatBuffer
    private var outputs: [Matrix]

    public init(_ config: ModelConfig, preprocessor: Preprocessor, maxRows: Int, seed: UInt64) {
        self.maxRows = maxRows
        taskOutputs = preprocessor.tasks.map(\.outputs)
        if preprocessor.encoding == "embedding" && !preprocessor.categorical.isEmpty {
            embeddings = EmbeddingInput(denseWidth: preprocessor.denseWidth, buckets: preprocessor.categorical.map(\.buckets),
                                        dim: preprocessor.embeddingDim, maxRows: maxRows, store: store)
        } else {
            embeddings = nil
        }
        let inputWidth = preprocessor.inputWidth
        let store = self.store
        let trunk = Self.mlp("trunk", input: inputWidth, hidden: config.trunk, output: nil, config: config, maxRows: maxRows, store: store)
        self.trunk = trunk
        heads = preprocessor.tasks.map { t in
            Self.mlp("head.\(t.name)", input: trunk.outputSize, hidden: config.head, output: t.outputs,
                     config: config, maxRows: maxRows, store: store)
        }
        trunkGradient = FloatBuffer(count: maxRows * trunk.outputSize)
        outputs = []
        store.materialize(seed: seed)
    }

    /// Linear -> [LayerNorm] -> activation -> [Dropout] per hidden width, then an optional
    /// output Linear.
    static func mlp(_ name: String, input: Int, hidden: [Int], output: Int?, config: ModelConfig,
                    maxRows: Int, store: ParameterStore) -> Sequential {
        var layers: [Layer] = []
        var width = input
        for (i, h) in hidden.enumerated() {
            layers.append(Linear("\(name).\(i).linear", inputSize: width, outputSize: h, maxRows: maxRows, store: store))
            if config.layerNorm { layers.append(LayerNorm("\(name).\(i).norm", size: h, maxRows: maxRows, store: store)) }
            layers.append(config.activation == "gelu" ? GELU(size: h, maxRows: maxRows) : ReLU(size: h, maxRows: maxRows))
            if config.dropout > 0 {
                layers.append(Dropout("\(name).\(i).dropout", size: h, probability: Float(config.dropout), maxRows: maxRows))
            }
            width = h
        }
        if let out = output {
            layers.append(Linear("\(name).out", inputSize: width, outputSize: out, maxRows: maxRows, store: store))
        }
        return Sequential(layers, inputSize: input)
    }

    public func forward(_ input: BatchInput, context: ForwardContext) {
        var x = input.dense
        if let e = embeddings, let idx = input.categories { x = e.forward(dense: input.dense, indices: idx) }
        let h = trunk.forward(x, context: context)
        if outputs.isEmpty { outputs = heads.map { $0.forward(h, context: context) }; return }
        for t in heads.indices { outputs[t] = heads[t].forward(h, context: context) }
    }

    public func output(_ t: Int) -> Matrix { outputs[t] }

    public func backward(_ gradient: (Int) -> Matrix) {
        let rows = outputs[0].rows
        let dh = trunkGradient.matrix(rows: rows, cols: trunk.outputSize)
        for (t, head) in heads.enumerated() {
            let g = head.backward(gradient(t), needsInputGradient: true)
            if t == 0 { dh.pointer.update(from: g.pointer, count: dh.count) }
            else { VectorKernels.add(g.pointer, into: dh.pointer, count: dh.count) }
        }
        let dx = trunk.backward(dh, needsInputGradient: embeddings != nil)
        embeddings?.backward(dx)
    }
}
