import Foundation
import MTLCore
import MTLDistributed

/// The encoded splits of a run and the preprocessing fitted on its training split.
public struct LoadedData {
    public var preprocessor: Preprocessor
    public var train: EncodedSplit
    public var validation: EncodedSplit?
    public var test: EncodedSplit?
    /// Tasks with their own data sets: the training rows of each data set (contiguous, in the
    /// order of the tasks' first mention) and the tasks each data set labels.
    public var taskRows: [Range<Int>]?
    public var sourceTasks: [[Int]] = []
    /// What the data says that a user should hear before training (a task with one class, a
    /// positive value no row has, a split without labels for a task, test data equal to training).
    public var warnings: [String] = []
    /// The CRC-32 of each file read, by path (what the ranks agree on at start).
    public var digest: [String: UInt32] = [:]
    /// Rows dropped under `bad_rows: skip`, per file.
    public var skipped: [(file: String, count: Int, firstLine: Int, reason: String)]
    /// The pieces the training file was read in (`data.chunk_mb`); 0: read whole.
    public var pieces = 0
    /// What `data.cache` did: nothing, read the arrays back, or kept them.
    public var cache: CacheUse = .none
    public enum CacheUse: String, Encodable { case none, read, written }
    /// Seconds spent reading and parsing the files, fitting the preprocessing, and encoding.
    public var seconds = Seconds()
    public struct Seconds: Encodable {
        public var read = 0.0, fit = 0.0, encode = 0.0
        public init(read: Double = 0, fit: Double = 0, encode: Double = 0) { self.read = read; self.fit = fit; self.encode = encode }
    }

    public init(preprocessor: Preprocessor, taskRows: [Range<Int>]? = nil, train: EncodedSplit, validation: EncodedSplit?,
                test: EncodedSplit?, skipped: [(file: String, count: Int, firstLine: Int, reason: String)]) {
        self.preprocessor = preprocessor; self.taskRows = taskRows; self.train = train
        self.validation = validation; self.test = test; self.skipped = skipped
    }

    /// The column a task's label takes in the stacked table of tasks with their own files.
    static func labelColumn(_ task: String) -> String { "label:\(task)" }

