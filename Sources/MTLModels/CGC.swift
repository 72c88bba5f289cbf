/// CGC, Customized Gate Control (Tang, Liu, Zhao and Gong, "Progressive Layered Extraction
/// (PLE): A Novel Multi-Task Learning (MTL) Model for Personalized Recommendations", RecSys
/// 2020): shared experts plus task-specific experts; each task's gate mixes its own experts and
/// the shared ones.
public final class CGCModel: ExtractionModel {
    init(_ config: ModelConfig, layout: InputLayout, maxRows: Int, store: ParameterStore, prefix: String) {
        super.init(config, levels: 1, taskExperts: config.taskExperts, sharedExperts: config.experts, layout: layout, maxRows: maxRows, store: store, prefix: prefix)
    }
}

import MTLCore
