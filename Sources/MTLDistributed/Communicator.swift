/// The collective operations the trainer needs, independent of how processes talk.
///
/// Invariants shared with every implementation (as in PyTorch DDP and Horovod): every rank calls
/// the same collectives in the same order with buffers of the same length. Each call is a
/// synchronisation point. A size-1 communicator returns at once.
public protocol Communicator: AnyObject {
    /// This process's rank, 0 ..< size.
    var rank: Int { get }
    /// The number of processes.
    var size: Int { get }
    /// Element-wise sum over all ranks, in place.
    func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws
    /// Element-wise sum over all ranks, in place.
    func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) throws
    /// Copies `root`'s bytes into every rank's buffer.
    func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int) throws
    /// Every rank's value, indexed by rank.
    func allgather(_ value: UInt64) throws -> [UInt64]
    /// Every rank's part of `buffer` to every rank, in place: rank r's part is `counts[r]`
    /// elements starting after the parts of the ranks before it, and each rank's own part is in
    /// place before the call (`counts` the same on every rank).
    func allgather(_ buffer: UnsafeMutableBufferPointer<Float>, counts: [Int]) throws
    /// Waits until every rank has arrived.
    func barrier() throws
    /// Splits the ranks into groups (MPI_Comm_split): ranks passing the same `color` form one
    /// new communicator, ordered by `key` (then by rank). Every rank must call it.
    func split(color: Int, key: Int) throws -> Communicator
    /// Ends every process of the job; used when one rank fails so that no other rank waits forever.
    func abort(code: Int32) -> Never
    /// Where the training is (for the message of a collective that does not complete).
    func note(epoch: Int, step: Int)
}

extension Communicator {
    public func note(epoch: Int, step: Int) {}

    /// True on the rank that evaluates, logs and writes files.
    public var isRoot: Bool { rank == 0 }

    /// Sums an array of doubles over all ranks.
    public func allreduceSum(_ values: inout [Double]) throws {
        try values.withUnsafeMutableBufferPointer { try allreduceSum($0) }
    }

    /// Sums an array of floats over all ranks.
    public func allreduceSum(_ values: inout [Float]) throws {
        try values.withUnsafeMutableBufferPointer { try allreduceSum($0) }
    }

    /// Every rank's byte array (of any length), indexed by rank: one broadcast from each rank.
    public func allgather(bytes: [UInt8]) throws -> [[UInt8]] {
        try (0..<size).map { try broadcast(bytes: $0 == rank ? bytes : [], root: $0) }
    }

    /// Broadcasts a byte array of any length from `root` (the length travels first).
    public func broadcast(bytes: [UInt8], root: Int) throws -> [UInt8] {
        var count = UInt64(bytes.count)
        try withUnsafeMutableBytes(of: &count) { try broadcast($0, root: root) }
        var out = rank == root ? bytes : [UInt8](repeating: 0, count: Int(count))
        if !out.isEmpty { try out.withUnsafeMutableBytes { try broadcast($0, root: root) } }
        return out
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A communicator holding resources to release when done (an MPI communicator made by `split`).
public protocol FinalizableCommunicator: AnyObject {
    func finalize()
}
