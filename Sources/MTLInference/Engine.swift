#if canImport(Glibc)
import Glibc
#endif
import CKernels
import MTLCore
import MTLModels

/// One Linear's weights ready for the engine: float (out, in) as trained, or int8 packed for
/// the SIMD kernel with per-channel scales.
final class LinearWeights {
    let inputs: Int, outputs: Int
    let bias: Storage<Float>
    let weight: Storage<Float>?
    let packed: Storage<Int8>?, scale: Storage<Float>?, sum: Storage<Int32>?

    /// Weight rows `rows` of `w` (a whole Linear, or one group of a grouped one).
    init(_ w: ModelTensor, rows: Range<Int>, bias: [Float]) {
        let n = rows.count, k = w.columns
        outputs = n; inputs = k
        self.bias = Storage(bias, zero: 0)
        if let q = w.int8, let s = w.scale {
            let slice = Array(q[(rows.lowerBound * k)..<(rows.upperBound * k)])
            let packed = Storage<Int8>(count: Int(mtl_q8_packed_size(Int32(k), Int32(n))), repeating: 0)
            let sum = Storage<Int32>(count: n, repeating: 0)
            slice.withUnsafeBufferPointer { mtl_q8_pack($0.baseAddress, Int32(k), Int32(n), packed.pointer, sum.pointer) }
            self.packed = packed; self.sum = sum
            scale = Storage(Array(s[rows]), zero: 0)
            weight = nil
        } else {
            let f = w.float ?? []
            weight = Storage(Array(f[(rows.lowerBound * k)..<(rows.upperBound * k)]), zero: 0)
            packed = nil; scale = nil; sum = nil
        }
    }

    var paddedInputs: Int { Int(mtl_q8_padded_k(Int32(inputs))) }
    var paddedOutputs: Int { Int(mtl_q8_padded_n(Int32(outputs))) }

    /// y (m, outputs; row stride ldy) = x (m, inputs; row stride ldx) W^T + b.
    func apply(_ x: UnsafePointer<Float>, ldx: Int, rows m: Int, _ y: UnsafeMutablePointer<Float>, ldy: Int, scratch: Workspace) {
        if let w = weight {
            BLAS.linear(rows: m, n: outputs, k: inputs, x: x, ldx: ldx, weight: w.pointer, ldw: inputs, bias: bias.pointer, y: y, ldy: ldy)
        } else if let p = packed, let s = scale, let sum = sum {
            mtl_q8_linear_rows(x, Int32(ldx), Int32(m), Int32(inputs), p.pointer, Int32(outputs), s.pointer, sum.pointer, bias.pointer,
                               scratch.quantized.pointer, scratch.accumulators.pointer, y, Int32(ldy))
        }
    }
}

/// What can go wrong with a request's encoded input (the preprocessing should never produce it).
public struct InferenceInputError: Error, CustomStringConvertible {
    public var description: String
}

/// A model compiled for inference: its graph with the weights laid out for the engine, shared
/// read-only by any number of workspaces (one per request in flight).
public final class CompiledModel: @unchecked Sendable {
    public let graph: InferenceGraph
    public let quantization: Quantization
    /// Rows a workspace holds; larger batches run in chunks.
    public let maxRows: Int
    let steps: [Step]
    let categoryBuckets: [Int]

    enum Step {
        case embed(dense: Int, tables: [Table], dim: Int)
        case sparse(Table, bias: Storage<Float>)
        case slice(Int, start: Int, width: Int)
        case concat([Int])
        case linear(Int, LinearWeights, tokens: Int)
        case grouped(Int, [LinearWeights])
        case relu(Int)
        case gelu(Int)
        case layerNorm(Int, gain: Storage<Float>, bias: Storage<Float>, size: Int, epsilon: Float)
        case softmax(Int)
        case mixture(gate: Int, sources: [InferenceGraph.Source], width: Int)
        case stitch(alpha: Storage<Float>, inputs: [Int])
        case add(Int, Int)
        case selfAttention(Int, tokens: Int, d: Int, heads: Int)
        case pooling(Int, queries: Storage<Float>, count: Int, tokens: Int, d: Int, heads: Int)
    }

