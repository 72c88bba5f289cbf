import MTLCore

/// Multi-head attention per task, the design's "multi-head attention" family.
///
/// The input becomes a set of tokens, one per feature field (a numeric value, a one-hot block or
/// an embedding, each through its own linear projection to d_model). A shared encoder of
/// pre-LayerNorm blocks, multi-head self-attention then an MLP, each with a residual connection
/// (Vaswani et al., NeurIPS 2017; pre-LN: Xiong et al., ICML 2020; field tokens as in
/// FT-Transformer, Gorishniy et al., NeurIPS 2021), runs over the tokens. Then each task has
/// learned queries that attend over the encoded tokens with their own multi-head attention:
/// task-specific attention pooling in the spirit of MTAN (Liu, Johns and Davison, CVPR 2019),
/// followed by the task's head.
public final class TaskAttentionModel: MultiTaskModel {
    public let store: ParameterStore
    public let maxRows: Int
    public let taskOutputs: [Int]
    let input: InputStage
    public var sparseLayers: [SparseLinear] { input.sparse.map { [$0] } ?? [] }
    let fields: [(start: Int, width: Int)]
    let d: Int
    let tokenWeights: [ParameterEntry]
    let tokenBiases: [ParameterEntry]
    let blocks: [EncoderBlock]
    let finalNorm: LayerNorm
    let pools: [TaskPooling]
    let heads: [Sequential]
    private let tokens: FloatBuffer
    private let encodedGradient: FloatBuffer
    private let inputGradient: FloatBuffer
    private var x: Matrix?
    private var outputs: [Matrix] = []

    init(_ config: ModelConfig, layout: InputLayout, maxRows: Int, store: ParameterStore, prefix: String) {
        self.store = store
        self.maxRows = maxRows
        taskOutputs = layout.tasks.map(\.outputs)
        input = InputStage(layout, projection: config.sparseProjection, maxRows: maxRows, store: store, prefix: prefix)
        var fields: [(Int, Int)] = []
        var offset = 0
        for w in layout.fieldWidths {
            fields.append((offset, w))
            offset += w
        }
        // The sparse block's projection is one more field.
        if input.width > input.baseWidth { fields.append((input.baseWidth, input.width - input.baseWidth)) }
        self.fields = fields
        let d = config.dModel
        self.d = d
        let f = fields.count
        tokenWeights = fields.enumerated().map { i, field in
            store.register("\(prefix)tokens.\(i).weight", shape: [d, field.1], initializer: .uniform(1 / Float(field.1).squareRoot()))
        }
        tokenBiases = fields.indices.map { store.register("\(prefix)tokens.\($0).bias", shape: [d], initializer: .uniform(1)) }
        blocks = (0..<config.attentionLayers).map {
            EncoderBlock("\(prefix)encoder.\($0)", d: d, heads: config.attentionHeads, feedForward: config.feedForward,
                         tokens: f, maxRows: maxRows, store: store)
        }
        finalNorm = LayerNorm("\(prefix)encoder.norm", size: d, maxRows: maxRows * f, store: store)
        pools = layout.tasks.map {
            TaskPooling("\(prefix)pool.\($0.name)", d: d, heads: config.attentionHeads, queries: config.queries, tokens: f,
                        maxRows: maxRows, store: store)
        }
        let pooled = config.queries * d
        heads = layout.tasks.map {
            makeMLP("\(prefix)head.\($0.name)", input: pooled, hidden: config.head, output: $0.outputs, config: config, maxRows: maxRows, store: store)
        }
        tokens = FloatBuffer(count: maxRows * f * d)
        encodedGradient = FloatBuffer(count: maxRows * f * d)
        inputGradient = FloatBuffer(count: maxRows * input.width)
    }

