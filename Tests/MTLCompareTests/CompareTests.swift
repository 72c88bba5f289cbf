import Foundation
import XCTest
import Logging
import MTLCore
import MTLDistributed
@testable import MTLTraining
import MTLData
import MTLModels
import MTLWeighting
import MTLTestSupport
@testable import MTLCompare

/// Task relationships, Δm%, the recommendation rules, group sizes and the report.
final class CompareTests: XCTestCase {
    func logger() -> Logger { var l = Logger(label: "test"); l.logLevel = .error; return l }

    func trainer(_ adjust: (inout RunConfig) -> Void = { _ in }) throws -> Trainer {
        var config = try Support.fixtureConfig()
        config.model.trunk = [6, 5]
        adjust(&config)
        return try Trainer(config: config, data: try LoadedData.load(source: config.dataSource), comm: SingleProcessCommunicator(), logger: logger())
    }

    func testProbeRecordsCosineConflictAndAffinity() {
        let p = RelationshipProbe(taskNames: ["a", "b"], every: 1)
        // g_a = (1, 0), g_b = (-1, 1): cos = -1 / sqrt(2).
        p.record(gram: [1, -1, -1, 2], before: [1, 2], after: [[0.9, 2.2], [1.1, 1.8]])
        // g_a = (1, 0), g_b = (1, 1): cos = 1 / sqrt(2).
        p.record(gram: [1, 1, 1, 2], before: [1, 2], after: [[0.8, 1.9], [0.9, 1.6]])
        XCTAssertEqual(p.steps, 2)
        XCTAssertEqual(p.meanCosine[1], 0, accuracy: 1e-12)
        XCTAssertEqual(p.meanCosine[0], 1, accuracy: 1e-12)
        XCTAssertEqual(p.conflictShare, [0, 0.5, 0.5, 0])
        XCTAssertEqual(p.overallConflictShare, 0.5)
        // Z(i -> j) = 1 - after / before, averaged: a -> b: (-0.1 + 0.05) / 2; b -> a: (-0.1 + 0.1) / 2.
        let z = p.meanAffinity
        XCTAssertEqual(z[0], (0.1 + 0.2) / 2, accuracy: 1e-12)
        XCTAssertEqual(z[1], (-0.1 + 0.05) / 2, accuracy: 1e-12)
        XCTAssertEqual(z[2], (-0.1 + 0.1) / 2, accuracy: 1e-12)
        XCTAssertEqual(z[3], (0.1 + 0.2) / 2, accuracy: 1e-12)
    }

    /// Measuring changes nothing: a run probed at every step ends with the same parameters, bit
    /// for bit, as one that is not; and the measured affinity agrees with the measured gradients
    /// to first order, Z(i -> j) ~ lr <g_i, g_j> / L_j for a small learning rate.
    func testProbeLeavesTrainingUnchangedAndAgreesWithTheGradients() throws {
        let adjust = { (c: inout RunConfig) in
            c.training.learningRate = 1e-3; c.training.warmupSteps = 0; c.training.schedule = .constant
            c.training.optimizer = .sgd; c.training.momentum = 0
        }
        let plain = try trainer(adjust), probed = try trainer(adjust)
        let p = RelationshipProbe(taskNames: probed.tasks.map(\.name), every: 1)
        probed.attach(hook: p)
        XCTAssertGreaterThan(p.sharedParameters, 0)
        let order = plain.permutation(epoch: 0)
        try plain.trainStep(order: order, batchIndex: 0)
        try probed.trainStep(order: order, batchIndex: 0)
        let t = probed.tasks.count
        let g = p.lastGram, l = p.lastLosses, z = p.meanAffinity
        var checked = 0
        for i in 0..<t {
            for j in 0..<t {
                let firstOrder = 1e-3 * g[i * t + j] / l[j]
                guard abs(firstOrder) > 1e-7 else { continue }
                XCTAssertEqual(z[i * t + j] / firstOrder, 1, accuracy: 0.05, "Z(\(i) -> \(j)) = \(z[i * t + j]), first order \(firstOrder)")
                checked += 1
            }
        }
        XCTAssertGreaterThan(checked, t, "too few affinities large enough to check")
        for i in 0..<t { XCTAssertEqual(p.meanCosine[i * t + i], 1, accuracy: 1e-9) }
        for _ in 1..<6 {
            try plain.trainStep(order: order, batchIndex: plain.step % plain.stepsPerEpoch)
            try probed.trainStep(order: order, batchIndex: probed.step % probed.stepsPerEpoch)
        }
        XCTAssertEqual(p.steps, 6)
        XCTAssertEqual(plain.model.store.values.array, probed.model.store.values.array, "the probe changed the training")
        XCTAssertEqual(plain.optimizerState.array, probed.optimizerState.array)
    }

