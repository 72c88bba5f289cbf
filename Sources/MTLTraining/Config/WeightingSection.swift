import MTLModels
import MTLWeighting

extension ConfigReader {
    /// The `weighting:` section (finished), checked against the model.
    mutating func weightingSection(model: ModelConfig) throws -> WeightingConfig {
        var w = WeightingConfig()
        w.method = try choice("method", default: w.method)
        w.gradients = try choice("gradients", default: w.gradients)
        w.dwaTemperature = try double("dwa_temperature", default: w.dwaTemperature, range: 1e-6...1e6)
        w.gradnormAlpha = try double("gradnorm_alpha", default: w.gradnormAlpha, range: 0...100)
        w.gradvacBeta = try double("gradvac_beta", default: w.gradvacBeta, range: 0...1)
        w.cagradC = try double("cagrad_c", default: w.cagradC, range: 0...100)
        w.cagradRescale = try bool("cagrad_rescale", default: w.cagradRescale)
        w.mgdaNormalization = try choice("mgda_normalization", default: w.mgdaNormalization)
        if let p = RunConfig.problem(weighting: w, model: model) { throw fail(p.key, nil, p.message, hint: p.hint) }
        try finish()
        return w
    }
}
