import Foundation
import MTLCore
import MTLData
import MTLModels
import MTLTraining
import SwiftProtobuf

/// A model as an ONNX graph (opset 17), built from the same inference graph as the engine, in
/// float32. Inputs, N rows each: `dense` [N, dense width] (the preprocessed dense row: numbers
/// standardised or binned, one-hot blocks), in embedding mode `categories` [N, columns] int64
/// (each categorical column's index in its vocabulary, the unknown bucket last), and with a
/// sparse block its nonzeros as coordinates: `sparse_rows`, `sparse_columns` (int64) and
/// `sparse_values` (float), one entry per nonzero. Outputs: one per task under its name,
/// [N, outputs]: probabilities (sigmoid per class, or softmax; float32), or values in the target's
/// units (float64).
/// `predict --model FILE --encoded-output FILE` writes the inputs for any rows.
public enum ONNXExport {
    public static let opset: Int64 = 17

    public static func model(_ file: ModelFile) throws -> Onnx_ModelProto {
        var b = Builder(file: file)
        try b.build()
        var m = Onnx_ModelProto()
        m.irVersion = 8
        m.producerName = "mtl-worker"
        m.producerVersion = ModelFile.formatVersion
        var op = Onnx_OperatorSetIdProto()
        op.domain = ""
        op.version = opset
        m.opsetImport = [op]
        m.graph = b.graph
        var arch = Onnx_StringStringEntryProto()
        arch.key = "architecture"; arch.value = file.config.model.architecture.rawValue
        m.metadataProps = [arch]
        // Regression tasks' standard deviations: the model computes in standardised units, so a
        // value's float32 rounding is this many times larger in the target's units.
        for task in file.preprocessor.tasks where task.kind == .regression {
            var e = Onnx_StringStringEntryProto()
            e.key = "target_std:\(task.name)"; e.value = String(task.targetStd)
            m.metadataProps.append(e)
        }
        return m
    }

    public static func write(_ file: ModelFile, to path: String) throws {
        let bytes: Data = try model(file).serializedData()
        try bytes.withUnsafeBytes { try AtomicFile.write(path, parts: [$0]) }
    }

    struct Builder {
        let file: ModelFile
        var graph = Onnx_GraphProto()
        var names: [InferenceGraph.Value: String] = [:]
        var counter = 0
        var constants: Set<String> = []

        init(file: ModelFile) { self.file = file }

        mutating func fresh(_ hint: String) -> String { counter += 1; return "/\(hint)_\(counter)" }

        mutating func node(_ op: String, _ inputs: [String], _ attributes: [Onnx_AttributeProto] = [], output: String? = nil) -> String {
            var n = Onnx_NodeProto()
            n.opType = op
            n.input = inputs
            let out = output ?? fresh(op.lowercased())
            n.output = [out]
            n.name = out
            n.attribute = attributes
            graph.node.append(n)
            return out
        }

        static func attribute(_ name: String, int v: Int64) -> Onnx_AttributeProto {
            var a = Onnx_AttributeProto(); a.name = name; a.type = .int; a.i = v; return a
        }
        static func attribute(_ name: String, float v: Float) -> Onnx_AttributeProto {
            var a = Onnx_AttributeProto(); a.name = name; a.type = .float; a.f = v; return a
        }
        static func attribute(_ name: String, ints v: [Int64]) -> Onnx_AttributeProto {
            var a = Onnx_AttributeProto(); a.name = name; a.type = .ints; a.ints = v; return a
        }
        static func attribute(_ name: String, string v: String) -> Onnx_AttributeProto {
            var a = Onnx_AttributeProto(); a.name = name; a.type = .string; a.s = Data(v.utf8); return a
        }

        /// A constant tensor (weights, shapes, scalars), added once under its name.
        mutating func initializer(_ name: String, shape: [Int], type: Onnx_TensorProto.DataType, raw: Data) -> String {
            guard constants.insert(name).inserted else { return name }
            var t = Onnx_TensorProto()
            t.name = name
            t.dims = shape.map(Int64.init)
            t.dataType = Int32(type.rawValue)
            t.rawData = raw
            graph.initializer.append(t)
            return name
        }

        mutating func initializer(_ name: String, shape: [Int], floats: [Float]) -> String {
            initializer(name, shape: shape, type: .float, raw: floats.withUnsafeBytes { Data($0) })
        }

