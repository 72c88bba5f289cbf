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

/// Task weighting in the trainer: the loss methods' hand-computed weights and updates, which
/// parameters count as shared, the per-task backward passes, a whole PCGrad step against the
/// vector formula, and exact resume of every method's state.
final class WeightingTests: XCTestCase {
    func logger() -> Logger { var l = Logger(label: "test"); l.logLevel = .error; return l }

    func trainer(_ arch: Architecture, method: WeightingMethod, _ adjust: (inout RunConfig) -> Void = { _ in }) throws -> Trainer {
        var config = try Support.fixtureConfig()
        config.model.architecture = arch
        config.model.trunk = [6, 5]; config.model.expert = [5, 4]; config.model.experts = 2; config.model.taskExperts = 1
        config.model.dModel = 8; config.model.attentionHeads = 2; config.model.attentionLayers = 1
        config.weighting.method = method
        adjust(&config)
        let data = try LoadedData.load(source: config.dataSource)
        return try Trainer(config: config, data: data, comm: SingleProcessCommunicator(), logger: logger())
    }

    /// A training-mode forward pass of the model over the first `rows` training rows; the input
    /// buffer returned must outlive the backward passes (the layers read it).
    func forwardFirstRows(_ t: Trainer, _ rows: Int) -> FloatBuffer {
        let split = t.data.train, width = split.denseWidth
        let dense = FloatBuffer(count: rows * width)
        split.writeDense(rows: 0..<rows, into: dense.pointer)
        split.categories.withUnsafeBufferPointer { c in
            t.model.forward(BatchInput(dense: dense.matrix(rows: rows, cols: width), categories: c.baseAddress),
                            context: ForwardContext(training: true, seed: 3, step: 2))
        }
        return dense
    }

    /// Shared means "more than one task's loss depends on it", read off the model's own graph.
    func testSharedParametersAreFoundFromTheModel() throws {
        let names = { (t: Trainer) in (t.sharedEntries.map(\.name), t.model.store.entries.map(\.name)) }
        var (shared, all) = names(try trainer(.hardSharing, method: .pcgrad))
        XCTAssertEqual(shared, all.filter { $0.hasPrefix("trunk.") || $0.hasPrefix("embedding") })
        XCTAssert(shared.contains { $0.hasPrefix("trunk.") } && shared.contains { $0.hasPrefix("embedding") })
        (shared, all) = names(try trainer(.mmoe, method: .mgda))
        XCTAssertEqual(shared, all.filter { $0.contains(".shared.experts.") || $0.hasPrefix("embedding") })
        XCTAssertFalse(shared.contains { $0.contains("gate") }, "a task's gate serves that task only")
        (shared, _) = names(try trainer(.singleTask, method: .mgda))
        XCTAssertEqual(shared, [], "single-task models share nothing, not even their embeddings")
        (shared, all) = names(try trainer(.lateFusion, method: .mgda))
        XCTAssertEqual(shared, all.filter { $0.hasPrefix("tower.") || $0.hasPrefix("embedding") })
        (shared, _) = names(try trainer(.lateFusion, method: .mgda) { $0.model.stopGradient = true })
        XCTAssertEqual(shared.filter { !$0.hasPrefix("embedding") }, [], "with stopped gradients each tower serves its own task")
    }

