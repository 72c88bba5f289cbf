import MTLCore

/// The model's input stage: the dense features, followed by one learned embedding per
/// categorical column in embedding mode, followed by the learned projection of the sparse block
/// (`model.sparse_projection` wide) when the data has text or sparse columns.
final class InputStage {
    let embeddings: EmbeddingInput?
    let sparse: SparseLinear?
    /// Width before the sparse projection, and in all.
    let baseWidth: Int
    let width: Int
    private let combined: FloatBuffer?

    init(_ layout: InputLayout, projection: Int, maxRows: Int, store: ParameterStore, prefix: String) {
        if let e = layout.embeddings, !e.buckets.isEmpty {
            embeddings = EmbeddingInput(denseWidth: layout.denseWidth, buckets: e.buckets, dim: e.dim, maxRows: maxRows, store: store, prefix: prefix)
        } else {
            embeddings = nil
        }
        baseWidth = layout.inputWidth
        if layout.sparseWidth > 0 {
            sparse = SparseLinear("\(prefix)sparse", inputSize: layout.sparseWidth, outputSize: projection, maxRows: maxRows, store: store)
            width = baseWidth + projection
            combined = FloatBuffer(count: maxRows * width)
        } else {
            sparse = nil; width = baseWidth; combined = nil
        }
    }

    /// Whether anything upstream of the first layer learns (so its input gradient is needed).
    var needsGradient: Bool { embeddings != nil || sparse != nil }

    func forward(_ input: BatchInput) -> Matrix {
        var base = input.dense
        if let e = embeddings, let idx = input.categories { base = e.forward(dense: input.dense, indices: idx) }
        guard let s = sparse, let c = combined else { return base }
        guard let batch = input.sparse else { preconditionFailure("the model expects a sparse input block") }
        let projected = s.forward(batch)
        let rows = base.rows, y = c.matrix(rows: rows, cols: width)
        for r in 0..<rows {
            (y.pointer + r * width).update(from: base.pointer + r * baseWidth, count: baseWidth)
            (y.pointer + r * width + baseWidth).update(from: projected.pointer + r * s.outputSize, count: s.outputSize)
        }
        return y
    }

    func backward(_ dx: Matrix) {
        embeddings?.backward(dx)
        sparse?.backward(dx.pointer + baseWidth, stride: dx.cols)
    }
}
