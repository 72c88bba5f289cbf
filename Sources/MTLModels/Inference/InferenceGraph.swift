import MTLCore

/// A trained model's forward pass for inference, as a list of row-wise operations over named
/// parameters: what the model computes, without its training buffers, gradients or dropout.
/// Every architecture lowers itself to one (`MultiTaskModel.lower`); three consumers read it:
/// the fast in-process engine (float or int8 weights), the ONNX exporter, and the model file,
/// whose tensors are the parameters the graph names.
///
/// A value is a (rows, width) float matrix, row-major; value 0 is the dense input. The
/// categorical indices (embedding mode) and the sparse block are the graph's other inputs.
/// Rows never mix: every operation maps row r of its inputs to row r of its output.
public struct InferenceGraph: Sendable, Equatable, Codable {
    public typealias Value = Int

    public enum Op: Sendable, Equatable, Codable {
        /// The dense input's row, then per categorical column its embedding row (tables[c] is (buckets, dim)).
        case embed(dense: Value, tables: [String], dim: Int)
        /// The sparse block times `weight` (width, out) plus `bias` (an embedding bag with weights).
        case sparse(weight: String, bias: String)
        /// Columns start ..< start + width of x.
        case slice(x: Value, start: Int, width: Int)
        case concat(inputs: [Value])
        /// x W^T + b, W (out, in), applied to each of `tokens` consecutive blocks of x's row.
        case linear(x: Value, weight: String, bias: String, tokens: Int)
        /// Block-diagonal: group g of x (width in) times W[g] (out, in) plus b[g]; W (groups, out, in).
        case groupedLinear(x: Value, weight: String, bias: String, groups: Int)
        case relu(x: Value)
        /// x Phi(x), with the exact (erf) form.
        case gelu(x: Value)
        /// LayerNorm over each block of `size` columns (a token), with gain and bias of that size.
        case layerNorm(x: Value, gain: String, bias: String, size: Int, epsilon: Float)
        /// Softmax over the row.
        case softmax(x: Value)
        /// sum_j p[j] * sources[j] where p is the gate's row and each source is a `width`-wide
        /// column block (value, start).
        case mixture(gate: Value, sources: [Source], width: Int)
        /// sum_u alpha[row, u] inputs[u], alpha a (T, T) parameter (cross-stitch).
        case stitch(alpha: String, row: Int, inputs: [Value])
        case add(a: Value, b: Value)
        /// Multi-head self-attention over `tokens` tokens of width d per row, from a row holding
        /// per token [q | k | v] (3 d wide); out (tokens * d).
        case selfAttention(x: Value, tokens: Int, d: Int, heads: Int)
        /// Learned queries (queries, d) attending over `tokens` tokens per row, from a row holding
        /// per token [k | v] (2 d wide); out (queries * d).
        case pooling(x: Value, queries: String, count: Int, tokens: Int, d: Int, heads: Int)
    }

    public struct Source: Sendable, Equatable, Codable {
        public var value: Value
        public var start: Int
        public init(_ value: Value, start: Int) { self.value = value; self.start = start }
    }

    public struct Node: Sendable, Equatable, Codable {
        public var op: Op
        /// The value it writes (always the next one: node i writes value i + 1).
        public var output: Value
        public var width: Int
    }

    public var denseWidth: Int
    /// Categorical columns read by `embed`, 0 without embeddings.
    public var categoryColumns: Int
    /// The sparse block's width, 0 without one.
    public var sparseWidth: Int
    public var nodes: [Node] = []
    /// Per task, per ensemble member, the value holding its logits (or standardised values).
    public var outputs: [[Value]] = []
    /// Every parameter the graph reads, with its shape, in the order first read.
    public var parameters: [Parameter] = []

    public struct Parameter: Sendable, Equatable, Codable {
        public var name: String
        public var shape: [Int]
    }

    public init(denseWidth: Int, categoryColumns: Int, sparseWidth: Int) {
        self.denseWidth = denseWidth
        self.categoryColumns = categoryColumns
        self.sparseWidth = sparseWidth
    }

    /// Width of every value, value 0 (the dense input) first.
    public var widths: [Int] { [denseWidth] + nodes.map(\.width) }

    public func width(_ v: Value) -> Int { v == 0 ? denseWidth : nodes[v - 1].width }
}

/// Builds a graph: each call appends a node and returns its value.
public final class GraphBuilder {
    public private(set) var graph: InferenceGraph
    private var known: Set<String> = []

    public init(denseWidth: Int, categoryColumns: Int, sparseWidth: Int) {
        graph = InferenceGraph(denseWidth: denseWidth, categoryColumns: categoryColumns, sparseWidth: sparseWidth)
    }

    public var input: InferenceGraph.Value { 0 }

    func parameter(_ e: ParameterEntry) -> String {
        if known.insert(e.name).inserted { graph.parameters.append(.init(name: e.name, shape: e.shape)) }
        return e.name
    }

    @discardableResult
    func add(_ op: InferenceGraph.Op, width: Int) -> InferenceGraph.Value {
        let v = graph.nodes.count + 1
        graph.nodes.append(.init(op: op, output: v, width: width))
        return v
    }

    func width(_ v: InferenceGraph.Value) -> Int { graph.width(v) }

    func setOutputs(_ outputs: [[InferenceGraph.Value]]) { graph.outputs = outputs }
}

extension InferenceGraph {
    /// Multiply-adds of one row's forward pass through the dense products (linear layers, grouped
    /// layers, attention scores and mixtures); the sparse block's products, which depend on the
    /// row's nonzeros, are not counted.
    public var forwardMultiplyAdds: Int {
        let shapes = Dictionary(parameters.map { ($0.name, $0.shape) }, uniquingKeysWith: { a, _ in a })
        var total = 0
        for node in nodes {
            switch node.op {
            case .linear(_, let w, _, let tokens): total += tokens * (shapes[w]?.reduce(1, *) ?? 0)
            case .groupedLinear(_, let w, _, _): total += shapes[w]?.reduce(1, *) ?? 0
            case .selfAttention(_, let tokens, let d, _): total += 2 * tokens * tokens * d
            case .pooling(_, _, let count, let tokens, let d, _): total += 2 * count * tokens * d
            case .mixture(_, let sources, let width): total += sources.count * width
            default: break
            }
        }
        return total
    }
}
