import Foundation
import MTLDistributed

/// Everything fitted on the training split that turns raw rows into model inputs and targets:
/// standardisation statistics, category vocabularies and label encodings. Every rank fits it
/// from the same files in the same order, so all ranks hold identical preprocessing; it is
/// also stored in checkpoints so that `evaluate` and `predict` need no training data.
public struct Preprocessor: Codable, Equatable {
    public struct NumericColumn: Codable, Equatable {
        public var name: String
        public var mean: Double
        public var std: Double
        /// Values pass through sign(v) log(1 + |v|) before standardisation (`data.log_numeric`).
        public var log: Bool? = nil
        /// Quantile bin edges of the (transformed) training values for the piecewise linear
        /// encoding (`data.numeric_bins`); nil or fewer than two edges: the standardised value only.
        public var edges: [Double]? = nil
        public func transform(_ v: Double) -> Double {
            log == true ? (v < 0 ? -Foundation.log1p(-v) : Foundation.log1p(v)) : v
        }
        public var bins: Int { max((edges?.count ?? 0) - 1, 0) }
        /// Input columns: the standardised value, then one per bin.
        public var width: Int { 1 + bins }
        /// Writes the column's encoding of the transformed value `x` to `out[0..<width]`: the
        /// standardised value, then the piecewise linear encoding of Gorishniy et al., "On
        /// Embeddings for Numerical Features in Tabular Deep Learning" (NeurIPS 2022): bin t of
        /// [b(t-1), b(t)) gives 0 below it, 1 above it and the position inside it between; the
        /// first and last bins extend linearly beyond the training range.
        func encode(_ x: Double, into out: UnsafeMutablePointer<Float>) {
            out[0] = Float((x - mean) / std)
            guard let e = edges, e.count > 1 else { return }
            for t in 1..<e.count {
                let lo = e[t - 1], hi = e[t]
                let v: Double
                if x < lo && t > 1 { v = 0 }
                else if x >= hi && t < e.count - 1 { v = 1 }
                else { v = (x - lo) / (hi - lo) }
                out[t] = Float(v)
            }
        }
    }
    public struct CategoricalColumn: Codable, Equatable {
        public var name: String
        /// Known values; index `vocabulary.count` is the bucket for unknown and missing values.
        public var vocabulary: [String]
        public var buckets: Int { vocabulary.count + 1 }
    }
    public struct TaskEncoding: Codable, Equatable {
        public var name: String
        public var column: String
        public var kind: String
        public var positive: [String]
        public var negative: [String]
        public var classes: [String]
        /// Regression targets are standardised for training; predictions are mapped back.
        public var targetMean: Double
        public var targetStd: Double
        public var weight: Double
        /// multilabel: the text between class ids in a label cell, and the decision threshold (nil: tuned on validation).
        public var labelSeparator: String? = nil
        public var threshold: Double? = nil
        /// Tuned threshold: one per class (nil or false: one for the task).
        public var thresholdPerClass: Bool? = nil
        /// multilabel with class_weight balanced: positive then negative weight of each class,
        /// n / (2 n_pos) and n / (2 n_neg) over the training split's labelled rows.
        public var classWeights: [Float]? = nil
        /// Output width of the task's head.
        public var outputs: Int { taskKind == .multiclass || taskKind == .multilabel ? classes.count : 1 }
        /// Target values per row: one per class for multilabel, else one.
        public var targetWidth: Int { taskKind == .multilabel ? classes.count : 1 }
        public var taskKind: TaskKind { TaskKind(rawValue: kind)! }
    }

    public var numeric: [NumericColumn]
    public var categorical: [CategoricalColumn]
    /// "onehot": categories are one-hot blocks of the dense input; "embedding": indices into
    /// learned tables.
    public var encoding: String
    public var embeddingDim: Int
    public var missing: [String]
    public var tasks: [TaskEncoding]
    /// Text and sparse-number fields, side by side in one sparse input block (nil: none).
    public var sparse: [SparseField]?
    public var sparseFields: [SparseField] { sparse ?? [] }
    public var sparseWidth: Int { sparseFields.reduce(0) { $0 + $1.width } }

    /// Width of the dense input part (numerics, plus one-hot blocks).
    /// Width of the numeric block at the start of the dense input.
    public var numericWidth: Int { numeric.reduce(0) { $0 + $1.width } }
    public var denseWidth: Int {
        numericWidth + (encoding == "onehot" ? categorical.reduce(0) { $0 + $1.buckets } : 0)
    }
    /// Width of the model's input after embeddings are looked up.
    public var inputWidth: Int {
        denseWidth + (encoding == "embedding" ? categorical.count * embeddingDim : 0)
    }

