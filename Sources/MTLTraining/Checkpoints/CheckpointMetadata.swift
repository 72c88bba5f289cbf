import Foundation
import MTLCore
import MTLData
import MTLModels
import MTLWeighting

/// What a checkpoint's safetensors metadata holds besides its tensors: where the run was, its
/// config and fitted preprocessing (so `evaluate` and `predict` need nothing else), and the
/// format it was written in. Safetensors metadata is text to text, so it codes as an object of
/// strings: every field is written as text and parsed back with an error naming the field.
public struct CheckpointMetadata: Codable, Equatable, Sendable {
    public var step: Int
    public var epoch: Int
    public var epochs: Int
    public var seed: UInt64
    /// The config file's text and its absolute path (relative data paths resolve against it).
    public var config: String
    public var configPath: String
    /// The command-line overrides applied on top of the config.
    public var overrides: [String: String]
    /// The fitted preprocessing, as JSON.
    public var preprocessor: String
    public var optimizer: String
    public var architecture: Architecture
    public var worldSize: Int
    public var weighting: WeightingMethod
    public var bestMetric: String
    public var best: (value: Double, epoch: Int)?
    /// The parameter layout (names and shapes in order) the tensors follow.
    public var layout: String
    /// Training seconds and samples up to this checkpoint, over every invocation of the run, and
    /// how many invocations (pieces) it took.
    public var trained: (seconds: Double, samples: Int, pieces: Int) = (0, 0, 0)
    /// A checkpoint written mid-epoch (a stop request): steps of the epoch in progress already
    /// taken (0: at an epoch boundary), each rank's partial loss sums and the weight sums.
    public var position = 0
    public var epochLossByRank: [[Double]] = []
    public var weightSums: [Double] = []
    public var weightSteps = 0
    /// The tensor bytes' CRC-32 as read (the writer computes it; nil before writing).
    public var dataChecksum: String? = nil
    /// The header's CRC-32 as read (likewise).
    public var headerChecksum: String? = nil

    public static let format = "mtl-worker-checkpoint"
    /// 2: the tensor bytes' CRC-32 is in the metadata (`SafeTensors.checksumKey`); 1 is read too.
    public static let formatVersion = "2"
    static let readableVersions = ["1", "2"]

    public init(step: Int, epoch: Int, epochs: Int, seed: UInt64, config: String, configPath: String, overrides: [String: String],
                preprocessor: String, optimizer: String, architecture: Architecture, worldSize: Int, weighting: WeightingMethod,
                bestMetric: String, best: (value: Double, epoch: Int)?, layout: String,
                trained: (seconds: Double, samples: Int, pieces: Int) = (0, 0, 0)) {
        self.step = step; self.epoch = epoch; self.epochs = epochs; self.seed = seed; self.config = config
        self.configPath = configPath; self.overrides = overrides; self.preprocessor = preprocessor; self.optimizer = optimizer
        self.architecture = architecture; self.worldSize = worldSize; self.weighting = weighting; self.bestMetric = bestMetric
        self.best = best; self.layout = layout; self.trained = trained
    }

    /// The metadata as the safetensors header stores it.
    public var strings: [String: String] {
        var m: [String: String] = [
            "format": Self.format, "format_version": Self.formatVersion,
            "step": String(step), "epoch": String(epoch), "epochs": String(epochs), "seed": String(seed),
            "rng": "counter-based: permutation(seed, epoch), dropout(seed, step, sample)",
            "config": config, "config_path": configPath,
            "overrides": (try? JSON.text(overrides)) ?? "{}",
            "preprocessor": preprocessor, "optimizer": optimizer, "architecture": architecture.rawValue,
            "world_size": String(worldSize), "weighting": weighting.rawValue, "best_metric": bestMetric, "layout": layout,
        ]
        if let b = best { m["best_value"] = "\(b.value)"; m["best_epoch"] = String(b.epoch) }
        if position > 0 {
            m["position"] = String(position)
            m["epoch_loss_by_rank"] = (try? JSON.text(epochLossByRank.map { $0.map(JSONNumber.init) })) ?? "[]"
            m["weight_sums"] = (try? JSON.text(weightSums.map(JSONNumber.init))) ?? "[]"
            m["weight_steps"] = String(weightSteps)
        }
        m["trained_seconds"] = "\(trained.seconds)"; m["trained_samples"] = String(trained.samples); m["pieces"] = String(trained.pieces)
        if let c = dataChecksum { m[SafeTensors.checksumKey] = c }
        if let c = headerChecksum { m[SafeTensors.headerChecksumKey] = c }
        return m
    }

