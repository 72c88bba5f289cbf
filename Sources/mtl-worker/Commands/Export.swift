import ArgumentParser
import Foundation
import MTLCore
import MTLInference
import MTLTraining

extension Quantization: ExpressibleByArgument {}

/// What `export --format` writes.
enum ExportFormat: String, CaseIterable, ExpressibleByArgument {
    case safetensors, onnx
}

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a checkpoint's model for serving: weights only (float or int8), with its preprocessing and tasks; or as ONNX.",
        discussion: "safetensors (default): the model file that serve, predict --model and evaluate --model read; its format is in the README. onnx: the model after preprocessing as an ONNX graph (opset 17, float32; inputs dense, categories, sparse_rows/sparse_columns/sparse_values; one output per task), every architecture; predict --encoded-output writes its inputs for any rows.")
    @Option(help: "A checkpoint written by train.") var checkpoint: String
    @Option(help: "The file to write (atomically).") var output: String
    @Option(help: "Weights: none (float32, as trained) or int8 (per output channel, per table row).") var quantize: Quantization = .none
    @Option(help: "safetensors or onnx.") var format: ExportFormat = .safetensors
    @OptionGroup var common: CommonOptions

    func run() throws {
        try withRuntime(common) { comm, _ in
            guard comm.isRoot else { return }
            var model = try ModelFile(checkpoint: checkpoint, quantization: quantize)
            if model.preprocessor.tasks.contains(where: \.tunesThreshold) {
                // Tuned on the run's validation split with the float model, as predict --decisions does.
                do { model.thresholds = try SavedModel(checkpoint: checkpoint).tunedThresholds() } catch let e as UserError {
                    FileHandle.standardError.write(Data("warning: multi-label thresholds set to tune are not stored (\(e.message)); the model file decides at 0.5\n".utf8))
                }
            }
            switch format {
            case .safetensors: try model.write(to: output)
            case .onnx:
                guard quantize == .none else {
                    throw UserError("export --format onnx writes float32 weights; --quantize int8 is for the model file",
                                    hint: "export the float ONNX model and quantise it in ONNX Runtime (onnxruntime.quantization.quantize_dynamic)")
                }
                try ONNXExport.write(model, to: output)
            }
            let size = { (p: String) in ((try? FileManager.default.attributesOfItem(atPath: p))?[.size] as? Int) ?? 0 }
            let parameters = model.tensors.values.reduce(0) { $0 + $1.count }
            FileHandle.standardError.write(Data(("wrote \(output): \(model.config.model.architecture.rawValue), \(model.graph.parameters.count) tensors, "
                + "\(parameters) parameters, \(quantize == .int8 ? "int8" : "float32") weights, \(size(output)) bytes (checkpoint \(size(checkpoint)) bytes)\n").utf8))
        }
    }
}
