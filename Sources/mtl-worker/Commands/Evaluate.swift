import ArgumentParser
import Foundation
import MTLCore
import MTLData
import MTLModels
import MTLTraining

/// A split of a run's data, as `evaluate --split` names it.
enum SplitName: String, CaseIterable, ExpressibleByArgument {
    case train, validation, test
}

struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Evaluate a checkpoint or a model file on a split of its run's data, or on a new labelled file (--input); prints JSON.")
    @Option(help: "A checkpoint written by train.") var checkpoint: String?
    @Option(help: "A model file written by export (instead of --checkpoint): run by the inference engine, float or int8.") var model: String?
    @Option(help: "The split: train, validation or test.") var split: SplitName = .test
    @Option(help: "A new labelled file in the training data's format, scored instead of a split.") var input: String?
    @Option(help: "The columns of a headerless --input, comma-separated (default: the config's data.columns).") var columns: String?
    @OptionGroup var common: CommonOptions

    struct Output: Encodable {
        var checkpoint: String?
        var model: String?
        var split: String
        var input: String?
        var rows: Int
        var metrics: [String: MetricValues]
    }

    func run() throws {
        try withRuntime(common) { comm, _ in
            guard comm.isRoot else { return }
            let saved = try SavedModel(checkpoint: checkpoint, model: model)
            let pre = saved.preprocessor
            let s: EncodedSplit
            if let input {
                let (table, warnings) = try saved.read(input, columns: columns.map { $0.split(separator: ",").map(String.init) }, needLabels: true)
                for w in warnings { FileHandle.standardError.write(Data("warning: \(w)\n".utf8)) }
                s = try pre.encode(table, split: "input")
            } else {
                let data = try LoadedData.load(source: saved.config.dataSource, preprocessor: pre)
                let chosen: EncodedSplit?
                switch split {
                case .train: chosen = data.train
                case .validation: chosen = data.validation
                case .test: chosen = data.test
                }
                guard let c = chosen else {
                    throw UserError("the run has no \(split.rawValue) split", hint: "its config defines no \(split.rawValue) file or fraction; score a labelled file with --input")
                }
                s = c
            }
            // Multi-label thresholds set to tune come from the validation split, as in training.
            let thresholds = input == nil && split == .validation ? [:] : try saved.tunedThresholds()
            let metrics = Evaluator.metrics(try saved.predict(s), split: s, thresholds: thresholds)
            print(try JSON.text(Output(checkpoint: checkpoint, model: model, split: input == nil ? split.rawValue : "input", input: input, rows: s.rows, metrics: metrics),
                                pretty: true))
        }
    }
}
