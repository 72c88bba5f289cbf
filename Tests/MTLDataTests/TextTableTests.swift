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

    /// A gzip file cut short is an error naming the file (zlib hands back what it inflated so far
    /// without an error of its own); a whole one reads the same rows as the plain file.
    func testGzipCutShortIsAnError() throws {
        let dir = Support.temporaryDirectory()
        var text = "a,b\n"
        for i in 0..<4000 { text += "\(i),\(i * 7 % 13)\n" }
        Support.write(text, to: dir + "/t.csv")
        let gzip = Process()
        gzip.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        gzip.arguments = ["gzip", "-k", dir + "/t.csv"]
        try gzip.run(); gzip.waitUntilExit()
        XCTAssertEqual(try TextTable.read(path: dir + "/t.csv.gz", format: .init()).rowCount, 4000)
        let whole = try Data(contentsOf: URL(fileURLWithPath: dir + "/t.csv.gz"))
        for keep in [whole.count / 2, whole.count - 4] {
            try whole.prefix(keep).write(to: URL(fileURLWithPath: dir + "/cut.csv.gz"))
            Support.assertUserError(["cut.csv.gz", "gzip stream ends early"]) { _ = try TextTable.read(path: dir + "/cut.csv.gz", format: .init()) }
        }
    }

    /// Bytes that are not UTF-8 are an error naming the line and the byte, not replaced silently.
    func testInvalidUTF8NamesTheLine() throws {
        let dir = Support.temporaryDirectory()
        var bytes = Array("a,b\n1,caf".utf8) + [0xE9] + Array("\n".utf8)
        try Data(bytes).write(to: URL(fileURLWithPath: dir + "/latin1.csv"))
        Support.assertUserError(["latin1.csv:2", "byte 6", "0xE9", "not UTF-8", "iconv"]) {
            _ = try TextTable.read(path: dir + "/latin1.csv", format: .init())
        }
        bytes = Array("a,b\n1,caf\u{E9} \u{1F600}\n".utf8)
        try Data(bytes).write(to: URL(fileURLWithPath: dir + "/ok.csv"))
        XCTAssertEqual(try TextTable.read(path: dir + "/ok.csv", format: .init()).columns[1], ["caf\u{E9} \u{1F600}"])
        for bad: [UInt8] in [[0xC0, 0x80], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xE2, 0x82]] {
            try Data(Array("a\n".utf8) + bad + Array("\n".utf8)).write(to: URL(fileURLWithPath: dir + "/bad.csv"))
            Support.assertUserError(["bad.csv:2", "not UTF-8"]) { _ = try TextTable.read(path: dir + "/bad.csv", format: .init()) }
        }
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

    /// Gzip members one after another (what `cat a.gz b.gz` makes) read as their texts joined,
    /// and a trailer stating a wrong size (a damaged file) changes nothing or is an error, never
    /// an allocation of the size it claims.
    func testConcatenatedMembersAndALyingTrailer() throws {
        let dir = Support.temporaryDirectory()
        var first = "a,b\n", second = ""
        for i in 0..<3000 { first += "\(i),x\n"; second += "\(i + 3000),y\n" }
        Support.write(first, to: dir + "/1.csv"); Support.write(second, to: dir + "/2.csv")
        for f in ["1.csv", "2.csv"] {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/bin/gzip")
            p.arguments = ["-k", dir + "/" + f]
            try p.run(); p.waitUntilExit()
        }
        let one = try Data(contentsOf: URL(fileURLWithPath: dir + "/1.csv.gz")), two = try Data(contentsOf: URL(fileURLWithPath: dir + "/2.csv.gz"))
        try (one + two).write(to: URL(fileURLWithPath: dir + "/both.csv.gz"))
        Support.write(first + second, to: dir + "/both.csv")
        let joined = try TextTable.read(path: dir + "/both.csv.gz", format: .init())
        XCTAssertEqual(joined.rowCount, 6000)
        XCTAssertEqual(joined.columns, try TextTable.read(path: dir + "/both.csv", format: .init()).columns)
        XCTAssertEqual(joined.contentChecksum, try TextTable.read(path: dir + "/both.csv", format: .init()).contentChecksum)
        var lying = [UInt8](two)
        for k in 1...4 { lying[lying.count - k] = 0xFF }   // a stated size of 4 GB
        try Data(lying).write(to: URL(fileURLWithPath: dir + "/lying.csv.gz"))
        Support.assertUserError(["lying.csv.gz"]) { _ = try TextTable.read(path: dir + "/lying.csv.gz", format: .init(header: false, columns: ["a", "b"])) }
    }

    func testHeaderMismatchWithGivenColumns() {
        let dir = Support.temporaryDirectory()
        Support.write("a,b\n1,2\n", to: dir + "/t.csv")
        Support.assertUserError(["t.csv:1", "data.columns"]) {
            _ = try TextTable.read(path: dir + "/t.csv", format: .init(header: true, columns: ["a", "c"]))
        }
    }
}
