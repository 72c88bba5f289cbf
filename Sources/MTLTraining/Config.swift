import Foundation
import Yams
import MTLCore

/// The kinds of task a head can learn.
public enum TaskKind: String, Sendable, CaseIterable {
    case binary, multiclass, multilabel, regression
}

/// One task: its label column and the rule that turns the column into a target.
public struct TaskConfig: Sendable, Equatable {
    public var name: String
    public var column: String
    public var kind: TaskKind
    /// binary: values meaning 1.
    public var positive: [String]
    /// binary: values meaning 0; when empty, every non-missing value outside `positive` is 0.
    public var negative: [String]
    /// multiclass: the class names in order; when empty, the sorted values of the training split.
    public var classes: [String]
    /// Fixed weight of the task's loss.
    public var weight: Double
    /// multilabel: the text between class ids in a label cell.
    public var labelSeparator: String = ","
    /// multilabel: the decision threshold, or nil to tune it on the validation split.
    public var threshold: Double? = 0.5
    /// multilabel, tuned threshold: one threshold per class instead of one for the task.
    public var thresholdPerClass: Bool = false
    /// multilabel: "balanced" weighs each class's positive and negative labels apart.
    public var classWeight: String = "none"
    /// The task's own files (tasks with their own data sets); nil: the data section's files.
    public var files: TaskFiles? = nil
}

/// A task's own data set.
public struct TaskFiles: Sendable, Equatable {
    public var train: String
    public var validation: String?
    public var test: String?
}

/// A column of sparse numbers (`data.sparse`).
public struct SparseColumnConfig: Sendable, Equatable {
    public var column: String
    public var width: Int
    /// "indices" or "pairs".
    public var format: String
}

public struct DataConfig: Sendable, Equatable {
    public var train: String
    public var validation: String?
    public var test: String?
    public var validationFraction: Double
    public var testFraction: Double
    /// Share of the test file, from its start, used as the validation split (the rest is test).
    public var testHeadAsValidation: Double
    public var splitSeed: UInt64
    public var separator: String
    public var header: Bool
    public var columns: [String]?
    public var comment: String?
    public var missing: [String]
    public var trim: Bool
    public var numeric: [String]?
    /// Numeric columns taken as sign(v) log(1 + |v|) before standardisation (heavy-tailed amounts).
    public var logNumeric: [String] = []
    /// Quantile bins of the piecewise linear encoding added beside each numeric value (0: none).
    public var numericBins: Int = 0
    public var categorical: [String]?
    public var drop: [String]
    public var categoricalEncoding: String
    public var embeddingDim: Int
    public var minCategoryCount: Int
    public var badRows: String
    public var quoting: Bool = true
    /// Text columns (TF-IDF features) and how they are featurised.
    public var text: [String] = []
    public var textFeatures: TextSettings = .default
    public var sparse: [SparseColumnConfig] = []
    /// One file holding every split, told apart by this column's values.
    public var splitColumn: String?
    public var splitValues: [String] = ["train", "validation", "test"]
}

public struct ModelConfig: Sendable, Equatable {
    public var architecture: String
    public var trunk: [Int]
    public var head: [Int]
    public var activation: String
    public var dropout: Double
    public var layerNorm: Bool
    /// Width of the learned projection of the sparse input block (text, sparse numbers).
    public var sparseProjection: Int = 64
    // late-fusion
    public var stopGradient: Bool
    // cross-stitch
    public var stitchInit: Double
    // mmoe, cgc, ple
    public var experts: Int
    public var taskExperts: Int
    public var levels: Int
    public var expert: [Int]
    // ensemble
    public var members: Int
    public var member: String
    public var bootstrap: Bool
    // task-attention
    public var dModel: Int
    public var attentionHeads: Int
    public var attentionLayers: Int
    public var queries: Int
    public var feedForward: Int
}

