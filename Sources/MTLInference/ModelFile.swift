import Foundation
import MTLCore
import MTLData
import MTLModels
import MTLTraining

/// A model file (`export`): weights only, in the safetensors format, with what serving needs and
/// nothing of training. Tensors: every parameter the inference graph reads, under its training
/// name, F32; with int8, the weight matrices, embedding tables and the sparse table are I8
/// with an F32 `<name>.scale` (one per row: output channel, category, input position), so that
/// value = int8 * scale[row]. Metadata (all text): `format` = mtl-worker-model,
/// `format_version`, `quantization` (none, int8), `config` and `config_path` and `overrides` (the
/// run's config, as in a checkpoint), `preprocessor` (the fitted preprocessing, JSON),
/// `architecture`, `thresholds` (JSON: tuned multi-label thresholds per task) and `graph` (JSON: the operations in order, InferenceGraph).
public struct ModelFile {
    public static let format = "mtl-worker-model"
    public static let formatVersion = "1"

    public let path: String
    public let config: RunConfig
    public let preprocessor: Preprocessor
    public let quantization: Quantization
    public let graph: InferenceGraph
    public let tensors: [String: ModelTensor]
    /// Multi-label thresholds tuned on the run's validation split at export (task name to one
    /// threshold per class), for tasks whose threshold is set to tune.
    public var thresholds: [String: [Double]] = [:]

    /// The parameters stored as int8 under `quantization: int8`: every weight a Linear or a
    /// grouped Linear multiplies, every embedding table and the sparse table.
    public static func quantizable(_ graph: InferenceGraph) -> Set<String> {
        var names = Set<String>()
        for node in graph.nodes {
            switch node.op {
            case .embed(_, let tables, _): names.formUnion(tables)
            case .sparse(let w, _): names.insert(w)
            case .linear(_, let w, _, _), .groupedLinear(_, let w, _, _): names.insert(w)
            default: break
            }
        }
        return names
    }

    /// The parameters `graph` reads from `store`, as trained or quantised.
    public static func tensors(of store: ParameterStore, graph: InferenceGraph, quantization: Quantization) -> [String: ModelTensor] {
        let quantized = quantization == .int8 ? quantizable(graph) : []
        var tensors: [String: ModelTensor] = [:]
        for e in store.entries where graph.parameters.contains(where: { $0.name == e.name }) {
            let values = Array(UnsafeBufferPointer(start: store.value(e), count: e.count))
            tensors[e.name] = quantized.contains(e.name) ? .quantized(shape: e.shape, values: values) : ModelTensor(shape: e.shape, float: values)
        }
        return tensors
    }

    /// The model of a checkpoint, its weights as trained (float) or quantised.
    public init(checkpoint: String, quantization: Quantization) throws {
        let file = try SafeTensors.read(path: checkpoint)
        let (config, pre) = try Checkpoint.runConfig(of: file)
        try config.model.checkFits(layout: pre.layout, maxRows: 1)
        let model = makeModel(config.model, layout: pre.layout, maxRows: 1, seed: config.training.seed)
        try Checkpoint.load(file, store: model.store, into: model.store.values.pointer, optimizer: nil, state: nil)
        let graph = model.inferenceGraph(layout: pre.layout)
        let tensors = Self.tensors(of: model.store, graph: graph, quantization: quantization)
        self.path = checkpoint
        self.config = config
        self.preprocessor = pre
        self.quantization = quantization
        self.graph = graph
        self.tensors = tensors
    }

    /// Writes the model file atomically.
    public func write(to output: String) throws {
        var raw: [SafeTensors.RawTensor] = []
        for p in graph.parameters {
            guard let t = tensors[p.name] else { continue }
            if let q = t.int8, let s = t.scale {
                raw.append(.init(name: p.name, shape: t.shape, int8: q))
                raw.append(.init(name: "\(p.name).scale", shape: [t.rows], float: s))
            } else {
                raw.append(.init(name: p.name, shape: t.shape, float: t.float ?? []))
            }
        }
        let metadata: [String: String] = [
            "format": Self.format, "format_version": Self.formatVersion, "quantization": quantization.rawValue,
            "config": config.sourceText, "config_path": config.sourcePath, "overrides": try JSON.text(config.overrides),
            "preprocessor": try preprocessor.json(), "architecture": config.model.architecture.rawValue,
            "graph": try JSON.text(graph), "thresholds": try JSON.text(thresholds),
        ]
        try SafeTensors.write(path: output, metadata: metadata, tensors: raw)
    }

