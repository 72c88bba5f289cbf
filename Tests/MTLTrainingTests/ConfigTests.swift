import XCTest
@testable import MTLTraining
import MTLCore
import MTLDistributed
import MTLData
import MTLModels
import MTLWeighting
import MTLTestSupport

final class ConfigTests: XCTestCase {
    let base = """
    data:
      train: t.csv
    tasks:
      - name: y
        column: y
        kind: binary
        positive: [1]
    """

    func testDefaults() throws {
        let c = try RunConfig.parse(text: base, path: "/x/c.yaml")
        XCTAssertEqual(c.model.architecture, .hardSharing)
        XCTAssertEqual(c.model.given, [], "no widths given: sized from the input")
        XCTAssertEqual(c.model.width, 1)
        XCTAssertEqual(c.training.batchSize, 256)
        XCTAssertEqual(c.training.optimizer, .adam)
        XCTAssertEqual(c.training.learningRate, 1e-3)
        XCTAssertEqual(c.checkpoint.keepLast, 2)
        XCTAssertEqual(c.resolve("t.csv"), "/x/t.csv")
        XCTAssertEqual(c.resolve("/abs/t.csv"), "/abs/t.csv")
        XCTAssertNil(c.output)
        XCTAssertEqual(c.training.heartbeatTimeout, 20)
    }

    /// Widths the config does not give are sized from the input; model.width scales them all.
    func testWidthsFromTheInputSize() throws {
        let c = try RunConfig.parse(text: base, path: "/x/c.yaml")
        func widths(_ m: ModelConfig, _ input: Int) -> [[Int]] { let r = m.resolved(inputWidth: input); return [r.trunk, r.head, r.expert] }
        XCTAssertEqual(widths(c.model, 700), [[256, 128], [64], [256, 128]])
        XCTAssertEqual(widths(c.model, 100), [[128, 64], [32], [128, 64]])
        XCTAssertEqual(widths(c.model, 20), [[32, 16], [8], [32, 16]])
        XCTAssertEqual(widths(c.model, 3), [[16, 8], [8], [16, 8]])
        let given = try RunConfig.parse(text: base + "\nmodel: {trunk: [16, 12], head: [9], width: 0.5}\n", path: "/x/c.yaml")
        XCTAssertEqual(given.model.given, ["trunk", "head"])
        XCTAssertEqual(widths(given.model, 700), [[8, 6], [5], [128, 64]])
        var linear = given.model
        linear.width = 0
        XCTAssertEqual(widths(linear, 700).prefix(2), [[], []], "width 0: no hidden layers")
        Support.assertUserError(["model.width", "between 0.0 and 16.0"]) { _ = try RunConfig.parse(text: base + "\nmodel: {width: 20}\n", path: "/x/c.yaml") }
        // The model built holds the resolved widths: a 3-feature input gets trunk [16, 8] and head [8].
        let layout = InputLayout(denseWidth: 3, fieldWidths: [1, 1, 1], embeddings: nil, sparseWidth: 0, tasks: [.init(name: "y", outputs: 1)])
        let model = makeModel(c.model, layout: layout, maxRows: 4, seed: 1)
        XCTAssertEqual(model.store.count, (3 * 16 + 16) + (16 * 8 + 8) + (8 * 8 + 8) + (8 * 1 + 1))
    }

    /// Output folders in the config are relative to the config file, as data paths are.
    func testOutputIsRelativeToTheConfigFile() throws {
        let text = base + "\noutput: runs/a\ncompare:\n  output: runs/b\n"
        let c = try RunConfig.parse(text: text, path: "/x/y/c.yaml")
        XCTAssertEqual(c.output, "/x/y/runs/a")
        XCTAssertEqual(c.compare.output, "/x/y/runs/b")
        XCTAssertEqual(try RunConfig.parse(text: base + "\noutput: /abs/o\n", path: "/x/c.yaml").output, "/abs/o")
        XCTAssertEqual(try RunConfig.parse(text: text, path: "c.yaml").output, "runs/a")
    }

