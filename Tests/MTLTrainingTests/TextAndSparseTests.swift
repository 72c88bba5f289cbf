import Foundation
import Logging
import XCTest
import MTLCore
import MTLDistributed
@testable import MTLTraining
import MTLData
import MTLModels
import MTLWeighting
import MTLTestSupport

/// Text features, sparse inputs, multi-label targets and tasks with their own data sets.
final class TextAndSparseTests: XCTestCase {
    func testMultiLabelMetricsByHand() throws {
        // Class 0: predicted (0.9, 0.2, 0.72) vs truth (1, 0, 0); class 1: (0.1, 0.8, 0.6) vs (0, 1, 1).
        let p: [[Double]] = [[0.9, 0.1], [0.2, 0.8], [0.72, 0.6]]
        let y: [[Bool]] = [[true, false], [false, true], [false, true]]
        let m = Metrics.multilabel(probabilities: p, labels: y, classes: 2, thresholds: [0.5, 0.5])
        // Class 0: tp 1, fp 1 -> F1 2/3; class 1: tp 2 -> F1 1. Micro: tp 3, fp 1, fn 0 -> 6/7.
        XCTAssertEqual(m[.f1]!, (2.0 / 3 + 1) / 2, accuracy: 1e-12)
        XCTAssertEqual(m[.microF1]!, 6.0 / 7, accuracy: 1e-12)
        XCTAssertEqual(m[.accuracy]!, 2.0 / 3, accuracy: 1e-12, "rows 0 and 1 are exactly right")
        XCTAssertEqual(m[.rocAUC]!, 1, accuracy: 1e-12)
        // No single threshold makes both classes right: (0.2, 0.6] gives 2/3 and 1, (0.72, 0.8] gives
        // 1 and 2/3, both 5/6; tuning takes the lowest grid point of the best, 0.25.
        let tuned = Metrics.tunedThresholds(probabilities: p, labels: y, classes: 2)
        XCTAssertEqual(tuned, [0.25, 0.25])
        XCTAssertEqual(Metrics.multilabel(probabilities: p, labels: y, classes: 2, thresholds: tuned)[.f1]!, 5.0 / 6, accuracy: 1e-12)
        // One per class: class 0 is right for a threshold in (0.72, 0.9], lowest grid point 0.75;
        // class 1 in (0.1, 0.6], 0.15. Both F1 1; the reported threshold is their mean.
        let perClass = Metrics.tunedThresholds(probabilities: p, labels: y, classes: 2, perClass: true)
        XCTAssertEqual(perClass[0], 0.75, accuracy: 1e-12)
        XCTAssertEqual(perClass[1], 0.15, accuracy: 1e-12)
        let mc = Metrics.multilabel(probabilities: p, labels: y, classes: 2, thresholds: perClass)
        // The config key: `tune-per-class` asks for tuning, per class; `tune` per task.
        let dir = Support.temporaryDirectory()
        let yaml = try String(contentsOfFile: Support.fixtures + "/tasks.yaml", encoding: .utf8)
            .replacingOccurrences(of: "tasks-", with: Support.fixtures + "/tasks-")
        Support.write(yaml.replacingOccurrences(of: "threshold: tune", with: "threshold: tune-per-class"), to: dir + "/c.yaml")
        let tags = try RunConfig.load(path: dir + "/c.yaml").tasks[2]
        XCTAssertEqual(tags.threshold, .tunePerClass)
        XCTAssertEqual(try tasksConfig().tasks[2].threshold, .tune)
        XCTAssertEqual(mc[.f1]!, 1, accuracy: 1e-12)
        XCTAssertEqual(mc[.threshold]!, 0.45, accuracy: 1e-12)
    }

    func tasksConfig() throws -> RunConfig { try RunConfig.load(path: Support.fixtures + "/tasks.yaml") }

