import Foundation
import MTLCore
import MTLDistributed

/// Tokenising and term counting, the first half of a TF-IDF vectoriser. Terms are produced as
/// bytes of the document's UTF-8 and counted in `TermTable`s, without a String per term.
public enum TextFeatures {
    /// Reused buffers for one thread's documents.
    public struct Scratch {
        var document: [UInt8] = []
        var words: [(start: Int, end: Int)] = []
        var gram: [UInt8] = []
        var token: [UInt8] = []
        var starts: [Int] = []
        /// Encoding: a count per term id (zero between documents) and the ids the document touched.
        var counts: [Float] = []
        var touched: [Int32] = []
        public init() {}
    }

    /// Words: maximal runs of letters, digits, marks and underscores (Unicode properties, as the
    /// `\w` of scikit-learn's default pattern), lowercased when asked, of at least `minTokenLength`
    /// scalars. Walks Unicode scalars, not grapheme clusters (which cost far more to segment).
    public static func words(_ text: String, _ s: TextSettings) -> [String] {
        var scratch = Scratch()
        var out: [String] = []
        var asWords = s
        asWords.ngrams = [1, 1]; asWords.charNgrams = [0, 0]
        forEachTerm(text, asWords, &scratch) { b, _ in out.append(String(decoding: b, as: UTF8.self)) }
        return out
    }

    @inline(__always)
    static func isWordScalar(_ v: UInt32) -> Bool {
        if v < 0x80 {   // ASCII fast path: [0-9A-Za-z_]
            return (v >= 0x30 && v <= 0x39) || (v >= 0x41 && v <= 0x5A) || (v >= 0x61 && v <= 0x7A) || v == 0x5F
        }
        guard let u = Unicode.Scalar(v) else { return false }
        let p = u.properties
        if p.isAlphabetic || p.numericType != nil { return true }
        switch p.generalCategory {
        case .nonspacingMark, .spacingMark, .enclosingMark, .connectorPunctuation: return true
        default: return false
        }
    }

    @inline(__always)
    static func isSpace(_ v: UInt32) -> Bool {
        if v < 0x80 { return v == 0x20 || (v >= 0x09 && v <= 0x0D) }
        return Unicode.Scalar(v)?.properties.isWhitespace ?? false
    }

    /// The scalar starting at byte i of valid UTF-8 and its length in bytes.
    @inline(__always)
    static func scalar(_ d: UnsafeBufferPointer<UInt8>, _ i: Int) -> (value: UInt32, length: Int) {
        let b0 = UInt32(d[i])
        if b0 < 0x80 { return (b0, 1) }
        if b0 < 0xE0 { return ((b0 & 0x1F) << 6 | UInt32(d[i + 1] & 0x3F), 2) }
        if b0 < 0xF0 { return ((b0 & 0x0F) << 12 | UInt32(d[i + 1] & 0x3F) << 6 | UInt32(d[i + 2] & 0x3F), 3) }
        return ((b0 & 0x07) << 18 | UInt32(d[i + 1] & 0x3F) << 12 | UInt32(d[i + 2] & 0x3F) << 6 | UInt32(d[i + 3] & 0x3F), 4)
    }

    /// The terms of a document: word n-grams (joined by a space) and character n-grams (marked
    /// with a leading U+0001 so they never meet a word), each once per occurrence. The character
    /// n-grams are taken from the whitespace-separated tokens, not from the words: "great!!" and
    /// ":)" carry signal (on GoEmotions, scikit-learn's logistic regression reached test macro-F1
    /// 0.580 / 0.660 on Ekman / sentiment with n-grams of such tokens, 0.559 / 0.634 with n-grams
    /// of the words alone).
    public static func terms(_ text: String, _ s: TextSettings) -> [String] {
        var scratch = Scratch()
        var out: [String] = []
        forEachTerm(text, s, &scratch) { b, _ in out.append(String(decoding: b, as: UTF8.self)) }
        return out
    }

