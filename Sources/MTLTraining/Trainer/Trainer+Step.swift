import MTLCore
import MTLData
import MTLDistributed
import MTLModels
import MTLWeighting

extension Trainer {
    /// One optimizer step on global batch `s` of `order`; returns this rank's loss sum.
    @discardableResult
    func trainStep(order: [Int], batchIndex s: Int) throws -> Double {
        let stepStart = phases != nil ? ContinuousClock.now : nil
        defer { if let t = stepStart { phases?.total += ContinuousClock.now - t; phases?.steps += 1 } }
        let (globalStart, globalCount, localStart, localCount) = shard(step: s, rows: order.count)
        comm.note(epoch: epoch, step: step + 1)
        timed(\.load) { loadBatch(order: order, globalStart: globalStart, globalCount: globalCount, localStart: localStart, localCount: localCount) }
        step += 1
        var probed = false
        if let h = hook, step % h.every == 0 { try h.measure(self); probed = true }
        timed(\.load) {
            if lazyRows {
                // Only the previous step's touched table rows (and the other tensors) hold gradients,
                // unless the hook's passes wrote others.
                if probed { model.store.zeroGradients() } else { zeroGradients(tableRows: touchedRows) }
                collectTouchedRows(order: order, globalStart: globalStart, globalCount: globalCount)
            } else {
                model.store.zeroGradients()
            }
        }
        var lossSum = 0.0
        for t in stepLosses.indices { stepLosses[t] = 0 }
        let members = model.members
        if localCount > 0 {
            timed(\.forward) { forwardBatch(localCount: localCount) }
            let lossStart = phases != nil ? ContinuousClock.now : nil
            defer { if let t = lossStart { phases?.forward += ContinuousClock.now - t } }
            for (t, task) in tasks.enumerated() {
                let k = task.outputs
                let out = model.output(t).pointer, g = outputGradients[t].pointer
                for member in 0..<members {
                    let count = taskLabelCounts[t * members + member]
                    let scale = count > 0 ? 1 / count : 0
                    let mask = batchMasks[t].pointer + member * localCount
                    let loss = TaskLoss.compute(task, Matrix(out + member * localCount * k, rows: localCount, cols: k),
                                                target: batchTargets[t].pointer, mask: mask, scale: scale,
                                                gradient: g + member * localCount * k)
                    epochLoss[2 * t] += loss / Double(members)
                    var labelled: Float = 0
                    for j in 0..<localCount { labelled += mask[j] }
                    epochLoss[2 * t + 1] += Double(labelled) / Double(members)
                    stepLosses[t] += count > 0 ? loss / Double(count) / Double(members) : 0
                }
                lossSum += stepLosses[t]
            }
        }
        let rate = schedule.rate(at: step)
        if weighting.needsStepLosses { try timed(\.communication) { try comm.allreduceSum(&stepLosses) } }
        switch weighting.role {
        case .gradients(let gradients):
            if let periodic = gradients as? PeriodicCoefficients, let c = periodic.reusable(step: step) {
                try reusedCoefficientsStep(c, localCount: localCount)
            } else if let rep = representationModel {
                try representationStep(rep, gradients, localCount: localCount, learningRate: rate)
            } else {
                try parameterStep(gradients, localCount: localCount, learningRate: rate)
            }
        case .losses(let losses):
            let w = losses.weights(step: step, seed: config.training.seed, losses: stepLosses)
            if localCount > 0 {
                for t in tasks.indices where w[t] != 1 {
                    let n = members * localCount * tasks[t].outputs, g = outputGradients[t].pointer, f = Float(w[t])
                    for i in 0..<n { g[i] *= f }
                }
                if ownsTableRows {
                    timed(\.backward) { backwardDeferringTables() }
                } else {
                    timed(\.backward) { model.backward { outputGradients[$0].matrix(rows: members * localCount, cols: tasks[$0].outputs) } }
                }
            }
            try timed(\.communication) { try ownsTableRows ? synchronizeOwnedRows() : synchronizeGradients() }
            losses.afterStep(losses: stepLosses, step: step, learningRate: rate)
            weightSums.record(w)
        }
        if ownsTableRows {
            if config.training.clipNorm > 0 { try timed(\.optimizer) { try clipOwnedGradientNorm(maxNorm: Float(config.training.clipNorm)) } }
            timed(\.optimizer) { applyOwnedUpdate(learningRate: rate) }
            try timed(\.communication) { try gatherOwnedRows() }
        } else {
            timed(\.optimizer) {
                if config.training.clipNorm > 0 {
                    clipGradientNorm(model.store.gradients.pointer, count: model.store.count, maxNorm: Float(config.training.clipNorm))
                }
                applyUpdate(learningRate: rate)
            }
        }
        if weighting.needsLossesAfterUpdate {
            // The same rows and dropout masks again, no backward pass (FAMO learns from how far each loss fell).
            weighting.afterUpdate(losses: try timed(\.weighting) { try forwardAndTaskLosses() })
        }
        return lossSum
    }