    /// The parameter-gradient path rests on backward passes being repeatable after one forward
    /// pass: one pass per task (the others' output gradients zero) sums to the joint gradient.
    func testPerTaskBackwardPassesSumToTheJointGradient() throws {
        for arch in Architecture.allCases {
            let t = try trainer(arch, method: .equal) { $0.model.members = 2 }
            let model = t.model, store = model.store, rows = 9
            let input = forwardFirstRows(t, rows)
            defer { withExtendedLifetime(input) {} }
            var rng = SplitMix64(seed: 4)
            let outs = t.tasks.map { task -> FloatBuffer in
                let b = FloatBuffer(count: model.members * rows * task.outputs)
                for i in 0..<b.count { b.pointer[i] = rng.nextNormal() }
                return b
            }
            let zeros = t.tasks.map { FloatBuffer(count: model.members * rows * $0.outputs) }
            let m = { (u: Int, b: [FloatBuffer]) in b[u].matrix(rows: model.members * rows, cols: t.tasks[u].outputs) }
            store.zeroGradients()
            model.backward { m($0, outs) }
            let joint = store.gradients.array
            var summed = [Float](repeating: 0, count: store.count)
            for task in t.tasks.indices {
                store.zeroGradients()
                model.backward { u in m(u, u == task ? outs : zeros) }
                for i in summed.indices { summed[i] += store.gradients.pointer[i] }
            }
            let norm = joint.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
            let diff = zip(joint, summed).reduce(0.0) { $0 + Double($1.0 - $1.1) * Double($1.0 - $1.1) }.squareRoot()
            XCTAssertGreaterThan(norm, 0, arch.rawValue)
            XCTAssertLessThan(diff / norm, 1e-6, "\(arch): per-task passes do not add up to the joint gradient")
        }
    }

    /// The representation path with unit coefficients is the joint backward pass: each task's
    /// pass to the shared representation, their sum taken back through the shared part once,
    /// gives every parameter the joint gradient (hard-sharing, mmoe and cgc; with embeddings, so
    /// the input stage's gradient is checked too).
    func testRepresentationPassesSumToTheJointGradient() throws {
        for arch in Architecture.allCases where arch.hasSharedRepresentation {
            let t = try trainer(arch, method: .equal)
            guard let rep = t.model as? SharedRepresentationModel else { XCTFail("\(arch) has no representation path"); continue }
            let model = t.model, store = model.store, rows = 9
            let input = forwardFirstRows(t, rows)
            defer { withExtendedLifetime(input) {} }
            var rng = SplitMix64(seed: 5)
            let outs = t.tasks.map { task -> FloatBuffer in
                let b = FloatBuffer(count: rows * task.outputs)
                for i in 0..<b.count { b.pointer[i] = rng.nextNormal() }
                return b
            }
            store.zeroGradients()
            model.backward { outs[$0].matrix(rows: rows, cols: t.tasks[$0].outputs) }
            let joint = store.gradients.array
            store.zeroGradients()
            let w = rep.representationWidth
            let sum = FloatBuffer(count: rows * w)
            for task in t.tasks.indices {
                let dz = rep.backwardTask(task, gradient: outs[task].matrix(rows: rows, cols: t.tasks[task].outputs))
                XCTAssertEqual(dz.cols, w)
                VectorKernels.add(dz.pointer, into: sum.pointer, count: rows * w)
            }
            rep.backwardShared(sum.matrix(rows: rows, cols: w), weights: t.tasks.map { _ in 1 })
            let summed = store.gradients.array
            let norm = joint.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
            let diff = zip(joint, summed).reduce(0.0) { $0 + Double($1.0 - $1.1) * Double($1.0 - $1.1) }.squareRoot()
            XCTAssertGreaterThan(norm, 0, arch.rawValue)
            XCTAssertLessThan(diff / norm, 1e-6, "\(arch): the representation passes do not add up to the joint gradient")
            let embeddings = store.entries.filter { $0.name.hasPrefix("embedding") }
            XCTAssert(embeddings.contains { e in (0..<e.count).contains { summed[e.offset + $0] != 0 } }, "\(arch): the input stage gets its gradient")
        }
    }