    /// `tensors` holds every parameter the graph names, in the shapes it names them.
    public init(graph: InferenceGraph, tensors: [String: ModelTensor], quantization: Quantization, maxRows: Int = 256) throws {
        self.graph = graph
        self.quantization = quantization
        self.maxRows = max(1, maxRows)
        func tensor(_ name: String) throws -> ModelTensor {
            guard let t = tensors[name] else { throw InferenceInputError(description: "the model has no tensor '\(name)'") }
            return t
        }
        func floats(_ name: String) throws -> [Float] { try tensor(name).floatValues }
        var buckets: [Int] = []
        var steps: [Step] = []
        for node in graph.nodes {
            switch node.op {
            case .embed(let dense, let names, let dim):
                let tables = try names.map { Table(try tensor($0)) }
                buckets = tables.map(\.rows)
                steps.append(.embed(dense: dense, tables: tables, dim: dim))
            case .sparse(let w, let b):
                steps.append(.sparse(Table(try tensor(w)), bias: Storage(try floats(b), zero: 0)))
            case .slice(let x, let start, let width): steps.append(.slice(x, start: start, width: width))
            case .concat(let xs): steps.append(.concat(xs))
            case .linear(let x, let w, let b, let tokens):
                let wt = try tensor(w)
                steps.append(.linear(x, LinearWeights(wt, rows: 0..<wt.rows, bias: try floats(b)), tokens: tokens))
            case .groupedLinear(let x, let w, let b, let groups):
                let wt = try tensor(w), bias = try floats(b)
                let out = wt.rows / max(1, groups)
                steps.append(.grouped(x, (0..<groups).map { g in
                    LinearWeights(wt, rows: (g * out)..<((g + 1) * out), bias: Array(bias[(g * out)..<((g + 1) * out)]))
                }))
            case .relu(let x): steps.append(.relu(x))
            case .gelu(let x): steps.append(.gelu(x))
            case .layerNorm(let x, let g, let b, let size, let eps):
                steps.append(.layerNorm(x, gain: Storage(try floats(g), zero: 0), bias: Storage(try floats(b), zero: 0), size: size, epsilon: eps))
            case .softmax(let x): steps.append(.softmax(x))
            case .mixture(let gate, let sources, let width): steps.append(.mixture(gate: gate, sources: sources, width: width))
            case .stitch(let alpha, let row, let inputs):
                let a = try floats(alpha), t = inputs.count
                steps.append(.stitch(alpha: Storage(Array(a[(row * t)..<((row + 1) * t)]), zero: 0), inputs: inputs))
            case .add(let a, let b): steps.append(.add(a, b))
            case .selfAttention(let x, let tokens, let d, let heads): steps.append(.selfAttention(x, tokens: tokens, d: d, heads: heads))
            case .pooling(let x, let q, let count, let tokens, let d, let heads):
                steps.append(.pooling(x, queries: Storage(try floats(q), zero: 0), count: count, tokens: tokens, d: d, heads: heads))
            }
        }
        self.steps = steps
        categoryBuckets = buckets
    }

    public func makeWorkspace() -> Workspace { Workspace(self) }

    /// The instruction set of the int8 kernels on this machine.
    public static var int8ISA: String { String(cString: mtl_q8_isa()) }

