import Foundation
import MTLCore

/// What a sparse input field holds.
public enum SparseFieldKind: String, Codable, Sendable {
    /// A text column, TF-IDF weighted.
    case text
    /// Sparse numbers as `3 17 1020` (those positions are 1).
    case indices
    /// Sparse numbers as `3:0.5 17:2` (LIBSVM style).
    case pairs
}

/// A sparse input field: a text column (TF-IDF) or a column of sparse numbers, with what was
/// fitted on the training split. Fields are laid side by side in one sparse input block.
public struct SparseField: Codable, Equatable {
    public var name: String
    public var kind: SparseFieldKind
    public var width: Int
    public var text: TextSettings?
    /// Text, vocabulary mode: the terms in id order.
    public var vocabulary: [String]?
    /// Text: inverse document frequency per id (all 1 without idf).
    public var idf: [Float]?

    public init(name: String, kind: SparseFieldKind, width: Int, text: TextSettings? = nil, vocabulary: [String]? = nil, idf: [Float]? = nil) {
        self.name = name; self.kind = kind; self.width = width; self.text = text; self.vocabulary = vocabulary; self.idf = idf
    }
}

extension SparseField {
    /// The field's nonzeros for one cell: (index within the field, value). Text is TF-IDF
    /// weighted and L2-normalised; sparse numbers are parsed and range-checked.
    func encode(_ cell: String, lookup: TermLookup?, missing: Bool, where place: () -> String) throws -> [(Int32, Float)] {
        var scratch = TextFeatures.Scratch()
        return try encode(cell, lookup: lookup, missing: missing, scratch: &scratch, where: place)
    }

    /// The same with a thread's reused buffers.
    func encode(_ cell: String, lookup: TermLookup?, missing: Bool, scratch: inout TextFeatures.Scratch,
                where place: () -> String) throws -> [(Int32, Float)] {
        if missing { return [] }
        switch kind {
        case .text:
            guard let s = text, let idf, idf.count >= width else { return [] }
            if scratch.counts.count < width { scratch.counts = [Float](repeating: 0, count: width) }
            let mask = (UInt64(1) << UInt64(min(max(s.hashingBits, 0), 62))) - 1
            scratch.touched.removeAll(keepingCapacity: true)
            var counts = scratch.counts, touched = scratch.touched
            scratch.counts = []; scratch.touched = []
            counts.withUnsafeMutableBufferPointer { c in
                TextFeatures.forEachTerm(cell, s, &scratch) { b, h in
                    let id: Int32
                    if let l = lookup { guard let k = l.table.id(of: b, hash: h) else { return }; id = k }
                    else { id = Int32(truncatingIfNeeded: h & mask) }
                    guard id >= 0 && Int(id) < c.count else { return }
                    if c[Int(id)] == 0 { touched.append(id) }
                    c[Int(id)] += 1
                }
            }
            touched.sort()
            var entries = touched.map { id -> (Int32, Float) in
                let count = counts[Int(id)]
                counts[Int(id)] = 0
                let tf = s.sublinearTF ? 1 + logf(count) : count
                return (id, tf * idf[Int(id)])
            }
            scratch.counts = counts; scratch.touched = touched
            let norm = entries.reduce(Float(0)) { $0 + $1.1 * $1.1 }.squareRoot()
            if norm > 0 { for i in entries.indices { entries[i].1 /= norm } }
            return entries
        case .indices, .pairs:
            var entries: [(Int32, Float)] = []
            for item in cell.split(whereSeparator: { $0 == " " || $0 == "," || $0 == "\t" }) {
                let parts = kind == .pairs ? item.split(separator: ":", maxSplits: 1) : [item]
                guard let index = Int(parts[0]), kind == .indices || parts.count == 2,
                      let value = parts.count == 2 ? Float(parts[1]) : 1, value.isFinite else {
                    throw UserError("\(place()): column '\(name)': '\(item)' is not \(kind == .pairs ? "an index:value pair" : "an index")",
                                    hint: kind == .pairs ? "write entries as 3:0.5 separated by spaces" : "write indices as 3 17 1020 separated by spaces")
                }
                guard index >= 0 && index < width else {
                    throw UserError("\(place()): column '\(name)': index \(index) is outside the declared width \(width)",
                                    hint: "raise the column's width in data.sparse, or check that indices start at 0")
                }
                entries.append((Int32(index), value))
            }
            entries.sort { $0.0 < $1.0 }
            return entries
        }
    }

    /// The vocabulary as a table (nil when hashing); built once per encoding and shared by its threads.
    var lookup: TermLookup? { vocabulary.map(TermLookup.init) }
}
