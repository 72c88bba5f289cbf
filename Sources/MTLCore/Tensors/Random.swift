/// SplitMix64 (Steele, Lea and Flood, OOPSLA 2014): a small, fast generator whose whole state is
/// one UInt64, so it is saved in checkpoints and reproduced exactly on every rank.
public struct SplitMix64: RandomNumberGenerator {
    public var state: UInt64
    public init(seed: UInt64) { state = seed }

    @inline(__always)
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return SplitMix64.mix(state)
    }

    /// The SplitMix64 finaliser: a bijective mix of 64 bits.
    @inline(__always)
    public static func mix(_ x: UInt64) -> UInt64 {
        var z = x
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A uniform Float in [0, 1) from 24 random bits.
    @inline(__always)
    public mutating func nextUniform() -> Float { Float(next() >> 40) * (1.0 / 16_777_216.0) }

    /// A standard normal value (Box-Muller).
    public mutating func nextNormal() -> Float {
        let u1 = max(Double(next() >> 11) * 0x1p-53, 1e-300)
        let u2 = Double(next() >> 11) * 0x1p-53
        return Float((-2 * _log(u1)).squareRoot() * _cos(2 * Double.pi * u2))
    }

    /// A uniform integer in 0 ..< n.
    public mutating func nextInt(below n: Int) -> Int { Int(next() % UInt64(n)) }
}

/// Counter-based random values: the value depends only on its coordinates, never on call order,
/// so that dropout masks drawn per global sample are identical at any number of ranks.
public enum CounterRandom {
    @inline(__always)
    public static func uniform(_ a: UInt64, _ b: UInt64, _ c: UInt64) -> Float {
        let h = SplitMix64.mix(SplitMix64.mix(SplitMix64.mix(a) ^ b) ^ c)
        return Float(h >> 40) * (1.0 / 16_777_216.0)
    }
}

/// A stable 64-bit FNV-1a hash of bytes (Swift's own Hasher is seeded per process).
public func stableHash<S: Sequence>(_ bytes: S, seed: UInt64 = 0xCBF2_9CE4_8422_2325) -> UInt64 where S.Element == UInt8 {
    var h = seed
    for b in bytes { h = (h ^ UInt64(b)) &* 0x100_0000_01B3 }
    return h
}

public func stableHash(_ string: String) -> UInt64 { stableHash(string.utf8) }

/// The in-place Fisher-Yates shuffle of 0 ..< n with a given generator.
public func seededPermutation(_ n: Int, seed: UInt64) -> [Int] {
    var rng = SplitMix64(seed: seed)
    var p = Array(0..<n)
    if n > 1 {
        for i in stride(from: n - 1, to: 0, by: -1) {
            let j = rng.nextInt(below: i + 1)
            p.swapAt(i, j)
        }
    }
    return p
}

#if canImport(Glibc)
import Glibc
@inline(__always) func _log(_ x: Double) -> Double { Glibc.log(x) }
@inline(__always) func _cos(_ x: Double) -> Double { Glibc.cos(x) }
#elseif canImport(Darwin)
import Darwin
@inline(__always) func _log(_ x: Double) -> Double { Darwin.log(x) }
@inline(__always) func _cos(_ x: Double) -> Double { Darwin.cos(x) }
#endif
