import ArgumentParser
import Foundation
import MTLCore
import MTLData
import MTLInference
import MTLTraining
import MTLWeighting

extension Benchmark.Workload: ExpressibleByArgument {}
extension GradientSource: ExpressibleByArgument {}

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a reference workload on synthetic data and print samples/s (JSON), to compare with the PyTorch peer; with --inference, time the inference engine instead.",
        discussion: "--inference float|int8 times one call of the compiled model on a fixed batch of --batch rows, --steps times after --warmup (the workload's model with random weights), and prints p50/p90/p99/mean microseconds and rows/s as ../shared/peers/torch_infer.py does.")
    @Option(help: "Time the inference engine with float or int8 weights instead of training.") var inference: Quantization?
    @Option(help: "Workload: hps (trunk 512-256, heads 64-1) or mmoe (8 experts 256-128, gates, towers 64-1); Adam.") var workload: Benchmark.Workload = .hps
    @Option(help: "Input width.") var dim: Int = 512
    @Option(help: "Binary tasks.") var tasks: Int = 2
    @Option(help: "Train this config's model on its training data instead of a reference workload (its training section, weighting and data as `train` reads them; --batch, when given, overrides the batch per rank).")
    var config: String?
    @Option(help: "Batch per rank (default 256; with --config: training.batch_size / ranks).") var batch: Int?
    @Option(help: "Timed steps.") var steps: Int = 300
    @Option(help: "Warm-up steps before timing.") var warmup: Int = 20
    @Option(help: "Synthetic rows.") var rows: Int = 100_000
    @Option(help: "Weighting method (\(WeightingMethod.names.joined(separator: ", "))).") var weighting: WeightingMethod?
    @Option(help: "Gradient methods: task gradients on the shared parameters or at the shared representation (weighting.gradients).")
    var gradients: GradientSource?
    @Option(help: "Gradient methods: recompute the coefficients every this many steps (weighting.update_every).") var updateEvery: Int?
    @Option(help: "Seconds without a heartbeat from a rank before the job ends (0: no heartbeats), as training.heartbeat_timeout.")
    var heartbeatTimeout: Double = TrainingConfig().heartbeatTimeout
    @OptionGroup var common: CommonOptions

    struct Output: Encodable {
        var workload: String
        var worldSize: Int
        var batch: Int
        var dim: Int
        var steps: Int
        var seconds: Double
        var samplesPerSec: Double
        var parameters: Int
        var threads: Int
        var weighting: WeightingMethod
        var updateEvery: Int
        var gradients: String
        var stepMs: Double
        var gflopsPerRank: Double
        var sgemmGflops: Double
        var phases: [String: Double]
        enum CodingKeys: String, CodingKey {
            case workload, batch, dim, steps, seconds, parameters, threads, weighting, phases, updateEvery = "update_every", gradients
            case worldSize = "world_size", samplesPerSec = "samples_per_sec", stepMs = "step_ms"
            case gflopsPerRank = "gflops_per_rank", sgemmGflops = "sgemm_gflops"
        }
    }

    func validate() throws {
        for (name, v, top) in [("--dim", dim, 1 << 16), ("--tasks", tasks, 64), ("--batch", batch ?? 256, 1 << 16), ("--steps", steps, 1 << 24),
                               ("--rows", rows, 1 << 24)] where v < 1 || v > top {
            throw ValidationError("\(name) must be between 1 and \(top)")
        }
        let updateEvery = self.updateEvery ?? 1, weighting = self.weighting ?? .fixed
        if config != nil && (self.updateEvery != nil || gradients != nil) {
            throw ValidationError("--update-every and --gradients apply to the reference workloads; with --config set weighting.update_every and weighting.gradients in the config")
        }
        if updateEvery < 1 || updateEvery > 1 << 24 { throw ValidationError("--update-every must be between 1 and \(1 << 24)") }
        if updateEvery > 1 && !weighting.combinesGradients { throw ValidationError("--update-every applies to gradient methods; --weighting \(weighting.rawValue) scales the losses") }
        if warmup < 0 || warmup > 1 << 24 { throw ValidationError("--warmup must be between 0 and \(1 << 24)") }
        guard Double(dim) * Double(rows) <= Double(1 << 28) else { throw ValidationError("--dim x --rows must be at most \(1 << 28) values") }
        if inference != nil {
            // The engine holds max(--batch, 1000) rows of every layer (1,000 for the int8 check).
            guard Double(dim) * Double(max(batch ?? 256, 1000)) <= Double(1 << 26) else {
                throw ValidationError("with --inference, --dim x max(--batch, 1000) must be at most \(1 << 26) values")
            }
        }
    }

    func run() throws {
        if let q = inference {
            try withRuntime(common) { _, _ in
                let r = try InferenceBenchmark.run(workload: workload, dim: dim, tasks: tasks, batch: batch ?? 256, iters: steps, warmup: warmup, quantization: q)
                print(try JSON.text(r))
            }
            return
        }
        var cfg: RunConfig?
        if let path = config {
            var c = try loadConfig(path)
            if let weighting {
                do { try c.apply([.weighting(weighting)]) } catch let e as UserError { print(error: e); throw ExitCode(1) }
            }
            cfg = c
        }
        try withRuntime(common, threads: cfg?.training.threads, collectiveTimeout: cfg?.training.collectiveTimeout ?? TrainingConfig().collectiveTimeout,
                        heartbeatTimeout: cfg?.training.heartbeatTimeout ?? heartbeatTimeout) { comm, logger in
            let r: Benchmark.Result
            var w = WeightingConfig()
            if var c = cfg {
                w = c.weighting
                if let b = batch { try c.apply([.batchSize(b * comm.size)]) }
                let data = try LoadedData.load(source: c.dataSource, comm: comm)
                r = try Benchmark.run(name: ((config ?? "") as NSString).lastPathComponent, config: c, data: data, steps: steps, warmup: warmup,
                                      comm: comm, logger: logger)
            } else {
                w.method = weighting ?? .fixed
                w.updateEvery = updateEvery ?? 1
                w.gradients = gradients ?? .parameters
                r = try Benchmark.run(workload: workload, dim: dim, tasks: tasks, batchPerRank: batch ?? 256, steps: steps,
                                      warmup: warmup, rows: rows, weighting: w.method, updateEvery: w.updateEvery, gradients: w.gradients, comm: comm, logger: logger)
            }
            if comm.isRoot {
                print(try JSON.text(Output(workload: r.workload, worldSize: r.worldSize, batch: r.batchPerRank, dim: cfg == nil ? dim : 0, steps: r.steps,
                                           seconds: r.seconds, samplesPerSec: r.samplesPerSecond, parameters: r.parameters,
                                           threads: BLAS.threads, weighting: w.method, updateEvery: w.updateEvery, gradients: w.gradients.rawValue, stepMs: r.seconds / Double(max(1, r.steps)) * 1000,
                                           gflopsPerRank: (r.gflopsPerRank * 10).rounded() / 10, sgemmGflops: (r.sgemmGFLOPS * 10).rounded() / 10,
                                           phases: r.phases.shares.mapValues { ($0 * 1000).rounded() / 1000 })))
            }
        }
    }
}
