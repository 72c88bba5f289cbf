import MTLCore

/// The mixture-of-experts models in one implementation: `mmoe` (MMoE.swift), `cgc` (CGC.swift)
/// and `ple` (PLE.swift). MMoE is CGC with no task-specific experts, and CGC is PLE with one
/// level. Streams 0 ..< T are the tasks', stream T the shared one. A stream's experts run as one
/// layer: the first Linear of all its experts is one matrix product and deeper layers are a
/// GroupedLinear.
public class ExtractionModel: MultiTaskModel {
    public let store: ParameterStore
    public let maxRows: Int
    public let taskOutputs: [Int]
    let input: InputStage
    public var sparseLayers: [SparseLinear] { input.sparse.map { [$0] } ?? [] }
    let levels: [ExtractionLevel]
    let towers: [Sequential]
    private let inputGradient: FloatBuffer
    private var outputs: [Matrix] = []

    init(_ config: ModelConfig, levels count: Int, taskExperts: Int, sharedExperts: Int, layout: InputLayout,
         maxRows: Int, store: ParameterStore, prefix: String) {
        self.store = store
        self.maxRows = maxRows
        taskOutputs = layout.tasks.map(\.outputs)
        input = InputStage(layout, projection: config.sparseProjection, maxRows: maxRows, store: store, prefix: prefix)
        let names = layout.tasks.map(\.name)
        var levels: [ExtractionLevel] = []
        var width = input.width
        for l in 0..<count {
            let level = ExtractionLevel("\(prefix)level\(l)", tasks: names, inputWidth: width, taskExperts: taskExperts,
                                        sharedExperts: sharedExperts, widths: config.expert, sharedOutput: l < count - 1,
                                        config: config, maxRows: maxRows, store: store)
            levels.append(level)
            width = level.width
        }
        self.levels = levels
        let w = width
        towers = layout.tasks.map {
            makeMLP("\(prefix)tower.\($0.name)", input: w, hidden: config.head, output: $0.outputs, config: config, maxRows: maxRows, store: store)
        }
        inputGradient = FloatBuffer(count: maxRows * input.width)
    }

    public final func forward(_ batch: BatchInput, context: ForwardContext) {
        let x = input.forward(batch)
        var streams: [Matrix]? = nil
        for level in levels {
            level.forward(x: x, streams: streams, context: context)
            streams = level.outputMatrices
        }
        let last = levels[levels.count - 1]
        for t in towers.indices {
            let o = towers[t].forward(last.outputMatrix(t), context: context)
            if outputs.count < towers.count { outputs.append(o) } else { outputs[t] = o }
        }
    }

    public final func output(_ t: Int) -> Matrix { outputs[t] }

    public final func backward(_ gradient: (Int) -> Matrix) {
        let last = levels[levels.count - 1]
        for t in towers.indices {
            let d = towers[t].backward(gradient(t), needsInputGradient: true)
            last.outputGradients[t].pointer.update(from: d.pointer, count: d.count)
        }
        for l in stride(from: levels.count - 1, through: 0, by: -1) {
            let needInput = l > 0 || input.needsGradient
            levels[l].backward(needsInputGradient: needInput)
            if l > 0 {
                for s in levels[l].inputGradients.indices {
                    levels[l - 1].outputGradients[s].pointer.update(from: levels[l].inputGradients[s].pointer, count: levels[l].rows * levels[l].inputWidth)
                }
            }
        }
        if input.needsGradient {
            let first = levels[0]
            let dx = inputGradient.matrix(rows: first.rows, cols: input.width)
            dx.pointer.update(repeating: 0, count: dx.count)
            for g in first.inputGradients { VectorKernels.add(g.pointer, into: dx.pointer, count: dx.count) }
            input.backward(dx)
        }
    }
}

/// One CGC level: expert groups per stream, softmax gates per output stream, mixtures.
final class ExtractionLevel {
    let tasks: Int
    let inputWidth: Int
    /// Output width of every expert (the last of `widths`).
    let width: Int
    let counts: [Int]
    let experts: [Sequential?]
    let gates: [Linear]
    /// For each output stream, the experts its gate mixes: (stream, index within the stream).
    let selections: [[(stream: Int, index: Int)]]
    let probabilities: [FloatBuffer]
    let logitGradients: [FloatBuffer]
    let outputs: [FloatBuffer]
    let outputGradients: [FloatBuffer]
    let expertGradients: [FloatBuffer]
    let inputGradients: [FloatBuffer]
    private var expertOutputs: [Matrix?]
    private var inputs: [Matrix] = []
    private(set) var rows = 0

