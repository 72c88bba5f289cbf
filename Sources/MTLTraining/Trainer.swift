import Foundation
import Logging
import MTLCore
import MTLDistributed

/// Data-parallel multi-task training.
///
/// Every rank holds the whole (identically preprocessed) training split and a replica of the
/// model. Each epoch draws one seeded permutation of the training rows; global batch s is its
/// rows [s B, (s + 1) B), and rank r computes on its contiguous share of that batch. Losses are
/// normalised by the global batch's labelled rows per task, so summing the ranks' gradients with
/// one all-reduce gives exactly the global-batch gradient: N ranks follow the one-rank trajectory.
public final class Trainer {
    public let config: RunConfig
    public let comm: Communicator
    public let data: LoadedData
    public let model: MultiTaskModel
    public let optimizer: Optimizer
    public let optimizerState: FloatBuffer
    public let schedule: LearningRateSchedule
    public let logger: Logger
    /// Optimizer steps taken so far.
    public internal(set) var step = 0
    /// Epochs completed so far.
    public internal(set) var epoch = 0
    /// The best validation value of `checkpoint.best_metric` so far and its epoch.
    public internal(set) var best: (value: Double, epoch: Int)?
    var bestParameters: [Float]?

    let globalBatch: Int
    let localCapacity: Int
    public let tasks: [Preprocessor.TaskEncoding]
    // Buffers of the training step, allocated once.
    let batchDense: FloatBuffer
    var batchCategories: [Int32]
    let batchTargets: [FloatBuffer]
    let batchSparse: SparseBatch?
    let batchMasks: [FloatBuffer]
    let outputGradients: [FloatBuffer]
    var sampleIDs: [Int]
    /// Per task and member: the labelled (weighted) rows of the current global batch.
    var taskLabelCounts: [Float]
    /// Per task: loss sum and labelled rows of this rank since the epoch began.
    var epochLoss: [Double]
    /// How task losses and gradients are combined, with its state.
    public let weighting: TaskWeighting
    /// Per task: this step's mean loss over the global batch (this rank's share until summed).
    var stepLosses: [Double]
    /// The mean effective task weights of the last epoch.
    public internal(set) var epochWeights: [Double] = []
    /// Gradient methods on the shared parameters: the parameters more than one task's loss
    /// depends on, the others, and one buffer [T x S task-gradient matrix | other gradients]
    /// that a single all-reduce sums.
    public internal(set) var sharedEntries: [ParameterEntry] = []
    var otherEntries: [ParameterEntry] = []
    public internal(set) var sharedCount = 0
    var exchange = FloatBuffer(count: 0)
    var zeroOutputs: [FloatBuffer] = []
    /// Gradient methods on the shared representation: the model, task gradients at Z (T blocks of
    /// capacity x width) and their combination.
    var representationModel: SharedRepresentationModel?
    var representationGradients = FloatBuffer(count: 0)
    var representationCombined = FloatBuffer(count: 0)
    /// Measures task relationships every `probe.every` steps (compare, advise).
    public internal(set) var probe: RelationshipProbe?