    public func forward(_ batch: BatchInput, context: ForwardContext) {
        let x = input.forward(batch)
        self.x = x
        let rows = x.rows, f = fields.count
        // token_f = x[:, field f] W_f^T + b_f, written to (rows, f, d)
        for (i, field) in fields.enumerated() {
            BLAS.linear(rows: rows, n: d, k: field.width, x: x.pointer + field.start, ldx: x.cols, weight: store.value(tokenWeights[i]),
                        ldw: field.width, bias: store.value(tokenBiases[i]), y: tokens.pointer + i * d, ldy: f * d)
        }
        var h = tokens.matrix(rows: rows * f, cols: d)
        for block in blocks { h = block.forward(h, context: context) }
        let encoded = finalNorm.forward(h, context: context)
        for t in pools.indices {
            let pooled = pools[t].forward(encoded, rows: rows)
            let o = heads[t].forward(pooled, context: context)
            if outputs.count < pools.count { outputs.append(o) } else { outputs[t] = o }
        }
    }

    public func output(_ t: Int) -> Matrix { outputs[t] }

    public func backward(_ gradient: (Int) -> Matrix) {
        guard let x = x else { preconditionFailure("backward before forward") }
        let rows = x.rows, f = fields.count
        let dEncoded = encodedGradient.matrix(rows: rows * f, cols: d)
        dEncoded.pointer.update(repeating: 0, count: dEncoded.count)
        for t in pools.indices {
            let dPooled = heads[t].backward(gradient(t), needsInputGradient: true)
            pools[t].backward(dPooled, into: dEncoded)
        }
        var g = finalNorm.backward(dEncoded, needsInputGradient: true)
        for block in blocks.reversed() { g = block.backward(g) }
        // Token projections: dW_f += dTok_f^T x_f, db_f += sum dTok_f, dx_f = dTok_f W_f
        let dx = inputGradient.matrix(rows: rows, cols: input.width)
        for (i, field) in fields.enumerated() {
            let db = store.gradient(tokenBiases[i])
            for r in 0..<rows { VectorKernels.add(g.pointer + (r * f + i) * d, into: db, count: d) }
            BLAS.gemm(transA: true, transB: false, m: d, n: field.width, k: rows, a: g.pointer + i * d, lda: f * d,
                      b: x.pointer + field.start, ldb: x.cols, beta: 1, c: store.gradient(tokenWeights[i]), ldc: field.width)
            if input.needsGradient {
                BLAS.gemm(transA: false, transB: false, m: rows, n: field.width, k: d, a: g.pointer + i * d, lda: f * d,
                          b: store.value(tokenWeights[i]), ldb: field.width, beta: 0, c: dx.pointer + field.start, ldc: input.width)
            }
        }
        if input.needsGradient { input.backward(dx) }
    }
}

/// The keys' bias adds the same q.b to every score of a query, and softmax ignores a constant
/// shift, so its true gradient is zero; what backward computes there is rounding noise, which Adam
/// would scale up to full steps that differ with the number of ranks. It is set to exactly zero.
func zeroKeyBiasGradient(_ layer: Linear, offset: Int, d: Int) {
    (layer.store.gradient(layer.bias) + offset).update(repeating: 0, count: d)
}

/// A pre-LayerNorm transformer block over (rows * tokens, d):
/// h1 = h + W_o MHSA(LN1(h)); out = h1 + FFN(LN2(h1)), FFN = Linear -> GELU -> Linear.
final class EncoderBlock {
    let d: Int, heads: Int, tokens: Int
    let norm1: LayerNorm, qkv: Linear, projection: Linear
    let norm2: LayerNorm, ff: Sequential
    private let attended: FloatBuffer, probabilities: FloatBuffer
    private let residual: FloatBuffer, output: FloatBuffer
    private let dAttended: FloatBuffer, dQKV: FloatBuffer, dResidual: FloatBuffer, dInput: FloatBuffer, scratch: FloatBuffer
    private var qkvOut: Matrix?
    private var rows = 0

