import XCTest
@testable import MTLTraining

final class PreprocessorTests: XCTestCase {
    func config(_ extra: String = "", tasks: String? = nil) throws -> RunConfig {
        try RunConfig.parse(text: """
        data:
          train: t.csv
          missing: ["?"]
        \(extra)
        tasks:
        \(tasks ?? "  - {name: y, column: y, kind: binary, positive: [yes], negative: [no]}")
        """, path: Support.temporaryDirectory() + "/c.yaml")
    }

    func table(_ text: String) throws -> TextTable {
        let dir = Support.temporaryDirectory()
        Support.write(text, to: dir + "/t.csv")
        return try TextTable.read(path: dir + "/t.csv", format: .init())
    }

    func testInferredColumnsStandardisedAndOneHot() throws {
        let t = try table("n,c,y\n1,a,yes\n3,b,no\n?,a,?\n5,c,yes\n")
        let p = try Preprocessor.fit(config: try config(), train: t)
        XCTAssertEqual(p.numeric.map(\.name), ["n"])
        XCTAssertEqual(p.categorical.map(\.name), ["c"])
        XCTAssertEqual(p.numeric[0].mean, 3)
        XCTAssertEqual(p.numeric[0].std, (8.0 / 3).squareRoot(), accuracy: 1e-12)
        XCTAssertEqual(p.categorical[0].vocabulary, ["a", "b", "c"])
        XCTAssertEqual(p.denseWidth, 1 + 4)
        let e = try p.encode(t, split: "train")
        // row 0: n = (1 - 3)/s, one-hot a; row 2: n missing -> 0
        XCTAssertEqual(Array(e.dense[0..<5]), [Float(-2 / (8.0 / 3).squareRoot()), 1, 0, 0, 0])
        XCTAssertEqual(Array(e.dense[10..<15]), [0, 1, 0, 0, 0])
        XCTAssertEqual(e.targets[0], [1, 0, 0, 1])
        XCTAssertEqual(e.masks[0], [1, 1, 0, 1])
        XCTAssertEqual(e.labelCounts, [3])
        // An unseen category goes to the unknown bucket.
        let u = try p.encode(try table("n,c,y\n3,zzz,no\n"), split: "test")
        XCTAssertEqual(u.dense, [0, 0, 0, 0, 1])
    }

    func testLabelOutsideTheRuleNamesFileLineAndValue() throws {
        let t = try table("n,y\n1,yes\n2,maybe\n")
        Support.assertUserError(["t.csv:3", "'maybe'", "task 'y'"]) {
            let p = try Preprocessor.fit(config: try config(), train: t)
            _ = try p.encode(t, split: "train")
        }
    }

    func testNonNumericValueInNumericColumn() throws {
        let t = try table("n,y\n1,yes\nabc,no\n")
        Support.assertUserError(["t.csv:3", "column 'n'", "'abc'"]) {
            _ = try Preprocessor.fit(config: try config("  numeric: [n]"), train: t)
        }
    }

    func testMulticlassAndRegressionTargets() throws {
        let t = try table("n,k,v\n1,b,10\n2,a,20\n3,c,?\n")
        let p = try Preprocessor.fit(config: try config(tasks: "  - {name: k, column: k, kind: multiclass}\n  - {name: v, column: v, kind: regression}"), train: t)
        XCTAssertEqual(p.tasks[0].classes, ["a", "b", "c"])
        XCTAssertEqual(p.tasks[1].targetMean, 15)
        XCTAssertEqual(p.tasks[1].targetStd, 5)
        let e = try p.encode(t, split: "train")
        XCTAssertEqual(e.targets[0], [1, 0, 2])
        XCTAssertEqual(e.targets[1], [-1, 1, 0])
        XCTAssertEqual(e.masks[1], [1, 1, 0])
        Support.assertUserError(["class 'd'"]) { _ = try p.encode(try table("n,k,v\n1,d,3\n"), split: "test") }
    }

    func testLabelColumnCannotBeAFeature() throws {
        let t = try table("n,y\n1,yes\n")
        Support.assertUserError(["'y' is a task's label"]) {
            _ = try Preprocessor.fit(config: try config("  numeric: [n, y]"), train: t)
        }
    }

    func testJSONRoundTrip() throws {
        let t = try table("n,c,y\n1,a,yes\n3,b,no\n")
        let p = try Preprocessor.fit(config: try config(), train: t)
        XCTAssertEqual(try Preprocessor.from(json: p.json()), p)
    }
}
