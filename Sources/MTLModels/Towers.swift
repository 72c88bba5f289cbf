import MTLCore

/// One tower per task over the input, with no shared trunk: the implementation of `late-fusion`
/// (LateFusion.swift), whose heads read every tower, and of `single-task` (SingleTask.swift),
/// whose heads read their own.
///
/// When the input stage learns (categorical embeddings, the sparse block's projection), each
/// tower has its own, so towers share nothing below their heads.
public class TowerModel: MultiTaskModel {
    public let store: ParameterStore
    public let maxRows: Int
    public let taskOutputs: [Int]
    let fused: Bool
    let stopGradient: Bool
    /// One input stage per tower when it has parameters, else one for all.
    let inputs: [InputStage]
    public var sparseLayers: [SparseLinear] { inputs.compactMap(\.sparse) }
    let towers: [Sequential]
    let heads: [Sequential]
    let width: Int
    private let concatenated: FloatBuffer
    private let towerGradients: [FloatBuffer]
    private var outputs: [Matrix] = []
    private var hidden: [Matrix] = []

    init(_ config: ModelConfig, fused: Bool, layout: InputLayout, maxRows: Int, store: ParameterStore, prefix: String) {
        self.store = store
        self.maxRows = maxRows
        self.fused = fused
        stopGradient = config.stopGradient
        taskOutputs = layout.tasks.map(\.outputs)
        let probe = InputStage(layout, projection: config.sparseProjection, maxRows: 0, store: ParameterStore(), prefix: "")
        if probe.needsGradient {
            inputs = layout.tasks.map {
                InputStage(layout, projection: config.sparseProjection, maxRows: maxRows, store: store, prefix: "\(prefix)tower.\($0.name).")
            }
        } else {
            inputs = [InputStage(layout, projection: config.sparseProjection, maxRows: maxRows, store: store, prefix: prefix)]
        }
        let inputWidth = probe.width
        towers = layout.tasks.map {
            makeMLP("\(prefix)tower.\($0.name)", input: inputWidth, hidden: config.trunk, output: nil, config: config, maxRows: maxRows, store: store)
        }
        let width = towers[0].outputSize
        self.width = width
        let tasks = layout.tasks.count
        heads = layout.tasks.map {
            makeMLP("\(prefix)head.\($0.name)", input: fused ? tasks * width : width, hidden: config.head, output: $0.outputs,
                    config: config, maxRows: maxRows, store: store)
        }
        concatenated = FloatBuffer(count: fused ? maxRows * tasks * width : 0)
        towerGradients = layout.tasks.map { _ in FloatBuffer(count: maxRows * width) }
    }

    public final func forward(_ batch: BatchInput, context: ForwardContext) {
        let shared = inputs.count == 1 ? inputs[0].forward(batch) : nil
        let x = { (t: Int) in shared ?? self.inputs[t].forward(batch) }
        let tasks = towers.count
        if hidden.isEmpty { hidden = towers.indices.map { towers[$0].forward(x($0), context: context) }; outputs = hidden }
        else { for t in towers.indices { hidden[t] = towers[t].forward(x(t), context: context) } }
        let rows = hidden[0].rows
        if fused {
            let cat = concatenated.matrix(rows: rows, cols: tasks * width)
            for r in 0..<rows {
                for (t, h) in hidden.enumerated() {
                    (cat.pointer + r * tasks * width + t * width).update(from: h.pointer + r * width, count: width)
                }
            }
            for t in heads.indices { outputs[t] = heads[t].forward(cat, context: context) }
        } else {
            for t in heads.indices { outputs[t] = heads[t].forward(hidden[t], context: context) }
        }
    }

    public final func output(_ t: Int) -> Matrix { outputs[t] }

    public final func backward(_ gradient: (Int) -> Matrix) {
        let rows = outputs[0].rows, tasks = towers.count
        for g in towerGradients { g.pointer.update(repeating: 0, count: rows * width) }
        for (t, head) in heads.enumerated() {
            let d = head.backward(gradient(t), needsInputGradient: true)
            if fused {
                // The head's input gradient splits by tower; with stop_gradient only its own part flows.
                for u in 0..<tasks where !stopGradient || u == t {
                    let acc = towerGradients[u].pointer
                    for r in 0..<rows { VectorKernels.add(d.pointer + r * tasks * width + u * width, into: acc + r * width, count: width) }
                }
            } else {
                towerGradients[t].pointer.update(from: d.pointer, count: rows * width)
            }
        }
        for (t, tower) in towers.enumerated() {
            let stage = inputs.count == 1 ? inputs[0] : inputs[t]
            let g = tower.backward(towerGradients[t].matrix(rows: rows, cols: width), needsInputGradient: stage.needsGradient)
            if stage.needsGradient { stage.backward(g) }
        }
    }
}