    /// The folder of a path as the program takes it: one-character names (on which Foundation's
    /// deletingLastPathComponent traps) included.
    func testFolderOfAPath() {
        XCTAssertEqual(Paths.folder(of: "-"), "")
        XCTAssertEqual(Paths.folder(of: "a"), "")
        XCTAssertEqual(Paths.folder(of: "a/"), "")
        XCTAssertEqual(Paths.folder(of: "/a"), "/")
        XCTAssertEqual(Paths.folder(of: "x/a"), "x")
        XCTAssertEqual(Paths.folder(of: "x//a"), "x")
        XCTAssertEqual(Paths.folder(of: "/x/y/c.yaml"), "/x/y")
        XCTAssertEqual(Paths.resolve("t.csv", againstFolderOf: "/c.yaml"), "/t.csv")
        XCTAssertEqual(Paths.resolve("t.csv", againstFolderOf: "x/c.yaml"), "x/t.csv")
    }

    func testUnknownKeyNamesKeyAndLine() {
        let text = base + "\ntraining:\n  epochs: 3\n  lerning_rate: 0.1\n"
        Support.assertUserError(["c.yaml:10", "training.lerning_rate", "did you mean 'learning_rate'?"]) {
            _ = try RunConfig.parse(text: text, path: "c.yaml")
        }
        // A key far from every known one gets the list, not a guess.
        do {
            _ = try RunConfig.parse(text: base + "\ntraining:\n  zzz: 1\n", path: "c.yaml")
            XCTFail("accepted")
        } catch let e as UserError {
            XCTAssertFalse(e.message.contains("did you mean"), e.message)
        } catch { XCTFail("\(error)") }
        XCTAssertEqual(ConfigReader.distance("epoch", "epochs"), 1)
        XCTAssertEqual(ConfigReader.distance("kitten", "sitting"), 3)
    }

    /// Multi-label settings on another kind of task say so, instead of "unknown key".
    func testMultilabelKeysOnOtherTasks() {
        let text = base + "\n    threshold: 0.3\n"
        Support.assertUserError(["c.yaml:8", "tasks[0].threshold", "applies to multilabel tasks only (this task is binary)"]) {
            _ = try RunConfig.parse(text: text, path: "c.yaml")
        }
    }

    func testBadValuesNameTheKey() {
        Support.assertUserError(["training.batch_size", "must be at least 1"]) {
            _ = try RunConfig.parse(text: base + "\ntraining: {batch_size: 0}\n", path: "c.yaml")
        }
        Support.assertUserError(["model.architecture", "not one of"]) {
            _ = try RunConfig.parse(text: base + "\nmodel: {architecture: nope}\n", path: "c.yaml")
        }
        Support.assertUserError(["tasks[0].kind"]) {
            _ = try RunConfig.parse(text: "data: {train: t}\ntasks: [{name: y, column: y, kind: weird}]\n", path: "c.yaml")
        }
        Support.assertUserError(["checkpoint.best_metric", "micro_f1"]) {
            _ = try RunConfig.parse(text: base + "\ncheckpoint: {best_metric: y.auc}\n", path: "c.yaml")
        }
        // Every reported metric can choose the best epoch, micro_f1 among them.
        XCTAssertEqual(try RunConfig.parse(text: base + "\ncheckpoint: {best_metric: mean.micro_f1}\n", path: "c.yaml").checkpoint.bestMetric,
                       MetricSelector(scope: .mean, metric: .microF1))
        Support.assertUserError(["tasks[0].positive", "required"]) {
            _ = try RunConfig.parse(text: "data: {train: t}\ntasks: [{name: y, column: y, kind: binary}]\n", path: "c.yaml")
        }
    }

