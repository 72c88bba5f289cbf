import XCTest
import CKernels
import MTLCore
import MTLData
import MTLTraining
import MTLTestSupport
@testable import MTLModels
@testable import MTLInference

/// The inference engine against the models' own forward passes: float exactly, int8 within a
/// stated bound, for every architecture and every input kind (dense, embeddings, sparse).
final class EngineTests: XCTestCase {
    /// Small sizes for every architecture, as in the gradient tests, ensembles of two MMoEs.
    func small(_ config: inout RunConfig, _ architecture: Architecture) {
        config.model.architecture = architecture
        Support.smallSizes(&config.model)
        config.model.members = 2
        config.model.member = .mmoe
    }

    /// The fixtures: three task kinds with embeddings, the same one-hot, and text + sparse
    /// columns with a multi-label task.
    func fixtures() throws -> [(String, RunConfig)] {
        let mixed = try Support.fixtureConfig()
        var onehot = mixed
        onehot.data.categoricalEncoding = .onehot
        let tasks = try RunConfig.load(path: Support.fixtures + "/tasks.yaml")
        return [("mixed/embedding", mixed), ("mixed/onehot", onehot), ("tasks/sparse", tasks)]
    }

    func tensors(_ model: MultiTaskModel, _ graph: InferenceGraph, int8: Bool) -> [String: ModelTensor] {
        ModelFile.tensors(of: model.store, graph: graph, quantization: int8 ? .int8 : .none)
    }

    func testEveryArchitectureFloatExactlyAndInt8WithinBound() throws {
        var worst: [String: Double] = [:]
        for (name, base) in try fixtures() {
            let data = try LoadedData.load(source: base.dataSource)
            let pre = data.preprocessor
            for architecture in Architecture.allCases {
                var config = base
                small(&config, architecture)
                let model = makeModel(config.model, layout: pre.layout, maxRows: 16, seed: 1)
                // Random values everywhere (the sparse table starts at zero).
                GradientCheck.randomFill(model.store.values.pointer, model.store.count, seed: 7, scale: 0.5)
                let reference = Evaluator.predict(model: model, split: data.train, tasks: pre.tasks).values
                let graph = model.inferenceGraph(layout: pre.layout)
                let label = "\(name) \(architecture.rawValue)"
                let float = Predictor(model: try CompiledModel(graph: graph, tensors: tensors(model, graph, int8: false), quantization: .none, maxRows: 16),
                                      tasks: pre.tasks)
                let p = try float.predict(data.train, workspace: float.model.makeWorkspace())
                XCTAssertEqual(p, reference, "\(label): float engine differs from the model's forward pass")
                let q = Predictor(model: try CompiledModel(graph: graph, tensors: tensors(model, graph, int8: true), quantization: .int8, maxRows: 16),
                                  tasks: pre.tasks)
                let pq = try q.predict(data.train, workspace: q.model.makeWorkspace())
                for (t, task) in pre.tasks.enumerated() {
                    // Regression in standard deviations of the target, probabilities as they are.
                    let unit = task.kind == .regression ? task.targetStd : 1
                    let d = zip(pq[t], reference[t]).map { abs($0 - $1) / unit }.max() ?? 0
                    worst["\(label) \(task.name)"] = d
                    // Random weights on layers 4 to 8 wide put rows near the decision boundary where a
                    // probability moves fastest; trained models are checked end to end (export tests).
                    XCTAssertLessThan(d, 0.1, "\(label) task \(task.name): int8 is \(d) from float")
                }
            }
        }
        let top = worst.sorted { $0.value > $1.value }.prefix(3).map { "\($0.key) \(String(format: "%.4f", $0.value))" }
        print("int8 vs float, largest differences (random weights): \(top.joined(separator: "; "))")
    }

    /// A batch one row at a time gives what it gives whole (no state leaks between rows or calls).
    func testRowsAreIndependent() throws {
        let (_, config) = try fixtures()[2]
        let data = try LoadedData.load(source: config.dataSource)
        var c = config
        small(&c, .mmoe)
        let model = makeModel(c.model, layout: data.preprocessor.layout, maxRows: 8, seed: 2)
        GradientCheck.randomFill(model.store.values.pointer, model.store.count, seed: 3, scale: 0.5)
        let graph = model.inferenceGraph(layout: data.preprocessor.layout)
        for int8 in [false, true] {
            let compiled = try CompiledModel(graph: graph, tensors: tensors(model, graph, int8: int8), quantization: int8 ? .int8 : .none, maxRows: 8)
            let whole = try Predictor(model: compiled, tasks: data.preprocessor.tasks).predict(data.train, workspace: compiled.makeWorkspace())
            let one = try CompiledModel(graph: graph, tensors: tensors(model, graph, int8: int8), quantization: int8 ? .int8 : .none, maxRows: 1)
            let single = try Predictor(model: one, tasks: data.preprocessor.tasks).predict(data.train, workspace: one.makeWorkspace())
            for t in whole.indices {
                let d = zip(whole[t], single[t]).map { abs($0 - $1) }.max() ?? 0
                // Float: BLAS may order a product's sums by batch size; int8 rows are quantised alone.
                XCTAssertLessThan(d, int8 ? 1e-12 : 1e-5, "int8 \(int8), task \(t)")
            }
        }
    }

    /// Every instruction set's int8 product equals the plain C loop's, exactly (integer sums).
    func testInt8KernelsAgree() {
        var rng = SplitMix64(seed: 11)
        for (k, n) in [(1, 1), (3, 5), (17, 33), (64, 64), (130, 70), (512, 100)] {
            let q = (0..<(k * n)).map { _ in Int8(Int(rng.next() % 255) - 127) }
            var packed = [Int8](repeating: 0, count: Int(mtl_q8_packed_size(Int32(k), Int32(n))))
            var sum = [Int32](repeating: 0, count: n)
            mtl_q8_pack(q, Int32(k), Int32(n), &packed, &sum)
            var x = (0..<Int(mtl_q8_padded_k(Int32(k)))).map { _ in UInt8(rng.next() % 256) }
            for j in k..<x.count { x[j] = 128 }
            var expected = [Int32](repeating: 0, count: n)
            for o in 0..<n { for j in 0..<k { expected[o] += Int32(x[j]) * Int32(q[o * k + j]) } }
            XCTAssertEqual(sum, (0..<n).map { o in (0..<k).reduce(Int32(0)) { $0 + Int32(q[o * k + $1]) } })
            for isa in 0...2 {
                var acc = [Int32](repeating: 0, count: Int(mtl_q8_padded_n(Int32(n))))
                guard mtl_q8_gemv(Int32(isa), x, packed, Int32(k), Int32(n), &acc) == 0 else { continue }
                XCTAssertEqual(Array(acc.prefix(n)), expected, "isa \(isa), k \(k), n \(n)")
            }
        }
    }
}