    /// Fits the preprocessing on the training table.
    public static func fit(config: RunConfig, train: TextTable, comm: Communicator? = nil) throws -> Preprocessor {
        let d = config.data
        let labelColumns = Set(config.tasks.map(\.column))
        for t in config.tasks where train.columnIndex(t.column) == nil {
            throw UserError("\(config.sourcePath): task '\(t.name)': label column '\(t.column)' is not in \(train.file)",
                            hint: "columns are: \(train.columnNames.joined(separator: ", "))")
        }
        let sparseNames = d.text + d.sparse.map(\.column)
        for name in (d.numeric ?? []) + (d.categorical ?? []) + d.drop + sparseNames where train.columnIndex(name) == nil {
            throw UserError("\(config.sourcePath): column '\(name)' named in data: is not in \(train.file)",
                            hint: "columns are: \(train.columnNames.joined(separator: ", "))")
        }
        let missing = Set(d.missing)
        let excluded = Set(d.drop).union(labelColumns).union(sparseNames).union(d.splitColumn.map { [$0] } ?? [])
        for name in (d.numeric ?? []) + (d.categorical ?? []) where labelColumns.contains(name) && !d.drop.contains(name) {
            throw UserError("\(config.sourcePath): column '\(name)' is a task's label and cannot be a feature",
                            hint: "remove it from data.numeric / data.categorical")
        }

        // Feature lists: as given, or inferred (a column is numeric when every non-missing
        // training value parses as a number).
        var numericNames: [String] = [], categoricalNames: [String] = []
        if d.numeric != nil || d.categorical != nil {
            numericNames = (d.numeric ?? []).filter { !excluded.contains($0) }
            categoricalNames = (d.categorical ?? []).filter { !excluded.contains($0) }
        } else {
            for (c, name) in train.columnNames.enumerated() where !excluded.contains(name) {
                let isNumeric = train.columns[c].allSatisfy { missing.contains($0) || Double($0) != nil }
                if isNumeric { numericNames.append(name) } else { categoricalNames.append(name) }
            }
        }
        guard !(numericNames.isEmpty && categoricalNames.isEmpty && sparseNames.isEmpty) else {
            throw UserError("\(config.sourcePath): no feature columns are left", hint: "check data.drop, data.numeric and data.categorical")
        }

        for name in d.logNumeric where !numericNames.contains(name) {
            throw UserError("\(config.sourcePath): data.log_numeric names '\(name)', which is not a numeric feature column",
                            hint: "numeric feature columns are: \(numericNames.joined(separator: ", "))")
        }
        var numeric: [NumericColumn] = []
        for name in numericNames {
            let c = train.columnIndex(name)!
            let probe = NumericColumn(name: name, mean: 0, std: 1, log: d.logNumeric.contains(name) ? true : nil)
            var values: [Double] = []
            var sum = 0.0, sumSq = 0.0, n = 0
            for (r, s) in train.columns[c].enumerated() where !missing.contains(s) {
                guard let v = Double(s), v.isFinite else {
                    throw UserError("\(train.place(r)): column '\(name)': '\(s)' is not a number",
                                    hint: "list '\(s)' in data.missing if it marks a missing value, or move '\(name)' to data.categorical")
                }
                let x = probe.transform(v)
                sum += x; sumSq += x * x; n += 1
                if d.numericBins > 0 { values.append(x) }
            }
            let mean = n > 0 ? sum / Double(n) : 0
            let variance = n > 1 ? max(sumSq / Double(n) - mean * mean, 0) : 0
            let std = variance.squareRoot()
            var column = NumericColumn(name: name, mean: mean, std: std > 1e-12 ? std : 1, log: probe.log)
            if d.numericBins > 0 && !values.isEmpty {
                // Edges at the training quantiles k/K; repeated edges (ties) are merged, as
                // scikit-learn's KBinsDiscretizer(strategy="quantile") does.
                values.sort()
                var edges: [Double] = []
                for k in 0...d.numericBins {
                    let e = values[min(values.count - 1, k * (values.count - 1) / d.numericBins)]
                    if edges.last.map({ e > $0 }) ?? true { edges.append(e) }
                }
                column.edges = edges.count > 1 ? edges : nil
            }
            numeric.append(column)
        }

        var categorical: [CategoricalColumn] = []
        for name in categoricalNames {
            let c = train.columnIndex(name)!
            var counts: [String: Int] = [:]
            for s in train.columns[c] where !missing.contains(s) { counts[s, default: 0] += 1 }
            let vocabulary = counts.filter { $0.value >= d.minCategoryCount }.keys.sorted()
            categorical.append(CategoricalColumn(name: name, vocabulary: vocabulary))
        }

        var tasks: [TaskEncoding] = []
        for t in config.tasks {
            let c = train.columnIndex(t.column)!
            var enc = TaskEncoding(name: t.name, column: t.column, kind: t.kind.rawValue, positive: t.positive,
                                   negative: t.negative, classes: t.classes, targetMean: 0, targetStd: 1, weight: t.weight)
            switch t.kind {
            case .multilabel:
                enc.labelSeparator = t.labelSeparator
                enc.threshold = t.threshold
                enc.thresholdPerClass = t.threshold == nil && t.thresholdPerClass ? true : nil
                if enc.classes.isEmpty {
                    var seen = Set<String>()
                    for v in train.columns[c] where !missing.contains(v) {
                        for id in v.components(separatedBy: t.labelSeparator) { seen.insert(id.trimmingCharacters(in: .whitespaces)) }
                    }
                    seen.remove("")
                    enc.classes = seen.allSatisfy { Int($0) != nil } ? seen.sorted { Int($0)! < Int($1)! } : seen.sorted()
                }
                guard !enc.classes.isEmpty else {
                    throw UserError("\(train.file): task '\(t.name)': column '\(t.column)' has no labels in the training split")
                }
                if t.classWeight == "balanced" {
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
                    sum += v; sumSq += v * v; n += 1
                }
                let mean = n > 0 ? sum / Double(n) : 0
                let std = n > 1 ? max(sumSq / Double(n) - mean * mean, 0).squareRoot() : 1
                enc.targetMean = mean
                enc.targetStd = std > 1e-12 ? std : 1
            default: break
            }
            tasks.append(enc)
        }
        var fields: [SparseField] = []
        for name in d.text {
            let c = train.columnIndex(name)!
            fields.append(try TextFeatures.fit(name: name, documents: train.columns[c].map { missing.contains($0) ? "" : $0 }, settings: d.textFeatures, comm: comm))
            if fields.last!.width == 0 {
                throw UserError("\(config.sourcePath): text column '\(name)' yields no terms from the training split",
                                hint: "lower data.text_features.min_count or min_token_length")
            }
        }
        for sc in d.sparse { fields.append(SparseField(name: sc.column, kind: sc.format, width: sc.width)) }
        return Preprocessor(numeric: numeric, categorical: categorical, encoding: d.categoricalEncoding,
                            embeddingDim: d.embeddingDim, missing: d.missing, tasks: tasks, sparse: fields.isEmpty ? nil : fields)
    }

