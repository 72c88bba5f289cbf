/// The task-weighting methods a config can name (`weighting.method`).
public enum WeightingMethod: String, CaseIterable, Sendable, Codable {
    case fixed, equal, uncertainty, dwa, rlw, gls, famo
    case gradnorm, mgda, pcgrad, gradvac, cagrad
    case imtlG = "imtl-g", nashMTL = "nash-mtl", alignedMTL = "aligned-mtl", upgrad

    /// Methods that combine the tasks' gradients (one backward pass per task) rather than
    /// scaling their losses before one backward pass.
    public var combinesGradients: Bool {
        switch self {
        case .fixed, .equal, .uncertainty, .dwa, .rlw, .gls, .famo: return false
        case .gradnorm, .mgda, .pcgrad, .gradvac, .cagrad, .imtlG, .nashMTL, .alignedMTL, .upgrad: return true
        }
    }

    /// Every name, for error messages and help texts.
    public static var names: [String] { allCases.map(\.rawValue) }
}

/// Where gradient methods take the task gradients (`weighting.gradients`).
public enum GradientSource: String, CaseIterable, Sendable {
    /// On the shared parameters: exact.
    case parameters
    /// On the shared representation (LibMTL's `rep_grad`): cheaper, an approximation.
    case representation
}

/// How MGDA scales each task gradient before solving (`weighting.mgda_normalization`).
public enum MGDANormalization: String, CaseIterable, Sendable {
    case none, l2, loss
    case lossTimesL2 = "loss+"
}

/// How the tasks' losses and gradients are combined (the config's `weighting:` section).
public struct WeightingConfig: Sendable, Equatable {
    public var method: WeightingMethod = .fixed
    public var gradients: GradientSource = .parameters
    public var dwaTemperature: Double = 2
    public var gradnormAlpha: Double = 1.5
    public var gradvacBeta: Double = 0.01
    public var cagradC: Double = 0.4
    public var cagradRescale: Bool = true
    public var mgdaNormalization: MGDANormalization = .none
    /// FAMO: the task logits' Adam learning rate and L2 decay (the reference code's defaults).
    public var famoLearningRate: Double = 0.025
    public var famoDecay: Double = 0.01
    /// Gradient methods: recompute the coefficients every this many steps, reusing them between.
    public var updateEvery: Int = 1

    public init() {}
}