public struct TrainingConfig: Sendable, Equatable {
    public var epochs: Int
    public var batchSize: Int
    public var optimizer: String
    public var learningRate: Double
    public var weightDecay: Double
    public var momentum: Double
    public var beta1: Double
    public var beta2: Double
    public var epsilon: Double
    public var clipNorm: Double
    public var warmupSteps: Int
    public var schedule: String
    public var minLearningRate: Double
    public var seed: UInt64
    public var threads: Int
    /// "lazy": the optimizer updates only the rows of a sparse projection table that the step's
    /// global batch touches (their momentum and weight decay wait until they are touched again);
    /// "dense": every parameter every step.
    public var sparseUpdates: String = "dense"
    /// Tasks with their own data sets: how a global batch mixes them.
    public var sampling: String = "proportional"
    public var samplingTemperature: Double = 2
    /// The epoch: one pass over this task's rows (mixed sampling), or this many steps; else one
    /// pass over all rows' worth of steps.
    public var epochTask: String? = nil
    public var stepsPerEpoch: Int = 0
}

public struct CheckpointConfig: Sendable, Equatable {
    public var keepLast: Int
    public var bestMetric: String
}

/// What `compare` trains and how (`compare:`), and what `advise` measures.
public struct CompareConfig: Sendable, Equatable {
    public struct Candidate: Sendable, Equatable, Hashable {
        public var architecture: String
        public var weighting: String
        public init(architecture: String, weighting: String) { self.architecture = architecture; self.weighting = weighting }
        /// The candidate's name in tables and folders, e.g. `mmoe+uncertainty`.
        public var name: String { architecture == "single-task" ? "single-task" : "\(architecture)+\(weighting)" }
    }
    public var architectures: [String] = ["hard-sharing", "mmoe", "cgc", "cross-stitch"]
    public var weighting: [String] = ["equal", "uncertainty", "pcgrad"]
    /// An explicit list instead of the grid architectures x weighting.
    public var candidates: [Candidate]? = nil
    public var seeds: Int = 2
    /// Epochs every candidate trains (nil: training.epochs).
    public var epochs: Int? = nil
    /// A time budget per candidate run, in seconds of training (nil: epochs only).
    public var seconds: Double? = nil
    /// Ranks per group training one candidate (0: chosen so that every rank is busy).
    public var groupSize: Int = 0
    /// Measure task relationships every this many steps in the relationship run.
    public var probeEvery: Int = 10
    /// Epochs of the relationship run (compare) and of `advise`'s pilot.
    public var probeEpochs: Int = 1
    public var output: String? = nil

    /// The candidates in order: the explicit list or the grid, then the single-task baseline.
    public var plan: [Candidate] {
        var list = candidates ?? architectures.filter { $0 != "single-task" }.flatMap { a in weighting.map { Candidate(architecture: a, weighting: $0) } }
        list.removeAll { $0.architecture == "single-task" }
        return list + [Candidate(architecture: "single-task", weighting: "fixed")]
    }
}

/// A run's whole configuration, read from one YAML file.
public struct RunConfig: Sendable, Equatable {
    public var data: DataConfig
    public var tasks: [TaskConfig]
    public var model: ModelConfig
    public var training: TrainingConfig
    public var checkpoint: CheckpointConfig
    public var weighting: WeightingConfig = .default
    public var compare = CompareConfig()
    public var output: String?
    /// The YAML text it was read from (kept in checkpoints).
    public var sourceText: String
    /// Where it was read from; relative data paths are resolved against its folder.
    public var sourcePath: String

    public static var architectures: [String] { architectureNames }
    public static let metricNames = ["roc_auc", "pr_auc", "accuracy", "f1", "log_loss", "rmse", "mae", "r2", "loss"]

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

