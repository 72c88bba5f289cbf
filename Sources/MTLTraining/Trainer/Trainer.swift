import Foundation
import Logging
import MTLCore
import MTLData
import MTLDistributed
import MTLModels
import MTLWeighting

/// Data-parallel multi-task training.
///
/// Every rank holds the whole (identically preprocessed) training split and a replica of the
/// model. Each epoch visits the training rows in one order drawn the same on every rank
/// (`EpochSampler`); global batch s is its rows [s B, (s + 1) B), and rank r computes on its
/// contiguous share of that batch. Losses are normalised by the global batch's labelled rows
/// per task, so summing the ranks' gradients (`GradientSynchronizer`) gives exactly the
/// global-batch gradient: N ranks follow the one-rank trajectory.
public final class Trainer {
    public let config: RunConfig
    public let comm: Communicator
    public let data: LoadedData
    public let model: MultiTaskModel
    public let optimizer: Optimizer
    public let optimizerState: FloatBuffer
    public let schedule: LearningRateSchedule
    public let sampler: EpochSampler
    public let logger: Logger
    /// How task losses and gradients are combined, with its state.
    public internal(set) var weighting: TaskWeighting
    /// Every way gradients cross ranks.
    public let synchronizer: GradientSynchronizer
    /// Set to measure where the steps' time goes (StepPhases); nil: not measured.
    public var phases: StepPhases?
    /// Optimizer steps taken so far.
    public internal(set) var step = 0
    /// Epochs completed so far.
    public internal(set) var epoch = 0
    /// The best validation value of `checkpoint.best_metric` so far and its epoch.
    public internal(set) var best: (value: Double, epoch: Int)?
    var bestParameters: [Float]?
    /// The mean effective task weights of the last epoch.
    public internal(set) var epochWeights: [Double] = []
    var weightSums: EpochWeights
    /// Steps of the epoch in progress already taken (a run stopped mid-epoch resumes here).
    public internal(set) var positionInEpoch = 0
    /// The agreement of the ranks on a stop request, one value summed each step.
    var stopVote = [0.0]
    /// Resuming mid-epoch on rank 0: each rank's partial loss sums as the checkpoint holds them.
    var pendingEpochLoss: [[Double]] = []

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
    /// Per task: this step's mean loss over the global batch (this rank's share until summed).
    var stepLosses: [Double]
    /// Output gradients of zero, for one backward pass per task (gradient methods, hooks).
    var zeroOutputs: [FloatBuffer] = []
    /// Gradient methods on the shared representation: the model, task gradients at Z (T blocks of
    /// capacity x width) and their combination.
    public private(set) var representationModel: SharedRepresentationModel?
    var representationGradients = FloatBuffer(count: 0)
    var representationCombined = FloatBuffer(count: 0)
    /// The parameters more than one task's loss depends on (found when first needed).
    var sharedParameters: [ParameterEntry]?
    /// The tensors only one task's loss reaches, with that task (found with `sharedParameters`).
    var taskParameters: [(entry: ParameterEntry, task: Int)] = []
    /// Called every `hook.every` steps (the relationship probe of compare and advise).
    public private(set) var hook: TrainingHook?

