import Foundation
import Logging
import MTLCore
import MTLData
import MTLDistributed
import MTLModels
import MTLWeighting

/// The reference workloads of the PyTorch peer (shared/peers/README.md), trained on synthetic
/// data from a fixed random linear teacher, timed between barriers.
public enum Benchmark {
    public struct Result {
        public var workload: String
        public var worldSize: Int
        public var batchPerRank: Int
        public var steps: Int
        public var seconds: Double
        /// Rows of the global batches per second (the last step of an epoch may be smaller).
        public var samplesPerSecond: Double
        public var parameters: Int
        /// Rank 0's phases over the timed steps.
        public var phases: StepPhases
        /// Floating-point operations of one sample's step: forward and backward through the dense
        /// products, 3 x 2 x the forward's multiply-adds (a gradient method's extra backward
        /// passes are not counted).
        public var flopsPerSample: Double
        /// This machine's single-precision matrix product rate in one process at its BLAS threads,
        /// measured while every rank measures (GFLOP/s).
        public var sgemmGFLOPS: Double
        /// The step's rate per rank (GFLOP/s).
        public var gflopsPerRank: Double { flopsPerSample * samplesPerSecond / Double(worldSize) / 1e9 }
    }

    /// GFLOP/s of square 512 x 512 x 512 products, repeated for about `seconds`.
    public static func sgemmRate(seconds: Double = 0.3) -> Double {
        let n = 512
        let a = FloatBuffer(count: n * n, value: 0.5), b = FloatBuffer(count: n * n, value: 0.25), c = FloatBuffer(count: n * n)
        BLAS.gemm(transA: false, transB: false, m: n, n: n, k: n, a: a.pointer, lda: n, b: b.pointer, ldb: n, beta: 0, c: c.pointer, ldc: n)
        let clock = ContinuousClock(), start = clock.now
        var calls = 0
        while StepPhases.seconds(clock.now - start) < seconds {
            BLAS.gemm(transA: false, transB: false, m: n, n: n, k: n, a: a.pointer, lda: n, b: b.pointer, ldb: n, beta: 0, c: c.pointer, ldc: n)
            calls += 1
        }
        return Double(calls) * 2 * Double(n * n * n) / StepPhases.seconds(clock.now - start) / 1e9
    }

    /// Rows x ~ N(0, 1)^dim; per task a teacher w ~ N(0, 1/dim), b ~ N(0, 0.25), and
    /// y ~ Bernoulli(sigmoid(4 (x.w + b))), as in the peer.
    public static func syntheticData(rows: Int, dim: Int, tasks: Int, seed: UInt64) -> LoadedData {
        var rng = SplitMix64(seed: seed)
        var x = [Float](repeating: 0, count: rows * dim)
        for i in x.indices { x[i] = rng.nextNormal() }
        var targets: [[Float]] = [], masks: [[Float]] = []
        for _ in 0..<tasks {
            let w = (0..<dim).map { _ in rng.nextNormal() / Float(dim).squareRoot() }
            let b = rng.nextNormal() * 0.5
            var y = [Float](repeating: 0, count: rows)
            for r in 0..<rows {
                var z = b
                for j in 0..<dim { z += x[r * dim + j] * w[j] }
                y[r] = rng.nextUniform() < Loss.sigmoid(4 * z) ? 1 : 0
            }
            targets.append(y)
            masks.append([Float](repeating: 1, count: rows))
        }
        let pre = Preprocessor(
            numeric: (0..<dim).map { .init(name: "f\($0)", mean: 0, std: 1) }, categorical: [], encoding: .onehot,
            embeddingDim: 8, missing: [],
            tasks: (0..<tasks).map { .init(name: "task\($0)", column: "label\($0)", kind: .binary, positive: ["1"], negative: [],
                                           classes: [], targetMean: 0, targetStd: 1, weight: 1) })
        let split = EncodedSplit(name: "train", rows: rows, denseWidth: dim, dense: x, categoryColumns: 0, categories: [],
                                 targets: targets, masks: masks)
        return LoadedData(preprocessor: pre, train: split, validation: nil, test: nil, skipped: [])
    }

