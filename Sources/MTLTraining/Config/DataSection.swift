import Foundation
import MTLCore
import MTLData

extension ConfigReader {
    /// The `data:` section (finished: an unknown key is an error).
    mutating func dataSection() throws -> DataConfig {
        var c = DataConfig()
        c.train = try string("train") ?? ""
        c.validation = try string("validation")
        c.test = try string("test")
        c.validationFraction = try double("validation_fraction", default: 0, range: 0...0.9)
        c.testFraction = try double("test_fraction", default: 0, range: 0...0.9)
        c.testHeadAsValidation = try double("test_head_as_validation", default: 0, range: 0...0.99)
        c.splitSeed = UInt64(try int("split_seed", default: 0, min: 0, max: ConfigLimits.seed))
        c.separator = try string("separator", default: ",")
        c.header = try bool("header", default: true)
        c.columns = try strings("columns")
        c.comment = try string("comment")
        c.missing = try strings("missing") ?? c.missing
        c.trim = try bool("trim", default: true)
        c.numeric = try strings("numeric")
        c.categorical = try strings("categorical")
        c.drop = try strings("drop") ?? []
        c.categoricalEncoding = try choice("categorical_encoding", default: c.categoricalEncoding)
        c.embeddingDim = try int("embedding_dim", default: c.embeddingDim, min: 1, max: ConfigLimits.width)
        c.minCategoryCount = try int("min_category_count", default: c.minCategoryCount, min: 1)
        c.badRows = try choice("bad_rows", default: c.badRows)
        c.quoting = try bool("quoting", default: true)
        c.logNumeric = try strings("log_numeric") ?? []
        c.numericBins = try int("numeric_bins", default: 0, min: 0, max: ConfigLimits.width)
        c.chunkMB = try double("chunk_mb", default: c.chunkMB, range: 0...1_048_576)
        c.cache = try string("cache")
        c.text = try strings("text") ?? []
        if var tf = try child("text_features") { c.textFeatures = try tf.textFeatures() }
        for var sc in try children("sparse") ?? [] {
            guard let column = try sc.string("column") else { throw sc.fail("column", nil, "is missing") }
            guard let width = try sc.int("width"), width >= 1, width <= 1 << 30 else {
                throw sc.fail("width", nil, "is missing or not between 1 and \(1 << 30)", hint: "declare how many positions the column's indices address")
            }
            c.sparse.append(SparseColumnConfig(column: column, width: width, format: try sc.choice("format", default: SparseFormat.indices)))
            try sc.finish()
        }
        c.splitColumn = try string("split_column")
        if let v = try strings("split_values") {
            guard v.count == 3 else { throw fail("split_values", nil, "must list three values: train, validation, test") }
            c.splitValues = v
        }
        // A column named twice (in one list or in two) is a mistake, never a wish.
        var seen: [String: String] = [:]
        for (key, names) in [("numeric", c.numeric ?? []), ("categorical", c.categorical ?? []), ("text", c.text), ("sparse", c.sparse.map(\.column))] {
            for name in names {
                if let other = seen[name] {
                    throw fail(key, nil, "names column '\(name)', which data.\(other) names already", hint: "give each column one role")
                }
                seen[name] = key
            }
        }
        if c.separator.unicodeScalars.count != 1 && c.separator != "\\t" {
            throw fail("separator", nil, "must be one character (or \\t)")
        }
        if !c.header && c.columns == nil {
            throw fail("columns", nil, "is required when header is false", hint: "list the column names in file order")
        }
        if c.validation != nil && c.validationFraction > 0 {
            throw fail("validation_fraction", nil, "cannot be used together with data.validation")
        }
        if c.testHeadAsValidation > 0 && (c.test == nil || c.validation != nil || c.validationFraction > 0) {
            throw fail("test_head_as_validation", nil, "needs data.test and no other validation split")
        }
        if c.test != nil && c.testFraction > 0 {
            throw fail("test_fraction", nil, "cannot be used together with data.test")
        }
        try finish()
        return c
    }

    /// `data.text_features`.
    mutating func textFeatures() throws -> TextSettings {
        let def = TextSettings.default
        let ngrams = try ints("ngrams", max: 64) ?? def.ngrams
        let chars = try ints("char_ngrams", max: 64) ?? def.charNgrams
        for (key, pair) in [("ngrams", ngrams), ("char_ngrams", chars)] where pair.count != 2 || pair[0] > pair[1] || pair[0] < 0 {
            throw fail(key, nil, "must be [min, max] with 0 <= min <= max", hint: "e.g. [1, 2] for words and word pairs")
        }
        let s = TextSettings(
            lowercase: try bool("lowercase", default: def.lowercase),
            minTokenLength: try int("min_token_length", default: def.minTokenLength, min: 1, max: ConfigLimits.width),
            ngrams: ngrams, charNgrams: chars,
            hashingBits: try int("hashing_bits", default: def.hashingBits, min: 0),
            minCount: try int("min_count", default: def.minCount, min: 1),
            maxVocabulary: try int("max_vocabulary", default: def.maxVocabulary, min: 0),
            sublinearTF: try bool("sublinear_tf", default: def.sublinearTF),
            idf: try bool("idf", default: def.idf))
        if s.hashingBits > 26 { throw fail("hashing_bits", nil, "must be at most 26") }
        try finish()
        return s
    }

