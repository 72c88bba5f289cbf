import Foundation
import XCTest
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// serve over real HTTP on loopback: answers, refusals, metrics, requests side by side, and a
/// clean stop on SIGTERM.
extension BinaryTests {
    /// Sends one request; returns the status and body (status 0 when no answer came).
    static func http(_ url: String, method: String = "GET", body: Data? = nil, timeout: Double = 30) -> (Int, String) {
        var request = URLRequest(url: URL(string: url)!, timeoutInterval: timeout)
        request.httpMethod = method
        request.httpBody = body
        if body != nil { request.setValue("application/json", forHTTPHeaderField: "Content-Type") }
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var result = (0, "")
        URLSession.shared.dataTask(with: request) { data, response, _ in
            result = ((response as? HTTPURLResponse)?.statusCode ?? 0, data.map { String(decoding: $0, as: UTF8.self) } ?? "")
            done.signal()
        }.resume()
        _ = done.wait(timeout: .now() + timeout + 5)
        return result
    }

    func testServeAnswersRefusesAndStopsCleanly() throws {
        let dir = NSTemporaryDirectory() + "serve-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        _ = try trainAndExport(dir, config: Self.fixtures + "/mixed.yaml", architecture: "mmoe")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.binary)
        p.arguments = ["serve", "--model", dir + "/model-int8.safetensors", "--port", "0", "--max-rows", "4", "--max-body-bytes", "4096"]
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        defer { if p.isRunning { p.terminate(); p.waitUntilExit() } }
        // The bound port, from the line it prints once listening.
        var text = "", port = 0
        let deadline = Date().addingTimeInterval(60)
        while port == 0 && Date() < deadline && p.isRunning {
            let chunk = err.fileHandleForReading.availableData
            if chunk.isEmpty { usleep(50_000); continue }
            text += String(decoding: chunk, as: UTF8.self)
            if let r = text.range(of: #"on http://127\.0\.0\.1:(\d+)"#, options: .regularExpression) {
                port = Int(text[r].split(separator: ":").last ?? "") ?? 0
            }
        }
        XCTAssertNotEqual(port, 0, "serve did not say where it listens: \(text)")
        guard port != 0 else { return }
        let base = "http://127.0.0.1:\(port)"
        let (hs, health) = Self.http(base + "/health")
        XCTAssertEqual(hs, 200)
        XCTAssert(health.contains("\"quantization\":\"int8\""), health)
        let row = #"{"x1": -0.2559, "x2": 6.0229, "x3": 0.3019, "color": "red", "shape": "long, thin"}"#
        let (s1, a1) = Self.http(base + "/v1/predict", method: "POST", body: Data(#"{"rows": [\#(row)]}"#.utf8))
        XCTAssertEqual(s1, 200, a1)
        XCTAssert(a1.hasPrefix(#"{"predictions":[{"clicked":{"probability":"#), a1)
        // Refusals: a bad field, too many rows, too large a body, an unknown path.
        let (s2, a2) = Self.http(base + "/v1/predict", method: "POST", body: Data(#"{"rows": [{"x1": "abc"}]}"#.utf8))
        XCTAssertEqual(s2, 400, a2)
        XCTAssert(a2.contains("\"row\":0") && a2.contains("\"field\":"), a2)
        let (s3, _) = Self.http(base + "/v1/predict", method: "POST", body: Data(("{\"rows\": [" + Array(repeating: row, count: 5).joined(separator: ",") + "]}").utf8))
        XCTAssertEqual(s3, 413)
        let (s4, a4) = Self.http(base + "/v1/predict", method: "POST", body: Data(repeating: UInt8(ascii: " "), count: 5000))
        XCTAssertEqual(s4, 413, a4)
        XCTAssertEqual(Self.http(base + "/v2/nothing").0, 404)
        // Requests side by side, each answered as it is alone.
        let answers = UnsafeMutableBufferPointer<(Int, String)>.allocate(capacity: 16)
        _ = answers.initialize(from: repeatElement((0, ""), count: 16))
        defer { answers.deinitialize(); answers.deallocate() }
        nonisolated(unsafe) let shared = answers
        DispatchQueue.concurrentPerform(iterations: 16) { i in
            shared[i] = Self.http(base + "/v1/predict", method: "POST", body: Data(#"{"rows": [\#(row), \#(row)]}"#.utf8))
        }
        for i in 0..<16 {
            XCTAssertEqual(answers[i].0, 200)
            XCTAssertEqual(answers[i].1, "{\"predictions\":[" + a1.dropFirst(16).dropLast(2) + "," + a1.dropFirst(16).dropLast(2) + "]}")
        }
        let (ms, metrics) = Self.http(base + "/metrics")
        XCTAssertEqual(ms, 200)
        XCTAssert(metrics.contains(#"mtl_predict_requests_total{status="200"} 17"#), metrics)
        XCTAssert(metrics.contains(#"mtl_predict_errors_total{status="413"} 2"#), metrics)
        XCTAssert(metrics.contains("mtl_predict_duration_seconds_count 20"), metrics)
        // SIGTERM: a clean stop, exit 0.
        p.terminate()
        p.waitUntilExit()
        text += String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertEqual(p.terminationStatus, 0, text)
        XCTAssert(text.contains("stopped"), text)
    }
}