    func testLabelCorrelation() {
        XCTAssertEqual(TaskData.pearson([1, 2, 3, 4], [2, 4, 6, 8]), 1, accuracy: 1e-12)
        XCTAssertEqual(TaskData.pearson([1, 2, 3, 4], [1, -1, 1, -1]), -0.4472135955, accuracy: 1e-9)
        // A 2 x 2 table with a perfect association: V = 1; independent: V = 0.
        XCTAssertEqual(TaskData.cramersV([0, 0, 1, 1], [2, 2, 5, 5]), 1, accuracy: 1e-12)
        XCTAssertEqual(TaskData.cramersV([0, 0, 1, 1], [0, 1, 0, 1]), 0, accuracy: 1e-12)
        // 3 x 2: counts [[2, 0], [1, 1], [0, 2]], n = 6; chi^2 = 4 by hand, V = sqrt(4 / 6).
        XCTAssertEqual(TaskData.cramersV([0, 0, 1, 1, 2, 2], [0, 0, 0, 1, 1, 1]), (4.0 / 6).squareRoot(), accuracy: 1e-12)
        // Correlation ratio: classes fixing y give 1; by hand for y = [1, 3 | 2, 6], mean 3: between
        // 2 (2-3)^2 + 2 (4-3)^2 = 4, total 4 + 0 + 1 + 9 = 14, eta = sqrt(4 / 14).
        XCTAssertEqual(TaskData.correlationRatio([0, 0, 1, 1], [5, 5, 7, 7]), 1, accuracy: 1e-12)
        XCTAssertEqual(TaskData.correlationRatio([0, 0, 1, 1], [1, 3, 2, 6]), (4.0 / 14).squareRoot(), accuracy: 1e-12)
    }

    /// Advice from a handful of measured steps carries a warning; enough steps do not.
    func testAdviceWarnsOnFewMeasurements() {
        let data = DataSummary(tasks: [], labelCorrelation: [.init(a: "a", b: "b", value: nil, measure: "too_few_rows", rows: 3)], trainRows: 10)
        func text(_ steps: Int) -> String {
            AdviceText.render(Relationships(tasks: [], measuredSteps: steps, every: 1, sharedParameters: 10, gradientCosine: [],
                                            conflictShare: [], affinity: [], overallConflictShare: 0), data: data, shortlist: [])
        }
        XCTAssert(text(3).contains("warning: only 3 measured steps"), text(3))
        XCTAssertFalse(text(40).contains("warning"), text(40))
        XCTAssert(text(40).contains("n/a (3 rows carry both labels, fewer than 10)"), text(40))
    }

    /// A multiclass and a regression task labelling the same rows get a value (η), not "no shared rows".
    func testLabelCorrelationOfMulticlassAndRegression() throws {
        let dir = Support.temporaryDirectory()
        Support.write("x,k,v\n" + (0..<40).map { "\($0),\(["a", "b"][$0 % 2]),\($0 % 2 == 0 ? 1.0 : 3.0)" }.joined(separator: "\n") + "\n", to: dir + "/t.csv")
        let config = try RunConfig.parse(text: """
        data: {train: t.csv, numeric: [x]}
        tasks: [{name: k, column: k, kind: multiclass}, {name: v, column: v, kind: regression}]
        """, path: dir + "/c.yaml")
        let data = try LoadedData.load(source: config.dataSource)
        let c = TaskData.labelCorrelation(data.train, data.preprocessor.tasks, 0, 1)
        XCTAssertEqual(c.kind, "correlation_ratio")
        XCTAssertEqual(c.rows, 40)
        XCTAssertEqual(c.value ?? 0, 1, accuracy: 1e-9)
    }

    func testDeltaMByHand() {
        let tasks: [(name: String, kind: TaskKind)] = [("a", .binary), ("b", .regression)]
        let base = ["a": MetricValues([.rocAUC: 0.8, .prAUC: 0.5]), "b": MetricValues([.rmse: 1.0, .mae: 1.0])]
        let run = ["a": MetricValues([.rocAUC: 0.9, .prAUC: 0.5]), "b": MetricValues([.rmse: 0.9, .mae: 1.2])]
        // a: (+0.125 + 0) / 2; b: (+0.1 - 0.2) / 2 (lower is better); Δm = 100 (0.0625 - 0.05) / 2.
        XCTAssertEqual(CompareAnalysis.deltaM(run, baseline: base, tasks: tasks), 0.625, accuracy: 1e-12)
        XCTAssertEqual(CompareAnalysis.deltaM(base, baseline: base, tasks: tasks), 0)
    }

