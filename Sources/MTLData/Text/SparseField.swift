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
    func encode(_ cell: String, lookup: [String: Int32]?, missing: Bool, where place: () -> String) throws -> [(Int32, Float)] {
        if missing { return [] }
        switch kind {
        case .text:
            guard let s = text, let idf else { return [] }
            var entries = TextFeatures.counts(cell, s, lookup: lookup).map { id, count -> (Int32, Float) in
                let tf = s.sublinearTF ? 1 + logf(count) : count
                return (id, tf * idf[Int(id)])
            }
            entries.sort { $0.0 < $1.0 }
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

    var lookup: [String: Int32]? {
        guard let v = vocabulary else { return nil }
        var l: [String: Int32] = [:]
        l.reserveCapacity(v.count)
        for (i, t) in v.enumerated() { l[t] = Int32(i) }
        return l
    }
}