        guard var d = try top.child("data") else { throw top.fail("data", nil, "is missing", hint: "add a data: section with at least train:") }
        let train = try d.string("train") ?? ""
        var dataConfig = DataConfig(
            train: train,
            validation: try d.string("validation"),
            test: try d.string("test"),
            validationFraction: try d.double("validation_fraction", default: 0, range: 0...0.9),
            testFraction: try d.double("test_fraction", default: 0, range: 0...0.9),
            testHeadAsValidation: try d.double("test_head_as_validation", default: 0, range: 0...0.99),
            splitSeed: UInt64(try d.int("split_seed", default: 0, min: 0)),
            separator: try d.string("separator", default: ","),
            header: try d.bool("header", default: true),
            columns: try d.strings("columns"),
            comment: try d.string("comment"),
            missing: try d.strings("missing") ?? ["", "?", "NA", "NaN"],
            trim: try d.bool("trim", default: true),
            numeric: try d.strings("numeric"),
            categorical: try d.strings("categorical"),
            drop: try d.strings("drop") ?? [],
            categoricalEncoding: try d.choice("categorical_encoding", ["onehot", "embedding"], default: "onehot"),
            embeddingDim: try d.int("embedding_dim", default: 8, min: 1),
            minCategoryCount: try d.int("min_category_count", default: 1, min: 1),
            badRows: try d.choice("bad_rows", ["error", "skip"], default: "error"))
        dataConfig.quoting = try d.bool("quoting", default: true)
        dataConfig.logNumeric = try d.strings("log_numeric") ?? []
        dataConfig.numericBins = try d.int("numeric_bins", default: 0, min: 0)
        dataConfig.text = try d.strings("text") ?? []
        if var tf = try d.child("text_features") {
            let def = TextSettings.default
            let ngrams = try tf.ints("ngrams") ?? def.ngrams
            let chars = try tf.ints("char_ngrams") ?? def.charNgrams
            for (key, pair) in [("ngrams", ngrams), ("char_ngrams", chars)] where pair.count != 2 || pair[0] > pair[1] || pair[0] < 0 {
                throw tf.fail(key, nil, "must be [min, max] with 0 <= min <= max", hint: "e.g. [1, 2] for words and word pairs")
            }
            dataConfig.textFeatures = TextSettings(
                lowercase: try tf.bool("lowercase", default: def.lowercase),
                minTokenLength: try tf.int("min_token_length", default: def.minTokenLength, min: 1),
                ngrams: ngrams, charNgrams: chars,
                hashingBits: try tf.int("hashing_bits", default: def.hashingBits, min: 0),
                minCount: try tf.int("min_count", default: def.minCount, min: 1),
                maxVocabulary: try tf.int("max_vocabulary", default: def.maxVocabulary, min: 0),
                sublinearTF: try tf.bool("sublinear_tf", default: def.sublinearTF),
                idf: try tf.bool("idf", default: def.idf))
            if dataConfig.textFeatures.hashingBits > 26 { throw tf.fail("hashing_bits", nil, "must be at most 26") }
            try tf.finish()
        }
        for var sc in try d.children("sparse") ?? [] {
            guard let column = try sc.string("column") else { throw sc.fail("column", nil, "is missing") }
            guard let width = try sc.int("width"), width >= 1 else { throw sc.fail("width", nil, "is missing or below 1", hint: "declare how many positions the column's indices address") }
            dataConfig.sparse.append(SparseColumnConfig(column: column, width: width,
                                                        format: try sc.choice("format", ["indices", "pairs"], default: "indices")))
            try sc.finish()
        }
        dataConfig.splitColumn = try d.string("split_column")
        if let v = try d.strings("split_values") {
            guard v.count == 3 else { throw d.fail("split_values", nil, "must list three values: train, validation, test") }
            dataConfig.splitValues = v
        }
        if dataConfig.separator.unicodeScalars.count != 1 && dataConfig.separator != "\\t" {
            throw d.fail("separator", nil, "must be one character (or \\t)")
        }
        if !dataConfig.header && dataConfig.columns == nil {
            throw d.fail("columns", nil, "is required when header is false", hint: "list the column names in file order")
        }
        if dataConfig.validation != nil && dataConfig.validationFraction > 0 {
            throw d.fail("validation_fraction", nil, "cannot be used together with data.validation")
        }
        if dataConfig.testHeadAsValidation > 0 && (dataConfig.test == nil || dataConfig.validation != nil || dataConfig.validationFraction > 0) {
            throw d.fail("test_head_as_validation", nil, "needs data.test and no other validation split")
        }
        if dataConfig.test != nil && dataConfig.testFraction > 0 {
            throw d.fail("test_fraction", nil, "cannot be used together with data.test")
        }
        try d.finish()

