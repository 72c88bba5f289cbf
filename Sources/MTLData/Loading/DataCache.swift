import Foundation
import MTLCore
import CZlib
#if canImport(Glibc)
import Glibc
#endif

/// The encoded data of a config, kept in a file (`data.cache`, a folder) so that later runs and
/// other ranks read the arrays back instead of parsing, fitting and encoding again.
///
/// A cache file is named by a hash of its key and holds the key itself: the data and tasks
/// sections as parsed, and each data file's path, size and modification time, so a changed
/// config or file misses. The file is the magic `MTLCACHE`, a format version (UInt32), the length
/// of a JSON header (UInt64) and its CRC-32 (UInt32), the header (the preprocessing, the splits' shapes and the files'
/// checksums, skipped rows and pieces, and each array's CRC-32) and then every array in the
/// header's order, little-endian as in memory. Hand-written: the arrays are written and read straight from and into the
/// program's own arrays, which no serialisation library here does without a copy of them.
/// A cache that does not read back exactly (damaged, cut short, another version) is ignored with a
/// warning and written again.
public enum DataCache {
    static let magic = Array("MTLCACHE".utf8)
    static let version: UInt32 = 1

    struct Header: Codable {
        var key: String
        var preprocessor: String
        var digest: [String: UInt32]
        var skipped: [Skip]
        var taskRows: [[Int]]?
        var sourceTasks: [[Int]]
        var pieces: Int
        var splits: [Split]
        /// The CRC-32 of each array, in order (a flipped byte is found, not trained on).
        var checksums: [UInt32] = []
        struct Skip: Codable { var file: String; var count: Int; var firstLine: Int; var reason: String }
        struct Split: Codable {
            var name: String
            var rows: Int, denseWidth: Int, numberWidth: Int, numberOffsets: [Int]?
            var binned: [Int], binnedOffsets: [Int]   // numeric column indices and their dense offsets
            var oneHotColumns: Int, categoryColumns: Int
            var targetCounts: [Int], maskCounts: [Int]
            var sparseWidth: Int?, sparseStarts: Int, sparseNonzeros: Int
        }
    }

    /// The key of a config's data: what decides the encoded arrays.
    public static func key(_ config: DataSource) -> String {
        var files: [String] = []
        for p in [config.data.train, config.data.validation, config.data.test].compactMap({ $0 }) + config.tasks.flatMap({ t in
            [t.files?.train, t.files?.validation, t.files?.test].compactMap { $0 } }) where !p.isEmpty {
            let path = config.resolve(p)
            var st = stat()
            let size = stat(path, &st) == 0 ? "\(st.st_size) \(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec)" : "absent"
            files.append("\(path) \(size)")
        }
        var data = config.data
        data.cache = nil   // where the cache is kept is not what it holds
        return "mtl-worker data cache \(version)\n" + String(reflecting: data) + "\n" + String(reflecting: config.tasks) + "\n" + files.joined(separator: "\n")
    }

    public static func path(_ config: DataSource, folder: String) -> String {
        folder + "/" + String(stableHash(key(config)), radix: 16) + ".mtlcache"
    }

    /// Writes `data` as the cache of `config` (atomically: a reader sees no cache or all of it).
    public static func write(_ data: LoadedData, config: DataSource, folder: String) throws {
        let splits = [data.train, data.validation, data.test].compactMap { $0 }
        let numeric = data.preprocessor.numeric
        var header = Header(
            key: key(config), preprocessor: try data.preprocessor.json(), digest: data.digest,
            skipped: data.skipped.map { .init(file: $0.file, count: $0.count, firstLine: $0.firstLine, reason: $0.reason) },
            taskRows: data.taskRows?.map { [$0.lowerBound, $0.upperBound] }, sourceTasks: data.sourceTasks, pieces: data.pieces,
            splits: splits.map { s in
                .init(name: s.name, rows: s.rows, denseWidth: s.denseWidth, numberWidth: s.numberWidth, numberOffsets: s.numberOffsets,
                      binned: s.binnedColumns.map { c in numeric.firstIndex(of: c.column) ?? -1 }, binnedOffsets: s.binnedColumns.map(\.offset),
                      oneHotColumns: s.oneHotColumns, categoryColumns: s.categoryColumns,
                      targetCounts: s.targets.map(\.count), maskCounts: s.masks.map(\.count),
                      sparseWidth: s.sparse?.width, sparseStarts: s.sparse?.rowStart.count ?? 0, sparseNonzeros: s.sparse?.index.count ?? 0)
            })
        header.checksums = withArrays(splits) { parts in parts.map { crc($0) } }
        let json = try JSONEncoder().encode(header)
        var prefix = magic
        withUnsafeBytes(of: version.littleEndian) { prefix += $0 }
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { prefix += $0 }
        withUnsafeBytes(of: json.withUnsafeBytes { crc($0) }.littleEndian) { prefix += $0 }
        prefix += json
        try AtomicFile.makeDirectories(folder)
        try prefix.withUnsafeBytes { head in
            try withArrays(splits) { parts in try AtomicFile.write(path(config, folder: folder), parts: [head] + parts) }
        }
    }