        mutating func initializer(_ name: String, shape: [Int], int64s: [Int64]) -> String {
            initializer(name, shape: shape, type: .int64, raw: int64s.withUnsafeBytes { Data($0) })
        }

        mutating func initializer(_ name: String, shape: [Int], doubles: [Double]) -> String {
            initializer(name, shape: shape, type: .double, raw: doubles.withUnsafeBytes { Data($0) })
        }

        mutating func ints(_ v: [Int64]) -> String { initializer("const_i64_" + v.map(String.init).joined(separator: "_").replacingOccurrences(of: "-", with: "m"), shape: [v.count], int64s: v) }
        mutating func scalar(_ v: Float) -> String { initializer("const_f32_\(v.bitPattern)", shape: [], floats: [v]) }

        /// A parameter, in float (int8 files dequantised: the ONNX graph is float32).
        mutating func parameter(_ name: String, shape: [Int]? = nil) throws -> String {
            guard let t = file.tensors[name] else { throw UserError("the model has no tensor '\(name)'") }
            return initializer(name, shape: shape ?? t.shape, floats: t.floatValues)
        }

        static func valueInfo(_ name: String, type: Onnx_TensorProto.DataType, dims: [Int64?]) -> Onnx_ValueInfoProto {
            var v = Onnx_ValueInfoProto()
            v.name = name
            var tensor = Onnx_TypeProto.Tensor()
            tensor.elemType = Int32(type.rawValue)
            var shape = Onnx_TensorShapeProto()
            shape.dim = dims.map { d in
                var dim = Onnx_TensorShapeProto.Dimension()
                if let d { dim.dimValue = d } else { dim.dimParam = "N" }
                return dim
            }
            tensor.shape = shape
            var type = Onnx_TypeProto()
            type.tensorType = tensor
            v.type = type
            return v
        }

        func name(_ v: InferenceGraph.Value) -> String { names[v] ?? "dense" }

        mutating func slice(_ x: String, _ start: Int, _ width: Int) -> String {
            node("Slice", [x, ints([Int64(start)]), ints([Int64(start + width)]), ints([1])])
        }

        /// x W^T + b per token: Gemm, reshaped around it when the row holds several tokens.
        mutating func linear(_ x: String, weight: String, bias: String, tokens: Int, inputs: Int, outputs: Int) throws -> String {
            let w = try parameter(weight), b = try parameter(bias)
            guard tokens > 1 else { return node("Gemm", [x, w, b], [Self.attribute("transB", int: 1)]) }
            let flat = node("Reshape", [x, ints([-1, Int64(inputs)])])
            let y = node("Gemm", [flat, w, b], [Self.attribute("transB", int: 1)])
            return node("Reshape", [y, ints([-1, Int64(tokens * outputs)])])
        }

        /// Multi-head attention of q [.., H, Q, dh] over k, v [N, H, T, dh]; returns [N, Q * d].
        mutating func attend(q: String, k: String, v: String, queries: Int, d: Int, heads: Int) -> String {
            let dh = d / heads
            let kt = node("Transpose", [k], [Self.attribute("perm", ints: [0, 1, 3, 2])])
            let s = node("Mul", [node("MatMul", [q, kt]), scalar(1 / Float(dh).squareRoot())])
            let p = node("Softmax", [s], [Self.attribute("axis", int: -1)])
            let o = node("Transpose", [node("MatMul", [p, v])], [Self.attribute("perm", ints: [0, 2, 1, 3])])
            return node("Reshape", [o, ints([-1, Int64(queries * d)])])
        }