    /// The sparse projections' tables (rows of `outputSize` floats) and the other tensors.
    let sparseTables: [ParameterEntry]
    let nonTableEntries: [ParameterEntry]
    /// `training.sparse_updates: lazy` with a sparse projection: each step zeroes, all-reduces and
    /// updates only the table rows its global batch touches. Every rank lists the same rows, so
    /// the ranks stay identical; the rows no sample touches keep their values and optimizer state.
    let lazyRows: Bool
    var touchStamp: [Int] = []
    var touchedRows: [Int32] = []
    /// Lazy updates on several ranks with a loss-weighting method: table row j belongs to rank
    /// j mod ranks (Trainer+OwnedRows.swift). Each rank adds the gathered output gradients of the
    /// global batch into the rows it owns, updates those, and sends their new values to the others.
    let ownsTableRows: Bool
    /// The sparse projections whose tables are split by owner (with `ownsTableRows`).
    let ownedLayers: [SparseLinear]
    var gatheredGradients = FloatBuffer(count: 0)
    var gatheredValues = FloatBuffer(count: 0)
    /// Per rank: the step's touched rows that it owns, in `touchedRows` order.
    var ownedTouched: [[Int32]] = []
    /// The global batch of the step in progress.
    var currentBatch: (order: [Int], start: Int, count: Int) = ([], 0, 0)
    var currentLocalCount = 0

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
        try config.model.checkFits(layout: data.preprocessor.layout, maxRows: capacity)
        model = makeModel(config.model, layout: data.preprocessor.layout, maxRows: capacity, seed: t.seed)
        optimizer = t.optimizer.make(t)
        optimizerState = FloatBuffer(count: model.store.count * optimizer.stateMultiplier)
        sampler = EpochSampler(data: data, sampling: t.sampling, taskNames: config.tasks.map(\.name), batchSize: t.batchSize, seed: t.seed)
        schedule = LearningRateSchedule(base: Float(t.learningRate), warmupSteps: t.warmupSteps, decay: t.schedule,
                                        totalSteps: t.epochs * Self.steps(rows: sampler.rows, batch: globalBatch),
                                        minimum: Float(t.minLearningRate))
        batchDense = FloatBuffer(count: capacity * data.train.denseWidth)
        batchCategories = [Int32](repeating: 0, count: capacity * data.train.categoryColumns)
        let members = model.members
        batchTargets = tasks.map { FloatBuffer(count: capacity * $0.targetWidth) }
        batchSparse = data.train.sparse.map { SparseBatch(width: $0.width, maxRows: capacity) }
        batchMasks = tasks.map { _ in FloatBuffer(count: members * capacity) }
        outputGradients = tasks.map { FloatBuffer(count: members * capacity * $0.outputs) }
        sampleIDs = [Int](repeating: 0, count: capacity)
        taskLabelCounts = [Float](repeating: 0, count: tasks.count * members)
        epochLoss = [Double](repeating: 0, count: 2 * tasks.count)
        stepLosses = [Double](repeating: 0, count: tasks.count)
        weighting = makeWeighting(config.weighting, taskWeights: tasks.map(\.weight), optimizer: optimizer)
        weightSums = EpochWeights(tasks: tasks.count)
        sparseTables = model.store.entries.filter { $0.name.hasSuffix("sparse.weight") }
        nonTableEntries = model.store.entries.filter { !$0.name.hasSuffix("sparse.weight") }
        let tableParameters = sparseTables.reduce(0) { $0 + $1.count }
        let lazy: Bool
        switch t.sparseUpdates {
        case .lazy: lazy = true
        case .dense: lazy = false
        case .auto: lazy = tableParameters >= SparseUpdates.autoLazyParameters
        }
        lazyRows = lazy && !sparseTables.isEmpty && data.train.sparse != nil
        synchronizer = GradientSynchronizer(comm: comm, store: model.store, sparseTables: sparseTables)
        let layers = model.sparseLayers
        ownsTableRows = lazyRows && comm.size > 1 && !weighting.combinesGradients
            && layers.map(\.weight.name).sorted() == sparseTables.map(\.name).sorted()
        ownedLayers = ownsTableRows ? layers : []
        ownedTouched = [[Int32]](repeating: [], count: comm.size)
        if weighting.combinesGradients {
            zeroOutputs = tasks.map { FloatBuffer(count: members * capacity * $0.outputs) }
            if config.weighting.gradients == .representation, let rep = model as? SharedRepresentationModel {
                representationModel = rep
                representationGradients = FloatBuffer(count: tasks.count * capacity * rep.representationWidth)
                representationCombined = FloatBuffer(count: capacity * rep.representationWidth)
            } else {
                synchronizer.prepareTaskGradients(shared: shared(), tasks: tasks.count)
            }
            if weighting is PeriodicCoefficients { _ = shared() }   // the task-specific tensors, for reused steps
        }
        try StartupAgreement.verify(try agreementHash(), on: comm)
        try broadcastState()
    }

    /// Which parameter tensors more than one task's loss depends on, found from the model itself
    /// (once): one forward pass over the first training rows, then one backward pass per task with
    /// a unit output gradient for that task only; a tensor is shared when several tasks reach it.
    func shared() -> [ParameterEntry] {
        if let s = sharedParameters { return s }
        let split = data.train
        let rows = min(localCapacity, split.rows, 32)
        let width = split.denseWidth, cats = split.categoryColumns
        let members = model.members
        split.writeDense(rows: 0..<rows, into: batchDense.pointer)
        for i in 0..<(rows * cats) { batchCategories[i] = split.categories[i] }
        if let b = batchSparse, let m = split.sparse { m.fill(b, rows: 0..<rows) }
        batchCategories.withUnsafeBufferPointer { catPtr in
            model.forward(BatchInput(dense: batchDense.matrix(rows: rows, cols: width), categories: cats > 0 ? catPtr.baseAddress : nil,
                                     sparse: batchSparse),
                          context: .evaluation)
        }
        let store = model.store
        var reached = [[Int]](repeating: [], count: store.entries.count)
        for t in tasks.indices {
            for (u, task) in tasks.enumerated() {
                outputGradients[u].pointer.update(repeating: u == t ? 1 : 0, count: members * rows * task.outputs)
            }
            store.zeroGradients()
            model.backward { self.outputGradients[$0].matrix(rows: members * rows, cols: self.tasks[$0].outputs) }
            for (i, e) in store.entries.enumerated() {
                let g = store.gradient(e)
                if (0..<e.count).contains(where: { g[$0] != 0 }) { reached[i].append(t) }
            }
        }
        store.zeroGradients()
        let s = store.entries.indices.filter { reached[$0].count > 1 }.map { store.entries[$0] }
        taskParameters = store.entries.indices.filter { reached[$0].count == 1 }.map { (store.entries[$0], reached[$0][0]) }
        sharedParameters = s
        return s
    }

    /// The shared parameters' count (gradient methods on the parameters and hooks), for logs.
    public var sharedEntries: [ParameterEntry] { sharedParameters ?? [] }
    public var sharedCount: Int { sharedEntries.reduce(0) { $0 + $1.count } }

    static func steps(rows: Int, batch: Int) -> Int { (rows + batch - 1) / batch }
    public var stepsPerEpoch: Int { Self.steps(rows: epochRows, batch: globalBatch) }
    /// Rows drawn per epoch: the training rows, or for mixed sampling of tasks with their own
    /// data sets, the steps the epoch is defined by times the global batch.
    public var epochRows: Int { sampler.rows }
    public var parameterCount: Int { model.store.count }

    /// What every rank must agree on: the effective config, the preprocessing, the layout and the
    /// contents of every file read.
    public func agreementHash() throws -> UInt64 {
        let c = config
        let text = "\(c.data)|\(c.tasks)|\(c.model)|\(c.training)|\(c.weighting)|\(c.checkpoint)|\(try data.preprocessor.json())|\(model.store.layoutDescription)|\(data.train.rows)|\(data.digest.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" })"
        return stableHash(text)
    }

    /// Rank 0's parameters, optimizer state, weighting state and counters to every rank.
    func broadcastState() throws {
        guard comm.size > 1 else {
            if positionInEpoch > 0, let mine = pendingEpochLoss.first, mine.count == epochLoss.count {
                epochLoss = pendingEpochLoss.count == 1 ? mine : (0..<mine.count).map { i in pendingEpochLoss.reduce(0) { $0 + ($1.count > i ? $1[i] : 0) } }
            }
            pendingEpochLoss = []
            return
        }
        try comm.broadcast(UnsafeMutableRawBufferPointer(model.store.values.buffer), root: 0)
        try comm.broadcast(UnsafeMutableRawBufferPointer(optimizerState.buffer), root: 0)
        releaseTableState()
        var weightingState = weighting.flatState
        if !weightingState.isEmpty {
            try weightingState.withUnsafeMutableBytes { try comm.broadcast($0, root: 0) }
            try weighting.setFlatState(weightingState)
        }
        var counters: [Double] = [Double(step), Double(epoch), best?.value ?? .nan, Double(best?.epoch ?? -1), Double(positionInEpoch)]
        try counters.withUnsafeMutableBytes { try comm.broadcast($0, root: 0) }
        step = Int(counters[0]); epoch = Int(counters[1])
        best = counters[2].isNaN ? nil : (counters[2], Int(counters[3]))
        positionInEpoch = Int(counters[4])
        guard positionInEpoch > 0 else { return }
        // Mid-epoch: the weight sums (the same on every rank) and each rank's partial loss sums;
        // from a run on another number of ranks, their total goes to rank 0.
        var sums = weightSums.partial.sums + [Double(weightSums.partial.steps)]
        try sums.withUnsafeMutableBytes { try comm.broadcast($0, root: 0) }
        weightSums.partial = (Array(sums.dropLast()), Int(sums[sums.count - 1]))
        let width = epochLoss.count
        var partial = [Double](repeating: 0, count: comm.size * width)
        if comm.isRoot {
            if pendingEpochLoss.count == comm.size && pendingEpochLoss.allSatisfy({ $0.count == width }) {
                partial = pendingEpochLoss.flatMap { $0 }
            } else {
                for row in pendingEpochLoss where row.count == width { for i in 0..<width { partial[i] += row[i] } }
            }
        }
        try partial.withUnsafeMutableBytes { try comm.broadcast($0, root: 0) }
        epochLoss = Array(partial[(comm.rank * width)..<((comm.rank + 1) * width)])
        pendingEpochLoss = []
    }

    /// The global batch `s` of an epoch's order, and this rank's share of it.
    func shard(step s: Int, rows n: Int) -> (globalStart: Int, globalCount: Int, localStart: Int, localCount: Int) {
        let start = s * globalBatch
        let count = min(globalBatch, n - start)
        let lo = count * comm.rank / comm.size, hi = count * (comm.rank + 1) / comm.size
        return (start, count, lo, hi - lo)
    }

    /// The order of the training rows for an epoch (0-based), the same on every rank.
    func permutation(epoch e: Int) -> [Int] { sampler.order(epoch: e) }

    /// Calls `hook` every `hook.every` steps, before the step's own update, on its batch.
    public func attach(hook h: TrainingHook) {
        _ = shared()
        if zeroOutputs.isEmpty {
            zeroOutputs = tasks.map { FloatBuffer(count: model.members * localCapacity * $0.outputs) }
        }
        h.prepare(tasks: tasks.map(\.name), sharedParameters: sharedCount)
        hook = h
    }

    /// Whether any rank was asked to stop (a collective each step under MPI, so all stop together;
    /// every rank of a job runs the same command, so all or none of them take the vote).
    func stopRequested() throws -> Bool {
        guard StopRequest.isArmed || (comm.size == 1 && StopRequest.isSet) else { return false }
        stopVote[0] = StopRequest.isSet ? 1 : 0
        if comm.size > 1 { try comm.allreduceSum(&stopVote) }
        return stopVote[0] > 0
    }

    /// Trains one epoch, or its rest after `positionInEpoch` steps; returns the mean training
    /// loss per task over all ranks, or nil when a stop request (agreed by every rank) ended it
    /// after a step, with `positionInEpoch` and the partial sums kept for a checkpoint.
    public func trainEpoch(progress: ProgressReporter?) throws -> [Double]? {
        let order = permutation(epoch: epoch)
        if positionInEpoch == 0 { for i in epochLoss.indices { epochLoss[i] = 0 } }
        let steps = stepsPerEpoch
        // A resumed epoch starts where its checkpoint was taken.
        var samples = (0..<positionInEpoch).reduce(0) { $0 + shard(step: $1, rows: order.count).globalCount }
        progress?.starting(at: samples)
        for s in positionInEpoch..<steps {
            try trainStep(order: order, batchIndex: s)
            samples += shard(step: s, rows: order.count).globalCount
            if let progress, progress.due(done: samples, total: order.count) {
                // The running mean loss per task of this rank's shard so far (built only when
                // the reporter draws, so a step allocates nothing for it otherwise).
                progress.update(done: samples, total: order.count,
                                losses: tasks.indices.map { epochLoss[2 * $0 + 1] > 0 ? epochLoss[2 * $0] / epochLoss[2 * $0 + 1] : .nan })
            }
            if try stopRequested() && s + 1 < steps {
                positionInEpoch = s + 1
                return nil
            }
        }
        positionInEpoch = 0
        try comm.allreduceSum(&epochLoss)
        let losses = tasks.indices.map { epochLoss[2 * $0 + 1] > 0 ? epochLoss[2 * $0] / epochLoss[2 * $0 + 1] : .nan }
        // Every rank holds the same sums after the all-reduce, so every rank stops here together,
        // before the epoch's checkpoint: the last good checkpoint stays the newest.
        if let t = tasks.indices.first(where: { epochLoss[2 * $0 + 1] > 0 && !losses[$0].isFinite }) {
            throw UserError("training diverged: task '\(tasks[t].name)' has a non-finite training loss in epoch \(epoch + 1)",
                            hint: "lower training.learning_rate, or set training.clip_norm; the checkpoints written before this epoch are kept")
        }
        epoch += 1
        epochWeights = weightSums.takeMeans()
        weighting.endEpoch(losses: losses)
        return losses
    }
}