    /// The parameters (not the optimizer state) of a checkpoint, as raw bytes per tensor name.
    func parameterBytes(_ f: SafeTensors.File) -> [String: Data] {
        var out: [String: Data] = [:]
        for (name, t) in f.tensors where !name.hasPrefix("optimizer.") {
            out[name] = f.bytes.subdata(in: (f.dataStart + t.begin)..<(f.dataStart + t.end))
        }
        return out
    }

    /// `sparse_updates: lazy` touches exactly the rows the global batch touches: with plain SGD
    /// (no momentum, no weight decay) the untouched rows would not move anyway, so lazy and dense
    /// training give the same parameters bit for bit, which they would not if a touched row were
    /// missed or a stale gradient row survived the partial zeroing. With Adam the untouched rows
    /// do move in dense mode (momentum), so the two differ there; lazy resumes exactly.
    func testLazySparseUpdatesTouchTheBatchRowsOnly() throws {
        var l = Logger(label: "test"); l.logLevel = .error
        var config = try tasksConfig()
        config.training.epochs = 2
        config.training.optimizer = .sgd
        config.training.momentum = 0
        config.training.learningRate = 0.5
        func train(_ c: RunConfig) throws -> SafeTensors.File {
            let dir = Support.temporaryDirectory()
            try TrainingRun(config: c, comm: SingleProcessCommunicator(), options: .init(output: dir), logger: l).run()
            return try SafeTensors.read(path: dir + "/checkpoints/epoch-0002.safetensors")
        }
        var lazy = config
        lazy.training.sparseUpdates = .lazy
        let d = parameterBytes(try train(config)), z = parameterBytes(try train(lazy))
        let tables = d.keys.filter { $0.hasSuffix("sparse.weight") }
        XCTAssertFalse(tables.isEmpty, "the fixture has a sparse projection")
        XCTAssertEqual(Set(d.keys), Set(z.keys))
        for name in d.keys { XCTAssertEqual(d[name], z[name], "SGD, \(name): lazy differs from dense") }

        var adam = config
        adam.training.optimizer = .adam
        adam.training.learningRate = 0.01
        var adamLazy = adam
        adamLazy.training.sparseUpdates = .lazy
        let ad = parameterBytes(try train(adam)), az = parameterBytes(try train(adamLazy))
        XCTAssertTrue(tables.contains { ad[$0] != az[$0] }, "Adam: lazy rows keep their momentum's pull out")
        // The default, auto, is dense below a million table parameters (this fixture's tables).
        XCTAssertEqual(adam.training.sparseUpdates, .auto)
        var adamDense = adam
        adamDense.training.sparseUpdates = .dense
        XCTAssertEqual(ad, parameterBytes(try train(adamDense)), "auto on a small table is dense")
        let (x, y) = try Support.uninterruptedAndResumed(adamLazy)
        XCTAssertEqual(x.bytes.suffix(from: x.dataStart), y.bytes.suffix(from: y.dataStart), "lazy Adam resumes exactly")
    }

    /// `sparse_updates: auto` updates lazily from SparseUpdates.autoLazyParameters table
    /// parameters on and densely below: the same fixture with its sparse column declared wider.
    func testAutoSparseUpdatesFollowTheTableSize() throws {
        var l = Logger(label: "test"); l.logLevel = .error
        let projection = try tasksConfig().model.sparseProjection
        func trainer(flagsWidth: Int) throws -> (lazy: Bool, table: Int) {
            var config = try tasksConfig()
            XCTAssertEqual(config.training.sparseUpdates, .auto)
            config.data.sparse[0].width = flagsWidth
            let data = try LoadedData.load(source: config.dataSource)
            let t = try Trainer(config: config, data: data, comm: SingleProcessCommunicator(), logger: l)
            return (t.lazyRows, t.sparseTables.reduce(0) { $0 + $1.count })
        }
        let small = try trainer(flagsWidth: 16)
        XCTAssertLessThan(small.table, SparseUpdates.autoLazyParameters)
        XCTAssertFalse(small.lazy, "auto below the threshold is dense")
        let large = try trainer(flagsWidth: SparseUpdates.autoLazyParameters / projection + 1)
        XCTAssertGreaterThanOrEqual(large.table, SparseUpdates.autoLazyParameters)
        XCTAssertTrue(large.lazy, "auto from the threshold on is lazy")
    }

