import Foundation
import MTLCore

/// The kinds of task a head can learn.
public enum TaskKind: String, Sendable, CaseIterable, Codable {
    case binary, multiclass, multilabel, regression
}

/// How a multi-label task turns probabilities into labels (`tasks[].threshold`).
public enum ThresholdRule: Sendable, Equatable {
    /// One threshold for every class.
    case fixed(Double)
    /// One threshold for the task, the best for its macro F1 on the validation split.
    case tune
    /// One threshold per class, each the best for its class's F1 on the validation split.
    case tunePerClass
}

/// How a multi-label task weighs its classes' labels (`tasks[].class_weight`).
public enum ClassWeight: String, Sendable, CaseIterable {
    case none
    /// Each class's positive and negative labels weigh n / (2 n_pos) and n / (2 n_neg).
    case balanced
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
    /// multilabel: the decision threshold rule.
    public var threshold: ThresholdRule = .fixed(0.5)
    public var classWeight: ClassWeight = .none
    /// The task's own files (tasks with their own data sets); nil: the data section's files.
    public var files: TaskFiles? = nil

    public init(name: String, column: String, kind: TaskKind, positive: [String] = [], negative: [String] = [],
                classes: [String] = [], weight: Double = 1) {
        self.name = name; self.column = column; self.kind = kind
        self.positive = positive; self.negative = negative; self.classes = classes; self.weight = weight
    }
}

/// A task's own data set.
public struct TaskFiles: Sendable, Equatable {
    public var train: String
    public var validation: String?
    public var test: String?
    /// The files' own format where it differs from the top-level `data:` one (nil: as there).
    public var separator: String? = nil
    public var header: Bool? = nil
    public var columns: [String]? = nil
    public var quoting: Bool? = nil
    public var comment: String? = nil
    /// Cells that mean "missing" in these files (on top of the top-level `data.missing`).
    public var missing: [String] = []
    /// Columns of these files under the names the config uses (file name -> config name), so
    /// data sets that name a field differently feed the same input (and share its vocabulary).
    public var rename: [String: String] = [:]
    /// New columns made of several of the files' columns joined by a space (text fields such as
    /// title + description); the parts are dropped.
    public var combine: [String: [String]] = [:]
    public init(train: String, validation: String? = nil, test: String? = nil) {
        self.train = train; self.validation = validation; self.test = test
    }

    /// The reading options of these files: their own where given, else the top-level ones.
    public func format(over d: DataConfig) -> TextTable.Format {
        var f = d.format
        if let s = separator { f.separator = DataConfig.byte(ofSeparator: s) }
        if let h = header { f.header = h }
        if header == true { f.columns = columns }
        if let c = columns { f.columns = c }
        if let q = quoting { f.quoting = q }
        if let c = comment { f.comment = c }
        return f
    }
}

/// How a column of sparse numbers is written.
public enum SparseFormat: String, Sendable, CaseIterable, Codable {
    /// `3 17 1020`: those positions are 1.
    case indices
    /// `3:0.5 17:2`: position:value, LIBSVM style.
    case pairs
}

/// A column of sparse numbers (`data.sparse`).
public struct SparseColumnConfig: Sendable, Equatable {
    public var column: String
    public var width: Int
    public var format: SparseFormat
    public init(column: String, width: Int, format: SparseFormat) { self.column = column; self.width = width; self.format = format }
}

/// How categorical columns enter the model (`data.categorical_encoding`).
public enum CategoricalEncoding: String, Sendable, CaseIterable, Codable {
    /// One-hot blocks of the dense input.
    case onehot
    /// Indices into learned tables.
    case embedding
}

/// What a row with the wrong number of fields does (`data.bad_rows`).
public enum BadRows: String, Sendable, CaseIterable {
    /// Stops the run naming the line.
    case error
    /// Drops the row and counts it in the log.
    case skip
}

/// One fold of a k-fold cross-validation of the training rows.
public struct Fold: Sendable, Equatable {
    public var index: Int
    public var count: Int
    public init(index: Int, count: Int) { self.index = index; self.count = count }

