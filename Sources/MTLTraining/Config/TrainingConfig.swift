import MTLCore
import MTLData

/// The update rules a config can name (`training.optimizer`).
public enum OptimizerKind: String, CaseIterable, Sendable {
    case adam, adamw, sgd

    /// The rule with the section's hyperparameters.
    public func make(_ t: TrainingConfig) -> Optimizer {
        switch self {
        case .sgd: return SGD(momentum: Float(t.momentum), weightDecay: Float(t.weightDecay))
        case .adamw: return Adam(beta1: Float(t.beta1), beta2: Float(t.beta2), epsilon: Float(t.epsilon),
                                 weightDecay: Float(t.weightDecay), decoupled: true)
        case .adam: return Adam(beta1: Float(t.beta1), beta2: Float(t.beta2), epsilon: Float(t.epsilon),
                                weightDecay: Float(t.weightDecay), decoupled: false)
        }
    }
}

/// Which parameters the optimizer updates each step (`training.sparse_updates`).
public enum SparseUpdates: String, CaseIterable, Sendable {
    /// `lazy` when the sparse projection tables hold at least `autoLazyParameters` parameters
    /// (where dense updates of every row cost most of a step), else `dense`.
    case auto
    /// Every parameter every step.
    case dense
    /// Only the rows of a sparse projection table that the step's global batch touches (their
    /// momentum and weight decay wait until they are touched again).
    case lazy

    /// The table size from which `auto` updates lazily.
    public static let autoLazyParameters = 1_000_000
}

/// The config's `training:` section.
public struct TrainingConfig: Sendable, Equatable {
    public var epochs: Int = 10
    public var batchSize: Int = 256
    public var optimizer: OptimizerKind = .adam
    public var learningRate: Double = 1e-3
    public var weightDecay: Double = 0
    public var momentum: Double = 0.9
    public var beta1: Double = 0.9
    public var beta2: Double = 0.999
    public var epsilon: Double = 1e-8
    public var clipNorm: Double = 0
    public var warmupSteps: Int = 0
    public var schedule: LearningRateSchedule.Decay = .constant
    public var minLearningRate: Double = 0
    public var seed: UInt64 = 0
    /// OpenBLAS threads per process; 0: the host's cores shared by the ranks on it. 1 by default:
    /// OpenBLAS's threaded products allocate on every call (3 allocations per hps step, 10 per
    /// mmoe step, counted with the malloc shim), and the step allocates nothing at 1.
    public var threads: Int = 1
    public var sparseUpdates: SparseUpdates = .auto
    /// Tasks with their own data sets: how a global batch mixes them, and what an epoch is.
    public var sampling = SamplingConfig()
    /// Seconds a collective may take before the job is ended as hung (0: no bound). It must
    /// exceed rank 0's evaluation and checkpoint writing, which the other ranks wait through.
    public var collectiveTimeout: Double = 300
    /// Seconds a rank that a collective waits for may send no heartbeat before the job is ended
    /// as having lost it (0: only `collectiveTimeout`). A slow rank keeps beating; a stopped
    /// process or a lost host does not.
    public var heartbeatTimeout: Double = 20
    /// Early stopping: training ends after this many epochs without an improvement of
    /// `checkpoint.best_metric` on the validation split (0: never; no effect without one).
    public var patience: Int = 10

    public init() {}
}

/// The config's `checkpoint:` section.
public struct CheckpointConfig: Sendable, Equatable {
    public var keepLast: Int = 2
    public var bestMetric = MetricSelector(scope: .mean, metric: .rocAUC)
    public init() {}
}

extension ConfigReader {
    mutating func trainingSection(tasks: [TaskConfig], ownFiles: Bool) throws -> TrainingConfig {
        var t = TrainingConfig()
        t.epochs = try int("epochs", default: t.epochs, min: 1, max: ConfigLimits.epochs)
        t.batchSize = try int("batch_size", default: t.batchSize, min: 1, max: ConfigLimits.batch)
        t.optimizer = try choice("optimizer", default: t.optimizer)
        t.learningRate = try double("learning_rate", default: t.learningRate, range: 0...10)
        t.weightDecay = try double("weight_decay", default: t.weightDecay, range: 0...10)
        t.momentum = try double("momentum", default: t.momentum, range: 0...1)
        t.beta1 = try double("beta1", default: t.beta1, range: 0...1)
        t.beta2 = try double("beta2", default: t.beta2, range: 0...1)
        t.epsilon = try double("epsilon", default: t.epsilon, range: 0...1)
        t.clipNorm = try double("clip_norm", default: t.clipNorm, range: 0...1e9)
        t.warmupSteps = try int("warmup_steps", default: t.warmupSteps, min: 0, max: ConfigLimits.steps)
        t.schedule = try choice("schedule", default: t.schedule)
        t.minLearningRate = try double("min_learning_rate", default: t.minLearningRate, range: 0...10)
        t.seed = UInt64(try int("seed", default: 0, min: 0, max: ConfigLimits.seed))
        t.threads = try int("threads", default: t.threads, min: 0, max: ConfigLimits.count)
        t.sparseUpdates = try choice("sparse_updates", default: t.sparseUpdates)
        t.sampling.rule = try choice("sampling", default: t.sampling.rule)
        t.sampling.temperature = try double("sampling_temperature", default: t.sampling.temperature, range: 1e-3...1e6)
        t.sampling.epochTask = try string("epoch_task")
        t.sampling.stepsPerEpoch = try int("steps_per_epoch", default: 0, min: 0, max: ConfigLimits.steps)
        t.collectiveTimeout = try double("collective_timeout", default: t.collectiveTimeout, range: 0...1e7)
        t.heartbeatTimeout = try double("heartbeat_timeout", default: t.heartbeatTimeout, range: 0...1e7)
        t.patience = try int("patience", default: t.patience, min: 0, max: ConfigLimits.epochs)
        if let e = t.sampling.epochTask, !tasks.contains(where: { $0.name == e }) {
            throw fail("epoch_task", nil, "names no task ('\(e)')", hint: "tasks: \(tasks.map(\.name).joined(separator: ", "))")
        }
        if t.sampling.rule != .proportional && !ownFiles {
            throw fail("sampling", nil, "applies to tasks with their own data sets (tasks[].data)")
        }
        try finish()
        return t
    }

    mutating func checkpointSection(tasks: [TaskConfig]) throws -> CheckpointConfig {
        var c = CheckpointConfig()
        c.keepLast = try int("keep_last", default: c.keepLast, min: 1)
        let name = try string("best_metric", default: "mean.roc_auc")
        guard let selector = MetricSelector(name, tasks: tasks.map(\.name)) else {
            throw fail("best_metric", nil, "is '\(name)'; it must be <task or mean>.<metric>",
                       hint: "tasks: \((["mean"] + tasks.map(\.name)).joined(separator: ", ")); metrics: \(Metric.selectable.map(\.rawValue).joined(separator: ", "))")
        }
        c.bestMetric = selector
        try finish()
        return c
    }
}
