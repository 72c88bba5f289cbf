import MTLCore

/// Sparse rows in compressed sparse row form: row r's nonzeros are [rowStart[r], rowStart[r+1]).
public struct SparseMatrix: Equatable {
    public var width: Int
    public var rowStart: [Int]
    public var index: [Int32]
    public var value: [Float]
    public var rows: Int { max(0, rowStart.count - 1) }
    public init(width: Int, rowStart: [Int] = [0], index: [Int32] = [], value: [Float] = []) {
        self.width = width; self.rowStart = rowStart; self.index = index; self.value = value
    }

    /// Puts rows `rows` into a batch (emptied first).
    public func fill(_ batch: SparseBatch, rows: some Sequence<Int>) {
        batch.removeAll()
        index.withUnsafeBufferPointer { i in
            value.withUnsafeBufferPointer { v in
                for r in rows {
                    let a = rowStart[r], b = rowStart[r + 1]
                    batch.append(index: UnsafeBufferPointer(rebasing: i[a..<b]), value: UnsafeBufferPointer(rebasing: v[a..<b]))
                }
            }
        }
    }
}
