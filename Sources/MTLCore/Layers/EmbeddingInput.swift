/// The model's input row: the dense features followed by one learned embedding per categorical
/// column (one table of (buckets, dim) per column, looked up by index).
public final class EmbeddingInput {
    public let denseWidth: Int
    public let buckets: [Int]
    public let dim: Int
    public let tables: [ParameterEntry]
    public var outputSize: Int { denseWidth + buckets.count * dim }
    private unowned let store: ParameterStore
    private let output: FloatBuffer
    private var indices: UnsafePointer<Int32>?

    public init(denseWidth: Int, buckets: [Int], dim: Int, maxRows: Int, store: ParameterStore, prefix: String = "") {
        self.denseWidth = denseWidth
        self.buckets = buckets
        self.dim = dim
        self.store = store
        tables = buckets.enumerated().map { i, n in
            store.register("\(prefix)embedding.\(i).weight", shape: [n, dim], initializer: .normal(std: 1 / Float(dim).squareRoot()))
        }
        output = FloatBuffer(count: maxRows * (denseWidth + buckets.count * dim))
    }

    // dense: (B, denseWidth); indices: (B, columns) -> (B, denseWidth + columns * dim)
    public func forward(dense: Matrix, indices: UnsafePointer<Int32>) -> Matrix {
        self.indices = indices
        let width = outputSize, columns = buckets.count
        let y = output.matrix(rows: dense.rows, cols: width)
        for r in 0..<dense.rows {
            let row = y.pointer + r * width
            row.update(from: dense.pointer + r * denseWidth, count: denseWidth)
            for c in 0..<columns {
                let k = Int(indices[r * columns + c])
                precondition(k >= 0 && k < buckets[c], "category index \(k) out of range for column \(c)")
                (row + denseWidth + c * dim).update(from: store.value(tables[c]) + k * dim, count: dim)
            }
        }
        return y
    }

    /// Adds the gradient of each looked-up row into its table row. `dy` may be wider than the
    /// output (more input parts after it): its rows are read with their own length as stride.
    public func backward(_ dy: Matrix) {
        guard let idx = indices else { preconditionFailure("EmbeddingInput.backward before forward") }
        let width = dy.cols, columns = buckets.count
        for r in 0..<dy.rows {
            for c in 0..<columns {
                let g = store.gradient(tables[c]) + Int(idx[r * columns + c]) * dim
                let src = dy.pointer + r * width + denseWidth + c * dim
                for j in 0..<dim { g[j] += src[j] }
            }
        }
    }
}
