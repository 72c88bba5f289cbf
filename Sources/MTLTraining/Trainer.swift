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
    let batchMasks: [FloatBuffer]
    let outputGradients: [FloatBuffer]
    var sampleIDs: [Int]
    /// Per task and member: the labelled (weighted) rows of the current global batch.
    var taskLabelCounts: [Float]
    /// Per task: weighted loss sum and labelled rows of this rank since the epoch began.
    var epochLoss: [Double]

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
                                        totalSteps: t.epochs * Self.steps(rows: data.train.rows, batch: globalBatch),
                                        minimum: Float(t.minLearningRate))
        batchDense = FloatBuffer(count: localCapacity * data.train.denseWidth)
        batchCategories = [Int32](repeating: 0, count: localCapacity * data.train.categoryColumns)
        let encodings = data.preprocessor.tasks
        let members = model.members
        batchTargets = encodings.map { _ in FloatBuffer(count: capacity) }
        batchMasks = encodings.map { _ in FloatBuffer(count: members * capacity) }
        outputGradients = encodings.map { FloatBuffer(count: members * capacity * $0.outputs) }
        sampleIDs = [Int](repeating: 0, count: localCapacity)
        taskLabelCounts = [Float](repeating: 0, count: tasks.count * members)
        epochLoss = [Double](repeating: 0, count: 2 * tasks.count)
        try synchronizeStart()
    }

    static func steps(rows: Int, batch: Int) -> Int { (rows + batch - 1) / batch }
    public var stepsPerEpoch: Int { Self.steps(rows: data.train.rows, batch: globalBatch) }
    public var parameterCount: Int { model.store.count }

    /// What every rank must agree on: the effective config, the preprocessing and the layout.
    public var agreementHash: UInt64 {
        let c = config
        let text = "\(c.data)|\(c.tasks)|\(c.model)|\(c.training)|\(c.checkpoint)|\(data.preprocessor.json())|\(model.store.layoutDescription)|\(data.train.rows)"
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
        seededPermutation(data.train.rows, seed: SplitMix64.mix(config.training.seed &+ 0x0E90_C400 &+ UInt64(e)))
    }

    /// One optimizer step on global batch `s` of `order`; returns this rank's loss sum.
    @discardableResult
    func trainStep(order: [Int], batchIndex s: Int) throws -> Double {
        let split = data.train
        let (globalStart, globalCount, localStart, localCount) = shard(step: s, rows: split.rows)
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
                    batchTargets[t].pointer[j] = split.targets[t][row]
                    for k in 0..<members {
                        batchMasks[t].pointer[k * localCount + j] = split.masks[t][row] * model.sampleWeight(member: k, row: row)
                    }
                }
                for c in 0..<cats { batchCategories[j * cats + c] = split.categories[row * cats + c] }
                sampleIDs[j] = localStart + j
            }
        }
        step += 1
        model.store.zeroGradients()
        var lossSum = 0.0
        if localCount > 0 {
            sampleIDs.withUnsafeBufferPointer { ids in
                batchCategories.withUnsafeBufferPointer { catPtr in
                    model.forward(BatchInput(dense: batchDense.matrix(rows: localCount, cols: width),
                                             categories: cats > 0 ? catPtr.baseAddress : nil),
                                  context: ForwardContext(training: true, seed: config.training.seed, step: UInt64(step),
                                                          sampleIDs: ids.baseAddress))
                }
            }
            for (t, task) in tasks.enumerated() {
                let k = task.outputs
                let out = model.output(t).pointer, g = outputGradients[t].pointer
                for member in 0..<members {
                    let count = taskLabelCounts[t * members + member]
                    let scale = count > 0 ? Float(task.weight) / count : 0
                    let mask = batchMasks[t].pointer + member * localCount
                    let loss = Self.taskLoss(task, Matrix(out + member * localCount * k, rows: localCount, cols: k),
                                        target: batchTargets[t].pointer, mask: mask, scale: scale,
                                        gradient: g + member * localCount * k)
                    epochLoss[2 * t] += loss * task.weight / Double(members)
                    var labelled: Float = 0
                    for j in 0..<localCount { labelled += mask[j] }
                    epochLoss[2 * t + 1] += Double(labelled) / Double(members)
                    lossSum += count > 0 ? loss * task.weight / Double(count) / Double(members) : 0
                }
            }
            model.backward { outputGradients[$0].matrix(rows: members * localCount, cols: tasks[$0].outputs) }
        }
        try comm.allreduceSum(model.store.gradients.buffer)
        if config.training.clipNorm > 0 {
            clipGradientNorm(model.store.gradients.pointer, count: model.store.count, maxNorm: Float(config.training.clipNorm))
        }
        optimizer.update(parameters: model.store.values.pointer, gradients: model.store.gradients.pointer,
                         state: optimizerState.pointer, count: model.store.count,
                         learningRate: schedule.rate(at: step), step: step)
        return lossSum
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
            samples += shard(step: s, rows: data.train.rows).globalCount
            progress?.update(done: samples, total: data.train.rows, elapsed: Date().timeIntervalSince(started), loss: loss)
        }
        try comm.allreduceSum(&epochLoss)
        epoch += 1
        return tasks.indices.map { epochLoss[2 * $0 + 1] > 0 ? epochLoss[2 * $0] / epochLoss[2 * $0 + 1] : .nan }
    }
}
