import Foundation
import MTLCore

extension Preprocessor {
    /// Encodes a table. With `labels` false the label columns are not read (prediction input).
    /// Rows are cut into one piece per thread (`Parallel.threads`); each piece encodes its rows
    /// in row order (numbers, categories, sparse fields, then labels), so the arrays and the first
    /// error reported are the same at any number of threads.
    public func encode(_ table: TextTable, split: String, labels: Bool = true, threads: Int = Parallel.threads) throws -> EncodedSplit {
        let missingSet = Set(missing)
        let rows = table.rowCount
        func index(_ name: String) throws -> Int {
            guard let i = table.columnIndex(name) else {
                throw UserError("\(table.file): column '\(name)' is missing", hint: table.separatorHint ?? "the file must have the training data's columns")
            }
            return i
        }
        let width = denseWidth
        try checkEncodedSize([(split, rows)], source: table.file)
        var dense = [Float](repeating: 0, count: rows * width)
        let useEmbedding = encoding == .embedding
        let categoryColumns = useEmbedding ? categorical.count : 0
        var categories = [Int32](repeating: 0, count: rows * categoryColumns)

        // What every piece reads: the columns, their offsets in a dense row and their lookups.
        let numericValues = try numeric.map { table.columns[try index($0.name)] }
        var numericOffsets: [Int] = [], offset = 0
        for col in numeric { numericOffsets.append(offset); offset += col.width }
        let categoricalValues = try categorical.map { table.columns[try index($0.name)] }
        var categoricalOffsets: [Int] = []
        for col in categorical { categoricalOffsets.append(offset); if !useEmbedding { offset += col.buckets } }
        // Values looked up by their bytes (no String per cell).
        let categoricalLookups = categorical.map { TermTable($0.vocabulary) }
        let sparseValues = try sparseFields.map { table.columns[try index($0.name)] }
        let sparseLookups = sparseFields.map(\.lookup)
        let labelValues = labels ? try tasks.map { table.columns[try index($0.column)] } : []
        let positives = tasks.map { Set($0.positive) }, negatives = tasks.map { Set($0.negative) }
        let classIndices = tasks.map { t in
            var classIndex: [String: Int] = [:]
            for (i, c) in t.classes.enumerated() { classIndex[c] = i }
            return classIndex
        }
        // Every task's targets, then every task's mask, in one array each (cut per task at the end).
        var targetStarts = [0]
        for t in tasks { targetStarts.append(targetStarts[targetStarts.count - 1] + rows * t.targetWidth) }
        var allTargets = [Float](repeating: 0, count: targetStarts[tasks.count])
        var allMasks = [Float](repeating: 0, count: rows * tasks.count)

        // Rows with text cost by their length, so long documents do not all land in one piece.
        let pieces: [Range<Int>]
        if sparseValues.isEmpty { pieces = Parallel.ranges(rows, parts: Parallel.parts(rows, minimum: 2048, threads: threads)) } else {
            let costs = (0..<rows).map { r in sparseValues.reduce(64) { $0 + $1.byteCount(r) } }
            pieces = Parallel.ranges(costs: costs, parts: Parallel.parts(costs.reduce(0, +), minimum: 1 << 16, threads: threads))
        }
        let sparseParts: [SparseMatrix] = try dense.withUnsafeMutableBufferPointer { denseBuffer in
          try categories.withUnsafeMutableBufferPointer { categoryBuffer in
            try allTargets.withUnsafeMutableBufferPointer { targetBuffer in
              try allMasks.withUnsafeMutableBufferPointer { maskBuffer in
                // Each piece writes its own rows only.
                let out = Unchecked((dense: denseBuffer.baseAddress, categories: categoryBuffer.baseAddress,
                                     targets: targetBuffer.baseAddress, masks: maskBuffer.baseAddress))
                return try Parallel.map(pieces.count, threads: threads) { p -> SparseMatrix in
                    var csr = SparseMatrix(width: sparseWidth)
                    var scratch = TextFeatures.Scratch()
                    for r in pieces[p] {
                        if let base = out.value.dense {
                            for (j, col) in numeric.enumerated() {
                                let s = numericValues[j][r]
                                var x = col.mean  // a missing value counts as the training mean
                                if !missingSet.contains(s) {
                                    guard let v = Double(s), v.isFinite else {
                                        throw UserError("\(table.place(r)): column '\(col.name)': '\(s)' is not a number",
                                                        hint: "list '\(s)' in data.missing if it marks a missing value")
                                    }
                                    x = col.transform(v)
                                }
                                let at = base + r * width + numericOffsets[j]
                                col.encode(x, into: at)
                                for k in 0..<col.width where !at[k].isFinite {
                                    throw UserError("\(table.place(r)): column '\(col.name)': '\(s)' is outside the range the model computes in once standardised (32-bit floats)",
                                                    hint: "rescale the column, list it in data.log_numeric, or mark such values missing in data.missing")
                                }
                            }
                        }
                        for (j, col) in categorical.enumerated() {
                            let k = categoricalValues[j].withCell(r) { b in categoricalLookups[j].id(of: b, hash: TermTable.hash(b)).map(Int.init) } ?? col.vocabulary.count
                            if useEmbedding { out.value.categories?[r * categoryColumns + j] = Int32(k) }
                            else { out.value.dense?[r * width + categoricalOffsets[j] + k] = 1 }
                        }
                        if !sparseFields.isEmpty {
                            var fieldOffset: Int32 = 0
                            for (f, field) in sparseFields.enumerated() {
                                let cell = sparseValues[f][r]
                                for (i, v) in try field.encode(cell, lookup: sparseLookups[f], missing: missingSet.contains(cell), scratch: &scratch, where: { table.place(r) }) {
                                    csr.index.append(fieldOffset + i); csr.value.append(v)
                                }
                                fieldOffset += Int32(field.width)
                            }
                            csr.rowStart.append(csr.index.count)
                        }
                        for (t, task) in tasks.enumerated() where labels {
                            guard let y = out.value.targets.map({ $0 + targetStarts[t] }), let m = out.value.masks.map({ $0 + t * rows }) else { continue }
                            try encodeLabel(task, labelValues[t][r], row: r, y: y, m: m, missing: missingSet, positive: positives[t],
                                            negative: negatives[t], classIndex: classIndices[t], place: { table.place(r) })
                        }
                    }
                    return csr
                }
              }
            }
          }
        }
        let targets = tasks.indices.map { t in Array(allTargets[targetStarts[t]..<targetStarts[t + 1]]) }
        let masks = tasks.indices.map { t in Array(allMasks[(t * rows)..<((t + 1) * rows)]) }

        var sparseMatrix: SparseMatrix? = nil
        if !sparseFields.isEmpty {
            var csr = SparseMatrix(width: sparseWidth)
            let nonzeros = sparseParts.reduce(0) { $0 + $1.index.count }
            csr.index.reserveCapacity(nonzeros); csr.value.reserveCapacity(nonzeros); csr.rowStart.reserveCapacity(rows + 1)
            for part in sparseParts {
                let base = csr.index.count
                csr.index += part.index; csr.value += part.value
                csr.rowStart += part.rowStart.dropFirst().map { $0 + base }
            }
            sparseMatrix = csr
        }
        return EncodedSplit(name: split, rows: rows, denseWidth: width, dense: dense,
                            categoryColumns: categoryColumns, categories: categories,
                            targets: targets, masks: masks, sparse: sparseMatrix)
    }