    func candidate(_ name: String, _ dv: Double, _ sd: Double, seconds: Double = 10) -> CompareAnalysis.Candidate {
        let parts = name.split(separator: "+").map(String.init)
        return CompareAnalysis.Candidate(name: name, architecture: Architecture(rawValue: parts[0]) ?? .hardSharing,
                                         weighting: parts.count > 1 ? WeightingMethod(rawValue: parts[1]) ?? .fixed : .fixed, seeds: 2,
                                         parameters: 100, wallSeconds: seconds, samplesPerSecond: 1, test: [:], validation: [:],
                                         deltaTest: .init(mean: dv, std: sd, n: 2), deltaValidation: .init(mean: dv, std: sd, n: 2), histories: [])
    }

    func testRecommendationRules() {
        let rel = Relationships(tasks: [], measuredSteps: 4, every: 1, sharedParameters: 10, gradientCosine: [], conflictShare: [],
                                affinity: [], overallConflictShare: 0.38)
        var c = [candidate("single-task", 0, 0.1), candidate("mmoe+uncertainty", 1.0, 0.1), candidate("hard-sharing+equal", 0.6, 0.1, seconds: 5)]
        var r = CompareAnalysis.recommend(c, ranking: [1, 2, 0], byValidation: true, relationships: rel)
        XCTAssertFalse(r.trainSeparately)
        XCTAssertEqual(r.winner, "mmoe+uncertainty")
        XCTAssertEqual(r.runnerUp, "hard-sharing+equal")
        XCTAssert(r.reasons.contains { $0.contains("by 0.40 Δm%, beyond the seed spread of 0.10") }, "\(r.reasons)")
        XCTAssert(r.reasons.contains { $0.contains("38 %") })
        // Within the spread: tied, and the cheaper is named.
        c[2] = candidate("hard-sharing+equal", 0.95, 0.1, seconds: 5)
        r = CompareAnalysis.recommend(c, ranking: [1, 2, 0], byValidation: true, relationships: rel)
        XCTAssert(r.reasons.contains { $0.contains("within the seed spread") && true }, "\(r.reasons)")
        XCTAssert(r.reasons.contains { $0.contains("hard-sharing+equal is the cheaper") }, "\(r.reasons)")
        // No multi-task candidate beyond the baseline's noise: train separately.
        c = [candidate("single-task", 0, 0.3), candidate("mmoe+equal", 0.2, 0.1)]
        r = CompareAnalysis.recommend(c, ranking: [1, 0], byValidation: true, relationships: nil)
        XCTAssertTrue(r.trainSeparately)
        XCTAssertEqual(r.winner, "single-task")
        // The runner-up is the second of the ranking, here the baseline.
        c = [candidate("single-task", 0, 0.1), candidate("mmoe+equal", 2, 0.1), candidate("cgc+equal", -1, 0.1)]
        r = CompareAnalysis.recommend(c, ranking: [1, 0, 2], byValidation: true, relationships: nil)
        XCTAssertEqual(r.runnerUp, "single-task")
        // One seed: no spread is claimed; a test split that disagrees is said.
        func one(_ name: String, _ v: Double, test: Double) -> CompareAnalysis.Candidate {
            var x = candidate(name, v, 0)
            x.seeds = 1
            x.deltaTest = .init(mean: test, std: 0, n: 1)
            x.deltaValidation = .init(mean: v, std: 0, n: 1)
            return x
        }
        c = [one("single-task", 0, test: 0), one("mmoe+equal", 1.5, test: -0.22), one("hard-sharing+equal", 0.5, test: 0.3)]
        r = CompareAnalysis.recommend(c, ranking: [1, 2, 0], byValidation: true, relationships: nil)
        XCTAssertEqual(r.winner, "mmoe+equal")
        XCTAssertFalse(r.reasons.contains { $0.contains("seed spread of 0.00") }, "\(r.reasons)")
        XCTAssert(r.reasons.contains { $0.contains("one seed: no spread measured") }, "\(r.reasons)")
        XCTAssert(r.reasons.contains { $0.contains("on test it is at -0.22 Δm%") && $0.contains("disagrees with validation") }, "\(r.reasons)")
    }

