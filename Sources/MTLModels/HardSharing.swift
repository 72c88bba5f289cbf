import MTLCore

/// Hard parameter sharing, the design's "early fusion" (Caruana, Machine Learning 1997; Ruder,
/// arXiv:1706.05098): a shared MLP trunk over the input and one MLP head per task on the trunk's
/// last hidden layer. The trunk's gradient is the sum of the heads' input gradients.
public final class HardSharingModel: SharedRepresentationModel {
    public let store: ParameterStore
    public let maxRows: Int
    public let taskOutputs: [Int]
    let input: InputStage
    public var sparseLayers: [SparseLinear] { input.sparse.map { [$0] } ?? [] }
    let trunk: Sequential
    let heads: [Sequential]
    private let trunkGradient: FloatBuffer
    private var outputs: [Matrix] = []

    init(_ config: ModelConfig, layout: InputLayout, maxRows: Int, store: ParameterStore, prefix: String) {
        self.store = store
        self.maxRows = maxRows
        taskOutputs = layout.taskOutputs
        input = InputStage(layout, projection: config.sparseProjection, maxRows: maxRows, store: store, prefix: prefix)
        let trunk = makeMLP("\(prefix)trunk", input: input.width, hidden: config.trunk, output: nil, config: config, maxRows: maxRows, store: store)
        self.trunk = trunk
        heads = zip(layout.taskNames, layout.taskOutputs).map { name, outputs in
            makeMLP("\(prefix)head.\(name)", input: trunk.outputSize, hidden: config.head, output: outputs,
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
        input.backward(trunk.backward(dh, needsInputGradient: input.needsGradient))
    }

    public var representationWidth: Int { trunk.outputSize }

    public func backwardTask(_ t: Int, gradient: Matrix) -> Matrix { heads[t].backward(gradient, needsInputGradient: true) }

    public func backwardShared(_ gradient: Matrix, weights: [Double]) {
        input.backward(trunk.backward(gradient, needsInputGradient: input.needsGradient))
    }
}