    public init(config: RunConfig, data: LoadedData, comm: Communicator, logger: Logger) throws {
        self.config = config
        self.comm = comm
        self.data = data
        self.logger = logger
        let t = config.training
        globalBatch = t.batchSize
        let capacity = max(1, (t.batchSize + comm.size - 1) / comm.size)
        localCapacity = capacity
        tasks = data.preprocessor.tasks
        model = makeModel(config.model, preprocessor: data.preprocessor, maxRows: localCapacity, seed: t.seed)
        switch t.optimizer {
        case "sgd": optimizer = SGD(momentum: Float(t.momentum), weightDecay: Float(t.weightDecay))
        case "adamw": optimizer = Adam(beta1: Float(t.beta1), beta2: Float(t.beta2), epsilon: Float(t.epsilon),
                                       weightDecay: Float(t.weightDecay), decoupled: true)
        default: optimizer = Adam(beta1: Float(t.beta1), beta2: Float(t.beta2), epsilon: Float(t.epsilon),
                                  weightDecay: Float(t.weightDecay), decoupled: false)
        }
        optimizerState = FloatBuffer(count: model.store.count * optimizer.stateMultiplier)
        schedule = LearningRateSchedule(base: Float(t.learningRate), warmupSteps: t.warmupSteps,
                                        decay: LearningRateSchedule.Decay(rawValue: t.schedule) ?? .constant,
                                        totalSteps: t.epochs * Self.steps(rows: Self.epochRows(config: config, data: data), batch: globalBatch),
                                        minimum: Float(t.minLearningRate))
        batchDense = FloatBuffer(count: localCapacity * data.train.denseWidth)
        batchCategories = [Int32](repeating: 0, count: localCapacity * data.train.categoryColumns)
        let encodings = data.preprocessor.tasks
        let members = model.members
        batchTargets = encodings.map { FloatBuffer(count: capacity * $0.targetWidth) }
        batchSparse = data.train.sparse.map { SparseBatch(width: $0.width, maxRows: capacity) }
        batchMasks = encodings.map { _ in FloatBuffer(count: members * capacity) }
        outputGradients = encodings.map { FloatBuffer(count: members * capacity * $0.outputs) }
        sampleIDs = [Int](repeating: 0, count: localCapacity)
        taskLabelCounts = [Float](repeating: 0, count: tasks.count * members)
        epochLoss = [Double](repeating: 0, count: 2 * tasks.count)
        stepLosses = [Double](repeating: 0, count: tasks.count)
        weighting = TaskWeighting(config.weighting, weights: encodings.map(\.weight), optimizer: optimizer)
        if weighting.needsGradients {
            zeroOutputs = encodings.map { FloatBuffer(count: members * capacity * $0.outputs) }
            if config.weighting.gradients == "representation", let rep = model as? SharedRepresentationModel {
                representationModel = rep
                representationGradients = FloatBuffer(count: tasks.count * capacity * rep.representationWidth)
                representationCombined = FloatBuffer(count: capacity * rep.representationWidth)
            } else {
                let (shared, other) = probeSharing()
                sharedEntries = shared; otherEntries = other
                sharedCount = shared.reduce(0) { $0 + $1.count }
                exchange = FloatBuffer(count: tasks.count * sharedCount + model.store.count - sharedCount)
            }
        }
        try synchronizeStart()
    }

    /// Which parameter tensors more than one task's loss depends on, found from the model itself:
    /// one forward pass over the first training rows, then one backward pass per task with a unit
    /// output gradient for that task only; a tensor is shared when several tasks reach it.
    func probeSharing() -> (shared: [ParameterEntry], other: [ParameterEntry]) {
        let split = data.train
        let rows = min(localCapacity, split.rows, 32)
        let width = split.denseWidth, cats = split.categoryColumns
        let members = model.members
        split.dense.withUnsafeBufferPointer { batchDense.pointer.update(from: $0.baseAddress!, count: rows * width) }
        for i in 0..<(rows * cats) { batchCategories[i] = split.categories[i] }
        if let b = batchSparse, let m = split.sparse { m.fill(b, rows: 0..<rows) }
        batchCategories.withUnsafeBufferPointer { catPtr in
            model.forward(BatchInput(dense: batchDense.matrix(rows: rows, cols: width), categories: cats > 0 ? catPtr.baseAddress : nil,
                                     sparse: batchSparse),
                          context: .evaluation)
        }
        let store = model.store
        var reached = [Int](repeating: 0, count: store.entries.count)
        for t in tasks.indices {
            for (u, task) in tasks.enumerated() {
                outputGradients[u].pointer.update(repeating: u == t ? 1 : 0, count: members * rows * task.outputs)
            }
            store.zeroGradients()
            model.backward { self.outputGradients[$0].matrix(rows: members * rows, cols: self.tasks[$0].outputs) }
            for (i, e) in store.entries.enumerated() {
                let g = store.gradient(e)
                if (0..<e.count).contains(where: { g[$0] != 0 }) { reached[i] += 1 }
            }
        }
        store.zeroGradients()
        let shared = store.entries.indices.filter { reached[$0] > 1 }.map { store.entries[$0] }
        let other = store.entries.indices.filter { reached[$0] <= 1 }.map { store.entries[$0] }
        return (shared, other)
    }

