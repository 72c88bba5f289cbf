import ArgumentParser
import Foundation
import Logging
import MTLCore
import MTLDistributed
import MTLMPI
import MTLTraining

/// Options every subcommand shares.
struct CommonOptions: ParsableArguments {
    @Option(help: "Threads per process; 0: the host's cores divided by the ranks on it. Matrix products: default training.threads from the config, else 1; reading and featurizing: default 0.")
    var threads: Int?

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    func validate() throws {
        if let t = threads, t < 0 { throw ValidationError("--threads must be 0 (the host's cores divided by its ranks) or more") }
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical")
        }
    }
}

/// Starts MPI when a launcher started this process (otherwise one local process), sets up
/// logging, runs `body`, and turns any error into a message and a non-zero exit. Under MPI a
/// failing rank aborts the whole job, so no other rank waits for it forever.
func withRuntime(_ common: CommonOptions, threads configThreads: Int? = nil, collectiveTimeout: Double = TrainingConfig().collectiveTimeout,
                 heartbeatTimeout: Double = TrainingConfig().heartbeatTimeout,
                 _ body: (Communicator, Logger) throws -> Void) throws {
    var comm: Communicator
    var placement = ""
    do {
        comm = launchedByMPI(environment: ProcessInfo.processInfo.environment) ? try MPICommunicator(heartbeats: heartbeatTimeout > 0) : SingleProcessCommunicator()
        if comm.size > 1 && (collectiveTimeout > 0 || heartbeatTimeout > 0) {
            // Every collective is bounded from here on; the hosts name the job in its message.
            let watchdog = CollectiveWatchdog(timeout: collectiveTimeout, silence: heartbeatTimeout, rank: comm.rank, size: comm.size,
                                              liveness: (comm as? MPICommunicator)?.liveness)
            comm = WatchedCommunicator(comm, watchdog: watchdog)
            var name = [CChar](repeating: 0, count: 256)
            gethostname(&name, 255)
            let host = String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            let hosts = try comm.allgather(bytes: Array(host.utf8)).map { String(decoding: $0, as: UTF8.self) }
            watchdog.describe(size: comm.size, hosts: hosts)
            placement = watchdog.placement
        }
    } catch {
        FileHandle.standardError.write(Data("error: cannot start MPI: \(error)\nHINT: run under mpirun from Open MPI, or without a launcher for one process\n".utf8))
        throw ExitCode(1)
    }
    let level = Logger.Level(rawValue: common.logLevel) ?? .info
    let rank = comm.rank, size = comm.size
    LoggingSystem.bootstrap { label in
        var h = StreamLogHandler.standardError(label: size > 1 ? "\(label)[\(rank)]" : label)
        h.logLevel = rank == 0 ? level : max(level, .warning)
        return h
    }
    let threads = common.threads ?? configThreads ?? 1
    let automatic = automaticThreads(environment: ProcessInfo.processInfo.environment, ranks: size)
    BLAS.setThreads(threads > 0 ? threads : automatic)
    // Reading and featurizing give the same result at any thread count and allocate nothing per
    // training step, so they take the host's share of cores unless --threads names a number.
    Parallel.threads = common.threads.map { $0 > 0 ? $0 : automatic } ?? automatic
    let logger = Logger(label: "mtl-worker")
    if !placement.isEmpty { logger.info("\(size) ranks on \(placement)") }
    do {
        try body(comm, logger)
    } catch {
        let prefix = size > 1 ? "rank \(rank): " : ""
        FileHandle.standardError.write(Data("error: \(prefix)\(error)\n".utf8))
        if size > 1 { comm.abort(code: 1) }
        throw ExitCode(1)
    }
    (comm as? FinalizableCommunicator)?.finalize()
}

/// Threads per rank when none are set: the cores this process may use, shared by the ranks on
/// its host (Open MPI's OMPI_COMM_WORLD_LOCAL_SIZE, MPICH's MPI_LOCALNRANKS); one thread under a
/// launcher that says neither, since its ranks per host are unknown.
func automaticThreads(environment: [String: String], ranks: Int) -> Int {
    let cores = ProcessInfo.processInfo.activeProcessorCount
    guard ranks > 1 else { return max(1, cores) }
    guard let local = (environment["OMPI_COMM_WORLD_LOCAL_SIZE"] ?? environment["MPI_LOCALNRANKS"]).flatMap({ Int($0) }), local > 0 else { return 1 }
    return max(1, cores / local)
}

func loadConfig(_ path: String) throws -> RunConfig {
    do { return try RunConfig.load(path: path) } catch let e as UserError {
        print(error: e)
        throw ExitCode(1)
    }
}

/// Prints an error as every error of the program is printed: `error: ...` and its `HINT:`.
func print(error e: Error) {
    FileHandle.standardError.write(Data("error: \(e)\n".utf8))
}

/// The options of the commands that read a config and write an output folder.
struct ConfigOptions: ParsableArguments {
    @Option(help: "The run's YAML config.") var config: String
    @Option(help: "Output folder (default: see the command's description).") var output: String?

    /// The config file's name without its extension, for default output folders.
    var name: String { ((config as NSString).lastPathComponent as NSString).deletingPathExtension }

    /// Reads the config; an error in it is printed as the program prints every error.
    func load() throws -> RunConfig { try loadConfig(config) }
}