    init(_ name: String, tasks names: [String], inputWidth: Int, taskExperts: Int, sharedExperts: Int, widths: [Int],
         sharedOutput: Bool, config: ModelConfig, maxRows: Int, store: ParameterStore) {
        tasks = names.count
        self.inputWidth = inputWidth
        width = widths.last!
        let streams = tasks + 1
        counts = (0..<streams).map { $0 < names.count ? taskExperts : sharedExperts }
        let streamNames = names + ["shared"]
        experts = (0..<streams).map { s in
            let n = s < names.count ? taskExperts : sharedExperts
            guard n > 0 else { return nil }
            var layers: [Layer] = [Linear("\(name).\(streamNames[s]).experts.0", inputSize: inputWidth, outputSize: n * widths[0], maxRows: maxRows, store: store),
                                   activation(config, size: n * widths[0], maxRows: maxRows)]
            for i in 1..<widths.count {
                layers.append(GroupedLinear("\(name).\(streamNames[s]).experts.\(i)", groups: n, inputSize: widths[i - 1], outputSize: widths[i], maxRows: maxRows, store: store))
                layers.append(activation(config, size: n * widths[i], maxRows: maxRows))
            }
            return Sequential(layers, inputSize: inputWidth)
        }
        var selections: [[(Int, Int)]] = (0..<names.count).map { t in
            (0..<taskExperts).map { (t, $0) } + (0..<sharedExperts).map { (names.count, $0) }
        }
        if sharedOutput {
            selections.append((0..<streams).flatMap { s in (0..<(s < names.count ? taskExperts : sharedExperts)).map { (s, $0) } })
        }
        self.selections = selections
        gates = selections.enumerated().map { o, sel in
            Linear("\(name).\(streamNames[o]).gate", inputSize: inputWidth, outputSize: sel.count, maxRows: maxRows, store: store)
        }
        probabilities = selections.map { FloatBuffer(count: maxRows * $0.count) }
        logitGradients = selections.map { FloatBuffer(count: maxRows * $0.count) }
        outputs = selections.map { _ in FloatBuffer(count: maxRows * widths.last!) }
        outputGradients = selections.map { _ in FloatBuffer(count: maxRows * widths.last!) }
        expertGradients = counts.map { FloatBuffer(count: maxRows * $0 * widths.last!) }
        inputGradients = (0..<streams).map { _ in FloatBuffer(count: maxRows * inputWidth) }
        expertOutputs = Array(repeating: nil, count: streams)
    }

    /// The outputs of the last forward, as matrices (kept, so passing them on allocates nothing).
    private(set) var outputMatrices: [Matrix] = []
    func outputMatrix(_ o: Int) -> Matrix { outputs[o].matrix(rows: rows, cols: width) }

    /// Stream inputs: all `x` at the first level, else the previous level's outputs.
    func forward(x: Matrix, streams: [Matrix]?, context: ForwardContext) {
        rows = x.rows
        let n = tasks + 1
        if inputs.isEmpty { inputs = Array(repeating: x, count: n) }
        for s in 0..<n { inputs[s] = streams?[s] ?? x }
        for s in 0..<n { expertOutputs[s] = experts[s]?.forward(inputs[s], context: context) }
        for (o, sel) in selections.enumerated() {
            let k = sel.count
            let logits = gates[o].forward(inputs[o], context: context)
            let p = probabilities[o].pointer
            for r in 0..<rows {
                let z = logits.pointer + r * k, pr = p + r * k
                var m = -Float.infinity
                for j in 0..<k { m = max(m, z[j]) }
                var sum: Float = 0
                for j in 0..<k { let e = expf(z[j] - m); pr[j] = e; sum += e }
                for j in 0..<k { pr[j] /= sum }
            }
            let out = outputs[o].pointer
            out.update(repeating: 0, count: rows * width)
            for (j, (s, i)) in sel.enumerated() {
                let e = expertOutputs[s]!, stride = counts[s] * width
                for r in 0..<rows {
                    let g = p[r * k + j], src = e.pointer + r * stride + i * width, dst = out + r * width
                    for c in 0..<width { dst[c] += g * src[c] }
                }
            }
        }
        keepOutputViews()
    }

    private func keepOutputViews() {
        if outputMatrices.isEmpty { outputMatrices = outputs.map { $0.matrix(rows: rows, cols: width) }; return }
        for o in outputs.indices { outputMatrices[o] = outputs[o].matrix(rows: rows, cols: width) }
    }

    /// Output stream o's mixture, backwards: adds p_j dOut into each mixed expert's output
    /// gradient and writes the gate's logit gradient.
    func mixtureBackward(_ o: Int) {
        let sel = selections[o], k = sel.count
        let p = probabilities[o].pointer, dz = logitGradients[o].pointer, dOut = outputGradients[o].pointer
        for r in 0..<rows {
            // dp_j = <dOut, expert_j>; d expert_j += p_j dOut; dz = p (dp - sum p dp)
            var weighted: Float = 0
            for (j, (s, i)) in sel.enumerated() {
                let stride = counts[s] * width
                guard let e = expertOutputs[s] else { continue }
                let src = e.pointer + r * stride + i * width
                let dst = expertGradients[s].pointer + r * stride + i * width
                let g = p[r * k + j], d = dOut + r * width
                var dp: Float = 0
                for c in 0..<width { dp += d[c] * src[c]; dst[c] += g * d[c] }
                dz[r * k + j] = dp
                weighted += g * dp
            }
            for j in 0..<k { dz[r * k + j] = p[r * k + j] * (dz[r * k + j] - weighted) }
        }
    }

