import MTLCore

/// Every way gradients cross ranks, over one parameter store. Each call is a collective: every
/// rank calls the same methods in the same order with the same arguments (the touched rows, the
/// task count), as `Communicator` requires.
///
/// - The flat gradient buffer: one all-reduce of `store.gradients` (the sum of the ranks'
///   gradients is the global batch's gradient, since losses are normalised by the global batch).
/// - Touched sparse rows: a sparse projection table's gradient is zero in the rows no sample of
///   the global batch touches; every rank holds the whole batch and lists the same touched rows,
///   so the all-reduce packs only those rows (plus every other tensor): the same sum, a fraction
///   of the bytes.
/// - The task-by-shared-parameter matrix of gradient methods: one backward pass per task
///   captures the task's gradient on the shared tensors as one row of a T x S matrix; one
///   all-reduce sums [matrix | the other tensors' gradients], so every rank holds the global
///   batch's task gradients and writes the same combination back.
/// - Small dense sums (the Gram matrix of task gradients at the shared representation, the
///   relationship probe's task gradients).
public final class GradientSynchronizer {
    public let comm: Communicator
    public let store: ParameterStore
    /// Tensors whose rows travel apart when only some are touched (rows of `shape[1]` floats).
    public let sparseTables: [ParameterEntry]
    /// Every other tensor, in store order.
    public let denseEntries: [ParameterEntry]
    private var packed = FloatBuffer(count: 0)

    /// The shared tensors of gradient methods, the other tensors, and the buffer
    /// [T x S task-gradient matrix | other gradients] (set by `prepareTaskGradients`).
    public private(set) var sharedEntries: [ParameterEntry] = []
    public private(set) var otherEntries: [ParameterEntry] = []
    public private(set) var sharedCount = 0
    public private(set) var tasks = 0
    private var exchange = FloatBuffer(count: 0)

    public init(comm: Communicator, store: ParameterStore, sparseTables: [ParameterEntry]) {
        self.comm = comm
        self.store = store
        self.sparseTables = sparseTables
        let tables = Set(sparseTables.map(\.name))
        denseEntries = store.entries.filter { !tables.contains($0.name) }
    }

    // MARK: the flat buffer and touched rows

    /// Sums every gradient over the ranks.
    public func allreduceAll() throws {
        try comm.allreduceSum(store.gradients.buffer)
    }

    /// Sums the gradients over the ranks when the sparse tables' gradients are nonzero only in
    /// `touchedRows` (the same list on every rank): the other rows are not sent.
    public func allreduce(touchedRows: [Int32]) throws {
        guard let first = sparseTables.first else { try allreduceAll(); return }
        let grads = store.gradients.pointer
        let width = first.shape[1]
        let other = denseEntries.reduce(0) { $0 + $1.count }
        let needed = other + sparseTables.count * touchedRows.count * width
        if packed.count < needed { packed = FloatBuffer(count: needed + needed / 2) }
        let x = packed.pointer
        var o = 0
        for e in denseEntries { (x + o).update(from: grads + e.offset, count: e.count); o += e.count }
        for e in sparseTables {
            let p = e.shape[1]
            for j in touchedRows { (x + o).update(from: grads + e.offset + Int(j) * p, count: p); o += p }
        }
        try comm.allreduceSum(UnsafeMutableBufferPointer(start: x, count: o))
        o = 0
        for e in denseEntries { (grads + e.offset).update(from: x + o, count: e.count); o += e.count }
        for e in sparseTables {
            let p = e.shape[1]
            for j in touchedRows { (grads + e.offset + Int(j) * p).update(from: x + o, count: p); o += p }
        }
    }

    // MARK: the task-by-shared-parameter matrix

    /// Sets the shared tensors (those more than one task's loss depends on) and allocates the
    /// exchange buffer for `tasks` rows.
    public func prepareTaskGradients(shared: [ParameterEntry], tasks: Int) {
        let names = Set(shared.map(\.name))
        sharedEntries = shared
        otherEntries = store.entries.filter { !names.contains($0.name) }
        sharedCount = shared.reduce(0) { $0 + $1.count }
        self.tasks = tasks
        exchange = FloatBuffer(count: tasks * sharedCount + store.count - sharedCount)
    }

    /// After task `task`'s backward pass: moves its gradient on the shared tensors into row
    /// `task` of the matrix and zeroes them, so the next task's pass starts from zero there.
    public func captureTaskGradient(_ task: Int) {
        let grads = store.gradients.pointer, x = exchange.pointer
        var o = task * sharedCount
        for e in sharedEntries {
            (x + o).update(from: grads + e.offset, count: e.count)
            (grads + e.offset).update(repeating: 0, count: e.count)
            o += e.count
        }
    }

    /// A rank with no rows in the global batch contributes zero task gradients.
    public func clearTaskGradients() {
        exchange.pointer.update(repeating: 0, count: tasks * sharedCount)
    }

    /// Sums [matrix | other gradients] over the ranks in one all-reduce and puts the other
    /// tensors' sums back; returns the summed T x S matrix (row-major, valid until the next step).
    public func allreduceTaskGradients() throws -> UnsafePointer<Float> {
        let grads = store.gradients.pointer, x = exchange.pointer
        var o = tasks * sharedCount
        for e in otherEntries { (x + o).update(from: grads + e.offset, count: e.count); o += e.count }
        try comm.allreduceSum(exchange.buffer)
        o = tasks * sharedCount
        for e in otherEntries { (grads + e.offset).update(from: x + o, count: e.count); o += e.count }
        return UnsafePointer(x)
    }

    /// Writes sum_t c_t g_t of the summed matrix into the shared tensors' gradients.
    public func applyCombination(_ c: [Double]) {
        let grads = store.gradients.pointer, x = exchange.pointer, s = sharedCount
        var o = 0
        for e in sharedEntries {
            let dst = grads + e.offset
            dst.update(repeating: 0, count: e.count)
            for task in 0..<tasks { BLAS.axpy(e.count, alpha: Float(c[task]), x: x + task * s + o, y: dst) }
            o += e.count
        }
    }

    // MARK: small dense sums

    /// Sums a small matrix over the ranks (the Gram matrix of task gradients at the shared
    /// representation: rows of different ranks are different coordinates, so its sum is the
    /// global batch's Gram matrix).
    public func allreduce(_ values: inout [Double]) throws { try comm.allreduceSum(&values) }

    /// Sums task gradients gathered by the caller (the relationship probe's T x S matrix).
    public func allreduce(_ values: inout [Float]) throws { try comm.allreduceSum(&values) }

    /// The extra floats per step that the task-gradient matrix sends in place of the summed
    /// shared gradient.
    public var taskGradientExtraFloats: Int { max(tasks - 1, 0) * sharedCount }
}
