/// Which ranks are alive, from heartbeats that a thread of every rank sends whatever the rank is
/// doing (computing, evaluating, waiting in a collective). A rank that stopped (SIGSTOP, a frozen
/// machine) or whose host was lost falls silent; a rank that is merely slow keeps beating. So the
/// watchdog can end a job soon after a rank falls silent, yet wait long for a slow one.
public protocol LivenessMonitor: AnyObject, Sendable {
    /// The ranks this one hears from (rank 0: every other rank; the others: rank 0), each with
    /// the seconds since its last heartbeat, that have been silent for longer than `seconds`.
    func silentRanks(longerThan seconds: Double) -> [(rank: Int, seconds: Double)]
}
