import XCTest
import MTLTraining
import MTLCore
import MTLDistributed
import MTLTestSupport
@testable import MTLData

final class TextTableTests: XCTestCase {
    func testQuotesCommentsBlankLinesAndTrim() throws {
        let dir = Support.temporaryDirectory()
        Support.write("|a comment\na, b ,c\n1, \"x, y\" ,\"say \"\"hi\"\"\"\n\n2,,3\n", to: dir + "/t.csv")
        let t = try TextTable.read(path: dir + "/t.csv", format: .init(comment: "|"))
        XCTAssertEqual(t.columnNames, ["a", "b", "c"])
        XCTAssertEqual(t.columns[1], ["x, y", ""])
        XCTAssertEqual(t.columns[2], ["say \"hi\"", "3"])
        XCTAssertEqual(t.lines, [3, 5])
    }

    func testBrokenRowNamesFileAndLine() {
        let dir = Support.temporaryDirectory()
        Support.write("a,b\n1,2\n3\n4,5\n", to: dir + "/t.csv")
        Support.assertUserError(["t.csv:3", "expected 2 fields, found 1", "bad_rows"]) {
            _ = try TextTable.read(path: dir + "/t.csv", format: .init())
        }
    }

    func testSkippedRowsAreCounted() throws {
        let dir = Support.temporaryDirectory()
        Support.write("a,b\n1,2\n3\n4,5\n6,7,8\n", to: dir + "/t.csv")
        let t = try TextTable.read(path: dir + "/t.csv", format: .init(skipBadRows: true))
        XCTAssertEqual(t.rowCount, 2)
        XCTAssertEqual(t.skippedRows.map(\.line), [3, 5])
    }

    func testGzipIsReadDirectly() throws {
        let dir = Support.temporaryDirectory()
        Support.write("a\tb\n1\t2\n3\t4\n", to: dir + "/t.tsv")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/gzip")
        p.arguments = ["-k", dir + "/t.tsv"]
        try p.run(); p.waitUntilExit()
        let plain = try TextTable.read(path: dir + "/t.tsv", format: .init(separator: UInt8(ascii: "\t")))
        let gz = try TextTable.read(path: dir + "/t.tsv.gz", format: .init(separator: UInt8(ascii: "\t")))
        XCTAssertEqual(gz.columns, plain.columns)
        XCTAssertEqual(gz.columns, [["1", "3"], ["2", "4"]])
    }

    func testHeaderMismatchWithGivenColumns() {
        let dir = Support.temporaryDirectory()
        Support.write("a,b\n1,2\n", to: dir + "/t.csv")
        Support.assertUserError(["t.csv:1", "data.columns"]) {
            _ = try TextTable.read(path: dir + "/t.csv", format: .init(header: true, columns: ["a", "c"]))
        }
    }
}
