import MTLCore

extension ModelConfig {
    /// An estimate of the floats a model of this config holds, counted in Double so no size
    /// overflows: its parameters (with gradients and two optimizer slots: 4 floats each) and
    /// its layers' buffers for `maxRows` rows (outputs and input gradients, about 6 floats per
    /// unit and row). It errs high; it is meant to refuse what cannot fit, not to plan memory.
    public func estimatedFloats(layout: InputLayout, maxRows: Int, architecture a: Architecture? = nil) -> (parameters: Double, buffers: Double) {
        guard given.count == 3 && width == 1 else {
            return resolved(inputWidth: Self.inputWidth(layout, sparseProjection: sparseProjection)).estimatedFloats(layout: layout, maxRows: maxRows, architecture: a)
        }
        let arch = a ?? architecture
        let rows = Double(maxRows), t = Double(layout.tasks.count)
        let outputs = layout.taskOutputs.map(Double.init)
        let hasSparse = layout.sparseWidth > 0
        let input = Double(layout.inputWidth) + (hasSparse ? Double(sparseProjection) : 0)
        var params = Double(layout.sparseWidth) * Double(sparseProjection) + (layout.embeddings.map { Double($0.buckets.reduce(0, +) * $0.dim) } ?? 0)
        var units = input
        /// An MLP from `from` through `widths` (then to `out`): its weights and its units.
        func mlp(_ from: Double, _ widths: [Int], _ out: Double?) -> (params: Double, units: Double) {
            var p = 0.0, u = 0.0, w = from
            for h in widths.map(Double.init) + (out.map { [$0] } ?? []) { p += w * h + h; u += h; w = h }
            return (p, u)
        }
        func heads(_ from: Double) {
            for o in outputs { let m = mlp(from, head, o); params += m.params; units += m.units }
        }
        let last = Double(trunk.last ?? 0)
        switch arch {
        case .hardSharing:
            let m = mlp(input, trunk, nil); params += m.params; units += m.units
            heads(trunk.isEmpty ? input : last)
        case .lateFusion, .singleTask, .crossStitch:
            let m = mlp(input, trunk, nil)
            params += t * m.params + (arch == .crossStitch ? Double(trunk.count) * t * t : 0)
            units += t * m.units * (arch == .crossStitch ? 2 : 1)
            if hasSparse && arch != .crossStitch { params += (t - 1) * Double(layout.sparseWidth) * Double(sparseProjection) }
            heads(arch == .lateFusion ? t * last : last)
        case .mmoe, .cgc, .ple:
            let shared = Double(experts), own = arch == .mmoe ? 0 : Double(taskExperts)
            let levelCount = arch == .ple ? Double(levels) : 1
            let perExpert = mlp(input, expert, nil)
            let count = shared + t * own
            params += levelCount * (count * perExpert.params + (t + 1) * input * count)
            units += levelCount * (count * perExpert.units + (t + 1) * (count + Double(expert.last ?? 0)))
            heads(Double(expert.last ?? 0))
        case .ensemble:
            let m = estimatedFloats(layout: layout, maxRows: maxRows, architecture: member == .ensemble ? .hardSharing : member)
            return (Double(members) * m.parameters, Double(members) * m.buffers)
        case .taskAttention:
            let d = Double(dModel), f = Double(layout.fieldWidths.count + (hasSparse ? 1 : 0))
            let blocks = Double(attentionLayers), ff = Double(feedForward), heads_ = Double(attentionHeads), q = Double(queries)
            params += Double(layout.fieldWidths.reduce(0, +)) * d + f * d + blocks * (4 * d * d + 2 * d * ff + 8 * d) + t * (2 * d * d + q * d)
            units += f * d * (12 + 2 * ff / d) * max(blocks, 1) + blocks * heads_ * f * f + t * (2 * f * d + heads_ * q * f + q * d)
            heads(q * d)
        }
        return (4 * params, 6 * rows * units)
    }

    /// Throws when the model would not fit in this machine's memory, with the estimate.
    public func checkFits(layout: InputLayout, maxRows: Int) throws {
        let e = estimatedFloats(layout: layout, maxRows: maxRows)
        func gib(_ floats: Double) -> String { "\((floats * 4 / 1_073_741_824 * 10).rounded() / 10) GiB" }
        try MachineMemory.check((e.parameters + e.buffers) * 4, what: "the \(architecture.rawValue) model",
                                breakdown: "\(gib(e.parameters)) for parameters, gradients and optimizer state, \(gib(e.buffers)) for the layers' buffers of \(maxRows) rows",
                                hint: "lower the widths in the model: section, training.batch_size (split across ranks), or the input's width (text vocabulary, categories)")
    }
}
