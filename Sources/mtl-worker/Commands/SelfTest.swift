import ArgumentParser
import Foundation
import MTLDistributed

struct SelfTest: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "selftest",
        abstract: "Check the MPI collectives at this world size (sum == x * size, broadcast, allgather).")
    @OptionGroup var common: CommonOptions

    func run() throws {
        try withRuntime(common) { comm, _ in
            try CollectiveChecks.run(on: comm)
            try comm.barrier()
            if comm.isRoot { print("selftest: collectives correct on \(comm.size) rank(s)") }
        }
    }
}