    /// Row r's label of one task into its target (`y`) and mask (`m`).
    private func encodeLabel(_ t: TaskEncoding, _ s: String, row r: Int, y: UnsafeMutablePointer<Float>, m: UnsafeMutablePointer<Float>,
                             missing: Set<String>, positive: Set<String>, negative: Set<String>, classIndex: [String: Int],
                             place: () -> String) throws {
        if missing.contains(s) { return }
        m[r] = 1
        switch t.kind {
        case .binary:
            if positive.contains(s) { y[r] = 1 }
            else if negative.isEmpty || negative.contains(s) { y[r] = 0 }
            else {
                throw UserError("\(place()): task '\(t.name)': label '\(s)' in column '\(t.column)' is neither positive \(t.positive) nor negative \(t.negative)",
                                hint: "add it to the task's positive or negative list, or to data.missing")
            }
        case .multiclass:
            guard let k = classIndex[s] else {
                throw UserError("\(place()): task '\(t.name)': class '\(s)' in column '\(t.column)' is not one of \(t.classes)",
                                hint: "list every class under the task's classes:, or mark the value missing in data.missing")
            }
            y[r] = Float(k)
        case .regression:
            guard let v = Double(s), v.isFinite else {
                throw UserError("\(place()): task '\(t.name)': label '\(s)' in column '\(t.column)' is not a number")
            }
            y[r] = Float((v - t.targetMean) / t.targetStd)
            guard y[r].isFinite else {
                throw UserError("\(place()): task '\(t.name)': label '\(s)' in column '\(t.column)' is outside the range the model computes in once standardised (32-bit floats)",
                                hint: "rescale the label column or mark such values missing in data.missing")
            }
        case .multilabel:
            let k = t.classes.count
            for id in s.components(separatedBy: t.labelSeparator ?? ",") {
                let name = id.trimmingCharacters(in: .whitespaces)
                if name.isEmpty { continue }
                guard let c = classIndex[name] ?? Int(name).flatMap({ $0 >= 0 && $0 < k ? $0 : nil }) else {
                    throw UserError("\(place()): task '\(t.name)': label '\(name)' in column '\(t.column)' is neither a class name nor a class id below \(k)",
                                    hint: "list the classes under the task's classes: or classes_file:, or check label_separator")
                }
                y[r * k + c] = 1
            }
        }
    }
}

extension Preprocessor {
    /// The bytes the dense arrays of `rows` encoded rows take: the features (numeric and one-hot
    /// blocks), the embedding indices, and each task's targets and mask.
    public func encodedBytes(rows: Int) -> Double {
        let indices = encoding == .embedding ? categorical.count : 0
        let perRow = Double(denseWidth) + Double(indices) + tasks.reduce(0.0) { $0 + Double($1.targetWidth + 1) }
        return Double(rows) * perRow * 4
    }

    /// Refuses, before anything is allocated, splits whose encoded arrays would not fit in this
    /// machine's memory (a one-hot block of a column with very many values is the usual cause).
    public func checkEncodedSize(_ splits: [(name: String, rows: Int)], source: String) throws {
        let total = splits.reduce(0.0) { $0 + encodedBytes(rows: $1.rows) }
        let rows = splits.map { "\($0.name) \($0.rows)" }.joined(separator: ", ")
        let widest = categorical.max { $0.buckets < $1.buckets }
        let why = encoding == .onehot && widest.map { $0.buckets > 1000 } == true
            ? "; the widest one-hot block is column '\(widest?.name ?? "")' with \(widest?.buckets ?? 0) values" : ""
        try MachineMemory.check(total, what: "the encoded data of \(source)",
                                breakdown: "rows \(rows), \(denseWidth) dense features each, 4 bytes a value\(why)",
                                hint: "set data.categorical_encoding: embedding (one index per column instead of a one-hot block), drop or bucket wide columns, or use fewer rows")
    }
}
