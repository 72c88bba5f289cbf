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
        // Stored: a float per numeric column, the transformed value of a binned one, where a
        // one-hot 1 falls (EncodedSplit writes the dense rows from them).
        let width = numeric.count
        try checkEncodedSize([(split, rows)], source: table.file)
        var dense = [Float](repeating: 0, count: rows * width)
        let binnedIndex = numeric.indices.filter { numeric[$0].bins > 0 }
        var binnedSlot = [Int](repeating: -1, count: numeric.count)
        for (k, j) in binnedIndex.enumerated() { binnedSlot[j] = k }
        let nb = binnedIndex.count
        var binned = [Double](repeating: 0, count: rows * nb)
        let widest = numeric.map(\.width).max() ?? 1
        let useEmbedding = encoding == .embedding
        let categoryColumns = useEmbedding ? categorical.count : 0, oneHotColumns = useEmbedding ? 0 : categorical.count
        var categories = [Int32](repeating: 0, count: rows * categoryColumns)
        var oneHot = [Int32](repeating: 0, count: rows * oneHotColumns)

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
           try binned.withUnsafeMutableBufferPointer { binnedBuffer in
           try oneHot.withUnsafeMutableBufferPointer { oneHotBuffer in
            try allTargets.withUnsafeMutableBufferPointer { targetBuffer in
              try allMasks.withUnsafeMutableBufferPointer { maskBuffer in
                // Each piece writes its own rows only.
                let out = Unchecked((dense: denseBuffer.baseAddress, categories: categoryBuffer.baseAddress, oneHot: oneHotBuffer.baseAddress,
                                     binned: binnedBuffer.baseAddress,
                                     targets: targetBuffer.baseAddress, masks: maskBuffer.baseAddress))
                return try Parallel.map(pieces.count, threads: threads) { p -> SparseMatrix in
                    var csr = SparseMatrix(width: sparseWidth)
                    var scratch = TextFeatures.Scratch()
                    var encoded = [Float](repeating: 0, count: widest)
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
                                try encoded.withUnsafeMutableBufferPointer { e in
                                  guard let at = e.baseAddress else { return }
                                  col.encode(x, into: at)
                                  for k in 0..<col.width where !at[k].isFinite {
                                    throw UserError("\(table.place(r)): column '\(col.name)': '\(s)' is outside the range the model computes in once standardised (32-bit floats)",
                                                    hint: "rescale the column, list it in data.log_numeric, or mark such values missing in data.missing")
                                  }
                                }
                                base[r * width + j] = encoded[0]
                                if binnedSlot[j] >= 0 { out.value.binned?[r * nb + binnedSlot[j]] = x }
                            }
                        }
                        for (j, col) in categorical.enumerated() {
                            let k = categoricalValues[j].withCell(r) { b in categoricalLookups[j].id(of: b, hash: TermTable.hash(b)).map(Int.init) } ?? col.vocabulary.count
                            if useEmbedding { out.value.categories?[r * categoryColumns + j] = Int32(k) }
                            else { out.value.oneHot?[r * oneHotColumns + j] = Int32(categoricalOffsets[j] + k) }
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
        let contiguous = numericOffsets == Array(0..<numeric.count)
        return EncodedSplit(name: split, rows: rows, denseWidth: denseWidth, numbers: dense, numberWidth: width,
                            numberOffsets: contiguous ? nil : numericOffsets,
                            binnedValues: binned, binnedColumns: binnedIndex.map { (numericOffsets[$0], numeric[$0]) },
                            oneHot: oneHot, oneHotColumns: oneHotColumns, categoryColumns: categoryColumns, categories: categories,
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
    /// The bytes the dense arrays of `rows` encoded rows take: the numeric block, an index per
    /// categorical column (one-hot or embedding), and each task's targets and mask.
    public func encodedBytes(rows: Int) -> Double {
        let binned = numeric.reduce(0) { $0 + ($1.bins > 0 ? 2 : 0) }   // a double each
        let perRow = Double(numeric.count + binned + categorical.count) + tasks.reduce(0.0) { $0 + Double($1.targetWidth + 1) }
        return Double(rows) * perRow * 4
    }

    /// Refuses, before anything is allocated, splits whose encoded arrays would not fit in this
    /// machine's memory.
    public func checkEncodedSize(_ splits: [(name: String, rows: Int)], source: String) throws {
        let total = splits.reduce(0.0) { $0 + encodedBytes(rows: $1.rows) }
        let rows = splits.map { "\($0.name) \($0.rows)" }.joined(separator: ", ")
        try MachineMemory.check(total, what: "the encoded data of \(source)",
                                breakdown: "rows \(rows), \(numeric.count) numbers and \(categorical.count) category indices each, 4 bytes a value",
                                hint: "use fewer rows, or drop columns")
    }
}
