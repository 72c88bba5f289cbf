import XCTest
import MTLDistributed

/// The collective checks written for any world size, here in-process; the end-to-end tests run
/// the same checks under mpirun with 2 and 3 ranks (`mtl-worker selftest`).
final class CollectiveTests: XCTestCase {
    func testSingleProcessCollectives() throws {
        try CollectiveChecks.run(on: SingleProcessCommunicator())
    }
}
