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
