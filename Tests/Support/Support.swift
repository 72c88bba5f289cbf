import Foundation
import XCTest
import MTLDistributed
import Logging
import MTLCore
import MTLModels
import MTLTraining

public enum Support {
    public static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures").path
    public static let root = URL(fileURLWithPath: fixtures).deletingLastPathComponent().deletingLastPathComponent().path

    public static func temporaryDirectory() -> String {
        let dir = NSTemporaryDirectory() + "mtl-tests-" + UUID().uuidString
        try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    public static func write(_ text: String, to path: String) {
        try! text.write(toFile: path, atomically: true, encoding: .utf8)
    }

    public static func fixtureConfig() throws -> RunConfig { try RunConfig.load(path: fixtures + "/mixed.yaml") }

    /// Widths of a few units for every architecture's parts, for checks that run each one.
    public static func smallSizes(_ m: inout ModelConfig) {
        m.trunk = [6, 5]
        m.head = [4]
        m.experts = 3
        m.taskExperts = 1
        m.levels = 2
        m.expert = [5, 4]
        m.dModel = 8
        m.attentionHeads = 2
        m.attentionLayers = 1
        m.feedForward = 8
        m.queries = 2
    }

    /// Trains `config` for two epochs in one run and in two (one epoch, then --resume) and returns
    /// both final checkpoints, for exact-resume comparisons.
    public static func uninterruptedAndResumed(_ config: RunConfig) throws -> (SafeTensors.File, SafeTensors.File) {
        var l = Logger(label: "test"); l.logLevel = .error
        let a = temporaryDirectory(), b = temporaryDirectory()
        let comm = SingleProcessCommunicator()
        try TrainingRun(config: config, comm: comm, options: .init(output: a), logger: l).run()
        try TrainingRun(config: config, comm: comm, options: .init(output: b, stopAfterEpochs: 1), logger: l).run()
        try TrainingRun(config: config, comm: comm, options: .init(output: b, resume: true), logger: l).run()
        return (try SafeTensors.read(path: a + "/checkpoints/epoch-0002.safetensors"),
                try SafeTensors.read(path: b + "/checkpoints/epoch-0002.safetensors"))
    }

    /// Asserts that `body` throws a UserError whose text contains every fragment.
    public static func assertUserError(_ fragments: [String], file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> Void) {
        do {
            try body()
            XCTFail("expected an error mentioning \(fragments)", file: file, line: line)
        } catch let e as UserError {
            for f in fragments { XCTAssert(e.description.contains(f), "'\(e.description)' lacks '\(f)'", file: file, line: line) }
        } catch {
            XCTFail("unexpected error \(error)", file: file, line: line)
        }
    }
}
