import XCTest
import MTLCore
@testable import MTLDistributed

/// The synchronizer's packing against a stand-in for two identical ranks: a communicator whose
/// sum doubles what it is given, so whatever is sent comes back doubled and whatever is not sent
/// stays as it was. (The same checks run with real ranks in `CollectiveChecks`, under mpirun.)
final class GradientSynchronizerTests: XCTestCase {
    final class TwoIdenticalRanks: Communicator {
        var rank: Int { 0 }
        var size: Int { 2 }
        var floatsSent = 0
        func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws {
            floatsSent += buffer.count
            for i in buffer.indices { buffer[i] *= 2 }
        }
        func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) throws { for i in buffer.indices { buffer[i] *= 2 } }
        func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int) throws {}
        func allgather(_ value: UInt64) throws -> [UInt64] { [value, value] }
        /// The other rank's part is this rank's, as two identical ranks would send.
        func allgather(_ buffer: UnsafeMutableBufferPointer<Float>, counts: [Int]) throws {
            precondition(counts.count == 2 && counts[0] == counts[1])
            for i in 0..<counts[0] { buffer[counts[0] + i] = buffer[i] }
        }
        func barrier() throws {}
        func split(color: Int, key: Int) throws -> Communicator { self }
        func abort(code: Int32) -> Never { exit(code) }
    }

    func store() -> (ParameterStore, ParameterEntry, ParameterEntry, ParameterEntry) {
        let s = ParameterStore()
        let a = s.register("a.weight", shape: [2, 3], initializer: .zeros)
        let t = s.register("sparse.weight", shape: [5, 4], initializer: .zeros)
        let b = s.register("b.bias", shape: [3], initializer: .zeros)
        s.materialize(seed: 0)
        return (s, a, t, b)
    }

    func testTouchedRowsTravelAndTheOthersStay() throws {
        let (s, a, t, b) = store()
        let g = s.gradients.pointer
        for i in 0..<s.count { g[i] = Float(i + 1) }
        let before = s.gradients.array
        let comm = TwoIdenticalRanks()
        let sync = GradientSynchronizer(comm: comm, store: s, sparseTables: [t])
        XCTAssertEqual(sync.denseEntries.map(\.name), ["a.weight", "b.bias"])
        try sync.allreduce(touchedRows: [4, 1])
        XCTAssertEqual(comm.floatsSent, a.count + b.count + 2 * 4, "only the touched rows of the table travel")
        for i in 0..<s.count {
            let row = i >= t.offset && i < t.offset + t.count ? (i - t.offset) / 4 : nil
            let sent = row.map { $0 == 1 || $0 == 4 } ?? true
            XCTAssertEqual(g[i], sent ? 2 * before[i] : before[i], "element \(i)")
        }
        try sync.allreduceAll()
        XCTAssertEqual(comm.floatsSent, a.count + b.count + 8 + s.count)
    }

    func testTaskMatrixCombination() throws {
        let (s, a, t, b) = store()
        let g = s.gradients.pointer
        let comm = TwoIdenticalRanks()
        let sync = GradientSynchronizer(comm: comm, store: s, sparseTables: [])
        sync.prepareTaskGradients(shared: [a, b], tasks: 2)
        XCTAssertEqual(sync.sharedCount, 9)
        XCTAssertEqual(sync.otherEntries.map(\.name), ["sparse.weight"])
        // Task k's gradient on the shared tensors: (k + 1) (i + 1); the table accumulates 1 per pass.
        for k in 0..<2 {
            for e in [a, b] { for i in 0..<e.count { g[e.offset + i] = Float((k + 1) * (i + 1)) } }
            for i in 0..<t.count { g[t.offset + i] += 1 }
            sync.captureTaskGradient(k)
            XCTAssert([a, b].allSatisfy { e in (0..<e.count).allSatisfy { g[e.offset + $0] == 0 } })
        }
        let m = try sync.allreduceTaskGradients()
        XCTAssertEqual(comm.floatsSent, 2 * 9 + t.count, "one all-reduce of [T x S | the other tensors]")
        for k in 0..<2 {
            var o = 0
            for e in [a, b] { for i in 0..<e.count { XCTAssertEqual(m[k * 9 + o + i], Float(2 * (k + 1) * (i + 1))) }; o += e.count }
        }
        XCTAssert((0..<t.count).allSatisfy { g[t.offset + $0] == 4 }, "the other tensors' sum comes back into place")
        sync.applyCombination([0.5, 0.25])
        // 0.5 * 2 (i + 1) + 0.25 * 4 (i + 1) = 2 (i + 1)
        for e in [a, b] { for i in 0..<e.count { XCTAssertEqual(g[e.offset + i], Float(2 * (i + 1))) } }
        sync.clearTaskGradients()
        XCTAssertEqual(try sync.allreduceTaskGradients()[0], 0)
        XCTAssertEqual(sync.taskGradientExtraFloats, 9)
    }
}
