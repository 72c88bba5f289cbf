/// One named parameter tensor: a slice of the store's flat buffers.
public struct ParameterEntry: Sendable, Equatable {
    public let name: String
    public let shape: [Int]
    public let offset: Int
    public var count: Int { shape.reduce(1, *) }
}

/// How a parameter is initialised.
public enum Initializer: Sendable {
    case zeros
    case ones
    /// U(-bound, bound).
    case uniform(Float)
    case normal(std: Float)
    /// A square matrix with `diagonal` on the diagonal and `offDiagonal` elsewhere.
    case stitch(diagonal: Float, offDiagonal: Float)
}

/// All parameters and all gradients of a model, each in one flat buffer in a fixed, named order
/// (the order of registration). The gradient all-reduce is one call over `gradients`; a
/// checkpoint is one write of `values`.
public final class ParameterStore {
    public private(set) var entries: [ParameterEntry] = []
    private var initializers: [Initializer] = []
    public private(set) var count = 0
    public private(set) var values: FloatBuffer = FloatBuffer(count: 0)
    public private(set) var gradients: FloatBuffer = FloatBuffer(count: 0)
    public private(set) var isMaterialized = false

    public init() {}

    /// Reserves a tensor; its memory exists after `materialize`.
    public func register(_ name: String, shape: [Int], initializer: Initializer) -> ParameterEntry {
        precondition(!isMaterialized, "register(\(name)) after materialize")
        precondition(!entries.contains { $0.name == name }, "duplicate parameter name \(name)")
        let e = ParameterEntry(name: name, shape: shape, offset: count)
        entries.append(e)
        initializers.append(initializer)
        count += e.count
        return e
    }

    /// Allocates the flat buffers and initialises each tensor from its own stream
    /// (seeded by `seed` and the tensor's name, so one tensor's values do not depend on the others).
    public func materialize(seed: UInt64) {
        precondition(!isMaterialized)
        values = FloatBuffer(count: count)
        gradients = FloatBuffer(count: count)
        for (e, initializer) in zip(entries, initializers) {
            var rng = SplitMix64(seed: seed ^ stableHash(e.name))
            let p = values.pointer + e.offset
            switch initializer {
            case .zeros: p.update(repeating: 0, count: e.count)
            case .ones: p.update(repeating: 1, count: e.count)
            case .uniform(let bound):
                for i in 0..<e.count { p[i] = (rng.nextUniform() * 2 - 1) * bound }
            case .normal(let std):
                for i in 0..<e.count { p[i] = rng.nextNormal() * std }
            case .stitch(let diagonal, let offDiagonal):
                let n = e.shape[0]
                for i in 0..<n { for j in 0..<n { p[i * n + j] = i == j ? diagonal : offDiagonal } }
            }
        }
        isMaterialized = true
    }

    @inline(__always) public func value(_ e: ParameterEntry) -> UnsafeMutablePointer<Float> { values.pointer + e.offset }
    @inline(__always) public func gradient(_ e: ParameterEntry) -> UnsafeMutablePointer<Float> { gradients.pointer + e.offset }

    public func zeroGradients() { gradients.zero() }

    /// A description of the layout (names, shapes, order), hashed to check that ranks agree.
    public var layoutDescription: String {
        entries.map { "\($0.name):\($0.shape.map(String.init).joined(separator: "x"))" }.joined(separator: ";")
    }
}
