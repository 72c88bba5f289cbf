import CMPI
import MTLDistributed

/// An MPI call that returned an error code, with MPI's own message.
public struct MPIError: Error, CustomStringConvertible {
    public let call: String
    public let code: Int32
    public let message: String
    public var description: String { "\(call) failed (MPI error \(code)): \(message)" }
}

/// The job's MPI communicator: a private duplicate of MPI_COMM_WORLD with errors set to return,
/// so that every failure becomes a thrown `MPIError` naming the call.
public final class MPICommunicator: Communicator, FinalizableCommunicator {
    private var comm: MPI_Comm?
    /// Heartbeats between the ranks (the world communicator, with MPI_THREAD_MULTIPLE only).
    private var heartbeat: MPIHeartbeat?
    /// Which ranks are alive, for the watchdog; nil without heartbeats.
    public var liveness: LivenessMonitor? { heartbeat }
    public let rank: Int
    public let size: Int
    nonisolated(unsafe) private static var initializedHere = false

    /// Initialises MPI (once per process) and duplicates the world communicator; with
    /// `heartbeats`, asks for MPI_THREAD_MULTIPLE and starts them (see `MPIHeartbeat`).
    public init(heartbeats: Bool = false) throws {
        var flag: Int32 = 0
        try Self.check(MPI_Initialized(&flag), "MPI_Initialized")
        var provided: Int32 = 0
        if flag == 0 {
            try Self.check(MPI_Init_thread(nil, nil, heartbeats ? mtl_mpi_thread_multiple() : 0, &provided), "MPI_Init_thread")
            Self.initializedHere = true
        } else {
            try Self.check(MPI_Query_thread(&provided), "MPI_Query_thread")
        }
        try Self.check(MPI_Comm_set_errhandler(mtl_mpi_comm_world(), mtl_mpi_errors_return()),
                       "MPI_Comm_set_errhandler")
        var dup: MPI_Comm? = mtl_mpi_comm_null()
        try Self.check(MPI_Comm_dup(mtl_mpi_comm_world(), &dup), "MPI_Comm_dup")
        (comm, rank, size) = try Self.adopt(dup)
        if heartbeats && size > 1 && provided >= mtl_mpi_thread_multiple() {
            heartbeat = try MPIHeartbeat(duplicating: comm, rank: rank, size: size)
        }
    }

    private init(splitting parent: MPI_Comm?, color: Int, key: Int) throws {
        var out: MPI_Comm? = mtl_mpi_comm_null()
        try Self.check(MPI_Comm_split(parent, Int32(color), Int32(key), &out), "MPI_Comm_split")
        (comm, rank, size) = try Self.adopt(out)
        isSubgroup = true
    }

    /// Sets errors to return on a new communicator and reads this process's rank and the size.
    private static func adopt(_ c: MPI_Comm?) throws -> (MPI_Comm?, Int, Int) {
        try check(MPI_Comm_set_errhandler(c, mtl_mpi_errors_return()), "MPI_Comm_set_errhandler")
        var r: Int32 = 0, s: Int32 = 0
        try check(MPI_Comm_rank(c, &r), "MPI_Comm_rank")
        try check(MPI_Comm_size(c, &s), "MPI_Comm_size")
        return (c, Int(r), Int(s))
    }

    /// Set on communicators made by `split`: `finalize` frees them without finalising MPI.
    private var isSubgroup = false

    public func split(color: Int, key: Int) throws -> Communicator {
        try MPICommunicator(splitting: comm, color: color, key: key)
    }

    /// Frees the communicator and finalises MPI if this process initialised it.
    public func finalize() {
        heartbeat?.stop()
        heartbeat = nil
        if comm != mtl_mpi_comm_null() { _ = MPI_Comm_free(&comm); comm = mtl_mpi_comm_null() }
        if isSubgroup { return }
        var finalized: Int32 = 0
        _ = MPI_Finalized(&finalized)
        if Self.initializedHere && finalized == 0 { _ = MPI_Finalize() }
    }

