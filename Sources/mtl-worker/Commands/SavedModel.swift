import Foundation
import MTLCore
import MTLData
import MTLInference
import MTLModels
import MTLTraining

/// A checkpoint or a model file (`export`) loaded for use (predict, evaluate): its run's config,
/// the preprocessing fitted on its training split, and the model with its parameters (a
/// checkpoint's through the training forward pass, a model file's through the inference engine).
struct SavedModel {
    let path: String
    let config: RunConfig
    let preprocessor: Preprocessor
    let backend: Backend
    /// A model file's thresholds, tuned at export.
    var storedThresholds: [String: [Double]] = [:]

    enum Backend {
        case checkpoint(MultiTaskModel)
        case engine(Predictor)
    }

    init(checkpoint path: String) throws {
        let file = try SafeTensors.read(path: path)
        (config, preprocessor) = try Checkpoint.runConfig(of: file)
        try config.model.checkFits(layout: preprocessor.layout, maxRows: 1024)
        let model = makeModel(config.model, layout: preprocessor.layout, maxRows: 1024, seed: config.training.seed)
        try Checkpoint.load(file, store: model.store, into: model.store.values.pointer, optimizer: nil, state: nil)
        backend = .checkpoint(model)
        self.path = path
    }

    init(model path: String) throws {
        let file = try ModelFile(path: path)
        config = file.config
        preprocessor = file.preprocessor
        // The checkpoint's chunk of rows, so that the float engine's products are blocked alike.
        backend = .engine(Predictor(model: try file.compile(maxRows: 1024), tasks: file.preprocessor.tasks))
        storedThresholds = file.thresholds
        self.path = path
    }

    /// `--checkpoint` or `--model`, exactly one.
    init(checkpoint: String?, model: String?) throws {
        switch (checkpoint, model) {
        case (let c?, nil): try self.init(checkpoint: c)
        case (nil, let m?): try self.init(model: m)
        default: throw UserError("give either --checkpoint (written by train) or --model (written by export)")
        }
    }

    /// Per-task predictions for every row of an encoded split.
    func predict(_ split: EncodedSplit) throws -> Predictions {
        switch backend {
        case .checkpoint(let model): return Evaluator.predict(model: model, split: split, tasks: preprocessor.tasks)
        case .engine(let p):
            return try p.predictions(split, workspace: p.model.makeWorkspace())
        }
    }

    /// The columns the model reads (numeric, categorical, text and sparse).
    var featureColumns: Set<String> {
        Set(preprocessor.numeric.map(\.name) + preprocessor.categorical.map(\.name) + preprocessor.sparseFields.map(\.name))
    }

    /// Label columns that are not also features: a new input may leave them out.
    var labelOnlyColumns: [String] {
        let features = featureColumns
        return preprocessor.tasks.map(\.column).filter { !features.contains($0) }
    }

    /// Reads a new input file in the run's format. With a header line, the names come from it;
    /// without one, from `columns` (`--columns`), else from the config's `data.columns`, of which
    /// the label columns may be left out (the last ones first). A wrong file gets a hint about the
    /// file and the flags, not about config keys that cannot change at this point. Warnings (left
    /// out columns, values of categorical columns not seen in training) are returned.
    func read(_ input: String, columns: [String]?, needLabels: Bool) throws -> (TextTable, [String]) {
        var format = config.data.format
        format.skipBadRows = false
        if let c = columns {
            format.header = false
            format.columns = c
        } else if format.header {
            format.columns = nil
        } else if !needLabels {
            format.optionalColumns = labelOnlyColumns
        }
        let table: TextTable
        do { table = try TextTable.read(path: input, format: format) } catch let e as UserError {
            let layout = format.header ? "a header line naming its columns"
                : "no header line and the fields \((format.columns ?? []).joined(separator: ","))"
            throw UserError(e.message, hint: "the input must be in the training data's format (separator '\(Character(Unicode.Scalar(format.separator)))', \(layout)); "
                            + "name a headerless file's columns with --columns a,b,c")
        }
        var warnings: [String] = []
        if !table.omittedColumns.isEmpty {
            warnings.append("\(table.file): \(table.columnNames.count) fields per row: read as the config's columns without \(table.omittedColumns.joined(separator: ", ")) (label columns); if other columns are missing, name them with --columns")
        }
        for f in featureColumns.sorted() where table.columnIndex(f) == nil {
            throw UserError("\(table.file): the model's input column '\(f)' is missing (columns: \(table.columnNames.joined(separator: ", ")))",
                            hint: "give every feature column of the training data; name a headerless file's columns with --columns")
        }
        if needLabels {
            for t in preprocessor.tasks where table.columnIndex(t.column) == nil {
                throw UserError("\(table.file): task '\(t.name)' has no label column '\(t.column)'", hint: "evaluate needs the label columns")
            }
        }
        let missing = Set(config.data.missing)
        for c in preprocessor.categorical {
            guard let i = table.columnIndex(c.name) else { continue }
            let known = Set(c.vocabulary)
            let unseen = table.columns[i].filter { !known.contains($0) && !missing.contains($0) }
            if let first = unseen.first {
                warnings.append("\(table.file): column '\(c.name)': \(unseen.count) of \(table.rowCount) rows hold values not seen in training (e.g. '\(first)'); they are encoded as unknown")
            }
        }
        return (table, warnings)
    }

    /// Multi-label thresholds set to tune, tuned on the run's validation split as in training
    /// (empty when no task tunes one or the run has no validation split).
    func tunedThresholds() throws -> [String: [Double]] {
        guard preprocessor.tasks.contains(where: \.tunesThreshold) else { return [:] }
        if !storedThresholds.isEmpty { return storedThresholds }
        let data = try LoadedData.load(source: config.dataSource, preprocessor: preprocessor)
        guard let v = data.validation else { return [:] }
        return Evaluator.tunedThresholds(try predict(v), split: v)
    }
}
