import MTLCore
import MTLData
import MTLModels
import MTLTraining

/// A compiled model with its tasks: encoded rows in, per-task predictions out (probabilities for
/// classification, values in the target's units for regression), as `predict` writes them.
public final class Predictor: @unchecked Sendable {
    public let model: CompiledModel
    public let tasks: [Preprocessor.TaskEncoding]

    public init(model: CompiledModel, tasks: [Preprocessor.TaskEncoding]) {
        precondition(model.graph.outputs.count == tasks.count, "the graph has \(model.graph.outputs.count) outputs for \(tasks.count) tasks")
        self.model = model
        self.tasks = tasks
    }

    /// Writes the predictions of the workspace's first `rows` rows (after `model.run`) after
    /// each task's array in `values`.
    public func collect(_ ws: Workspace, rows: Int, into values: inout [[Double]]) {
        for (t, task) in tasks.enumerated() {
            let base = values[t].count, members = model.graph.outputs[t].count
            values[t].append(contentsOf: repeatElement(0, count: rows * task.outputs))
            values[t].withUnsafeMutableBufferPointer { v in
                for m in 0..<members {
                    Evaluator.addPrediction(task, logits: ws.output(t, member: m), rows: rows, share: 1 / Double(members), into: v.baseAddress! + base)
                }
            }
        }
    }

    /// Predictions for every row of an encoded split, `ws.model.maxRows` rows at a time.
    public func predict(_ split: EncodedSplit, workspace ws: Workspace) throws -> [[Double]] {
        try predictions(split, workspace: ws).values
    }

    /// Predictions and the mean training objective per task (as `Evaluator.predict` computes them).
    public func predictions(_ split: EncodedSplit, workspace ws: Workspace) throws -> Predictions {
        var values = tasks.map { _ in [Double]() }
        var lossSums = [Double](repeating: 0, count: tasks.count)
        let chunk = model.maxRows
        let scratch = FloatBuffer(count: chunk * (tasks.map(\.outputs).max() ?? 1))
        var start = 0
        while start < split.rows {
            let n = min(chunk, split.rows - start)
            try load(split, rows: start..<(start + n), into: ws)
            try model.run(ws, rows: n)
            collect(ws, rows: n, into: &values)
            for (t, task) in tasks.enumerated() where split.targets.indices.contains(t) && split.targets[t].count >= (start + n) * task.targetWidth {
                let members = model.graph.outputs[t].count
                for m in 0..<members {
                    split.targets[t].withUnsafeBufferPointer { y in
                        split.masks[t].withUnsafeBufferPointer { mask in
                            lossSums[t] += TaskLoss.compute(task, Matrix(UnsafeMutablePointer(mutating: ws.output(t, member: m)), rows: n, cols: task.outputs),
                                                            target: y.baseAddress! + start * task.targetWidth, mask: mask.baseAddress! + start,
                                                            scale: 0, gradient: scratch.pointer) / Double(members)
                        }
                    }
                }
            }
            start += n
        }
        let counts = split.labelCounts
        return Predictions(tasks: tasks, values: values,
                           loss: lossSums.indices.map { counts.indices.contains($0) && counts[$0] > 0 ? lossSums[$0] / Double(counts[$0]) : .nan })
    }

    /// Copies rows of an encoded split into the workspace's inputs.
    public func load(_ split: EncodedSplit, rows: Range<Int>, into ws: Workspace) throws {
        let g = model.graph
        guard split.denseWidth == g.denseWidth, split.categoryColumns == g.categoryColumns || g.categoryColumns == 0,
              (split.sparse?.width ?? 0) == g.sparseWidth else {
            throw InferenceInputError(description: "the encoded rows (dense \(split.denseWidth), categorical \(split.categoryColumns), sparse \(split.sparse?.width ?? 0)) do not fit the model (\(g.denseWidth), \(g.categoryColumns), \(g.sparseWidth))")
        }
        let n = rows.count, w = g.denseWidth, c = g.categoryColumns
        if n * w > 0 { split.writeDense(rows: rows, into: ws.dense) }
        if c > 0 && n > 0 {
            split.categories.withUnsafeBufferPointer { d in ws.categoryPointer.update(from: d.baseAddress! + rows.lowerBound * c, count: n * c) }
        }
        if let s = split.sparse { s.fill(ws.sparse, rows: rows) }
    }
}
