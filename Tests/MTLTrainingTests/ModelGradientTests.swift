import XCTest
import MTLCore
@testable import MTLTraining

/// The whole model, every task kind and a missing label, against finite differences of the
/// trainer's own objective.
final class ModelGradientTests: XCTestCase {
    func objective(_ model: MultiTaskModel, _ tasks: [Preprocessor.TaskEncoding], _ split: EncodedSplit, rows: Int,
                   context: ForwardContext, grads: [FloatBuffer], dense: FloatBuffer) -> Double {
        // `dense` outlives the call: layers keep their input for the backward pass.
        for i in 0..<(rows * split.denseWidth) { dense.pointer[i] = split.dense[i] }
        split.categories.withUnsafeBufferPointer { c in
            model.forward(BatchInput(dense: dense.matrix(rows: rows, cols: split.denseWidth), categories: c.baseAddress), context: context)
        }
        var total = 0.0
        for (t, task) in tasks.enumerated() {
            let count = (0..<rows).filter { split.masks[t][$0] != 0 }.count
            let scale = Float(task.weight) / Float(count)
            let out = model.output(t)
            let loss: Double = split.targets[t].withUnsafeBufferPointer { y in
                split.masks[t].withUnsafeBufferPointer { m in
                    switch task.taskKind {
                    case .binary: return Loss.binaryCrossEntropyWithLogits(logits: out.pointer, targets: y.baseAddress!, mask: m.baseAddress!, rows: rows, scale: scale, gradient: grads[t].pointer)
                    case .multiclass: return Loss.softmaxCrossEntropy(logits: out.pointer, targets: y.baseAddress!, mask: m.baseAddress!, rows: rows, classes: task.outputs, scale: scale, gradient: grads[t].pointer)
                    case .regression: return Loss.meanSquaredError(predictions: out.pointer, targets: y.baseAddress!, mask: m.baseAddress!, rows: rows, scale: scale, gradient: grads[t].pointer)
                    }
                }
            }
            total += loss * task.weight / Double(count)
        }
        return total
    }

    func check(encoding: String) throws {
        var config = try Support.fixtureConfig()
        config.data.categoricalEncoding = encoding
        let data = try LoadedData.load(config: config)
        let rows = 10
        XCTAssert((0..<rows).contains { data.train.masks[0][$0] == 0 }, "the batch should hold a missing label")
        let tasks = data.preprocessor.tasks
        let model = makeModel(config.model, preprocessor: data.preprocessor, maxRows: rows, seed: 1)
        let grads = tasks.map { FloatBuffer(count: rows * $0.outputs) }
        let dense = FloatBuffer(count: rows * data.train.denseWidth)
        let ctx = ForwardContext(training: true, seed: 9, step: 4)   // dropout on, masks fixed by the context
        model.store.zeroGradients()
        _ = objective(model, tasks, data.train, rows: rows, context: ctx, grads: grads, dense: dense)
        model.backward { grads[$0].matrix(rows: rows, cols: tasks[$0].outputs) }
        let analytic = model.store.gradients.array
        var worst: Float = 0
        let idx = Array(stride(from: 0, to: model.store.count, by: max(1, model.store.count / 150)))
        let scratch = tasks.map { FloatBuffer(count: rows * $0.outputs) }
        for i in idx {
            let p = model.store.values.pointer
            let saved = p[i], h: Float = 1e-2
            p[i] = saved + h
            let plus = objective(model, tasks, data.train, rows: rows, context: ctx, grads: scratch, dense: dense)
            p[i] = saved - h
            let minus = objective(model, tasks, data.train, rows: rows, context: ctx, grads: scratch, dense: dense)
            p[i] = saved
            let numeric = Float((plus - minus) / Double(2 * h))
            let err = abs(numeric - analytic[i])
            worst = max(worst, err / (1e-3 + abs(numeric)))
            XCTAssert(err <= 2e-3 + 3e-2 * abs(numeric), "\(encoding) parameter \(i): analytic \(analytic[i]) numeric \(numeric)")
        }
        XCTAssert(analytic.contains { $0 != 0 })
    }

    func testWholeModelWithEmbeddings() throws { try check(encoding: "embedding") }
    func testWholeModelWithOneHot() throws { try check(encoding: "onehot") }
}
