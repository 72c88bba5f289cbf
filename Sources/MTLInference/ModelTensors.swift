#if canImport(Glibc)
import Glibc
#endif
import MTLCore

/// Memory owned by one object, allocated once, aligned for SIMD loads.
final class Storage<T> {
    let pointer: UnsafeMutablePointer<T>
    let count: Int

    init(count: Int, repeating value: T) {
        self.count = count
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(1, count) * MemoryLayout<T>.stride, alignment: 64)
        pointer = raw.bindMemory(to: T.self, capacity: max(1, count))
        pointer.initialize(repeating: value, count: max(1, count))
    }

    convenience init(_ values: [T], zero: T) {
        self.init(count: values.count, repeating: zero)
        values.withUnsafeBufferPointer { if let b = $0.baseAddress { pointer.update(from: b, count: values.count) } }
    }

    deinit { UnsafeMutableRawPointer(pointer).deallocate() }
}

/// How a model file stores its weights (`export --quantize`).
public enum Quantization: String, Sendable, CaseIterable {
    /// Every tensor in float32, bit for bit the trained values.
    case none
    /// Weight matrices, embedding tables and the sparse table in int8, symmetric, one float scale
    /// per row (per output channel of a Linear, per category of an embedding, per input position
    /// of the sparse table); biases, norms, gates' softmax, stitches and queries stay float.
    /// Activations are quantised per row when multiplied (uint8 with a zero point, the row's
    /// range), and stay float everywhere else.
    case int8
}

/// One parameter of a model: float values, or int8 values with one scale per row (shape[0...]
/// flattened but the last dimension).
public struct ModelTensor: Sendable {
    public var shape: [Int]
    public var float: [Float]?
    public var int8: [Int8]?
    public var scale: [Float]?

    public init(shape: [Int], float: [Float]) { self.shape = shape; self.float = float }
    public init(shape: [Int], int8: [Int8], scale: [Float]) { self.shape = shape; self.int8 = int8; self.scale = scale }

    public var count: Int { shape.reduce(1, *) }
    /// Rows (every dimension but the last) and the last dimension.
    public var rows: Int { shape.count > 1 ? shape.dropLast().reduce(1, *) : 1 }
    public var columns: Int { shape.last ?? 1 }

    /// Symmetric int8 per row: scale = max |w| / 127 (1 for a row of zeros), q = round(w / scale).
    public static func quantized(shape: [Int], values: [Float]) -> ModelTensor {
        let cols = shape.last ?? 1, rows = cols > 0 ? values.count / cols : 0
        var q = [Int8](repeating: 0, count: values.count), scale = [Float](repeating: 1, count: rows)
        for r in 0..<rows {
            var m: Float = 0
            for j in 0..<cols { m = max(m, abs(values[r * cols + j])) }
            let s: Float = m > 0 ? m / 127 : 1
            scale[r] = s
            for j in 0..<cols { q[r * cols + j] = Int8(max(-127, min(127, (values[r * cols + j] / s).rounded(.toNearestOrEven)))) }
        }
        return ModelTensor(shape: shape, int8: q, scale: scale)
    }

    /// The values in float (dequantised for int8).
    public var floatValues: [Float] {
        if let f = float { return f }
        guard let q = int8, let s = scale else { return [] }
        let cols = columns
        return q.indices.map { Float(q[$0]) * s[$0 / max(1, cols)] }
    }
}

/// A lookup table (an embedding, the sparse block's table): float rows, or int8 rows with a scale each.
final class Table {
    let rows: Int, columns: Int
    let float: Storage<Float>?
    let int8: Storage<Int8>?
    let scale: Storage<Float>?

    init(_ t: ModelTensor) {
        rows = t.rows; columns = t.columns
        if let q = t.int8, let s = t.scale {
            int8 = Storage(q, zero: 0); scale = Storage(s, zero: 0); float = nil
        } else {
            float = Storage(t.float ?? [], zero: 0); int8 = nil; scale = nil
        }
    }

    /// y += alpha * row r.
    @inline(__always)
    func addRow(_ r: Int, times alpha: Float, into y: UnsafeMutablePointer<Float>) {
        if let f = float {
            VectorKernels.addScaled(f.pointer + r * columns, alpha, into: y, count: columns)
        } else if let q = int8, let s = scale {
            let a = alpha * s.pointer[r], src = q.pointer + r * columns
            for j in 0..<columns { y[j] += a * Float(src[j]) }
        }
    }

    /// y = row r.
    @inline(__always)
    func copyRow(_ r: Int, into y: UnsafeMutablePointer<Float>) {
        if let f = float {
            y.update(from: f.pointer + r * columns, count: columns)
        } else if let q = int8, let s = scale {
            let a = s.pointer[r], src = q.pointer + r * columns
            for j in 0..<columns { y[j] = a * Float(src[j]) }
        }
    }
}