    /// Runs the graph on the first `rows` rows of the workspace's inputs (rows <= maxRows);
    /// afterwards `workspace.output(task, member)` holds each output's logits.
    public func run(_ ws: Workspace, rows: Int) throws {
        precondition(rows >= 0 && rows <= maxRows, "run: \(rows) rows, the workspace holds \(maxRows)")
        guard rows > 0 else { return }
        try checkInputs(ws, rows: rows)
        for (i, step) in steps.enumerated() {
            let out = ws.values[i + 1].pointer, width = graph.nodes[i].width
            func v(_ x: Int) -> UnsafeMutablePointer<Float> { ws.values[x].pointer }
            switch step {
            case .embed(let dense, let tables, let dim):
                let dw = graph.width(dense), c = tables.count
                for r in 0..<rows {
                    let row = out + r * width
                    row.update(from: v(dense) + r * dw, count: dw)
                    for (j, t) in tables.enumerated() { t.copyRow(Int(ws.categories.pointer[r * c + j]), into: row + dw + j * dim) }
                }
            case .sparse(let table, let bias):
                let s = ws.sparse
                for r in 0..<rows {
                    let row = out + r * width
                    row.update(from: bias.pointer, count: width)
                    for k in s.rowStart[r]..<s.rowStart[r + 1] { table.addRow(Int(s.index[k]), times: s.value[k], into: row) }
                }
            case .slice(let x, let start, let w):
                let xw = graph.width(x)
                for r in 0..<rows { (out + r * w).update(from: v(x) + r * xw + start, count: w) }
            case .concat(let xs):
                var offset = 0
                for x in xs {
                    let xw = graph.width(x)
                    for r in 0..<rows { (out + r * width + offset).update(from: v(x) + r * xw, count: xw) }
                    offset += xw
                }
            case .linear(let x, let w, let tokens):
                w.apply(v(x), ldx: w.inputs, rows: rows * tokens, out, ldy: w.outputs, scratch: ws)
            case .grouped(let x, let groups):
                let xw = graph.width(x)
                for (g, w) in groups.enumerated() {
                    w.apply(v(x) + g * w.inputs, ldx: xw, rows: rows, out + g * w.outputs, ldy: width, scratch: ws)
                }
            case .relu(let x): VectorKernels.relu(v(x), out, count: rows * width)
            case .gelu(let x):
                let p = v(x)
                for i in 0..<(rows * width) { let a = p[i]; out[i] = 0.5 * a * (1 + erff(a * 0.70710678118654752)) }
            case .layerNorm(let x, let gain, let bias, let n, let epsilon):
                LayerNorm.normalize(v(x), out, rows: rows * width / n, n: n, gain: gain.pointer, bias: bias.pointer, epsilon: epsilon)
            case .softmax(let x):
                let k = width, z0 = v(x)
                for r in 0..<rows {
                    let z = z0 + r * k, p = out + r * k
                    var m = -Float.infinity
                    for j in 0..<k { m = max(m, z[j]) }
                    var sum: Float = 0
                    for j in 0..<k { let e = expf(z[j] - m); p[j] = e; sum += e }
                    for j in 0..<k { p[j] /= sum }
                }
            case .mixture(let gate, let sources, let w):
                let p = v(gate), k = sources.count
                out.update(repeating: 0, count: rows * w)
                for (j, s) in sources.enumerated() {
                    let sw = graph.width(s.value), base = v(s.value)
                    for r in 0..<rows {
                        let g = p[r * k + j], src = base + r * sw + s.start, dst = out + r * w
                        for c in 0..<w { dst[c] += g * src[c] }
                    }
                }
            case .stitch(let alpha, let inputs):
                let n = rows * width
                out.update(repeating: 0, count: n)
                for (u, x) in inputs.enumerated() {
                    let a = alpha.pointer[u], src = v(x)
                    for i in 0..<n { out[i] += a * src[i] }
                }
            case .add(let a, let b):
                let pa = v(a), pb = v(b)
                for i in 0..<(rows * width) { out[i] = pa[i] + pb[i] }
            case .selfAttention(let x, let tokens, let d, let heads):
                let q = v(x)
                for r in 0..<rows {
                    let base = q + r * tokens * 3 * d
                    AttentionKernel.forward(q: base, qStride: 3 * d, k: base + d, v: base + 2 * d, kvStride: 3 * d,
                                            nq: tokens, nk: tokens, d: d, heads: heads,
                                            out: out + r * tokens * d, outStride: d, probabilities: ws.attention.pointer)
                }
            case .pooling(let x, let queries, let count, let tokens, let d, let heads):
                let kv = v(x)
                for r in 0..<rows {
                    let base = kv + r * tokens * 2 * d
                    AttentionKernel.forward(q: queries.pointer, qStride: d, k: base, v: base + d, kvStride: 2 * d, nq: count, nk: tokens,
                                            d: d, heads: heads, out: out + r * count * d, outStride: d, probabilities: ws.attention.pointer)
                }
            }
        }
    }