        guard let taskNodes = try top.children("tasks"), !taskNodes.isEmpty else {
            throw top.fail("tasks", nil, "is missing or empty", hint: "list at least one task with name, column and kind")
        }
        var tasks: [TaskConfig] = []
        for var t in taskNodes {
            guard let name = try t.string("name") else { throw t.fail("name", nil, "is missing") }
            guard !tasks.contains(where: { $0.name == name }) else { throw t.fail("name", nil, "repeats the task name '\(name)'") }
            guard let column = try t.string("column") else { throw t.fail("column", nil, "is missing", hint: "name the label column of task '\(name)'") }
            guard let kindName = try t.string("kind"), let kind = TaskKind(rawValue: kindName) else {
                throw t.fail("kind", nil, "must be one of: binary, multiclass, multilabel, regression")
            }
            var task = TaskConfig(name: name, column: column, kind: kind,
                                  positive: try t.strings("positive") ?? [],
                                  negative: try t.strings("negative") ?? [],
                                  classes: try t.strings("classes") ?? [],
                                  weight: try t.double("weight", default: 1, range: 0...1e6))
            if let file = try t.string("classes_file") {
                guard task.classes.isEmpty else { throw t.fail("classes_file", nil, "cannot be given together with classes") }
                let dir = (path as NSString).deletingLastPathComponent
                let full = file.hasPrefix("/") || dir.isEmpty ? file : (dir as NSString).appendingPathComponent(file)
                guard let text = try? String(contentsOfFile: full, encoding: .utf8) else {
                    throw t.fail("classes_file", nil, "'\(full)' cannot be read", hint: "give a file with one class name per line")
                }
                task.classes = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            }
            if var td = try t.child("data") {
                guard let tr = try td.string("train") else { throw td.fail("train", nil, "is missing", hint: "give task '\(name)' its training file") }
                task.files = TaskFiles(train: tr, validation: try td.string("validation"), test: try td.string("test"))
                try td.finish()
            }
            if kind == .multilabel {
                task.labelSeparator = try t.string("label_separator", default: ",")
                task.classWeight = try t.choice("class_weight", ["none", "balanced"], default: "none")
                if let th = try t.string("threshold"), th == "tune" || th == "tune-per-class" {
                    task.threshold = nil
                    task.thresholdPerClass = th == "tune-per-class"
                } else { task.threshold = try t.double("threshold", default: 0.5, range: 0...1) }
            }
            if kind == .binary && task.positive.isEmpty {
                throw t.fail("positive", nil, "is required for a binary task", hint: "list the values that mean 1, e.g. positive: [yes]")
            }
            if kind != .binary && !(task.positive.isEmpty && task.negative.isEmpty) {
                throw t.fail("positive", nil, "applies to binary tasks only")
            }
            if kind != .multiclass && kind != .multilabel && !task.classes.isEmpty { throw t.fail("classes", nil, "applies to multiclass and multilabel tasks only") }
            try t.finish()
            tasks.append(task)
        }

        let ownFiles = tasks.filter { $0.files != nil }.count
        if ownFiles == 0 && dataConfig.train.isEmpty {
            throw d.fail("train", nil, "is missing", hint: "give the training file, or each task its own files under tasks[].data")
        }
        if ownFiles > 0 {
            if ownFiles < tasks.count {
                throw top.fail("tasks", nil, "give some tasks their own data: and not others; give every task a data: section, or none")
            }
            for (key, value) in [("train", dataConfig.train), ("validation", dataConfig.validation ?? ""), ("test", dataConfig.test ?? "")] where !value.isEmpty {
                throw d.fail(key, nil, "cannot be given when the tasks have their own files (tasks[].data)")
            }
            if dataConfig.validationFraction > 0 || dataConfig.testFraction > 0 || dataConfig.testHeadAsValidation > 0 || dataConfig.splitColumn != nil {
                throw d.fail("validation_fraction", nil, "and the other split settings apply to the data section's files, not to tasks with their own files",
                             hint: "give each task's validation and test files under tasks[].data")
            }
        }

