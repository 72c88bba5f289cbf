import ArgumentParser
import Foundation
import MTLCore
import MTLData
import MTLModels
import MTLInference
import MTLTraining

struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write per-task predictions for an input file as CSV.",
        discussion: "Columns: line (the input line), the --id-column if given, then per binary task its positive-class probability, per multiclass and multilabel task one probability column per class (task:class), per regression task its value; with --decisions also task:decision (binary 0 or 1 at 0.5, multiclass the class, multilabel the classes at or above their thresholds joined by |).")
    @Option(help: "A checkpoint written by train.") var checkpoint: String?
    @Option(help: "A model file written by export (instead of --checkpoint): run by the inference engine, float or int8.") var model: String?
    @Option(help: "Input file with the training data's feature columns and format (label columns may be left out).") var input: String
    @Option(help: "Output CSV file (written atomically), or - for standard output.") var output: String
    @Option(help: "A column of the input to copy into each output row (an id).") var idColumn: String?
    @Option(help: "The columns of a headerless input, comma-separated (default: the config's data.columns, label columns left out as needed).")
    var columns: String?
    @Flag(help: "Also write each task's decision (multilabel thresholds as configured, or tuned on the run's validation split).")
    var decisions = false
    @Option(help: "Also write the encoded inputs of each row (CSV: line, dense:0.., the category indices, the sparse nonzeros as column:value), which an ONNX export takes.")
    var encodedOutput: String?
    @OptionGroup var common: CommonOptions

    func run() throws {
        try withRuntime(common) { comm, _ in
            guard comm.isRoot else { return }
            let saved = try SavedModel(checkpoint: checkpoint, model: model)
            let pre = saved.preprocessor
            let (table, warnings) = try saved.read(input, columns: columns.map { $0.split(separator: ",").map(String.init) }, needLabels: false)
            for w in warnings { FileHandle.standardError.write(Data("warning: \(w)\n".utf8)) }
            let id = try idColumn.map { name -> Int in
                guard let i = table.columnIndex(name) else {
                    throw UserError("--id-column '\(name)' is not a column of \(table.file)", hint: "columns are: \(table.columnNames.joined(separator: ", "))")
                }
                return i
            }
            let split = try pre.encode(table, split: "input", labels: false)
            let p = try saved.predict(split)
            let thresholds = decisions ? try saved.tunedThresholds() : [:]
            var header = ["line"] + (idColumn.map { [csvField($0)] } ?? [])
            for t in pre.tasks {
                if t.kind == .multiclass || t.kind == .multilabel { header += t.classes.map { csvField("\(t.name):\($0)") } } else { header.append(csvField(t.name)) }
                if decisions { header.append(csvField("\(t.name):decision")) }
            }
            var text = header.joined(separator: ",") + "\n"
            for r in 0..<split.rows {
                var fields = [String(table.lines[r])]
                if let i = id { fields.append(csvField(table.columns[i][r])) }
                for (t, task) in pre.tasks.enumerated() {
                    let k = task.outputs
                    let row = Array(p.values[t][(r * k)..<((r + 1) * k)])
                    for v in row { fields.append(String(format: "%.9g", v)) }
                    if decisions { fields.append(csvField(task.decision(row, tuned: thresholds[task.name]))) }
                }
                text += fields.joined(separator: ",") + "\n"
            }
            if output == "-" {
                FileHandle.standardOutput.write(Data(text.utf8))
            } else {
                try AtomicFile.write(output, text: text)
            }
            if let path = encodedOutput { try AtomicFile.write(path, text: Self.encodedCSV(split, table: table, preprocessor: pre)) }
            FileHandle.standardError.write(Data("wrote \(split.rows) rows to \(output == "-" ? "standard output" : output)\n".utf8))
        }
    }

    /// The encoded inputs, row by row: the dense row, in embedding mode each categorical column's
    /// index, and the sparse block's nonzeros as space-separated column:value pairs.
    static func encodedCSV(_ split: EncodedSplit, table: TextTable, preprocessor pre: Preprocessor) -> String {
        let w = split.denseWidth, c = split.categoryColumns
        var header = ["line"] + (0..<w).map { "dense:\($0)" }
        if c > 0 { header += pre.categorical.map { "category:\($0.name)" } }
        if split.sparse != nil { header.append("sparse") }
        var text = header.joined(separator: ",") + "\n"
        var row = [Float](repeating: 0, count: w)
        for r in 0..<split.rows {
            var fields = [String(table.lines[r])]
            row.withUnsafeMutableBufferPointer { b in if let p = b.baseAddress { split.writeDense(row: r, into: p) } }
            for j in 0..<w { fields.append(String(row[j])) }
            for j in 0..<c { fields.append(String(split.categories[r * c + j])) }
            if let s = split.sparse {
                fields.append((s.rowStart[r]..<s.rowStart[r + 1]).map { "\(s.index[$0]):\(s.value[$0])" }.joined(separator: " "))
            }
            text += fields.joined(separator: ",") + "\n"
        }
        return text
    }

    func csvField(_ s: String) -> String {
        s.contains(",") || s.contains("\"") || s.contains("\n") ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
    }
}
