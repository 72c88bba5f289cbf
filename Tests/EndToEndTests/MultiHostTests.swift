import Foundation
import XCTest

/// Training across simulated hosts (launch/multihost-trials over ../shared/tools/netns-cluster):
/// 3 hosts give bit for bit the tensors of 3 local ranks and those of 1 rank up to summation
/// order; a link cut after epoch 2 ends the job within 15 s with a message naming the lost host,
/// leaves every checkpoint intact, and launch/run-resilient resumes on the 2 hosts left, bit for
/// bit as a resume on 2 local ranks, with test metrics of its best checkpoint. Skipped, saying
/// why, without root, network namespaces or the shared tools.
final class MultiHostTests: XCTestCase {
    func testAcrossSimulatedHostsAndACutLink() throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: BinaryTests.root + "/launch/multihost-trials")
        var env = ProcessInfo.processInfo.environment
        // The optimized binary (launch/test builds it first) when there is one: 4 times faster.
        let release = BinaryTests.root + "/.build/release/mtl-worker"
        env["BIN"] = FileManager.default.isExecutableFile(atPath: release) ? release : BinaryTests.binary
        env["EPOCHS"] = "3"
        p.environment = env
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        let killer = DispatchWorkItem { if p.isRunning { p.terminate() } }
        DispatchQueue.global().asyncAfter(deadline: .now() + 900, execute: killer)
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        killer.cancel()
        print(text)
        if let line = text.split(separator: "\n").first(where: { $0.contains("SKIPPED:") }) {
            throw XCTSkip(String(line))
        }
        XCTAssertEqual(p.terminationStatus, 0, text)
        XCTAssert(text.contains("multihost-trials: all checks passed"), text)
        XCTAssert(text.contains("ok: a message names the lost host"), text)
    }
}
