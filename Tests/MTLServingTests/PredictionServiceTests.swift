import Foundation
import Logging
import XCTest
import MTLCore
import MTLData
import MTLDistributed
import MTLInference
import MTLTraining
import MTLTestSupport
@testable import MTLServing

/// POST /v1/predict's decoding, answers and refusals, without HTTP.
final class PredictionServiceTests: XCTestCase {
    /// A model trained on the mixed fixture (three task kinds, embeddings), exported.
    static let service: PredictionService = {
        var l = Logger(label: "test"); l.logLevel = .error
        let dir = Support.temporaryDirectory()
        do {
            let config = try Support.fixtureConfig()
            try TrainingRun(config: config, comm: SingleProcessCommunicator(), options: .init(output: dir), logger: l).run()
            let file = try ModelFile(checkpoint: dir + "/checkpoints/best.safetensors", quantization: .int8)
            try file.write(to: dir + "/model.safetensors")
            return try PredictionService(model: try ModelFile(path: dir + "/model.safetensors"), maxRows: 8)
        } catch { fatalError("fixture model: \(error)") }
    }()

    let good = #"{"rows": [{"x1": -0.2559, "x2": 6.0229, "x3": "0.3019", "color": "red", "shape": "long, thin", "id": 7}]}"#

    func answer(_ body: String) -> Result<String, RequestError> { Self.service.respond(to: Array(body.utf8)) }

    func testAnswersWithEveryTaskKind() throws {
        guard case .success(let json) = answer(good) else { return XCTFail("\(answer(good))") }
        let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
        let rows = object?["predictions"] as? [[String: Any]]
        XCTAssertEqual(rows?.count, 1)
        let row = rows?[0]
        let clicked = row?["clicked"] as? [String: Any], kind = row?["kind"] as? [String: Any], score = row?["score"] as? [String: Any]
        let p = try XCTUnwrap(clicked?["probability"] as? Double)
        XCTAssert(p > 0 && p < 1)
        XCTAssertEqual(clicked?["class"] as? Int, p >= 0.5 ? 1 : 0)
        let probabilities = try XCTUnwrap(kind?["probabilities"] as? [String: Double])
        XCTAssertEqual(Set(probabilities.keys), ["a", "b", "c"])
        XCTAssertEqual(probabilities.values.reduce(0, +), 1, accuracy: 1e-9)
        XCTAssertEqual(kind?["class"] as? String, probabilities.max { $0.value < $1.value }?.key)
        XCTAssertNotNil(score?["value"] as? Double)
        // The same row as the batch predict path gives, through the same preprocessing.
        let table = TextTable(file: "t", columnNames: ["x1", "x2", "x3", "color", "shape"],
                              columns: [["-0.2559"], ["6.0229"], ["0.3019"], ["red"], ["long, thin"]], lines: [1])
        let split = try Self.service.model.preprocessor.encode(table, split: "t", labels: false)
        let direct = try Self.service.predictor.predict(split, workspace: Self.service.predictor.model.makeWorkspace())
        XCTAssertEqual(p, direct[0][0], accuracy: 1e-15)   // through decimal text and back
        // A missing value (null) is what a missing cell of the file is.
        guard case .success = answer(#"{"rows": [{"x1": null, "x2": 1, "x3": 2, "color": null, "shape": "round"}]}"#) else {
            return XCTFail("null refused")
        }
    }