    func testGroupSizes() throws {
        XCTAssertEqual(try Comparison.groupSize(world: 2, jobs: 11, configured: 0), 1)
        XCTAssertEqual(try Comparison.groupSize(world: 4, jobs: 3, configured: 0), 2)
        XCTAssertEqual(try Comparison.groupSize(world: 6, jobs: 4, configured: 0), 2)
        XCTAssertEqual(try Comparison.groupSize(world: 3, jobs: 1, configured: 0), 3)
        XCTAssertEqual(try Comparison.groupSize(world: 4, jobs: 0, configured: 0), 4)
        XCTAssertEqual(try Comparison.groupSize(world: 4, jobs: 9, configured: 2), 2)
        Support.assertUserError(["compare.group_size 3", "4 ranks"]) { _ = try Comparison.groupSize(world: 4, jobs: 9, configured: 3) }
    }

    func testCompareConfigKeys() throws {
        let base = try String(contentsOfFile: Support.fixtures + "/mixed.yaml", encoding: .utf8)
        let path = Support.fixtures + "/mixed-compare.yaml"
        var c = try RunConfig.parse(text: base + "compare:\n  architectures: [mmoe]\n  weighting: [equal, dwa]\n  seeds: 3\n", path: path)
        XCTAssertEqual(c.compare.plan.map(\.name), ["mmoe+equal", "mmoe+dwa", "single-task"])
        XCTAssertEqual(c.compare.seeds, 3)
        c = try RunConfig.parse(text: base + "compare:\n  candidates:\n    - {architecture: ple, weighting: pcgrad}\n", path: path)
        XCTAssertEqual(c.compare.plan.map(\.name), ["ple+pcgrad", "single-task"])
        Support.assertUserError(["compare.weighting", "'pcgard'"]) {
            _ = try RunConfig.parse(text: base + "compare:\n  weighting: [pcgard]\n", path: path)
        }
        Support.assertUserError(["compare.architectures", "no multi-task candidate"]) {
            _ = try RunConfig.parse(text: base + "compare:\n  architectures: [single-task]\n", path: path)
        }
        Support.assertUserError(["unknown config key 'compare.seed'"]) {
            _ = try RunConfig.parse(text: base + "compare:\n  seed: 2\n", path: path)
        }
    }

    /// A whole comparison in one process: every job's result, the analysis and the files; then
    /// an interrupted comparison (one job's result removed, its run cut after one epoch) resumes
    /// to the same numbers without redoing the finished jobs.
    func testComparisonRunsAndResumes() throws {
        var config = try Support.fixtureConfig()
        config.compare.architectures = [.hardSharing]
        config.compare.weighting = [.equal, .uncertainty]
        config.compare.seeds = 2
        config.compare.probeEvery = 2
        let out = Support.temporaryDirectory()
        let comparison = Comparison(config: config, world: SingleProcessCommunicator(), output: out, logger: logger())
        let results = try XCTUnwrap(try comparison.run())
        XCTAssertEqual(Set(results.keys), Set(comparison.jobs.map(\.id)))
        XCTAssertEqual(comparison.jobs.count, 1 + 3 * 2)
        let analysis = try CompareAnalysis(config: config, results: results, jobs: comparison.jobs)
        XCTAssertEqual(analysis.candidates.count, 3)
        let single = try XCTUnwrap(analysis.candidates.first { $0.name == "single-task" })
        XCTAssertEqual(single.deltaTest.mean, 0, accuracy: 1e-9, "the baseline's mean Δm% against itself is 0")
        XCTAssertGreaterThan(single.deltaTest.std, 0, "two seeds differ")
        let rel = try XCTUnwrap(analysis.relationships)
        XCTAssertGreaterThan(rel.measuredSteps, 0)

        // Interrupt: forget one finished job and cut its run back to its first epoch.
        let victim = comparison.jobs[2]
        let resultFile = comparison.resultPath(victim)
        let before = try String(contentsOfFile: resultFile, encoding: .utf8)
        try FileManager.default.removeItem(atPath: resultFile)
        let run = comparison.runFolder(victim)
        try FileManager.default.removeItem(atPath: run + "/summary.json")
        try FileManager.default.removeItem(atPath: run + "/checkpoints/epoch-0002.safetensors")
        // Put back the epoch-1 checkpoint a run cut short would have left.
        let scratch = Support.temporaryDirectory()
        let cfg = try comparison.jobConfig(victim)
        try TrainingRun(config: cfg, comm: SingleProcessCommunicator(), options: .init(output: scratch, stopAfterEpochs: 1), logger: logger()).run()
        try? FileManager.default.removeItem(atPath: run + "/checkpoints")
        try FileManager.default.copyItem(atPath: scratch + "/checkpoints", toPath: run + "/checkpoints")
        try FileManager.default.copyItem(atPath: scratch + "/metrics.jsonl", toPath: run + "/metrics.jsonl.tmp")
        try FileManager.default.removeItem(atPath: run + "/metrics.jsonl")
        try FileManager.default.moveItem(atPath: run + "/metrics.jsonl.tmp", toPath: run + "/metrics.jsonl")
        let other = comparison.resultPath(comparison.jobs[0])
        let stamp = try FileManager.default.attributesOfItem(atPath: other)[.modificationDate] as? Date
        let firstEpochLine = try String(contentsOfFile: run + "/metrics.jsonl", encoding: .utf8).split(separator: "\n").first.map(String.init)
        Thread.sleep(forTimeInterval: 0.02)
        let again = try XCTUnwrap(try Comparison(config: config, world: SingleProcessCommunicator(), output: out, logger: logger()).run())
        XCTAssertEqual(try FileManager.default.attributesOfItem(atPath: other)[.modificationDate] as? Date, stamp, "a finished job was redone")
        XCTAssertEqual(try String(contentsOfFile: run + "/metrics.jsonl", encoding: .utf8).split(separator: "\n").first.map(String.init), firstEpochLine,
                       "the cut job was retrained from the start instead of resumed")
        let after = try String(contentsOfFile: resultFile, encoding: .utf8)
        func test(_ text: String) throws -> [String: MetricValues] {
            try XCTUnwrap(try JSONDecoder().decode(JobResult.self, from: Data(text.utf8)).summary?.test)
        }
        XCTAssertEqual(try test(before), try test(after), "the resumed job ends with other test metrics")
        XCTAssertEqual(Set(again.keys), Set(results.keys))
    }

