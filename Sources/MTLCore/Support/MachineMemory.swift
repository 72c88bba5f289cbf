#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What this machine can hold, to refuse a size before allocating it rather than fail in the
/// middle of a run (or be killed by the kernel).
public enum MachineMemory {
    /// Physical memory in bytes (0 when the system does not say).
    public static var physicalBytes: Double {
        let pages = sysconf(Int32(_SC_PHYS_PAGES)), size = sysconf(Int32(_SC_PAGESIZE))
        return pages > 0 && size > 0 ? Double(pages) * Double(size) : 0
    }

    /// Throws when `bytes` would take more than 80 % of physical memory, with `what` and the
    /// breakdown in the message.
    public static func check(_ bytes: Double, what: String, breakdown: String, hint: String) throws {
        let physical = physicalBytes
        guard physical > 0, bytes > 0.8 * physical else { return }
        func gib(_ b: Double) -> String { "\((b / 1_073_741_824 * 10).rounded() / 10) GiB" }
        throw UserError("\(what) would need about \(gib(bytes)) (\(breakdown)); this machine has \(gib(physical))", hint: hint)
    }
}
