import Foundation
import XCTest

/// examples/predict_numpy.py, the documented model format in use: from a checkpoint's tensors and
/// stored preprocessing alone, numpy reproduces `predict` for hard-sharing (one-hot categories,
/// GELU, layer norm; binary, multiclass and regression tasks). Skipped, saying why, without a
/// Python that has numpy and safetensors (launch/test makes one with launch/python-env).
final class ExampleTests: XCTestCase {
    func testNumpyExampleReproducesPredict() throws {
        let env = ProcessInfo.processInfo.environment
        var python = env["MTL_PYTHON"] ?? ""
        if python.isEmpty {
            if (try? BinaryTests.execute("python3", ["-c", "import numpy, safetensors"]))?.status == 0 { python = "python3" }
        }
        try XCTSkipIf(python.isEmpty, "no Python with numpy and safetensors (run launch/python-env, or set MTL_PYTHON): examples/predict_numpy.py not checked")
        let dir = NSTemporaryDirectory() + "mtl-example-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let csv = BinaryTests.fixtures + "/mixed.csv"
        let config = try BinaryTests.mixedConfig(in: dir, [("categorical_encoding: embedding", "categorical_encoding: onehot")])
        func run(_ exe: String, _ args: [String]) throws -> (Int32, String, String) {
            let r = try BinaryTests.execute(exe, args)
            return (r.status, r.stdout, r.stderr)
        }
        let t = try run(BinaryTests.binary, ["train", "--config", config, "--output", dir + "/run"])
        XCTAssertEqual(t.0, 0, t.2)
        let ck = dir + "/run/checkpoints/best.safetensors"
        let p = try run(BinaryTests.binary, ["predict", "--checkpoint", ck, "--input", csv, "--output", "-"])
        XCTAssertEqual(p.0, 0, p.2)
        let n = try run(python, [BinaryTests.root + "/examples/predict_numpy.py", ck, csv])
        XCTAssertEqual(n.0, 0, n.2)
        let a = p.1.split(separator: "\n").map { $0.split(separator: ",").map(String.init) }
        let b = n.1.split(separator: "\n").map { $0.split(separator: ",").map(String.init) }
        XCTAssertEqual(a.count, 601)
        XCTAssertEqual(a.count, b.count)
        XCTAssertEqual(Array(a[0].dropFirst()), b[0], "the same columns, without line")
        // Probabilities agree to the 6th significant digit predict prints; regression values
        // (scaled back by the target's deviation) to 1e-4 relative.
        var largest = 0.0
        for (x, y) in zip(a.dropFirst(), b.dropFirst()) {
            for (j, (u, v)) in zip(x.dropFirst(), y).enumerated() {
                let du = try XCTUnwrap(Double(u)), dv = try XCTUnwrap(Double(v))
                let d = abs(du - dv) / max(1, abs(du))
                XCTAssertLessThan(d, j == x.count - 2 ? 1e-4 : 2e-6, "row \(x[0]) column \(a[0][j + 1]): \(u) vs \(v)")
                largest = max(largest, d)
            }
        }
        print("examples/predict_numpy.py against predict: largest difference \(largest) (relative beyond 1)")
    }
}