    static func steps(rows: Int, batch: Int) -> Int { (rows + batch - 1) / batch }
    public var stepsPerEpoch: Int { Self.steps(rows: epochRows, batch: globalBatch) }
    /// Rows drawn per epoch: the training rows, or for mixed sampling of tasks with their own
    /// data sets, the steps the epoch is defined by times the global batch.
    public var epochRows: Int { Self.epochRows(config: config, data: data) }

    static func mixing(config: RunConfig, data: LoadedData) -> [Double]? {
        let t = config.training
        guard let ranges = data.taskRows, t.sampling != "proportional" || t.epochTask != nil || t.stepsPerEpoch > 0 else { return nil }
        let sizes = ranges.map { Double($0.count) }
        let raw: [Double]
        switch t.sampling {
        case "uniform": raw = sizes.map { _ in 1 }
        case "temperature": raw = sizes.map { Foundation.pow($0, 1 / t.samplingTemperature) }
        default: raw = sizes
        }
        let total = raw.reduce(0, +)
        return raw.map { $0 / total }
    }

    static func epochRows(config: RunConfig, data: LoadedData) -> Int {
        guard let p = mixing(config: config, data: data) else { return data.train.rows }
        let b = config.training.batchSize
        if config.training.stepsPerEpoch > 0 { return config.training.stepsPerEpoch * b }
        if let name = config.training.epochTask, let task = config.tasks.firstIndex(where: { $0.name == name }),
           let i = data.sourceTasks.firstIndex(where: { $0.contains(task) }) {
            // Enough steps that the rows of the task's data set are drawn once in expectation.
            let n = Double(data.taskRows![i].count)
            return Int((n / (Double(b) * p[i])).rounded(.up)) * b
        }
        return data.train.rows
    }
    public var parameterCount: Int { model.store.count }

    /// What every rank must agree on: the effective config, the preprocessing and the layout.
    public var agreementHash: UInt64 {
        let c = config
        let text = "\(c.data)|\(c.tasks)|\(c.model)|\(c.training)|\(c.weighting)|\(c.checkpoint)|\(data.preprocessor.json())|\(model.store.layoutDescription)|\(data.train.rows)"
        return stableHash(text)
    }

    /// Checks that every rank built the same run, then makes rank 0's parameters everyone's.
    func synchronizeStart() throws {
        let hashes = try comm.allgather(agreementHash)
        if Set(hashes).count > 1 {
            let groups = Dictionary(grouping: hashes.indices, by: { hashes[$0] }).values.map { $0.map(String.init).joined(separator: ",") }
            throw UserError("the ranks disagree on the config, data or model layout (ranks grouped by agreement: \(groups.joined(separator: " | ")))",
                            hint: "start every rank with the same binary, config file, flags and data files")
        }
        try broadcastState()
    }

    /// Rank 0's parameters, optimizer state and counters to every rank.
    func broadcastState() throws {
        guard comm.size > 1 else { return }
        try comm.broadcast(UnsafeMutableRawBufferPointer(model.store.values.buffer), root: 0)
        try comm.broadcast(UnsafeMutableRawBufferPointer(optimizerState.buffer), root: 0)
        var weightingState = weighting.flatState
        if !weightingState.isEmpty {
            try weightingState.withUnsafeMutableBytes { try comm.broadcast($0, root: 0) }
            weighting.setFlatState(weightingState)
        }
        var counters: [Double] = [Double(step), Double(epoch), best?.value ?? .nan, Double(best?.epoch ?? -1)]
        try counters.withUnsafeMutableBytes { try comm.broadcast($0, root: 0) }
        step = Int(counters[0]); epoch = Int(counters[1])
        best = counters[2].isNaN ? nil : (counters[2], Int(counters[3]))
    }

