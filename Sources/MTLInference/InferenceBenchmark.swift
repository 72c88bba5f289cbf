import Foundation
import MTLCore
import MTLData
import MTLModels
import MTLTraining

/// The inference engine's latency on the peer's reference models (`bench --inference`): the
/// workload's model with random weights on a dense input of `dim` features, one call of the
/// compiled graph per timed iteration on a fixed batch, as ../shared/peers/torch_infer.py times
/// PyTorch and ONNX Runtime.
public enum InferenceBenchmark {
    public struct Result: Encodable {
        public var backend: String
        public var arch: String
        public var dim: Int
        public var batch: Int
        public var iters: Int
        public var p50Us: Double, p90Us: Double, p99Us: Double, meanUs: Double
        public var rowsPerSec: Double
        /// The largest |logit difference| from the float engine on 1,000 rows (int8 only).
        public var maxAbsDiff: Double?
        public var isa: String
        enum CodingKeys: String, CodingKey {
            case backend, arch, dim, batch, iters, isa
            case p50Us = "p50_us", p90Us = "p90_us", p99Us = "p99_us", meanUs = "mean_us", rowsPerSec = "rows_per_sec", maxAbsDiff = "max_abs_diff"
        }
    }

    public static func run(workload: Benchmark.Workload, dim: Int, tasks: Int, batch: Int, iters: Int, warmup: Int,
                           quantization: Quantization) throws -> Result {
        let config = try Benchmark.config(workload: workload, globalBatch: batch)
        let layout = InputLayout(denseWidth: dim, fieldWidths: Array(repeating: 1, count: dim), embeddings: nil, sparseWidth: 0,
                                 tasks: (0..<tasks).map { .init(name: "task\($0)", outputs: 1) })
        let model = makeModel(config.model, layout: layout, maxRows: 1, seed: 0)
        let graph = model.inferenceGraph(layout: layout)
        func compiled(_ q: Quantization, rows: Int) throws -> CompiledModel {
            let tensors = ModelFile.tensors(of: model.store, graph: graph, quantization: q)
            return try CompiledModel(graph: graph, tensors: tensors, quantization: q, maxRows: rows)
        }
        let engine = try compiled(quantization, rows: max(batch, 1000))
        let ws = engine.makeWorkspace()
        var rng = SplitMix64(seed: 1)
        for i in 0..<(max(batch, 1000) * dim) { ws.dense[i] = rng.nextNormal() }
        var diff: Double? = nil
        if quantization == .int8 {
            let reference = try compiled(.none, rows: 1000), rws = reference.makeWorkspace()
            rws.dense.update(from: ws.dense, count: 1000 * dim)
            try reference.run(rws, rows: 1000)
            try engine.run(ws, rows: 1000)
            var worst: Float = 0
            for t in 0..<tasks {
                let a = ws.output(t), b = rws.output(t)
                for r in 0..<1000 { worst = max(worst, abs(a[r] - b[r])) }
            }
            diff = Double(worst)
        }
        for _ in 0..<warmup { try engine.run(ws, rows: batch) }
        var ns = [Double](repeating: 0, count: iters)
        let clock = ContinuousClock()
        for i in 0..<iters {
            let start = clock.now
            try engine.run(ws, rows: batch)
            let d = clock.now - start
            ns[i] = Double(d.components.seconds) * 1e9 + Double(d.components.attoseconds) / 1e9
        }
        ns.sort()
        func percentile(_ q: Double) -> Double {
            // numpy's default (linear between closest ranks), as the peer computes it.
            let x = q / 100 * Double(ns.count - 1), lo = Int(x.rounded(.down)), hi = min(ns.count - 1, lo + 1)
            return (ns[lo] + (ns[hi] - ns[lo]) * (x - Double(lo))) / 1000
        }
        let mean = ns.reduce(0, +) / Double(max(1, iters)) / 1000
        func r2(_ v: Double) -> Double { (v * 100).rounded() / 100 }
        return Result(backend: quantization == .int8 ? "mtl-int8" : "mtl-float", arch: workload.rawValue, dim: dim, batch: batch, iters: iters,
                      p50Us: r2(percentile(50)), p90Us: r2(percentile(90)), p99Us: r2(percentile(99)), meanUs: r2(mean),
                      rowsPerSec: (Double(batch) / (mean / 1e6) * 10).rounded() / 10, maxAbsDiff: diff,
                      isa: quantization == .int8 ? CompiledModel.int8ISA : "openblas")
    }
}
