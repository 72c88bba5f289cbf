import ArgumentParser

struct MTLWorker: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mtl-worker",
        abstract: "Data-parallel multi-task learning over MPI.",
        subcommands: [Train.self, Compare.self, Advise.self, Evaluate.self, Predict.self, Export.self, Serve.self, Featurize.self, Bench.self, SelfTest.self])
}
