import MTLCore

/// Something that measures the training while it runs (the relationship probe of `compare` and
/// `advise`), called by the trainer on every `every`-th step, on that step's batch, before the
/// step's own forward pass and update. It must leave the parameters as it found them.
public protocol TrainingHook: AnyObject {
    var every: Int { get }
    /// Once, when attached: the tasks and the number of shared parameters.
    func prepare(tasks: [String], sharedParameters: Int)
    /// On a measured step, through what the trainer lets a hook see and do.
    func measure(_ step: StepInspector) throws
}

/// What a hook can see and do on a step (every call is collective: all ranks call the same).
public protocol StepInspector: AnyObject {
    var taskCount: Int { get }
    /// The tensors more than one task's loss depends on.
    var sharedEntries: [ParameterEntry] { get }
    var sharedCount: Int { get }
    var store: ParameterStore { get }
    /// The schedule's learning rate at this step.
    var learningRate: Float { get }
    /// A forward pass on this rank's rows of the step's batch (training mode), then each task's
    /// loss over the global batch (its mean over the task's labelled rows).
    func forwardAndTaskLosses() throws -> [Double]
    /// After `forwardAndTaskLosses`: each task's gradient of the global batch on the shared
    /// parameters, row-major T x `sharedCount` (one backward pass per task, summed over the
    /// ranks). Leaves every gradient zero.
    func sharedTaskGradients(into gradients: inout [Float]) throws
}

extension Trainer: StepInspector {
    public var taskCount: Int { tasks.count }
    public var store: ParameterStore { model.store }
    public var learningRate: Float { schedule.rate(at: step) }

    public func forwardAndTaskLosses() throws -> [Double] {
        let localCount = currentLocalCount
        if localCount > 0 { forwardBatch(localCount: localCount) }
        let members = model.members
        var losses = [Double](repeating: 0, count: tasks.count)
        if localCount > 0 {
            for (t, task) in tasks.enumerated() {
                let k = task.outputs
                let out = model.output(t).pointer, g = outputGradients[t].pointer
                for member in 0..<members {
                    let count = taskLabelCounts[t * members + member]
                    let loss = TaskLoss.compute(task, Matrix(out + member * localCount * k, rows: localCount, cols: k),
                                                target: batchTargets[t].pointer, mask: batchMasks[t].pointer + member * localCount,
                                                scale: count > 0 ? 1 / count : 0, gradient: g + member * localCount * k)
                    losses[t] += count > 0 ? loss / Double(count) / Double(members) : 0
                }
            }
        }
        try comm.allreduceSum(&losses)
        return losses
    }

    public func sharedTaskGradients(into gradients: inout [Float]) throws {
        let localCount = currentLocalCount, members = model.members, s = sharedCount
        let g = model.store.gradients.pointer
        for task in 0..<tasks.count {
            model.store.zeroGradients()
            if localCount > 0 {
                model.backward { u in (u == task ? self.outputGradients[u] : self.zeroOutputs[u]).matrix(rows: members * localCount, cols: self.tasks[u].outputs) }
            }
            var o = task * s
            for e in sharedEntries { for i in 0..<e.count { gradients[o + i] = g[e.offset + i] }; o += e.count }
        }
        model.store.zeroGradients()
        try synchronizer.allreduce(&gradients)
    }
}