    /// The rows of fold `index` (validation) and of the others (training), each in file order.
    public func split(rows n: Int, seed: UInt64) -> (train: [Int], validation: [Int]) {
        let order = seededPermutation(n, seed: SplitMix64.mix(seed ^ 0xF01D_5EED))
        var train: [Int] = [], validation: [Int] = []
        for (position, row) in order.enumerated() {
            if position % count == index { validation.append(row) } else { train.append(row) }
        }
        return (train.sorted(), validation.sorted())
    }
}

/// The config's `data:` section: files, their format, the feature columns and their encoding.
public struct DataConfig: Sendable, Equatable {
    public var train: String = ""
    public var validation: String? = nil
    public var test: String? = nil
    public var validationFraction: Double = 0
    public var testFraction: Double = 0
    /// Share of the test file, from its start, used as the validation split (the rest is test).
    public var testHeadAsValidation: Double = 0
    public var splitSeed: UInt64 = 0
    public var separator: String = ","
    public var header: Bool = true
    public var columns: [String]? = nil
    public var comment: String? = nil
    public var missing: [String] = ["", "?", "NA", "NaN"]
    public var trim: Bool = true
    public var numeric: [String]? = nil
    /// Numeric columns taken as sign(v) log(1 + |v|) before standardisation (heavy-tailed amounts).
    public var logNumeric: [String] = []
    /// Quantile bins of the piecewise linear encoding added beside each numeric value (0: none).
    public var numericBins: Int = 0
    /// A data file larger than this on disk (MiB) is read, fitted and encoded in pieces of this
    /// much text, so its text is never held whole (0: always whole).
    public var chunkMB: Double = 256
    /// A folder where the encoded data is kept for later runs (`DataCache`); nil: none.
    public var cache: String? = nil
    public var categorical: [String]? = nil
    public var drop: [String] = []
    public var categoricalEncoding: CategoricalEncoding = .onehot
    public var embeddingDim: Int = 8
    public var minCategoryCount: Int = 1
    public var badRows: BadRows = .error
    public var quoting: Bool = true
    /// Text columns (TF-IDF features) and how they are featurised.
    public var text: [String] = []
    public var textFeatures: TextSettings = .default
    public var sparse: [SparseColumnConfig] = []
    /// One file holding every split, told apart by this column's values.
    public var splitColumn: String? = nil
    public var splitValues: [String] = ["train", "validation", "test"]
    /// Set by `compare` (compare.folds), never by a config key: fold `index` of `count` of the
    /// training rows (a seeded permutation of data.split_seed) is the validation split and the
    /// rest trains; the configured validation split is not used.
    public var fold: Fold? = nil

    public init() {}

    /// The separator as one byte (`\t` written as two characters means a tab).
    public var separatorByte: UInt8 { Self.byte(ofSeparator: separator) }

    /// A separator as written in a config, as one byte (`\t` written as two characters means a tab).
    public static func byte(ofSeparator s: String) -> UInt8 {
        s == "\\t" ? UInt8(ascii: "\t") : (s.utf8.first ?? UInt8(ascii: ","))
    }

    /// The reading options of the section's files.
    public var format: TextTable.Format {
        TextTable.Format(separator: separatorByte, header: header, columns: columns, comment: comment, trim: trim,
                         skipBadRows: badRows == .skip, quoting: quoting)
    }
}

/// What the data layer needs of a run's config: the data section, the tasks, and the config
/// file's path (relative data paths are resolved against its folder and errors name it).
public struct DataSource: Sendable, Equatable {
    public var data: DataConfig
    public var tasks: [TaskConfig]
    public var configPath: String

    public init(data: DataConfig, tasks: [TaskConfig], configPath: String) {
        self.data = data; self.tasks = tasks; self.configPath = configPath
    }

    /// Resolves a data path from the config against the config file's folder.
    public func resolve(_ path: String) -> String {
        Paths.resolve(path, againstFolderOf: configPath)
    }
}
