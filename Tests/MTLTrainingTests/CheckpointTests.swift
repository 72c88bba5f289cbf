import XCTest
import MTLCore
import MTLDistributed
import Logging
@testable import MTLTraining
import MTLData
import MTLModels
import MTLWeighting
import MTLTestSupport

final class CheckpointTests: XCTestCase {
    func metadata(step: Int) -> CheckpointMetadata {
        CheckpointMetadata(step: step, epoch: 0, epochs: 1, seed: 0, config: "", configPath: "/c.yaml", overrides: [:], preprocessor: "{}",
                           optimizer: "adam", architecture: .hardSharing, worldSize: 1, weighting: .fixed, bestMetric: "mean.roc_auc",
                           best: nil, layout: "")
    }

    /// The metadata round-trips through the safetensors header and through JSON, and a checkpoint of
    /// another format version is refused with both versions named.
    func testMetadataRoundTripAndVersionCheck() throws {
        var meta = metadata(step: 12)
        meta.overrides = ["training.epochs": "3"]
        meta.epoch = 5; meta.epochs = 10
        meta.best = (0.75, 4)
        meta.dataChecksum = "1234"
        meta.headerChecksum = "5678"
        XCTAssertEqual(try CheckpointMetadata(meta.strings, file: "x"), meta)
        XCTAssertEqual(try JSONDecoder().decode(CheckpointMetadata.self, from: try JSONEncoder().encode(meta)), meta)
        var newer = meta.strings
        newer["format_version"] = "3"
        Support.assertUserError(["'x'", "format version 3", "reads version 2"]) { _ = try CheckpointMetadata(newer, file: "x") }
        // Absurd counts and a best epoch the run has not reached are refused, naming the field.
        for (key, value) in [("epoch", "-1"), ("step", "99999999999999999999"), ("epoch", "11"), ("best_epoch", "6"), ("best_value", "nan"), ("world_size", "0")] {
            var m = meta.strings
            m[key] = value
            Support.assertUserError(["checkpoint 'x'"]) { _ = try CheckpointMetadata(m, file: "x") }
        }
        var unsummed = meta.strings
        unsummed[SafeTensors.checksumKey] = nil
        Support.assertUserError(["checksum"]) { _ = try CheckpointMetadata(unsummed, file: "x") }
        var damaged = meta.strings
        damaged["step"] = "many"
        Support.assertUserError(["'step'", "many"]) { _ = try CheckpointMetadata(damaged, file: "x") }
        damaged = meta.strings
        damaged["format"] = nil
        Support.assertUserError(["not an mtl-worker checkpoint"]) { _ = try CheckpointMetadata(damaged, file: "x") }
    }

