import CZlib

/// One split, encoded: numeric features, categorical values as indices, and per task a target
/// and a mask (0 where the label is missing).
///
/// A row the model reads is `denseWidth` floats: each numeric column's standardised value and
/// its bins (`data.numeric_bins`), then in one-hot mode each categorical column's block of zeros
/// with a 1 at its value. Only what these are made from is stored (a float per numeric column,
/// the transformed value of a binned one, where each one-hot 1 falls), and `writeDense` writes
/// whole rows for a batch only: census-income keeps 7 floats, 7 doubles and 32 indices a row
/// instead of 646 floats.
public struct EncodedSplit {
    public let name: String
    public private(set) var rows: Int
    /// Floats per row the model reads.
    public let denseWidth: Int
    /// Per row, `numberWidth` floats: each numeric column's standardised value, written at
    /// `numberOffsets` of the dense row (nil: at 0, 1, 2, ...).
    public var numbers: [Float]
    public let numberWidth: Int
    public let numberOffsets: [Int]?
    /// Numeric columns with bins: per row each one's transformed value, from which its bins are
    /// written after its standardised value.
    public var binnedValues: [Double]
    public let binnedColumns: [(offset: Int, column: Preprocessor.NumericColumn)]
    /// One-hot mode: per row and categorical column, the position of its 1 in the dense row.
    public var oneHot: [Int32]
    public let oneHotColumns: Int
    /// Embedding mode: per row and categorical column, the value's row of the column's table.
    public let categoryColumns: Int
    public var categories: [Int32]
    /// Per task, `targetWidth` values per row.
    public var targets: [[Float]]
    public var masks: [[Float]]
    /// The sparse input block (text, sparse numbers), when the data has one.
    public var sparse: SparseMatrix? = nil

    public init(name: String, rows: Int, denseWidth: Int, numbers: [Float], numberWidth: Int, numberOffsets: [Int]?,
                binnedValues: [Double], binnedColumns: [(offset: Int, column: Preprocessor.NumericColumn)],
                oneHot: [Int32], oneHotColumns: Int, categoryColumns: Int, categories: [Int32],
                targets: [[Float]], masks: [[Float]], sparse: SparseMatrix? = nil) {
        self.name = name; self.rows = rows; self.denseWidth = denseWidth
        self.numbers = numbers; self.numberWidth = numberWidth; self.numberOffsets = numberOffsets
        self.binnedValues = binnedValues; self.binnedColumns = binnedColumns
        self.oneHot = oneHot; self.oneHotColumns = oneHotColumns; self.categoryColumns = categoryColumns
        self.categories = categories; self.targets = targets; self.masks = masks; self.sparse = sparse
    }

    /// A split whose dense rows are all stored numbers.
    public init(name: String, rows: Int, denseWidth: Int, dense: [Float], categoryColumns: Int, categories: [Int32],
                targets: [[Float]], masks: [[Float]], sparse: SparseMatrix? = nil) {
        self.init(name: name, rows: rows, denseWidth: denseWidth, numbers: dense, numberWidth: denseWidth, numberOffsets: nil,
                  binnedValues: [], binnedColumns: [], oneHot: [], oneHotColumns: 0,
                  categoryColumns: categoryColumns, categories: categories, targets: targets, masks: masks, sparse: sparse)
    }

    /// Labelled rows per task.
    public var labelCounts: [Int] { masks.map { $0.reduce(0) { $0 + ($1 != 0 ? 1 : 0) } } }

    /// Writes row `r`'s dense row (`denseWidth` floats) to `out`.
    public func writeDense(row r: Int, into out: UnsafeMutablePointer<Float>) {
        let w = numberWidth
        if numberOffsets == nil && w == denseWidth {
            numbers.withUnsafeBufferPointer { n in if w > 0, let b = n.baseAddress { out.update(from: b + r * w, count: w) } }
            return
        }
        out.update(repeating: 0, count: denseWidth)
        numbers.withUnsafeBufferPointer { n in
            guard w > 0, let b = n.baseAddress else { return }
            if let offsets = numberOffsets { for j in 0..<w { out[offsets[j]] = b[r * w + j] } }
            else { out.update(from: b + r * w, count: w) }
        }
        let nb = binnedColumns.count
        for (k, c) in binnedColumns.enumerated() { c.column.encodeBins(binnedValues[r * nb + k], into: out + c.offset) }
        let c = oneHotColumns
        oneHot.withUnsafeBufferPointer { h in
            guard c > 0, let b = h.baseAddress else { return }
            for j in 0..<c { out[Int(b[r * c + j])] = 1 }
        }
    }

