import Foundation
import MTLCore

/// Everything fitted on the training split that turns raw rows into model inputs and targets:
/// standardisation statistics, category vocabularies and label encodings. Every rank fits it
/// from the same files in the same order, so all ranks hold identical preprocessing; it is
/// also stored in checkpoints so that `evaluate` and `predict` need no training data.
public struct Preprocessor: Codable, Equatable {
    public struct NumericColumn: Codable, Equatable {
        public var name: String
        public var mean: Double
        public var std: Double
        /// Values pass through sign(v) log(1 + |v|) before standardisation (`data.log_numeric`).
        public var log: Bool? = nil
        /// Quantile bin edges of the (transformed) training values for the piecewise linear
        /// encoding (`data.numeric_bins`); nil or fewer than two edges: the standardised value only.
        public var edges: [Double]? = nil
        public init(name: String, mean: Double, std: Double, log: Bool? = nil, edges: [Double]? = nil) {
            self.name = name; self.mean = mean; self.std = std; self.log = log; self.edges = edges
        }
        public func transform(_ v: Double) -> Double {
            log == true ? (v < 0 ? -Foundation.log1p(-v) : Foundation.log1p(v)) : v
        }
        public var bins: Int { max((edges?.count ?? 0) - 1, 0) }
        /// Input columns: the standardised value, then one per bin.
        public var width: Int { 1 + bins }
        /// Writes the column's encoding of the transformed value `x` to `out[0..<width]`: the
        /// standardised value, then the piecewise linear encoding of Gorishniy et al., "On
        /// Embeddings for Numerical Features in Tabular Deep Learning" (NeurIPS 2022): bin t of
        /// [b(t-1), b(t)) gives 0 below it, 1 above it and the position inside it between; the
        /// first and last bins extend linearly beyond the training range.
        func encode(_ x: Double, into out: UnsafeMutablePointer<Float>) {
            out[0] = Float((x - mean) / std)
            encodeBins(x, into: out)
        }
        /// The bins' part of `encode`: `out[1..<width]`.
        public func encodeBins(_ x: Double, into out: UnsafeMutablePointer<Float>) {
            guard let e = edges, e.count > 1 else { return }
            for t in 1..<e.count {
                let lo = e[t - 1], hi = e[t]
                let v: Double
                if x < lo && t > 1 { v = 0 }
                else if x >= hi && t < e.count - 1 { v = 1 }
                else { v = (x - lo) / (hi - lo) }
                out[t] = Float(v)
            }
        }
    }
    public struct CategoricalColumn: Codable, Equatable {
        public var name: String
        /// Known values; index `vocabulary.count` is the bucket for unknown and missing values.
        public var vocabulary: [String]
        public init(name: String, vocabulary: [String]) { self.name = name; self.vocabulary = vocabulary }
        public var buckets: Int { vocabulary.count + 1 }
    }
    public struct TaskEncoding: Codable, Equatable {
        public var name: String
        public var column: String
        public var kind: TaskKind
        public var positive: [String]
        public var negative: [String]
        public var classes: [String]
        /// Regression targets are standardised for training; predictions are mapped back.
        public var targetMean: Double
        public var targetStd: Double
        public var weight: Double
        /// multilabel: the text between class ids in a label cell, and the decision threshold (nil: tuned on validation).
        public var labelSeparator: String? = nil
        public var threshold: Double? = nil
        /// Tuned threshold: one per class (nil or false: one for the task).
        public var thresholdPerClass: Bool? = nil
        /// multilabel with class_weight balanced: positive then negative weight of each class,
        /// n / (2 n_pos) and n / (2 n_neg) over the training split's labelled rows.
        public var classWeights: [Float]? = nil
        public init(name: String, column: String, kind: TaskKind, positive: [String], negative: [String], classes: [String],
                    targetMean: Double, targetStd: Double, weight: Double) {
            self.name = name; self.column = column; self.kind = kind; self.positive = positive; self.negative = negative
            self.classes = classes; self.targetMean = targetMean; self.targetStd = targetStd; self.weight = weight
        }
        /// Output width of the task's head.
        public var outputs: Int { kind == .multiclass || kind == .multilabel ? classes.count : 1 }
        /// Target values per row: one per class for multilabel, else one.
        public var targetWidth: Int { kind == .multilabel ? classes.count : 1 }
        /// Whether its decision thresholds are tuned on the validation split (multi-label).
        public var tunesThreshold: Bool {
            guard kind == .multilabel else { return false }
            if case .fixed = thresholdRule { return false }
            return true
        }
        /// The multi-label decision rule.
        public var thresholdRule: ThresholdRule {
            if let t = threshold { return .fixed(t) }
            return thresholdPerClass == true ? .tunePerClass : .tune
        }
    }

