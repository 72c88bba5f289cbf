import MTLCore

/// The start-up check of data-parallel training (as PyTorch DDP's): every rank must have built
/// the same run, or their collectives would not match and the job would hang or compute garbage.
public enum StartupAgreement {
    /// Gathers every rank's hash of what it built; throws, on every rank alike, when they differ.
    public static func verify(_ hash: UInt64, on comm: Communicator, what: String = "the config, data or model layout") throws {
        let hashes = try comm.allgather(hash)
        guard Set(hashes).count > 1 else { return }
        let groups = Dictionary(grouping: hashes.indices, by: { hashes[$0] }).values
            .map { $0.map(String.init).joined(separator: ",") }
        throw UserError("the ranks disagree on \(what) (ranks grouped by agreement: \(groups.joined(separator: " | ")))",
                        hint: "start every rank with the same binary, config file, flags and data files")
    }
}