    /// Calls `body` with the bytes and FNV-1a hash of every term of `terms(text, s)`, in that order.
    static func forEachTerm(_ text: String, _ s: TextSettings, _ scratch: inout Scratch,
                            _ body: (UnsafeBufferPointer<UInt8>, UInt64) -> Void) {
        // Lowercased once for the words and the character n-grams.
        let t = s.lowercase ? text.lowercased() : text
        scratch.document.removeAll(keepingCapacity: true)
        scratch.document.append(contentsOf: t.utf8)
        func emit(_ b: UnsafeBufferPointer<UInt8>) { body(b, TermTable.hash(b)) }
        scratch.document.withUnsafeBufferPointer { d in
            let n = d.count
            if s.ngrams[1] >= 1 {
                scratch.words.removeAll(keepingCapacity: true)
                var i = 0, start = -1, length = 0
                while i < n {
                    let (v, k) = scalar(d, i)
                    if isWordScalar(v) {
                        if start < 0 { start = i; length = 0 }
                        length += 1
                    } else if start >= 0 {
                        if length >= s.minTokenLength { scratch.words.append((start, i)) }
                        start = -1
                    }
                    i += k
                }
                if start >= 0 && length >= s.minTokenLength { scratch.words.append((start, n)) }
                let w = scratch.words
                for m in max(1, s.ngrams[0])...s.ngrams[1] where w.count >= m {
                    for i in 0...(w.count - m) {
                        if m == 1 { emit(UnsafeBufferPointer(rebasing: d[w[i].start..<w[i].end])); continue }
                        scratch.gram.removeAll(keepingCapacity: true)
                        for j in i..<(i + m) {
                            if j > i { scratch.gram.append(0x20) }
                            scratch.gram.append(contentsOf: UnsafeBufferPointer(rebasing: d[w[j].start..<w[j].end]))
                        }
                        scratch.gram.withUnsafeBufferPointer(emit)
                    }
                }
            }
            if s.charNgrams[1] >= 1 {
                // The padded token's bytes and the byte offset of each of its scalars: an n-gram
                // is one byte slice.
                let lo = max(1, s.charNgrams[0]), hi = s.charNgrams[1]
                scratch.token.removeAll(keepingCapacity: true); scratch.token.append(0x20)
                scratch.starts.removeAll(keepingCapacity: true); scratch.starts.append(0)
                func flush() {
                    guard scratch.starts.count > 1 else { return }
                    scratch.starts.append(scratch.token.count); scratch.token.append(0x20); scratch.starts.append(scratch.token.count)
                    let scalars = scratch.starts.count - 1
                    for m in lo...max(lo, hi) where scalars >= m {
                        for i in 0...(scalars - m) {
                            scratch.gram.removeAll(keepingCapacity: true)
                            scratch.gram.append(1)
                            scratch.gram.append(contentsOf: scratch.token[scratch.starts[i]..<scratch.starts[i + m]])
                            scratch.gram.withUnsafeBufferPointer(emit)
                        }
                    }
                    scratch.token.removeSubrange(1...); scratch.starts.removeSubrange(1...)
                }
                var i = 0
                while i < n {
                    let (v, k) = scalar(d, i)
                    if isSpace(v) { flush() } else {
                        scratch.starts.append(scratch.token.count)
                        scratch.token.append(contentsOf: UnsafeBufferPointer(rebasing: d[i..<(i + k)]))
                    }
                    i += k
                }
                flush()
            }
        }
    }

    /// Term counts of a document as (id, count), ids by hashing or from `lookup`; unknown terms dropped.
    public static func counts(_ text: String, _ s: TextSettings, lookup: TermLookup?) -> [Int32: Float] {
        var c: [Int32: Float] = [:]
        var scratch = Scratch()
        let mask = (UInt64(1) << UInt64(s.hashingBits)) - 1
        forEachTerm(text, s, &scratch) { b, h in
            if let l = lookup { if let k = l.table.id(of: b, hash: h) { c[k, default: 0] += 1 } }
            else { c[Int32(truncatingIfNeeded: h & mask), default: 0] += 1 }
        }
        return c
    }

