import XCTest
import MTLTraining
import MTLCore
import MTLDistributed
import MTLTestSupport
@testable import MTLData

/// Reading, fitting and encoding give the same tables, fields, arrays and first error at 1, 2,
/// 3 and 5 threads (the pieces differ; the result may not).
final class ParallelReadingTests: XCTestCase {
    let threadCounts = [2, 3, 5]

    /// A file of about 5 MB (pieces are at least 1 MB), with comments, blank lines, quotes, CRLF
    /// endings and non-ASCII text spread over it.
    func bigFile(rows: Int = 60_000, bad: Int? = nil) -> String {
        var text = "id,label,score,words\n"
        var rng = SplitMix64(seed: 7)
        let vocabulary = ["alpha", "beta", "gamma", "délta", "épsilon", "zeta", "eta", "thêta", "iota", "kappa"]
        for r in 0..<rows {
            if r % 997 == 0 { text += "# a comment\n" }
            if r % 1231 == 0 { text += "\n" }
            let words = (0..<(1 + rng.nextInt(below: 12))).map { _ in vocabulary[rng.nextInt(below: vocabulary.count)] }.joined(separator: " ")
            let label = rng.nextInt(below: 2) == 0 ? "yes" : "no"
            let score = r == bad ? "oops,extra" : "\(Double(rng.nextInt(below: 100_000)) / 100)"
            text += "\(r),\(label),\(score),\"\(words), \"\"quoted\"\"\"" + (r % 3 == 0 ? "\r\n" : "\n")
        }
        return text
    }

    func testTableIsTheSameAtAnyThreadCount() throws {
        let dir = Support.temporaryDirectory()
        Support.write(bigFile(), to: dir + "/t.csv")
        let format = TextTable.Format(comment: "#")
        let size = (try FileManager.default.attributesOfItem(atPath: dir + "/t.csv")[.size] as? Int) ?? 0
        XCTAssertGreaterThanOrEqual(Parallel.parts(size, minimum: 1 << 20, threads: 5), 3, "the file is cut into pieces")
        let one = try TextTable.read(path: dir + "/t.csv", format: format, threads: 1)
        XCTAssertEqual(one.rowCount, 60_000)
        XCTAssertEqual(one.columns[3][1].suffix(10), ", \"quoted\"")
        for t in threadCounts {
            let many = try TextTable.read(path: dir + "/t.csv", format: format, threads: t)
            XCTAssertEqual(many.columnNames, one.columnNames)
            XCTAssertEqual(many.columns, one.columns, "\(t) threads")
            XCTAssertEqual(many.lines, one.lines, "\(t) threads")
            XCTAssertEqual(many.contentChecksum, one.contentChecksum)
        }
    }

