import MTLModels

extension ConfigReader {
    /// The `model:` section (finished).
    mutating func modelSection() throws -> ModelConfig {
        var m = ModelConfig()
        m.architecture = try choice("architecture", default: m.architecture)
        // Widths not given are sized from the input when the model is built (ModelConfig.resolved).
        m.given = ["trunk", "head", "expert"].filter(has)
        m.trunk = try ints("trunk") ?? m.trunk
        m.head = try ints("head") ?? m.head
        m.width = try double("width", default: 1, range: 0...16)
        m.activation = try choice("activation", default: m.activation)
        m.dropout = try double("dropout", default: 0, range: 0...0.95)
        m.layerNorm = try bool("layer_norm", default: false)
        m.stopGradient = try bool("stop_gradient", default: false)
        m.stitchInit = try double("stitch_init", default: m.stitchInit, range: 0...1)
        m.experts = try int("experts", default: m.experts, min: 0, max: ConfigLimits.count)
        m.taskExperts = try int("task_experts", default: m.taskExperts, min: 0, max: ConfigLimits.count)
        m.levels = try int("levels", default: m.levels, min: 1, max: ConfigLimits.count)
        m.expert = try ints("expert") ?? m.expert
        m.members = try int("members", default: m.members, min: 1, max: ConfigLimits.count)
        m.member = try choice("member", default: m.member, allowed: Architecture.allCases.filter { $0 != .ensemble })
        m.bootstrap = try bool("bootstrap", default: false)
        m.dModel = try int("d_model", default: m.dModel, min: 1, max: ConfigLimits.width)
        m.attentionHeads = try int("attention_heads", default: m.attentionHeads, min: 1, max: ConfigLimits.count)
        m.attentionLayers = try int("attention_layers", default: m.attentionLayers, min: 0, max: ConfigLimits.count)
        m.queries = try int("queries", default: m.queries, min: 1, max: ConfigLimits.count)
        m.feedForward = try int("feed_forward", default: m.feedForward, min: 1, max: ConfigLimits.width)
        m.sparseProjection = try int("sparse_projection", default: m.sparseProjection, min: 1, max: ConfigLimits.width)
        if let problem = m.problem { throw fail(problem.key, nil, problem.message) }
        try finish()
        return m
    }
}
