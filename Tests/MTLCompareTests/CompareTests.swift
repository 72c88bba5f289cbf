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

    /// The relationship run measures often enough for compare.probe_steps where it can.
    func testProbeIntervalReachesTheStatedMeasurements() {
        XCTAssertEqual(Comparison.probeInterval(steps: 1000, every: 10, atLeast: 20), 10)
        XCTAssertEqual(Comparison.probeInterval(steps: 40, every: 10, atLeast: 20), 2, "the reported case: 4 measurements become 20")
        XCTAssertEqual(Comparison.probeInterval(steps: 10, every: 10, atLeast: 20), 1, "every step, and still short")
        XCTAssertEqual(Comparison.probeInterval(steps: 0, every: 10, atLeast: 20), 1)
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

    /// A candidate with validation (and test) Δm% per replicate.
    func candidate(_ name: String, _ values: [Double], seconds: Double = 10, test: [Double]? = nil) -> CompareAnalysis.Candidate {
        let parts = name.split(separator: "+").map(String.init)
        let arch = Architecture(rawValue: parts[0]) ?? .hardSharing
        let reps = Dictionary(uniqueKeysWithValues: values.enumerated().map { ("\($0.offset)/-1", $0.element) })
        let testReps = Dictionary(uniqueKeysWithValues: (test ?? values).enumerated().map { ("\($0.offset)/-1", $0.element) })
        var c = CompareAnalysis.Candidate(name: name, architecture: arch,
                                          weighting: parts.count > 1 ? WeightingMethod(rawValue: parts[1]) ?? .fixed : .fixed, seeds: values.count,
                                          parameters: 100, wallSeconds: seconds, samplesPerSecond: 1, test: [:], validation: [:],
                                          deltaTest: CompareAnalysis.stat(test ?? values), deltaValidation: CompareAnalysis.stat(values), histories: [])
        c.isSeparate = arch == .singleTask
        c.validationByReplicate = reps
        c.testByReplicate = testReps
        return c
    }

    /// Student's t quantiles, the interval of a mean, its k-fold correction, and paired differences, by hand.
    func testIntervalsByHand() {
        XCTAssertEqual(CompareAnalysis.t975(1), 12.706)
        XCTAssertEqual(CompareAnalysis.t975(4), 2.776)
        XCTAssertEqual(CompareAnalysis.t975(30), 2.042)
        XCTAssertEqual(CompareAnalysis.t975(60), 1.96 + 2.5 / 60, accuracy: 1e-12)   // exact 2.000
        XCTAssert(CompareAnalysis.t975(0).isNaN)
        // [1, 2, 3]: mean 2, sd 1, half-width t(2) sqrt(1/3).
        var s = CompareAnalysis.stat([1, 2, 3])
        XCTAssertEqual(s.mean, 2); XCTAssertEqual(s.std, 1)
        XCTAssertEqual(s.ci95, 4.303 * (1.0 / 3).squareRoot(), accuracy: 1e-12)
        XCTAssertFalse(s.beyondZero, "2 ± 2.48 includes 0")
        XCTAssert(CompareAnalysis.stat([1.9, 2, 2.1]).beyondZero)
        // 3 folds share training rows: Nadeau and Bengio's variance factor 1/3 + 1/2.
        s = CompareAnalysis.stat([1, 2, 3], overlap: 0.5)
        XCTAssertEqual(s.ci95, 4.303 * (1.0 / 3 + 0.5).squareRoot(), accuracy: 1e-12)
        XCTAssert(CompareAnalysis.stat([5]).ci95.isNaN, "one replicate: no interval")
        XCTAssertFalse(CompareAnalysis.stat([5]).beyondZero)
        // Paired on the replicates both have: (3-1, 5-2) = (2, 3).
        let d = CompareAnalysis.difference(["0/-1": 3, "1/-1": 5, "2/-1": 9], ["0/-1": 1, "1/-1": 2], overlap: 0)
        XCTAssertEqual(d.n, 2); XCTAssertEqual(d.mean, 2.5)
        XCTAssertEqual(d.ci95, 12.706 * (0.5).squareRoot() * (0.5).squareRoot(), accuracy: 1e-12)
    }

    func testRecommendationRules() {
        let rel = Relationships(tasks: [], measuredSteps: 4, every: 1, sharedParameters: 10, gradientCosine: [], conflictShare: [],
                                affinity: [], overallConflictShare: 0.38)
        // Beyond the interval against the runner-up and the baseline: recommended, measurably.
        var c = [candidate("single-task", [0, 0, 0]), candidate("mmoe+uncertainty", [1.0, 1.1, 0.9]), candidate("hard-sharing+equal", [0.5, 0.7, 0.6], seconds: 5)]
        var r = CompareAnalysis.recommend(c, ranking: [1, 2, 0], byValidation: true, relationships: rel)
        XCTAssertFalse(r.trainSeparately)
        XCTAssertTrue(r.measurable)
        XCTAssertEqual(r.winner, "mmoe+uncertainty")
        XCTAssertEqual(r.runnerUp, "hard-sharing+equal")
        // The paired gap (0.5, 0.4, 0.3): mean 0.40, sd 0.1, half-width 4.303 x 0.1 / sqrt(3) = 0.25.
        XCTAssert(r.reasons.contains { $0.contains("- hard-sharing+equal: 0.40 ± 0.25 Δm%, beyond the interval") }, "\(r.reasons)")
        XCTAssert(r.reasons.contains { $0.contains("38 %") })
        // The runner-up within the interval: no measurable difference, and the cheaper is recommended.
        c[2] = candidate("hard-sharing+equal", [1.2, 0.8, 0.85], seconds: 5)
        r = CompareAnalysis.recommend(c, ranking: [1, 2, 0], byValidation: true, relationships: rel)
        XCTAssertFalse(r.measurable)
        XCTAssertEqual(r.winner, "hard-sharing+equal")
        XCTAssert(r.reasons.contains { $0.contains("no measurable difference between mmoe+uncertainty, hard-sharing+equal: hard-sharing+equal is the cheapest") }, "\(r.reasons)")
        // Not beyond the baseline: the cheaper single-task is recommended, the tasks trained separately.
        c = [candidate("single-task", [0, 0], seconds: 3), candidate("mmoe+equal", [0.5, -0.1])]
        r = CompareAnalysis.recommend(c, ranking: [1, 0], byValidation: true, relationships: nil)
        XCTAssertTrue(r.trainSeparately)
        XCTAssertEqual(r.winner, "single-task")
        XCTAssertEqual(r.runnerUp, "single-task")
        // Single-task first: recommended, trained separately, measurably when beyond every other.
        c = [candidate("single-task", [0, 0, 0]), candidate("mmoe+equal", [-2, -2.2, -1.9]), candidate("cgc+equal", [-1, -1.1, -1.2])]
        r = CompareAnalysis.recommend(c, ranking: [0, 2, 1], byValidation: true, relationships: nil)
        XCTAssertEqual(r.winner, "single-task")
        XCTAssertTrue(r.trainSeparately)
        XCTAssertTrue(r.measurable, "\(r.reasons)")
        // One replicate: no interval, so nothing is measurable; the cheapest is named; a test split that disagrees is said.
        c = [candidate("single-task", [0], seconds: 20, test: [0]), candidate("mmoe+equal", [1.5], seconds: 8, test: [-0.22]), candidate("hard-sharing+equal", [0.5], seconds: 12, test: [0.3])]
        r = CompareAnalysis.recommend(c, ranking: [1, 2, 0], byValidation: true, relationships: nil)
        XCTAssertEqual(r.winner, "mmoe+equal")
        XCTAssertFalse(r.measurable)
        XCTAssert(r.reasons.contains { $0.contains("one replicate measures no interval") }, "\(r.reasons)")
        XCTAssert(r.reasons.contains { $0.contains("on test it is at -0.22 Δm%") && $0.contains("disagrees with validation") }, "\(r.reasons)")
    }

    /// The rungs' epochs, what each rung keeps, the order of scores, and the brackets' sampling.
    func testSuccessiveHalvingSchedule() throws {
        XCTAssertEqual(SuccessiveHalving.rungEpochs(min: 1, last: 9, eta: 3), [1, 3, 9])
        XCTAssertEqual(SuccessiveHalving.rungEpochs(min: 1, last: 10, eta: 3), [1, 3, 10])
        XCTAssertEqual(SuccessiveHalving.rungEpochs(min: 1, last: 4, eta: 3), [1, 4])
        XCTAssertEqual(SuccessiveHalving.rungEpochs(min: 2, last: 6, eta: 3), [2, 6])
        XCTAssertEqual(SuccessiveHalving.rungEpochs(min: 3, last: 6, eta: 3), [6])
        XCTAssertEqual(SuccessiveHalving.rungEpochs(min: 1, last: 1, eta: 2), [1])
        XCTAssertEqual(SuccessiveHalving.rungEpochs(min: 1, last: 14, eta: 2), [1, 3, 7, 14])
        XCTAssertEqual((1...10).map { SuccessiveHalving.keep($0, eta: 3) }, [1, 1, 1, 1, 1, 2, 2, 2, 3, 3])
        // Best first; undefined scores last; ties in sampling order; lower is better for losses.
        XCTAssertEqual(SuccessiveHalving.order([0.7, nil, 0.9, .nan, 0.7], higherIsBetter: true), [2, 0, 4, 1, 3])
        XCTAssertEqual(SuccessiveHalving.order([0.7, nil, 0.9, 0.1], higherIsBetter: false), [3, 0, 2, 1])

        let base = try String(contentsOfFile: Support.fixtures + "/mixed.yaml", encoding: .utf8)
        let path = Support.fixtures + "/search.yaml"
        let config = try RunConfig.parse(text: base + """
        compare:
          architectures: [hard-sharing, mmoe]
          weighting: [equal, pcgrad]
          search: {configurations: 7, learning_rate: [0.001, 0.01], dropout: [0], width: [0, 1], weight_decay: [0, 0.0001]}

        """, path: path)
        let s = try XCTUnwrap(config.compare.search)
        XCTAssertEqual(s.eta, 3); XCTAssertEqual(s.minEpochs, 1); XCTAssertEqual(s.width, [0, 1])
        let brackets = SuccessiveHalving.sample(config)
        XCTAssertEqual(brackets.map(\.0), [.multiTask, .singleTask, .linear])
        // multi-task: 7 of 2 x 2 architectures/methods x 2 x 2 settings (width 0 is for linear only);
        // single-task: max(2, 7/3) of 4; linear: max(2, 7/6) of 2 x 2.
        // Each starts from the config as written (hard-sharing, weighting fixed, its own settings).
        XCTAssertEqual(brackets.map(\.1.count), [7, 2, 2])
        XCTAssertEqual(brackets.map { $0.1[0].name }, ["hard-sharing+fixed", "single-task", "linear"])
        XCTAssertEqual(Set(brackets[0].1).count, 7, "sampled without replacement")
        XCTAssert(brackets[0].1.dropFirst().allSatisfy { !$0.isSeparate && $0.settings.width == 1 })
        XCTAssert(brackets[1].1.allSatisfy { $0.isSeparate && !$0.isLinear })
        XCTAssert(brackets[2].1.allSatisfy(\.isLinear))
        XCTAssert(brackets[2].1.dropFirst().allSatisfy { $0.name.hasPrefix("linear (lr ") })
        XCTAssertEqual(SuccessiveHalving.sample(config).map { $0.1.map(\.name) }, brackets.map { $0.1.map(\.name) }, "the same config samples the same")
        Support.assertUserError(["compare.search.eta"]) { _ = try RunConfig.parse(text: base + "compare:\n  search: {eta: 1}\n", path: path) }
        Support.assertUserError(["compare.search.dropout", "'2'"]) { _ = try RunConfig.parse(text: base + "compare:\n  search: {dropout: [2]}\n", path: path) }
        Support.assertUserError(["compare.folds", "at least 2"]) { _ = try RunConfig.parse(text: base + "compare:\n  folds: 1\n", path: path) }
        Support.assertUserError(["unknown config key 'compare.search.width_factor'"]) {
            _ = try RunConfig.parse(text: base + "compare:\n  search: {width_factor: [1]}\n", path: path)
        }
    }

    /// Folds of the training rows: disjoint, covering, balanced, and the same on every call.
    func testFoldsPartitionTheTrainingRows() throws {
        var seen = [Int](repeating: 0, count: 103)
        for k in 0..<5 {
            let p = Fold(index: k, count: 5).split(rows: 103, seed: 7)
            XCTAssertEqual(p.train.count + p.validation.count, 103)
            XCTAssert([20, 21].contains(p.validation.count))
            XCTAssert(Set(p.train).isDisjoint(with: p.validation))
            for r in p.validation { seen[r] += 1 }
            XCTAssertEqual(p.validation, Fold(index: k, count: 5).split(rows: 103, seed: 7).validation)
        }
        XCTAssertEqual(seen, [Int](repeating: 1, count: 103), "each row validates in exactly one fold")
        // Through the loader: fold 1 of 3 validates on a third of the training rows, and the configured validation split is not used.
        var config = try Support.fixtureConfig()
        let plain = try LoadedData.load(source: config.dataSource)
        config.data.fold = Fold(index: 1, count: 3)
        let folded = try LoadedData.load(source: config.dataSource)
        XCTAssertEqual(folded.train.rows + (folded.validation?.rows ?? 0), plain.train.rows)
        XCTAssertEqual(folded.validation?.rows, Fold(index: 1, count: 3).split(rows: plain.train.rows, seed: config.data.splitSeed).validation.count)
        XCTAssertEqual(folded.test?.rows, plain.test?.rows)
    }

    /// Overrides of the searched settings round-trip through their stored form (a checkpoint's).
    func testSearchOverridesRoundTrip() throws {
        var config = try Support.fixtureConfig()
        let o: [RunConfig.Override] = [.learningRate(0.003), .weightDecay(1e-5), .dropout(0.1), .width(0.5)]
        try config.apply(o)
        XCTAssertEqual(config.training.learningRate, 0.003); XCTAssertEqual(config.model.width, 0.5); XCTAssertEqual(config.model.dropout, 0.1)
        var again = try Support.fixtureConfig()
        try again.apply(overrides: config.overrides)
        XCTAssertEqual(again, config)
        Support.assertUserError(["model.width=x"]) { _ = try RunConfig.Override(key: "model.width", value: "x") }
        Support.assertUserError(["model.dropout"]) { var c = config; try c.apply([.dropout(1.5)]) }
        Support.assertUserError(["model.width 0", "cross-stitch"]) { var c = config; try c.apply([.architecture(.crossStitch), .width(0)]) }
    }

    /// The choice is made on validation data only: the same search with the test split's labels
    /// scrambled chooses the same finalists and winner with the same validation figures, while
    /// the test figures it reports change.
    func testTestLabelsDoNotChangeTheChoice() throws {
        let dir = Support.temporaryDirectory()
        let rows = try String(contentsOfFile: Support.fixtures + "/mixed.csv", encoding: .utf8).split(separator: "\n").map(String.init)
        let header = rows[0], body = Array(rows.dropFirst())
        Support.write(([header] + body.prefix(480)).joined(separator: "\n") + "\n", to: dir + "/train.csv")
        Support.write(([header] + body.dropFirst(480)).joined(separator: "\n") + "\n", to: dir + "/test.csv")
        // The same test rows with their labels (clicked, kind, score) moved one row down.
        let test = Array(body.dropFirst(480))
        let names = header.split(separator: ",").map(String.init)
        let labels = ["clicked", "kind", "score"].compactMap { names.firstIndex(of: $0) }
        XCTAssertEqual(labels.count, 3)
        func fields(_ line: String) -> [String] {   // the fixture quotes one field with a comma
            var out: [String] = [], cur = "", quoted = false
            for ch in line { if ch == "\"" { quoted.toggle(); cur.append(ch) } else if ch == "," && !quoted { out.append(cur); cur = "" } else { cur.append(ch) } }
            return out + [cur]
        }
        let scrambled = test.indices.map { i -> String in
            var f = fields(test[i]); let from = fields(test[(i + 1) % test.count])
            for c in labels { f[c] = from[c] }
            return f.joined(separator: ",")
        }
        Support.write(([header] + scrambled).joined(separator: "\n") + "\n", to: dir + "/test-scrambled.csv")
        var yaml = try String(contentsOfFile: Support.fixtures + "/mixed.yaml", encoding: .utf8)
        yaml = yaml.replacingOccurrences(of: "  train: mixed.csv\n", with: "  train: train.csv\n  test: TEST\n")
            .replacingOccurrences(of: "  test_fraction: 0.1\n", with: "").replacingOccurrences(of: "epochs: 2", with: "epochs: 3")
        yaml += "compare:\n  architectures: [hard-sharing]\n  weighting: [equal, uncertainty]\n  seeds: 2\n"
            + "  search: {configurations: 3, learning_rate: [0.003, 0.01], dropout: [0, 0.2], width: [0.5, 1], weight_decay: [0]}\n"
        func compare(_ testFile: String) throws -> CompareAnalysis {
            let path = dir + "/\(testFile).yaml"
            Support.write(yaml.replacingOccurrences(of: "TEST", with: testFile), to: path)
            let config = try RunConfig.load(path: path)
            let comparison = Comparison(config: config, world: SingleProcessCommunicator(), output: dir + "/out-\(testFile)", logger: logger())
            return try CompareAnalysis(config: config, outcome: try XCTUnwrap(try comparison.run()))
        }
        let a = try compare("test.csv"), b = try compare("test-scrambled.csv")
        let sa = try XCTUnwrap(a.search), sb = try XCTUnwrap(b.search)
        XCTAssertEqual(sa.rungs.count, 2, "rungs of 1 and 3 epochs")
        XCTAssertEqual(sa.rungs.map { $0.entries.map(\.candidate) }, sb.rungs.map { $0.entries.map(\.candidate) })
        XCTAssertEqual(sa.rungs.map { $0.entries.map(\.score) }, sb.rungs.map { $0.entries.map(\.score) })
        XCTAssertEqual(sa.finalists, sb.finalists)
        XCTAssertEqual(a.recommendation.winner, b.recommendation.winner)
        XCTAssertEqual(a.ranking.map { a.candidates[$0].name }, b.ranking.map { b.candidates[$0].name })
        XCTAssertEqual(a.candidates.map { $0.deltaValidation?.mean }, b.candidates.map { $0.deltaValidation?.mean })
        XCTAssertNotEqual(a.candidates.map(\.deltaTest.mean), b.candidates.map(\.deltaTest.mean), "the test labels changed, so the reported test figures must")
        XCTAssertEqual(a.candidates.count, 4, "two multi-task finalists, the tuned single-task and the tuned linear model")
        XCTAssertEqual(a.candidates.first?.isSeparate, false)
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
        let outcome = try XCTUnwrap(try comparison.run())
        let results = outcome.results
        XCTAssertEqual(Set(results.keys), Set(comparison.jobs.map(\.id)))
        XCTAssertEqual(comparison.jobs.count, 1 + 3 * 2)
        let analysis = try CompareAnalysis(config: config, outcome: outcome)
        XCTAssertEqual(analysis.candidates.count, 3)
        let single = try XCTUnwrap(analysis.candidates.first { $0.name == "single-task" })
        XCTAssertEqual(single.deltaTest.mean, 0, "paired replicate by replicate, the baseline's Δm% against itself is 0")
        XCTAssertEqual(single.deltaTest.std, 0)
        let shared = try XCTUnwrap(analysis.candidates.first { $0.name == "hard-sharing+equal" })
        XCTAssertGreaterThan(shared.deltaTest.std, 0, "two seeds differ")
        XCTAssertEqual(shared.deltaTest.ci95, CompareAnalysis.t975(1) * shared.deltaTest.std / 2.0.squareRoot(), accuracy: 1e-12)
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
        XCTAssertEqual(Set(again.results.keys), Set(results.keys))
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
        let analysis = try CompareAnalysis(config: config, outcome: try XCTUnwrap(try comparison.run()))
        let html = Report.comparison(analysis, config: config)
        XCTAssert(html.hasPrefix("<!DOCTYPE html>"))
        XCTAssertFalse(html.contains("<script"), "self-contained: no scripts")
        XCTAssertFalse(html.contains("src=\"http"), "no network resources")
        XCTAssertGreaterThan(html.components(separatedBy: "class=\"bar\"").count - 1, 6, "bars drawn")
        XCTAssertGreaterThan(html.components(separatedBy: "class=\"cell\"").count - 1, 8, "heatmap cells drawn")
        XCTAssert(html.contains("<polyline"), "learning curves drawn")
        XCTAssert(html.contains("Recommendation"))
        // The recommended config parses, trains the winner, and reads the same data from anywhere.
        let yaml = try CompareAnalysis.recommendedConfig(config, winner: "hard-sharing+equal", plan: config.compare.plan)
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