    /// Tasks with their own data sets: each data set (the tasks naming the same files share one)
    /// is read once, its tasks' label columns renamed to the tasks' own, and the tables of each
    /// split stacked over the union of their columns. A row has the labels of its own data set's
    /// tasks only (the others are missing) and lacks the features its file does not have (missing
    /// too): one input space the shared model reads for every task.
    static func loadPerTask(config: DataSource, preprocessor given: Preprocessor?, comm: Communicator?) throws -> LoadedData {
        let d = config.data
        var skipped: [(String, Int, Int, String)] = []
        var digest: [String: UInt32] = [:]
        var seconds = Seconds()
        let filler = d.missing.first ?? ""
        func read(_ path: String, _ files: TaskFiles, _ tasks: [TaskConfig]) throws -> TextTable {
            // The key that sets these files' format: the task's own data section, or data.
            let own = files.separator != nil || files.header != nil || files.columns != nil || files.quoting != nil || files.comment != nil
            let key = "tasks[\(tasks.first.flatMap { t in config.tasks.firstIndex { $0.name == t.name } } ?? 0)].data"
            let t: TextTable
            let clock = Date()
            defer { seconds.read += Date().timeIntervalSince(clock) }
            do { t = try TextTable.read(path: config.resolve(path), format: files.format(over: d)) } catch let e as UserError {
                throw UserError(e.message, hint: "these files' format is " + (own ? "set by \(key)" : "data's") + " (separator, header, columns, quoting, comment); "
                                + "\(key) may set its own for these files only")
            }
            digest[t.file] = t.contentChecksum
            if let first = t.skippedRows.first { skipped.append((t.file, t.skippedRows.count, first.line, first.reason)) }
            var names = t.columnNames, columns = t.columns
            // These files' own missing markers become the shared one.
            let ownMissing = Set(files.missing)
            if !ownMissing.isEmpty { columns = columns.map { $0.mapCells { ownMissing.contains($0) ? filler : $0 } } }
            for (target, parts) in files.combine.sorted(by: { $0.key < $1.key }) {
                let idx = try parts.map { p -> Int in
                    guard let i = names.firstIndex(of: p) else {
                        throw UserError("\(t.file): \(key).combine.\(target) names column '\(p)', which the file does not have",
                                        hint: t.separatorHint(key: "\(key).separator") ?? "columns are: \(names.joined(separator: ", "))")
                    }
                    return i
                }
                let joined = (0..<t.rowCount).map { r in idx.map { columns[$0][r] }.filter { $0 != filler }.joined(separator: " ") }
                for i in idx.sorted(by: >) { names.remove(at: i); columns.remove(at: i) }
                names.append(target)
                columns.append(TextColumn(joined))
            }
            for (from, to) in files.rename {
                guard let i = names.firstIndex(of: from) else {
                    throw UserError("\(t.file): \(key).rename names column '\(from)', which the file does not have",
                                    hint: t.separatorHint(key: "\(key).separator") ?? "columns are: \(names.joined(separator: ", "))")
                }
                names[i] = to
            }
            guard Set(names).count == names.count else {
                throw UserError("\(t.file): after \(key).rename and combine two columns are named alike: \(names)", hint: "give each column one name")
            }
            for task in tasks {
                guard let c = names.firstIndex(of: task.column) else {
                    throw UserError("\(t.file): task '\(task.name)': label column '\(task.column)' is not in the file",
                                    hint: t.separatorHint(key: "\(key).separator") ?? "columns are: \(names.joined(separator: ", "))")
                }
                names[c] = labelColumn(task.name)
            }
            return TextTable(file: t.file, columnNames: names, columns: columns, lines: t.lines)
        }
        var sources: [(files: TaskFiles, tasks: [Int])] = []
        for (i, task) in config.tasks.enumerated() {
            guard let files = task.files else { continue }
            if let k = sources.firstIndex(where: { $0.files == files }) { sources[k].tasks.append(i) }
            else { sources.append((files, [i])) }
        }
        var trains: [TextTable] = [], validations: [TextTable] = [], tests: [TextTable] = []
        var taskRows: [Range<Int>] = []
        for source in sources {
            let f = source.files, tasks = source.tasks.map { config.tasks[$0] }
            var tr = try read(f.train, f, tasks)
            guard tr.rowCount > 0 else { throw UserError("\(tr.file): the training file has no rows") }
            if let fold = d.fold {
                // Each data set is folded on its own, so every task keeps its share of both parts.
                let parts = fold.split(rows: tr.rowCount, seed: d.splitSeed)
                guard !parts.train.isEmpty && !parts.validation.isEmpty else {
                    throw UserError("\(tr.file): \(tr.rowCount) training rows cannot be split into \(fold.count) folds", hint: "lower compare.folds")
                }
                validations.append(tr.subset(parts.validation))
                tr = tr.subset(parts.train)
            } else if let v = f.validation { validations.append(try read(v, f, tasks)) }
            taskRows.append((taskRows.last?.upperBound ?? 0)..<((taskRows.last?.upperBound ?? 0) + tr.rowCount))
            trains.append(tr)
            if let t = f.test { tests.append(try read(t, f, tasks)) }
        }
        var effective = config
        effective.tasks = config.tasks.map { var t = $0; t.column = labelColumn($0.name); return t }
        if !effective.data.missing.contains(filler) { effective.data.missing.append(filler) }
        let train = TextTable.stacked(trains, filler: filler, name: "training files")
        var clock = Date()
        let preprocessor = try given ?? Preprocessor.fit(source: effective, train: train, comm: comm)
        seconds.fit = Date().timeIntervalSince(clock)
        clock = Date()
        func encode(_ tables: [TextTable], _ name: String) throws -> EncodedSplit? {
            guard !tables.isEmpty else { return nil }
            var union = TextTable.stacked(tables, filler: filler, name: "\(name) files")
            // Every split gets the training split's columns (a task without a file here has none).
            for c in train.columnNames where union.columnIndex(c) == nil {
                union = TextTable.stacked([union, TextTable(file: union.file, columnNames: [c], columns: [[]], lines: [])], filler: filler, name: union.file)
            }
            return try preprocessor.encode(union, split: name)
        }
        try preprocessor.checkEncodedSize([("train", train.rowCount), ("validation", validations.reduce(0) { $0 + $1.rowCount }),
                                           ("test", tests.reduce(0) { $0 + $1.rowCount })], source: config.configPath)
        var loaded = LoadedData(preprocessor: preprocessor, taskRows: taskRows,
                                train: try preprocessor.encode(train, split: "train"),
                                validation: try encode(validations, "validation"),
                                test: try encode(tests, "test"), skipped: skipped)
        loaded.sourceTasks = sources.map(\.tasks)
        loaded.digest = digest
        seconds.encode = Date().timeIntervalSince(clock)
        loaded.seconds = seconds
        try loaded.check(config)
        return loaded
    }