    /// Reads the metadata of `file`, checking that mtl-worker wrote it in a format this program reads.
    public init(_ m: [String: String], file: String) throws {
        guard m["format"] == Self.format else {
            throw UserError("'\(file)' is not an mtl-worker checkpoint (its metadata has no format \(Self.format))",
                            hint: "pass a file from <output>/checkpoints/")
        }
        guard let version = m["format_version"], Self.readableVersions.contains(version) else {
            throw UserError("'\(file)' is an mtl-worker checkpoint of format version \(m["format_version"] ?? "none"); this program reads version \(Self.formatVersion)",
                            hint: "use the mtl-worker version that wrote it")
        }
        func field(_ k: String) throws -> String {
            guard let v = m[k] else { throw UserError("checkpoint '\(file)': its metadata lacks '\(k)'", hint: "the file is damaged; use another checkpoint") }
            return v
        }
        func parse<T>(_ k: String, _ f: (String) -> T?) throws -> T {
            let v = try field(k)
            guard let x = f(v) else { throw UserError("checkpoint '\(file)': metadata '\(k)' is '\(v)', which does not parse", hint: "the file is damaged; use another checkpoint") }
            return x
        }
        dataChecksum = m[SafeTensors.checksumKey]
        headerChecksum = m[SafeTensors.headerChecksumKey]
        if version != "1" && (dataChecksum == nil || m[SafeTensors.headerChecksumKey] == nil) {
            throw UserError("checkpoint '\(file)': its metadata lacks the data checksum its format version promises", hint: "the file is damaged; use another checkpoint")
        }
        // Counts are bounded as the config bounds them, so nothing computed from them overflows.
        let count = { (s: String) in Int(s).flatMap { $0 >= 0 && $0 <= 1 << 53 ? $0 : nil } }
        step = try parse("step", count)
        epoch = try parse("epoch", count)
        epochs = try parse("epochs") { Int($0).flatMap { $0 >= 1 && $0 <= 1_000_000 ? $0 : nil } }
        seed = try parse("seed") { UInt64($0) }
        config = try field("config")
        configPath = try field("config_path")
        overrides = try parse("overrides") { try? JSONDecoder().decode([String: String].self, from: Data($0.utf8)) }
        preprocessor = try field("preprocessor")
        optimizer = try field("optimizer")
        architecture = try parse("architecture") { Architecture(rawValue: $0) }
        worldSize = try parse("world_size") { Int($0).flatMap { $0 >= 1 ? $0 : nil } }
        weighting = try parse("weighting") { WeightingMethod(rawValue: $0) }
        bestMetric = try field("best_metric")
        layout = try field("layout")
        if m["trained_seconds"] != nil || m["trained_samples"] != nil || m["pieces"] != nil {
            trained = (try parse("trained_seconds") { Double($0).flatMap { $0.isFinite && $0 >= 0 ? $0 : nil } },
                       try parse("trained_samples", count), try parse("pieces", count))
        }
        if m["position"] != nil {
            position = try parse("position", count)
            epochLossByRank = try parse("epoch_loss_by_rank") { try? JSONDecoder().decode([[JSONNumber]].self, from: Data($0.utf8)).map { $0.map(\.value) } }
            weightSums = try parse("weight_sums") { try? JSONDecoder().decode([JSONNumber].self, from: Data($0.utf8)).map(\.value) }
            weightSteps = try parse("weight_steps", count)
        }
        guard epoch <= epochs else {
            throw UserError("checkpoint '\(file)': metadata 'epoch' \(epoch) is beyond 'epochs' \(epochs)", hint: "the file is damaged; use another checkpoint")
        }
        if m["best_value"] != nil || m["best_epoch"] != nil {
            let v = try parse("best_value") { Double($0).flatMap { $0.isFinite ? $0 : nil } }
            let e = try parse("best_epoch") { Int($0).flatMap { $0 >= 1 && $0 <= self.epoch ? $0 : nil } }
            best = (v, e)
        }
    }

    public init(from decoder: Decoder) throws {
        try self.init([String: String](from: decoder), file: "checkpoint metadata")
    }

    public func encode(to encoder: Encoder) throws { try strings.encode(to: encoder) }

    public static func == (a: CheckpointMetadata, b: CheckpointMetadata) -> Bool {
        a.strings == b.strings
    }
}
