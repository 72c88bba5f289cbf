import XCTest
import MTLTraining
import MTLData
import MTLCore
import MTLTestSupport

/// A training file read, fitted and encoded in pieces (`data.chunk_mb`) gives exactly what
/// reading it whole gives: the preprocessing, every encoded array, the files' checksums, the
/// skipped rows, and the same error naming the same line.
final class ChunkedLoadingTests: XCTestCase {
    /// Rows with an inferred numeric column (and missing values), a log and binned one, two
    /// categorical columns, a text column and binary, regression and multiclass labels.
    func rows(_ n: Int, seed: UInt64, bad: Set<Int> = [], word: Int? = nil) -> String {
        var rng = SplitMix64(seed: seed)
        var text = "n,m,c,d,note,y,r,k\n"
        let words = ["alpha", "beta", "gamma", "delta", "eps", "zeta", "eta", "theta"]
        for i in 0..<n {
            if bad.contains(i) { text += "1,2,3\n"; continue }
            let u = rng.nextUniform()
            let n = i == word ? "many" : u < 0.05 ? "?" : String(Int(rng.nextUniform() * 1000))
            let m = String(format: "%.3f", Double(rng.nextNormal()) * 50)
            let c = "c\(Int(rng.nextUniform() * 40))", d = ["x", "y", "z", ""][Int(rng.nextUniform() * 4)]
            let note = (0..<(1 + Int(rng.nextUniform() * 6))).map { _ in words[Int(rng.nextUniform() * 8)] }.joined(separator: " ")
            text += "\(n),\(m),\(c),\(d),\(note),\(u < 0.4 ? "yes" : "no"),\(String(format: "%.2f", Double(rng.nextNormal()))),k\(Int(rng.nextUniform() * 3))\n"
            if i % 997 == 5 { text += "# a comment line\n\n" }
        }
        return text
    }

    func load(_ dir: String, chunk: Double, extra: String = "", train: String = "train.csv") throws -> LoadedData {
        try LoadedData.load(source: try RunConfig.parse(text: """
            data: {train: \(train), validation: valid.csv, text: [note], numeric_bins: 6, log_numeric: [m], chunk_mb: \(chunk), comment: "#"\(extra)}
            tasks:
              - {name: y, column: y, kind: binary, positive: ["yes"]}
              - {name: r, column: r, kind: regression}
              - {name: k, column: k, kind: multiclass}
            """, path: dir + "/c.yaml").dataSource)
    }

    func assertSame(_ a: LoadedData, _ b: LoadedData, file: StaticString = #filePath, line: UInt = #line) throws {
        XCTAssertEqual(try a.preprocessor.json(), try b.preprocessor.json(), file: file, line: line)
        XCTAssertEqual(a.train.rows, b.train.rows, file: file, line: line)
        XCTAssertEqual(a.train.checksum, b.train.checksum, file: file, line: line)
        XCTAssertEqual(a.train.denseFeatures(), b.train.denseFeatures(), file: file, line: line)
        XCTAssertEqual(a.train.sparse, b.train.sparse, file: file, line: line)
        XCTAssertEqual(a.validation?.checksum, b.validation?.checksum, file: file, line: line)
        XCTAssertEqual(a.digest, b.digest, file: file, line: line)
        XCTAssertEqual(a.skipped.map { "\($0.file) \($0.count) \($0.firstLine) \($0.reason)" },
                       b.skipped.map { "\($0.file) \($0.count) \($0.firstLine) \($0.reason)" }, file: file, line: line)
    }

    func testPiecesGiveWhatTheWholeFileGives() throws {
        let dir = Support.temporaryDirectory()
        Support.write(rows(6000, seed: 1), to: dir + "/train.csv")
        Support.write(rows(1500, seed: 2), to: dir + "/valid.csv")
        let whole = try load(dir, chunk: 0)
        XCTAssertGreaterThan(whole.train.rows, 5000)
        for chunk in [0.01, 0.037, 0.1] {   // pieces of about 10, 38 and 100 KB (the file is about 300 KB)
            let pieces = try load(dir, chunk: chunk)
            XCTAssertGreaterThan(pieces.pieces, 2)
            try assertSame(pieces, whole)
        }
        // Gzip: inflated as it is read.
        let gz = Process()
        gz.executableURL = URL(fileURLWithPath: "/bin/gzip")
        gz.arguments = ["-k", dir + "/train.csv"]
        try gz.run(); gz.waitUntilExit()
        let fromGzip = try load(dir, chunk: 0.01, train: "train.csv.gz")
        XCTAssertGreaterThan(fromGzip.pieces, 2)
        XCTAssertEqual(whole.pieces, 0)
        XCTAssertEqual(fromGzip.train.checksum, whole.train.checksum)
        XCTAssertEqual(try fromGzip.preprocessor.json(), try whole.preprocessor.json())
    }

    /// A column numeric in the first pieces and not in a later one is categorical either way;
    /// skipped rows are counted alike; a bad row without `bad_rows: skip` names the same line.
    func testInferenceSkippedRowsAndErrorsAcrossPieces() throws {
        let dir = Support.temporaryDirectory()
        Support.write(rows(5000, seed: 3, bad: [4100, 4500], word: 4800), to: dir + "/train.csv")
        Support.write(rows(300, seed: 4), to: dir + "/valid.csv")
        let whole = try load(dir, chunk: 0, extra: ", bad_rows: skip")
        let pieces = try load(dir, chunk: 0.01, extra: ", bad_rows: skip")
        try assertSame(pieces, whole)
        XCTAssertGreaterThan(pieces.pieces, 2)
        XCTAssertEqual(whole.skipped.first?.count, 2)
        XCTAssertTrue(whole.preprocessor.categorical.contains { $0.name == "n" })
        var messages: [String] = []
        for chunk in [0.0, 0.01] {
            do { _ = try load(dir, chunk: chunk); XCTFail("a bad row must fail") } catch let e as UserError { messages.append(e.message) }
        }
        XCTAssertEqual(messages.count, 2)
        XCTAssertEqual(messages.first, messages.last)
        XCTAssertTrue(messages.first?.contains("train.csv:") == true, "\(messages)")
    }

    /// A gzip file cut short read in pieces is an error naming it, after the pieces before.
    func testCutGzipInPiecesIsAnError() throws {
        let dir = Support.temporaryDirectory()
        Support.write(rows(6000, seed: 5), to: dir + "/t.csv")
        let gz = Process()
        gz.executableURL = URL(fileURLWithPath: "/bin/gzip")
        gz.arguments = [dir + "/t.csv"]
        try gz.run(); gz.waitUntilExit()
        let whole = try Data(contentsOf: URL(fileURLWithPath: dir + "/t.csv.gz"))
        try whole.prefix(whole.count * 2 / 3).write(to: URL(fileURLWithPath: dir + "/train.csv.gz"))
        Support.write(rows(100, seed: 6), to: dir + "/valid.csv")
        var pieces = 0
        Support.assertUserError(["train.csv.gz", "ends early", "cut short"]) {
            _ = try TextTable.forEachChunk(path: dir + "/train.csv.gz", format: .init(comment: "#"), chunkBytes: 1 << 14) { _ in pieces += 1 }
        }
        XCTAssertGreaterThan(pieces, 1)
    }
}
