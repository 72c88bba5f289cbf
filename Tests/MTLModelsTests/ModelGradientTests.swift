import XCTest
import MTLCore
import MTLTraining
import MTLData
import MTLTestSupport
@testable import MTLModels

/// The whole model, every task kind and a missing label, against finite differences of the
/// trainer's own objective.
final class ModelGradientTests: XCTestCase {
    func objective(_ model: MultiTaskModel, _ tasks: [Preprocessor.TaskEncoding], _ split: EncodedSplit, rows: Int,
                   context: ForwardContext, grads: [FloatBuffer], dense: FloatBuffer, onlyTask: Int? = nil) -> Double {
        // `dense` outlives the call: layers keep their input for the backward pass.
        split.writeDense(rows: 0..<rows, into: dense.pointer)
        split.categories.withUnsafeBufferPointer { c in
            model.forward(BatchInput(dense: dense.matrix(rows: rows, cols: split.denseWidth), categories: c.baseAddress), context: context)
        }
        var total = 0.0
        for (t, task) in tasks.enumerated() where onlyTask == nil || onlyTask == t {
            let k = task.outputs
            for member in 0..<model.members {
                // Each member's loss, its rows weighted by the mask and the member's sample weight.
                let mask = (0..<rows).map { split.masks[t][$0] * model.sampleWeight(member: member, row: $0) }
                let count = mask.reduce(0, +)
                let scale = Float(task.weight) / count
                let out = model.output(t).pointer + member * rows * k
                let g = grads[t].pointer + member * rows * k
                let loss: Double = split.targets[t].withUnsafeBufferPointer { y in
                    mask.withUnsafeBufferPointer { m in
                        TaskLoss.compute(task, Matrix(out, rows: rows, cols: k), target: y.baseAddress!, mask: m.baseAddress!,
                                         scale: scale, gradient: g)
                    }
                }
                total += loss * task.weight / Double(count)
            }
        }
        return total
    }

    func check(encoding: CategoricalEncoding, architecture: Architecture = .hardSharing, _ adjust: (inout ModelConfig) -> Void = { _ in }) throws {
        var config = try Support.fixtureConfig()
        config.data.categoricalEncoding = encoding
        config.model.architecture = architecture
        Support.smallSizes(&config.model)
        adjust(&config.model)
        let data = try LoadedData.load(source: config.dataSource)
        let rows = 10
        XCTAssert((0..<rows).contains { data.train.masks[0][$0] == 0 }, "the batch should hold a missing label")
        let tasks = data.preprocessor.tasks
        let model = makeModel(config.model, layout: data.preprocessor.layout, maxRows: rows, seed: 1)
        let grads = tasks.map { FloatBuffer(count: model.members * rows * $0.outputs) }
        let dense = FloatBuffer(count: rows * data.train.denseWidth)
        let ctx = ForwardContext(training: true, seed: 9, step: 4)   // dropout on, masks fixed by the context
        model.store.zeroGradients()
        _ = objective(model, tasks, data.train, rows: rows, context: ctx, grads: grads, dense: dense)
        model.backward { grads[$0].matrix(rows: model.members * rows, cols: tasks[$0].outputs) }
        let analytic = model.store.gradients.array
        var worst: Float = 0
        // Every tensor is checked: a few elements of each, spread over it.
        let idx = model.store.entries.flatMap { e in Array(stride(from: e.offset, to: e.offset + e.count, by: max(1, e.count / 6))) }
        let scratch = tasks.map { FloatBuffer(count: model.members * rows * $0.outputs) }
        for i in idx {
            // With stop_gradient a tower learns from its own task only: its gradient is that of
            // its own task's loss, not of the total.
            let name = model.store.entries.last { $0.offset <= i }!.name
            let only = config.model.stopGradient ? tasks.firstIndex { name.hasPrefix("tower.\($0.name).") } : nil
            let p = model.store.values.pointer
            let saved = p[i], h: Float = 1e-2
            p[i] = saved + h
            let plus = objective(model, tasks, data.train, rows: rows, context: ctx, grads: scratch, dense: dense, onlyTask: only)
            p[i] = saved - h
            let minus = objective(model, tasks, data.train, rows: rows, context: ctx, grads: scratch, dense: dense, onlyTask: only)
            p[i] = saved
            var numeric = Float((plus - minus) / Double(2 * h))
            if abs(numeric - analytic[i]) > 2e-3 + 3e-2 * abs(numeric) {
                // Where the objective curves strongly (LayerNorm over a few units with dropout), the
                // central difference's O(h^2) error shows at h = 1e-2; a quarter step removes
                // nearly all of it while staying well above Float32 rounding.
                let q = h / 4
                p[i] = saved + q
                let plus = objective(model, tasks, data.train, rows: rows, context: ctx, grads: scratch, dense: dense, onlyTask: only)
                p[i] = saved - q
                let minus = objective(model, tasks, data.train, rows: rows, context: ctx, grads: scratch, dense: dense, onlyTask: only)
                p[i] = saved
                numeric = Float((plus - minus) / Double(2 * q))
            }
            let err = abs(numeric - analytic[i])
            worst = max(worst, err / (1e-3 + abs(numeric)))
            XCTAssert(err <= 2e-3 + 3e-2 * abs(numeric), "\(architecture) \(encoding) \(model.store.entries.last { $0.offset <= i }!.name) [\(i)]: analytic \(analytic[i]) numeric \(numeric)")
        }
        XCTAssert(analytic.contains { $0 != 0 })
    }

    func testHardSharingWithEmbeddings() throws { try check(encoding: .embedding) }
    func testHardSharingWithOneHot() throws { try check(encoding: .onehot) }
    func testLateFusion() throws { try check(encoding: .embedding, architecture: .lateFusion) }
    func testLateFusionStopGradient() throws { try check(encoding: .onehot, architecture: .lateFusion) { $0.stopGradient = true } }
    func testSingleTask() throws { try check(encoding: .embedding, architecture: .singleTask) }
    func testCrossStitch() throws { try check(encoding: .embedding, architecture: .crossStitch) }
    func testMMoE() throws { try check(encoding: .embedding, architecture: .mmoe) }
    func testCGC() throws { try check(encoding: .onehot, architecture: .cgc) }
    func testPLE() throws { try check(encoding: .embedding, architecture: .ple) }
    func testEnsembleWithBootstrap() throws {
        try check(encoding: .embedding, architecture: .ensemble) { $0.members = 2; $0.member = .mmoe; $0.bootstrap = true }
    }
    func testTaskAttention() throws { try check(encoding: .embedding, architecture: .taskAttention) }
    func testTaskAttentionOneHot() throws { try check(encoding: .onehot, architecture: .taskAttention) }
}