    static func crc(_ b: UnsafeRawBufferPointer) -> UInt32 {
        var c: UInt = 0, at = 0
        guard let base = b.bindMemory(to: UInt8.self).baseAddress else { return 0 }
        while at < b.count {   // zlib takes at most 4 GB a call
            let n = min(b.count - at, 1 << 30)
            c = crc32(c, base + at, UInt32(n)); at += n
        }
        return UInt32(truncatingIfNeeded: c)
    }

    /// One stored array.
    enum Stored {
        case floats([Float]), doubles([Double]), ints32([Int32]), ints([Int])
        func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
            switch self {
            case .floats(let a): return try a.withUnsafeBytes(body)
            case .doubles(let a): return try a.withUnsafeBytes(body)
            case .ints32(let a): return try a.withUnsafeBytes(body)
            case .ints(let a): return try a.withUnsafeBytes(body)
            }
        }
    }

    /// Every array of the splits, in the cache's order, as raw bytes.
    static func withArrays<R>(_ splits: [EncodedSplit], _ body: ([UnsafeRawBufferPointer]) throws -> R) rethrows -> R {
        var arrays: [Stored] = []
        for s in splits {
            arrays += [.floats(s.numbers), .doubles(s.binnedValues), .ints32(s.oneHot), .ints32(s.categories)]
            arrays += s.targets.map { .floats($0) } + s.masks.map { .floats($0) }
            if let m = s.sparse { arrays += [.ints(m.rowStart), .ints32(m.index), .floats(m.value)] }
        }
        func nest(_ i: Int, _ done: [UnsafeRawBufferPointer]) throws -> R {
            guard i < arrays.count else { return try body(done) }
            return try arrays[i].withBytes { try nest(i + 1, done + [$0]) }
        }
        return try nest(0, [])
    }

    /// The cached data of `config`, or nil when there is none; a cache that does not read back
    /// exactly gives nil and a reason in `problem`.
    public static func read(_ config: DataSource, folder: String, problem: inout String?) -> LoadedData? {
        let file = path(config, folder: folder)
        guard FileManager.default.fileExists(atPath: file) else { return nil }
        do { return try readFile(file, key: key(config)) } catch {
            problem = "\(file): the data cache does not read back (\(error)); the files are read again and the cache written anew"
            return nil
        }
    }

    struct Damaged: Error, CustomStringConvertible { var description: String }

    static func readFile(_ file: String, key: String) throws -> LoadedData? {
        let fd = open(file, O_RDONLY)
        guard fd >= 0 else { throw Damaged(description: "cannot open it: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw Damaged(description: "cannot stat it") }
        var left = Int(st.st_size)
        func readExactly(into p: UnsafeMutableRawPointer, _ count: Int) throws {
            guard count <= left else { throw Damaged(description: "it is shorter than its header says") }
            var done = 0
            while done < count {
                let n = Glibc.read(fd, p + done, count - done)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { throw Damaged(description: "it ends early") }
                done += n
            }
            left -= count
        }
        var expected: [UInt32]? = nil, next = 0
        func array<T>(_ count: Int, of: T.Type) throws -> [T] {
            let (bytes, overflow) = count.multipliedReportingOverflow(by: MemoryLayout<T>.stride)
            guard count >= 0, !overflow, bytes <= left else { throw Damaged(description: "an array is longer than the file") }
            let a = try [T](unsafeUninitializedCapacity: count) { b, n in
                if count > 0, let base = b.baseAddress { try readExactly(into: base, bytes) }
                n = count
            }
            if let sums = expected {
                guard next < sums.count, a.withUnsafeBytes({ crc($0) }) == sums[next] else {
                    throw Damaged(description: "array \(next + 1)'s checksum differs: the file is damaged")
                }
                next += 1
            }
            return a
        }
        let head: [UInt8] = try array(magic.count + 16, of: UInt8.self)
        guard Array(head[0..<magic.count]) == magic else { throw Damaged(description: "it is not a data cache") }
        let v = head[8..<12].reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        guard v == version else { throw Damaged(description: "it is of format \(v), not \(version)") }
        let length = head[12..<20].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        guard length <= UInt64(left) else { throw Damaged(description: "its header is longer than the file") }
        let json: [UInt8] = try array(Int(length), of: UInt8.self)
        let headerCRC = head[20..<24].reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        guard json.withUnsafeBytes({ crc($0) }) == headerCRC else { throw Damaged(description: "its header's checksum differs: the file is damaged") }
        let header = try JSONDecoder().decode(Header.self, from: Data(json))
        guard header.key == key else { return nil }   // another config under the same hash: no cache for this one
        expected = header.checksums
        let preprocessor = try Preprocessor.from(json: header.preprocessor)
        var splits: [EncodedSplit] = []
        let tasks = preprocessor.tasks
        for s in header.splits {
            func check(_ ok: Bool) throws { if !ok { throw Damaged(description: "split \(s.name)'s shape does not add up") } }
            func product(_ a: Int, _ b: Int) throws -> Int {
                let (p, overflow) = a.multipliedReportingOverflow(by: b)
                try check(!overflow && a >= 0 && b >= 0)
                return p
            }
            try check(s.denseWidth == preprocessor.denseWidth && (s.numberWidth == preprocessor.numeric.count || s.numberWidth == s.denseWidth))
            try check(s.rows >= 0 && s.oneHotColumns >= 0 && s.categoryColumns >= 0 && s.binned.count == s.binnedOffsets.count)
            try check((s.numberOffsets?.count ?? s.numberWidth) == s.numberWidth && s.numberWidth <= s.denseWidth)
            try check(s.binned.allSatisfy { preprocessor.numeric.indices.contains($0) })
            try check(zip(s.binned, s.binnedOffsets).allSatisfy { $1 >= 0 && $1 + preprocessor.numeric[$0].width <= s.denseWidth })
            try check((s.numberOffsets ?? []).allSatisfy { $0 >= 0 && $0 < s.denseWidth })
            try check(s.categoryColumns == 0 || s.categoryColumns == preprocessor.categorical.count)
            try check(s.targetCounts.count == tasks.count && s.maskCounts.count == tasks.count)
            try check(try zip(s.targetCounts, tasks).allSatisfy { try $0 == product(s.rows, $1.targetWidth) } && s.maskCounts.allSatisfy { $0 == s.rows })
            let numbers: [Float] = try array(try product(s.rows, s.numberWidth), of: Float.self)
            let binned: [Double] = try array(try product(s.rows, s.binned.count), of: Double.self)
            let oneHot: [Int32] = try array(try product(s.rows, s.oneHotColumns), of: Int32.self)
            try check(oneHot.allSatisfy { $0 >= 0 && Int($0) < s.denseWidth })
            let categories: [Int32] = try array(try product(s.rows, s.categoryColumns), of: Int32.self)
            if s.categoryColumns > 0 {
                let buckets = preprocessor.categorical.map(\.buckets)
                try check(categories.enumerated().allSatisfy { $1 >= 0 && Int($1) < buckets[$0 % s.categoryColumns] })
            }
            let targets = try s.targetCounts.map { try array($0, of: Float.self) }
            let masks = try s.maskCounts.map { try array($0, of: Float.self) }
            for (t, task) in tasks.enumerated() where task.kind == .multiclass {
                try check(targets[t].allSatisfy { $0 >= 0 && $0 < Float(task.classes.count) && $0.rounded() == $0 })
            }
            var sparse: SparseMatrix? = nil
            if let w = s.sparseWidth {
                let starts: [Int] = try array(s.sparseStarts, of: Int.self)
                let index: [Int32] = try array(s.sparseNonzeros, of: Int32.self)
                let value: [Float] = try array(s.sparseNonzeros, of: Float.self)
                try check(starts.count == s.rows + 1 && starts.first == 0 && starts.last == index.count && zip(starts, starts.dropFirst()).allSatisfy { $0 <= $1 })
                try check(index.allSatisfy { $0 >= 0 && Int($0) < w })
                sparse = SparseMatrix(width: w, rowStart: starts, index: index, value: value)
            }
            splits.append(EncodedSplit(name: s.name, rows: s.rows, denseWidth: s.denseWidth, numbers: numbers, numberWidth: s.numberWidth,
                                       numberOffsets: s.numberOffsets, binnedValues: binned,
                                       binnedColumns: zip(s.binnedOffsets, s.binned).map { ($0, preprocessor.numeric[$1]) },
                                       oneHot: oneHot, oneHotColumns: s.oneHotColumns, categoryColumns: s.categoryColumns,
                                       categories: categories, targets: targets, masks: masks, sparse: sparse))
        }
        guard left == 0, next == header.checksums.count else { throw Damaged(description: "it has \(left) bytes beyond its arrays") }
        guard let train = splits.first(where: { $0.name == "train" }) else { throw Damaged(description: "it has no training split") }
        var taskRows: [Range<Int>]? = nil
        if let ranges = header.taskRows {
            guard ranges.allSatisfy({ $0.count == 2 && 0 <= $0[0] && $0[0] < $0[1] && $0[1] <= train.rows }) else {
                throw Damaged(description: "its tasks' row ranges do not fit the training split")
            }
            taskRows = ranges.map { $0[0]..<$0[1] }
        }
        var loaded = LoadedData(preprocessor: preprocessor, taskRows: taskRows, train: train,
                                validation: splits.first { $0.name == "validation" }, test: splits.first { $0.name == "test" },
                                skipped: header.skipped.map { ($0.file, $0.count, $0.firstLine, $0.reason) })
        loaded.sourceTasks = header.sourceTasks
        loaded.digest = header.digest
        loaded.pieces = header.pieces
        return loaded
    }
}