    /// Category indices and sparse positions within the tables (an encoder never produces
    /// others; checked so that no input can read outside them).
    func checkInputs(_ ws: Workspace, rows: Int) throws {
        let c = categoryBuckets.count
        for r in 0..<rows {
            for j in 0..<c {
                let k = Int(ws.categories.pointer[r * c + j])
                guard k >= 0 && k < categoryBuckets[j] else {
                    throw InferenceInputError(description: "row \(r): category index \(k) of column \(j) is outside 0..<\(categoryBuckets[j])")
                }
            }
        }
        guard graph.sparseWidth > 0 else { return }
        let s = ws.sparse
        guard s.rows >= rows else { throw InferenceInputError(description: "the sparse block has \(s.rows) rows, the batch \(rows)") }
        for k in 0..<s.rowStart[rows] where s.index[k] < 0 || Int(s.index[k]) >= graph.sparseWidth {
            throw InferenceInputError(description: "sparse position \(s.index[k]) is outside 0..<\(graph.sparseWidth)")
        }
    }
}

/// A request's memory: every value of the graph for `maxRows` rows, the inputs and the kernels'
/// scratch, allocated once; a workspace serves one request at a time.
public final class Workspace {
    public let model: CompiledModel
    let values: [FloatBuffer]
    /// Inputs: dense (maxRows, denseWidth), category indices (maxRows, columns), the sparse block.
    public var dense: UnsafeMutablePointer<Float> { values[0].pointer }
    let categories: Storage<Int32>
    public let sparse: SparseBatch
    let quantized: Storage<UInt8>
    let accumulators: Storage<Int32>
    let attention: FloatBuffer

    init(_ model: CompiledModel) {
        self.model = model
        let g = model.graph, rows = model.maxRows
        values = g.widths.map { FloatBuffer(count: rows * $0) }
        categories = Storage(count: rows * max(1, g.categoryColumns), repeating: 0)
        sparse = SparseBatch(width: max(1, g.sparseWidth), maxRows: rows)
        var k = 4, n = 16, attention = 1
        for step in model.steps {
            switch step {
            case .linear(_, let w, _): k = max(k, w.paddedInputs); n = max(n, w.paddedOutputs)
            case .grouped(_, let ws): for w in ws { k = max(k, w.paddedInputs); n = max(n, w.paddedOutputs) }
            case .selfAttention(_, let tokens, _, let heads): attention = max(attention, heads * tokens * tokens)
            case .pooling(_, _, let count, let tokens, _, let heads): attention = max(attention, heads * count * tokens)
            default: break
            }
        }
        quantized = Storage(count: Int(MTL_Q8_BLOCK_ROWS) * k, repeating: 128)
        accumulators = Storage(count: Int(MTL_Q8_BLOCK_ROWS) * n, repeating: 0)
        self.attention = FloatBuffer(count: attention)
    }

    /// Output `member` of task `t` after `run`: (rows, outputs) logits, row-major.
    public func output(_ t: Int, member: Int = 0) -> UnsafePointer<Float> { UnsafePointer(values[model.graph.outputs[t][member]].pointer) }

    public var categoryPointer: UnsafeMutablePointer<Int32> { categories.pointer }
}
