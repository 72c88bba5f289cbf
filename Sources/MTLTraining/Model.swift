import MTLCore

/// One batch of model input: dense features, in embedding mode category indices, and the
/// sparse input block (text, sparse numbers) when the data has one.
public struct BatchInput {
    public var dense: Matrix
    public var categories: UnsafePointer<Int32>?
    public var sparse: SparseBatch?
    public init(dense: Matrix, categories: UnsafePointer<Int32>?, sparse: SparseBatch? = nil) {
        self.dense = dense
        self.categories = categories
        self.sparse = sparse
    }
}

/// A multi-task model: one output block per task, explicit forward and backward over a
/// parameter store. Distribution never reaches into it: the trainer synchronises the store.
public protocol MultiTaskModel: AnyObject {
    var store: ParameterStore { get }
    var maxRows: Int { get }
    /// Output width of each task's head.
    var taskOutputs: [Int] { get }
    /// Independent members whose outputs are stacked (ensembles); 1 for other models.
    var members: Int { get }
    /// Computes every task's output for the batch.
    func forward(_ input: BatchInput, context: ForwardContext)
    /// Task `t`'s logits (or standardised values, for regression) from the last forward:
    /// (members * rows, outputs), member by member.
    func output(_ t: Int) -> Matrix
    /// Adds the parameter gradients for d(loss)/d(outputs); `gradient(t)` has `output(t)`'s shape.
    func backward(_ gradient: (Int) -> Matrix)
    /// The weight of a training row for a member (bootstrap resampling); 1 when not resampled.
    func sampleWeight(member: Int, row: Int) -> Float
}

extension MultiTaskModel {
    public var members: Int { 1 }
    public func sampleWeight(member: Int, row: Int) -> Float { 1 }
}

/// A model whose tasks all read one shared representation Z (rows x width), so that task
/// gradients can be taken at Z instead of at the shared parameters (LibMTL's `rep_grad`).
public protocol SharedRepresentationModel: MultiTaskModel {
    var representationWidth: Int { get }
    /// After a forward pass: adds task `t`'s own parameter gradients for `gradient` (its output's
    /// shape) and returns d loss_t / d Z, owned by the model and valid until the next call.
    func backwardTask(_ t: Int, gradient: Matrix) -> Matrix
    /// Adds the shared parameters' gradients for d loss / d Z.
    func backwardShared(_ gradient: Matrix)
}

/// The architectures with one shared representation.
public let representationArchitectures = ["hard-sharing"]

/// The architectures a config can name.
public let architectureNames = ["hard-sharing", "late-fusion", "single-task", "cross-stitch", "mmoe", "cgc", "ple",
                                "ensemble", "task-attention"]

/// Builds the architecture a config names, with its parameters initialised from `seed`.
public func makeModel(_ config: ModelConfig, preprocessor: Preprocessor, maxRows: Int, seed: UInt64) -> MultiTaskModel {
    let store = ParameterStore()
    let model = buildModel(config, architecture: config.architecture, preprocessor: preprocessor, maxRows: maxRows,
                           store: store, prefix: "", seed: seed)
    store.materialize(seed: seed)
    return model
}

/// Registers the parameters of an architecture in `store` under `prefix` (not yet materialised).
func buildModel(_ config: ModelConfig, architecture: String, preprocessor: Preprocessor, maxRows: Int,
                store: ParameterStore, prefix: String, seed: UInt64) -> MultiTaskModel {
    switch architecture {
    case "late-fusion": return TowerModel(config, fused: true, preprocessor: preprocessor, maxRows: maxRows, store: store, prefix: prefix)
    case "single-task": return TowerModel(config, fused: false, preprocessor: preprocessor, maxRows: maxRows, store: store, prefix: prefix)
    case "cross-stitch": return CrossStitchModel(config, preprocessor: preprocessor, maxRows: maxRows, store: store, prefix: prefix)
    case "mmoe": return ExtractionModel(config, levels: 1, taskExperts: 0, sharedExperts: config.experts,
                                        preprocessor: preprocessor, maxRows: maxRows, store: store, prefix: prefix)
    case "cgc": return ExtractionModel(config, levels: 1, taskExperts: config.taskExperts, sharedExperts: config.experts,
                                       preprocessor: preprocessor, maxRows: maxRows, store: store, prefix: prefix)
    case "ple": return ExtractionModel(config, levels: config.levels, taskExperts: config.taskExperts, sharedExperts: config.experts,
                                       preprocessor: preprocessor, maxRows: maxRows, store: store, prefix: prefix)
    case "ensemble": return EnsembleModel(config, preprocessor: preprocessor, maxRows: maxRows, store: store, prefix: prefix, seed: seed)
    case "task-attention": return TaskAttentionModel(config, preprocessor: preprocessor, maxRows: maxRows, store: store, prefix: prefix)
    default: return HardSharingModel(config, preprocessor: preprocessor, maxRows: maxRows, store: store, prefix: prefix)
    }
}

/// The model's input stage: the dense features, followed by one learned embedding per
/// categorical column in embedding mode, followed by the learned projection of the sparse block
/// (`model.sparse_projection` wide) when the data has text or sparse columns.
final class InputStage {
    let embeddings: EmbeddingInput?
    let sparse: SparseLinear?
    /// Width before the sparse projection, and in all.
    let baseWidth: Int
    let width: Int
    private let combined: FloatBuffer?