    init(_ name: String, d: Int, heads: Int, feedForward: Int, tokens: Int, maxRows: Int, store: ParameterStore) {
        self.d = d; self.heads = heads; self.tokens = tokens
        let n = maxRows * tokens
        norm1 = LayerNorm("\(name).norm1", size: d, maxRows: n, store: store)
        qkv = Linear("\(name).qkv", inputSize: d, outputSize: 3 * d, maxRows: n, store: store)
        projection = Linear("\(name).projection", inputSize: d, outputSize: d, maxRows: n, store: store)
        norm2 = LayerNorm("\(name).norm2", size: d, maxRows: n, store: store)
        ff = Sequential([Linear("\(name).ff.0", inputSize: d, outputSize: feedForward, maxRows: n, store: store),
                         GELU(size: feedForward, maxRows: n),
                         Linear("\(name).ff.1", inputSize: feedForward, outputSize: d, maxRows: n, store: store)], inputSize: d)
        attended = FloatBuffer(count: n * d)
        probabilities = FloatBuffer(count: maxRows * heads * tokens * tokens)
        residual = FloatBuffer(count: n * d)
        output = FloatBuffer(count: n * d)
        dAttended = FloatBuffer(count: n * d)
        dQKV = FloatBuffer(count: n * 3 * d)
        dResidual = FloatBuffer(count: n * d)
        dInput = FloatBuffer(count: n * d)
        scratch = FloatBuffer(count: tokens)
    }

    func forward(_ h: Matrix, context: ForwardContext) -> Matrix {
        rows = h.rows / tokens
        let n = h.rows
        let q = qkv.forward(norm1.forward(h, context: context), context: context)
        qkvOut = q
        for r in 0..<rows {
            let base = q.pointer + r * tokens * 3 * d
            AttentionKernel.forward(q: base, qStride: 3 * d, k: base + d, v: base + 2 * d, kvStride: 3 * d,
                                    nq: tokens, nk: tokens, d: d, heads: heads,
                                    out: attended.pointer + r * tokens * d, outStride: d,
                                    probabilities: probabilities.pointer + r * heads * tokens * tokens)
        }
        let p = projection.forward(attended.matrix(rows: n, cols: d), context: context)
        let h1 = residual.matrix(rows: n, cols: d)
        for i in 0..<(n * d) { h1.pointer[i] = h.pointer[i] + p.pointer[i] }
        let f = ff.forward(norm2.forward(h1, context: context), context: context)
        let out = output.matrix(rows: n, cols: d)
        for i in 0..<(n * d) { out.pointer[i] = h1.pointer[i] + f.pointer[i] }
        return out
    }

    func backward(_ dOut: Matrix) -> Matrix {
        let n = dOut.rows
        guard let q = qkvOut else { preconditionFailure("EncoderBlock.backward before forward") }
        // out = h1 + FFN(LN2(h1))
        let dh1 = dResidual.matrix(rows: n, cols: d)
        dh1.pointer.update(from: dOut.pointer, count: n * d)
        let dNorm2 = norm2.backward(ff.backward(dOut, needsInputGradient: true), needsInputGradient: true)
        VectorKernels.add(dNorm2.pointer, into: dh1.pointer, count: n * d)
        // h1 = h + W_o attention(QKV(LN1(h)))
        let dAtt = projection.backward(dh1, needsInputGradient: true)
        let dq = dQKV.matrix(rows: n, cols: 3 * d)
        dq.pointer.update(repeating: 0, count: n * 3 * d)
        for r in 0..<rows {
            let base = q.pointer + r * tokens * 3 * d, dBase = dq.pointer + r * tokens * 3 * d
            AttentionKernel.backward(dOut: dAtt.pointer + r * tokens * d, outStride: d, q: base, qStride: 3 * d, k: base + d, v: base + 2 * d,
                                     kvStride: 3 * d, nq: tokens, nk: tokens, d: d, heads: heads,
                                     probabilities: probabilities.pointer + r * heads * tokens * tokens,
                                     dq: dBase, dk: dBase + d, dv: dBase + 2 * d, scratch: scratch.pointer)
        }
        let dNorm1 = norm1.backward(qkv.backward(dq, needsInputGradient: true), needsInputGradient: true)
        zeroKeyBiasGradient(qkv, offset: d, d: d)
        let dh = dInput.matrix(rows: n, cols: d)
        for i in 0..<(n * d) { dh.pointer[i] = dh1.pointer[i] + dNorm1.pointer[i] }
        return dh
    }
}

