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
    static let configuration = CommandConfiguration(abstract: "Evaluate a checkpoint on a split of its run's data; prints JSON.")
    @Option(help: "A checkpoint written by train.") var checkpoint: String
    @Option(help: "The split: train, validation or test.") var split: SplitName = .test
    @OptionGroup var common: CommonOptions

    struct Output: Encodable {
        var checkpoint: String
        var split: String
        var rows: Int
        var metrics: [String: MetricValues]
    }

    func run() throws {
        try withRuntime(common) { comm, _ in
            guard comm.isRoot else { return }
            let file = try SafeTensors.read(path: checkpoint)
            let (cfg, pre) = try Checkpoint.runConfig(of: file)
            let data = try LoadedData.load(source: cfg.dataSource, preprocessor: pre)
            let chosen: EncodedSplit?
            switch split {
            case .train: chosen = data.train
            case .validation: chosen = data.validation
            case .test: chosen = data.test
            }
            guard let s = chosen else {
                throw UserError("the run has no \(split.rawValue) split", hint: "its config defines no \(split.rawValue) file or fraction")
            }
            try cfg.model.checkFits(layout: pre.layout, maxRows: 1024)
            let model = makeModel(cfg.model, layout: pre.layout, maxRows: 1024, seed: cfg.training.seed)
            try Checkpoint.load(file, store: model.store, into: model.store.values.pointer, optimizer: nil, state: nil)
            // Multi-label thresholds set to tune come from the validation split, as in training.
            var thresholds: [String: [Double]] = [:]
            if split != .validation, let v = data.validation, pre.tasks.contains(where: \.tunesThreshold) {
                thresholds = Evaluator.tunedThresholds(Evaluator.predict(model: model, split: v, tasks: pre.tasks), split: v)
            }
            let metrics = Evaluator.metrics(Evaluator.predict(model: model, split: s, tasks: pre.tasks), split: s, thresholds: thresholds)
            print(try JSON.text(Output(checkpoint: checkpoint, split: split.rawValue, rows: s.rows, metrics: metrics), pretty: true))
        }
    }
}