    /// A whole PCGrad step (two tasks, SGD with learning rate 1, one process) moves the parameters
    /// by exactly the vector formula applied to the task gradients computed here independently:
    /// shared tensors by pc_1 + pc_2, task tensors by their own task's gradient.
    func testPCGradStepMatchesTheVectorFormula() throws {
        let t = try trainer(.hardSharing, method: .pcgrad) { c in
            c.tasks = Array(c.tasks.prefix(2))
            c.training.optimizer = .sgd; c.training.momentum = 0; c.training.learningRate = 1
            c.training.warmupSteps = 0; c.training.schedule = .constant; c.model.dropout = 0
        }
        let store = t.model.store
        let before = store.values.array
        let order = t.permutation(epoch: 0)
        try t.trainStep(order: order, batchIndex: 0)
        let moved = zip(before, store.values.array).map { $0 - $1 }
        // Recompute the task gradients from the same batch (left in the trainer's buffers).
        before.withUnsafeBufferPointer { store.values.pointer.update(from: $0.baseAddress!, count: $0.count) }
        let rows = t.shard(step: 0, rows: t.data.train.rows).localCount
        t.batchCategories.withUnsafeBufferPointer { c in
            t.model.forward(BatchInput(dense: t.batchDense.matrix(rows: rows, cols: t.data.train.denseWidth),
                                       categories: t.data.train.categoryColumns > 0 ? c.baseAddress : nil),
                            context: ForwardContext(training: true, seed: t.config.training.seed, step: 1))
        }
        var g: [[Float]] = []
        for task in 0..<2 {
            store.zeroGradients()
            let zero = FloatBuffer(count: rows * t.tasks[1 - task].outputs)
            t.model.backward { u in (u == task ? t.outputGradients[u] : zero).matrix(rows: rows, cols: t.tasks[u].outputs) }
            g.append(store.gradients.array)
        }
        let sharedIndex = t.sharedEntries.flatMap { e in e.offset..<(e.offset + e.count) }
        let s0 = sharedIndex.map { Double(g[0][$0]) }, s1 = sharedIndex.map { Double(g[1][$0]) }
        let d01 = zip(s0, s1).reduce(0) { $0 + $1.0 * $1.1 }
        XCTAssertLessThan(d01, 0, "the fixture's first step should have conflicting task gradients (else the test proves less)")
        let n0 = s0.reduce(0) { $0 + $1 * $1 }, n1 = s1.reduce(0) { $0 + $1 * $1 }
        let expectedShared = (0..<s0.count).map { k in (s0[k] - d01 / n1 * s1[k]) + (s1[k] - d01 / n0 * s0[k]) }
        var expected = (0..<store.count).map { Double(g[0][$0]) + Double(g[1][$0]) }
        for (j, k) in sharedIndex.enumerated() { expected[k] = expectedShared[j] }
        let norm = expected.reduce(0) { $0 + $1 * $1 }.squareRoot()
        let diff = zip(expected, moved).reduce(0) { $0 + ($1.0 - Double($1.1)) * ($1.0 - Double($1.1)) }.squareRoot()
        XCTAssertLessThan(diff / norm, 1e-5, "PCGrad step differs from the formula: relative \(diff / norm)")
        // And it is not the plain sum, so the comparison can fail.
        let plain = (0..<store.count).map { Double(g[0][$0]) + Double(g[1][$0]) }
        XCTAssertGreaterThan(zip(plain, moved).reduce(0) { $0 + ($1.0 - Double($1.1)) * ($1.0 - Double($1.1)) }.squareRoot() / norm, 1e-3)
    }

    /// Every method with state resumes exactly: one epoch then a resumed one equals two epochs,
    /// parameters, optimizer state and the method's own tensors.
    /// A gradient method with constant coefficients: reused or recomputed, a step must then be
    /// the same step, which checks what a reused step leaves in every tensor.
    final class ConstantCoefficients: GradientWeighting {
        let c: [Double]
        init(_ c: [Double]) { self.c = c }
        var method: WeightingMethod { .mgda }
        var tasks: Int { c.count }
        func coefficients(gram: [Double], losses: [Double], step: Int, seed: UInt64, learningRate: Float) -> [Double] { c }
    }

