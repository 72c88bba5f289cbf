import Foundation
import XCTest
import MTLCore
import MTLDistributed
@testable import MTLData
import MTLTestSupport

/// Tokens, word and character n-grams, TF-IDF by hand, vocabulary limits and hashing, and the
/// sparse-number columns with their errors.
final class TextFeaturesTests: XCTestCase {
    func settings(_ adjust: (inout TextSettings) -> Void = { _ in }) -> TextSettings {
        var s = TextSettings.default
        adjust(&s)
        return s
    }

    func testWordsAreUnicodeAware() {
        XCTAssertEqual(TextFeatures.words("Ça VA, l'été! naïve_x 42 b ÜBER", settings()),
                       ["ça", "va", "été", "naïve_x", "42", "über"])
        XCTAssertEqual(TextFeatures.words("Ab cD", settings { $0.lowercase = false; $0.minTokenLength = 1 }), ["Ab", "cD"])
    }

    func testWordAndCharacterNgrams() {
        XCTAssertEqual(TextFeatures.terms("one two three", settings { $0.ngrams = [1, 2] }),
                       ["one", "two", "three", "one two", "two three"])
        XCTAssertEqual(TextFeatures.terms("ab", settings { $0.ngrams = [0, 0]; $0.charNgrams = [2, 3] }),
                       ["\u{1} a", "\u{1}ab", "\u{1}b ", "\u{1} ab", "\u{1}ab "])
        // As scikit-learn's char_wb: whitespace-separated tokens, punctuation and one-letter tokens
        // kept, lowercased; the words ("hi") are unchanged.
        XCTAssertEqual(TextFeatures.terms("Hi!\t:)", settings { $0.charNgrams = [3, 3] }),
                       ["hi", "\u{1} hi", "\u{1}hi!", "\u{1}i! ", "\u{1} :)", "\u{1}:) "])
        XCTAssertEqual(TextFeatures.terms("a", settings { $0.ngrams = [0, 0]; $0.charNgrams = [1, 4] }),
                       ["\u{1} ", "\u{1}a", "\u{1} ", "\u{1} a", "\u{1}a ", "\u{1} a "])
    }

    /// TF-IDF by hand: docs "a b b", "b c", "c c d" (single letters kept), smooth idf
    /// ln((1 + n) / (1 + df)) + 1, raw tf, L2-normalised rows.
    func testTfidfMatchesTheFormula() throws {
        let s = settings { $0.minTokenLength = 1; $0.minCount = 1; $0.sublinearTF = false }
        let field = try TextFeatures.fit(name: "t", documents: ["a b b", "b c", "c c d"], settings: s)
        XCTAssertEqual(field.vocabulary, ["a", "b", "c", "d"])
        let idf = [log(4.0 / 2) + 1, log(4.0 / 3) + 1, log(4.0 / 3) + 1, log(4.0 / 2) + 1]
        for i in 0..<4 { XCTAssertEqual(Double(field.idf![i]), idf[i], accuracy: 1e-6) }
        let entries = try field.encode("a b b z", lookup: field.lookup, missing: false, where: { "x" })
        let raw = [idf[0], 2 * idf[1]], norm = (raw[0] * raw[0] + raw[1] * raw[1]).squareRoot()
        XCTAssertEqual(entries.map(\.0), [0, 1], "the unknown word z is dropped")
        XCTAssertEqual(Double(entries[0].1), raw[0] / norm, accuracy: 1e-6)
        XCTAssertEqual(Double(entries[1].1), raw[1] / norm, accuracy: 1e-6)
        // Sublinear tf: 1 + ln 2 for the repeated b.
        let sub = try TextFeatures.fit(name: "t", documents: ["a b b", "b c", "c c d"], settings: settings { $0.minTokenLength = 1; $0.minCount = 1 })
        let e2 = try sub.encode("a b b", lookup: sub.lookup, missing: false, where: { "x" })
        XCTAssertEqual(Double(e2[1].1 / e2[0].1), (1 + log(2)) * idf[1] / idf[0], accuracy: 1e-5)
    }

    func testVocabularyLimitsAndHashing() throws {
        let docs = ["x y z", "x y", "x", "w"]
        let s = settings { $0.minTokenLength = 1 }
        XCTAssertEqual(try TextFeatures.fit(name: "t", documents: docs, settings: s).vocabulary, ["x", "y"], "min_count 2")
        XCTAssertEqual(try TextFeatures.fit(name: "t", documents: docs, settings: settings { $0.minTokenLength = 1; $0.minCount = 1; $0.maxVocabulary = 2 }).vocabulary,
                       ["x", "y"], "the two most frequent")
        let hashed = try TextFeatures.fit(name: "t", documents: docs, settings: settings { $0.minTokenLength = 1; $0.hashingBits = 4 })
        XCTAssertEqual(hashed.width, 16)
        XCTAssertNil(hashed.vocabulary)
        let counts = TextFeatures.counts("x x y", hashed.text!, lookup: nil)
        XCTAssertEqual(counts.values.reduce(0, +), 3)
        XCTAssert(counts.keys.allSatisfy { $0 >= 0 && $0 < 16 })
    }

    func testSparseNumbersAndTheirErrors() throws {
        let pairs = SparseField(name: "f", kind: .pairs, width: 8)
        let e = try pairs.encode("5:0.5 2:-1", lookup: nil, missing: false, where: { "f.csv:3" })
        XCTAssertEqual(e.map(\.0), [2, 5]); XCTAssertEqual(e.map(\.1), [-1, 0.5])
        let bits = SparseField(name: "f", kind: .indices, width: 8)
        XCTAssertEqual(try bits.encode("7 0", lookup: nil, missing: false, where: { "" }).map(\.0), [0, 7])
        Support.assertUserError(["f.csv:3", "column 'f'", "index 8", "width 8"]) {
            _ = try bits.encode("1 8", lookup: nil, missing: false, where: { "f.csv:3" })
        }
        Support.assertUserError(["f.csv:4", "index:value"]) {
            _ = try pairs.encode("3", lookup: nil, missing: false, where: { "f.csv:4" })
        }
    }
}
