/// PLE, Progressive Layered Extraction (Tang, Liu, Zhao and Gong, RecSys 2020): L CGC levels
/// stacked; below the last level a shared gate over all experts feeds the next level's shared
/// experts, and each task's mixture feeds that task's experts and gate.
public final class PLEModel: ExtractionModel {
    init(_ config: ModelConfig, layout: InputLayout, maxRows: Int, store: ParameterStore, prefix: String) {
        super.init(config, levels: config.levels, taskExperts: config.taskExperts, sharedExperts: config.experts, layout: layout, maxRows: maxRows, store: store, prefix: prefix)
    }
}

import MTLCore
