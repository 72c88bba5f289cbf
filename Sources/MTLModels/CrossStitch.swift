import MTLCore

/// Cross-stitch networks (Misra, Shrivastava, Gupta and Hebert, CVPR 2016): one column per task
/// with the same hidden widths; after each hidden layer, every column's activations are replaced
/// by learned linear combinations of all columns' activations, h'_t = sum_u alpha[t, u] h_u, with
/// one T x T matrix alpha per layer (initialised to `stitch_init` on the diagonal and the rest
/// spread evenly, as the paper's 0.9 / 0.1). Each task's head reads its own column.
public final class CrossStitchModel: MultiTaskModel {
    public let store: ParameterStore
    public let maxRows: Int
    public let taskOutputs: [Int]
    let input: InputStage
    public var sparseLayers: [SparseLinear] { input.sparse.map { [$0] } ?? [] }
    /// units[l][t]: layer l of column t.
    let units: [[Sequential]]
    let stitches: [ParameterEntry]
    let heads: [Sequential]
    let widths: [Int]
    /// mixed[l][t]: column t after the stitch of layer l.
    private let mixed: [[FloatBuffer]]
    private let mixedGradients: [[FloatBuffer]]
    private let unitGradients: [FloatBuffer]
    private let inputGradient: FloatBuffer
    private var unitOutputs: [[Matrix]] = []
    private var outputs: [Matrix] = []
    private var rows = 0

    init(_ config: ModelConfig, layout: InputLayout, maxRows: Int, store: ParameterStore, prefix: String) {
        self.store = store
        self.maxRows = maxRows
        taskOutputs = layout.tasks.map(\.outputs)
        input = InputStage(layout, projection: config.sparseProjection, maxRows: maxRows, store: store, prefix: prefix)
        let tasks = layout.tasks
        let t = tasks.count
        widths = config.trunk
        var units: [[Sequential]] = [], stitches: [ParameterEntry] = []
        var width = input.width
        for (l, h) in config.trunk.enumerated() {
            let w = width
            units.append(tasks.map { task in
                Sequential(hiddenUnit("\(prefix)column.\(task.name).\(l)", input: w, output: h, config: config, maxRows: maxRows, store: store), inputSize: w)
            })
            let diagonal = Float(config.stitchInit)
            let off = t > 1 ? (1 - diagonal) / Float(t - 1) : 0
            stitches.append(store.register("\(prefix)stitch.\(l)", shape: [t, t], initializer: .stitch(diagonal: diagonal, offDiagonal: off)))
            width = h
        }
        self.units = units
        self.stitches = stitches
        let last = width
        heads = tasks.map { makeMLP("\(prefix)head.\($0.name)", input: last, hidden: config.head, output: $0.outputs, config: config, maxRows: maxRows, store: store) }
        mixed = config.trunk.map { h in tasks.map { _ in FloatBuffer(count: maxRows * h) } }
        mixedGradients = config.trunk.map { h in tasks.map { _ in FloatBuffer(count: maxRows * h) } }
        unitGradients = tasks.map { _ in FloatBuffer(count: maxRows * (config.trunk.max() ?? 1)) }
        inputGradient = FloatBuffer(count: maxRows * input.width)
    }

    public func forward(_ batch: BatchInput, context: ForwardContext) {
        let x = input.forward(batch)
        rows = x.rows
        let t = heads.count
        if unitOutputs.isEmpty { unitOutputs = units.map { $0.map { _ in x } } }
        for l in units.indices {
            let h = widths[l]
            for c in 0..<t {
                let inp = l == 0 ? x : mixed[l - 1][c].matrix(rows: rows, cols: widths[l - 1])
                unitOutputs[l][c] = units[l][c].forward(inp, context: context)
            }
            let alpha = store.value(stitches[l])
            for c in 0..<t {
                let out = mixed[l][c].pointer
                out.update(repeating: 0, count: rows * h)
                for u in 0..<t {
                    let a = alpha[c * t + u], src = unitOutputs[l][u].pointer
                    for i in 0..<(rows * h) { out[i] += a * src[i] }
                }
            }
        }
        let lastLayer = units.count - 1
        for c in 0..<t {
            let o = heads[c].forward(mixed[lastLayer][c].matrix(rows: rows, cols: widths[lastLayer]), context: context)
            if outputs.count < t { outputs.append(o) } else { outputs[c] = o }
        }
    }

    public func output(_ t: Int) -> Matrix { outputs[t] }

    public func backward(_ gradient: (Int) -> Matrix) {
        let t = heads.count
        let lastLayer = units.count - 1
        for c in 0..<t {
            let d = heads[c].backward(gradient(c), needsInputGradient: true)
            mixedGradients[lastLayer][c].pointer.update(from: d.pointer, count: rows * widths[lastLayer])
        }
        let dx = inputGradient.matrix(rows: rows, cols: input.width)
        for l in stride(from: units.count - 1, through: 0, by: -1) {
            let h = widths[l], n = rows * h
            let alpha = store.value(stitches[l]), dAlpha = store.gradient(stitches[l])
            // d unit output u = sum_c alpha[c, u] d mixed c;  d alpha[c, u] = <d mixed c, unit output u>
            for u in 0..<t {
                let du = unitGradients[u].pointer
                du.update(repeating: 0, count: n)
                let src = unitOutputs[l][u].pointer
                for c in 0..<t {
                    let dm = mixedGradients[l][c].pointer, a = alpha[c * t + u]
                    var dot: Double = 0
                    for i in 0..<n { du[i] += a * dm[i]; dot += Double(dm[i] * src[i]) }
                    dAlpha[c * t + u] += Float(dot)
                }
            }
            for c in 0..<t {
                let needInput = l > 0 || input.needsGradient
                let g = units[l][c].backward(unitGradients[c].matrix(rows: rows, cols: h), needsInputGradient: needInput)
                if l > 0 {
                    mixedGradients[l - 1][c].pointer.update(from: g.pointer, count: rows * widths[l - 1])
                } else if input.needsGradient {
                    if c == 0 { dx.pointer.update(from: g.pointer, count: dx.count) } else { VectorKernels.add(g.pointer, into: dx.pointer, count: dx.count) }
                }
            }
        }
        if input.needsGradient { input.backward(dx) }
    }
}