    /// Reads the config's files, splits them, fits the preprocessing on the training split (or
    /// uses `preprocessor`, from a checkpoint) and encodes every split. Every rank does the same
    /// work in the same order, so all ranks end with identical data.
    public static func load(source config: DataSource, preprocessor given: Preprocessor? = nil, comm: Communicator? = nil) throws -> LoadedData {
        guard let folder = config.data.cache.map(config.resolve) else { return try loadFiles(source: config, preprocessor: given, comm: comm) }
        // With data.cache: the arrays read back when the config and files are unchanged, else read
        // from the files and kept (by rank 0) for the next run.
        let clock = Date()
        var problem: String? = nil
        if var cached = DataCache.read(config, folder: folder, problem: &problem), given == nil || given == cached.preprocessor {
            cached.seconds = Seconds(read: Date().timeIntervalSince(clock))
            cached.cache = .read
            if let t = config.data.test, cached.digest[config.resolve(t)] == cached.digest[config.resolve(config.data.train)] {
                cached.warnings.append("\(config.resolve(t)): the test data equals the training data; test metrics will not measure generalisation")
            }
            try cached.check(config)
            return cached
        }
        var loaded = try loadFiles(source: config, preprocessor: given, comm: comm)
        if let p = problem { loaded.warnings.append(p) }
        if (comm?.rank ?? 0) == 0 && given == nil {
            do { try DataCache.write(loaded, config: config, folder: folder); loaded.cache = .written } catch {
                loaded.warnings.append("data.cache: the encoded data could not be kept in '\(folder)' (\(error)); the next run reads the files again")
            }
        }
        return loaded
    }

    /// `load` from the data files.
    static func loadFiles(source config: DataSource, preprocessor given: Preprocessor?, comm: Communicator?) throws -> LoadedData {
        if config.tasks.contains(where: { $0.files != nil }) { return try loadPerTask(config: config, preprocessor: given, comm: comm) }
        if let chunk = chunkBytes(config) { return try loadInChunks(source: config, preprocessor: given, comm: comm, chunk: chunk) }
        let d = config.data
        let format = d.format
        var skipped: [(String, Int, Int, String)] = []
        var digest: [String: UInt32] = [:]
        var seconds = Seconds()
        func read(_ path: String) throws -> TextTable {
            let clock = Date()
            defer { seconds.read += Date().timeIntervalSince(clock) }
            let t = try TextTable.read(path: config.resolve(path), format: format)
            digest[t.file] = t.contentChecksum
            if let first = t.skippedRows.first { skipped.append((t.file, t.skippedRows.count, first.line, first.reason)) }
            return t
        }
        var train = try read(d.train)
        guard train.rowCount > 0 else { throw UserError("\(train.file): the training file has no rows") }
        var validation = try d.validation.map(read)
        var test = try d.test.map(read)
        if let column = d.splitColumn {
            // One file holds every split, told apart by a column's values.
            guard let c = train.columnIndex(column) else {
                throw UserError("\(config.configPath): data.split_column '\(column)' is not a column of \(train.file)",
                                hint: train.separatorHint ?? "columns are: \(train.columnNames.joined(separator: ", "))")
            }
            let all = train
            let parts = d.splitValues.map { v in (0..<all.rowCount).filter { all.columns[c][$0] == v } }
            let known = Set(d.splitValues)
            if let r = (0..<all.rowCount).first(where: { !known.contains(all.columns[c][$0]) }) {
                throw UserError("\(all.place(r)): data.split_column '\(column)' holds '\(all.columns[c][r])', not one of \(d.splitValues)",
                                hint: "set data.split_values to the column's train, validation and test values")
            }
            train = all.subset(parts[0])
            validation = parts[1].isEmpty ? nil : all.subset(parts[1])
            test = parts[2].isEmpty ? nil : all.subset(parts[2])
            guard train.rowCount > 0 else { throw UserError("\(all.file): no row has '\(d.splitValues[0])' in data.split_column '\(column)'") }
        }
        for t in [validation, test].compactMap({ $0 }) where t.columnNames != train.columnNames {
            throw UserError("\(t.file): columns \(t.columnNames) differ from the training file's \(train.columnNames)",
                            hint: "every split must have the same columns in the same order")
        }
        if d.testHeadAsValidation > 0, let t = test {
            // The first part of the test file, in file order, validates; the rest tests.
            let n = Int((Double(t.rowCount) * d.testHeadAsValidation).rounded())
            validation = t.subset(Array(0..<n))
            test = t.subset(Array(n..<t.rowCount))
        }
        if d.validationFraction > 0 || d.testFraction > 0 {
            let n = train.rowCount
            let order = seededPermutation(n, seed: SplitMix64.mix(d.splitSeed ^ 0x5EED_5A17))
            let nTest = Int((Double(n) * d.testFraction).rounded())
            let nValidation = Int((Double(n) * d.validationFraction).rounded())
            guard n - nTest - nValidation > 0 else { throw UserError("\(train.file): no training rows are left after the split fractions") }
            if nTest > 0 { test = train.subset(Array(order[0..<nTest]).sorted()) }
            if nValidation > 0 { validation = train.subset(Array(order[nTest..<(nTest + nValidation)]).sorted()) }
            train = train.subset(Array(order[(nTest + nValidation)...]).sorted())
        }
        if let f = d.fold {
            let parts = f.split(rows: train.rowCount, seed: d.splitSeed)
            guard !parts.train.isEmpty && !parts.validation.isEmpty else {
                throw UserError("\(train.file): \(train.rowCount) training rows cannot be split into \(f.count) folds", hint: "lower compare.folds")
            }
            validation = train.subset(parts.validation)
            train = train.subset(parts.train)
        }
        var clock = Date()
        let preprocessor = try given ?? Preprocessor.fit(source: config, train: train, comm: comm)
        seconds.fit = Date().timeIntervalSince(clock)
        clock = Date()
        try preprocessor.checkEncodedSize([("train", train.rowCount), ("validation", validation?.rowCount ?? 0), ("test", test?.rowCount ?? 0)],
                                          source: train.file)
        var loaded = LoadedData(preprocessor: preprocessor, taskRows: nil,
                                train: try preprocessor.encode(train, split: "train"),
                                validation: try validation.map { try preprocessor.encode($0, split: "validation") },
                                test: try test.map { try preprocessor.encode($0, split: "test") },
                                skipped: skipped)
        loaded.digest = digest
        seconds.encode = Date().timeIntervalSince(clock)
        loaded.seconds = seconds
        if let v = validation, v.rowCount == 0 { throw UserError("\(v.file): the validation file has no rows", hint: "give a file with rows, or leave data.validation out") }
        if let t = test, t.rowCount == 0, d.test != nil, d.testHeadAsValidation == 0 {
            throw UserError("\(t.file): the test file has no rows", hint: "give a file with rows, or leave data.test out")
        }
        if let t = d.test, let a = loaded.digest[config.resolve(d.train)], loaded.digest[config.resolve(t)] == a {
            loaded.warnings.append("\(config.resolve(t)): the test data equals the training data; test metrics will not measure generalisation")
        }
        try loaded.check(config)
        return loaded
    }

