import MTLCore

/// An ensemble (Dietterich, MCS 2000; bagging: Breiman, Machine Learning 1996): K complete
/// members of another architecture with their own initial values (each member's parameters are
/// named, and so seeded, apart), trained in the same data-parallel step, each on its own loss.
/// Predictions are averaged: probabilities for classification, values for regression.
/// With `bootstrap`, member m weights training row r by a Poisson(1) count drawn from
/// (seed, m, r): the online form of a bootstrap resample (Oza and Russell, AISTATS 2001), fixed
/// for the whole run and the same on every rank.
public final class EnsembleModel: MultiTaskModel {
    public let store: ParameterStore
    public let maxRows: Int
    public let taskOutputs: [Int]
    public let members: Int
    let models: [MultiTaskModel]
    public var sparseLayers: [SparseLinear] { models.flatMap(\.sparseLayers) }
    let bootstrap: Bool
    let seed: UInt64
    private let stacked: [FloatBuffer]
    private var rows = 0

    init(_ config: ModelConfig, layout: InputLayout, maxRows: Int, store: ParameterStore, prefix: String, seed: UInt64) {
        self.store = store
        self.maxRows = maxRows
        taskOutputs = layout.tasks.map(\.outputs)
        members = config.members
        bootstrap = config.bootstrap
        self.seed = seed
        models = (0..<config.members).map {
            config.member.build(config, layout: layout, maxRows: maxRows, store: store, prefix: "\(prefix)member\($0).", seed: seed)
        }
        stacked = layout.tasks.map { FloatBuffer(count: config.members * maxRows * $0.outputs) }
    }

    public func forward(_ batch: BatchInput, context: ForwardContext) {
        rows = batch.dense.rows
        for (m, model) in models.enumerated() {
            model.forward(batch, context: context)
            for t in taskOutputs.indices {
                let o = model.output(t)
                (stacked[t].pointer + m * rows * taskOutputs[t]).update(from: o.pointer, count: o.count)
            }
        }
    }

    public func output(_ t: Int) -> Matrix { stacked[t].matrix(rows: members * rows, cols: taskOutputs[t]) }

    public func backward(_ gradient: (Int) -> Matrix) {
        for (m, model) in models.enumerated() {
            model.backward { t in
                let g = gradient(t)
                return Matrix(g.pointer + m * self.rows * self.taskOutputs[t], rows: self.rows, cols: self.taskOutputs[t])
            }
        }
    }

    public func sampleWeight(member: Int, row: Int) -> Float {
        guard bootstrap else { return 1 }
        return Self.poissonOne(CounterRandom.uniform(seed ^ 0xB007_57A9, UInt64(member), UInt64(row)))
    }

    /// Inverse CDF of Poisson(1) at u.
    static func poissonOne(_ u: Float) -> Float {
        var k: Float = 0, p: Float = 0.36787944, cumulative: Float = 0.36787944
        while u > cumulative && k < 12 { k += 1; p /= k; cumulative += p }
        return k
    }
}
