import Foundation
import MTLCore

/// Restarts the process once with OPENBLAS_CORETYPE set when OpenBLAS chose its generic kernels
/// on a CPU it does not know (see `BLAS.betterCoreType`). OpenBLAS reads the variable only when
/// it loads, so it must be in the environment before the process starts. A value the user set is
/// always kept.
func selectBLASKernels() {
    let env = ProcessInfo.processInfo.environment
    guard env["OPENBLAS_CORETYPE"] == nil, env["MTL_KEEP_BLAS_CORE"] == nil,
          let cpuinfo = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
          let flagsLine = cpuinfo.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return }
    let flags = Set(flagsLine.split(separator: " ").map(String.init))
    guard let core = BLAS.betterCoreType(cpuFlags: flags) else { return }
    setenv("OPENBLAS_CORETYPE", core, 1)
    setenv("MTL_KEEP_BLAS_CORE", "1", 1)
    let args = CommandLine.unsafeArgv
    execv("/proc/self/exe", args)
    // exec failed: go on with the generic kernels.
}
