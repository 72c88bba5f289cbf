import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Writes files so that a reader sees the old file or the complete new one, never a part:
/// write a temporary file in the same folder, fsync it, rename it over the target, fsync the folder.
public enum AtomicFile {
    public static func write(_ path: String, parts: [UnsafeRawBufferPointer]) throws {
        let dir = Paths.folder(of: path)
        let tmp = "\(path).tmp-\(getpid())"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw posixError("cannot create '\(tmp)'") }
        var ok = false
        defer { if !ok { close(fd); unlink(tmp) } }
        for part in parts {
            var offset = 0
            while offset < part.count {
                let n = Glibc.write(fd, part.baseAddress! + offset, part.count - offset)
                if n < 0 { if errno == EINTR { continue }; throw posixError("cannot write '\(tmp)'") }
                offset += n
            }
        }
        guard fsync(fd) == 0 else { throw posixError("cannot fsync '\(tmp)'") }
        guard close(fd) == 0 else { throw posixError("cannot close '\(tmp)'") }
        ok = true
        guard rename(tmp, path) == 0 else { unlink(tmp); throw posixError("cannot rename '\(tmp)' to '\(path)'") }
        let dfd = open(dir.isEmpty ? "." : dir, O_RDONLY)
        if dfd >= 0 { _ = fsync(dfd); close(dfd) }
    }

    public static func write(_ path: String, data: Data) throws {
        try data.withUnsafeBytes { try write(path, parts: [$0]) }
    }

    public static func write(_ path: String, text: String) throws {
        try write(path, data: Data(text.utf8))
    }

    /// mkdir -p, with the system's reason when it fails.
    public static func makeDirectories(_ path: String) throws {
        var current = path.hasPrefix("/") ? "" : "."
        for part in path.split(separator: "/") {
            current += "/" + part
            var st = stat()
            if stat(current, &st) == 0 {
                guard (st.st_mode & S_IFMT) == S_IFDIR else {
                    throw UserError("cannot create output folder '\(path)': '\(current)' is a file", hint: "choose another --output")
                }
                continue
            }
            if mkdir(current, 0o755) != 0 && errno != EEXIST {
                throw UserError("cannot create output folder '\(path)': \(String(cString: strerror(errno)))",
                                hint: "check --output and the permissions of its parent folders")
            }
        }
    }

    /// Removes the temporary files (`<name>.tmp-<pid>`) that a process which is no longer running
    /// left in `dir` when it was stopped in the middle of a write.
    public static func removeStaleTemporaries(in dir: String) {
        for name in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] {
            guard let r = name.range(of: ".tmp-", options: .backwards), let pid = Int32(name[r.upperBound...]) else { continue }
            if pid == getpid() || kill(pid, 0) == 0 { continue }
            unlink((dir as NSString).appendingPathComponent(name))
        }
    }

    static func posixError(_ what: String) -> UserError {
        UserError("\(what): \(String(cString: strerror(errno)))", hint: "check the output folder's permissions and free space")
    }
}
