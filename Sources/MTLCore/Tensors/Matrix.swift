#if canImport(Glibc)
import Glibc
#endif
/// A row-major view of Float32 memory owned elsewhere: (rows, cols), row stride = cols.
public struct Matrix {
    public var pointer: UnsafeMutablePointer<Float>
    public var rows: Int
    public var cols: Int

    public init(_ pointer: UnsafeMutablePointer<Float>, rows: Int, cols: Int) {
        self.pointer = pointer
        self.rows = rows
        self.cols = cols
    }

    public var count: Int { rows * cols }
}

/// An owned, aligned Float32 buffer that is allocated once and reused: the training step
/// allocates nothing, it only writes into buffers like this one.
public final class FloatBuffer {
    public let pointer: UnsafeMutablePointer<Float>
    public let count: Int

    public init(count: Int, value: Float = 0) {
        self.count = count
        let bytes = max(count, 1) * 4
        let huge = 1 << 21
        let raw = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: bytes >= Self.hugePagesFrom ? huge : 64)
        if bytes >= Self.hugePagesFrom {
            // Large buffers (a sparse projection's table, its gradient and optimizer state, read a
            // row here and a row there) in 2 MB pages where the kernel offers them on request
            // (transparent_hugepage=madvise, Debian's default): a row's first touch then misses the
            // TLB far less often. Before the first write, so the pages are made huge.
            _ = madvise(raw, bytes / huge * huge, MADV_HUGEPAGE)
        }
        pointer = raw.bindMemory(to: Float.self, capacity: max(count, 1))
        pointer.initialize(repeating: value, count: max(count, 1))
    }

    deinit { UnsafeMutableRawPointer(pointer).deallocate() }

    /// Buffers of at least this many bytes ask for huge pages.
    static let hugePagesFrom = 1 << 25

    public var buffer: UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: pointer, count: count) }

    public func matrix(rows: Int, cols: Int) -> Matrix {
        precondition(rows * cols <= count, "matrix (\(rows), \(cols)) exceeds buffer of \(count)")
        return Matrix(pointer, rows: rows, cols: cols)
    }

    public func zero() { pointer.update(repeating: 0, count: count) }

    public var array: [Float] { Array(buffer) }
}
