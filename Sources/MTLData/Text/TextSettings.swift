/// How text columns become features (the config's `data.text_features`).
public struct TextSettings: Codable, Equatable, Sendable {
    /// Unicode lowercasing before splitting.
    public var lowercase: Bool
    /// Words shorter than this (in characters) are dropped (scikit-learn's default pattern keeps 2+).
    public var minTokenLength: Int
    /// Word n-grams from `ngrams[0]` to `ngrams[1]` words.
    public var ngrams: [Int]
    /// Character n-grams inside each whitespace-separated token padded by spaces (scikit-learn's
    /// `char_wb`: punctuation and emoji stay in, short tokens too), `charNgrams[0]` to `[1]`
    /// Unicode scalars; [0, 0]: none.
    public var charNgrams: [Int]
    /// Feature hashing into 2^bits buckets; 0: a vocabulary fitted on the training split.
    public var hashingBits: Int
    /// Vocabulary: terms in fewer training documents than this are dropped.
    public var minCount: Int
    /// Vocabulary: at most this many terms, the most frequent (0: no limit).
    public var maxVocabulary: Int
    /// tf = 1 + ln(count) instead of count.
    public var sublinearTF: Bool
    /// Weight terms by inverse document frequency ln((1 + n) / (1 + df)) + 1 (scikit-learn's smooth idf).
    public var idf: Bool

    public init(lowercase: Bool, minTokenLength: Int, ngrams: [Int], charNgrams: [Int], hashingBits: Int, minCount: Int,
                maxVocabulary: Int, sublinearTF: Bool, idf: Bool) {
        self.lowercase = lowercase; self.minTokenLength = minTokenLength; self.ngrams = ngrams; self.charNgrams = charNgrams
        self.hashingBits = hashingBits; self.minCount = minCount; self.maxVocabulary = maxVocabulary
        self.sublinearTF = sublinearTF; self.idf = idf
    }

    public static let `default` = TextSettings(lowercase: true, minTokenLength: 2, ngrams: [1, 1], charNgrams: [0, 0],
                                               hashingBits: 0, minCount: 2, maxVocabulary: 0, sublinearTF: true, idf: true)
}