    /// A time budget ends a run after the epoch that exhausts it, evaluated as a finished run.
    func testTimeBudgetEndsARunAfterAnEpoch() throws {
        let config = try Support.fixtureConfig()
        XCTAssertEqual(config.training.epochs, 2)
        let out = Support.temporaryDirectory()
        let run = try TrainingRun(config: config, comm: SingleProcessCommunicator(), options: .init(output: out, maxSeconds: 1e-9), logger: logger())
        let summary = try XCTUnwrap(try run.run())
        XCTAssertEqual(summary.epochs, 1)
        XCTAssertEqual(summary.stoppedByTimeBudget, true)
        XCTAssertNotNil(summary.test)
        let base = try String(contentsOfFile: Support.fixtures + "/mixed.yaml", encoding: .utf8)
        Support.assertUserError(["compare.seconds", "positive"]) {
            _ = try RunConfig.parse(text: base + "compare:\n  seconds: 0\n", path: Support.fixtures + "/x.yaml")
        }
        XCTAssertEqual(try RunConfig.parse(text: base + "compare:\n  seconds: 90\n", path: Support.fixtures + "/x.yaml").compare.seconds, 90)
    }

    func testReportAndRecommendedConfig() throws {
        var config = try Support.fixtureConfig()
        config.compare.architectures = [.hardSharing]
        config.compare.weighting = [.equal]
        config.compare.seeds = 1
        let out = Support.temporaryDirectory()
        let comparison = Comparison(config: config, world: SingleProcessCommunicator(), output: out, logger: logger())
        let analysis = try CompareAnalysis(config: config, results: try XCTUnwrap(try comparison.run()), jobs: comparison.jobs)
        let html = Report.comparison(analysis, config: config)
        XCTAssert(html.hasPrefix("<!DOCTYPE html>"))
        XCTAssertFalse(html.contains("<script"), "self-contained: no scripts")
        XCTAssertFalse(html.contains("src=\"http"), "no network resources")
        XCTAssertGreaterThan(html.components(separatedBy: "class=\"bar\"").count - 1, 6, "bars drawn")
        XCTAssertGreaterThan(html.components(separatedBy: "class=\"cell\"").count - 1, 8, "heatmap cells drawn")
        XCTAssert(html.contains("<polyline"), "learning curves drawn")
        XCTAssert(html.contains("Recommendation"))
        // The recommended config parses, trains the winner, and reads the same data from anywhere.
        let yaml = try CompareAnalysis.recommendedConfig(config, winner: "hard-sharing+equal", candidates: analysis.candidates)
        let elsewhere = Support.temporaryDirectory() + "/recommended.yaml"
        let parsed = try RunConfig.parse(text: yaml, path: elsewhere)
        XCTAssertEqual(parsed.model.architecture, .hardSharing)
        XCTAssertEqual(parsed.weighting.method, .equal)
        XCTAssertEqual(parsed.data.train, Support.fixtures + "/mixed.csv")
        XCTAssertEqual(parsed.tasks, config.tasks)
        XCTAssertEqual(parsed.training, config.training)
        XCTAssertNoThrow(try LoadedData.load(source: parsed.dataSource))
    }
}