    /// Encodes a table. With `labels` false the label columns are not read (prediction input).
    public func encode(_ table: TextTable, split: String, labels: Bool = true) throws -> EncodedSplit {
        let missingSet = Set(missing)
        let rows = table.rowCount
        func index(_ name: String) throws -> Int {
            guard let i = table.columnIndex(name) else {
                throw UserError("\(table.file): column '\(name)' is missing", hint: "the file must have the training data's columns")
            }
            return i
        }
        let width = denseWidth
        var dense = [Float](repeating: 0, count: rows * width)
        let useEmbedding = encoding == "embedding"
        var categories = [Int32](repeating: 0, count: useEmbedding ? rows * categorical.count : 0)

        var offset = 0
        for col in numeric {
            let values = table.columns[try index(col.name)]
            try dense.withUnsafeMutableBufferPointer { out in
                for r in 0..<rows {
                    let s = values[r]
                    var x = col.mean  // a missing value counts as the training mean
                    if !missingSet.contains(s) {
                        guard let v = Double(s), v.isFinite else {
                            throw UserError("\(table.place(r)): column '\(col.name)': '\(s)' is not a number",
                                            hint: "list '\(s)' in data.missing if it marks a missing value")
                        }
                        x = col.transform(v)
                    }
                    col.encode(x, into: out.baseAddress! + r * width + offset)
                }
            }
            offset += col.width
        }
        for (j, col) in categorical.enumerated() {
            let values = table.columns[try index(col.name)]
            var lookup: [String: Int] = [:]
            for (i, v) in col.vocabulary.enumerated() { lookup[v] = i }
            for r in 0..<rows {
                let k = lookup[values[r]] ?? col.vocabulary.count
                if useEmbedding { categories[r * categorical.count + j] = Int32(k) }
                else { dense[r * width + offset + k] = 1 }
            }
            if !useEmbedding { offset += col.buckets }
        }

        var sparseMatrix: SparseMatrix? = nil
        if !sparseFields.isEmpty {
            var csr = SparseMatrix(width: sparseWidth)
            let columns = try sparseFields.map { table.columns[try index($0.name)] }
            let lookups = sparseFields.map(\.lookup)
            for r in 0..<rows {
                var offset: Int32 = 0
                for (f, field) in sparseFields.enumerated() {
                    let cell = columns[f][r]
                    for (i, v) in try field.encode(cell, lookup: lookups[f], missing: missingSet.contains(cell), where: { table.place(r) }) {
                        csr.index.append(offset + i); csr.value.append(v)
                    }
                    offset += Int32(field.width)
                }
                csr.rowStart.append(csr.index.count)
            }
            sparseMatrix = csr
        }

        var targets: [[Float]] = [], masks: [[Float]] = []
        for t in tasks {
            var y = [Float](repeating: 0, count: rows * t.targetWidth), m = [Float](repeating: 0, count: rows)
            if labels {
                let values = table.columns[try index(t.column)]
                let positive = Set(t.positive), negative = Set(t.negative)
                var classIndex: [String: Int] = [:]
                for (i, c) in t.classes.enumerated() { classIndex[c] = i }
                for r in 0..<rows {
                    let s = values[r]
                    if missingSet.contains(s) { continue }
                    m[r] = 1
                    switch t.taskKind {
                    case .binary:
                        if positive.contains(s) { y[r] = 1 }
                        else if negative.isEmpty || negative.contains(s) { y[r] = 0 }
                        else {
                            throw UserError("\(table.place(r)): task '\(t.name)': label '\(s)' in column '\(t.column)' is neither positive \(t.positive) nor negative \(t.negative)",
                                            hint: "add it to the task's positive or negative list, or to data.missing")
                        }
                    case .multiclass:
                        guard let k = classIndex[s] else {
                            throw UserError("\(table.place(r)): task '\(t.name)': class '\(s)' in column '\(t.column)' is not one of \(t.classes)",
                                            hint: "list every class under the task's classes:, or mark the value missing in data.missing")
                        }
                        y[r] = Float(k)
                    case .regression:
                        guard let v = Double(s), v.isFinite else {
                            throw UserError("\(table.place(r)): task '\(t.name)': label '\(s)' in column '\(t.column)' is not a number")
                        }
                        y[r] = Float((v - t.targetMean) / t.targetStd)
                    case .multilabel:
                        let k = t.classes.count
                        for id in s.components(separatedBy: t.labelSeparator ?? ",") {
                            let name = id.trimmingCharacters(in: .whitespaces)
                            if name.isEmpty { continue }
                            guard let c = classIndex[name] ?? Int(name).flatMap({ $0 >= 0 && $0 < k ? $0 : nil }) else {
                                throw UserError("\(table.place(r)): task '\(t.name)': label '\(name)' in column '\(t.column)' is neither a class name nor a class id below \(k)",
                                                hint: "list the classes under the task's classes: or classes_file:, or check label_separator")
                            }
                            y[r * k + c] = 1
                        }
                    }
                }
            }
            targets.append(y)
            masks.append(m)
        }
        return EncodedSplit(name: split, rows: rows, denseWidth: width, dense: dense,
                            categoryColumns: useEmbedding ? categorical.count : 0, categories: categories,
                            targets: targets, masks: masks, sparse: sparseMatrix)
    }

    /// A stable text form (hashed to check that ranks agree; stored in checkpoints).
    public func json() -> String {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        return String(decoding: try! enc.encode(self), as: UTF8.self)
    }

    public static func from(json: String) throws -> Preprocessor {
        try JSONDecoder().decode(Preprocessor.self, from: Data(json.utf8))
    }
}

/// One split, encoded: dense features, category indices (embedding mode), and per task a target
/// and a mask (0 where the label is missing).
public struct EncodedSplit {
    public let name: String
    public let rows: Int
    public let denseWidth: Int
    public var dense: [Float]
    public let categoryColumns: Int
    public var categories: [Int32]
    /// Per task, `targetWidth` values per row.
    public var targets: [[Float]]
    public var masks: [[Float]]
    /// The sparse input block (text, sparse numbers), when the data has one.
    public var sparse: SparseMatrix? = nil

    /// Labelled rows per task.
    public var labelCounts: [Int] { masks.map { $0.reduce(0) { $0 + ($1 != 0 ? 1 : 0) } } }
}
