import MTLCore

/// Linear -> [LayerNorm] -> activation -> [Dropout] per hidden width, then an optional output Linear.
func makeMLP(_ name: String, input: Int, hidden: [Int], output: Int?, config: ModelConfig,
             maxRows: Int, store: ParameterStore) -> Sequential {
    var layers: [Layer] = []
    var width = input
    for (i, h) in hidden.enumerated() {
        layers += hiddenUnit("\(name).\(i)", input: width, output: h, config: config, maxRows: maxRows, store: store)
        width = h
    }
    if let out = output {
        layers.append(Linear("\(name).out", inputSize: width, outputSize: out, maxRows: maxRows, store: store))
    }
    return Sequential(layers, inputSize: input)
}

/// One hidden layer: Linear -> [LayerNorm] -> activation -> [Dropout].
func hiddenUnit(_ name: String, input: Int, output: Int, config: ModelConfig, maxRows: Int, store: ParameterStore) -> [Layer] {
    var layers: [Layer] = [Linear("\(name).linear", inputSize: input, outputSize: output, maxRows: maxRows, store: store)]
    if config.layerNorm { layers.append(LayerNorm("\(name).norm", size: output, maxRows: maxRows, store: store)) }
    layers.append(activation(config, size: output, maxRows: maxRows))
    if config.dropout > 0 {
        layers.append(Dropout("\(name).dropout", size: output, probability: Float(config.dropout), maxRows: maxRows))
    }
    return layers
}

func activation(_ config: ModelConfig, size: Int, maxRows: Int) -> Layer {
    config.activation == .gelu ? GELU(size: size, maxRows: maxRows) : ReLU(size: size, maxRows: maxRows)
}