    /// Writes the dense rows of `rows`, one after another, to `out`.
    public func writeDense<S: Sequence<Int>>(rows: S, into out: UnsafeMutablePointer<Float>) {
        var at = out
        for r in rows { writeDense(row: r, into: at); at += denseWidth }
    }

    /// The whole dense matrix, rows x denseWidth (for small splits and tests: it takes the room
    /// the stored form saves).
    public func denseFeatures() -> [Float] {
        var all = [Float](repeating: 0, count: rows * denseWidth)
        all.withUnsafeMutableBufferPointer { b in if let p = b.baseAddress { writeDense(rows: 0..<rows, into: p) } }
        return all
    }

    /// Room for `rows` rows in all, so that appending pieces does not grow the arrays by copies.
    public mutating func reserve(rows total: Int) {
        numbers.reserveCapacity(total * numberWidth); binnedValues.reserveCapacity(total * binnedColumns.count)
        oneHot.reserveCapacity(total * oneHotColumns); categories.reserveCapacity(total * categoryColumns)
        for t in targets.indices { targets[t].reserveCapacity(total * (rows > 0 ? targets[t].count / rows : 1)) }
        for t in masks.indices { masks[t].reserveCapacity(total) }
        sparse?.rowStart.reserveCapacity(total + 1)
    }

    /// Appends the rows of `other`, encoded by the same preprocessing.
    public mutating func append(_ other: EncodedSplit) {
        numbers += other.numbers; binnedValues += other.binnedValues; oneHot += other.oneHot; categories += other.categories
        for t in targets.indices { targets[t] += other.targets[t] }
        for t in masks.indices { masks[t] += other.masks[t] }
        if var s = sparse, let o = other.sparse {
            sparse = nil   // held once while it grows
            let base = s.index.count
            s.index += o.index; s.value += o.value
            s.rowStart += o.rowStart.dropFirst().map { $0 + base }
            sparse = s
        }
        rows += other.rows
    }

    /// The bytes the stored arrays take.
    public var storedBytes: Int {
        4 * (numbers.count + oneHot.count + categories.count + targets.reduce(0) { $0 + $1.count } + masks.reduce(0) { $0 + $1.count })
            + 8 * binnedValues.count + (sparse.map { 8 * $0.rowStart.count + 8 * $0.index.count } ?? 0)
    }
}

extension EncodedSplit {
    /// The CRC-32 (zlib's) of every encoded array in order: the dense rows as the model reads
    /// them, category indices, sparse rows (starts, indices, values), then each task's targets
    /// and mask. Equal data gives equal checksums, whatever the threads or ranks that encoded it
    /// (`featurize` prints it).
    public var checksum: UInt32 {
        var crc: UInt = 0
        func add(_ b: UnsafeRawBufferPointer) {
            crc = crc32(crc, b.bindMemory(to: UInt8.self).baseAddress, UInt32(truncatingIfNeeded: b.count))
        }
        func add<T>(_ a: [T]) { a.withUnsafeBytes { add($0) } }
        var row = [Float](repeating: 0, count: denseWidth)
        for r in 0..<rows {
            row.withUnsafeMutableBufferPointer { b in if let p = b.baseAddress { writeDense(row: r, into: p) } }
            add(row)
        }
        add(categories)
        if let s = sparse { add(s.rowStart); add(s.index); add(s.value) }
        for t in targets { add(t) }
        for m in masks { add(m) }
        return UInt32(truncatingIfNeeded: crc)
    }
}