    static func check(_ code: Int32, _ call: String) throws {
        guard code != mtl_mpi_success() else { return }
        var buf = [CChar](repeating: 0, count: Int(mtl_mpi_max_error_string()) + 1)
        var len: Int32 = 0
        _ = MPI_Error_string(code, &buf, &len)
        let message = String(decoding: buf.prefix(Int(len)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        throw MPIError(call: call, code: code, message: message)
    }

    // MPI counts are Int32: long buffers go in chunks.
    private static let chunk = 1 << 28

    /// One path for every element type: the buffer in chunks of at most `chunk` elements.
    private func chunked<T: MPIDatatype>(_ buffer: UnsafeMutableBufferPointer<T>,
                                         _ call: (UnsafeMutablePointer<T>, Int32) -> Int32, _ name: String) throws {
        guard size > 1, let base = buffer.baseAddress else { return }
        var start = 0
        while start < buffer.count {
            let n = min(Self.chunk, buffer.count - start)
            try Self.check(call(base + start, Int32(n)), name)
            start += n
        }
    }

    /// Element-wise sum over all ranks, in place, for any MPI element type.
    public func allreduceSum<T: MPIDatatype>(of buffer: UnsafeMutableBufferPointer<T>) throws {
        try chunked(buffer, { MPI_Allreduce(mtl_mpi_in_place(), $0, $1, T.mpiDatatype, mtl_mpi_sum(), comm) },
                    "MPI_Allreduce(\(T.self), sum)")
    }

    public func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws { try allreduceSum(of: buffer) }
    public func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) throws { try allreduceSum(of: buffer) }

    public func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int) throws {
        guard let base = buffer.baseAddress else { return }
        let bytes = UnsafeMutableBufferPointer(start: base.assumingMemoryBound(to: UInt8.self), count: buffer.count)
        try chunked(bytes, { MPI_Bcast($0, $1, UInt8.mpiDatatype, Int32(root), comm) }, "MPI_Bcast")
    }

    public func allgather(_ value: UInt64) throws -> [UInt64] {
        var mine = value
        var all = [UInt64](repeating: 0, count: size)
        try all.withUnsafeMutableBufferPointer { out in
            try Self.check(MPI_Allgather(&mine, 1, UInt64.mpiDatatype, out.baseAddress, 1, UInt64.mpiDatatype, comm),
                           "MPI_Allgather")
        }
        return all
    }

    public func allgather(_ buffer: UnsafeMutableBufferPointer<Float>, counts: [Int]) throws {
        guard size > 1, let base = buffer.baseAddress else { return }
        precondition(counts.count == size && counts.reduce(0, +) <= buffer.count, "allgather: \(counts.count) counts for \(size) ranks")
        let limit = Int(Int32.max)
        if counts.reduce(0, +) <= limit {
            var c32 = counts.map { Int32($0) }, d32 = [Int32](repeating: 0, count: size)
            for r in 1..<size { d32[r] = d32[r - 1] + c32[r - 1] }
            try Self.check(MPI_Allgatherv(mtl_mpi_in_place(), 0, Float.mpiDatatype, base, &c32, &d32, Float.mpiDatatype, comm),
                           "MPI_Allgatherv")
        } else {
            // Beyond MPI's Int32 counts: each rank's part as a (chunked) broadcast from it.
            var start = 0
            for r in 0..<size {
                try broadcast(UnsafeMutableRawBufferPointer(start: base + start, count: counts[r] * MemoryLayout<Float>.stride), root: r)
                start += counts[r]
            }
        }
    }

    public func barrier() throws {
        try Self.check(MPI_Barrier(comm), "MPI_Barrier")
    }

    public func abort(code: Int32) -> Never {
        _ = MPI_Abort(mtl_mpi_comm_world(), code)
        exit(code)
    }
}

/// Whether this process was started by an MPI launcher (mpirun/mpiexec, srun with PMI/PMIx).
/// Without one the program runs as a single process and never initialises MPI.
public func launchedByMPI(environment: [String: String]) -> Bool {
    let markers = ["OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE", "MPI_LOCALNRANKS"]
    return markers.contains { environment[$0] != nil }
}

#if canImport(Glibc)
import Glibc
#endif