/// A task's learned queries attending over the encoded tokens: keys and values are the task's
/// own projection of the tokens; the pooled vectors of all queries form the head's input.
final class TaskPooling {
    let d: Int, heads: Int, queries: Int, tokens: Int
    let queryVectors: ParameterEntry
    let keyValue: Linear
    unowned let store: ParameterStore
    private let pooled: FloatBuffer, probabilities: FloatBuffer, dKeyValue: FloatBuffer, scratch: FloatBuffer
    private var kv: Matrix?
    private var rows = 0

    init(_ name: String, d: Int, heads: Int, queries: Int, tokens: Int, maxRows: Int, store: ParameterStore) {
        self.d = d; self.heads = heads; self.queries = queries; self.tokens = tokens; self.store = store
        queryVectors = store.register("\(name).queries", shape: [queries, d], initializer: .normal(std: 1))
        keyValue = Linear("\(name).kv", inputSize: d, outputSize: 2 * d, maxRows: maxRows * tokens, store: store)
        pooled = FloatBuffer(count: maxRows * queries * d)
        probabilities = FloatBuffer(count: maxRows * heads * queries * tokens)
        dKeyValue = FloatBuffer(count: maxRows * tokens * 2 * d)
        scratch = FloatBuffer(count: tokens)
    }

    func forward(_ encoded: Matrix, rows: Int) -> Matrix {
        self.rows = rows
        let kv = keyValue.forward(encoded, context: .evaluation)
        self.kv = kv
        let q = store.value(queryVectors)
        for r in 0..<rows {
            let base = kv.pointer + r * tokens * 2 * d
            AttentionKernel.forward(q: q, qStride: d, k: base, v: base + d, kvStride: 2 * d, nq: queries, nk: tokens, d: d, heads: heads,
                                    out: pooled.pointer + r * queries * d, outStride: d,
                                    probabilities: probabilities.pointer + r * heads * queries * tokens)
        }
        return pooled.matrix(rows: rows, cols: queries * d)
    }

    /// Adds this task's gradient with respect to the encoded tokens into `dEncoded`.
    func backward(_ dPooled: Matrix, into dEncoded: Matrix) {
        guard let kv = kv else { preconditionFailure("TaskPooling.backward before forward") }
        let dkv = dKeyValue.matrix(rows: rows * tokens, cols: 2 * d)
        dkv.pointer.update(repeating: 0, count: dkv.count)
        let q = store.value(queryVectors), dq = store.gradient(queryVectors)
        for r in 0..<rows {
            let base = kv.pointer + r * tokens * 2 * d, dBase = dkv.pointer + r * tokens * 2 * d
            AttentionKernel.backward(dOut: dPooled.pointer + r * queries * d, outStride: d, q: q, qStride: d, k: base, v: base + d,
                                     kvStride: 2 * d, nq: queries, nk: tokens, d: d, heads: heads,
                                     probabilities: probabilities.pointer + r * heads * queries * tokens,
                                     dq: dq, dk: dBase, dv: dBase + d, scratch: scratch.pointer)
        }
        let g = keyValue.backward(dkv, needsInputGradient: true)
        zeroKeyBiasGradient(keyValue, offset: 0, d: d)
        VectorKernels.add(g.pointer, into: dEncoded.pointer, count: dEncoded.count)
    }
}
