import MTLCore

// Each architecture's forward pass for inference, as graph nodes (InferenceGraph). A lowering
// reads the same layers and parameters as the architecture's `forward`, in the same order of
// operations, so the engine that runs the graph in float gives the same numbers.

extension MultiTaskModel {
    /// The model's inference graph for `layout`.
    public func inferenceGraph(layout: InputLayout) -> InferenceGraph {
        let b = GraphBuilder(denseWidth: layout.denseWidth, categoryColumns: layout.embeddings?.buckets.count ?? 0,
                             sparseWidth: layout.sparseWidth)
        b.setOutputs(lower(b))
        return b.graph
    }
}

extension InputStage {
    func lower(_ b: GraphBuilder) -> InferenceGraph.Value {
        var x = b.input
        if let e = embeddings {
            x = b.add(.embed(dense: x, tables: e.tables.map(b.parameter), dim: e.dim), width: e.outputSize)
        }
        guard let s = sparse else { return x }
        let p = b.add(.sparse(weight: b.parameter(s.weight), bias: b.parameter(s.bias)), width: s.outputSize)
        return b.add(.concat(inputs: [x, p]), width: width)
    }
}

/// A layer's nodes; `tokens` > 1 applies a Linear to each token's block of the row.
func lowerLayer(_ layer: Layer, _ x: InferenceGraph.Value, _ b: GraphBuilder, tokens: Int = 1) -> InferenceGraph.Value {
    switch layer {
    case let s as Sequential:
        return s.layers.reduce(x) { lowerLayer($1, $0, b, tokens: tokens) }
    case let l as Linear:
        return b.add(.linear(x: x, weight: b.parameter(l.weight), bias: b.parameter(l.bias), tokens: tokens), width: tokens * l.outputSize)
    case let g as GroupedLinear:
        precondition(tokens == 1)
        return b.add(.groupedLinear(x: x, weight: b.parameter(g.weight), bias: b.parameter(g.bias), groups: g.groups), width: g.outputSize)
    case is ReLU:
        return b.add(.relu(x: x), width: b.width(x))
    case is GELU:
        return b.add(.gelu(x: x), width: b.width(x))
    case let n as LayerNorm:
        return b.add(.layerNorm(x: x, gain: b.parameter(n.gain), bias: b.parameter(n.bias), size: n.inputSize, epsilon: n.epsilon), width: b.width(x))
    case is Dropout:
        return x
    default:
        preconditionFailure("no inference lowering for \(type(of: layer))")
    }
}

extension HardSharingModel {
    public func lower(_ b: GraphBuilder) -> [[InferenceGraph.Value]] {
        let h = lowerLayer(trunk, input.lower(b), b)
        return heads.map { [lowerLayer($0, h, b)] }
    }
}

extension TowerModel {
    public func lower(_ b: GraphBuilder) -> [[InferenceGraph.Value]] {
        let shared = inputs.count == 1 ? inputs[0].lower(b) : nil
        let hidden = towers.indices.map { t in lowerLayer(towers[t], shared ?? inputs[t].lower(b), b) }
        if fused {
            let cat = b.add(.concat(inputs: hidden), width: hidden.count * width)
            return heads.map { [lowerLayer($0, cat, b)] }
        }
        return heads.indices.map { [lowerLayer(heads[$0], hidden[$0], b)] }
    }
}

extension ExtractionModel {
    public func lower(_ b: GraphBuilder) -> [[InferenceGraph.Value]] {
        let x = input.lower(b)
        var streams: [InferenceGraph.Value]? = nil
        for level in levels { streams = level.lower(b, x: x, streams: streams) }
        let last = streams ?? []
        return towers.indices.map { [lowerLayer(towers[$0], last[$0], b)] }
    }
}

extension ExtractionLevel {
    /// The level's output streams (tasks', then the shared one below the last level).
    func lower(_ b: GraphBuilder, x: InferenceGraph.Value, streams: [InferenceGraph.Value]?) -> [InferenceGraph.Value] {
        let n = tasks + 1
        let inputs = (0..<n).map { streams?[$0] ?? x }
        let expertOutputs = (0..<n).map { s in experts[s].map { lowerLayer($0, inputs[s], b) } }
        return selections.enumerated().map { o, sel in
            let logits = lowerLayer(gates[o], inputs[o], b)
            let p = b.add(.softmax(x: logits), width: sel.count)
            let sources = sel.map { InferenceGraph.Source(expertOutputs[$0.stream]!, start: $0.index * width) }
            return b.add(.mixture(gate: p, sources: sources, width: width), width: width)
        }
    }
}

extension CrossStitchModel {
    public func lower(_ b: GraphBuilder) -> [[InferenceGraph.Value]] {
        let x = input.lower(b)
        let t = heads.count
        var columns = [InferenceGraph.Value](repeating: x, count: t)
        for l in units.indices {
            let unitOutputs = (0..<t).map { lowerLayer(units[l][$0], columns[$0], b) }
            let alpha = b.parameter(stitches[l])
            columns = (0..<t).map { b.add(.stitch(alpha: alpha, row: $0, inputs: unitOutputs), width: widths[l]) }
        }
        return (0..<t).map { [lowerLayer(heads[$0], columns[$0], b)] }
    }
}

extension EnsembleModel {
    public func lower(_ b: GraphBuilder) -> [[InferenceGraph.Value]] {
        let perMember = models.map { $0.lower(b) }
        return taskOutputs.indices.map { t in perMember.map { $0[t][0] } }
    }
}

extension TaskAttentionModel {
    public func lower(_ b: GraphBuilder) -> [[InferenceGraph.Value]] {
        let x = input.lower(b)
        let f = fields.count
        let tokens = fields.enumerated().map { i, field -> InferenceGraph.Value in
            let s = b.add(.slice(x: x, start: field.start, width: field.width), width: field.width)
            return b.add(.linear(x: s, weight: b.parameter(tokenWeights[i]), bias: b.parameter(tokenBiases[i]), tokens: 1), width: d)
        }
        var h = b.add(.concat(inputs: tokens), width: f * d)
        for block in blocks { h = block.lower(b, h) }
        let encoded = lowerLayer(finalNorm, h, b)
        return pools.indices.map { t in
            let kv = lowerLayer(pools[t].keyValue, encoded, b, tokens: f)
            let p = pools[t]
            let pooled = b.add(.pooling(x: kv, queries: b.parameter(p.queryVectors), count: p.queries, tokens: f, d: d, heads: p.heads),
                               width: p.queries * d)
            return [lowerLayer(heads[t], pooled, b)]
        }
    }
}

extension EncoderBlock {
    func lower(_ b: GraphBuilder, _ h: InferenceGraph.Value) -> InferenceGraph.Value {
        let q = lowerLayer(qkv, lowerLayer(norm1, h, b), b, tokens: tokens)
        let attended = b.add(.selfAttention(x: q, tokens: tokens, d: d, heads: heads), width: tokens * d)
        let h1 = b.add(.add(a: h, b: lowerLayer(projection, attended, b, tokens: tokens)), width: tokens * d)
        let f = lowerLayer(ff, lowerLayer(norm2, h1, b), b, tokens: tokens)
        return b.add(.add(a: h1, b: f), width: tokens * d)
    }
}
