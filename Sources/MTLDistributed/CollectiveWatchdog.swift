import Foundation
import Synchronization

/// Bounds every collective: a collective that has not completed after `timeout` seconds means
/// that another rank stopped, hangs or was lost, and MPI itself would wait for it forever. The
/// watchdog's thread then prints what was waiting (the call, the epoch and step, the job's hosts)
/// and ends this process with `exitCode`; the launcher (mpirun, srun) then ends the others.
public final class CollectiveWatchdog: Sendable {
    /// The exit code of a job ended by the watchdog (documented in the README).
    public static let exitCode: Int32 = 3

    public let timeout: Double
    /// The call in progress (an index into `calls`, -1: none), since when (monotonic ns), and
    /// where the training was (set by the trainer each step, without allocating).
    private let call = Atomic<Int>(-1)
    private let since = Atomic<Int>(0)
    private let epoch = Atomic<Int>(-1)
    private let step = Atomic<Int>(-1)
    private let description: Mutex<String>
    static let calls = ["allreduce", "broadcast", "allgather", "barrier", "split"]

    /// `who`: this rank and the job's hosts, for the message.
    public init(timeout: Double, who: String) {
        self.timeout = timeout
        description = Mutex(who)
        guard timeout > 0 else { return }
        let thread = Thread { [self] in self.watch() }
        thread.name = "collective watchdog"
        thread.start()
    }

    public func describe(_ who: String) { description.withLock { $0 = who } }

    static func now() -> Int {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return t.tv_sec * 1_000_000_000 + t.tv_nsec
    }

    func enter(_ k: Int) {
        since.store(Self.now(), ordering: .relaxed)
        call.store(k, ordering: .releasing)
    }

    func leave() { call.store(-1, ordering: .releasing) }

    public func note(epoch e: Int, step s: Int) {
        epoch.store(e, ordering: .relaxed)
        step.store(s, ordering: .relaxed)
    }

    private func watch() {
        while true {
            usleep(200_000)
            let k = call.load(ordering: .acquiring)
            guard k >= 0 else { continue }
            let waited = Double(Self.now() - since.load(ordering: .relaxed)) / 1e9
            guard waited > timeout, call.load(ordering: .acquiring) == k else { continue }
            let e = epoch.load(ordering: .relaxed), s = step.load(ordering: .relaxed)
            let place = s >= 0 ? "in epoch \(e + 1), step \(s)" : "at start-up"
            let who = description.withLock { $0 }
            let text = "error: \(who): the \(Self.calls[k]) \(place) has not completed after \(Int(waited)) s: another rank of the job stopped, hangs or was lost\n"
                + "HINT: look for a stopped or dead process, or a lost host, among the job's; the newest checkpoint is intact, continue with --resume; if a step can take longer, raise training.collective_timeout\n"
            FileHandle.standardError.write(Data(text.utf8))
            _exit(Self.exitCode)
        }
    }
}

/// A communicator whose every collective the watchdog bounds.
public final class WatchedCommunicator: Communicator, FinalizableCommunicator {
    public let inner: Communicator
    public let watchdog: CollectiveWatchdog

    public init(_ inner: Communicator, watchdog: CollectiveWatchdog) {
        self.inner = inner
        self.watchdog = watchdog
    }

    public var rank: Int { inner.rank }
    public var size: Int { inner.size }

    @inline(__always) func watched<T>(_ k: Int, _ body: () throws -> T) rethrows -> T {
        watchdog.enter(k)
        defer { watchdog.leave() }
        return try body()
    }

    public func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws { try watched(0) { try inner.allreduceSum(buffer) } }
    public func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) throws { try watched(0) { try inner.allreduceSum(buffer) } }
    public func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int) throws { try watched(1) { try inner.broadcast(buffer, root: root) } }
    public func allgather(_ value: UInt64) throws -> [UInt64] { try watched(2) { try inner.allgather(value) } }
    public func barrier() throws { try watched(3) { try inner.barrier() } }
    public func split(color: Int, key: Int) throws -> Communicator {
        WatchedCommunicator(try watched(4) { try inner.split(color: color, key: key) }, watchdog: watchdog)
    }
    public func abort(code: Int32) -> Never { inner.abort(code: code) }
    public func note(epoch: Int, step: Int) { watchdog.note(epoch: epoch, step: step) }
    public func finalize() { (inner as? FinalizableCommunicator)?.finalize() }
}
