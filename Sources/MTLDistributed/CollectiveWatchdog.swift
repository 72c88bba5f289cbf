import Foundation
import Synchronization

/// Bounds every collective. MPI waits forever for a rank that stopped or was lost; the watchdog's
/// thread ends this process with `exitCode` (and the launcher, mpirun or srun, then the others)
/// when a collective has waited `timeout` seconds, or sooner, `silence` seconds, when a rank it
/// waits for has sent no heartbeat for that long (see `LivenessMonitor`). The message says what
/// was waiting (the call, the epoch and step), which ranks fell silent and on which hosts, and
/// the job's hosts.
public final class CollectiveWatchdog: Sendable {
    /// The exit code of a job ended by the watchdog (documented in the README).
    public static let exitCode: Int32 = 3

    public let timeout: Double
    public let silence: Double
    /// The call in progress (an index into `calls`, -1: none), since when (monotonic ns), and
    /// where the training was (set by the trainer each step, without allocating).
    private let call = Atomic<Int>(-1)
    private let since = Atomic<Int>(0)
    private let epoch = Atomic<Int>(-1)
    private let step = Atomic<Int>(-1)
    private let rank: Int
    private let liveness: LivenessMonitor?
    private let who: Mutex<Who>
    static let calls = ["allreduce", "broadcast", "allgather", "barrier", "split"]

    struct Who: Sendable {
        var me: String
        var hosts: [String] = []
        var job = ""
    }

    /// `timeout` and `silence` in seconds (0: no bound); `liveness`: the heartbeats, if any.
    public init(timeout: Double, silence: Double, rank: Int, size: Int, liveness: LivenessMonitor?) {
        self.timeout = timeout
        self.silence = liveness == nil ? 0 : silence
        self.rank = rank
        self.liveness = liveness
        who = Mutex(Who(me: "rank \(rank) of \(size)"))
        guard timeout > 0 || self.silence > 0 else { return }
        let thread = Thread { [self] in self.watch() }
        thread.name = "collective watchdog"
        thread.start()
    }

    /// The host of every rank (indexed by rank), once they are known.
    public func describe(size: Int, hosts: [String]) {
        var ranksOf: [String: [Int]] = [:]
        for (r, h) in hosts.enumerated() { ranksOf[h, default: []].append(r) }
        let job = ranksOf.keys.sorted().map { "\($0) (ranks \(ranksOf[$0, default: []].map(String.init).joined(separator: ",")))" }
            .joined(separator: ", ")
        let me = "rank \(rank) of \(size)" + (rank < hosts.count ? " on \(hosts[rank])" : "")
        who.withLock { $0 = Who(me: me, hosts: hosts, job: job) }
    }

    /// The hosts and their ranks, e.g. "2 hosts: node1 (ranks 0,1), node2 (ranks 2,3)".
    public var placement: String {
        who.withLock { w in w.hosts.isEmpty ? "" : "\(Set(w.hosts).count) host(s): \(w.job)" }
    }

    /// A rank other than 0 gives rank 0, which hears from every rank, time to speak first.
    private var grace: Double { rank == 0 ? 0 : 2 }

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
            let silent = silence > 0 && waited > silence + grace ? liveness?.silentRanks(longerThan: silence) ?? [] : []
            let timedOut = timeout > 0 && waited > timeout + grace
            guard (timedOut || !silent.isEmpty), call.load(ordering: .acquiring) == k else { continue }
            end(call: k, waited: waited, silent: timedOut ? liveness?.silentRanks(longerThan: Self.namedSilence) ?? [] : silent)
        }
    }

    /// Heartbeats come every half second: a rank silent for this long (four missed) is named.
    static let namedSilence = 2.0

    private func end(call k: Int, waited: Double, silent: [(rank: Int, seconds: Double)]) -> Never {
        let w = who.withLock { $0 }
        let e = epoch.load(ordering: .relaxed), s = step.load(ordering: .relaxed)
        let place = s >= 0 ? "in epoch \(e + 1), step \(s)" : "at start-up"
        let what: String
        if silent.isEmpty {
            what = "the \(Self.calls[k]) \(place) has not completed after \(Int(waited)) s"
                + (liveness == nil ? ": another rank of the job stopped, hangs or was lost"
                    : (rank == 0 ? ": every rank still sends heartbeats, so one hangs or is slower than training.collective_timeout"
                        : ": rank 0 still sends heartbeats; another rank stopped, hangs or was lost"))
        } else {
            let names = silent.map { r in "rank \(r.rank)" + (r.rank < w.hosts.count ? " on \(w.hosts[r.rank])" : "") + " (silent for \(Int(r.seconds)) s)" }
            what = "\(names.joined(separator: ", ")) sent no heartbeat while this rank waited \(Int(waited)) s in the \(Self.calls[k]) \(place): "
                + (silent.count == 1 ? "it stopped, or it or its host was lost" : "they stopped, or they or their hosts were lost")
        }
        let hosts = w.job.isEmpty ? "" : "; the job's hosts: \(w.job)"
        let text = "error: \(w.me): \(what)\(hosts)\n"
            + "HINT: the newest checkpoint is intact: continue with --resume on the hosts left (launch/run-resilient does it); if a step can take longer, raise training.collective_timeout (training.heartbeat_timeout for silence)\n"
        FileHandle.standardError.write(Data(text.utf8))
        _exit(Self.exitCode)
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
    public func allgather(_ buffer: UnsafeMutableBufferPointer<Float>, counts: [Int]) throws { try watched(2) { try inner.allgather(buffer, counts: counts) } }
    public func barrier() throws { try watched(3) { try inner.barrier() } }
    public func split(color: Int, key: Int) throws -> Communicator {
        WatchedCommunicator(try watched(4) { try inner.split(color: color, key: key) }, watchdog: watchdog)
    }
    public func abort(code: Int32) -> Never { inner.abort(code: code) }
    public func note(epoch: Int, step: Int) { watchdog.note(epoch: epoch, step: step) }
    public func finalize() { (inner as? FinalizableCommunicator)?.finalize() }
}