        var m = try top.child("model") ?? ConfigReader(file: path, path: "model", node: Node([(Node, Node)]()))
        var model = ModelConfig(
            architecture: try m.choice("architecture", architectures, default: "hard-sharing"),
            trunk: try m.ints("trunk") ?? [256, 128],
            head: try m.ints("head") ?? [64],
            activation: try m.choice("activation", ["relu", "gelu"], default: "relu"),
            dropout: try m.double("dropout", default: 0, range: 0...0.95),
            layerNorm: try m.bool("layer_norm", default: false),
            stopGradient: try m.bool("stop_gradient", default: false),
            stitchInit: try m.double("stitch_init", default: 0.9, range: 0...1),
            experts: try m.int("experts", default: 8, min: 0),
            taskExperts: try m.int("task_experts", default: 2, min: 0),
            levels: try m.int("levels", default: 2, min: 1),
            expert: try m.ints("expert") ?? [256, 128],
            members: try m.int("members", default: 3, min: 1),
            member: try m.choice("member", architectures.filter { $0 != "ensemble" }, default: "hard-sharing"),
            bootstrap: try m.bool("bootstrap", default: false),
            dModel: try m.int("d_model", default: 32, min: 1),
            attentionHeads: try m.int("attention_heads", default: 4, min: 1),
            attentionLayers: try m.int("attention_layers", default: 2, min: 0),
            queries: try m.int("queries", default: 1, min: 1),
            feedForward: try m.int("feed_forward", default: 64, min: 1))
        model.sparseProjection = try m.int("sparse_projection", default: 64, min: 1)
        if let problem = Self.problem(with: model) { throw m.fail(problem.key, nil, problem.message) }
        if model.dModel % model.attentionHeads != 0 {
            throw m.fail("d_model", nil, "(\(model.dModel)) must be a multiple of attention_heads (\(model.attentionHeads))")
        }
        try m.finish()

        var tr = try top.child("training") ?? ConfigReader(file: path, path: "training", node: Node([(Node, Node)]()))
        var training = TrainingConfig(
            epochs: try tr.int("epochs", default: 10, min: 1),
            batchSize: try tr.int("batch_size", default: 256, min: 1),
            optimizer: try tr.choice("optimizer", ["adam", "adamw", "sgd"], default: "adam"),
            learningRate: try tr.double("learning_rate", default: 1e-3, range: 0...10),
            weightDecay: try tr.double("weight_decay", default: 0, range: 0...10),
            momentum: try tr.double("momentum", default: 0.9, range: 0...1),
            beta1: try tr.double("beta1", default: 0.9, range: 0...1),
            beta2: try tr.double("beta2", default: 0.999, range: 0...1),
            epsilon: try tr.double("epsilon", default: 1e-8, range: 0...1),
            clipNorm: try tr.double("clip_norm", default: 0, range: 0...1e9),
            warmupSteps: try tr.int("warmup_steps", default: 0, min: 0),
            schedule: try tr.choice("schedule", LearningRateSchedule.Decay.allCases.map(\.rawValue), default: "constant"),
            minLearningRate: try tr.double("min_learning_rate", default: 0, range: 0...10),
            seed: UInt64(try tr.int("seed", default: 0, min: 0)),
            threads: try tr.int("threads", default: 1, min: 1))
        training.sparseUpdates = try tr.choice("sparse_updates", ["dense", "lazy"], default: "dense")
        training.sampling = try tr.choice("sampling", ["proportional", "uniform", "temperature"], default: "proportional")
        training.samplingTemperature = try tr.double("sampling_temperature", default: 2, range: 1e-3...1e6)
        training.epochTask = try tr.string("epoch_task")
        training.stepsPerEpoch = try tr.int("steps_per_epoch", default: 0, min: 0)
        if let e = training.epochTask, !tasks.contains(where: { $0.name == e }) {
            throw tr.fail("epoch_task", nil, "names no task ('\(e)')", hint: "tasks: \(tasks.map(\.name).joined(separator: ", "))")
        }
        if training.sampling != "proportional" && ownFiles == 0 {
            throw tr.fail("sampling", nil, "applies to tasks with their own data sets (tasks[].data)")
        }
        try tr.finish()

