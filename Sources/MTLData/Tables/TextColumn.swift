/// One column of a table: every cell's UTF-8 bytes back to back and where each cell ends. A cell
/// reads as a String on demand; readers that only compare or look up cells use their bytes
/// (`withCell`), so a file of millions of cells is held in about its own size plus 8 bytes a
/// cell, not as millions of String values.
public struct TextColumn: RandomAccessCollection, Equatable, ExpressibleByArrayLiteral, Sendable {
    public private(set) var bytes: [UInt8] = []
    /// Cell i is bytes[(i == 0 ? 0 : ends[i - 1])..<ends[i]].
    public private(set) var ends: [Int] = []

    public init() {}
    public init<S: Sequence>(_ cells: S) where S.Element == String {
        for var s in cells { s.withUTF8 { append(bytes: $0) } }
    }
    public init(arrayLiteral cells: String...) { self.init(cells) }

    public var startIndex: Int { 0 }
    public var endIndex: Int { ends.count }

    @inline(__always)
    func start(_ i: Int) -> Int { i == 0 ? 0 : ends[i - 1] }

    public subscript(i: Int) -> String { String(decoding: bytes[start(i)..<ends[i]], as: UTF8.self) }

    /// Calls `body` with cell i's bytes.
    @inline(__always)
    public func withCell<R>(_ i: Int, _ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
        let a = start(i), b = ends[i]
        return try bytes.withUnsafeBufferPointer { try body(UnsafeBufferPointer(rebasing: $0[a..<b])) }
    }

    /// The byte count of cell i.
    public func byteCount(_ i: Int) -> Int { ends[i] - start(i) }

    public mutating func append(bytes cell: UnsafeBufferPointer<UInt8>) {
        bytes.append(contentsOf: cell)
        ends.append(bytes.count)
    }

    public mutating func append(_ cell: String) {
        var cell = cell
        cell.withUTF8 { append(bytes: $0) }
    }

    /// `count` copies of one cell.
    public mutating func append(repeating cell: String, count: Int) {
        guard count > 0 else { return }
        var cell = cell
        cell.withUTF8 { b in
            bytes.reserveCapacity(bytes.count + b.count * count)
            ends.reserveCapacity(ends.count + count)
            for _ in 0..<count { append(bytes: b) }
        }
    }

    public mutating func append(contentsOf other: TextColumn) {
        let base = bytes.count
        bytes.append(contentsOf: other.bytes)
        ends.append(contentsOf: other.ends)
        if base > 0 {
            let from = ends.count - other.ends.count
            ends.withUnsafeMutableBufferPointer { e in for i in from..<e.count { e[i] += base } }
        }
    }

    public mutating func reserve(cells: Int, bytes count: Int) {
        ends.reserveCapacity(cells)
        bytes.reserveCapacity(count)
    }

    /// The cells at `indices`, in that order.
    public func subset(_ indices: [Int]) -> TextColumn {
        var out = TextColumn()
        out.ends.reserveCapacity(indices.count)
        bytes.withUnsafeBufferPointer { all in
            for i in indices { out.append(bytes: UnsafeBufferPointer(rebasing: all[start(i)..<ends[i]])) }
        }
        return out
    }

    /// Each cell mapped through `transform`.
    public func mapCells(_ transform: (String) throws -> String) rethrows -> TextColumn {
        var out = TextColumn()
        out.ends.reserveCapacity(count)
        for s in self { out.append(try transform(s)) }
        return out
    }
}
