import CZlib

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

    public init(name: String, rows: Int, denseWidth: Int, dense: [Float], categoryColumns: Int, categories: [Int32],
                targets: [[Float]], masks: [[Float]], sparse: SparseMatrix? = nil) {
        self.name = name; self.rows = rows; self.denseWidth = denseWidth; self.dense = dense; self.categoryColumns = categoryColumns
        self.categories = categories; self.targets = targets; self.masks = masks; self.sparse = sparse
    }

    /// Labelled rows per task.
    public var labelCounts: [Int] { masks.map { $0.reduce(0) { $0 + ($1 != 0 ? 1 : 0) } } }
}

extension EncodedSplit {
    /// The CRC-32 (zlib's) of every encoded array in order: dense features, category indices,
    /// sparse rows (starts, indices, values), then each task's targets and mask. Equal data
    /// gives equal checksums, whatever the threads or ranks that encoded it (`featurize` prints it).
    public var checksum: UInt32 {
        var crc: UInt = 0
        func add<T>(_ a: [T]) {
            a.withUnsafeBytes { b in crc = crc32(crc, b.bindMemory(to: UInt8.self).baseAddress, UInt32(truncatingIfNeeded: b.count)) }
        }
        add(dense); add(categories)
        if let s = sparse { add(s.rowStart); add(s.index); add(s.value) }
        for t in targets { add(t) }
        for m in masks { add(m) }
        return UInt32(truncatingIfNeeded: crc)
    }
}
