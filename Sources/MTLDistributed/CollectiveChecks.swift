import MTLCore

/// Self-checks of a communicator and of the gradient synchronizer over it, written for any world size: the same checks run in-process on
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
        try synchronizer(on: comm)
        try comm.barrier()
    }

    /// The synchronizer's paths at this world size: rank r's gradients are (r + 1) times a
    /// pattern, so every sum is S = size (size + 1) / 2 times it. Untouched table rows hold a
    /// sentinel that must come back unchanged (they are not sent).
    static func synchronizer(on comm: Communicator) throws {
        let store = ParameterStore()
        let dense = store.register("dense.weight", shape: [3], initializer: .zeros)
        let table = store.register("sparse.weight", shape: [4, 2], initializer: .zeros)
        store.materialize(seed: 0)
        let sync = GradientSynchronizer(comm: comm, store: store, sparseTables: [table])
        let r = Float(comm.rank + 1), s = Float(comm.size * (comm.size + 1) / 2)
        let g = store.gradients.pointer
        func fill() {
            for i in 0..<3 { g[dense.offset + i] = r * Float(i + 1) }
            for row in 0..<4 { for c in 0..<2 { g[table.offset + row * 2 + c] = row % 2 == 1 ? r * Float(c + 1) : 1000 } }
        }
        fill()
        try sync.allreduce(touchedRows: [1, 3])
        for i in 0..<3 where g[dense.offset + i] != s * Float(i + 1) {
            throw Failure(description: "GradientSynchronizer.allreduce(touchedRows:): dense[\(i)] = \(g[dense.offset + i]), expected \(s * Float(i + 1))")
        }
        for row in 0..<4 {
            for c in 0..<2 {
                let want: Float = row % 2 == 1 ? s * Float(c + 1) : 1000
                guard g[table.offset + row * 2 + c] == want else {
                    throw Failure(description: "GradientSynchronizer.allreduce(touchedRows:): table row \(row) column \(c) = \(g[table.offset + row * 2 + c]), expected \(want)")
                }
            }
        }
        // The task matrix: task t's gradient on the shared tensor is (t + 1) (r + 1) (i + 1); the
        // combination c = (1, 0.5) gives S (i + 1) (1 + 0.5 * 2) = 2 S (i + 1).
        sync.prepareTaskGradients(shared: [dense], tasks: 2)
        for t in 0..<2 {
            fill()
            for i in 0..<3 { g[dense.offset + i] *= Float(t + 1) }
            sync.captureTaskGradient(t)
            guard (0..<3).allSatisfy({ g[dense.offset + $0] == 0 }) else { throw Failure(description: "captureTaskGradient left the shared gradient nonzero") }
        }
        for row in 0..<4 { for c in 0..<2 { g[table.offset + row * 2 + c] = r } }
        let m = try sync.allreduceTaskGradients()
        for t in 0..<2 {
            for i in 0..<3 where m[t * 3 + i] != Float(t + 1) * s * Float(i + 1) {
                throw Failure(description: "allreduceTaskGradients: row \(t)[\(i)] = \(m[t * 3 + i]), expected \(Float(t + 1) * s * Float(i + 1))")
            }
        }
        for k in 0..<8 where g[table.offset + k] != s {
            throw Failure(description: "allreduceTaskGradients: the other tensors' gradient \(g[table.offset + k]), expected \(s)")
        }
        sync.applyCombination([1, 0.5])
        for i in 0..<3 where g[dense.offset + i] != 2 * s * Float(i + 1) {
            throw Failure(description: "applyCombination: shared[\(i)] = \(g[dense.offset + i]), expected \(2 * s * Float(i + 1))")
        }
    }
}
