import ArgumentParser
import Foundation
import MTLCore
import MTLData
import MTLModels
import MTLTraining

struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write per-task predictions for an input file as CSV.",
        discussion: "Columns: line (the input line), then per binary task its positive-class probability, per multiclass task one probability column per class (task:class), per regression task its value.")
    @Option(help: "A checkpoint written by train.") var checkpoint: String
    @Option(help: "Input file with the training data's feature columns and format.") var input: String
    @Option(help: "Output CSV file (written atomically), or - for standard output.") var output: String
    @OptionGroup var common: CommonOptions

    func run() throws {
        try withRuntime(common) { comm, _ in
            guard comm.isRoot else { return }
            let file = try SafeTensors.read(path: checkpoint)
            let (cfg, pre) = try Checkpoint.runConfig(of: file)
            var format = cfg.data.format
            format.skipBadRows = false
            let table = try TextTable.read(path: input, format: format)
            let split = try pre.encode(table, split: "input", labels: false)
            try cfg.model.checkFits(layout: pre.layout, maxRows: 1024)
            let model = makeModel(cfg.model, layout: pre.layout, maxRows: 1024, seed: cfg.training.seed)
            try Checkpoint.load(file, store: model.store, into: model.store.values.pointer, optimizer: nil, state: nil)
            let p = Evaluator.predict(model: model, split: split, tasks: pre.tasks)
            var header = ["line"]
            for t in pre.tasks {
                if t.kind == .multiclass || t.kind == .multilabel { header += t.classes.map { csvField("\(t.name):\($0)") } } else { header.append(csvField(t.name)) }
            }
            var text = header.joined(separator: ",") + "\n"
            for r in 0..<split.rows {
                var fields = [String(table.lines[r])]
                for (t, task) in pre.tasks.enumerated() {
                    let k = task.outputs
                    for c in 0..<k { fields.append(String(format: "%.6g", p.values[t][r * k + c])) }
                }
                text += fields.joined(separator: ",") + "\n"
            }
            if output == "-" {
                FileHandle.standardOutput.write(Data(text.utf8))
            } else {
                try AtomicFile.write(output, text: text)
            }
            FileHandle.standardError.write(Data("wrote \(split.rows) rows to \(output == "-" ? "standard output" : output)\n".utf8))
        }
    }

    func csvField(_ s: String) -> String {
        s.contains(",") || s.contains("\"") ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
    }
}
