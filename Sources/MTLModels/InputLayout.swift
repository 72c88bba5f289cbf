/// What the models need to know of their input and tasks: the widths of the dense block and its
/// fields, the categorical columns' buckets in embedding mode, the sparse block's width, and each
/// task's name and output width. (The fitted preprocessing, from which it is derived, stays in
/// the data layer.)
public struct InputLayout: Sendable, Equatable {
    /// Width of the dense input (numeric columns, then one-hot blocks).
    public var denseWidth: Int
    /// The dense input's fields in order (one per numeric column, one per categorical column),
    /// each as its width in the model's input after embeddings are looked up.
    public var fieldWidths: [Int]
    /// Embedding mode: the buckets of each categorical column and the embedding width; nil in
    /// one-hot mode (or without categorical columns).
    public var embeddings: (buckets: [Int], dim: Int)?
    /// Width of the sparse input block (text, sparse numbers); 0 when there is none.
    public var sparseWidth: Int
    /// Each task's head: its name (in parameter names) and output width.
    public var tasks: [TaskHead]

    public struct TaskHead: Sendable, Equatable {
        public var name: String
        public var outputs: Int
        public init(name: String, outputs: Int) { self.name = name; self.outputs = outputs }
    }

    public init(denseWidth: Int, fieldWidths: [Int], embeddings: (buckets: [Int], dim: Int)?, sparseWidth: Int, tasks: [TaskHead]) {
        self.denseWidth = denseWidth; self.fieldWidths = fieldWidths; self.embeddings = embeddings
        self.sparseWidth = sparseWidth; self.tasks = tasks
    }

    public var taskNames: [String] { tasks.map(\.name) }
    public var taskOutputs: [Int] { tasks.map(\.outputs) }

    /// Width of the model's input after embeddings are looked up (before the sparse projection).
    public var inputWidth: Int { denseWidth + (embeddings.map { $0.buckets.count * $0.dim } ?? 0) }

    public static func == (a: InputLayout, b: InputLayout) -> Bool {
        a.denseWidth == b.denseWidth && a.fieldWidths == b.fieldWidths && a.embeddings?.buckets == b.embeddings?.buckets
            && a.embeddings?.dim == b.embeddings?.dim && a.sparseWidth == b.sparseWidth && a.tasks == b.tasks
    }
}
