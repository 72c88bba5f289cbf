import XCTest
import MTLTraining
import MTLCore
import MTLDistributed
import MTLTestSupport
@testable import MTLData

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

    /// Numbers beyond 32-bit floats, in features or labels, at fit or at encoding, are errors
    /// naming the file, line and column.
    func testValuesBeyondFloatRangeNameThePlace() throws {
        Support.assertUserError(["t.csv:3", "column 'n'", "1e155", "32-bit"]) {
            _ = try Preprocessor.fit(source: try config().dataSource, train: try table("n,c,y\n1,a,yes\n1e155,b,no\n"))
        }
        let p = try Preprocessor.fit(source: try config().dataSource, train: try table("n,c,y\n1,a,yes\n1.000001,b,no\n"))
        Support.assertUserError(["t.csv:2", "column 'n'", "32-bit"]) { _ = try p.encode(try table("n,c,y\n1e38,a,yes\n"), split: "test") }
    }

    func testInferredColumnsStandardisedAndOneHot() throws {
        let t = try table("n,c,y\n1,a,yes\n3,b,no\n?,a,?\n5,c,yes\n")
        let p = try Preprocessor.fit(source: try config().dataSource, train: t)
        XCTAssertEqual(p.numeric.map(\.name), ["n"])
        XCTAssertEqual(p.categorical.map(\.name), ["c"])
        XCTAssertEqual(p.numeric[0].mean, 3)
        XCTAssertEqual(p.numeric[0].std, (8.0 / 3).squareRoot(), accuracy: 1e-12)
        XCTAssertEqual(p.categorical[0].vocabulary, ["a", "b", "c"])
        XCTAssertEqual(p.denseWidth, 1 + 4)
        let e = try p.encode(t, split: "train")
        // row 0: n = (1 - 3)/s, one-hot a; row 2: n missing -> 0
        XCTAssertEqual(Array(e.denseFeatures()[0..<5]), [Float(-2 / (8.0 / 3).squareRoot()), 1, 0, 0, 0])
        XCTAssertEqual(Array(e.denseFeatures()[10..<15]), [0, 1, 0, 0, 0])
        XCTAssertEqual(e.targets[0], [1, 0, 0, 1])
        XCTAssertEqual(e.masks[0], [1, 1, 0, 1])
        XCTAssertEqual(e.labelCounts, [3])
        // An unseen category goes to the unknown bucket.
        let u = try p.encode(try table("n,c,y\n3,zzz,no\n"), split: "test")
        XCTAssertEqual(u.denseFeatures(), [0, 0, 0, 0, 1])
    }

    func testLabelOutsideTheRuleNamesFileLineAndValue() throws {
        let t = try table("n,y\n1,yes\n2,maybe\n")
        Support.assertUserError(["t.csv:3", "'maybe'", "task 'y'"]) {
            let p = try Preprocessor.fit(source: try config().dataSource, train: t)
            _ = try p.encode(t, split: "train")
        }
    }

    func testNonNumericValueInNumericColumn() throws {
        let t = try table("n,y\n1,yes\nabc,no\n")
        Support.assertUserError(["t.csv:3", "column 'n'", "'abc'"]) {
            _ = try Preprocessor.fit(source: try config("  numeric: [n]").dataSource, train: t)
        }
    }

    func testMulticlassAndRegressionTargets() throws {
        let t = try table("n,k,v\n1,b,10\n2,a,20\n3,c,?\n")
        let p = try Preprocessor.fit(source: try config(tasks: "  - {name: k, column: k, kind: multiclass}\n  - {name: v, column: v, kind: regression}").dataSource, train: t)
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
            _ = try Preprocessor.fit(source: try config("  numeric: [n, y]").dataSource, train: t)
        }
    }

    func testJSONRoundTrip() throws {
        let t = try table("n,c,y\n1,a,yes\n3,b,no\n")
        let p = try Preprocessor.fit(source: try config().dataSource, train: t)
        XCTAssertEqual(try Preprocessor.from(json: p.json()), p)
    }

    func testNumericBinsPiecewiseLinearEncoding() throws {
        let rows = (0...8).map { "\($0),\($0 % 2 == 0 ? "yes" : "no")" }.joined(separator: "\n")
        let t = try table("n,y\n" + rows + "\n")
        let p = try Preprocessor.fit(source: try config("  numeric_bins: 4").dataSource, train: t)
        // Quantiles 0, 1/4, ..., 1 of 0...8.
        XCTAssertEqual(p.numeric[0].edges, [0, 2, 4, 6, 8])
        XCTAssertEqual(p.denseWidth, 5)
        let std = (60.0 / 9).squareRoot()
        let e = try p.encode(try table("n,y\n3,yes\n10,no\n-2,no\n?,no\n"), split: "test")
        func row(_ r: Int) -> [Float] { Array(e.denseFeatures()[r * 5..<(r + 1) * 5]) }
        XCTAssertEqual(row(0), [Float(-1 / std), 1, 0.5, 0, 0])
        XCTAssertEqual(row(1), [Float(6 / std), 1, 1, 1, 2])      // the last bin extends upwards
        XCTAssertEqual(row(2), [Float(-6 / std), -1, 0, 0, 0])    // the first bin extends downwards
        XCTAssertEqual(row(3), [0, 1, 1, 0, 0])                  // missing: the mean, 4
        XCTAssertEqual(try Preprocessor.from(json: p.json()), p)

        // Tied quantiles merge: mostly zeros leave one bin.
        let tied = try table("n,y\n0,yes\n0,no\n0,no\n0,no\n0,no\n0,no\n0,no\n5,no\n9,yes\n")
        let q = try Preprocessor.fit(source: try config("  numeric_bins: 4").dataSource, train: tied)
        XCTAssertEqual(q.numeric[0].edges, [0, 9])
        XCTAssertEqual(q.denseWidth, 2)
    }

    /// What a split stores (a float per numeric column, a binned column's transformed value, an
    /// index per one-hot column) gives back the dense rows exactly, bins and blocks in place.
    func testStoredFormWritesTheDenseRows() throws {
        let t = try table("a,b,c,y\n0,7,p,yes\n1,7,q,no\n2,7,p,no\n3,7,q,yes\n4,7,p,no\n")
        let p = try Preprocessor.fit(source: try config("  numeric_bins: 2").dataSource, train: t)
        XCTAssertEqual(p.numeric.map(\.width), [3, 1])   // b is constant: no bins
        XCTAssertEqual(p.denseWidth, 7)
        let e = try p.encode(try table("a,b,c,y\n3,7,q,yes\n?,9,r,no\n"), split: "test")
        XCTAssertEqual(e.numbers.count, 4); XCTAssertEqual(e.binnedValues, [3, 2]); XCTAssertEqual(e.oneHot, [5, 6])
        XCTAssertEqual(e.numberOffsets, [0, 3])
        let s = Float(1 / 2.0.squareRoot())
        XCTAssertEqual(e.denseFeatures(), [s, 1, 0.5, 0, 0, 1, 0,
                                           0, 1, 0, 2, 0, 0, 1])   // a missing: its mean 2; r unknown
        XCTAssertLessThan(e.storedBytes, 4 * e.denseFeatures().count + 4 * 4)
    }

    func testLogNumeric() throws {
        let e1 = exp(1.0) - 1
        let t = try table("n,m,y\n\(e1),1,yes\n\(-e1),2,no\n")
        let p = try Preprocessor.fit(source: try config("  log_numeric: [n]").dataSource, train: t)
        XCTAssertEqual(p.numeric[0].mean, 0, accuracy: 1e-12)
        XCTAssertEqual(p.numeric[0].std, 1, accuracy: 1e-12)
        XCTAssertEqual(p.numeric[1].log, nil)
        let x = try p.encode(try table("n,m,y\n\(exp(2.0) - 1),1,yes\n"), split: "test")
        XCTAssertEqual(x.denseFeatures()[0], 2, accuracy: 1e-6)
        Support.assertUserError(["data.log_numeric", "'y'"]) {
            _ = try Preprocessor.fit(source: try self.config("  log_numeric: [y]").dataSource, train: t)
        }
    }
}