    func testTasksWithTheirOwnFilesShareOneInputSpace() throws {
        let data = try LoadedData.load(source: try tasksConfig().dataSource)
        XCTAssertEqual(data.train.rows, 180 + 240)
        XCTAssertEqual(data.taskRows!, [0..<180, 180..<420])
        XCTAssertEqual(data.sourceTasks, [[0], [1, 2]], "mood and tags share their file: one row carries both labels")
        let topic = data.train.masks[0], mood = data.train.masks[1], tags = data.train.masks[2]
        XCTAssert((180..<420).allSatisfy { topic[$0] == 0 && tags[$0] == 1 })
        XCTAssert((0..<180).allSatisfy { mood[$0] == 0 && tags[$0] == 0 })
        XCTAssertEqual(data.train.labelCounts, [169, 218, 240], "'?' topics and empty moods are missing labels")
        // Features: the numeric `length` of tasks-a only, then the sparse block (two text columns and the flags).
        XCTAssertEqual(data.preprocessor.numeric.map(\.name), ["length"])
        XCTAssertEqual(data.preprocessor.sparseFields.map(\.name), ["body", "tweet", "flags"])
        let sparse = data.train.sparse!
        let bodyWidth = data.preprocessor.sparseFields[0].width
        for r in [0, 100] { XCTAssert(sparse.index[sparse.rowStart[r]..<sparse.rowStart[r + 1]].allSatisfy { Int($0) < bodyWidth }) }
        for r in [200, 400] { XCTAssert(sparse.index[sparse.rowStart[r]..<sparse.rowStart[r + 1]].allSatisfy { Int($0) >= bodyWidth }) }
        // Multi-label targets: one value per class.
        XCTAssertEqual(data.preprocessor.tasks[2].classes, ["0", "1", "2", "3"])
        XCTAssertEqual(data.train.targets[2].count, 420 * 4)
    }

    func testMixedSamplingIsDeterministicAndFollowsItsRule() throws {
        var config = try tasksConfig()
        let data = try LoadedData.load(source: config.dataSource)
        let logger = Logger(label: "t")
        let a = try Trainer(config: config, data: data, comm: SingleProcessCommunicator(), logger: logger)
        let b = try Trainer(config: config, data: data, comm: SingleProcessCommunicator(), logger: logger)
        XCTAssertEqual(a.permutation(epoch: 1), b.permutation(epoch: 1))
        XCTAssertNotEqual(a.permutation(epoch: 1), a.permutation(epoch: 2))
        // Temperature 2: p proportional to sqrt(180), sqrt(240); the epoch draws the mood file's
        // 240 rows once in expectation, in whole batches of 20.
        let roots = [Double(180).squareRoot(), Double(240).squareRoot()]
        let p = roots.map { $0 / (roots[0] + roots[1]) }
        XCTAssertEqual(a.epochRows, Int((240 / (20 * p[1])).rounded(.up)) * 20)
        let order = a.permutation(epoch: 0)
        let share = Double(order.filter { $0 < 180 }.count) / Double(order.count)
        XCTAssertEqual(share, p[0], accuracy: 0.06)
        // Within a data set, rows come without repetition until all were drawn.
        let firstRows = order.filter { $0 >= 180 }.prefix(240)
        XCTAssertEqual(Set(firstRows).count, firstRows.count)
        // Uniform sampling and a fixed number of steps.
        config.training.sampling.rule = .uniform; config.training.sampling.epochTask = nil; config.training.sampling.stepsPerEpoch = 50
        let u = try Trainer(config: config, data: data, comm: SingleProcessCommunicator(), logger: logger)
        XCTAssertEqual(u.stepsPerEpoch, 50)
        XCTAssertEqual(Double(u.permutation(epoch: 0).filter { $0 < 180 }.count) / 1000, 0.5, accuracy: 0.05)
    }