        mutating func build() throws {
            let g = file.graph
            graph.name = "mtl-worker \(file.config.model.architecture.rawValue)"
            graph.input = [Self.valueInfo("dense", type: .float, dims: [nil, Int64(g.denseWidth)])]
            if g.categoryColumns > 0 { graph.input.append(Self.valueInfo("categories", type: .int64, dims: [nil, Int64(g.categoryColumns)])) }
            if g.sparseWidth > 0 {
                graph.input += [Self.valueInfo("sparse_rows", type: .int64, dims: [nil]), Self.valueInfo("sparse_columns", type: .int64, dims: [nil]),
                                Self.valueInfo("sparse_values", type: .float, dims: [nil])]
            }
            names[0] = "dense"
            for node in g.nodes {
                let out: String
                let width = node.width
                switch node.op {
                case .embed(let dense, let tables, _):
                    var parts = [name(dense)]
                    for (c, t) in tables.enumerated() {
                        let index = initializer("const_i64_scalar_\(c)", shape: [], int64s: [Int64(c)])
                        let column = self.node("Gather", ["categories", index], [Self.attribute("axis", int: 1)])   // [N]
                        parts.append(self.node("Gather", [try parameter(t), column], [Self.attribute("axis", int: 0)]))
                    }
                    out = self.node("Concat", parts, [Self.attribute("axis", int: 1)])
                case .sparse(let weight, let bias):
                    // sum over a row's nonzeros of value * table[column]: gathered, scaled, scattered by row.
                    let rows = self.node("Gather", [try parameter(weight), "sparse_columns"], [Self.attribute("axis", int: 0)])
                    let scaled = self.node("Mul", [rows, self.node("Unsqueeze", ["sparse_values", ints([1])])])
                    let index = self.node("Expand", [self.node("Unsqueeze", ["sparse_rows", ints([1])]), self.node("Shape", [scaled])])
                    let n = self.node("Slice", [self.node("Shape", ["dense"]), ints([0]), ints([1])])
                    let shape = self.node("Concat", [n, ints([Int64(width)])], [Self.attribute("axis", int: 0)])
                    var zero = Onnx_AttributeProto()
                    zero.name = "value"; zero.type = .tensor
                    var t = Onnx_TensorProto(); t.dims = [1]; t.dataType = Int32(Onnx_TensorProto.DataType.float.rawValue); t.floatData = [0]
                    zero.t = t
                    let zeros = self.node("ConstantOfShape", [shape], [zero])
                    let summed = self.node("ScatterElements", [zeros, index, scaled], [Self.attribute("axis", int: 0), Self.attribute("reduction", string: "add")])
                    out = self.node("Add", [summed, try parameter(bias)])
                case .slice(let x, let start, let w):
                    out = slice(name(x), start, w)
                case .concat(let xs):
                    out = self.node("Concat", xs.map(name), [Self.attribute("axis", int: 1)])
                case .linear(let x, let w, let b, let tokens):
                    let shape = file.tensors[w]?.shape ?? [width, g.width(x)]
                    out = try linear(name(x), weight: w, bias: b, tokens: tokens, inputs: shape.last ?? 0, outputs: shape.first ?? 0)
                case .groupedLinear(let x, let w, let b, let groups):
                    guard let t = file.tensors[w], t.shape.count == 3 else { throw UserError("grouped weight '\(w)' is not (groups, out, in)") }
                    let (o, i) = (t.shape[1], t.shape[2])
                    let weights = t.floatValues, biases = file.tensors[b]?.floatValues ?? []
                    let parts = (0..<groups).map { gi -> String in
                        let wg = initializer("\(w).\(gi)", shape: [o, i], floats: Array(weights[(gi * o * i)..<((gi + 1) * o * i)]))
                        let bg = initializer("\(b).\(gi)", shape: [o], floats: Array(biases[(gi * o)..<((gi + 1) * o)]))
                        return self.node("Gemm", [slice(name(x), gi * i, i), wg, bg], [Self.attribute("transB", int: 1)])
                    }
                    out = self.node("Concat", parts, [Self.attribute("axis", int: 1)])
                case .relu(let x):
                    out = self.node("Relu", [name(x)])
                case .gelu(let x):
                    let cdf = self.node("Add", [self.node("Erf", [self.node("Mul", [name(x), scalar(0.70710678118654752)])]), scalar(1)])
                    out = self.node("Mul", [self.node("Mul", [name(x), scalar(0.5)]), cdf])
                case .layerNorm(let x, let gain, let bias, let size, let epsilon):
                    let ln = [Self.attribute("axis", int: -1), Self.attribute("epsilon", float: epsilon)]
                    if size == width {
                        out = self.node("LayerNormalization", [name(x), try parameter(gain), try parameter(bias)], ln)
                    } else {
                        let tokens = self.node("Reshape", [name(x), ints([-1, Int64(size)])])
                        let y = self.node("LayerNormalization", [tokens, try parameter(gain), try parameter(bias)], ln)
                        out = self.node("Reshape", [y, ints([-1, Int64(width)])])
                    }
                case .softmax(let x):
                    out = self.node("Softmax", [name(x)], [Self.attribute("axis", int: -1)])
                case .mixture(let gate, let sources, let w):
                    let terms = sources.enumerated().map { j, s in
                        self.node("Mul", [slice(name(gate), j, 1), slice(name(s.value), s.start, w)])
                    }
                    out = self.node("Sum", terms)
                case .stitch(let alpha, let row, let inputs):
                    let a = file.tensors[alpha]?.floatValues ?? []
                    let terms = inputs.enumerated().map { u, x in self.node("Mul", [name(x), scalar(a[row * inputs.count + u])]) }
                    out = self.node("Sum", terms)
                case .add(let a, let b):
                    out = self.node("Add", [name(a), name(b)])
                case .selfAttention(let x, let tokens, let d, let heads):
                    let dh = d / heads
                    let split = self.node("Transpose", [self.node("Reshape", [name(x), ints([-1, Int64(tokens), 3, Int64(heads), Int64(dh)])])],
                                          [Self.attribute("perm", ints: [2, 0, 3, 1, 4])])   // [3, N, H, T, dh]
                    let q = self.node("Gather", [split, ints([0])], [Self.attribute("axis", int: 0)])
                    let k = self.node("Gather", [split, ints([1])], [Self.attribute("axis", int: 0)])
                    let v = self.node("Gather", [split, ints([2])], [Self.attribute("axis", int: 0)])
                    let sq = { (s: inout Builder, t: String) in s.node("Squeeze", [t, s.ints([0])]) }
                    out = attend(q: sq(&self, q), k: sq(&self, k), v: sq(&self, v), queries: tokens, d: d, heads: heads)
                case .pooling(let x, let queries, let count, let tokens, let d, let heads):
                    let dh = d / heads
                    let split = self.node("Transpose", [self.node("Reshape", [name(x), ints([-1, Int64(tokens), 2, Int64(heads), Int64(dh)])])],
                                          [Self.attribute("perm", ints: [2, 0, 3, 1, 4])])   // [2, N, H, T, dh]
                    let k = self.node("Squeeze", [self.node("Gather", [split, ints([0])], [Self.attribute("axis", int: 0)]), ints([0])])
                    let v = self.node("Squeeze", [self.node("Gather", [split, ints([1])], [Self.attribute("axis", int: 0)]), ints([0])])
                    let q = self.node("Transpose", [self.node("Reshape", [try parameter(queries), ints([1, Int64(count), Int64(heads), Int64(dh)])])],
                                      [Self.attribute("perm", ints: [0, 2, 1, 3])])   // [1, H, Q, dh]
                    out = attend(q: q, k: k, v: v, queries: count, d: d, heads: heads)
                }
                names[node.output] = out
            }
            // Per task: the members' predictions averaged, in the target's own terms.
            for (t, task) in file.preprocessor.tasks.enumerated() {
                let members = g.outputs[t].map { v -> String in
                    switch task.kind {
                    case .binary, .multilabel: return self.node("Sigmoid", [name(v)])
                    case .multiclass: return self.node("Softmax", [name(v)], [Self.attribute("axis", int: -1)])
                    case .regression:
                        // In float64, as predict maps standardised values back (a float32 mean of
                        // a large target would round the value).
                        let wide = self.node("Cast", [name(v)], [Self.attribute("to", int: Int64(Onnx_TensorProto.DataType.double.rawValue))])
                        let std = initializer("const_f64_std_\(t)", shape: [], doubles: [task.targetStd])
                        let mean = initializer("const_f64_mean_\(t)", shape: [], doubles: [task.targetMean])
                        return self.node("Add", [self.node("Mul", [wide, std]), mean])
                    }
                }
                let output = task.name
                let wide = task.kind == .regression
                if members.count == 1 {
                    _ = self.node("Identity", members, output: output)
                } else {
                    let share = wide ? initializer("const_f64_share_\(members.count)", shape: [], doubles: [1 / Double(members.count)])
                        : scalar(1 / Float(members.count))
                    _ = self.node("Mul", [self.node("Sum", members), share], output: output)
                }
                graph.output.append(Self.valueInfo(output, type: wide ? .double : .float, dims: [nil, Int64(task.outputs)]))
            }
        }
    }
}
