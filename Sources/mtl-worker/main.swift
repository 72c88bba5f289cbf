import MTLMPI
import MTLDistributed
import Foundation
let c: Communicator = launchedByMPI(environment: ProcessInfo.processInfo.environment) ? try MPICommunicator() : SingleProcessCommunicator()
try CollectiveChecks.run(on: c)
print("rank \(c.rank) of \(c.size) ok")
(c as? MPICommunicator)?.finalize()
