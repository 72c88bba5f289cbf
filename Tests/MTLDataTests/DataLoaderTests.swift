import XCTest
import MTLTraining
import MTLCore
import MTLDistributed
import MTLTestSupport
@testable import MTLData

final class DataLoaderTests: XCTestCase {
    func write(_ dir: String, rows: Int, name: String) {
        Support.write("x,y\n" + (0..<rows).map { "\($0),\($0 % 2 == 0 ? "a" : "b")" }.joined(separator: "\n") + "\n", to: dir + "/" + name)
    }

    /// The head of the test file validates, the rest tests, in file order.
    func testTestHeadAsValidation() throws {
        let dir = Support.temporaryDirectory()
        write(dir, rows: 10, name: "train.csv")
        write(dir, rows: 7, name: "test.csv")
        let config = try RunConfig.parse(text: """
        data: {train: train.csv, test: test.csv, test_head_as_validation: 0.5}
        tasks: [{name: y, column: y, kind: binary, positive: [a]}]
        """, path: dir + "/c.yaml")
        let data = try LoadedData.load(source: config.dataSource)
        XCTAssertEqual(data.train.rows, 10)
        XCTAssertEqual(data.validation?.rows, 4)   // round(3.5) = 4
        XCTAssertEqual(data.test?.rows, 3)
        // x is standardised with the training mean 4.5 and deviation sqrt(8.25): validation holds 0..3, test 4..6.
        let std = Float((8.25).squareRoot())
        XCTAssertEqual(data.validation!.denseFeatures()[0], Float(-4.5) / std, accuracy: 1e-6)
        XCTAssertEqual(data.test!.denseFeatures()[0], Float(-0.5) / std, accuracy: 1e-6)
        XCTAssertEqual(data.test!.targets[0], [1, 0, 1])
    }

    /// What makes training meaningless is an error, what makes it doubtful a warning: a task
    /// without training labels, an empty validation file, a column named in two roles; every
    /// training row negative, test data equal to the training data.
    func testDoubtfulDataIsReported() throws {
        let dir = Support.temporaryDirectory()
        write(dir, rows: 10, name: "train.csv")
        Support.write("x,y\n", to: dir + "/empty.csv")
        func load(_ text: String) throws -> LoadedData {
            try LoadedData.load(source: try RunConfig.parse(text: text, path: dir + "/c.yaml").dataSource)
        }
        Support.assertUserError(["task 'y' has no labels in the training split"]) {
            _ = try load("data: {train: train.csv, missing: [a, b]}\ntasks: [{name: y, column: y, kind: binary, positive: [a]}]\n")
        }
        Support.assertUserError(["empty.csv", "no rows"]) {
            _ = try load("data: {train: train.csv, validation: empty.csv}\ntasks: [{name: y, column: y, kind: binary, positive: [a]}]\n")
        }
        Support.assertUserError(["data.categorical", "'x'", "data.numeric"]) {
            _ = try load("data: {train: train.csv, numeric: [x], categorical: [x]}\ntasks: [{name: y, column: y, kind: binary, positive: [a]}]\n")
        }
        let doubtful = try load("data: {train: train.csv, test: train.csv}\ntasks: [{name: y, column: y, kind: binary, positive: [c]}]\n")
        XCTAssert(doubtful.warnings.contains { $0.contains("every labelled training row is negative") }, "\(doubtful.warnings)")
        XCTAssert(doubtful.warnings.contains { $0.contains("test data equals the training data") }, "\(doubtful.warnings)")
        XCTAssertTrue(try load("data: {train: train.csv}\ntasks: [{name: y, column: y, kind: binary, positive: [a]}]\n").warnings.isEmpty)
        // An id column inferred as categorical is named, with data.drop.
        Support.write("id,y\n" + (0..<100).map { "r\($0),\($0 % 2 == 0 ? "a" : "b")" }.joined(separator: "\n") + "\n", to: dir + "/ids.csv")
        let ids = try load("data: {train: ids.csv}\ntasks: [{name: y, column: y, kind: binary, positive: [a]}]\n")
        XCTAssert(ids.warnings.contains { $0.contains("column 'id' has 100 distinct values in 100 training rows") && $0.contains("data.drop") }, "\(ids.warnings)")
    }

