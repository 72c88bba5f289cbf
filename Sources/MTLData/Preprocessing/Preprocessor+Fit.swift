import Foundation
import MTLCore
import MTLDistributed

extension Preprocessor {
    /// Fits the preprocessing on the training table.
    public static func fit(source config: DataSource, train: TextTable, comm: Communicator? = nil) throws -> Preprocessor {
        var fitter = try Fitter(source: config, first: train)
        try fitter.add(train)
        return try fitter.finish(comm: comm)
    }

    /// Whether each of `names` holds numbers only (or missing markers) in `table`: how columns
    /// not listed in data.numeric or data.categorical are told apart.
    public static func numericColumns(_ names: [String], in table: TextTable, missing: Set<String>) throws -> [Bool] {
        let columns = try names.map { try column($0, in: table) }
        return try Parallel.map(names.count) { j in table.columns[columns[j]].allSatisfy { missing.contains($0) || Double($0) != nil } }
    }

    /// The preprocessing fitted on a training split that comes in pieces (`add`, in file order):
    /// the numeric statistics are running sums and the categories' counts running tables, both
    /// carried from piece to piece exactly as one pass over the whole table makes them, so any
    /// cut gives the same result; the columns a fit needs whole (task labels, text) are kept.
    public struct Fitter {
        let config: DataSource
        let missing: Set<String>
        let numericNames: [String], categoricalNames: [String]
        var numeric: [NumericSums]
        var categoryTables: [TermTable], categoryCounts: [[Int]]
        let missingTable: TermTable
        /// The columns fitted at the end (labels, text), with the rows' lines for messages.
        let keptNames: [String]
        var kept: [TextColumn]
        var lines: [Int] = []
        var file: String
        public private(set) var rows = 0

        /// `first` is the first piece (or the whole table): its columns are checked against the
        /// config. `numeric`, when given, says which columns to infer as numeric (a pass over
        /// every piece, `numericColumns`); otherwise the first piece decides.
        public init(source config: DataSource, first train: TextTable, numeric inferred: [String: Bool]? = nil) throws {
            self.config = config
            file = train.file
            let d = config.data
            let labelColumns = Set(config.tasks.map(\.column))
            for t in config.tasks where train.columnIndex(t.column) == nil {
                throw UserError("\(config.configPath): task '\(t.name)': label column '\(t.column)' is not in \(train.file)",
                                hint: train.separatorHint ?? "columns are: \(train.columnNames.joined(separator: ", "))")
            }
            let sparseNames = d.text + d.sparse.map(\.column)
            for name in (d.numeric ?? []) + (d.categorical ?? []) + d.drop + sparseNames where train.columnIndex(name) == nil {
                throw UserError("\(config.configPath): column '\(name)' named in data: is not in \(train.file)",
                                hint: train.separatorHint ?? "columns are: \(train.columnNames.joined(separator: ", "))")
            }
            let missing = Set(d.missing)
            self.missing = missing
            let excluded = Set(d.drop).union(labelColumns).union(sparseNames).union(d.splitColumn.map { [$0] } ?? [])
            for name in (d.numeric ?? []) + (d.categorical ?? []) where labelColumns.contains(name) && !d.drop.contains(name) {
                throw UserError("\(config.configPath): column '\(name)' is a task's label and cannot be a feature",
                                hint: "remove it from data.numeric / data.categorical")
            }

            // Feature lists: as given, or inferred (a column is numeric when every non-missing
            // training value parses as a number).
            var numericNames: [String] = [], categoricalNames: [String] = []
            if d.numeric != nil || d.categorical != nil {
                numericNames = (d.numeric ?? []).filter { !excluded.contains($0) }
                categoricalNames = (d.categorical ?? []).filter { !excluded.contains($0) }
            } else {
                let names = train.columnNames.filter { !excluded.contains($0) }
                let flags = try inferred.map { f in names.map { f[$0] ?? false } } ?? numericColumns(names, in: train, missing: missing)
                for (name, isNumeric) in zip(names, flags) {
                    if isNumeric { numericNames.append(name) } else { categoricalNames.append(name) }
                }
            }
            guard !(numericNames.isEmpty && categoricalNames.isEmpty && sparseNames.isEmpty) else {
                throw UserError("\(config.configPath): no feature columns are left", hint: "check data.drop, data.numeric and data.categorical")
            }
            for name in d.logNumeric where !numericNames.contains(name) {
                throw UserError("\(config.configPath): data.log_numeric names '\(name)', which is not a numeric feature column",
                                hint: "numeric feature columns are: \(numericNames.joined(separator: ", "))")
            }
            self.numericNames = numericNames; self.categoricalNames = categoricalNames
            numeric = numericNames.map { NumericSums(probe: NumericColumn(name: $0, mean: 0, std: 1, log: d.logNumeric.contains($0) ? true : nil)) }
            categoryTables = categoricalNames.map { _ in TermTable(capacity: 64) }
            categoryCounts = categoricalNames.map { _ in [] }
            missingTable = TermTable(Array(missing))
            var keep: [String] = []
            for name in config.tasks.map(\.column) + d.text where !keep.contains(name) { keep.append(name) }
            keptNames = keep
            kept = keep.map { _ in TextColumn() }
        }

