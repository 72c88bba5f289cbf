import Foundation
import Logging
import XCTest
import MTLCore
import MTLData
import MTLDistributed
import MTLModels
import MTLTestSupport
@testable import MTLTraining

/// Seeded mutation fuzzing of every reader of user files: CSV (plain and gzip) through the
/// preprocessing, the YAML config, and checkpoints (the safetensors reader, the metadata, the
/// stored config and preprocessing, the tensors' load). Each case is one fixture with random
/// byte edits (flips, interesting tokens, cuts, repeats); a reader must either accept it or throw
/// a `UserError`; a trap ends the test process, which fails the suite. `MTL_FUZZ_CASES` sets the
/// cases per reader (default 150; `launch/fuzz N` runs more), `MTL_FUZZ_SEED` the seed.
final class ReaderFuzzTests: XCTestCase {
    static let cases = Int(ProcessInfo.processInfo.environment["MTL_FUZZ_CASES"] ?? "") ?? 150
    static let seed = UInt64(ProcessInfo.processInfo.environment["MTL_FUZZ_SEED"] ?? "") ?? 17

    static func mutate(_ input: [UInt8], _ rng: inout SplitMix64) -> [UInt8] { Mutation.mutate(input, &rng) }

    /// Runs `body` on each mutated input; counts the rejections and those that name `name`.
    func fuzz(_ label: String, _ base: [UInt8], name: String, seed: UInt64, _ body: ([UInt8]) throws -> Void) {
        var rng = SplitMix64(seed: Self.seed ^ seed)
        var accepted = 0, rejected = 0, named = 0
        for k in 0..<Self.cases {
            let input = Self.mutate(base, &rng)
            do {
                try body(input)
                accepted += 1
            } catch let e as UserError {
                rejected += 1
                if e.description.contains(name) { named += 1 }
            } catch {
                XCTFail("\(label) case \(k): not a UserError: \(error)")
            }
        }
        print("fuzz \(label): \(Self.cases) cases, \(accepted) accepted, \(rejected) rejected, \(named) of them naming \(name)")
    }

    func testCSVThroughThePreprocessing() throws {
        let dir = Support.temporaryDirectory()
        var config = try Support.fixtureConfig()
        config.data.train = dir + "/fuzz.csv"
        let base = Array(try Data(contentsOf: URL(fileURLWithPath: Support.fixtures + "/mixed.csv")))
        fuzz("csv", base, name: "fuzz.csv", seed: 1) { input in
            try Data(input).write(to: URL(fileURLWithPath: dir + "/fuzz.csv"))
            let data = try LoadedData.load(source: config.dataSource)
            _ = try data.preprocessor.json()
        }
    }

    func testGzipReader() throws {
        let dir = Support.temporaryDirectory()
        try FileManager.default.copyItem(atPath: Support.fixtures + "/mixed.csv", toPath: dir + "/base.csv")
        let gzip = Process()
        gzip.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        gzip.arguments = ["gzip", dir + "/base.csv"]
        try gzip.run(); gzip.waitUntilExit()
        let base = Array(try Data(contentsOf: URL(fileURLWithPath: dir + "/base.csv.gz")))
        fuzz("gzip", base, name: "fuzz.csv.gz", seed: 2) { input in
            try Data(input).write(to: URL(fileURLWithPath: dir + "/fuzz.csv.gz"))
            _ = try TextTable.read(path: dir + "/fuzz.csv.gz", format: .init())
        }
    }

    func testConfigParser() throws {
        let base = Array(try Data(contentsOf: URL(fileURLWithPath: Support.fixtures + "/mixed.yaml")))
        fuzz("config", base, name: "fuzz.yaml", seed: 3) { input in
            let text = String(decoding: input, as: UTF8.self)
            let c = try RunConfig.parse(text: text, path: Support.fixtures + "/fuzz.yaml")
            _ = c.compare.plan
        }
    }

    func testCheckpointReaders() throws {
        var l = Logger(label: "fuzz"); l.logLevel = .critical
        let dir = Support.temporaryDirectory()
        var config = try Support.fixtureConfig()
        config.training.epochs = 1
        try TrainingRun(config: config, comm: SingleProcessCommunicator(), options: .init(output: dir + "/run"), logger: l).run()
        let base = Array(try Data(contentsOf: URL(fileURLWithPath: dir + "/run/checkpoints/epoch-0001.safetensors")))
        fuzz("checkpoint", base, name: "fuzz.safetensors", seed: 4) { input in
            let path = dir + "/fuzz.safetensors"
            try Data(input).write(to: URL(fileURLWithPath: path))
            let file = try SafeTensors.read(path: path)
            let (cfg, pre) = try Checkpoint.runConfig(of: file)
            try cfg.model.checkFits(layout: pre.layout, maxRows: 8)
            let model = makeModel(cfg.model, layout: pre.layout, maxRows: 8, seed: 0)
            try Checkpoint.load(file, store: model.store, into: model.store.values.pointer, optimizer: nil, state: nil)
        }
        // Past the checksum: mutated metadata values in a file whose checksum is right.
        let good = try SafeTensors.read(path: dir + "/run/checkpoints/epoch-0001.safetensors")
        let keys = good.metadata.keys.sorted()
        var pick = SplitMix64(seed: Self.seed ^ 5)
        fuzz("checkpoint metadata", Array("x".utf8), name: "meta.safetensors", seed: 6) { _ in
            var meta = good.metadata
            let key = keys[pick.nextInt(below: keys.count)]
            meta[key] = String(decoding: Self.mutate(Array((meta[key] ?? "").utf8), &pick), as: UTF8.self)
            let path = dir + "/meta.safetensors"
            let tensors = good.order.compactMap { name in good.tensors[name].map { (name: name, shape: $0.shape, buffer: 0, offset: $0.begin / 4) } }
            try good.bytes.withUnsafeBytes { raw in
                let floats = UnsafeBufferPointer(start: (raw.baseAddress! + good.dataStart).assumingMemoryBound(to: Float.self),
                                                 count: (raw.count - good.dataStart) / 4)
                try SafeTensors.write(path: path, metadata: meta, tensors: tensors, buffers: [floats])
            }
            let file = try SafeTensors.read(path: path)
            let (cfg, pre) = try Checkpoint.runConfig(of: file)
            try cfg.model.checkFits(layout: pre.layout, maxRows: 8)
            let model = makeModel(cfg.model, layout: pre.layout, maxRows: 8, seed: 0)
            try Checkpoint.load(file, store: model.store, into: model.store.values.pointer, optimizer: nil, state: nil)
        }
    }
}
