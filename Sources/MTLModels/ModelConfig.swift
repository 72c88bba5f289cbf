/// The architectures a config can name (`model.architecture`). Each has its own file named
/// after it; `build` is the one place that maps a name to a model.
public enum Architecture: String, CaseIterable, Sendable, Codable {
    case hardSharing = "hard-sharing"
    case lateFusion = "late-fusion"
    case singleTask = "single-task"
    case crossStitch = "cross-stitch"
    case mmoe, cgc, ple, ensemble
    case taskAttention = "task-attention"

    /// Every name, for error messages and help texts.
    public static var names: [String] { allCases.map(\.rawValue) }

    /// Whether all tasks read one shared representation (so task gradients can be taken there,
    /// `weighting.gradients: representation`).
    public var hasSharedRepresentation: Bool { self == .hardSharing || self == .mmoe || self == .cgc }

    /// Registers the architecture's parameters in `store` under `prefix` (not yet materialised).
    func build(_ config: ModelConfig, layout: InputLayout, maxRows: Int, store: ParameterStore, prefix: String, seed: UInt64) -> MultiTaskModel {
        switch self {
        case .hardSharing: return HardSharingModel(config, layout: layout, maxRows: maxRows, store: store, prefix: prefix)
        case .lateFusion: return LateFusionModel(config, layout: layout, maxRows: maxRows, store: store, prefix: prefix)
        case .singleTask: return SingleTaskModel(config, layout: layout, maxRows: maxRows, store: store, prefix: prefix)
        case .crossStitch: return CrossStitchModel(config, layout: layout, maxRows: maxRows, store: store, prefix: prefix)
        case .mmoe: return MMoEModel(config, layout: layout, maxRows: maxRows, store: store, prefix: prefix)
        case .cgc: return CGCModel(config, layout: layout, maxRows: maxRows, store: store, prefix: prefix)
        case .ple: return PLEModel(config, layout: layout, maxRows: maxRows, store: store, prefix: prefix)
        case .ensemble: return EnsembleModel(config, layout: layout, maxRows: maxRows, store: store, prefix: prefix, seed: seed)
        case .taskAttention: return TaskAttentionModel(config, layout: layout, maxRows: maxRows, store: store, prefix: prefix)
        }
    }
}

/// The hidden layers' activation (`model.activation`).
public enum Activation: String, CaseIterable, Sendable {
    case relu, gelu
}

/// The config's `model:` section.
public struct ModelConfig: Sendable, Equatable {
    public var architecture: Architecture = .hardSharing
    public var trunk: [Int] = [256, 128]
    public var head: [Int] = [64]
    /// Whether trunk, head and expert came from the config; those that did not are sized from
    /// the input's width when the model is built (`resolved(for:)`).
    /// (In config order, an array: a Set would print in a per-process order, and the ranks
    /// compare the config's description at start-up.)
    public var given: [String] = ["trunk", "head", "expert"]
    /// A factor on every hidden width (trunk, head, expert), applied when the model is built;
    /// 0: no hidden layers in trunk and head (a linear model per task under single-task).
    public var width: Double = 1
    public var activation: Activation = .relu
    public var dropout: Double = 0
    public var layerNorm: Bool = false
    /// Width of the learned projection of the sparse input block (text, sparse numbers).
    public var sparseProjection: Int = 64
    // late-fusion
    public var stopGradient: Bool = false
    // cross-stitch
    public var stitchInit: Double = 0.9
    // mmoe, cgc, ple
    public var experts: Int = 8
    public var taskExperts: Int = 2
    public var levels: Int = 2
    public var expert: [Int] = [256, 128]
    // ensemble
    public var members: Int = 3
    public var member: Architecture = .hardSharing
    public var bootstrap: Bool = false
    // task-attention
    public var dModel: Int = 32
    public var attentionHeads: Int = 4
    public var attentionLayers: Int = 2
    public var queries: Int = 1
    public var feedForward: Int = 64

    public init() {}

    /// The hidden widths for an input of `inputWidth` features (after embeddings and the sparse
    /// projection): a width the config does not give is sized from the input, first layer
    /// P = the power of two at or above the input width within 16...256, then P/2 (at least 8);
    /// the head half the trunk's last width (else of P) within 8...64; the experts P, P/2. Then each
    /// width times `width` (at least 1; none for 0).
    public func resolved(inputWidth: Int) -> ModelConfig {
        var m = self
        var p = 16
        while p < Swift.min(inputWidth, 256) { p *= 2 }
        if !given.contains("trunk") { m.trunk = [p, Swift.max(8, p / 2)] }
        if !given.contains("head") { m.head = [Swift.min(64, Swift.max(8, (m.trunk.last ?? p) / 2))] }
        if !given.contains("expert") { m.expert = [p, Swift.max(8, p / 2)] }
        if width != 1 {
            func scale(_ w: [Int]) -> [Int] { width > 0 ? w.map { Swift.max(1, Swift.min(1 << 20, Int((Double($0) * width).rounded()))) } : [] }
            m.trunk = scale(m.trunk); m.head = scale(m.head)
            m.expert = width > 0 ? scale(m.expert) : m.expert
        }
        m.given = ["trunk", "head", "expert"]
        m.width = 1
        return m
    }

    /// The input width the first hidden layers see for `layout`.
    public static func inputWidth(_ layout: InputLayout, sparseProjection: Int) -> Int {
        layout.inputWidth + (layout.sparseWidth > 0 ? sparseProjection : 0)
    }

    /// What makes the section unusable for its architecture, if anything: the key (under
    /// `model.`) and what is wrong.
    public var problem: (key: String, message: String)? {
        // The architecture that builds experts: the model's own, or its ensemble members'.
        let experts = architecture == .ensemble ? member : architecture
        if experts == .mmoe && self.experts < 1 { return ("experts", "must be at least 1 for mmoe") }
        if (experts == .cgc || experts == .ple) && self.experts + taskExperts < 1 {
            return ("experts", "and model.task_experts cannot both be 0 for \(experts.rawValue)")
        }
        if experts == .ple && levels > 1 && self.experts < 1 {
            return ("experts", "must be at least 1 for ple with several levels: the shared gate mixes shared experts")
        }
        if architecture == .ensemble && member == .ensemble { return ("member", "cannot be ensemble") }
        if [.mmoe, .cgc, .ple].contains(experts) && expert.isEmpty { return ("expert", "must list at least one width for \(experts.rawValue)") }
        if (architecture == .crossStitch || member == .crossStitch && architecture == .ensemble) && width == 0 {
            return ("width", "is 0, which leaves cross-stitch no hidden layers to stitch")
        }
        if (architecture == .crossStitch || member == .crossStitch && architecture == .ensemble) && trunk.isEmpty {
            return ("trunk", "must list at least one width for cross-stitch: the stitches mix the columns' hidden layers")
        }
        if dModel % attentionHeads != 0 {
            return ("d_model", "(\(dModel)) must be a multiple of attention_heads (\(attentionHeads))")
        }
        return nil
    }
}

import MTLCore