    /// Fits a text field on the training documents: the vocabulary (unless hashing) and the idf,
    /// in one pass. With a communicator of N ranks each rank counts document frequencies on its
    /// shard (documents r, r + N, ...), cut into pieces for its threads: hashed counts are summed
    /// (pieces, then ranks by an all-reduce), vocabulary counts merged (pieces, then ranks in rank
    /// order after an all-gather), so every rank ends with the same field as one process counting all.
    public static func fit(name: String, documents: [String], settings s: TextSettings, comm: Communicator? = nil,
                           threads: Int = Parallel.threads) throws -> SparseField {
        let rank = comm?.rank ?? 0, size = comm?.size ?? 1
        let shard = Array(Swift.stride(from: rank, to: documents.count, by: size))
        let costs = shard.map { documents[$0].utf8.count + 64 }
        let pieces = Parallel.ranges(costs: costs, parts: Parallel.parts(costs.reduce(0, +), minimum: 1 << 16, threads: threads))
        let n = Double(documents.count)
        func idf(_ df: Double) -> Float { s.idf ? Float(log((1 + n) / (1 + df)) + 1) : 1 }
        if s.hashingBits > 0 {
            let width = 1 << s.hashingBits
            let mask = UInt64(width - 1)
            let parts = try Parallel.map(pieces.count, threads: threads) { p -> [Int32] in
                var df = [Int32](repeating: 0, count: width), last = [Int32](repeating: -1, count: width)
                var scratch = Scratch()
                for k in pieces[p] {
                    let doc = Int32(truncatingIfNeeded: k)
                    forEachTerm(documents[shard[k]], s, &scratch) { _, h in
                        let id = Int(h & mask)
                        if last[id] != doc { last[id] = doc; df[id] += 1 }
                    }
                }
                return df
            }
            var df = [Double](repeating: 0, count: width)
            for part in parts { for i in 0..<width { df[i] += Double(part[i]) } }
            if let c = comm, c.size > 1 { try c.allreduceSum(&df) }
            return SparseField(name: name, kind: .text, width: width, text: s, vocabulary: nil, idf: df.map(idf))
        }
        let tooMany = UserError("text column '\(name)': more than \(Int32.max - 2) distinct terms in the training split",
                                hint: "set data.text_features.hashing_bits, or raise min_count / lower the n-gram ranges")
        let parts = try Parallel.map(pieces.count, threads: threads) { p -> (TermTable, [Int]) in
            var table = TermTable(capacity: 1 << 16), df: [Int] = [], last: [Int] = []
            var scratch = Scratch()
            var full = false
            for k in pieces[p] {
                forEachTerm(documents[shard[k]], s, &scratch) { b, h in
                    guard let (id, new) = table.insert(b, hash: h) else { full = true; return }
                    if new { df.append(0); last.append(-1) }
                    if last[Int(id)] != k { last[Int(id)] = k; df[Int(id)] += 1 }
                }
                if full { throw tooMany }
            }
            return (table, df)
        }
        func merge(_ tables: [(TermTable, [Int])]) throws -> (TermTable, [Int]) {
            guard var (table, df) = tables.first else { return (TermTable(), []) }
            for (other, counts) in tables.dropFirst() {
                try other.forEach { id, b, h in
                    guard let (j, new) = table.insert(b, hash: h) else { throw tooMany }
                    if new { df.append(0) }
                    df[Int(j)] += counts[id]
                }
            }
            return (table, df)
        }
        var (table, df) = try merge(parts)
        if let c = comm, c.size > 1 {
            // Length-prefixed (term, count) records, merged in rank order.
            var bytes: [UInt8] = []
            table.forEach { id, b, _ in
                withUnsafeBytes(of: UInt32(b.count).littleEndian) { bytes += $0 }
                bytes += b
                withUnsafeBytes(of: UInt32(truncatingIfNeeded: df[id]).littleEndian) { bytes += $0 }
            }
            var ranks: [(TermTable, [Int])] = []
            for part in try c.allgather(bytes: bytes) {
                var t = TermTable(capacity: 1 << 16), counts: [Int] = []
                try part.withUnsafeBufferPointer { p in
                    var i = 0
                    func u32() throws -> Int {
                        guard i + 4 <= p.count else { throw UserError("text column '\(name)': a rank sent a damaged term list") }
                        let v = (0..<4).reduce(0) { $0 | (Int(p[i + $1]) << (8 * $1)) }
                        i += 4
                        return v
                    }
                    while i < p.count {
                        let length = try u32()
                        guard i + length <= p.count else { throw UserError("text column '\(name)': a rank sent a damaged term list") }
                        let term = UnsafeBufferPointer(rebasing: p[i..<(i + length)])
                        i += length
                        guard let (j, new) = t.insert(term, hash: TermTable.hash(term)) else { throw tooMany }
                        if new { counts.append(0) }
                        counts[Int(j)] += try u32()
                    }
                }
                ranks.append((t, counts))
            }
            (table, df) = try merge(ranks)
        }
        var kept: [(term: String, df: Int)] = []
        for id in 0..<table.count where df[id] >= s.minCount { kept.append((table.term(id), df[id])) }
        if s.maxVocabulary > 0 && kept.count > s.maxVocabulary {
            kept = Array(kept.sorted { $0.df != $1.df ? $0.df > $1.df : $0.term < $1.term }.prefix(s.maxVocabulary))
        }
        kept.sort { $0.term < $1.term }
        return SparseField(name: name, kind: .text, width: kept.count, text: s, vocabulary: kept.map(\.term),
                           idf: kept.map { idf(Double($0.df)) })
    }
}