    /// Copies this rank's rows of the global batch into the step's buffers and counts every
    /// task's labelled rows in the whole global batch (every rank knows all labels).
    func loadBatch(order: [Int], globalStart: Int, globalCount: Int, localStart: Int, localCount: Int) {
        let split = data.train
        let members = model.members
        for t in 0..<tasks.count {
            let m = split.masks[t]
            for k in 0..<members {
                var c: Float = 0
                for i in globalStart..<(globalStart + globalCount) where m[order[i]] != 0 {
                    c += m[order[i]] * model.sampleWeight(member: k, row: order[i])
                }
                taskLabelCounts[t * members + k] = c
            }
        }
        let width = split.denseWidth, cats = split.categoryColumns
        for j in 0..<localCount {
            let row = order[globalStart + localStart + j]
            split.writeDense(row: row, into: batchDense.pointer + j * width)
            for t in 0..<tasks.count {
                let w = tasks[t].targetWidth
                if w == 1 { batchTargets[t].pointer[j] = split.targets[t][row] }
                else { for c in 0..<w { batchTargets[t].pointer[j * w + c] = split.targets[t][row * w + c] } }
                for k in 0..<members {
                    batchMasks[t].pointer[k * localCount + j] = split.masks[t][row] * model.sampleWeight(member: k, row: row)
                }
            }
            for c in 0..<cats { batchCategories[j * cats + c] = split.categories[row * cats + c] }
            sampleIDs[j] = localStart + j
        }
        if let b = batchSparse, let m = split.sparse {
            m.fill(b, rows: (0..<localCount).lazy.map { order[globalStart + localStart + $0] })
        }
        currentBatch = (order, globalStart, globalCount)
        currentLocalCount = localCount
    }

    /// The optimizer's update: of every parameter, or with lazy sparse updates of the other
    /// tensors and the touched table rows only.
    func applyUpdate(learningRate rate: Float) {
        let store = model.store
        guard lazyRows else {
            optimizer.update(parameters: store.values.pointer, gradients: store.gradients.pointer,
                             state: optimizerState.pointer, count: store.count, learningRate: rate, step: step)
            return
        }
        let total = store.count, p = store.values.pointer, g = store.gradients.pointer
        for e in nonTableEntries {
            optimizer.update(parameters: p, gradients: g, state: optimizerState.pointer, total: total,
                             offset: e.offset, count: e.count, learningRate: rate, step: step)
        }
        for e in sparseTables {
            let width = e.shape[1]
            for j in touchedRows {
                optimizer.update(parameters: p, gradients: g, state: optimizerState.pointer, total: total,
                                 offset: e.offset + Int(j) * width, count: width, learningRate: rate, step: step)
            }
        }
    }

    /// Zeroes the gradients of every tensor but the sparse tables, and of the tables' given rows.
    func zeroGradients(tableRows rows: [Int32]) {
        let g = model.store.gradients.pointer
        for e in nonTableEntries { (g + e.offset).update(repeating: 0, count: e.count) }
        for e in sparseTables {
            let width = e.shape[1]
            for j in rows { (g + e.offset + Int(j) * width).update(repeating: 0, count: width) }
        }
    }

    /// The distinct sparse-block columns (table rows) of the global batch's rows, in `touchedRows`.
    func collectTouchedRows(order: [Int], globalStart: Int, globalCount: Int) {
        guard let sparse = data.train.sparse else { touchedRows.removeAll(); return }
        if touchStamp.count != sparse.width { touchStamp = [Int](repeating: -1, count: sparse.width) }
        touchedRows.removeAll(keepingCapacity: true)
        for i in globalStart..<(globalStart + globalCount) {
            let r = order[i]
            for k in sparse.rowStart[r]..<sparse.rowStart[r + 1] {
                let j = Int(sparse.index[k])
                if touchStamp[j] != step { touchStamp[j] = step; touchedRows.append(sparse.index[k]) }
            }
        }
    }

    /// The forward pass of the step in progress on this rank's rows (dropout as in training).
    func forwardBatch(localCount: Int) {
        let width = data.train.denseWidth, cats = data.train.categoryColumns
        sampleIDs.withUnsafeBufferPointer { ids in
            batchCategories.withUnsafeBufferPointer { catPtr in
                model.forward(BatchInput(dense: batchDense.matrix(rows: localCount, cols: width),
                                         categories: cats > 0 ? catPtr.baseAddress : nil, sparse: batchSparse),
                              context: ForwardContext(training: true, seed: config.training.seed, step: UInt64(step),
                                                      sampleIDs: ids.baseAddress))
            }
        }
    }

