/// The single-task baseline (Caruana, "Multitask Learning", Machine Learning 1997, compares
/// against it): a tower and head per task with no sharing, independent models trained in the
/// same loop, on the same data and budget, the baseline every comparison is measured against.
/// The parameter sets are disjoint, so with per-parameter optimizers (Adam, SGD) this is exactly
/// separate training, except that `clip_norm` clips their joint gradient norm.
public final class SingleTaskModel: TowerModel {
    init(_ config: ModelConfig, layout: InputLayout, maxRows: Int, store: ParameterStore, prefix: String) {
        super.init(config, fused: false, layout: layout, maxRows: maxRows, store: store, prefix: prefix)
    }
}

import MTLCore
