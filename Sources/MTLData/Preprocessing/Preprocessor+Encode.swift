import Foundation
import MTLCore

extension Preprocessor {
    /// Encodes a table. With `labels` false the label columns are not read (prediction input).
    public func encode(_ table: TextTable, split: String, labels: Bool = true) throws -> EncodedSplit {
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
                    guard let base = out.baseAddress else { return }
                    col.encode(x, into: base + r * width + offset)
                    for k in 0..<col.width where !base[r * width + offset + k].isFinite {
                        throw UserError("\(table.place(r)): column '\(col.name)': '\(s)' is outside the range the model computes in once standardised (32-bit floats)",
                                        hint: "rescale the column, list it in data.log_numeric, or mark such values missing in data.missing")
                    }
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
                    switch t.kind {
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
                        guard y[r].isFinite else {
                            throw UserError("\(table.place(r)): task '\(t.name)': label '\(s)' in column '\(t.column)' is outside the range the model computes in once standardised (32-bit floats)",
                                            hint: "rescale the label column or mark such values missing in data.missing")
                        }
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