    init(_ preprocessor: Preprocessor, projection: Int, maxRows: Int, store: ParameterStore, prefix: String) {
        if preprocessor.encoding == "embedding" && !preprocessor.categorical.isEmpty {
            embeddings = EmbeddingInput(denseWidth: preprocessor.denseWidth, buckets: preprocessor.categorical.map(\.buckets),
                                        dim: preprocessor.embeddingDim, maxRows: maxRows, store: store, prefix: prefix)
        } else {
            embeddings = nil
        }
        baseWidth = preprocessor.inputWidth
        if preprocessor.sparseWidth > 0 {
            sparse = SparseLinear("\(prefix)sparse", inputSize: preprocessor.sparseWidth, outputSize: projection, maxRows: maxRows, store: store)
            width = baseWidth + projection
            combined = FloatBuffer(count: maxRows * width)
        } else {
            sparse = nil; width = baseWidth; combined = nil
        }
    }

    /// Whether anything upstream of the first layer learns (so its input gradient is needed).
    var needsGradient: Bool { embeddings != nil || sparse != nil }

    func forward(_ input: BatchInput) -> Matrix {
        var base = input.dense
        if let e = embeddings, let idx = input.categories { base = e.forward(dense: input.dense, indices: idx) }
        guard let s = sparse, let c = combined else { return base }
        guard let batch = input.sparse else { preconditionFailure("the model expects a sparse input block") }
        let projected = s.forward(batch)
        let rows = base.rows, y = c.matrix(rows: rows, cols: width)
        for r in 0..<rows {
            (y.pointer + r * width).update(from: base.pointer + r * baseWidth, count: baseWidth)
            (y.pointer + r * width + baseWidth).update(from: projected.pointer + r * s.outputSize, count: s.outputSize)
        }
        return y
    }

    func backward(_ dx: Matrix) {
        embeddings?.backward(dx)
        sparse?.backward(dx.pointer + baseWidth, stride: dx.cols)
    }
}

/// Linear -> [LayerNorm] -> activation -> [Dropout] per hidden width, then an optional output Linear.
func makeMLP(_ name: String, input: Int, hidden: [Int], output: Int?, config: ModelConfig,
             maxRows: Int, store: ParameterStore) -> Sequential {
    var layers: [Layer] = []
    var width = input
    for (i, h) in hidden.enumerated() {
        layers += hiddenUnit("\(name).\(i)", input: width, output: h, config: config, maxRows: maxRows, store: store)
        width = h
    }
    if let out = output {
        layers.append(Linear("\(name).out", inputSize: width, outputSize: out, maxRows: maxRows, store: store))
    }
    return Sequential(layers, inputSize: input)
}

/// One hidden layer: Linear -> [LayerNorm] -> activation -> [Dropout].
func hiddenUnit(_ name: String, input: Int, output: Int, config: ModelConfig, maxRows: Int, store: ParameterStore) -> [Layer] {
    var layers: [Layer] = [Linear("\(name).linear", inputSize: input, outputSize: output, maxRows: maxRows, store: store)]
    if config.layerNorm { layers.append(LayerNorm("\(name).norm", size: output, maxRows: maxRows, store: store)) }
    layers.append(activation(config, size: output, maxRows: maxRows))
    if config.dropout > 0 {
        layers.append(Dropout("\(name).dropout", size: output, probability: Float(config.dropout), maxRows: maxRows))
    }
    return layers
}

func activation(_ config: ModelConfig, size: Int, maxRows: Int) -> Layer {
    config.activation == "gelu" ? GELU(size: size, maxRows: maxRows) : ReLU(size: size, maxRows: maxRows)
}

/// Hard parameter sharing, the design's "early fusion" (Caruana, Machine Learning 1997; Ruder,
/// arXiv:1706.05098): a shared MLP trunk over the input and one MLP head per task on the trunk's
/// last hidden layer. The trunk's gradient is the sum of the heads' input gradients.
public final class HardSharingModel: SharedRepresentationModel {
    public let store: ParameterStore
    public let maxRows: Int
    public let taskOutputs: [Int]
    let input: InputStage
    let trunk: Sequential
    let heads: [Sequential]
    private let trunkGradient: FloatBuffer
    private var outputs: [Matrix] = []

    init(_ config: ModelConfig, preprocessor: Preprocessor, maxRows: Int, store: ParameterStore, prefix: String) {
        self.store = store
        self.maxRows = maxRows
        taskOutputs = preprocessor.tasks.map(\.outputs)
        input = InputStage(preprocessor, projection: config.sparseProjection, maxRows: maxRows, store: store, prefix: prefix)
        let trunk = makeMLP("\(prefix)trunk", input: input.width, hidden: config.trunk, output: nil, config: config, maxRows: maxRows, store: store)
        self.trunk = trunk
        heads = preprocessor.tasks.map { t in
            makeMLP("\(prefix)head.\(t.name)", input: trunk.outputSize, hidden: config.head, output: t.outputs,
                    config: config, maxRows: maxRows, store: store)
        }
        trunkGradient = FloatBuffer(count: maxRows * trunk.outputSize)
    }

    public func forward(_ batch: BatchInput, context: ForwardContext) {
        let h = trunk.forward(input.forward(batch), context: context)
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
        backwardShared(dh)
    }

    public var representationWidth: Int { trunk.outputSize }

    public func backwardTask(_ t: Int, gradient: Matrix) -> Matrix { heads[t].backward(gradient, needsInputGradient: true) }

    public func backwardShared(_ gradient: Matrix) {
        input.backward(trunk.backward(gradient, needsInputGradient: input.needsGradient))
    }
}
