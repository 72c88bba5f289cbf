/// MMoE, Multi-gate Mixture-of-Experts (Ma, Zhao, Yi, Chen, Hong and Chi, "Modeling Task
/// Relationships in Multi-task Learning with Multi-gate Mixture-of-Experts", KDD 2018): E shared
/// experts over the input and one softmax gate per task over them; each task's tower reads its
/// gate's mixture of the experts.
public final class MMoEModel: ExtractionModel {
    init(_ config: ModelConfig, layout: InputLayout, maxRows: Int, store: ParameterStore, prefix: String) {
        super.init(config, levels: 1, taskExperts: 0, sharedExperts: config.experts, layout: layout, maxRows: maxRows, store: store, prefix: prefix)
    }
}

import MTLCore
