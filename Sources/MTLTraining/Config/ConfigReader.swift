import MTLCore
import Yams

/// Reads a YAML mapping key by key, remembering which keys were read, so that an unknown or
/// misspelt key is an error naming the key, its file and line, and the keys allowed there.
/// (Codable decoding would ignore unknown keys silently and lose the line numbers.)
struct ConfigReader {
    let file: String
    let path: String
    let node: Node
    private var used: Set<String> = []

    init(file: String, path: String, node: Node) throws {
        self.file = file
        self.path = path
        self.node = node
        guard node.mapping != nil else {
            throw UserError("\(Self.location(file, node)): '\(path.isEmpty ? "<top>" : path)' must be a mapping of keys to values",
                            hint: "write it as `key: value` lines indented under '\(path)'")
        }
    }

    static func location(_ file: String, _ node: Node?) -> String {
        if let line = node?.mark?.line { return "\(file):\(line)" }
        return file
    }

    private func key(_ k: String) -> String { path.isEmpty ? k : "\(path).\(k)" }

    private mutating func raw(_ k: String) -> Node? {
        used.insert(k)
        guard let value = node.mapping?[Node(k)] else { return nil }
        if case .scalar(let s) = value, s.style == .plain, ["~", "null", "Null", "NULL", ""].contains(s.string) {
            return nil
        }
        return value
    }

    /// Whether the mapping holds key `k` (without marking it read).
    func has(_ k: String) -> Bool { node.mapping?[Node(k)] != nil }

    /// The node of key `k`, for an error's line (nil when absent).
    func node(of k: String) -> Node? { node.mapping?[Node(k)] }

    func fail(_ k: String, _ node: Node?, _ what: String, hint: String? = nil) -> UserError {
        UserError("\(Self.location(file, node ?? self.node)): config key '\(key(k))' \(what)", hint: hint)
    }

    mutating func string(_ k: String) throws -> String? {
        guard let v = raw(k) else { return nil }
        guard let s = v.scalar?.string else { throw fail(k, v, "must be a single value, not a list or mapping") }
        return s
    }

    mutating func string(_ k: String, default d: String) throws -> String { try string(k) ?? d }

    /// One of an enumeration's values, by its config name; `allowed` narrows the choice.
    mutating func choice<E: RawRepresentable & CaseIterable>(_ k: String, default d: E, allowed: [E]? = nil) throws -> E where E.RawValue == String {
        guard let s = try string(k) else { return d }
        let options = allowed ?? Array(E.allCases)
        guard let e = E(rawValue: s), options.contains(where: { $0.rawValue == e.rawValue }) else {
            throw fail(k, node.mapping?[Node(k)], "is '\(s)', which is not one of: \(options.map(\.rawValue).joined(separator: ", "))")
        }
        return e
    }

    mutating func int(_ k: String) throws -> Int? {
        guard let v = raw(k) else { return nil }
        guard let s = v.scalar?.string, let i = Int(s) else { throw fail(k, v, "must be an integer") }
        return i
    }

    mutating func int(_ k: String, default d: Int, min: Int? = nil, max: Int? = nil) throws -> Int {
        let i = try int(k) ?? d
        if let m = min, i < m { throw fail(k, node.mapping?[Node(k)], "is \(i); it must be at least \(m)") }
        if let m = max, i > m { throw fail(k, node.mapping?[Node(k)], "is \(i); it must be at most \(m)") }
        return i
    }

    mutating func double(_ k: String) throws -> Double? {
        guard let v = raw(k) else { return nil }
        guard let s = v.scalar?.string, let d = Double(s), d.isFinite else { throw fail(k, v, "must be a number") }
        return d
    }

    mutating func double(_ k: String, default d: Double, range: ClosedRange<Double>? = nil) throws -> Double {
        let x = try double(k) ?? d
        if let r = range, !r.contains(x) {
            throw fail(k, node.mapping?[Node(k)], "is \(x); it must be between \(r.lowerBound) and \(r.upperBound)")
        }
        return x
    }