    func testRefusalsNameTheRowAndTheField() {
        let cases: [(String, Int, Int?, String?, String)] = [
            ("not json", 400, nil, nil, "not a JSON object"),
            (#"{"row": []}"#, 400, nil, "rows", "no \"rows\""),
            (#"{"rows": []}"#, 400, nil, "rows", "empty"),
            (#"{"rows": [1]}"#, 400, 0, nil, "row 0 is not a JSON object"),
            (#"{"rows": [{"x1": 1, "x2": 1, "x3": 1, "color": "red"}]}"#, 400, 0, "shape", "absent"),
            (#"{"rows": [{"x1": 1, "x2": 1, "x3": 1, "color": "red", "shape": "round"}, {"x1": "abc", "x2": 1, "x3": 1, "color": "red", "shape": "round"}]}"#,
             400, 1, "x1", "not a number"),
            (#"{"rows": [{"x1": [1], "x2": 1, "x3": 1, "color": "red", "shape": "round"}]}"#, 400, 0, "x1", "string or a number"),
            (#"{"rows": [{"x1": 1e308, "x2": 1e308, "x3": 1, "color": "red", "shape": "round"}]}"#, 400, nil, nil, "outside the range"),
            ("{\"rows\": [" + Array(repeating: "{}", count: 9).joined(separator: ",") + "]}", 413, nil, "rows", "at most 8"),
            // Nesting deeper than any parser's stack: refused, not a crash.
            ("{\"rows\": " + String(repeating: "[", count: 200_000) + String(repeating: "]", count: 200_000) + "}", 400, nil, nil, "not a JSON object"),
        ]
        for (body, status, row, field, fragment) in cases {
            guard case .failure(let e) = answer(body) else { XCTFail("accepted: \(body)"); continue }
            XCTAssertEqual(e.status, status, body)
            XCTAssertEqual(e.row, row, body)
            XCTAssertEqual(e.field, field, body)
            XCTAssert(e.message.contains(fragment), "'\(e.message)' lacks '\(fragment)'")
            XCTAssertNoThrow(try JSONSerialization.jsonObject(with: Data(e.json.utf8)), e.json)
        }
    }

    /// Mutated bodies: each is answered or refused with a 4xx, never a trap or a 500.
    func testFuzzedBodies() {
        let cases = Int(ProcessInfo.processInfo.environment["MTL_FUZZ_CASES"] ?? "") ?? 300
        var rng = SplitMix64(seed: 23)
        var answered = 0, refused = 0
        for k in 0..<cases {
            let body = Mutation.mutate(Array(good.utf8), &rng)
            switch Self.service.respond(to: body) {
            case .success(let json):
                answered += 1
                XCTAssertNoThrow(try JSONSerialization.jsonObject(with: Data(json.utf8)), "case \(k): the answer is not JSON")
            case .failure(let e):
                refused += 1
                XCTAssert((400..<500).contains(e.status), "case \(k): \(e.status) \(e.message)")
            }
        }
        print("fuzz predict bodies: \(cases) cases, \(answered) answered, \(refused) refused with a 4xx")
    }

    /// Model files with random byte edits: read, or refused with a UserError naming the file.
    func testFuzzedModelFiles() throws {
        let dir = Support.temporaryDirectory()
        try Self.service.model.write(to: dir + "/base.safetensors")
        let base = Array(try Data(contentsOf: URL(fileURLWithPath: dir + "/base.safetensors")))
        let cases = Int(ProcessInfo.processInfo.environment["MTL_FUZZ_CASES"] ?? "") ?? 150
        var rng = SplitMix64(seed: 29)
        var read = 0, refused = 0
        for k in 0..<cases {
            try Data(Mutation.mutate(base, &rng)).write(to: URL(fileURLWithPath: dir + "/fuzz.safetensors"))
            do {
                _ = try ModelFile(path: dir + "/fuzz.safetensors").compile(maxRows: 2)
                read += 1
            } catch let e as UserError {
                refused += 1
                XCTAssert(e.description.contains("fuzz.safetensors"), "case \(k): \(e.description)")
            } catch {
                XCTFail("case \(k): not a UserError: \(error)")
            }
        }
        print("fuzz model files: \(cases) cases, \(read) read, \(refused) refused naming the file")
    }

    /// The metadata a model file's checksums cover, mutated and written with valid checksums, so
    /// that the graph, thresholds and preprocessing readers see every edit.
    func testFuzzedModelMetadata() throws {
        let dir = Support.temporaryDirectory()
        try Self.service.model.write(to: dir + "/base.safetensors")
        let file = try SafeTensors.read(path: dir + "/base.safetensors")
        let tensors: [SafeTensors.RawTensor] = file.order.compactMap { name in
            let shape = file.tensors[name]!.shape
            if let f = file.floats(name) { return .init(name: name, shape: shape, float: f) }
            return file.int8(name).map { .init(name: name, shape: shape, int8: $0) }
        }
        let keys = ["graph", "thresholds", "quantization", "preprocessor", "format_version", "overrides", "config"]
        let cases = Int(ProcessInfo.processInfo.environment["MTL_FUZZ_CASES"] ?? "") ?? 150
        var rng = SplitMix64(seed: 31)
        var read = 0, refused = 0
        for k in 0..<cases {
            var meta = file.metadata.filter { $0.key != SafeTensors.checksumKey && $0.key != SafeTensors.headerChecksumKey }
            let key = keys[rng.nextInt(below: keys.count)]
            meta[key] = String(decoding: Mutation.mutate(Array((meta[key] ?? "").utf8), &rng), as: UTF8.self)
            try SafeTensors.write(path: dir + "/fuzz.safetensors", metadata: meta, tensors: tensors)
            do {
                _ = try ModelFile(path: dir + "/fuzz.safetensors").compile(maxRows: 2)
                read += 1
            } catch let e as UserError {
                refused += 1
                XCTAssert(e.description.contains("fuzz.safetensors"), "case \(k) (\(key)): \(e.description)")
            } catch {
                XCTFail("case \(k) (\(key)): not a UserError: \(error)")
            }
        }
        print("fuzz model metadata: \(cases) cases, \(read) read, \(refused) refused naming the file")
    }
}
