import ArgumentParser
import Foundation
import Logging
import MTLCore
import MTLInference
import MTLServing

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve a model file (written by export) over HTTP: POST /v1/predict, GET /health, GET /metrics.",
        discussion: "POST /v1/predict takes {\"rows\": [{column: value, ...}]} with raw column values as in the training file (numbers or strings, text as text; null for a missing value; every input column present, other fields ignored) and answers {\"predictions\": [{task: {...}}]}: binary {probability, class}, multiclass {probabilities, class}, multilabel {probabilities, classes}, regression {value}. A bad request gets a 4xx JSON error naming the row and the field. SIGTERM or SIGINT stops it after the requests in flight.")
    @Option(help: "A model file written by export (float or int8).") var model: String
    @Option(help: "The address to listen on.") var host = "127.0.0.1"
    @Option(help: "The port to listen on (0: any free port, printed at start).") var port = 8080
    @Option(help: "The most rows one request may hold (413 beyond).") var maxRows = 1024
    @Option(help: "The largest request body in bytes (413 beyond).") var maxBodyBytes = 4 << 20
    @OptionGroup var common: CommonOptions

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be within 0...65535") }
        guard maxRows >= 1 else { throw ValidationError("--max-rows must be at least 1") }
        guard maxBodyBytes >= 64 else { throw ValidationError("--max-body-bytes must be at least 64") }
    }

    func run() throws {
        try withRuntime(common) { comm, logger in
            guard comm.size == 1 else { throw UserError("serve runs as one process", hint: "start it without mpirun") }
            let file = try ModelFile(path: model)
            let service = try PredictionService(model: file, maxRows: maxRows)
            let server = ModelServer(service: service, host: host, port: port, maxBodyBytes: maxBodyBytes, logger: logger)
            let outcome = Outcome()
            let path = model, host = host, quantization = file.quantization.rawValue, isa = CompiledModel.int8ISA
            let done = DispatchSemaphore(value: 0)
            Task {
                do {
                    try await server.run { port in
                        FileHandle.standardError.write(Data("serving \(path) (\(quantization)\(quantization == "int8" ? ", \(isa)" : "")) on http://\(host):\(port)\n".utf8))
                    }
                } catch { outcome.set(error) }
                done.signal()
            }
            done.wait()
            if let e = outcome.error { throw UserError("the server stopped: \(e)", hint: "is --port \(port) already in use on \(host)?") }
            FileHandle.standardError.write(Data("stopped\n".utf8))
        }
    }

    /// The server task's error, read after it ends.
    final class Outcome: @unchecked Sendable {
        private let lock = NSLock()
        private var stored: Error?
        func set(_ e: Error) { lock.lock(); stored = e; lock.unlock() }
        var error: Error? { lock.lock(); defer { lock.unlock() }; return stored }
    }
}
