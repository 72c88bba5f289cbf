import Foundation
import Yams
import MTLCore
import MTLData
import MTLModels
import MTLWeighting

/// A run's whole configuration, read from one YAML file: each section's typed value, parsed
/// once here with errors that name the file, line and key.
public struct RunConfig: Sendable, Equatable {
    public var data: DataConfig
    public var tasks: [TaskConfig]
    public var model: ModelConfig
    public var training: TrainingConfig
    public var checkpoint: CheckpointConfig
    public var weighting = WeightingConfig()
    public var compare = CompareConfig()
    public var output: String?
    /// The YAML text it was read from (kept in checkpoints).
    public var sourceText: String
    /// Where it was read from; relative data paths are resolved against its folder.
    public var sourcePath: String
    /// Command-line overrides applied on top of the file (kept in checkpoints with the file's text).
    public private(set) var overrides: [String: String] = [:]

    /// What the data layer reads: the data section, the tasks and the config's path.
    public var dataSource: DataSource { DataSource(data: data, tasks: tasks, configPath: sourcePath) }

    /// Resolves a data path from the config against the config file's folder.
    public func resolve(_ path: String) -> String { dataSource.resolve(path) }

    /// Reads and validates a config file.
    public static func load(path: String) throws -> RunConfig {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw UserError("cannot read config file '\(path)'", hint: "check the path given to --config")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw UserError("config file '\(path)' is not UTF-8 text")
        }
        return try parse(text: text, path: path)
    }

    /// Parses config text; `path` names it in errors and anchors relative paths.
    public static func parse(text: String, path: String) throws -> RunConfig {
        let node: Node
        do {
            guard let n = try Yams.compose(yaml: text) else {
                throw UserError("config file '\(path)' is empty", hint: "start from configs/adult.yaml")
            }
            node = n
        } catch let e as UserError { throw e } catch {
            throw UserError("config file '\(path)' is not valid YAML: \(error)")
        }
        var top = try ConfigReader(file: path, path: "", node: node)
        func section(_ name: String) throws -> ConfigReader {
            try top.child(name) ?? ConfigReader(file: path, path: name, node: Node([(Node, Node)]()))
        }

        guard var d = try top.child("data") else { throw top.fail("data", nil, "is missing", hint: "add a data: section with at least train:") }
        let data = try d.dataSection()
        guard let taskNodes = try top.children("tasks"), !taskNodes.isEmpty else {
            throw top.fail("tasks", nil, "is missing or empty", hint: "list at least one task with name, column and kind")
        }
        var tasks: [TaskConfig] = []
        for var t in taskNodes { tasks.append(try t.task(known: tasks, configPath: path)) }
        try d.checkFiles(of: tasks, data: data, top: top)
        let ownFiles = tasks.contains { $0.files != nil }

        var m = try section("model")
        let model = try m.modelSection()
        var tr = try section("training")
        let training = try tr.trainingSection(tasks: tasks, ownFiles: ownFiles)
        var c = try section("checkpoint")
        let checkpoint = try c.checkpointSection(tasks: tasks)
        var weighting = WeightingConfig()
        if var w = try top.child("weighting") { weighting = try w.weightingSection(model: model) }
        var compare = CompareConfig()
        if var cc = try top.child("compare") { compare = try cc.compareSection() }
        // Output folders, like data paths, are relative to the config file's folder.
        let output = try top.string("output").map { Paths.resolve($0, againstFolderOf: path) }
        compare.output = compare.output.map { Paths.resolve($0, againstFolderOf: path) }
        try top.finish()
        var config = RunConfig(data: data, tasks: tasks, model: model, training: training, checkpoint: checkpoint,
                               output: output, sourceText: text, sourcePath: path)
        config.weighting = weighting
        config.compare = compare
        return config
    }

    init(data: DataConfig, tasks: [TaskConfig], model: ModelConfig, training: TrainingConfig, checkpoint: CheckpointConfig,
         output: String?, sourceText: String, sourcePath: String) {
        self.data = data; self.tasks = tasks; self.model = model; self.training = training; self.checkpoint = checkpoint
        self.output = output; self.sourceText = sourceText; self.sourcePath = sourcePath
    }

    /// A command-line override of one config key, parsed and checked like the file's value.
    public enum Override: Sendable, Equatable {
        case epochs(Int)
        case batchSize(Int)
        case seed(UInt64)
        case architecture(Architecture)
        case weighting(WeightingMethod)
        case learningRate(Double)
        case weightDecay(Double)
        case dropout(Double)
        /// model.width: a factor on every hidden width.
        case width(Double)

        /// The config key it replaces, as stored in checkpoints.
        public var key: String {
            switch self {
            case .epochs: return "training.epochs"
            case .batchSize: return "training.batch_size"
            case .seed: return "training.seed"
            case .architecture: return "model.architecture"
            case .weighting: return "weighting.method"
            case .learningRate: return "training.learning_rate"
            case .weightDecay: return "training.weight_decay"
            case .dropout: return "model.dropout"
            case .width: return "model.width"
            }
        }

        public var value: String {
            switch self {
            case .epochs(let v), .batchSize(let v): return String(v)
            case .seed(let v): return String(v)
            case .architecture(let a): return a.rawValue
            case .weighting(let w): return w.rawValue
            case .learningRate(let v), .weightDecay(let v), .dropout(let v), .width(let v): return "\(v)"
            }
        }

        /// Parses a stored `key = value` pair (a checkpoint's overrides).
        public init(key: String, value: String) throws {
            switch key {
            case "training.epochs":
                guard let v = Int(value), v >= 1 else { throw UserError("override \(key)=\(value) is not a positive integer") }
                self = .epochs(v)
            case "training.batch_size":
                guard let v = Int(value), v >= 1 else { throw UserError("override \(key)=\(value) is not a positive integer") }
                self = .batchSize(v)
            case "training.seed":
                guard let v = UInt64(value) else { throw UserError("override \(key)=\(value) is not a non-negative integer") }
                self = .seed(v)
            case "model.architecture":
                guard let a = Architecture(rawValue: value) else {
                    throw UserError("override \(key)=\(value) is not an architecture", hint: "one of: \(Architecture.names.joined(separator: ", "))")
                }
                self = .architecture(a)
            case "weighting.method":
                guard let w = WeightingMethod(rawValue: value) else {
                    throw UserError("override \(key)=\(value) is not a weighting method", hint: "one of: \(WeightingMethod.names.joined(separator: ", "))")
                }
                self = .weighting(w)
            case "training.learning_rate", "training.weight_decay", "model.dropout", "model.width":
                guard let v = Double(value), v.isFinite, v >= 0 else { throw UserError("override \(key)=\(value) is not a non-negative number") }
                switch key {
                case "model.dropout": self = .dropout(v)
                case "model.width": self = .width(v)
                case "training.learning_rate": self = .learningRate(v)
                default: self = .weightDecay(v)
                }
            default: throw UserError("unknown override '\(key)'")
            }
        }
    }

    /// Applies overrides on top of the file's values. A refused override leaves the config as it was.
    public mutating func apply(_ new: [Override]) throws {
        var c = self
        for o in new.sorted(by: { $0.key < $1.key }) {
            switch o {
            case .epochs(let v):
                guard v >= 1 && v <= ConfigLimits.epochs else { throw UserError("override \(o.key)=\(v) is not between 1 and \(ConfigLimits.epochs)") }
                c.training.epochs = v
            case .batchSize(let v):
                guard v >= 1 && v <= ConfigLimits.batch else { throw UserError("override \(o.key)=\(v) is not between 1 and \(ConfigLimits.batch)") }
                c.training.batchSize = v
            case .seed(let v):
                guard v <= UInt64(ConfigLimits.seed) else { throw UserError("override \(o.key)=\(v) is above \(ConfigLimits.seed)") }
                c.training.seed = v
            case .architecture(let a):
                c.model.architecture = a
                if let p = c.model.problem {
                    throw UserError("\(sourcePath): with architecture \(a.rawValue), config key 'model.\(p.key)' \(p.message)")
                }
            case .weighting(let w): c.weighting.method = w
            case .learningRate(let v):
                guard v > 0 && v <= 10 else { throw UserError("override \(o.key)=\(v) is not in (0, 10]") }
                c.training.learningRate = v
            case .weightDecay(let v):
                guard v >= 0 && v <= 10 else { throw UserError("override \(o.key)=\(v) is not between 0 and 10") }
                c.training.weightDecay = v
            case .dropout(let v):
                guard v >= 0 && v < 1 else { throw UserError("override \(o.key)=\(v) is not in [0, 1)") }
                c.model.dropout = v
            case .width(let v):
                guard v >= 0 && v <= 16 else { throw UserError("override \(o.key)=\(v) is not between 0 and 16") }
                c.model.width = v
            }
            c.overrides[o.key] = o.value
        }
        if let p = c.model.problem, new.contains(where: { if case .width = $0 { return true }; return false }) {
            throw UserError("\(sourcePath): with model.width \(c.model.width), config key 'model.\(p.key)' \(p.message)")
        }
        if let p = Self.problem(weighting: c.weighting, model: c.model) {
            throw UserError("\(sourcePath): config key 'weighting.\(p.key)' \(p.message)", hint: p.hint)
        }
        self = c
    }

    /// Applies stored overrides by config key (from a checkpoint's metadata).
    public mutating func apply(overrides stored: [String: String]) throws {
        try apply(stored.map { try Override(key: $0.key, value: $0.value) })
    }

    /// What makes a weighting section unusable with the model, if anything.
    static func problem(weighting w: WeightingConfig, model: ModelConfig) -> (key: String, message: String, hint: String?)? {
        if w.gradients == .representation && w.method.combinesGradients && !model.architecture.hasSharedRepresentation {
            let names = Architecture.allCases.filter(\.hasSharedRepresentation).map(\.rawValue).joined(separator: ", ")
            return ("gradients", "is representation, which needs an architecture with one shared representation (\(names)), not \(model.architecture.rawValue)",
                    "use gradients: parameters (exact, for every architecture)")
        }
        return nil
    }
}
