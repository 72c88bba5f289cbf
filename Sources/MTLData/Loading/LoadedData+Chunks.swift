import Foundation
import MTLCore
import MTLDistributed

extension LoadedData {
    /// The piece size when the config's training file is read in pieces: `data.chunk_mb` > 0,
    /// the file larger than that on disk, and no split taken out of the training file (a split
    /// column, fractions or folds need its rows whole).
    static func chunkBytes(_ config: DataSource) -> Int? {
        let d = config.data
        guard d.chunkMB > 0, d.splitColumn == nil, d.validationFraction == 0, d.testFraction == 0, d.fold == nil else { return nil }
        return chunkBytes(of: config.resolve(d.train), d)
    }

    static func chunkBytes(of path: String, _ d: DataConfig) -> Int? {
        let limit = d.chunkMB * 1_048_576
        guard d.chunkMB > 0, let size = (try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber,
              size.doubleValue > limit else { return nil }
        return Int(limit)
    }

    /// Counts skipped rows over the pieces of one file.
    struct Skips {
        var count = 0, firstLine = 0, reason = ""
        mutating func add(_ t: TextTable) {
            if count == 0, let f = t.skippedRows.first { firstLine = f.line; reason = f.reason }
            count += t.skippedRows.count
        }
    }

    /// `load` for a training file read in pieces of `chunk` bytes: one pass over the pieces
    /// tells numeric columns from categorical ones (when data.numeric and data.categorical are
    /// not given), one fits the preprocessing, one encodes, each holding one piece of text at a
    /// time. The preprocessing and the encoded rows equal those of reading the file whole.
    static func loadInChunks(source config: DataSource, preprocessor given: Preprocessor?, comm: Communicator?, chunk: Int) throws -> LoadedData {
        let d = config.data
        let format = d.format
        let path = config.resolve(d.train)
        var seconds = Seconds()
        var inside = 0.0   // seconds spent on the pieces, not reading them
        func timed(_ body: () throws -> Void) rethrows { let c = Date(); try body(); inside += Date().timeIntervalSince(c) }
        var clock = Date()
        var preprocessor: Preprocessor
        var trainColumns: [String] = [], rows = 0
        var skips = Skips()
        if let given { preprocessor = given } else {
            var inferred: [String: Bool]? = nil
            if d.numeric == nil && d.categorical == nil {
                var flags: [String: Bool] = [:]
                let missing = Set(d.missing)
                _ = try TextTable.forEachChunk(path: path, format: format, chunkBytes: chunk) { t in
                    try timed {
                        for (name, numeric) in zip(t.columnNames, try Preprocessor.numericColumns(t.columnNames, in: t, missing: missing)) {
                            flags[name] = (flags[name] ?? true) && numeric
                        }
                    }
                }
                inferred = flags
            }
            var fitter: Preprocessor.Fitter? = nil
            _ = try TextTable.forEachChunk(path: path, format: format, chunkBytes: chunk) { t in
                try timed {
                    var f = try fitter ?? Preprocessor.Fitter(source: config, first: t, numeric: inferred)
                    fitter = nil   // one copy while it grows
                    try f.add(t)
                    fitter = f
                }
            }
            guard let fitter, fitter.rows > 0 else { throw UserError("\(path): the training file has no rows") }
            rows = fitter.rows
            preprocessor = try fitter.finish(comm: comm)
        }
        seconds.fit = Date().timeIntervalSince(clock) - inside
        seconds.read = Date().timeIntervalSince(clock) - seconds.fit
        inside = 0
        clock = Date()
        if rows > 0 { try preprocessor.checkEncodedSize([("train", rows)], source: path) }
        var train: EncodedSplit? = nil, pieces = 0
        let (checksum, _) = try TextTable.forEachChunk(path: path, format: format, chunkBytes: chunk) { t in
            try timed {
                if trainColumns.isEmpty { trainColumns = t.columnNames }
                pieces += 1
                skips.add(t)
                let part = try preprocessor.encode(t, split: "train")
                if var s = train { train = nil; s.append(part); train = s } else { var s = part; s.reserve(rows: rows); train = s }
            }
        }
        guard let train, train.rows > 0 else { throw UserError("\(path): the training file has no rows") }
        seconds.read += Date().timeIntervalSince(clock) - inside
        seconds.encode = inside
        var digest = [path: checksum]
        var skipped: [(String, Int, Int, String)] = skips.count > 0 ? [(path, skips.count, skips.firstLine, skips.reason)] : []

        // Validation and test files: in pieces too when large, else whole (as `load` reads them).
        func other(_ file: String?, _ name: String) throws -> (table: TextTable?, split: EncodedSplit?) {
            guard let file else { return (nil, nil) }
            let p = config.resolve(file)
            let c = Date()
            if let size = chunkBytes(of: p, d), !(name == "test" && d.testHeadAsValidation > 0) {
                var split: EncodedSplit? = nil, s = Skips()
                let (crc, _) = try TextTable.forEachChunk(path: p, format: format, chunkBytes: size) { t in
                    if t.columnNames != trainColumns {
                        throw UserError("\(t.file): columns \(t.columnNames) differ from the training file's \(trainColumns)",
                                        hint: "every split must have the same columns in the same order")
                    }
                    s.add(t)
                    let part = try preprocessor.encode(t, split: name)
                    if var e = split { split = nil; e.append(part); split = e } else { split = part }
                }
                digest[p] = crc
                if s.count > 0 { skipped.append((p, s.count, s.firstLine, s.reason)) }
                seconds.encode += Date().timeIntervalSince(c)
                guard let split, split.rows > 0 else {
                    throw UserError("\(p): the \(name) file has no rows", hint: "give a file with rows, or leave data.\(name) out")
                }
                return (nil, split)
            }
            let t = try TextTable.read(path: p, format: format)
            seconds.read += Date().timeIntervalSince(c)
            digest[t.file] = t.contentChecksum
            if let first = t.skippedRows.first { skipped.append((t.file, t.skippedRows.count, first.line, first.reason)) }
            if t.columnNames != trainColumns {
                throw UserError("\(t.file): columns \(t.columnNames) differ from the training file's \(trainColumns)",
                                hint: "every split must have the same columns in the same order")
            }
            return (t, nil)
        }
        var (validationTable, validation) = try other(d.validation, "validation")
        var (testTable, test) = try other(d.test, "test")
        if d.testHeadAsValidation > 0, let t = testTable {
            // The first part of the test file, in file order, validates; the rest tests.
            let n = Int((Double(t.rowCount) * d.testHeadAsValidation).rounded())
            validationTable = t.subset(Array(0..<n))
            testTable = t.subset(Array(n..<t.rowCount))
        }
        clock = Date()
        if let v = validationTable {
            guard v.rowCount > 0 else { throw UserError("\(v.file): the validation file has no rows", hint: "give a file with rows, or leave data.validation out") }
            validation = try preprocessor.encode(v, split: "validation")
        }
        if let t = testTable {
            if t.rowCount == 0, d.testHeadAsValidation == 0 { throw UserError("\(t.file): the test file has no rows", hint: "give a file with rows, or leave data.test out") }
            test = try preprocessor.encode(t, split: "test")
        }
        seconds.encode += Date().timeIntervalSince(clock)
        var loaded = LoadedData(preprocessor: preprocessor, taskRows: nil, train: train, validation: validation, test: test, skipped: skipped)
        loaded.digest = digest
        loaded.seconds = seconds
        loaded.pieces = pieces
        if let t = d.test, digest[config.resolve(t)] == checksum {
            loaded.warnings.append("\(config.resolve(t)): the test data equals the training data; test metrics will not measure generalisation")
        }
        try loaded.check(config)
        return loaded
    }
}