    /// weighting.update_every K: a step between recomputations scales the losses by the last
    /// coefficients, backpropagates once and restores the task-specific tensors' own gradients,
    /// which is the exact step when the coefficients do not change (every architecture, both
    /// gradient sources, 7 steps of which 4 reuse).
    func testReusedCoefficientsStepEqualsTheExactStep() throws {
        for arch in Architecture.allCases where arch != .singleTask {   // single-task shares nothing to combine
            for source in [GradientSource.parameters, .representation] {
                func run(every: Int, coefficients given: [Double]? = nil) throws -> (values: [Float], reused: Int) {
                    let t = try trainer(arch, method: .mgda) { $0.weighting.gradients = source; $0.model.dropout = 0; $0.weighting.updateEvery = every }
                    let coefficients = given ?? t.tasks.indices.map { 0.7 + 0.45 * Double($0) }
                    let constant = ConstantCoefficients(coefficients)
                    t.weighting = every > 1 ? PeriodicCoefficients(constant, every: every) : constant
                    let order = Array(0..<t.data.train.rows)
                    var reused = 0
                    for _ in 0..<7 {
                        if let p = t.weighting as? PeriodicCoefficients, p.reusable(step: t.step + 1) != nil { reused += 1 }
                        try t.trainStep(order: order, batchIndex: t.step % t.stepsPerEpoch)
                    }
                    return (Array(UnsafeBufferPointer(start: t.model.store.values.pointer, count: t.model.store.count)), reused)
                }
                let exact = try run(every: 1), periodic = try run(every: 3)
                XCTAssertEqual(periodic.reused, 4, "steps 2, 3, 5 and 6 reuse")
                XCTAssertEqual(exact.values.count, periodic.values.count)
                let worst = zip(exact.values, periodic.values).map { abs($0 - $1) / max(1, abs($0)) }.max() ?? 0
                XCTAssertLessThan(worst, 1e-5, "\(arch) \(source)")
                let other = try run(every: 1, coefficients: [1, 1, 1])
                XCTAssertGreaterThan(zip(exact.values, other.values).map { abs($0 - $1) }.max() ?? 0, 1e-4, "the coefficients show in the values")
            }
        }
    }

    func testUpdateEveryIsForGradientMethods() {
        Support.assertUserError(["update_every", "gradient methods"]) {
            _ = try RunConfig.parse(text: "data: {train: t.csv}\ntasks:\n  - {name: y, column: y, kind: binary, positive: [a]}\nweighting: {method: dwa, update_every: 4}\n",
                                    path: Support.temporaryDirectory() + "/c.yaml")
        }
    }

    func testResumeIsExactForEveryMethod() throws {
        for (method, every) in WeightingMethod.allCases.map({ ($0, 1) }) + [(.pcgrad, 3), (.nashMTL, 4)] {
            var config = try Support.fixtureConfig()
            config.weighting.method = method
            config.weighting.updateEvery = every
            config.tasks = config.tasks.map { var t = $0; t.weight = 1; return t }
            let (x, y) = try Support.uninterruptedAndResumed(config)
            XCTAssertEqual(x.order, y.order, method.rawValue)
            XCTAssertEqual(x.bytes.suffix(from: x.dataStart), y.bytes.suffix(from: y.dataStart), "\(method): tensors differ")
            let stateNames = x.order.filter { $0.hasPrefix("weighting.") }
            if [WeightingMethod.uncertainty, .gradnorm, .gradvac, .dwa].contains(method) { XCTAssertFalse(stateNames.isEmpty, "\(method) keeps state") }
            // The metrics log carries each epoch's mean task weights.
            let log = try String(contentsOfFile: (x.path as NSString).deletingLastPathComponent + "/../metrics.jsonl", encoding: .utf8)
            XCTAssert(log.contains("\"weight\":") && log.contains("\"weighting\":\"\(method.rawValue)\""), method.rawValue)
        }
    }
}