    func testSafeTensorsRoundTripAndLayout() throws {
        let dir = Support.temporaryDirectory()
        let store = ParameterStore()
        _ = store.register("a.weight", shape: [2, 3], initializer: .uniform(1))
        _ = store.register("a.bias", shape: [3], initializer: .normal(std: 1))
        store.materialize(seed: 4)
        let state = FloatBuffer(count: 2 * store.count)
        for i in 0..<state.count { state.pointer[i] = Float(i) * 0.5 }
        let path = dir + "/c.safetensors"
        try Checkpoint.write(path: path, store: store, parameters: UnsafeBufferPointer(store.values.buffer), optimizer: Adam(),
                             state: UnsafeBufferPointer(state.buffer), metadata: metadata(step: 7))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), ["c.safetensors"], "no temporary file is left")
        let file = try SafeTensors.read(path: path)
        XCTAssertEqual(file.metadata["step"], "7")
        XCTAssertEqual(file.tensors["a.weight"]?.shape, [2, 3])
        XCTAssertEqual(Set(file.tensors.keys), ["a.weight", "a.bias", "optimizer.exp_avg.a.weight", "optimizer.exp_avg.a.bias",
                                                 "optimizer.exp_avg_sq.a.weight", "optimizer.exp_avg_sq.a.bias"])
        // Header length is a little-endian u64 and the header is 8-byte aligned, as the format says.
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        let n = bytes.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        XCTAssertEqual((8 + n) % 8, 0)
        XCTAssertEqual(bytes.count, 8 + n + 3 * store.count * 4)
        let back = FloatBuffer(count: store.count), backState = FloatBuffer(count: 2 * store.count)
        try Checkpoint.load(file, store: store, into: back.pointer, optimizer: Adam(), state: backState.pointer)
        XCTAssertEqual(back.array, store.values.array)
        XCTAssertEqual(backState.array, state.array)

        let other = ParameterStore()
        _ = other.register("a.weight", shape: [3, 2], initializer: .zeros)
        _ = other.register("a.bias", shape: [3], initializer: .zeros)
        other.materialize(seed: 0)
        Support.assertUserError(["different model layout"]) {
            try Checkpoint.load(file, store: other, into: other.values.pointer, optimizer: nil, state: nil)
        }
    }

    /// A flipped bit in the tensor data, a header length off by one, bytes appended after the
    /// last tensor and overlapping offsets are each refused, naming the file and what is wrong.
    func testCorruptCheckpointsAreRefused() throws {
        let store = ParameterStore()
        _ = store.register("a.weight", shape: [4, 3], initializer: .uniform(1))
        _ = store.register("a.bias", shape: [4], initializer: .uniform(1))
        store.materialize(seed: 3)
        let dir = Support.temporaryDirectory(), path = dir + "/c.safetensors"
        try Checkpoint.write(path: path, store: store, parameters: UnsafeBufferPointer(store.values.buffer), optimizer: nil, state: nil,
                             metadata: metadata(step: 1))
        let good = try Data(contentsOf: URL(fileURLWithPath: path))
        XCTAssertNotNil(try SafeTensors.read(path: path).metadata[SafeTensors.checksumKey])
        let n = good.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        func refused(_ bytes: Data, _ fragment: String, line: UInt = #line) throws {
            let bad = dir + "/bad.safetensors"
            try bytes.write(to: URL(fileURLWithPath: bad))
            Support.assertUserError(["bad.safetensors", fragment], line: line) { _ = try SafeTensors.read(path: bad) }
        }
        var flipped = good
        flipped[8 + n + 5] ^= 0x10
        try refused(flipped, "CRC-32")
        var longer = good
        longer.append(contentsOf: [0, 0, 0, 0])
        try refused(longer, "follow the last tensor")
        var shorterHeader = good
        shorterHeader[0] = UInt8(truncatingIfNeeded: n - 1)
        shorterHeader[1] = UInt8(truncatingIfNeeded: (n - 1) >> 8)
        try refused(shorterHeader, ".safetensors'")   // the header still parses, but the tensors no longer tile the data
        let header = String(decoding: good[8..<(8 + n)], as: UTF8.self)
        // A changed metadata value (here the step) with the data intact: the header's checksum.
        let restepped = header.replacingOccurrences(of: "\"step\":\"1\"", with: "\"step\":\"2\"")
        XCTAssertNotEqual(restepped, header)
        try refused(good.prefix(8) + Data(restepped.utf8) + good.suffix(from: 8 + n), "header's CRC-32")
        let overlapping = header.replacingOccurrences(of: "\"data_offsets\":[0,", with: "\"data_offsets\":[4,")
        XCTAssertNotEqual(overlapping, header)
        try refused(good.prefix(8) + Data(overlapping.utf8) + good.suffix(from: 8 + n), "tensor")
    }

    func testTruncatedFileIsRejected() throws {
        let dir = Support.temporaryDirectory()
        Support.write("\u{10}\0\0\0\0\0\0\0{\"a\":", to: dir + "/bad.safetensors")
        Support.assertUserError(["not a safetensors file"]) { _ = try SafeTensors.read(path: dir + "/bad.safetensors") }
    }

    func logger() -> Logger { var l = Logger(label: "test"); l.logLevel = .error; return l }

    /// A damaged newest checkpoint is skipped: resume continues from the one before it and ends
    /// bit for bit where an uninterrupted run does. A best.safetensors that holds another epoch
    /// than the run's best (a stop between the two writes) is replaced from the best epoch's own
    /// checkpoint, so the test metrics are those of the parameters the summary names.
    func testResumeFallsBackAndKeepsTheBestCheckpointTrue() throws {
        var config = try Support.fixtureConfig()
        config.checkpoint.keepLast = 2
        let comm = SingleProcessCommunicator()
        let a = Support.temporaryDirectory(), b = Support.temporaryDirectory()
        let full = try XCTUnwrap(try TrainingRun(config: config, comm: comm, options: .init(output: a), logger: logger()).run())
        try TrainingRun(config: config, comm: comm, options: .init(output: b), logger: logger()).run()
        let newest = b + "/checkpoints/epoch-0002.safetensors"
        var bytes = try Data(contentsOf: URL(fileURLWithPath: newest))
        bytes[bytes.count - 3] ^= 0x01
        try bytes.write(to: URL(fileURLWithPath: newest))
        try FileManager.default.removeItem(atPath: b + "/summary.json")
        try TrainingRun(config: config, comm: comm, options: .init(output: b, resume: true), logger: logger()).run()
        let x = try SafeTensors.read(path: a + "/checkpoints/epoch-0002.safetensors"), y = try SafeTensors.read(path: newest)
        XCTAssertEqual(x.bytes.suffix(from: x.dataStart), y.bytes.suffix(from: y.dataStart), "resumed from epoch 1, epoch 2 retrained exactly")

        // A stale best.safetensors: the other kept epoch's checkpoint in its place.
        let bestEpoch = try XCTUnwrap(full.bestEpoch)
        let other = b + String(format: "/checkpoints/epoch-%04d.safetensors", bestEpoch == 2 ? 1 : 2)
        try FileManager.default.removeItem(atPath: b + "/checkpoints/best.safetensors")
        try FileManager.default.copyItem(atPath: other, toPath: b + "/checkpoints/best.safetensors")
        let again = try XCTUnwrap(try TrainingRun(config: config, comm: comm, options: .init(output: b, resume: true), logger: logger()).run())
        XCTAssertEqual(again.test, full.test, "test metrics of the best epoch's parameters")
        XCTAssertEqual(again.testParameters, "best validation epoch \(bestEpoch)")
        let best = try SafeTensors.read(path: b + "/checkpoints/best.safetensors")
        XCTAssertEqual(best.metadata["epoch"], String(bestEpoch), "best.safetensors restored from the best epoch's checkpoint")
    }

    /// Sets the stop request on one step, as a signal would (a hook only reads, so the run is
    /// otherwise the one without it).
    final class StopAtStep: TrainingHook {
        let every: Int
        init(_ step: Int) { every = step }
        func prepare(tasks: [String], sharedParameters: Int) {}
        func measure(_ step: StepInspector) throws { StopRequest.set() }
    }

    /// A stop request in the middle of an epoch writes a checkpoint of the epoch in progress
    /// (its position, each rank's partial loss sums, the weight sums); the resumed run ends bit
    /// for bit where the uninterrupted one does, with the same metrics log.
    func testStopMidEpochResumesExactly() throws {
        var config = try Support.fixtureConfig()
        config.weighting.method = .dwa   // epoch losses steer the weights: the partial sums must be exact
        let comm = SingleProcessCommunicator()
        let a = Support.temporaryDirectory(), b = Support.temporaryDirectory()
        StopRequest.clear()
        defer { StopRequest.clear() }
        try TrainingRun(config: config, comm: comm, options: .init(output: a), logger: logger()).run()
        let run = try TrainingRun(config: config, comm: comm, options: .init(output: b), logger: logger())
        let perEpoch = run.trainer.stepsPerEpoch
        XCTAssertGreaterThan(perEpoch, 12)
        run.trainer.attach(hook: StopAtStep(perEpoch + 10))
        XCTAssertNil(try run.run())
        XCTAssertTrue(run.stoppedEarly)
        let partial = try FileManager.default.contentsOfDirectory(atPath: b + "/checkpoints").filter { $0.contains("partial") }
        XCTAssertEqual(partial, [String(format: "epoch-0002-partial-%06d.safetensors", 10)])
        StopRequest.clear()
        let resumed = try TrainingRun(config: config, comm: comm, options: .init(output: b, resume: true), logger: logger())
        XCTAssertEqual(resumed.trainer.positionInEpoch, 10)
        try resumed.run()
        let x = try SafeTensors.read(path: a + "/checkpoints/epoch-0002.safetensors"), y = try SafeTensors.read(path: b + "/checkpoints/epoch-0002.safetensors")
        XCTAssertEqual(x.bytes.suffix(from: x.dataStart), y.bytes.suffix(from: y.dataStart), "parameters, optimizer and weighting state")
        func log(_ dir: String) throws -> [String] {
            try String(contentsOfFile: dir + "/metrics.jsonl", encoding: .utf8).split(separator: "\n")
                .map { $0.replacingOccurrences(of: #""seconds":[0-9.e+-]+,"#, with: "", options: .regularExpression) }
        }
        XCTAssertEqual(try log(a), try log(b), "the same losses, weights and metrics in the log")
    }

    /// A disk that fills up (a 40 KiB tmpfs: room for one checkpoint, not two) stops the run with
    /// an error naming the file and the reason; the checkpoint already written stays intact, no
    /// temporary file is left, and the run resumed elsewhere ends bit for bit as an uninterrupted one.
    func testFullDiskLosesNothing() throws {
        let mountPoint = Support.temporaryDirectory()
        func sh(_ args: [String]) -> Int32 {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = args
            p.standardError = FileHandle.nullDevice
            guard (try? p.run()) != nil else { return -1 }
            p.waitUntilExit()
            return p.terminationStatus
        }
        guard getuid() == 0, sh(["mount", "-t", "tmpfs", "-o", "size=40k", "tmpfs", mountPoint]) == 0 else {
            throw XCTSkip("skipped: mounting a small tmpfs needs root and mount permission (the full-disk test)")
        }
        defer { _ = sh(["umount", mountPoint]) }
        let config = try Support.fixtureConfig()
        let comm = SingleProcessCommunicator()
        Support.assertUserError(["No space left on device", ".safetensors"]) {
            try TrainingRun(config: config, comm: comm, options: .init(output: mountPoint + "/run"), logger: logger()).run()
        }
        let left = try FileManager.default.contentsOfDirectory(atPath: mountPoint + "/run/checkpoints")
        XCTAssertFalse(left.contains { $0.contains(".tmp-") }, "no temporary file is left: \(left)")
        XCTAssertNoThrow(try SafeTensors.read(path: mountPoint + "/run/checkpoints/epoch-0001.safetensors"), "the checkpoint written stays intact")
        // Resumed on a disk with room, the run ends where an uninterrupted one does.
        let moved = Support.temporaryDirectory() + "/run", full = Support.temporaryDirectory()
        try FileManager.default.copyItem(atPath: mountPoint + "/run", toPath: moved)
        try TrainingRun(config: config, comm: comm, options: .init(output: moved, resume: true), logger: logger()).run()
        try TrainingRun(config: config, comm: comm, options: .init(output: full), logger: logger()).run()
        let x = try SafeTensors.read(path: full + "/checkpoints/epoch-0002.safetensors")
        let y = try SafeTensors.read(path: moved + "/checkpoints/epoch-0002.safetensors")
        XCTAssertEqual(x.bytes.suffix(from: x.dataStart), y.bytes.suffix(from: y.dataStart))
        XCTAssertNoThrow(try SafeTensors.read(path: moved + "/checkpoints/best.safetensors"))
    }

    /// Temporary files of a process that no longer runs are removed when a run starts.
    func testStaleTemporaryFilesAreRemoved() throws {
        let config = try Support.fixtureConfig()
        let out = Support.temporaryDirectory()
        try FileManager.default.createDirectory(atPath: out + "/checkpoints", withIntermediateDirectories: true)
        let dead = out + "/checkpoints/epoch-0001.safetensors.tmp-999999999", mine = out + "/summary.json.tmp-\(getpid())"
        Support.write("partial", to: dead)
        Support.write("mine", to: mine)
        try TrainingRun(config: config, comm: SingleProcessCommunicator(), options: .init(output: out, stopAfterEpochs: 1), logger: logger()).run()
        XCTAssertFalse(FileManager.default.fileExists(atPath: dead))
        XCTAssertTrue(FileManager.default.fileExists(atPath: mine), "a live process's temporary file is left alone")
    }

    /// Two epochs in one run equal one epoch, then a resumed epoch, bit for bit: parameters,
    /// optimizer state and counters.
    func testResumeIsExact() throws {
        let config = try Support.fixtureConfig()
        let a = Support.temporaryDirectory(), b = Support.temporaryDirectory()
        let comm = SingleProcessCommunicator()
        try TrainingRun(config: config, comm: comm, options: .init(output: a), logger: logger()).run()
        try TrainingRun(config: config, comm: comm, options: .init(output: b, stopAfterEpochs: 1), logger: logger()).run()
        XCTAssertFalse(FileManager.default.fileExists(atPath: b + "/summary.json"), "a stopped run writes no summary")
        let resumed = try TrainingRun(config: config, comm: comm, options: .init(output: b, resume: true), logger: logger())
        XCTAssertEqual(resumed.trainer.epoch, 1)
        try resumed.run()
        let x = try SafeTensors.read(path: a + "/checkpoints/epoch-0002.safetensors")
        let y = try SafeTensors.read(path: b + "/checkpoints/epoch-0002.safetensors")
        XCTAssertEqual(x.metadata["step"], "80")
        XCTAssertEqual(x.metadata["step"], y.metadata["step"])
        XCTAssertEqual(x.order, y.order)
        XCTAssertEqual(x.bytes.suffix(from: x.dataStart), y.bytes.suffix(from: y.dataStart), "tensors differ")
        // keep_last: 1 leaves one epoch checkpoint, plus best.
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: a + "/checkpoints").sorted(),
                       ["best.safetensors", "epoch-0002.safetensors"])
        // The metrics log of the resumed run equals the uninterrupted one, line for line, up to timings.
        func lines(_ dir: String) throws -> [String] {
            try String(contentsOfFile: dir + "/metrics.jsonl", encoding: .utf8).split(separator: "\n").map {
                $0.replacingOccurrences(of: #""seconds":[0-9.e-]+,?"#, with: "", options: .regularExpression)
            }
        }
        XCTAssertEqual(try lines(a), try lines(b))
    }

    /// Exact resume holds for every architecture (one epoch, then a resumed one, against two).
    func testResumeIsExactForEveryArchitecture() throws {
        for arch in Architecture.allCases {
            var config = try Support.fixtureConfig()
            config.model.architecture = arch
            config.model.trunk = [8, 6]
            config.model.expert = [8, 6]
            config.model.members = 2
            config.model.bootstrap = true
            config.model.dModel = 8
            config.model.attentionHeads = 2
            config.model.attentionLayers = 1
            let (x, y) = try Support.uninterruptedAndResumed(config)
            XCTAssertEqual(x.bytes.suffix(from: x.dataStart), y.bytes.suffix(from: y.dataStart), "\(arch): tensors differ")
        }
    }

    func testExistingRunIsNotOverwritten() throws {
        let config = try Support.fixtureConfig()
        let dir = Support.temporaryDirectory()
        try TrainingRun(config: config, comm: SingleProcessCommunicator(), options: .init(output: dir, stopAfterEpochs: 1), logger: logger()).run()
        let before = try Data(contentsOf: URL(fileURLWithPath: dir + "/checkpoints/epoch-0001.safetensors"))
        Support.assertUserError(["already holds checkpoints", "--resume"]) {
            _ = try TrainingRun(config: config, comm: SingleProcessCommunicator(), options: .init(output: dir), logger: logger())
        }
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: dir + "/checkpoints/epoch-0001.safetensors")), before)
    }

    /// A run whose loss stops being finite ends with an error naming the task and what to change,
    /// and writes no checkpoint of the epoch that diverged.
    func testDivergedTrainingStopsWithAnError() throws {
        var config = try Support.fixtureConfig()
        // A warm-up over four epochs to a rate far too high: epoch 1 trains, a later one diverges.
        config.training.optimizer = .sgd
        config.training.learningRate = 3
        config.training.momentum = 0.99
        config.training.warmupSteps = 180
        config.training.schedule = .constant
        config.training.epochs = 4
        let dir = Support.temporaryDirectory()
        do {
            try TrainingRun(config: config, comm: SingleProcessCommunicator(), options: .init(output: dir), logger: logger()).run()
            XCTFail("the run did not diverge")
        } catch let e as UserError {
            for fragment in ["training diverged", "non-finite training loss", "training.learning_rate", "training.clip_norm"] {
                XCTAssertTrue(e.description.contains(fragment), "'\(fragment)' missing from: \(e.description)")
            }
            // "... in epoch N": no checkpoint of epoch N; the epoch before it is kept.
            let epoch = Int(e.message.split(separator: " ").last ?? "") ?? 0
            XCTAssertGreaterThan(epoch, 1, "diverges after a good epoch: \(e.message)")
            let written = Set((try? FileManager.default.contentsOfDirectory(atPath: dir + "/checkpoints")) ?? [])
            XCTAssertFalse(written.contains(String(format: "epoch-%04d.safetensors", epoch)), "the diverged epoch left a checkpoint")
            XCTAssertTrue(written.contains(String(format: "epoch-%04d.safetensors", epoch - 1)), "the last good epoch is kept: \(written)")
        }
    }
}