    /// The global batch `s` of an epoch's permutation, and this rank's share of it.
    func shard(step s: Int, rows n: Int) -> (globalStart: Int, globalCount: Int, localStart: Int, localCount: Int) {
        let start = s * globalBatch
        let count = min(globalBatch, n - start)
        let lo = count * comm.rank / comm.size, hi = count * (comm.rank + 1) / comm.size
        return (start, count, lo, hi - lo)
    }

    /// The permutation of the training rows for an epoch (0-based), the same on every rank.
    func permutation(epoch e: Int) -> [Int] {
        guard let p = Self.mixing(config: config, data: data), let ranges = data.taskRows else {
            return seededPermutation(data.train.rows, seed: SplitMix64.mix(config.training.seed &+ 0x0E90_C400 &+ UInt64(e)))
        }
        // Mixed sampling (MT-DNN style): each slot of the epoch draws a data set with probability
        // p_t, then that data set's next row from its own stream of seeded permutations. Every draw
        // depends on (seed, epoch, slot) only, so every rank builds the same order.
        let seed = SplitMix64.mix(config.training.seed ^ 0x7A5C_0000_0000 &+ UInt64(e))
        var cumulative: [Float] = []
        var sum = 0.0
        for q in p { sum += q; cumulative.append(Float(sum)) }
        var cursors = [Int](repeating: 0, count: ranges.count)
        var streams: [[Int]] = ranges.map { _ in [] }
        let rows = epochRows
        var order = [Int](repeating: 0, count: rows)
        for slot in 0..<rows {
            let u = CounterRandom.uniform(seed, UInt64(slot), 0x51)
            let t = cumulative.firstIndex(where: { u < $0 }) ?? (ranges.count - 1)
            let n = ranges[t].count
            if cursors[t] % n == 0 {
                streams[t] = seededPermutation(n, seed: SplitMix64.mix(seed ^ UInt64(t) &* 0x1_0000_0001 ^ UInt64(cursors[t] / n)))
            }
            order[slot] = ranges[t].lowerBound + streams[t][cursors[t] % n]
            cursors[t] += 1
        }
        return order
    }