        var c = try top.child("checkpoint") ?? ConfigReader(file: path, path: "checkpoint", node: Node([(Node, Node)]()))
        let checkpoint = CheckpointConfig(
            keepLast: try c.int("keep_last", default: 2, min: 1),
            bestMetric: try c.string("best_metric", default: "mean.roc_auc"))
        try validateMetricName(checkpoint.bestMetric, tasks: tasks, reader: c)
        try c.finish()

        var weighting = WeightingConfig.default
        if var w = try top.child("weighting") {
            let d = WeightingConfig.default
            weighting = WeightingConfig(
                method: try w.choice("method", WeightingConfig.methods, default: d.method),
                gradients: try w.choice("gradients", ["parameters", "representation"], default: d.gradients),
                dwaTemperature: try w.double("dwa_temperature", default: d.dwaTemperature, range: 1e-6...1e6),
                gradnormAlpha: try w.double("gradnorm_alpha", default: d.gradnormAlpha, range: 0...100),
                gradvacBeta: try w.double("gradvac_beta", default: d.gradvacBeta, range: 0...1),
                cagradC: try w.double("cagrad_c", default: d.cagradC, range: 0...100),
                cagradRescale: try w.bool("cagrad_rescale", default: d.cagradRescale),
                mgdaNormalization: try w.choice("mgda_normalization", ["none", "l2", "loss", "loss+"], default: d.mgdaNormalization))
            if let p = Self.problem(weighting: weighting, model: model, tasks: tasks) { throw w.fail(p.key, nil, p.message, hint: p.hint) }
            try w.finish()
        }
        var compare = CompareConfig()
        if var c = try top.child("compare") {
            compare.architectures = try c.strings("architectures") ?? compare.architectures
            compare.weighting = try c.strings("weighting") ?? compare.weighting
            for a in compare.architectures where !architectures.contains(a) {
                throw c.fail("architectures", nil, "names '\(a)', which is not an architecture", hint: "one of: \(architectures.joined(separator: ", "))")
            }
            for w in compare.weighting where !WeightingConfig.methods.contains(w) {
                throw c.fail("weighting", nil, "names '\(w)', which is not a weighting method", hint: "one of: \(WeightingConfig.methods.joined(separator: ", "))")
            }
            if let list = try c.children("candidates") {
                var out: [CompareConfig.Candidate] = []
                for var e in list {
                    let cand = CompareConfig.Candidate(architecture: try e.choice("architecture", architectures, default: "hard-sharing"),
                                                      weighting: try e.choice("weighting", WeightingConfig.methods, default: "fixed"))
                    try e.finish()
                    out.append(cand)
                }
                compare.candidates = out
            }
            compare.seeds = try c.int("seeds", default: compare.seeds, min: 1)
            compare.epochs = try c.int("epochs")
            if let e = compare.epochs, e < 1 { throw c.fail("epochs", nil, "must be at least 1") }
            compare.seconds = try c.double("seconds")
            if let v = compare.seconds, !(v > 0) { throw c.fail("seconds", nil, "must be a positive number of seconds") }
            compare.groupSize = try c.int("group_size", default: 0, min: 0)
            compare.probeEvery = try c.int("probe_every", default: compare.probeEvery, min: 1)
            compare.probeEpochs = try c.int("probe_epochs", default: compare.probeEpochs, min: 1)
            compare.output = try c.string("output")
            if compare.plan.count < 2 {
                throw c.fail("architectures", nil, "leaves no multi-task candidate to compare with the single-task baseline")
            }
            try c.finish()
        }
        let output = try top.string("output")
        try top.finish()
        var config = RunConfig(data: dataConfig, tasks: tasks, model: model, training: training, checkpoint: checkpoint,
                               output: output, sourceText: text, sourcePath: path)
        config.weighting = weighting
        config.compare = compare
        return config
    }

    private static func validateMetricName(_ name: String, tasks: [TaskConfig], reader: ConfigReader) throws {
        let parts = name.split(separator: ".", maxSplits: 1).map(String.init)
        let scopes = ["mean"] + tasks.map(\.name)
        guard parts.count == 2, scopes.contains(parts[0]), metricNames.contains(parts[1]) else {
            throw reader.fail("best_metric", nil, "is '\(name)'; it must be <task or mean>.<metric>",
                              hint: "tasks: \(scopes.joined(separator: ", ")); metrics: \(metricNames.joined(separator: ", "))")
        }
    }

    /// Command-line overrides applied on top of the file (kept in checkpoints with the file's text).
    public private(set) var overrides: [String: String] = [:]

    /// Applies overrides by config key: training.epochs, training.batch_size, training.seed,
    /// model.architecture.
    public mutating func apply(overrides new: [String: String]) throws {
        // Applied to a copy, so a refused override leaves the config as it was.
        var c = self
        try c.applyInPlace(new)
        self = c
    }

    private mutating func applyInPlace(_ new: [String: String]) throws {
        for (key, value) in new.sorted(by: { $0.key < $1.key }) {
            switch key {
            case "training.epochs": guard let v = Int(value), v >= 1 else { throw UserError("override \(key)=\(value) is not a positive integer") }; training.epochs = v
            case "training.batch_size": guard let v = Int(value), v >= 1 else { throw UserError("override \(key)=\(value) is not a positive integer") }; training.batchSize = v
            case "training.seed": guard let v = UInt64(value) else { throw UserError("override \(key)=\(value) is not a non-negative integer") }; training.seed = v
            case "model.architecture":
                guard Self.architectures.contains(value) else { throw UserError("override \(key)=\(value) is not an architecture") }
                model.architecture = value
                if let p = Self.problem(with: model) {
                    throw UserError("\(sourcePath): with architecture \(value), config key 'model.\(p.key)' \(p.message)")
                }
            case "weighting.method":
                guard WeightingConfig.methods.contains(value) else {
                    throw UserError("override \(key)=\(value) is not a weighting method", hint: "one of: \(WeightingConfig.methods.joined(separator: ", "))")
                }
                weighting.method = value
            default: throw UserError("unknown override '\(key)'")
            }
            overrides[key] = value
        }
        if let p = Self.problem(weighting: weighting, model: model, tasks: tasks) {
            throw UserError("\(sourcePath): config key 'weighting.\(p.key)' \(p.message)", hint: p.hint)
        }
    }

    /// What makes a weighting section unusable with the model and tasks, if anything.
    static func problem(weighting w: WeightingConfig, model: ModelConfig, tasks: [TaskConfig]) -> (key: String, message: String, hint: String?)? {
        if w.gradients == "representation" && w.usesGradients && !representationArchitectures.contains(model.architecture) {
            return ("gradients", "is representation, which needs an architecture with one shared representation (\(representationArchitectures.joined(separator: ", "))), not \(model.architecture)",
                    "use gradients: parameters (exact, for every architecture)")
        }
        return nil
    }

    /// What makes a model section unusable for its architecture, if anything (checked when the
    /// file is read and again after command-line overrides).
    static func problem(with model: ModelConfig) -> (key: String, message: String)? {
        // The architecture that builds experts: the model's own, or its ensemble members'.
        let expertArchitecture = model.architecture == "ensemble" ? model.member : model.architecture
        if expertArchitecture == "mmoe" && model.experts < 1 { return ("experts", "must be at least 1 for mmoe") }
        if ["cgc", "ple"].contains(expertArchitecture) && model.experts + model.taskExperts < 1 {
            return ("experts", "and model.task_experts cannot both be 0 for \(expertArchitecture)")
        }
        if expertArchitecture == "ple" && model.levels > 1 && model.experts < 1 {
            return ("experts", "must be at least 1 for ple with several levels: the shared gate mixes shared experts")
        }
        return nil
    }

    /// Resolves a data path from the config against the config file's folder.
    public func resolve(_ path: String) -> String {
        if path.hasPrefix("/") { return path }
        let dir = (sourcePath as NSString).deletingLastPathComponent
        return dir.isEmpty ? path : (dir as NSString).appendingPathComponent(path)
    }

    /// The separator as one byte.
    public var separatorByte: UInt8 {
        data.separator == "\\t" ? UInt8(ascii: "\t") : Array(data.separator.utf8)[0]
    }
}