    /// The whole model with a sparse block and a multi-label head, against finite differences.
    func testModelGradientWithSparseInputAndMultiLabel() throws {
        for arch in [Architecture.hardSharing, .taskAttention, .mmoe] {
            var config = try tasksConfig()
            config.model.architecture = arch
            config.model.dModel = 8; config.model.attentionHeads = 2; config.model.attentionLayers = 1
            config.model.expert = [6]; config.model.experts = 2
            let data = try LoadedData.load(source: config.dataSource)
            let rows = 12
            let model = makeModel(config.model, layout: data.preprocessor.layout, maxRows: rows, seed: 4)
            let tasks = data.preprocessor.tasks, split = data.train
            let pick = (0..<rows).map { $0 * 35 }   // rows of both files
            let dense = FloatBuffer(count: rows * split.denseWidth)
            split.writeDense(rows: pick, into: dense.pointer)
            let sparse = SparseBatch(width: split.sparse!.width, maxRows: rows)
            split.sparse!.fill(sparse, rows: pick)
            let targets = tasks.enumerated().map { t, task in pick.flatMap { r in split.targets[t][(r * task.targetWidth)..<((r + 1) * task.targetWidth)] } }
            let masks = tasks.indices.map { t in pick.map { split.masks[t][$0] } }
            let grads = tasks.map { FloatBuffer(count: rows * $0.outputs) }
            func objective() -> Double {
                model.forward(BatchInput(dense: dense.matrix(rows: rows, cols: split.denseWidth), categories: nil, sparse: sparse), context: .evaluation)
                var total = 0.0
                for (t, task) in tasks.enumerated() {
                    total += targets[t].withUnsafeBufferPointer { y in masks[t].withUnsafeBufferPointer { m in
                        TaskLoss.compute(task, model.output(t), target: y.baseAddress!, mask: m.baseAddress!, scale: 1, gradient: grads[t].pointer)
                    } }
                }
                return total
            }
            model.store.zeroGradients()
            _ = objective()
            model.backward { grads[$0].matrix(rows: rows, cols: tasks[$0].outputs) }
            let analytic = model.store.gradients.array
            let store = model.store
            var indices: [Int] = []
            for e in store.entries {
                // The touched rows of the sparse table, and a spread of every other tensor.
                if e.name.hasSuffix("sparse.weight") {
                    let p = e.shape[1]
                    let touched = Set(pick.flatMap { r in split.sparse!.index[split.sparse!.rowStart[r]..<split.sparse!.rowStart[r + 1]] }).sorted().prefix(6)
                    indices += touched.map { e.offset + Int($0) * p }
                } else {
                    indices += Swift.stride(from: e.offset, to: e.offset + e.count, by: max(1, e.count / 4)).map { $0 }
                }
            }
            XCTAssert(indices.contains { analytic[$0] != 0 }, arch.rawValue)
            let base = objective()
            var skipped = 0
            defer { XCTAssertLessThan(skipped, indices.count / 5, "\(arch): too many kinks to judge") }
            for i in indices {
                let saved = store.values.pointer[i]
                store.values.pointer[i] = saved + 1e-2; let plus = objective()
                store.values.pointer[i] = saved - 1e-2; let minus = objective()
                store.values.pointer[i] = saved
                let numeric = (plus - minus) / 2e-2
                // A step that crosses a ReLU kink makes the two one-sided slopes disagree: not comparable.
                if abs((plus - base) - (base - minus)) > 0.05 * abs(plus - minus) + 1e-5 { skipped += 1; continue }
                XCTAssertEqual(Double(analytic[i]), numeric, accuracy: 3e-3 + 3e-2 * abs(numeric), "\(arch) parameter \(i) \(store.entries.last { $0.offset <= i }!.name)")
            }
        }
    }
}
