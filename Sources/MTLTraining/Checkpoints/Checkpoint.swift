import Foundation
import MTLCore
import MTLData

/// Checkpoints in the safetensors format: every parameter under its name, the optimizer state
/// as `optimizer.<slot>.<parameter>`, and in the metadata the step, epoch, seed, best value,
/// the config text and the fitted preprocessing. Written atomically by rank 0 only.
public enum Checkpoint {

    static func slotNames(_ optimizer: Optimizer) -> [String] {
        optimizer.stateMultiplier == 2 ? ["exp_avg", "exp_avg_sq"] : ["momentum_buffer"]
    }

    /// Writes parameters (and optimizer state when given) with metadata to `path`.
    public static func write(path: String, store: ParameterStore, parameters: UnsafeBufferPointer<Float>,
                             optimizer: Optimizer?, state: UnsafeBufferPointer<Float>?, metadata: CheckpointMetadata,
                             extra: [(name: String, values: [Float])] = []) throws {
        var tensors: [(name: String, shape: [Int], buffer: Int, offset: Int)] = store.entries.map { ($0.name, $0.shape, 0, $0.offset) }
        var buffers = [parameters]
        if let o = optimizer, let s = state {
            for (k, slot) in slotNames(o).enumerated() {
                tensors += store.entries.map { ("optimizer.\(slot).\($0.name)", $0.shape, 1, k * store.count + $0.offset) }
            }
            buffers.append(s)
        }
        // Extra tensors (the weighting method's state), back to back in one more buffer.
        let extraValues = extra.flatMap(\.values)
        var offset = 0
        for e in extra { tensors.append((e.name, [e.values.count], buffers.count, offset)); offset += e.values.count }
        var meta = metadata
        meta.layout = store.layoutDescription
        try extraValues.withUnsafeBufferPointer { ev in
            try SafeTensors.write(path: path, metadata: meta.strings, tensors: tensors, buffers: extra.isEmpty ? buffers : buffers + [ev])
        }
    }

    /// Reads a checkpoint's parameters (and optimizer state) into the given buffers.
    public static func load(_ file: SafeTensors.File, store: ParameterStore, into parameters: UnsafeMutablePointer<Float>,
                            optimizer: Optimizer?, state: UnsafeMutablePointer<Float>?) throws {
        let meta = try CheckpointMetadata(file.metadata, file: file.path)
        guard meta.layout == store.layoutDescription else {
            throw UserError("checkpoint '\(file.path)' was written for a different model layout",
                            hint: "resume with the config that wrote it, or start a new --output folder")
        }
        for e in store.entries { try file.copy(e.name, shape: e.shape, into: parameters + e.offset) }
        if let o = optimizer, let s = state {
            for (k, slot) in slotNames(o).enumerated() {
                for e in store.entries {
                    try file.copy("optimizer.\(slot).\(e.name)", shape: e.shape, into: s + k * store.count + e.offset)
                }
            }
        }
    }

    /// Reads the extra tensors of the given names and sizes.
    public static func extra(_ file: SafeTensors.File, like expected: [(name: String, values: [Float])]) throws -> [String: [Float]] {
        var out: [String: [Float]] = [:]
        for e in expected {
            var v = [Float](repeating: 0, count: e.values.count)
            try v.withUnsafeMutableBufferPointer { b in
                guard let base = b.baseAddress else { return }
                try file.copy(e.name, shape: [e.values.count], into: base)
            }
            out[e.name] = v
        }
        return out
    }

    /// The config and preprocessing a checkpoint was trained with.
    public static func runConfig(of file: SafeTensors.File) throws -> (RunConfig, Preprocessor) {
        let meta = try CheckpointMetadata(file.metadata, file: file.path)
        do {
            var config = try RunConfig.parse(text: meta.config, path: meta.configPath)
            try config.apply(overrides: meta.overrides)
            return (config, try Preprocessor.from(json: meta.preprocessor))
        } catch let e as UserError {
            throw UserError("checkpoint '\(file.path)': its stored config or preprocessing: \(e.message)", hint: e.hint)
        }
    }
}
