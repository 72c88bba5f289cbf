/// Self-checks of a communicator, written for any world size: the same checks run in-process on
/// a single-process communicator and under `mpirun -n 2..N` (`mtl-worker selftest`).
public enum CollectiveChecks {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// Runs every check; throws the first mismatch.
    public static func run(on comm: Communicator) throws {
        let size = comm.size, rank = comm.rank
        // Float sum: every rank contributes x (1.5 * (i + 1)); the sum is x * size exactly
        // (small integers and halves are exact in Float).
        for length in [1, 7, 1000, 1 << 17] {
            var buf = (0..<length).map { Float($0 % 97 + 1) * 1.5 }
            try comm.allreduceSum(&buf)
            for i in 0..<length where buf[i] != Float(i % 97 + 1) * 1.5 * Float(size) {
                throw Failure(description: "allreduceSum(Float) length \(length) index \(i): \(buf[i]) != x * \(size)")
            }
        }
        // Rank-dependent contributions: sum of ranks.
        var ranks: [Double] = [Double(rank), 1]
        try comm.allreduceSum(&ranks)
        let expected = Double(size * (size - 1) / 2)
        guard ranks[0] == expected, ranks[1] == Double(size) else {
            throw Failure(description: "allreduceSum(Double) gave \(ranks), expected [\(expected), \(size)]")
        }
        // Broadcast from every root.
        for root in 0..<size {
            let payload: [UInt8] = rank == root ? Array("from \(root)".utf8) : []
            let got = try comm.broadcast(bytes: payload, root: root)
            guard got == Array("from \(root)".utf8) else {
                throw Failure(description: "broadcast from \(root) gave \(got)")
            }
        }
        let gathered = try comm.allgather(UInt64(rank * 10 + 3))
        guard gathered == (0..<size).map({ UInt64($0 * 10 + 3) }) else {
            throw Failure(description: "allgather gave \(gathered)")
        }
        // Split into groups of even and odd ranks, ordered by descending rank: each group sums
        // only its own members' ranks, and ranks within a group follow the key.
        let group = try comm.split(color: rank % 2, key: size - rank)
        let members = (0..<size).filter { $0 % 2 == rank % 2 }
        var mine: [Double] = [Double(rank)]
        try group.allreduceSum(&mine)
        guard group.size == members.count, mine[0] == Double(members.reduce(0, +)),
              group.rank == members.filter({ $0 > rank }).count else {
            throw Failure(description: "split(color: rank % 2): group size \(group.size), rank \(group.rank), sum \(mine[0]); expected \(members.count), \(members.filter { $0 > rank }.count), \(members.reduce(0, +))")
        }
        (group as? FinalizableCommunicator)?.finalize()
        try comm.barrier()
    }
}