    /// Uses `outputGradients`; fills `inputGradients` per stream when asked.
    func backward(needsInputGradient: Bool) {
        let n = tasks + 1
        for s in 0..<n where counts[s] > 0 { expertGradients[s].pointer.update(repeating: 0, count: rows * counts[s] * width) }
        if needsInputGradient { for s in 0..<n { inputGradients[s].pointer.update(repeating: 0, count: rows * inputWidth) } }
        for (o, sel) in selections.enumerated() {
            let k = sel.count
            mixtureBackward(o)
            let dIn = gates[o].backward(logitGradients[o].matrix(rows: rows, cols: k), needsInputGradient: needsInputGradient)
            if needsInputGradient { VectorKernels.add(dIn.pointer, into: inputGradients[o].pointer, count: rows * inputWidth) }
        }
        for s in 0..<n {
            guard let ex = experts[s] else { continue }
            let dIn = ex.backward(expertGradients[s].matrix(rows: rows, cols: counts[s] * width), needsInputGradient: needsInputGradient)
            if needsInputGradient { VectorKernels.add(dIn.pointer, into: inputGradients[s].pointer, count: rows * inputWidth) }
        }
    }
}

/// One-level models (MMoE, CGC) have one shared representation, the shared experts' outputs Z:
/// `gradients: representation` takes each task's gradient there. A task's backward pass goes
/// through its tower, its gate and its own experts (their gradients are the task's own) down to
/// d loss_t / d Z; the combination goes back through the shared experts once, and the input
/// stage gets the shared experts' input gradient plus every task stream's (gates, task experts)
/// weighted by the same coefficients.
extension ExtractionModel {
    public var representationWidth: Int { levels[0].counts[levels[0].tasks] * levels[0].width }

    public func backwardTask(_ t: Int, gradient: Matrix) -> Matrix {
        let level = levels[0]
        let d = towers[t].backward(gradient, needsInputGradient: true)
        level.outputGradients[t].pointer.update(from: d.pointer, count: d.count)
        level.backwardStream(t, needsInputGradient: input.needsGradient)
        return level.sharedGradient(rows: level.rows)
    }

    public func backwardShared(_ gradient: Matrix, weights: [Double]) {
        let level = levels[0], shared = level.tasks
        guard let experts = level.experts[shared] else { return }
        let dIn = experts.backward(gradient, needsInputGradient: input.needsGradient)
        guard input.needsGradient else { return }
        let dx = inputGradient.matrix(rows: level.rows, cols: input.width)
        dx.pointer.update(from: dIn.pointer, count: dx.count)
        for o in 0..<shared { BLAS.axpy(dx.count, alpha: Float(o < weights.count ? weights[o] : 1), x: level.inputGradients[o].pointer, y: dx.pointer) }
        input.backward(dx)
    }
}

extension MMoEModel: SharedRepresentationModel {}
extension CGCModel: SharedRepresentationModel {}

extension ExtractionLevel {
    /// The shared experts' output gradient left by the last `backwardStream`.
    func sharedGradient(rows: Int) -> Matrix { expertGradients[tasks].matrix(rows: rows, cols: counts[tasks] * width) }

    /// Output stream o's part of `backward` alone: its gate and its own experts get their
    /// gradients (their input gradient in `inputGradients[o]`), and the shared experts' output
    /// gradient from this stream alone is left in `expertGradients[tasks]`.
    func backwardStream(_ o: Int, needsInputGradient: Bool) {
        let shared = tasks
        expertGradients[shared].pointer.update(repeating: 0, count: rows * counts[shared] * width)
        if counts[o] > 0 { expertGradients[o].pointer.update(repeating: 0, count: rows * counts[o] * width) }
        if needsInputGradient { inputGradients[o].pointer.update(repeating: 0, count: rows * inputWidth) }
        mixtureBackward(o)
        let k = selections[o].count
        let dIn = gates[o].backward(logitGradients[o].matrix(rows: rows, cols: k), needsInputGradient: needsInputGradient)
        if needsInputGradient { VectorKernels.add(dIn.pointer, into: inputGradients[o].pointer, count: rows * inputWidth) }
        if o != shared, let ex = experts[o] {
            let dEx = ex.backward(expertGradients[o].matrix(rows: rows, cols: counts[o] * width), needsInputGradient: needsInputGradient)
            if needsInputGradient { VectorKernels.add(dEx.pointer, into: inputGradients[o].pointer, count: rows * inputWidth) }
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