    /// The peer's reference workloads (`bench --workload`).
    public enum Workload: String, CaseIterable, Sendable {
        /// Hard parameter sharing: trunk 512-256, heads 64.
        case hps
        /// MMoE: 8 experts 256-128, a softmax gate and a tower 64 per task.
        case mmoe
    }

    /// The config of a workload, as the peer defines it: hps = trunk 512-256, heads 64;
    /// mmoe = 8 experts 256-128, a softmax gate and a tower 64 per task; Adam lr 1e-3.
    public static func config(workload: Workload, globalBatch: Int, weighting: WeightingMethod = .fixed, updateEvery: Int = 1,
                              gradients: GradientSource = .parameters) throws -> RunConfig {
        let model: String
        switch workload {
        case .hps: model = "{architecture: hard-sharing, trunk: [512, 256], head: [64]}"
        case .mmoe: model = "{architecture: mmoe, experts: 8, expert: [256, 128], head: [64]}"
        }
        let yaml = """
        data: {train: synthetic}
        tasks: [{name: task0, column: label0, kind: binary, positive: ["1"]}]
        model: \(model)
        training: {epochs: 1, batch_size: \(globalBatch), optimizer: adam, learning_rate: 0.001}
        weighting: {method: \(weighting.rawValue), gradients: \(gradients.rawValue)\(updateEvery > 1 ? ", update_every: \(updateEvery)" : "")}
        """
        return try RunConfig.parse(text: yaml, path: "<bench \(workload.rawValue)>")
    }

    public static func run(workload: Workload, dim: Int, tasks: Int, batchPerRank: Int, steps: Int, warmup: Int,
                           rows: Int, weighting: WeightingMethod = .fixed, updateEvery: Int = 1, gradients: GradientSource = .parameters,
                           comm: Communicator, logger: Logger) throws -> Result {
        let config = try self.config(workload: workload, globalBatch: batchPerRank * comm.size, weighting: weighting, updateEvery: updateEvery,
                                     gradients: gradients)
        let data = syntheticData(rows: rows, dim: dim, tasks: tasks, seed: 0)
        return try run(name: workload.rawValue, config: config, data: data, steps: steps, warmup: warmup, comm: comm, logger: logger)
    }

    /// Times `steps` training steps (after `warmup`) of `config` on `data`'s training split, at the
    /// config's global batch, between barriers: the reference workloads, or a user's config
    /// (`bench --config`), whose data, model, weighting and optimizer it trains as `train` would.
    public static func run(name: String, config: RunConfig, data: LoadedData, steps: Int, warmup: Int,
                           comm: Communicator, logger: Logger) throws -> Result {
        let trainer = try Trainer(config: config, data: data, comm: comm, logger: logger)
        let perEpoch = trainer.stepsPerEpoch
        var order = trainer.permutation(epoch: 0)
        guard perEpoch > 0, !order.isEmpty else { throw UserError("bench: the training split has no rows to train on") }
        var epoch = 0, s = 0, samples = 0
        func next() throws {
            if s == perEpoch { epoch += 1; order = trainer.permutation(epoch: epoch); s = 0 }
            try trainer.trainStep(order: order, batchIndex: s)
            samples += trainer.shard(step: s, rows: order.count).globalCount
            s += 1
        }
        for _ in 0..<warmup { try next() }
        try comm.barrier()
        samples = 0
        trainer.phases = StepPhases()
        let start = Date()
        for _ in 0..<steps { try next() }
        try comm.barrier()
        let seconds = Date().timeIntervalSince(start)
        let phases = trainer.phases ?? StepPhases()
        trainer.phases = nil
        let graph = trainer.model.inferenceGraph(layout: data.preprocessor.layout)
        try comm.barrier()
        let rate = sgemmRate()
        return Result(workload: name, worldSize: comm.size, batchPerRank: trainer.globalBatch / comm.size, steps: steps,
                      seconds: seconds, samplesPerSecond: Double(samples) / seconds, parameters: trainer.parameterCount, phases: phases,
                      flopsPerSample: 6 * Double(graph.forwardMultiplyAdds), sgemmGFLOPS: rate)
    }
}