    /// Reads a model file written by `export`, checking that its graph is the one its config
    /// builds and that every tensor has the shape and type the graph needs.
    public init(path: String) throws {
        let file = try SafeTensors.read(path: path)
        let m = file.metadata
        func bad(_ what: String) -> UserError {
            UserError("'\(path)' is not a usable model file: \(what)", hint: "write one with: mtl-worker export --checkpoint FILE --output \(path)")
        }
        guard m["format"] == Self.format else {
            if m["format"] == CheckpointMetadata.format { throw bad("it is a training checkpoint") }
            throw bad("its metadata has no format \(Self.format)")
        }
        guard m["format_version"] == Self.formatVersion else { throw bad("format_version \(m["format_version"] ?? "none"), this program reads \(Self.formatVersion)") }
        guard let q = m["quantization"].flatMap(Quantization.init(rawValue:)) else { throw bad("quantization '\(m["quantization"] ?? "")' is not none or int8") }
        guard let text = m["config"], let configPath = m["config_path"], let pre = m["preprocessor"], let graphText = m["graph"] else {
            throw bad("its metadata lacks config, config_path, preprocessor or graph")
        }
        let overrides = (m["overrides"].flatMap { try? JSONDecoder().decode([String: String].self, from: Data($0.utf8)) }) ?? [:]
        var config: RunConfig
        let preprocessor: Preprocessor
        do {
            config = try RunConfig.parse(text: text, path: configPath)
            try config.apply(overrides: overrides)
            preprocessor = try Preprocessor.from(json: pre)
        } catch let e as UserError {
            throw UserError("model file '\(path)': its stored config or preprocessing: \(e.message)", hint: e.hint)
        }
        try config.model.checkFits(layout: preprocessor.layout, maxRows: 1)
        let model = makeModel(config.model, layout: preprocessor.layout, maxRows: 1, seed: config.training.seed)
        let graph = model.inferenceGraph(layout: preprocessor.layout)
        guard let stored = try? JSONDecoder().decode(InferenceGraph.self, from: Data(graphText.utf8)), stored == graph else {
            throw bad("its graph is not the one its config builds (written by another version of mtl-worker?)")
        }
        let quantizable = Self.quantizable(graph)
        var tensors: [String: ModelTensor] = [:]
        for p in graph.parameters {
            guard let info = file.tensors[p.name] else { throw bad("it has no tensor '\(p.name)'") }
            guard info.shape == p.shape else { throw bad("tensor '\(p.name)' has shape \(info.shape), the model needs \(p.shape)") }
            if info.dtype == "I8" {
                let rows = p.shape.count > 1 ? p.shape.dropLast().reduce(1, *) : 1
                guard quantizable.contains(p.name), let values = file.int8(p.name), let scale = file.floats("\(p.name).scale"), scale.count == rows,
                      file.tensors["\(p.name).scale"]?.shape == [rows] else {
                    throw bad("int8 tensor '\(p.name)' needs an F32 '\(p.name).scale' of shape [\(rows)]")
                }
                guard scale.allSatisfy({ $0.isFinite }) else { throw bad("'\(p.name).scale' holds a value that is not finite") }
                tensors[p.name] = ModelTensor(shape: p.shape, int8: values, scale: scale)
            } else {
                guard let values = file.floats(p.name) else { throw bad("tensor '\(p.name)' is \(info.dtype), not F32 or I8") }
                tensors[p.name] = ModelTensor(shape: p.shape, float: values)
            }
        }
        if let t = m["thresholds"] {
            guard let decoded = try? JSONDecoder().decode([String: [Double]].self, from: Data(t.utf8)) else { throw bad("its thresholds do not parse") }
            for (task, values) in decoded {
                guard let enc = preprocessor.tasks.first(where: { $0.name == task }), enc.outputs == values.count else {
                    throw bad("its thresholds name task '\(task)' with \(values.count) values, which the model does not have")
                }
            }
            thresholds = decoded
        }
        self.path = path
        self.config = config
        self.preprocessor = preprocessor
        self.quantization = q
        self.graph = graph
        self.tensors = tensors
    }

    /// The engine for `maxRows` rows at a time; refused, naming the file, when one workspace's
    /// values would not fit in this machine's memory.
    public func compile(maxRows: Int = 256) throws -> CompiledModel {
        let values = graph.widths.reduce(0.0) { $0 + Double($1) } * Double(max(1, maxRows)) * 4
        try MachineMemory.check(values, what: "model file '\(path)': a workspace of \(maxRows) rows",
                                breakdown: "\(graph.nodes.count) values of \(graph.widths.reduce(0, +)) floats per row",
                                hint: "the file's model is wider than this machine can run \(maxRows) rows of at once")
        return try CompiledModel(graph: graph, tensors: tensors, quantization: quantization, maxRows: maxRows)
    }
}
