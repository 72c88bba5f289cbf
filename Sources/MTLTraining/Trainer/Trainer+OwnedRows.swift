import MTLCore
import MTLData

/// Sparse projection tables split by owner across ranks (lazy updates, several ranks, a
/// loss-weighting method). Row j of every table belongs to rank j mod ranks.
///
/// Every rank holds the whole data, so every rank knows the global batch's sparse rows; what it
/// lacks is the other ranks' output gradients at the projection. So a step sends those (global
/// batch x projection width floats, all-gathered) instead of the touched rows' gradients
/// (touched rows x width, all-reduced: a news batch of 256 documents touches tens of thousands of
/// rows); each rank adds them into the touched rows it owns, in the global batch's order (the
/// order one rank adds them in, so the table gradients are one rank's to rounding), clips and
/// updates only those rows, and all-gathers their new values, so every rank's table stays whole
/// and identical. The optimizer state of a row lives on its owner only (the others keep zeros):
/// it is summed to every rank for a checkpoint (`collectTableState`) and zeroed again after
/// (`releaseTableState`), so checkpoints and resume are those of one rank.
extension Trainer {
    @inline(__always) func owner(_ row: Int32) -> Int { Int(row) % comm.size }

    /// Rank r's rows of the global batch of `count` rows (as `shard`).
    func shardRange(rank r: Int, count: Int) -> (start: Int, count: Int) {
        let lo = count * r / comm.size, hi = count * (r + 1) / comm.size
        return (lo, hi - lo)
    }

    /// The backward pass with the tables' gradients kept aside (`SparseLinear.deferred`).
    func backwardDeferringTables() {
        for l in ownedLayers { l.deferred = true }
        defer { for l in ownedLayers { l.deferred = false } }
        model.backward { outputGradients[$0].matrix(rows: model.members * currentLocalCount, cols: tasks[$0].outputs) }
    }

    /// Sums the other tensors' gradients over the ranks, gathers every rank's output gradients at
    /// the projections, and adds the global batch's into this rank's touched rows.
    func synchronizeOwnedRows() throws {
        let (order, globalStart, globalCount) = currentBatch
        try synchronizer.allreduce(touchedRows: [])
        let width = ownedLayers.reduce(0) { $0 + $1.outputSize }
        let needed = globalCount * width
        if gatheredGradients.count < needed { gatheredGradients = FloatBuffer(count: max(needed, globalBatch * width)) }
        let x = gatheredGradients.pointer
        var counts = [Int](repeating: 0, count: comm.size)
        var partStart = [Int](repeating: 0, count: comm.size)
        for r in 0..<comm.size {
            counts[r] = shardRange(rank: r, count: globalCount).count * width
            if r > 0 { partStart[r] = partStart[r - 1] + counts[r - 1] }
        }
        let mine = shardRange(rank: comm.rank, count: globalCount).count
        var o = partStart[comm.rank]
        for l in ownedLayers {
            (x + o).update(from: l.pendingGradient, count: mine * l.outputSize)
            o += mine * l.outputSize
        }
        try comm.allgather(UnsafeMutableBufferPointer(start: x, count: needed), counts: counts)
        try timedAccumulate {
            guard let sparse = data.train.sparse else { return }
            let me = comm.rank, size = comm.size
            sparse.rowStart.withUnsafeBufferPointer { starts in
                sparse.index.withUnsafeBufferPointer { index in
                    sparse.value.withUnsafeBufferPointer { value in
                        var blockStart = 0   // the layer's block inside each rank's part, in floats per row
                        for l in ownedLayers {
                            let p = l.outputSize, dw = model.store.gradient(l.weight)
                            for r in 0..<size {
                                let (lo, n) = shardRange(rank: r, count: globalCount)
                                let block = x + partStart[r] + n * blockStart
                                for j in 0..<n {
                                    let row = order[globalStart + lo + j], g = block + j * p
                                    for k in starts[row]..<starts[row + 1] where Int(index[k]) % size == me {
                                        VectorKernels.addScaled(g, value[k], into: dw + Int(index[k]) * p, count: p)
                                    }
                                }
                            }
                            blockStart += p
                        }
                    }
                }
            }
        }
        for r in 0..<comm.size { ownedTouched[r].removeAll(keepingCapacity: true) }
        for j in touchedRows { ownedTouched[owner(j)].append(j) }
    }

    private func timedAccumulate(_ body: () throws -> Void) throws {
        // Counted as backward: it is the tables' share of the backward pass.
        let start = phases != nil ? ContinuousClock.now : nil
        try body()
        if let t = start { let d = ContinuousClock.now - t; phases?.backward += d; phases?.communication -= d }
    }