    /// Sums the gradients over the ranks; with a sparse projection, only its touched rows travel.
    func synchronizeGradients() throws {
        guard comm.size > 1, !sparseTables.isEmpty, data.train.sparse != nil else {
            try synchronizer.allreduceAll(); return
        }
        let (order, globalStart, globalCount) = currentBatch
        if !lazyRows { collectTouchedRows(order: order, globalStart: globalStart, globalCount: globalCount) }
        try synchronizer.allreduce(touchedRows: touchedRows)
    }

    /// A gradient method's step between recomputations (`weighting.update_every`): the output
    /// gradients scaled by the last coefficients c and one backward pass give sum_t c_t g_t on
    /// the shared tensors; each task-specific tensor, reached by task t alone, is divided by c_t
    /// back to its own task's gradient, as the exact step leaves it; then the usual all-reduce.
    func reusedCoefficientsStep(_ c: [Double], localCount: Int) throws {
        let members = model.members
        if localCount > 0 {
            timed(\.weighting) {
                for t in tasks.indices {
                    let n = members * localCount * tasks[t].outputs, g = outputGradients[t].pointer, f = Float(c[t])
                    for i in 0..<n { g[i] *= f }
                }
            }
            timed(\.backward) { model.backward { outputGradients[$0].matrix(rows: members * localCount, cols: tasks[$0].outputs) } }
            timed(\.weighting) {
                let g = model.store.gradients.pointer
                for (e, t) in taskParameters {
                    let f = 1 / Float(c[t])
                    for i in e.offset..<(e.offset + e.count) { g[i] *= f }
                }
            }
        }
        try timed(\.communication) { try synchronizeGradients() }
        weightSums.record(c)
    }

    /// Gradient methods on the shared parameters: one backward pass per task gives the task's
    /// gradient on the shared tensors (a row of the T x S matrix) while the other tensors
    /// accumulate as usual; the synchronizer sums [matrix | other gradients] over the ranks, so
    /// every rank holds the global batch's task gradients, combines them identically and writes
    /// sum_t c_t g_t into the shared tensors.
    func parameterStep(_ method: GradientWeighting, localCount: Int, learningRate: Float) throws {
        let t = tasks.count, s = synchronizer.sharedCount, members = model.members
        timed(\.backward) {
            if localCount > 0 {
                for task in 0..<t {
                    model.backward { u in (u == task ? self.outputGradients[u] : self.zeroOutputs[u]).matrix(rows: members * localCount, cols: self.tasks[u].outputs) }
                    synchronizer.captureTaskGradient(task)
                }
            } else {
                synchronizer.clearTaskGradients()
            }
        }
        let x = try timed(\.communication) { try synchronizer.allreduceTaskGradients() }
        guard s > 0 else { weightSums.record([Double](repeating: 1, count: t)); return }
        timed(\.weighting) {
            let gram = GradientBalancing.gram(x, tasks: t, length: s, stride: s)
            let c = method.coefficients(gram: gram, losses: stepLosses, step: step, seed: config.training.seed, learningRate: learningRate)
            synchronizer.applyCombination(c)
            weightSums.record(c)
        }
    }

    /// Gradient methods on the shared representation Z: each task's gradient at Z (this rank's
    /// rows), the Gram matrix summed over ranks (rows of different ranks are different
    /// coordinates, so the sum is the global batch's), the combination sum_t c_t dZ_t taken back
    /// through the shared layers once, and the usual sum of all gradients.
    func representationStep(_ rep: SharedRepresentationModel, _ method: GradientWeighting, localCount: Int, learningRate: Float) throws {
        let t = tasks.count, w = rep.representationWidth, block = localCapacity * w, n = localCount * w
        let r = representationGradients.pointer
        var gram = [Double](repeating: 0, count: t * t)
        if localCount > 0 {
            timed(\.backward) {
                for task in 0..<t {
                    let dz = rep.backwardTask(task, gradient: outputGradients[task].matrix(rows: localCount, cols: tasks[task].outputs))
                    (r + task * block).update(from: dz.pointer, count: n)
                }
            }
            timed(\.weighting) { gram = GradientBalancing.gram(r, tasks: t, length: n, stride: block) }
        }
        try timed(\.communication) { try synchronizer.allreduce(&gram) }
        let c = timed(\.weighting) { method.coefficients(gram: gram, losses: stepLosses, step: step, seed: config.training.seed, learningRate: learningRate) }
        if localCount > 0 {
            let dz = representationCombined.matrix(rows: localCount, cols: w)
            timed(\.weighting) {
                dz.pointer.update(repeating: 0, count: n)
                for task in 0..<t { BLAS.axpy(n, alpha: Float(c[task]), x: r + task * block, y: dz.pointer) }
            }
            timed(\.backward) { rep.backwardShared(dz, weights: c) }
        }
        try timed(\.communication) { try synchronizeGradients() }
        weightSums.record(c)
    }
}
