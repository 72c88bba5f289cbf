/// Path helpers for paths a user gives. Foundation's `deletingLastPathComponent` traps on a
/// one-character name without a folder ("-", "a", "a/"), so the folder of a path is taken here.
public enum Paths {
    /// The folder part of `path` ("" when there is none; "/" for a file at the root), with
    /// trailing slashes of the path ignored.
    public static func folder(of path: String) -> String {
        var p = Substring(path)
        while p.count > 1 && p.hasSuffix("/") { p = p.dropLast() }
        guard let slash = p.lastIndex(of: "/") else { return "" }
        if slash == p.startIndex { return "/" }
        var dir = p[..<slash]
        while dir.count > 1 && dir.hasSuffix("/") { dir = dir.dropLast() }
        return String(dir)
    }

    /// `path` resolved against the folder of `base` when it is relative.
    public static func resolve(_ path: String, againstFolderOf base: String) -> String {
        let dir = folder(of: base)
        if path.hasPrefix("/") || dir.isEmpty { return path }
        return dir == "/" ? "/" + path : dir + "/" + path
    }
}
