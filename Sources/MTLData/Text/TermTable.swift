import Foundation
import MTLCore

/// Terms (byte strings) to dense ids 0, 1, 2, ... in first-seen order: open addressing with linear
/// probing over FNV-1a hashes, the terms' bytes kept back to back in one array.
/// Hand-written: Swift's Dictionary needs a String per lookup, and building one for each of the
/// millions of n-grams a corpus yields cost more than the counting itself (70 % of featurizing
/// time went to String hashing, comparison and allocation).
struct TermTable {
    /// Every term's bytes, back to back: term i is `bytes[starts[i]..<starts[i + 1]]`.
    private(set) var bytes: [UInt8] = []
    private(set) var starts: [Int] = [0]
    private var hashes: [UInt64] = []
    /// id + 1 per slot; 0 is empty.
    private var slots: [Int32]
    private var shift: UInt64

    var count: Int { hashes.count }

    init(capacity: Int = 1024) {
        var bits = 4
        while (1 << bits) < 2 * max(capacity, 8) && bits < 40 { bits += 1 }
        slots = [Int32](repeating: 0, count: 1 << bits)
        shift = UInt64(64 - bits)
    }

    /// The table of `terms`, term i with id i.
    init(_ terms: [String]) {
        self.init(capacity: terms.count)
        for t in terms {
            var t = t
            t.withUTF8 { b in _ = insert(b, hash: TermTable.hash(b)) }
        }
    }

    /// FNV-1a over the bytes: the program's `stableHash`, so hashed term ids are those of a String.
    @inline(__always)
    static func hash(_ b: UnsafeBufferPointer<UInt8>) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for x in b { h = (h ^ UInt64(x)) &* 0x100_0000_01B3 }
        return h
    }

    @inline(__always)
    private func slot(_ hash: UInt64) -> Int { Int(truncatingIfNeeded: (hash &* 0x9E37_79B9_7F4A_7C15) >> shift) }

    @inline(__always)
    private func equal(_ id: Int, _ b: UnsafeBufferPointer<UInt8>) -> Bool {
        let s = starts[id], n = starts[id + 1] - s
        guard n == b.count else { return false }
        return bytes.withUnsafeBufferPointer { all in
            guard let p = all.baseAddress, let q = b.baseAddress else { return n == 0 }
            return memcmp(p + s, q, n) == 0
        }
    }

    /// The id of a term, if the table has it.
    func id(of b: UnsafeBufferPointer<UInt8>, hash: UInt64) -> Int32? {
        let mask = slots.count - 1
        var i = slot(hash)
        while true {
            let v = slots[i]
            if v == 0 { return nil }
            let id = Int(v) - 1
            if hashes[id] == hash && equal(id, b) { return v - 1 }
            i = (i + 1) & mask
        }
    }

    /// The id of a term, added when new; nil when the table holds as many terms as an id can number.
    mutating func insert(_ b: UnsafeBufferPointer<UInt8>, hash: UInt64) -> (id: Int32, new: Bool)? {
        let mask = slots.count - 1
        var i = slot(hash)
        while true {
            let v = slots[i]
            if v == 0 { break }
            let id = Int(v) - 1
            if hashes[id] == hash && equal(id, b) { return (v - 1, false) }
            i = (i + 1) & mask
        }
        guard hashes.count < Int(Int32.max) - 1 else { return nil }
        let id = Int32(hashes.count)
        hashes.append(hash)
        bytes.append(contentsOf: b)
        starts.append(bytes.count)
        slots[i] = id + 1
        if 2 * hashes.count > slots.count { grow() }
        return (id, true)
    }

    private mutating func grow() {
        slots = [Int32](repeating: 0, count: 2 * slots.count)
        shift -= 1
        let mask = slots.count - 1
        for (id, h) in hashes.enumerated() {
            var i = slot(h)
            while slots[i] != 0 { i = (i + 1) & mask }
            slots[i] = Int32(id + 1)
        }
    }

    /// Calls `body` with each term's bytes and hash, in id order.
    func forEach(_ body: (Int, UnsafeBufferPointer<UInt8>, UInt64) throws -> Void) rethrows {
        try bytes.withUnsafeBufferPointer { all in
            for id in 0..<hashes.count {
                try body(id, UnsafeBufferPointer(rebasing: all[starts[id]..<starts[id + 1]]), hashes[id])
            }
        }
    }

    func term(_ id: Int) -> String { String(decoding: bytes[starts[id]..<starts[id + 1]], as: UTF8.self) }
}

/// A text field's vocabulary as a table for encoding, built once and shared by threads.
public final class TermLookup: @unchecked Sendable {
    let table: TermTable
    init(_ vocabulary: [String]) { table = TermTable(vocabulary) }
}