    public var numeric: [NumericColumn]
    public var categorical: [CategoricalColumn]
    public var encoding: CategoricalEncoding
    public var embeddingDim: Int
    public var missing: [String]
    public var tasks: [TaskEncoding]
    /// Text and sparse-number fields, side by side in one sparse input block (nil: none).
    public var sparse: [SparseField]?
    public var sparseFields: [SparseField] { sparse ?? [] }

    public init(numeric: [NumericColumn], categorical: [CategoricalColumn], encoding: CategoricalEncoding, embeddingDim: Int,
                missing: [String], tasks: [TaskEncoding], sparse: [SparseField]? = nil) {
        self.numeric = numeric; self.categorical = categorical; self.encoding = encoding; self.embeddingDim = embeddingDim
        self.missing = missing; self.tasks = tasks; self.sparse = sparse
    }
    public var sparseWidth: Int { sparseFields.reduce(0) { $0 + $1.width } }

    /// Width of the dense input part (numerics, plus one-hot blocks).
    /// Width of the numeric block at the start of the dense input.
    public var numericWidth: Int { numeric.reduce(0) { $0 + $1.width } }
    public var denseWidth: Int {
        numericWidth + (encoding == .onehot ? categorical.reduce(0) { $0 + $1.buckets } : 0)
    }
    /// Width of the model's input after embeddings are looked up.
    public var inputWidth: Int {
        denseWidth + (encoding == .embedding ? categorical.count * embeddingDim : 0)
    }

    /// A stable text form (hashed to check that ranks agree; stored in checkpoints).
    public func json() throws -> String {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        do { return String(decoding: try enc.encode(self), as: UTF8.self) } catch {
            throw UserError("the fitted preprocessing cannot be stored: \(error)", hint: "a statistic of the training data is not finite; check its numeric columns")
        }
    }

    public static func from(json: String) throws -> Preprocessor {
        do { return try JSONDecoder().decode(Preprocessor.self, from: Data(json.utf8)) } catch {
            throw UserError("the stored preprocessing does not parse: \(error)", hint: "the checkpoint may be damaged or from another program")
        }
    }
}


extension Preprocessor {
    /// Which columns became which input, and how wide each is (printed by train and featurize).
    public struct ColumnRoles: Encodable {
        public struct Column: Encodable { public var name: String; public var width: Int }
        public var numeric: [Column]
        /// One-hot: the width is the block (values + 1 unknown); embedding: the table's rows.
        public var categorical: [Column]
        public var text: [Column]
        public var sparse: [Column]
        public var encoding: String
    }

    public var columnRoles: ColumnRoles {
        ColumnRoles(numeric: numeric.map { .init(name: $0.name, width: $0.width) },
                    categorical: categorical.map { .init(name: $0.name, width: $0.buckets) },
                    text: sparseFields.filter { $0.kind == .text }.map { .init(name: $0.name, width: $0.width) },
                    sparse: sparseFields.filter { $0.kind != .text }.map { .init(name: $0.name, width: $0.width) },
                    encoding: encoding.rawValue)
    }

    /// One line: "numeric age, fnlwgt (2 wide); categorical (onehot) workclass 9, ... (40 wide); ..."
    public var columnSummary: String {
        let r = columnRoles
        func part(_ label: String, _ cols: [ColumnRoles.Column], each: Bool) -> String? {
            guard !cols.isEmpty else { return nil }
            let names = cols.map { each ? "\($0.name) \($0.width)" : $0.name }.joined(separator: ", ")
            return "\(label) \(names) (\(cols.reduce(0) { $0 + $1.width }) wide)"
        }
        let parts = [part("numeric", r.numeric, each: false), part("categorical (\(r.encoding), values + unknown)", r.categorical, each: true),
                     part("text", r.text, each: true), part("sparse", r.sparse, each: true)].compactMap { $0 }
        return parts.isEmpty ? "no input columns" : parts.joined(separator: "; ")
    }
}
