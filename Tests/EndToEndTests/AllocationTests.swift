import Foundation
import XCTest

/// The steady-state training step allocates nothing: the optimized binary, with malloc counted
/// by an LD_PRELOAD shim, makes as many allocations for 50 timed steps as for 550 (hard sharing
/// and MMoE).
final class AllocationTests: XCTestCase {
    func testTrainingStepAllocatesNothing() throws {
        let release = BinaryTests.root + "/.build/release/mtl-worker"
        guard FileManager.default.isExecutableFile(atPath: release) else {
            throw XCTSkip("skipped: no release build at \(release); launch/test builds it (swift build -c release)")
        }
        let dir = NSTemporaryDirectory() + "mtl-alloc-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let cc = Process()
        cc.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        cc.arguments = ["cc", "-O2", "-shared", "-fPIC", BinaryTests.fixtures + "/malloc_count.c", "-o", dir + "/malloc_count.so"]
        try cc.run(); cc.waitUntilExit()
        XCTAssertEqual(cc.terminationStatus, 0, "cannot compile the malloc counter")

        func allocations(workload: String, steps: Int) throws -> Int {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: release)
            p.arguments = ["bench", "--workload", workload, "--dim", "32", "--batch", "16", "--rows", "2000", "--steps", String(steps), "--warmup", "5"]
            var env = ProcessInfo.processInfo.environment
            env["LD_PRELOAD"] = dir + "/malloc_count.so"
            p.environment = env
            let err = Pipe()
            p.standardError = err
            p.standardOutput = Pipe()
            try p.run()
            let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            XCTAssertEqual(p.terminationStatus, 0, text)
            guard let line = text.split(separator: "\n").last(where: { $0.hasPrefix("malloc_count ") }),
                  let n = Int(line.dropFirst("malloc_count ".count)) else {
                XCTFail("no malloc_count in: \(text)"); return 0
            }
            return n
        }
        for workload in ["hps", "mmoe"] {
            let short = try allocations(workload: workload, steps: 50), long = try allocations(workload: workload, steps: 550)
            print("\(workload) allocations: 50 steps \(short), 550 steps \(long)")
            // Start-up allocates a few thousand times and varies by a few dozen between runs;
            // one allocation per step would add 500.
            XCTAssertLessThan(abs(long - short), 100, "\(workload): 500 more steps made \(long - short) more allocations")
            XCTAssertGreaterThan(short, 0, "the counter must see allocations at all")
        }
    }
}
