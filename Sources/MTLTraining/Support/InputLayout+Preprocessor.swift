import MTLData
import MTLModels

extension Preprocessor {
    /// What the models need of the fitted preprocessing: the input's widths and fields, the
    /// embedding tables' buckets, the sparse block's width and each task's output width.
    public var layout: InputLayout {
        let embedding = encoding == .embedding
        return InputLayout(
            denseWidth: denseWidth,
            fieldWidths: numeric.map(\.width) + categorical.map { embedding ? embeddingDim : $0.buckets },
            embeddings: embedding && !categorical.isEmpty ? (categorical.map(\.buckets), embeddingDim) : nil,
            sparseWidth: sparseWidth,
            tasks: tasks.map { InputLayout.TaskHead(name: $0.name, outputs: $0.outputs) })
    }
}
