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
        w.famoLearningRate = try double("famo_lr", default: w.famoLearningRate, range: 1e-9...10)
        w.famoDecay = try double("famo_gamma", default: w.famoDecay, range: 0...100)
        w.updateEvery = try int("update_every", default: w.updateEvery, min: 1, max: ConfigLimits.count)
        if w.updateEvery > 1 && !w.method.combinesGradients {
            throw fail("update_every", nil, "applies to gradient methods; \(w.method.rawValue) scales the losses",
                       hint: "remove weighting.update_every, or choose a gradient method (\(WeightingMethod.allCases.filter(\.combinesGradients).map(\.rawValue).joined(separator: ", ")))")
        }
        if let p = RunConfig.problem(weighting: w, model: model) { throw fail(p.key, nil, p.message, hint: p.hint) }
        try finish()
        return w
    }
}
