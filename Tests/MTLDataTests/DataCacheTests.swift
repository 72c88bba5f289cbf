import XCTest
import MTLTraining
import MTLData
import MTLCore
import MTLTestSupport

/// `data.cache`: the second load reads back exactly what the first encoded; a changed file or
/// config misses; a damaged cache file is never trained on (a warning, the files read again).
final class DataCacheTests: XCTestCase {
    func write(_ dir: String, rows n: Int, seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        var text = "n,c,note,y,k\n"
        for i in 0..<n {
            let note = ["red fox", "blue sky", "green tea cup", "red tea"][Int(rng.nextUniform() * 4)]
            text += "\(i % 7 == 0 ? "?" : String(Int(rng.nextUniform() * 100))),c\(Int(rng.nextUniform() * 9)),\(note),\(rng.nextUniform() < 0.4 ? "yes" : "no"),k\(i % 3)\n"
        }
        Support.write(text, to: dir + "/train.csv")
    }

    func source(_ dir: String, extra: String = "") throws -> DataSource {
        try RunConfig.parse(text: """
            data: {train: train.csv, validation_fraction: 0.2, text: [note], numeric_bins: 4, cache: cache\(extra)}
            tasks:
              - {name: y, column: y, kind: binary, positive: ["yes"]}
              - {name: k, column: k, kind: multiclass}
            """, path: dir + "/c.yaml").dataSource
    }

    func summary(_ d: LoadedData) throws -> [String] {
        [try d.preprocessor.json(), "\(d.train.checksum) \(d.validation?.checksum ?? 0) \(d.test?.checksum ?? 0)",
         "\(d.digest.sorted { $0.key < $1.key })", "\(d.train.rows) \(d.pieces)"]
    }

    func testSecondLoadReadsBackTheSameData() throws {
        let dir = Support.temporaryDirectory()
        write(dir, rows: 3000, seed: 1)
        let first = try LoadedData.load(source: try source(dir))
        XCTAssertEqual(first.cache, .written)
        let second = try LoadedData.load(source: try source(dir))
        XCTAssertEqual(second.cache, .read)
        XCTAssertEqual(try summary(second), try summary(first))
        XCTAssertEqual(second.train.denseFeatures(), first.train.denseFeatures())
        XCTAssertEqual(second.train.sparse, first.train.sparse)
        XCTAssertEqual(second.train.targets, first.train.targets)
        // Without the cache: the same data.
        let plain = try LoadedData.load(source: try source(dir, extra: ", chunk_mb: 0").withoutCache())
        XCTAssertEqual(plain.cache, .none)
        XCTAssertEqual(try summary(plain), try summary(first))
        // A config change misses (and writes its own cache); so does a changed file.
        XCTAssertEqual(try LoadedData.load(source: try source(dir, extra: ", min_category_count: 2")).cache, .written)
        write(dir, rows: 3001, seed: 1)
        let changed = try LoadedData.load(source: try source(dir))
        XCTAssertEqual(changed.cache, .written)
        XCTAssertEqual(changed.train.rows + (changed.validation?.rows ?? 0), 3001)
    }

    /// Cut short, a byte flipped in the header or in an array, or garbage: never read back; the
    /// load warns, reads the files and writes the cache anew.
    func testDamagedCacheIsNotTrainedOn() throws {
        let dir = Support.temporaryDirectory()
        write(dir, rows: 2000, seed: 2)
        let config = try source(dir)
        let good = try LoadedData.load(source: config)
        let file = DataCache.path(config, folder: dir + "/cache")
        let bytes = try XCTUnwrap(FileManager.default.contents(atPath: file))
        var damaged: [Data] = [bytes.prefix(bytes.count / 2), bytes.prefix(30), Data("not a cache".utf8), bytes + Data([1, 2, 3])]
        for at in [bytes.count - 5, bytes.count / 2, 25] {
            var flipped = bytes
            flipped[at] ^= 0x40
            damaged.append(flipped)
        }
        for (i, d) in damaged.enumerated() {
            try d.write(to: URL(fileURLWithPath: file))
            let again = try LoadedData.load(source: config)
            XCTAssertEqual(again.cache, .written, "damage \(i)")
            XCTAssertTrue(again.warnings.contains { $0.contains("does not read back") }, "damage \(i): \(again.warnings)")
            XCTAssertEqual(try summary(again), try summary(good), "damage \(i)")
            XCTAssertEqual(try LoadedData.load(source: config).cache, .read, "damage \(i): the cache is written anew")
        }
    }
}

extension DataSource {
    func withoutCache() -> DataSource { var s = self; s.data.cache = nil; return s }
}
