import Logging
import XCTest
import MTLCore
import MTLDistributed
import MTLModels
@testable import MTLTraining

/// What `bench` reports about where the time goes: the step's FLOPs by hand, and phases that
/// cover every timed step and add up to its time.
final class BenchmarkTests: XCTestCase {
    func testFLOPsAndPhases() throws {
        var logger = Logger(label: "test"); logger.logLevel = .error
        for (workload, gradient) in [(Benchmark.Workload.hps, false), (.mmoe, false), (.hps, true)] {
            let r = try Benchmark.run(workload: workload, dim: 32, tasks: 2, batchPerRank: 16, steps: 12, warmup: 2, rows: 400,
                                      weighting: gradient ? .pcgrad : .fixed, comm: SingleProcessCommunicator(), logger: logger)
            // Multiply-adds per row, by hand: hps 32-512-256 with two heads 256-64-1; mmoe 8 experts
            // 32-256-128 (the first layers as one 32 x 2048 product, the second grouped), a gate
            // 32-8 and a mixture of 8 x 128 per task, towers 128-64-1.
            let macs = workload == .hps ? 32 * 512 + 512 * 256 + 2 * (256 * 64 + 64)
                : 32 * 2048 + 8 * 256 * 128 + 2 * (32 * 8 + 8 * 128 + 128 * 64 + 64)
            XCTAssertEqual(r.flopsPerSample, 6 * Double(macs), "\(workload)")
            let p = r.phases
            XCTAssertEqual(p.steps, 12)
            XCTAssertEqual(p.shares.values.reduce(0, +), 1, accuracy: 1e-9)
            for (name, d) in [("forward", p.forward), ("backward", p.backward), ("optimizer", p.optimizer), ("load", p.load)] {
                XCTAssertGreaterThan(StepPhases.seconds(d), 0, "\(workload) \(name)")
            }
            XCTAssertEqual(StepPhases.seconds(p.weighting) > 0, gradient, "\(workload): a gradient method's own arithmetic is timed, and only then")
            let covered = [p.load, p.forward, p.backward, p.communication, p.weighting, p.optimizer].map(StepPhases.seconds).reduce(0, +)
            XCTAssertLessThanOrEqual(covered, StepPhases.seconds(p.total) * (1 + 1e-9))
            XCTAssertGreaterThan(r.sgemmGFLOPS, 0)
        }
    }
}