    /// One entry of `tasks:` (finished); `known` are the tasks before it.
    mutating func task(known tasks: [TaskConfig], configPath path: String) throws -> TaskConfig {
        guard let name = try string("name") else { throw fail("name", nil, "is missing") }
        guard !tasks.contains(where: { $0.name == name }) else { throw fail("name", nil, "repeats the task name '\(name)'") }
        guard let column = try string("column") else { throw fail("column", nil, "is missing", hint: "name the label column of task '\(name)'") }
        guard let kindName = try string("kind"), let kind = TaskKind(rawValue: kindName) else {
            throw fail("kind", nil, "must be one of: \(TaskKind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        var task = TaskConfig(name: name, column: column, kind: kind,
                              positive: try strings("positive") ?? [],
                              negative: try strings("negative") ?? [],
                              classes: try strings("classes") ?? [],
                              weight: try double("weight", default: 1, range: 0...1e6))
        if let file = try string("classes_file") {
            guard task.classes.isEmpty else { throw fail("classes_file", nil, "cannot be given together with classes") }
            let full = Paths.resolve(file, againstFolderOf: path)
            guard let text = try? String(contentsOfFile: full, encoding: .utf8) else {
                throw fail("classes_file", nil, "'\(full)' cannot be read", hint: "give a file with one class name per line")
            }
            task.classes = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }
        if var td = try child("data") {
            guard let tr = try td.string("train") else { throw td.fail("train", nil, "is missing", hint: "give task '\(name)' its training file") }
            var files = TaskFiles(train: tr, validation: try td.string("validation"), test: try td.string("test"))
            // The files' own format, where it differs from data's.
            files.separator = try td.string("separator")
            if let s = files.separator, s.unicodeScalars.count != 1 && s != "\\t" {
                throw td.fail("separator", td.node(of: "separator"), "must be one character (or \\t)")
            }
            files.header = try td.bool("header")
            files.columns = try td.strings("columns")
            if files.header == false && files.columns == nil {
                throw td.fail("columns", td.node(of: "header"), "is required when header is false", hint: "list these files' column names in file order")
            }
            files.quoting = try td.bool("quoting")
            files.comment = try td.string("comment")
            files.missing = try td.strings("missing") ?? []
            if var rn = try td.child("rename") { files.rename = try rn.stringMap() }
            if var cb = try td.child("combine") { files.combine = try cb.listMap() }
            try td.finish()
            task.files = files
        }
        if kind == .multilabel {
            task.labelSeparator = try string("label_separator", default: ",")
            task.classWeight = try choice("class_weight", default: ClassWeight.none)
            switch try string("threshold") {
            case "tune": task.threshold = .tune
            case "tune-per-class": task.threshold = .tunePerClass
            default: task.threshold = .fixed(try double("threshold", default: 0.5, range: 0...1))
            }
        }
        if kind != .multilabel {
            for k in ["threshold", "label_separator", "class_weight"] where has(k) {
                throw fail(k, node(of: k), "applies to multilabel tasks only (this task is \(kind.rawValue))",
                           hint: "remove it, or make the task kind: multilabel")
            }
        }
        if kind == .binary && task.positive.isEmpty {
            throw fail("positive", nil, "is required for a binary task", hint: "list the values that mean 1, e.g. positive: [yes]")
        }
        if kind != .binary && !(task.positive.isEmpty && task.negative.isEmpty) {
            throw fail("positive", nil, "applies to binary tasks only")
        }
        if kind != .multiclass && kind != .multilabel && !task.classes.isEmpty { throw fail("classes", nil, "applies to multiclass and multilabel tasks only") }
        try finish()
        return task
    }

    /// The data section against the tasks' own files (read with the data section's reader).
    func checkFiles(of tasks: [TaskConfig], data: DataConfig, top: ConfigReader) throws {
        let ownFiles = tasks.filter { $0.files != nil }.count
        if ownFiles == 0 && data.train.isEmpty {
            throw fail("train", nil, "is missing", hint: "give the training file, or each task its own files under tasks[].data")
        }
        guard ownFiles > 0 else { return }
        if ownFiles < tasks.count {
            throw top.fail("tasks", nil, "give some tasks their own data: and not others; give every task a data: section, or none")
        }
        for (key, value) in [("train", data.train), ("validation", data.validation ?? ""), ("test", data.test ?? "")] where !value.isEmpty {
            throw fail(key, nil, "cannot be given when the tasks have their own files (tasks[].data)")
        }
        if data.validationFraction > 0 || data.testFraction > 0 || data.testHeadAsValidation > 0 || data.splitColumn != nil {
            throw fail("validation_fraction", nil, "and the other split settings apply to the data section's files, not to tasks with their own files",
                       hint: "give each task's validation and test files under tasks[].data")
        }
    }
}
