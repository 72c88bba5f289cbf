import Foundation
import XCTest

/// The steady-state training step and the inference engine's call allocate nothing: the optimized
/// binary, with malloc counted by an LD_PRELOAD shim, makes as many allocations for 50 timed steps
/// as for 550 (hard sharing and MMoE), and for 100 inference calls as for 2,100 (float and int8,
/// one row and four).
final class AllocationTests: XCTestCase {
    func testTrainingStepAllocatesNothing() throws {
        try checkAllocations { allocations in
            for workload in ["hps", "mmoe"] {
                let args = ["bench", "--workload", workload, "--dim", "32", "--batch", "16", "--rows", "2000", "--warmup", "5", "--steps"]
                let short = try allocations(args + ["50"]), long = try allocations(args + ["550"])
                print("\(workload) allocations: 50 steps \(short), 550 steps \(long)")
                // Start-up allocates a few thousand times and varies by a few dozen between runs;
                // one allocation per step would add 500.
                XCTAssertLessThan(abs(long - short), 100, "\(workload): 500 more steps made \(long - short) more allocations")
                XCTAssertGreaterThan(short, 0, "the counter must see allocations at all")
            }
        }
    }

    func testInferenceCallAllocatesNothing() throws {
        try checkAllocations { allocations in
            for workload in ["hps", "mmoe"] {
                for q in ["none", "int8"] {
                    for batch in ["1", "4"] {
                        let args = ["bench", "--inference", q, "--workload", workload, "--dim", "64", "--batch", batch, "--warmup", "5", "--steps"]
                        let short = try allocations(args + ["100"]), long = try allocations(args + ["2100"])
                        print("\(workload) \(q) batch \(batch) allocations: 100 calls \(short), 2100 calls \(long)")
                        // One allocation per call would add 2,000.
                        XCTAssertLessThan(abs(long - short), 100, "\(workload) \(q) batch \(batch): 2,000 more calls made \(long - short) more allocations")
                    }
                }
            }
        }
    }

    /// Compiles the malloc counter and hands `body` a function that runs the release binary with
    /// arguments and returns how many allocations it made.
    func checkAllocations(_ body: (([String]) throws -> Int) throws -> Void) throws {
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

        func allocations(_ arguments: [String]) throws -> Int {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: release)
            p.arguments = arguments
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
        try body(allocations)
    }
}
