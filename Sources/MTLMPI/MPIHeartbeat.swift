import CMPI
import Foundation
import MTLDistributed
import Synchronization

/// Heartbeats over MPI point-to-point messages on a private duplicate of the world communicator,
/// sent and received by a thread of their own (which needs MPI_THREAD_MULTIPLE): rank 0 and every
/// other rank exchange an eight-byte message every `interval` seconds, a star rather than all
/// pairs, so rank 0 hears from everyone and everyone from rank 0 at 2 (size - 1) messages per
/// interval. MPI has no liveness query of its own (a lost peer makes a collective wait forever).
final class MPIHeartbeat: LivenessMonitor, @unchecked Sendable {
    static let interval = 0.5
    private var comm: MPI_Comm?
    private let peers: [Int]
    /// One receive and one send per peer (the thread alone touches them until `stop`).
    private let received: UnsafeMutablePointer<UInt64>
    private let beat = UnsafeMutablePointer<UInt64>.allocate(capacity: 1)
    private let requests: UnsafeMutablePointer<MPI_Request?>
    /// The monotonic time of the last heartbeat from each peer, read by the watchdog.
    private let heard: Mutex<[Double]>
    private let running = Atomic<Bool>(true)
    private let finished = DispatchSemaphore(value: 0)
    private static let tag: Int32 = 7

    init(duplicating world: MPI_Comm?, rank: Int, size: Int) throws {
        var dup: MPI_Comm? = mtl_mpi_comm_null()
        try MPICommunicator.check(MPI_Comm_dup(world, &dup), "MPI_Comm_dup")
        try MPICommunicator.check(MPI_Comm_set_errhandler(dup, mtl_mpi_errors_return()), "MPI_Comm_set_errhandler")
        comm = dup
        peers = rank == 0 ? Array(1..<size) : [0]
        received = .allocate(capacity: peers.count)
        received.initialize(repeating: 0, count: peers.count)
        beat.initialize(to: 0)
        requests = .allocate(capacity: 2 * peers.count)
        requests.initialize(repeating: mtl_mpi_request_null(), count: 2 * peers.count)
        heard = Mutex([Double](repeating: Self.now(), count: peers.count))
        for i in peers.indices { try post(i) }
        let thread = Thread { [self] in self.run() }
        thread.name = "MPI heartbeat"
        thread.start()
    }

    static func now() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
    }

    private func post(_ i: Int) throws {
        try MPICommunicator.check(MPI_Irecv(received + i, 1, UInt64.mpiDatatype, Int32(peers[i]), Self.tag, comm, requests + i), "MPI_Irecv")
    }

    private func run() {
        defer { finished.signal() }
        var next = Self.now()
        while running.load(ordering: .acquiring) {
            let now = Self.now()
            do {
                for i in peers.indices {
                    var flag: Int32 = 0
                    try MPICommunicator.check(MPI_Test(requests + i, &flag, mtl_mpi_status_ignore()), "MPI_Test")
                    if flag != 0 {
                        heard.withLock { $0[i] = now }
                        try post(i)
                    }
                }
                if now >= next {
                    next = now + Self.interval
                    beat.pointee &+= 1
                    for i in peers.indices {
                        // A peer that does not take its heartbeats (stopped, lost) gets no more.
                        var flag: Int32 = 0
                        try MPICommunicator.check(MPI_Test(requests + peers.count + i, &flag, mtl_mpi_status_ignore()), "MPI_Test")
                        if flag != 0 {
                            try MPICommunicator.check(MPI_Isend(beat, 1, UInt64.mpiDatatype, Int32(peers[i]), Self.tag, comm,
                                                                requests + peers.count + i), "MPI_Isend")
                        }
                    }
                }
            } catch {
                // An MPI error here ends the heartbeats; the watchdog then sees silence and says so.
                FileHandle.standardError.write(Data("warning: heartbeats stopped: \(error)\n".utf8))
                return
            }
            usleep(50_000)
        }
    }

    func silentRanks(longerThan seconds: Double) -> [(rank: Int, seconds: Double)] {
        let now = Self.now()
        return heard.withLock { last in
            peers.indices.compactMap { i in now - last[i] > seconds ? (peers[i], now - last[i]) : nil }
        }
    }

    /// Ends the thread and cancels the receives; a send still in flight is left to MPI (its
    /// buffer, a few bytes, is not freed for that reason).
    func stop() {
        running.store(false, ordering: .releasing)
        finished.wait()
        for i in peers.indices {
            if requests[i] != mtl_mpi_request_null() {
                _ = MPI_Cancel(requests + i)
                _ = MPI_Wait(requests + i, mtl_mpi_status_ignore())
            }
            if requests[peers.count + i] != mtl_mpi_request_null() { _ = MPI_Request_free(requests + peers.count + i) }
        }
        if comm != mtl_mpi_comm_null() { _ = MPI_Comm_free(&comm); comm = mtl_mpi_comm_null() }
    }
}