    mutating func bool(_ k: String, default d: Bool) throws -> Bool {
        guard let v = raw(k) else { return d }
        switch v.scalar?.string.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default: throw fail(k, v, "must be true or false")
        }
    }

    /// An optional boolean.
    mutating func bool(_ k: String) throws -> Bool? {
        guard raw(k) != nil else { return nil }
        return try bool(k, default: false)
    }

    /// Every key of this mapping with a single value (a name -> name table); all are read.
    mutating func stringMap() throws -> [String: String] {
        guard let m = node.mapping else { throw UserError("\(Self.location(file, node)): config key '\(path)' must be a mapping of names to names") }
        var out: [String: String] = [:]
        for (k, _) in m {
            guard let name = k.string, let v = try string(name) else { throw UserError("\(Self.location(file, k)): config key '\(path)' must map names to names") }
            out[name] = v
        }
        return out
    }

    /// Every key of this mapping with a list of names (one scalar counts as a list of one).
    mutating func listMap() throws -> [String: [String]] {
        guard let m = node.mapping else { throw UserError("\(Self.location(file, node)): config key '\(path)' must be a mapping of names to lists of names") }
        var out: [String: [String]] = [:]
        for (k, _) in m {
            guard let name = k.string, let v = try strings(name), !v.isEmpty else {
                throw UserError("\(Self.location(file, k)): config key '\(path)' must map names to lists of column names")
            }
            out[name] = v
        }
        return out
    }

    /// A list of scalars; a single scalar is taken as a list of one.
    mutating func strings(_ k: String) throws -> [String]? {
        guard let v = raw(k) else { return nil }
        if let s = v.scalar?.string { return [s] }
        guard let seq = v.sequence else { throw fail(k, v, "must be a list of values") }
        return try seq.map { item in
            guard let s = item.scalar?.string else { throw fail(k, item, "must list single values") }
            return s
        }
    }

    mutating func ints(_ k: String, max: Int = ConfigLimits.width) throws -> [Int]? {
        guard let list = try strings(k) else { return nil }
        return try list.map {
            guard let i = Int($0), i > 0 else { throw fail(k, node.mapping?[Node(k)], "must list positive integers; '\($0)' is not one") }
            guard i <= max else { throw fail(k, node.mapping?[Node(k)], "lists \(i); each must be at most \(max)") }
            return i
        }
    }

    mutating func child(_ k: String) throws -> ConfigReader? {
        guard let v = raw(k) else { return nil }
        return try ConfigReader(file: file, path: key(k), node: v)
    }

    mutating func children(_ k: String) throws -> [ConfigReader]? {
        guard let v = raw(k) else { return nil }
        guard let seq = v.sequence else { throw fail(k, v, "must be a list") }
        return try seq.enumerated().map { try ConfigReader(file: file, path: "\(key(k))[\($0.offset)]", node: $0.element) }
    }

    /// Edit distance (insertions, deletions, substitutions) between two keys, for "did you mean".
    static func distance(_ a: String, _ b: String) -> Int {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard !x.isEmpty, !y.isEmpty else { return max(x.count, y.count) }
        var row = Array(0...y.count)
        for i in 1...x.count {
            var previous = row[0]
            row[0] = i
            for j in 1...y.count {
                let kept = row[j]
                row[j] = min(row[j] + 1, row[j - 1] + 1, previous + (x[i - 1] == y[j - 1] ? 0 : 1))
                previous = kept
            }
        }
        return row[y.count]
    }

    /// Throws for the first key that was never read.
    func finish() throws {
        guard let m = node.mapping else { return }
        for (k, _) in m {
            let name = k.string ?? "?"
            if !used.contains(name) {
                let known = used.sorted().joined(separator: ", ")
                let near = used.map { ($0, Self.distance($0, name)) }.filter { $0.1 <= max(1, name.count / 3) }.min { $0.1 < $1.1 }
                throw UserError("\(Self.location(file, k)): unknown config key '\(key(name))'" + (near.map { "; did you mean '\($0.0)'?" } ?? ""),
                                hint: "known keys here: \(known); see README.md, section Configuration")
            }
        }
    }
}

/// Upper bounds of the config's sizes: far beyond any real use, they keep every product of
/// sizes the program forms (buffers, steps, seeds) inside 64-bit integers, so no value in a
/// config can make arithmetic trap. What a machine can hold is checked apart (`MemoryEstimate`).
public enum ConfigLimits {
    public static let width = 1 << 20
    public static let count = 1 << 12
    public static let batch = 1 << 24
    public static let epochs = 1_000_000
    public static let steps = 1 << 31
    public static let seed = 1 << 53
}