    /// One optimizer step on global batch `s` of `order`; returns this rank's loss sum.
    @discardableResult
    func trainStep(order: [Int], batchIndex s: Int) throws -> Double {
        let split = data.train
        let (globalStart, globalCount, localStart, localCount) = shard(step: s, rows: order.count)
        let members = model.members
        // Labelled rows per task (and member weight) in the whole global batch: every rank knows all labels.
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
        split.dense.withUnsafeBufferPointer { dense in
            for j in 0..<localCount {
                let row = order[globalStart + localStart + j]
                (batchDense.pointer + j * width).update(from: dense.baseAddress! + row * width, count: width)
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
        }
        if let b = batchSparse, let m = split.sparse {
            m.fill(b, rows: (0..<localCount).lazy.map { order[globalStart + localStart + $0] })
        }
        currentBatch = (order, globalStart, globalCount)
        step += 1
        var probed = false
        if let p = probe, step % p.every == 0 { try measureRelationships(p, localCount: localCount); probed = true }
        if lazyRows {
            // Only the previous step's touched table rows (and the other tensors) hold gradients,
            // unless the probe's passes wrote others.
            if probed { model.store.zeroGradients() } else { zeroGradients(tableRows: touchedRows) }
            collectTouchedRows(order: order, globalStart: globalStart, globalCount: globalCount)
        } else {
            model.store.zeroGradients()
        }
        var lossSum = 0.0
        for t in stepLosses.indices { stepLosses[t] = 0 }
        if localCount > 0 {
            forwardBatch(localCount: localCount)
            for (t, task) in tasks.enumerated() {
                let k = task.outputs
                let out = model.output(t).pointer, g = outputGradients[t].pointer
                for member in 0..<members {
                    let count = taskLabelCounts[t * members + member]
                    let scale = count > 0 ? 1 / count : 0
                    let mask = batchMasks[t].pointer + member * localCount
                    let loss = Self.taskLoss(task, Matrix(out + member * localCount * k, rows: localCount, cols: k),
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
        if weighting.needsLosses { try comm.allreduceSum(&stepLosses) }
        if weighting.needsGradients {
            if let rep = representationModel {
                try representationStep(rep, localCount: localCount, learningRate: rate)
            } else {
                try parameterStep(localCount: localCount, learningRate: rate)
            }
        } else {
            let w = weighting.lossWeights(step: step, seed: config.training.seed, losses: stepLosses)
            if localCount > 0 {
                for t in tasks.indices where w[t] != 1 {
                    let n = members * localCount * tasks[t].outputs, g = outputGradients[t].pointer, f = Float(w[t])
                    for i in 0..<n { g[i] *= f }
                }
                model.backward { outputGradients[$0].matrix(rows: members * localCount, cols: tasks[$0].outputs) }
            }
            try allreduceGradients(order: order, globalStart: globalStart, globalCount: globalCount)
            weighting.afterStep(losses: stepLosses, step: step, learningRate: rate)
            weighting.record(w)
        }
        if config.training.clipNorm > 0 {
            clipGradientNorm(model.store.gradients.pointer, count: model.store.count, maxNorm: Float(config.training.clipNorm))
        }
        if lazyRows {
            let total = model.store.count, p = model.store.values.pointer, g = model.store.gradients.pointer
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
        } else {
            optimizer.update(parameters: model.store.values.pointer, gradients: model.store.gradients.pointer,
                             state: optimizerState.pointer, count: model.store.count,
                             learningRate: rate, step: step)
        }
        return lossSum
    }

    /// `training.sparse_updates: lazy` with a sparse projection: each step zeroes, all-reduces and
    /// updates only the table rows its global batch touches. Every rank lists the same rows, so
    /// the ranks stay identical; the rows no sample touches keep their values and optimizer state.
    lazy var lazyRows: Bool = config.training.sparseUpdates == "lazy" && !sparseTables.isEmpty && data.train.sparse != nil

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

    /// The global batch of the step in progress.
    var currentBatch: (order: [Int], start: Int, count: Int) = ([], 0, 0)
    /// The sparse projections' tables (rows of `outputSize` floats), the other tensors, and the
    /// stamps and buffers that pack their touched rows for the all-reduce.
    lazy var sparseTables: [ParameterEntry] = model.store.entries.filter { $0.name.hasSuffix("sparse.weight") }
    lazy var nonTableEntries: [ParameterEntry] = model.store.entries.filter { !$0.name.hasSuffix("sparse.weight") }
    var touchStamp: [Int] = []
    var touchedRows: [Int32] = []
    var packed = FloatBuffer(count: 0)

    /// Sums the gradients over the ranks. A sparse projection table's gradient is zero on every
    /// rank in the rows no sample of the global batch touches; every rank holds the whole batch, so
    /// each lists the same touched rows and the all-reduce carries only those rows (plus every other
    /// tensor) instead of the whole table: the same sum, a fraction of the bytes.
    func allreduceGradients(order: [Int], globalStart: Int, globalCount: Int) throws {
        guard comm.size > 1, !sparseTables.isEmpty, data.train.sparse != nil else {
            try comm.allreduceSum(model.store.gradients.buffer); return
        }
        if !lazyRows { collectTouchedRows(order: order, globalStart: globalStart, globalCount: globalCount) }
        let grads = model.store.gradients.pointer
        let width = sparseTables[0].shape[1]
        let other = nonTableEntries.reduce(0) { $0 + $1.count }
        let needed = other + sparseTables.count * touchedRows.count * width
        if packed.count < needed { packed = FloatBuffer(count: needed + needed / 2) }
        let x = packed.pointer
        var o = 0
        for e in nonTableEntries { (x + o).update(from: grads + e.offset, count: e.count); o += e.count }
        for e in sparseTables {
            let p = e.shape[1]
            for j in touchedRows { (x + o).update(from: grads + e.offset + Int(j) * p, count: p); o += p }
        }
        try comm.allreduceSum(UnsafeMutableBufferPointer(start: x, count: o))
        o = 0
        for e in nonTableEntries { (grads + e.offset).update(from: x + o, count: e.count); o += e.count }
        for e in sparseTables {
            let p = e.shape[1]
            for j in touchedRows { (grads + e.offset + Int(j) * p).update(from: x + o, count: p); o += p }
        }
    }

    /// Gradient methods on the shared parameters: one backward pass per task gives the task's
    /// gradient on the shared tensors (a row of the T x S matrix) while the other tensors
    /// accumulate as usual; one all-reduce sums [matrix | other gradients] over the ranks, so
    /// every rank holds the global batch's task gradients, combines them identically and writes
    /// sum_t c_t g_t into the shared tensors.
    func parameterStep(localCount: Int, learningRate: Float) throws {
        let t = tasks.count, s = sharedCount, members = model.members
        let grads = model.store.gradients.pointer, x = exchange.pointer
        if localCount > 0 {
            for task in 0..<t {
                model.backward { u in (u == task ? self.outputGradients[u] : self.zeroOutputs[u]).matrix(rows: members * localCount, cols: self.tasks[u].outputs) }
                var o = task * s
                for e in sharedEntries {
                    (x + o).update(from: grads + e.offset, count: e.count)
                    (grads + e.offset).update(repeating: 0, count: e.count)
                    o += e.count
                }
            }
        } else {
            x.update(repeating: 0, count: t * s)
        }
        var o = t * s
        for e in otherEntries { (x + o).update(from: grads + e.offset, count: e.count); o += e.count }
        try comm.allreduceSum(exchange.buffer)
        o = t * s
        for e in otherEntries { (grads + e.offset).update(from: x + o, count: e.count); o += e.count }
        guard s > 0 else { weighting.record([Double](repeating: 1, count: t)); return }
        let gram = GradientBalancing.gram(x, tasks: t, length: s, stride: s)
        let c = weighting.combine(gram: gram, losses: stepLosses, step: step, seed: config.training.seed, learningRate: learningRate)
        o = 0
        for e in sharedEntries {
            let dst = grads + e.offset
            dst.update(repeating: 0, count: e.count)
            for task in 0..<t { BLAS.axpy(e.count, alpha: Float(c[task]), x: x + task * s + o, y: dst) }
            o += e.count
        }
        weighting.record(c)
    }

    /// Gradient methods on the shared representation Z: each task's gradient at Z (this rank's
    /// rows), the Gram matrix summed over ranks (rows of different ranks are different
    /// coordinates, so the sum is the global batch's), the combination sum_t c_t dZ_t taken back
    /// through the shared layers once, and the usual all-reduce of all gradients.
    func representationStep(_ rep: SharedRepresentationModel, localCount: Int, learningRate: Float) throws {
        let (order, globalStart, globalCount) = currentBatch
        let t = tasks.count, w = rep.representationWidth, block = localCapacity * w, n = localCount * w
        let r = representationGradients.pointer
        var gram = [Double](repeating: 0, count: t * t)
        if localCount > 0 {
            for task in 0..<t {
                let dz = rep.backwardTask(task, gradient: outputGradients[task].matrix(rows: localCount, cols: tasks[task].outputs))
                (r + task * block).update(from: dz.pointer, count: n)
            }
            gram = GradientBalancing.gram(r, tasks: t, length: n, stride: block)
        }
        try comm.allreduceSum(&gram)
        let c = weighting.combine(gram: gram, losses: stepLosses, step: step, seed: config.training.seed, learningRate: learningRate)
        if localCount > 0 {
            let dz = representationCombined.matrix(rows: localCount, cols: w)
            dz.pointer.update(repeating: 0, count: n)
            for task in 0..<t { BLAS.axpy(n, alpha: Float(c[task]), x: r + task * block, y: dz.pointer) }
            rep.backwardShared(dz)
        }
        try allreduceGradients(order: order, globalStart: globalStart, globalCount: globalCount)
        weighting.record(c)
    }

    /// The summed loss of one task's block and its gradient (scaled by `scale`).
    static func taskLoss(_ task: Preprocessor.TaskEncoding, _ output: Matrix, target: UnsafePointer<Float>,
                  mask: UnsafePointer<Float>, scale: Float, gradient: UnsafeMutablePointer<Float>) -> Double {
        switch task.taskKind {
        case .binary:
            return Loss.binaryCrossEntropyWithLogits(logits: output.pointer, targets: target, mask: mask, rows: output.rows,
                                                     scale: scale, gradient: gradient)
        case .multiclass:
            return Loss.softmaxCrossEntropy(logits: output.pointer, targets: target, mask: mask, rows: output.rows,
                                            classes: task.outputs, scale: scale, gradient: gradient)
        case .regression:
            return Loss.meanSquaredError(predictions: output.pointer, targets: target, mask: mask, rows: output.rows,
                                         scale: scale, gradient: gradient)
        case .multilabel:
            guard let weights = task.classWeights else {
                return Loss.multiLabelCrossEntropy(logits: output.pointer, targets: target, mask: mask, rows: output.rows,
                                                   classes: task.outputs, scale: scale, gradient: gradient)
            }
            return weights.withUnsafeBufferPointer {
                Loss.multiLabelCrossEntropy(logits: output.pointer, targets: target, mask: mask, rows: output.rows,
                                            classes: task.outputs, scale: scale, gradient: gradient, classWeights: $0.baseAddress)
            }
        }
    }

    /// Trains one epoch; returns the mean training loss per task over all ranks.
    public func trainEpoch(progress: ProgressReporter?) throws -> [Double] {
        let order = permutation(epoch: epoch)
        for i in epochLoss.indices { epochLoss[i] = 0 }
        let steps = stepsPerEpoch
        let started = Date()
        var samples = 0
        for s in 0..<steps {
            let loss = try trainStep(order: order, batchIndex: s)
            samples += shard(step: s, rows: order.count).globalCount
            progress?.update(done: samples, total: order.count, elapsed: Date().timeIntervalSince(started), loss: loss)
        }
        try comm.allreduceSum(&epochLoss)
        let losses = tasks.indices.map { epochLoss[2 * $0 + 1] > 0 ? epochLoss[2 * $0] / epochLoss[2 * $0 + 1] : .nan }
        // Every rank holds the same sums after the all-reduce, so every rank stops here together,
        // before the epoch's checkpoint: the last good checkpoint stays the newest.
        if let t = tasks.indices.first(where: { epochLoss[2 * $0 + 1] > 0 && !losses[$0].isFinite }) {
            throw UserError("training diverged: task '\(tasks[t].name)' has a non-finite training loss in epoch \(epoch + 1)",
                            hint: "lower training.learning_rate, or set training.clip_norm; the checkpoints written before this epoch are kept")
        }
        epoch += 1
        epochWeights = weighting.endEpoch(losses: losses)
        return losses
    }
}
