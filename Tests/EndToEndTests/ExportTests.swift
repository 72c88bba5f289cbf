import Foundation
import XCTest

/// export, and model files read back by predict and evaluate: the float file predicts what the
/// checkpoint predicts, exactly; int8 within a bound; bad files are refused with the reason.
extension BinaryTests {
    /// Rows of a predict CSV as numbers, without the line column.
    func predictions(_ csv: String) -> (header: [String], rows: [[Double]]) {
        let lines = csv.split(separator: "\n").map(String.init)
        let header = lines.first?.split(separator: ",").map(String.init) ?? []
        let rows = lines.dropFirst().map { $0.split(separator: ",").dropFirst().map { Double($0) ?? .nan } }
        return (Array(header.dropFirst()), rows)
    }

    func trainAndExport(_ dir: String, config: String, architecture: String) throws -> String {
        let r = try run(["train", "--config", config, "--output", dir + "/run", "--architecture", architecture, "--epochs", "2"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let checkpoint = dir + "/run/checkpoints/best.safetensors"
        for q in ["none", "int8"] {
            let e = try run(["export", "--checkpoint", checkpoint, "--output", "\(dir)/model-\(q).safetensors", "--quantize", q])
            XCTAssertEqual(e.status, 0, e.stderr)
            XCTAssert(e.stderr.contains("wrote \(dir)/model-\(q).safetensors"), e.stderr)
        }
        return checkpoint
    }

    func testExportedModelsPredictAsTheCheckpoint() throws {
        let inputs = NSTemporaryDirectory() + "export-both-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: inputs, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: inputs) }
        let both = try bothInputs(inputs)
        let cases: [(config: String, input: String, architectures: [String])] = [
            (Self.fixtures + "/mixed.yaml", Self.fixtures + "/mixed.csv", Self.architectures),
            (Self.fixtures + "/tasks.yaml", both, ["hard-sharing", "mmoe", "task-attention"]),
        ]
        for c in cases {
            for architecture in c.architectures {
                let dir = NSTemporaryDirectory() + "export-\(UUID().uuidString)"
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
                defer { try? FileManager.default.removeItem(atPath: dir) }
                let checkpoint = try trainAndExport(dir, config: c.config, architecture: architecture)
                let reference = try run(["predict", "--checkpoint", checkpoint, "--input", c.input, "--output", "-"])
                XCTAssertEqual(reference.status, 0, reference.stderr)
                let float = try run(["predict", "--model", dir + "/model-none.safetensors", "--input", c.input, "--output", "-"])
                XCTAssertEqual(float.stdout, reference.stdout, "\(architecture): the float model file predicts otherwise than its checkpoint")
                let int8 = try run(["predict", "--model", dir + "/model-int8.safetensors", "--input", c.input, "--output", "-"])
                XCTAssertEqual(int8.status, 0, int8.stderr)
                let (header, expected) = predictions(reference.stdout), (header8, got) = predictions(int8.stdout)
                XCTAssertEqual(header8, header)
                XCTAssertEqual(got.count, expected.count)
                for j in header.indices {
                    // Probabilities within 0.03; a regression value within 3 % of the predictions' spread.
                    let column = expected.map { $0[j] }
                    let spread = header[j] == "score" ? (column.max() ?? 0) - (column.min() ?? 0) : 1
                    let worst = zip(got, expected).map { abs($0[j] - $1[j]) }.max() ?? 0
                    XCTAssertLessThanOrEqual(worst, 0.03 * spread, "\(architecture) \(header[j]): int8 differs by \(worst)")
                }
                let size = { (p: String) in (try FileManager.default.attributesOfItem(atPath: p)[.size] as? Int) ?? 0 }
                XCTAssertLessThan(try size(dir + "/model-none.safetensors"), try size(checkpoint), "weights only: smaller than the checkpoint")
            }
        }
    }

    func testModelFilesRefuseWhatTheyCannotUse() throws {
        let dir = NSTemporaryDirectory() + "export-bad-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let checkpoint = try trainAndExport(dir, config: Self.fixtures + "/mixed.yaml", architecture: "mmoe")
        let input = Self.fixtures + "/mixed.csv"
        func refused(_ arguments: [String], _ fragments: [String], line: UInt = #line) throws {
            let r = try run(arguments)
            XCTAssertNotEqual(r.status, 0, "accepted: \(arguments)", line: line)
            for f in fragments { XCTAssert(r.stderr.contains(f), "'\(f)' not in: \(r.stderr)", line: line) }
            XCTAssertFalse(r.stderr.contains("Fatal error"), r.stderr, line: line)
        }
        try refused(["predict", "--model", checkpoint, "--input", input, "--output", "-"], ["is a training checkpoint", "export"])
        try refused(["predict", "--checkpoint", checkpoint, "--model", dir + "/model-none.safetensors", "--input", input, "--output", "-"],
                    ["either --checkpoint", "or --model"])
        try refused(["export", "--checkpoint", dir + "/model-none.safetensors", "--output", dir + "/x.safetensors"], ["checkpoint"])
        try refused(["export", "--checkpoint", checkpoint, "--output", dir + "/x.safetensors", "--quantize", "int4"], ["--quantize", "int8"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/x.safetensors"), "nothing written on a refusal")
        // A cut file and a flipped byte: the checks in the file name what is wrong.
        let bytes = try Data(contentsOf: URL(fileURLWithPath: dir + "/model-int8.safetensors"))
        try bytes.prefix(bytes.count - 7).write(to: URL(fileURLWithPath: dir + "/cut.safetensors"))
        try refused(["predict", "--model", dir + "/cut.safetensors", "--input", input, "--output", "-"], ["cut.safetensors"])
        var flipped = bytes
        flipped[flipped.count - 3] ^= 0x40
        try flipped.write(to: URL(fileURLWithPath: dir + "/flipped.safetensors"))
        try refused(["predict", "--model", dir + "/flipped.safetensors", "--input", input, "--output", "-"], ["flipped.safetensors", "CRC-32"])
    }
}

extension BinaryTests {
    /// export --format onnx, run by ONNX Runtime (launch/onnx-check.py) on the inputs predict
    /// --encoded-output writes: the outputs predict gives, within 1e-5, for every architecture
    /// with dense and embedding inputs and three with text and sparse inputs.
    func testONNXExportMatchesPredictInONNXRuntime() throws {
        let python = ProcessInfo.processInfo.environment["MTL_PYTHON_ONNX"] ?? ""
        try XCTSkipIf(python.isEmpty, "no Python with numpy and onnxruntime (launch/test makes one with launch/python-env onnxruntime, or set MTL_PYTHON_ONNX): the ONNX export is not checked")
        let dir = NSTemporaryDirectory() + "onnx-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let both = try bothInputs(dir)
        let cases: [(config: String, input: String, architectures: [String])] = [
            (Self.fixtures + "/mixed.yaml", Self.fixtures + "/mixed.csv", Self.architectures),
            (Self.fixtures + "/tasks.yaml", both, ["hard-sharing", "mmoe", "task-attention"]),
        ]
        for (k, c) in cases.enumerated() {
            for architecture in c.architectures {
                let dir = dir + "/\(k)-\(architecture)"
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
                let checkpoint = try trainAndExport(dir, config: c.config, architecture: architecture)
                let e = try run(["export", "--checkpoint", checkpoint, "--output", dir + "/model.onnx", "--format", "onnx"])
                XCTAssertEqual(e.status, 0, e.stderr)
                let p = try run(["predict", "--model", dir + "/model-none.safetensors", "--input", c.input, "--output", dir + "/p.csv",
                                 "--encoded-output", dir + "/e.csv"])
                XCTAssertEqual(p.status, 0, p.stderr)
                let check = try Self.execute(python, [Self.root + "/launch/onnx-check.py", dir + "/model.onnx", dir + "/e.csv", dir + "/p.csv"])
                XCTAssertEqual(check.status, 0, "\(architecture) (\(c.config)): \(check.stdout) \(check.stderr)")
                print("onnx \(architecture) \((c.config as NSString).lastPathComponent): \(check.stdout.trimmingCharacters(in: .whitespacesAndNewlines))")
            }
        }
        let q = try run(["export", "--checkpoint", dir + "/0-mmoe/run/checkpoints/best.safetensors", "--output", dir + "/q.onnx", "--format", "onnx", "--quantize", "int8"])
        XCTAssertNotEqual(q.status, 0)
        XCTAssert(q.stderr.contains("quantize_dynamic"), q.stderr)
    }

    /// Rows with every input column of the two-file fixture: tasks-a's body and length with
    /// tasks-b's tweet and flags.
    func bothInputs(_ dir: String) throws -> String {
        let a = try String(contentsOfFile: Self.fixtures + "/tasks-a.tsv", encoding: .utf8).split(separator: "\n").dropFirst()
        let b = try String(contentsOfFile: Self.fixtures + "/tasks-b.tsv", encoding: .utf8).split(separator: "\n").dropFirst()
        let both = dir + "/both.tsv"
        try (["body\tlength\ttweet\tflags"] + zip(a, b).map { x, y in
            let fa = x.split(separator: "\t", omittingEmptySubsequences: false), fb = y.split(separator: "\t", omittingEmptySubsequences: false)
            return "\(fa[1])\t\(fa[2])\t\(fb[1])\t\(fb[3])"
        }).joined(separator: "\n").write(toFile: both, atomically: true, encoding: .utf8)
        return both
    }
}
