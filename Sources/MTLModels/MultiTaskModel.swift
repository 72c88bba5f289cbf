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
    /// The projections of the sparse block (text, sparse columns), one per input stage, whose
    /// table gradients the trainer may take apart from the backward pass (`SparseLinear.deferred`).
    var sparseLayers: [SparseLinear] { get }
    /// Appends the forward pass for inference to `b` (Inference/Lowering.swift): per task, per
    /// member, the value holding its outputs.
    func lower(_ b: GraphBuilder) -> [[InferenceGraph.Value]]
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
    /// Adds the shared parameters' gradients for d loss / d Z = sum_t c_t d loss_t / d Z; where a
    /// task reaches shared parameters by another path than Z (a gate's input gradient into the
    /// input stage), that path's gradient is weighted by the same c_t (`weights`).
    func backwardShared(_ gradient: Matrix, weights: [Double])
}

/// Builds the architecture a config names, with its parameters initialised from `seed`.
public func makeModel(_ config: ModelConfig, layout: InputLayout, maxRows: Int, seed: UInt64) -> MultiTaskModel {
    let store = ParameterStore()
    let config = config.resolved(inputWidth: ModelConfig.inputWidth(layout, sparseProjection: config.sparseProjection))
    let model = config.architecture.build(config, layout: layout, maxRows: maxRows, store: store, prefix: "", seed: seed)
    store.materialize(seed: seed)
    return model
}
