import XCTest
@testable import MTLTraining

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
        XCTAssertEqual(c.model.architecture, "hard-sharing")
        XCTAssertEqual(c.model.trunk, [256, 128])
        XCTAssertEqual(c.training.batchSize, 256)
        XCTAssertEqual(c.training.optimizer, "adam")
        XCTAssertEqual(c.training.learningRate, 1e-3)
        XCTAssertEqual(c.checkpoint.keepLast, 2)
        XCTAssertEqual(c.resolve("t.csv"), "/x/t.csv")
        XCTAssertEqual(c.resolve("/abs/t.csv"), "/abs/t.csv")
    }

    func testUnknownKeyNamesKeyAndLine() {
        let text = base + "\ntraining:\n  epochs: 3\n  lerning_rate: 0.1\n"
        Support.assertUserError(["c.yaml:10", "training.lerning_rate", "learning_rate"]) {
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
        Support.assertUserError(["checkpoint.best_metric"]) {
            _ = try RunConfig.parse(text: base + "\ncheckpoint: {best_metric: y.auc}\n", path: "c.yaml")
        }
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
        Support.assertUserError(["model.d_model"]) {
            _ = try RunConfig.parse(text: base + "\nmodel: {d_model: 10, attention_heads: 4}\n", path: "c.yaml")
        }
        var c = try RunConfig.parse(text: base + "\nmodel: {experts: 0}\n", path: "c.yaml")
        Support.assertUserError(["architecture mmoe", "model.experts"]) { try c.apply(overrides: ["model.architecture": "mmoe"]) }
        try c.apply(overrides: ["model.architecture": "cgc", "training.epochs": "3"])
        XCTAssertEqual(c.model.architecture, "cgc")
        XCTAssertEqual(c.training.epochs, 3)
        XCTAssertEqual(c.overrides, ["model.architecture": "cgc", "training.epochs": "3"])
    }

    func testShippedConfigsParse() throws {
        let adult = try RunConfig.load(path: Support.root + "/configs/adult.yaml")
        XCTAssertEqual(adult.tasks.map(\.name), ["income", "never_married", "male"])
        XCTAssertEqual(adult.data.drop, ["marital-status", "relationship", "sex"])
        _ = try Support.fixtureConfig()
        let census = try RunConfig.load(path: Support.root + "/configs/census-income.yaml")
        XCTAssertEqual(census.data.testHeadAsValidation, 0.5)
        XCTAssertEqual(census.tasks.map(\.column), ["income_50k", "marital_stat"])
    }
}
