#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A communicator of one process: collectives are identities.
public final class SingleProcessCommunicator: Communicator {
    public init() {}
    public var rank: Int { 0 }
    public var size: Int { 1 }
    public func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws {}
    public func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) throws {}
    public func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int) throws {
        precondition(root == 0, "broadcast root \(root) out of range for a single process")
    }
    public func allgather(_ value: UInt64) throws -> [UInt64] { [value] }
    public func allgather(_ buffer: UnsafeMutableBufferPointer<Float>, counts: [Int]) throws {}
    public func barrier() throws {}
    public func split(color: Int, key: Int) throws -> Communicator { SingleProcessCommunicator() }
    public func abort(code: Int32) -> Never { exit(code) }
}
