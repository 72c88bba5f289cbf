#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// A request to stop at the next step boundary: SIGTERM and SIGUSR1, which batch systems send
/// before a time limit (Slurm's `--signal`, its SIGTERM at the limit; mpirun forwards SIGUSR1
/// to every rank). The trainer checks it after every step, all ranks agreeing (one rank's
/// signal stops them all at the same step), writes a checkpoint of the epoch in progress and
/// the command exits with `TrainingRun.resumeExitCode`.
public enum StopRequest {
    static let flag = Atomic<Int>(0)
    /// Set once the handlers are installed (by `train`): only then does the trainer take the
    /// ranks' vote each step; commands without the handlers (compare, advise) skip it.
    static let armed = Atomic<Int>(0)

    /// Whether a stop can be requested in this process.
    public static var isArmed: Bool { armed.load(ordering: .relaxed) != 0 }

    /// Whether a signal asked to stop.
    public static var isSet: Bool { flag.load(ordering: .relaxed) != 0 }

    /// Asks to stop (the signal handlers, and tests).
    public static func set() { flag.store(1, ordering: .relaxed) }
    public static func clear() { flag.store(0, ordering: .relaxed) }

    /// Installs the handlers (an atomic store is all they do, which is safe in a handler).
    public static func installSignalHandlers() {
        clear()
        armed.store(1, ordering: .relaxed)
        for s in [SIGTERM, SIGUSR1] { signal(s) { _ in StopRequest.flag.store(1, ordering: .relaxed) } }
    }
}