        /// Counts the next piece of the training split (after the pieces before it, in order).
        public mutating func add(_ train: TextTable) throws {
            let numericColumns = try numericNames.map { try column($0, in: train) }
            let missing = self.missing, bins = config.data.numericBins > 0
            try numeric.withUnsafeMutableBufferPointer { sums in
                let out = Unchecked(sums)
                _ = try Parallel.map(numericColumns.count) { j in
                    try out.value[j].add(train.columns[numericColumns[j]], of: train, keepValues: bins, missing: missing)
                }
            }
            // Each categorical column's values counted by their bytes, a column per thread.
            let categoricalColumns = try categoricalNames.map { try column($0, in: train) }
            let missingTable = self.missingTable
            try categoryTables.withUnsafeMutableBufferPointer { tables in
                try categoryCounts.withUnsafeMutableBufferPointer { counts in
                    let out = Unchecked((tables, counts))
                    _ = try Parallel.map(categoricalColumns.count) { j in
                        let values = train.columns[categoricalColumns[j]]
                        for r in values.indices {
                            values.withCell(r) { b in
                                let h = TermTable.hash(b)
                                guard missingTable.id(of: b, hash: h) == nil, let (id, new) = out.value.0[j].insert(b, hash: h) else { return }
                                if new { out.value.1[j].append(0) }
                                out.value.1[j][Int(id)] += 1
                            }
                        }
                    }
                }
            }
            for (k, name) in keptNames.enumerated() {
                let cells = train.columns[try column(name, in: train)]
                if rows == 0 { kept[k] = cells } else { kept[k].append(contentsOf: cells) }   // the first shared, not copied
            }
            if rows == 0 { lines = train.lines } else { lines += train.lines }
            rows += train.rowCount
        }

        /// The preprocessing of every piece added.
        public func finish(comm: Communicator? = nil) throws -> Preprocessor {
            let d = config.data, missing = self.missing
            let whole = TextTable(file: file, columnNames: keptNames, columns: kept, lines: lines)
            let numeric = numericNames.indices.map { self.numeric[$0].column(bins: d.numericBins) }
            let categorical = categoricalNames.indices.map { j in
                let table = categoryTables[j], counts = categoryCounts[j]
                let vocabulary = (0..<table.count).filter { counts[$0] >= d.minCategoryCount }.map { table.term($0) }.sorted()
                return CategoricalColumn(name: categoricalNames[j], vocabulary: vocabulary)
            }
            let tasks = try config.tasks.map { try fitTask($0, train: whole, missing: missing) }
            var fields: [SparseField] = []
            for name in d.text {
                let c = try column(name, in: whole)
                let field = try TextFeatures.fit(name: name, documents: whole.columns[c].map { missing.contains($0) ? "" : $0 }, settings: d.textFeatures, comm: comm)
                fields.append(field)
                if field.width == 0 {
                    throw UserError("\(config.configPath): text column '\(name)' yields no terms from the training split",
                                    hint: "lower data.text_features.min_count or min_token_length")
                }
            }
            for sc in d.sparse { fields.append(SparseField(name: sc.column, kind: sc.format == .pairs ? .pairs : .indices, width: sc.width)) }
            return Preprocessor(numeric: numeric, categorical: categorical, encoding: d.categoricalEncoding,
                                embeddingDim: d.embeddingDim, missing: d.missing, tasks: tasks, sparse: fields.isEmpty ? nil : fields)
        }
    }

    /// A numeric column's running statistics on the training values (and the values themselves
    /// for quantile edges), in row order.
    struct NumericSums {
        let probe: NumericColumn
        var sum = 0.0, sumSq = 0.0, n = 0
        var values: [Double] = []
        init(probe: NumericColumn) { self.probe = probe }

        mutating func add(_ cells: TextColumn, of train: TextTable, keepValues: Bool, missing: Set<String>) throws {
            let name = probe.name
            for (r, s) in cells.enumerated() where !missing.contains(s) {
                guard let v = Double(s), v.isFinite else {
                    throw UserError("\(train.place(r)): column '\(name)': '\(s)' is not a number",
                                    hint: "list '\(s)' in data.missing if it marks a missing value, or move '\(name)' to data.categorical")
                }
                try checkFloatRange(v, "\(train.place(r)): column '\(name)'", s)
                let x = probe.transform(v)
                sum += x; sumSq += x * x; n += 1
                if keepValues { values.append(x) }
            }
        }