    /// A one-hot column with a value per row is stored as one index a row, not as its block
    /// (rows x values x 4 bytes would pass this machine's memory): the file loads, and the dense
    /// rows written for a batch hold the block. Splits whose stored arrays cannot fit are refused
    /// before anything is allocated, with the estimate and what to do.
    func testWideOneHotIsStoredAsIndicesAndWhatCannotFitIsRefused() throws {
        let physical = MachineMemory.physicalBytes
        try XCTSkipIf(physical == 0, "the system does not report its memory")
        // rows^2 * 4 bytes > 0.8 * physical for rows > sqrt(0.2 * physical).
        let rows = Int((0.3 * physical).squareRoot()) + 1
        let dir = Support.temporaryDirectory()
        Support.write("c,y\n" + (0..<rows).map { "v\($0),\($0 % 2 == 0 ? "a" : "b")" }.joined(separator: "\n") + "\n", to: dir + "/wide.csv")
        let source = try RunConfig.parse(text: """
            data: {train: wide.csv, categorical: [c], categorical_encoding: onehot}
            tasks: [{name: y, column: y, kind: binary, positive: [a]}]
            """, path: dir + "/c.yaml").dataSource
        let data = try LoadedData.load(source: source)
        XCTAssertEqual(data.train.rows, rows)
        XCTAssertEqual(data.train.denseWidth, rows + 1)
        XCTAssertEqual(data.train.oneHot.count, rows)
        XCTAssertLessThan(data.train.storedBytes, 16 * rows)
        // Values are sorted ("v0", "v1", "v10", ...): row r's 1 sits at its value's rank.
        let sorted = (0..<rows).map { "v\($0)" }.sorted()
        let row = FloatBuffer(count: rows + 1)
        for r in [0, 1, 10, rows - 1] {
            data.train.writeDense(row: r, into: row.pointer)
            let ones = (0..<(rows + 1)).filter { row.pointer[$0] != 0 }
            XCTAssertEqual(ones, [sorted.firstIndex(of: "v\(r)")!])
            XCTAssertEqual(row.pointer[ones[0]], 1)
        }
        Support.assertUserError(["wide.csv", "the encoded data", "GiB", "1 numbers and 0 category indices", "fewer rows"]) {
            var pre = data.preprocessor
            pre.categorical = []
            pre.numeric = [.init(name: "c", mean: 0, std: 1)]
            try pre.checkEncodedSize([("train", Int(physical))], source: dir + "/wide.csv")
        }
    }

    /// A file separated by ';' read with the default ',' gets a hint naming data.separator; the
    /// columns' roles are summarised with their widths.
    func testSeparatorHintAndColumnRoles() throws {
        let dir = Support.temporaryDirectory()
        Support.write("x;c;y\n1;u;a\n2;v;b\n3;u;a\n", to: dir + "/semi.csv")
        func load(_ extra: String) throws -> LoadedData {
            try LoadedData.load(source: try RunConfig.parse(text: """
            data: {train: semi.csv, numeric: [x], categorical: [c]\(extra)}
            tasks: [{name: y, column: y, kind: binary, positive: [a]}]
            """, path: dir + "/c.yaml").dataSource)
        }
        Support.assertUserError(["semi.csv", "separated by ';'", "data.separator: ';'"]) { _ = try load("") }
        let data = try load(", separator: ';'")
        XCTAssertEqual(data.preprocessor.columnSummary, "numeric x (1 wide); categorical (onehot, values + unknown) c 3 (3 wide)")
    }

    func testFractionSplitIsSeededAndDisjoint() throws {
        let dir = Support.temporaryDirectory()
        write(dir, rows: 100, name: "train.csv")
        let text = "data: {train: train.csv, validation_fraction: 0.2, test_fraction: 0.1, split_seed: 4}\ntasks: [{name: y, column: y, kind: binary, positive: [a]}]\n"
        let a = try LoadedData.load(source: try RunConfig.parse(text: text, path: dir + "/c.yaml").dataSource)
        let b = try LoadedData.load(source: try RunConfig.parse(text: text, path: dir + "/c.yaml").dataSource)
        XCTAssertEqual([a.train.rows, a.validation!.rows, a.test!.rows], [70, 20, 10])
        XCTAssertEqual(a.validation!.denseFeatures(), b.validation!.denseFeatures())
        let all = Set(a.train.denseFeatures() + a.validation!.denseFeatures() + a.test!.denseFeatures())
        XCTAssertEqual(all.count, 100, "the three splits are disjoint and cover every row")
    }

    func testTestHeadNeedsATestFile() {
        Support.assertUserError(["data.test_head_as_validation"]) {
            _ = try RunConfig.parse(text: "data: {train: t.csv, test_head_as_validation: 0.5}\ntasks: [{name: y, column: y, kind: binary, positive: [a]}]\n", path: "c.yaml")
        }
    }
}
