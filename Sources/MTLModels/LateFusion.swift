/// Late fusion: the tasks meet at the decision level, as in late-fusion multimodal models (Snoek,
/// Worring and Smeulders, "Early versus Late Fusion in Semantic Video Analysis", ACM MM 2005):
/// one tower per task over the input, and each task's head sees the concatenation of every
/// tower's last hidden layer, so tasks share decisions, not features. With `stop_gradient`, a
/// head trains only its own tower and reads the others as fixed features.
public final class LateFusionModel: TowerModel {
    init(_ config: ModelConfig, layout: InputLayout, maxRows: Int, store: ParameterStore, prefix: String) {
        super.init(config, fused: true, layout: layout, maxRows: maxRows, store: store, prefix: prefix)
    }
}

import MTLCore