    /// Checks what would make training meaningless (errors) or doubtful (warnings).
    mutating func check(_ config: DataSource) throws {
        let tasks = preprocessor.tasks
        // A categorical column with (nearly) a value per row is an id or a free-text field, not a
        // category: one-hot it and the model learns the rows by heart.
        for c in preprocessor.categorical where c.vocabulary.count >= 50 && Double(c.vocabulary.count) > 0.5 * Double(train.rows) {
            warnings.append("column '\(c.name)' has \(c.vocabulary.count) distinct values in \(train.rows) training rows, nearly one per row: it looks like an id or free text, "
                            + "and is encoded as \(c.buckets) \(preprocessor.encoding == .onehot ? "one-hot features" : "embedding rows") (list it in data.drop, or in data.text if it is text)")
        }
        for (t, task) in tasks.enumerated() {
            guard train.labelCounts[t] > 0 else {
                throw UserError("\(config.configPath): task '\(task.name)' has no labels in the training split (column '\(task.column)')",
                                hint: "check the task's column and data.missing; every value there counts as missing")
            }
            if task.kind == .binary {
                let positives = zip(train.targets[t], train.masks[t]).reduce(0) { $0 + ($1.1 != 0 && $1.0 == 1 ? 1 : 0) }
                if positives == 0 || positives == train.labelCounts[t] {
                    warnings.append("task '\(task.name)': every labelled training row is \(positives == 0 ? "negative" : "positive"); the task cannot learn, and ROC-AUC is undefined (check its positive values \(task.positive))")
                }
            }
            for (name, split) in [("validation", validation), ("test", test)] {
                if let s = split, s.rows > 0, s.labelCounts[t] == 0 {
                    warnings.append("task '\(task.name)' has no labels in the \(name) split: its \(name) metrics are undefined")
                }
            }
        }
    }
}