    /// Scales the gradients so their global L2 norm is at most `maxNorm`: the other tensors'
    /// (the same on every rank) and every rank's owned rows'.
    func clipOwnedGradientNorm(maxNorm: Float) throws {
        let g = model.store.gradients.pointer
        var dense = 0.0
        for e in nonTableEntries { for i in e.offset..<(e.offset + e.count) { dense += Double(g[i]) * Double(g[i]) } }
        var owned = [0.0]
        for l in ownedLayers {
            let p = l.outputSize, base = g + l.weight.offset
            for j in ownedTouched[comm.rank] { for i in 0..<p { let v = Double(base[Int(j) * p + i]); owned[0] += v * v } }
        }
        try comm.allreduceSum(&owned)
        let norm = Float((dense + owned[0]).squareRoot())
        guard maxNorm > 0 && norm > maxNorm else { return }
        let s = maxNorm / (norm + 1e-6)
        for e in nonTableEntries { for i in e.offset..<(e.offset + e.count) { g[i] *= s } }
        for l in ownedLayers {
            let p = l.outputSize, base = g + l.weight.offset
            for j in ownedTouched[comm.rank] { for i in 0..<p { base[Int(j) * p + i] *= s } }
        }
    }

    /// The optimizer's update of the other tensors and of this rank's touched rows.
    func applyOwnedUpdate(learningRate rate: Float) {
        let store = model.store, total = store.count, p = store.values.pointer, g = store.gradients.pointer
        for e in nonTableEntries {
            optimizer.update(parameters: p, gradients: g, state: optimizerState.pointer, total: total,
                             offset: e.offset, count: e.count, learningRate: rate, step: step)
        }
        for l in ownedLayers {
            let width = l.outputSize
            for j in ownedTouched[comm.rank] {
                optimizer.update(parameters: p, gradients: g, state: optimizerState.pointer, total: total,
                                 offset: l.weight.offset + Int(j) * width, count: width, learningRate: rate, step: step)
            }
        }
    }

    /// Every rank's updated rows to every rank.
    func gatherOwnedRows() throws {
        let width = ownedLayers.reduce(0) { $0 + $1.outputSize }
        let counts = ownedTouched.map { $0.count * width }
        let needed = counts.reduce(0, +)
        if gatheredValues.count < needed { gatheredValues = FloatBuffer(count: needed + needed / 2) }
        let x = gatheredValues.pointer, values = model.store.values.pointer
        var partStart = [Int](repeating: 0, count: comm.size)
        for r in 1..<comm.size { partStart[r] = partStart[r - 1] + counts[r - 1] }
        func rows(_ r: Int, _ body: (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>, Int) -> Void) {
            var o = partStart[r]
            for l in ownedLayers {
                let p = l.outputSize, base = values + l.weight.offset
                for j in ownedTouched[r] { body(x + o, base + Int(j) * p, p); o += p }
            }
        }
        rows(comm.rank) { packed, row, p in packed.update(from: row, count: p) }
        try comm.allgather(UnsafeMutableBufferPointer(start: x, count: needed), counts: counts)
        for r in 0..<comm.size where r != comm.rank { rows(r) { packed, row, p in row.update(from: packed, count: p) } }
    }

    /// Sums the tables' optimizer state over the ranks, so every rank (rank 0 writing a
    /// checkpoint) holds every row's: a row's state is nonzero on its owner only. Every rank calls it.
    func collectTableState() throws {
        guard ownsTableRows else { return }
        let total = model.store.count, s = optimizerState.pointer
        let piece = 1 << 22   // floats per all-reduce: no temporary the size of a large table
        for l in ownedLayers {
            for k in 0..<optimizer.stateMultiplier {
                let base = s + k * total + l.weight.offset
                var start = 0
                while start < l.weight.count {
                    let n = min(piece, l.weight.count - start)
                    try comm.allreduceSum(UnsafeMutableBufferPointer(start: base + start, count: n))
                    start += n
                }
            }
        }
    }

    /// Zeroes the tables' optimizer state in the rows this rank does not own (after a checkpoint
    /// or a broadcast of rank 0's state).
    func releaseTableState() {
        guard ownsTableRows else { return }
        let total = model.store.count, s = optimizerState.pointer
        for l in ownedLayers {
            let p = l.outputSize, rows = l.weight.count / max(p, 1)
            for k in 0..<optimizer.stateMultiplier {
                let base = s + k * total + l.weight.offset
                for j in 0..<rows where j % comm.size != comm.rank { (base + j * p).update(repeating: 0, count: p) }
            }
        }
    }
}