    func testArchitectureSettingsAreChecked() throws {
        Support.assertUserError(["model.experts", "mmoe"]) {
            _ = try RunConfig.parse(text: base + "\nmodel: {architecture: mmoe, experts: 0}\n", path: "c.yaml")
        }
        Support.assertUserError(["model.experts", "ple"]) {
            _ = try RunConfig.parse(text: base + "\nmodel: {architecture: ensemble, member: ple, experts: 0, levels: 2}\n", path: "c.yaml")
        }
        Support.assertUserError(["model.expert", "mmoe"]) {
            _ = try RunConfig.parse(text: base + "\nmodel: {architecture: mmoe, expert: []}\n", path: "c.yaml")
        }
        Support.assertUserError(["model.trunk", "cross-stitch"]) {
            _ = try RunConfig.parse(text: base + "\nmodel: {architecture: cross-stitch, trunk: []}\n", path: "c.yaml")
        }
        Support.assertUserError(["model.d_model"]) {
            _ = try RunConfig.parse(text: base + "\nmodel: {d_model: 10, attention_heads: 4}\n", path: "c.yaml")
        }
        var c = try RunConfig.parse(text: base + "\nmodel: {experts: 0}\n", path: "c.yaml")
        Support.assertUserError(["architecture mmoe", "model.experts"]) { try c.apply(overrides: ["model.architecture": "mmoe"]) }
        try c.apply(overrides: ["model.architecture": "cgc", "training.epochs": "3"])
        XCTAssertEqual(c.model.architecture, .cgc)
        XCTAssertEqual(c.training.epochs, 3)
        XCTAssertEqual(c.overrides, ["model.architecture": "cgc", "training.epochs": "3"])
    }

    func testWeightingSection() throws {
        XCTAssertEqual(try RunConfig.parse(text: base, path: "c.yaml").weighting, WeightingConfig())
        let c = try RunConfig.parse(text: base + "\nweighting:\n  method: cagrad\n  cagrad_c: 0.2\n", path: "c.yaml")
        XCTAssertEqual(c.weighting.method, .cagrad)
        XCTAssertEqual(c.weighting.cagradC, 0.2)
        Support.assertUserError(["c.yaml:10", "weighting.gradvac_bet", "gradvac_beta"]) {
            _ = try RunConfig.parse(text: base + "\nweighting:\n  method: gradvac\n  gradvac_bet: 0.1\n", path: "c.yaml")
        }
        Support.assertUserError(["weighting.method", "not one of", "pcgrad"]) {
            _ = try RunConfig.parse(text: base + "\nweighting: {method: pc-grad}\n", path: "c.yaml")
        }
        // Gradients at the shared representation need an architecture that has one.
        Support.assertUserError(["weighting.gradients", "representation", "ple", "hard-sharing, mmoe, cgc", "parameters"]) {
            _ = try RunConfig.parse(text: base + "\nmodel: {architecture: ple}\nweighting: {method: mgda, gradients: representation}\n", path: "c.yaml")
        }
        XCTAssertNoThrow(try RunConfig.parse(text: base + "\nmodel: {architecture: mmoe}\nweighting: {method: mgda, gradients: representation}\n", path: "c.yaml"))
        var ok = try RunConfig.parse(text: base + "\nweighting: {method: mgda, gradients: representation}\n", path: "c.yaml")
        Support.assertUserError(["weighting.gradients", "cross-stitch"]) { try ok.apply(overrides: ["model.architecture": "cross-stitch"]) }
        try ok.apply(overrides: ["weighting.method": "upgrad"])
        XCTAssertEqual(ok.weighting.method, .upgrad)
        Support.assertUserError(["weighting.method=nope"]) { try ok.apply(overrides: ["weighting.method": "nope"]) }
    }

    func testShippedConfigsParse() throws {
        let adult = try RunConfig.load(path: Support.root + "/configs/adult.yaml")
        XCTAssertEqual(adult.tasks.map(\.name), ["income", "never_married", "male"])
        XCTAssertEqual(adult.data.drop, ["marital-status", "relationship", "sex"])
        _ = try Support.fixtureConfig()
        let census = try RunConfig.load(path: Support.root + "/configs/census-income.yaml")
        XCTAssertEqual(census.data.testHeadAsValidation, 0.5)
        XCTAssertEqual(census.tasks.map(\.column), ["income_50k", "marital_stat"])
        let ctr = try RunConfig.load(path: Support.root + "/configs/synthetic-ctr.yaml")
        XCTAssertEqual(ctr.data.separator, "\t")
        XCTAssertEqual(ctr.data.categorical?.count, 26)
    }
}