        /// The column: mean and standard deviation, and with `bins` the edges at the quantiles.
        func column(bins: Int) -> NumericColumn {
            let mean = n > 0 ? sum / Double(n) : 0
            let variance = n > 1 ? max(sumSq / Double(n) - mean * mean, 0) : 0
            let std = variance.squareRoot()
            var column = NumericColumn(name: probe.name, mean: mean, std: std > 1e-12 ? std : 1, log: probe.log)
            if bins > 0 && !values.isEmpty {
                // Edges at the training quantiles k/K; repeated edges (ties) are merged, as
                // scikit-learn's KBinsDiscretizer(strategy="quantile") does.
                let values = self.values.sorted()
                var edges: [Double] = []
                for k in 0...bins {
                    let e = values[min(values.count - 1, k * (values.count - 1) / bins)]
                    if edges.last.map({ e > $0 }) ?? true { edges.append(e) }
                }
                column.edges = edges.count > 1 ? edges : nil
            }
            return column
        }
    }

    /// A task's encoding: its classes, class weights or target statistics on the training split.
    static func fitTask(_ t: TaskConfig, train: TextTable, missing: Set<String>) throws -> TaskEncoding {
        let c = try column(t.column, in: train)
        var enc = TaskEncoding(name: t.name, column: t.column, kind: t.kind, positive: t.positive,
                               negative: t.negative, classes: t.classes, targetMean: 0, targetStd: 1, weight: t.weight)
        switch t.kind {
        case .multilabel:
            enc.labelSeparator = t.labelSeparator
            switch t.threshold {
            case .fixed(let v): enc.threshold = v
            case .tune: enc.threshold = nil
            case .tunePerClass: enc.threshold = nil; enc.thresholdPerClass = true
            }
            if enc.classes.isEmpty {
                var seen = Set<String>()
                for v in train.columns[c] where !missing.contains(v) {
                    for id in v.components(separatedBy: t.labelSeparator) { seen.insert(id.trimmingCharacters(in: .whitespaces)) }
                }
                seen.remove("")
                enc.classes = seen.allSatisfy { Int($0) != nil } ? seen.sorted { (Int($0) ?? 0) < (Int($1) ?? 0) } : seen.sorted()
            }
            guard !enc.classes.isEmpty else {
                throw UserError("\(train.file): task '\(t.name)': column '\(t.column)' has no labels in the training split")
            }
            if t.classWeight == .balanced {
                var positives = [Double](repeating: 0, count: enc.classes.count), n = 0.0
                var index: [String: Int] = [:]
                for (i, name) in enc.classes.enumerated() { index[name] = i }
                for v in train.columns[c] where !missing.contains(v) {
                    n += 1
                    for id in Set(v.components(separatedBy: t.labelSeparator).map { $0.trimmingCharacters(in: .whitespaces) }) {
                        if let k = index[id] ?? Int(id).flatMap({ $0 >= 0 && $0 < enc.classes.count ? $0 : nil }) { positives[k] += 1 }
                    }
                }
                enc.classWeights = positives.map { Float(n / (2 * max($0, 1))) } + positives.map { Float(n / (2 * max(n - $0, 1))) }
            }
        case .multiclass where t.classes.isEmpty:
            enc.classes = Set(train.columns[c].filter { !missing.contains($0) }).sorted()
            guard enc.classes.count >= 2 else {
                throw UserError("\(train.file): task '\(t.name)': column '\(t.column)' has \(enc.classes.count) class(es) in the training split; a multiclass task needs at least 2")
            }
        case .regression:
            var sum = 0.0, sumSq = 0.0, n = 0
            for (r, s) in train.columns[c].enumerated() where !missing.contains(s) {
                guard let v = Double(s), v.isFinite else {
                    throw UserError("\(train.place(r)): task '\(t.name)': label column '\(t.column)': '\(s)' is not a number")
                }
                try checkFloatRange(v, "\(train.place(r)): task '\(t.name)': label column '\(t.column)'", s)
                sum += v; sumSq += v * v; n += 1
            }
            let mean = n > 0 ? sum / Double(n) : 0
            let std = n > 1 ? max(sumSq / Double(n) - mean * mean, 0).squareRoot() : 1
            enc.targetMean = mean
            enc.targetStd = std > 1e-12 ? std : 1
        default: break
        }
        return enc
    }

    /// The index of a column the caller checked exists (an error naming the file otherwise).
    static func column(_ name: String, in table: TextTable) throws -> Int {
        guard let c = table.columnIndex(name) else {
            throw UserError("\(table.file): column '\(name)' is missing", hint: table.separatorHint ?? "columns are: \(table.columnNames.joined(separator: ", "))")
        }
        return c
    }

    /// The model computes in 32-bit floats: a value beyond their range is an error naming it.
    static func checkFloatRange(_ v: Double, _ place: @autoclosure () -> String, _ text: String) throws {
        guard abs(v) <= Double(Float.greatestFiniteMagnitude) else {
            throw UserError("\(place()): '\(text)' is outside the range of 32-bit floats (about ±3.4e38)",
                            hint: "rescale the column, list it in data.log_numeric, or mark such values missing in data.missing")
        }
    }
}