    /// Two bad rows in different pieces: every thread count reports the first (its line), or,
    /// with bad_rows: skip, records both with their lines.
    func testFirstBadRowAndSkippedRowsAtAnyThreadCount() throws {
        let dir = Support.temporaryDirectory()
        var text = bigFile(bad: 40_000)
        text = text.replacingOccurrences(of: "\n55000,", with: "\n55000,x,")
        Support.write(text, to: dir + "/t.csv")
        // Lines by bytes ("\r\n" is one Character).
        let lines = text.utf8.split(separator: 0x0A, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
        let first = 1 + (lines.firstIndex { $0.hasPrefix("40000,") } ?? -1), second = 1 + (lines.firstIndex { $0.hasPrefix("55000,") } ?? -1)
        XCTAssertGreaterThan(first, 40_000); XCTAssertGreaterThan(second, first)
        for t in [1] + threadCounts {
            Support.assertUserError(["t.csv:\(first):", "expected 4 fields, found 5"]) {
                _ = try TextTable.read(path: dir + "/t.csv", format: .init(comment: "#"), threads: t)
            }
            let skipping = try TextTable.read(path: dir + "/t.csv", format: .init(comment: "#", skipBadRows: true), threads: t)
            XCTAssertEqual(skipping.skippedRows.map(\.line), [first, second], "\(t) threads")
            XCTAssertEqual(skipping.rowCount, 60_000 - 2)
        }
    }

    /// Leading comment lines longer than a piece: the first pieces hold no rows, the table is the same.
    func testLeadingCommentsLongerThanAPiece() throws {
        let dir = Support.temporaryDirectory()
        let comments = String(repeating: "# " + String(repeating: "x", count: 1000) + "\n", count: 3000)
        Support.write(comments + "a,b\n" + (0..<5000).map { "\($0),\($0 * 3)" }.joined(separator: "\n") + "\n", to: dir + "/t.csv")
        let one = try TextTable.read(path: dir + "/t.csv", format: .init(comment: "#"), threads: 1)
        XCTAssertEqual(one.rowCount, 5000)
        XCTAssertEqual(one.lines.first, 3002)
        for t in threadCounts {
            let many = try TextTable.read(path: dir + "/t.csv", format: .init(comment: "#"), threads: t)
            XCTAssertEqual(many.columns, one.columns); XCTAssertEqual(many.lines, one.lines)
        }
    }

    /// A byte that is not UTF-8 far into the file is named by its line at any thread count.
    func testInvalidUTF8LineAtAnyThreadCount() throws {
        let dir = Support.temporaryDirectory()
        var bytes = Array(bigFile().utf8)
        let at = bytes.count * 3 / 4
        bytes[at] = 0xFF
        let line = 1 + bytes[..<at].filter { $0 == 0x0A }.count
        try Data(bytes).write(to: URL(fileURLWithPath: dir + "/t.csv"))
        for t in [1] + threadCounts {
            Support.assertUserError(["t.csv:\(line):", "not UTF-8"]) { _ = try TextTable.read(path: dir + "/t.csv", format: .init(comment: "#"), threads: t) }
        }
    }

    func testFittedFieldAndEncodedSplitAreTheSameAtAnyThreadCount() throws {
        let dir = Support.temporaryDirectory()
        Support.write(bigFile(rows: 5_000), to: dir + "/t.csv")
        let table = try TextTable.read(path: dir + "/t.csv", format: .init(comment: "#"))
        for hashing in [0, 12] {
            let config = try RunConfig.parse(text: """
            data:
              train: t.csv
              numeric: [score, id]
              text: [words]
              text_features: {ngrams: [1, 2], char_ngrams: [2, 4], min_count: 2, hashing_bits: \(hashing)}
            tasks:
              - {name: y, column: label, kind: binary, positive: [yes]}
            """, path: dir + "/c.yaml")
            let fitted = try Preprocessor.fit(source: config.dataSource, train: table)
            let documents = Array(table.columns[3])
            let one = try TextFeatures.fit(name: "words", documents: documents, settings: config.dataSource.data.textFeatures, threads: 1)
            XCTAssertEqual(one, fitted.sparseFields.first)
            XCTAssertGreaterThan(one.width, 50)
            let encoded = try fitted.encode(table, split: "train", threads: 1)
            XCTAssertGreaterThan(encoded.sparse?.index.count ?? 0, 5_000 * 10)
            for t in threadCounts {
                XCTAssertEqual(try TextFeatures.fit(name: "words", documents: documents, settings: config.dataSource.data.textFeatures, threads: t), one,
                               "hashing \(hashing), \(t) threads")
                let many = try fitted.encode(table, split: "train", threads: t)
                XCTAssertEqual(many.denseFeatures(), encoded.denseFeatures()); XCTAssertEqual(many.sparse, encoded.sparse)
                XCTAssertEqual(many.targets, encoded.targets); XCTAssertEqual(many.masks, encoded.masks)
                XCTAssertEqual(many.checksum, encoded.checksum)
            }
        }
    }

    /// The first bad value in row order is reported at any thread count, though a later piece
    /// meets its own bad value first.
    func testFirstEncodingErrorAtAnyThreadCount() throws {
        let dir = Support.temporaryDirectory()
        var text = "n,y\n"
        for r in 0..<30_000 { text += (r == 21_000 ? "x" : r == 4_000 ? "7" : "\(r)") + "," + (r == 4_000 ? "maybe" : "yes") + "\n" }
        Support.write(text, to: dir + "/t.csv")
        let table = try TextTable.read(path: dir + "/t.csv", format: .init())
        let config = try RunConfig.parse(text: "data: {train: t.csv, numeric: [n]}\ntasks:\n  - {name: y, column: y, kind: binary, positive: [yes], negative: [no]}\n",
                                         path: dir + "/c.yaml")
        let p = Preprocessor(numeric: [.init(name: "n", mean: 0, std: 1)], categorical: [], encoding: .onehot, embeddingDim: 0, missing: [],
                             tasks: [try Preprocessor.fitTask(config.dataSource.tasks[0], train: table, missing: [])])
        for t in [1] + threadCounts {
            Support.assertUserError(["t.csv:4002", "label 'maybe'"]) { _ = try p.encode(table, split: "train", threads: t) }
        }
    }

    func testCostRangesCoverInOrderWithoutEmptyPieces() {
        var rng = SplitMix64(seed: 3)
        for _ in 0..<200 {
            let n = rng.nextInt(below: 40), parts = 1 + rng.nextInt(below: 6)
            let costs = (0..<n).map { _ in rng.nextInt(below: 3) == 0 ? 1000 : rng.nextInt(below: 10) }
            let ranges = Parallel.ranges(costs: costs, parts: parts)
            XCTAssertEqual(ranges.first?.lowerBound ?? 0, 0)
            XCTAssertEqual(ranges.last?.upperBound ?? 0, n)
            XCTAssert(ranges.allSatisfy { !$0.isEmpty })
            XCTAssertLessThanOrEqual(ranges.count, max(1, parts))
            for (a, b) in zip(ranges, ranges.dropFirst()) { XCTAssertEqual(a.upperBound, b.lowerBound) }
        }
        // Long rows first: the pieces split by cost, not by count.
        XCTAssertEqual(Parallel.ranges(costs: [100, 100, 1, 1, 1, 1, 1, 1], parts: 2), [0..<1, 1..<8])
    }
}
