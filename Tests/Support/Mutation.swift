import MTLCore

/// Seeded byte mutations for fuzzing readers of user input: flips, interesting tokens, cuts and
/// repeats (one to four edits per case).
public enum Mutation {
    public static let tokens: [[UInt8]] = ["1e155", "-1e39", "nan", "inf", "-1", "0", "9223372036854775807", "18446744073709551616",
                                    "\"", "\"\"", ",", "\n", "\r\n", "\t", ":", "?", "[]", "{", "}", "- ", "~", "&a", "*a", "!!",
                                    "\u{1F600}", "e\u{301}"].map { Array($0.utf8) } + [[0xFF], [0xC3], [0x00], [0xED, 0xA0, 0x80]]

    public static func mutate(_ input: [UInt8], _ rng: inout SplitMix64) -> [UInt8] {
        var b = input
        for _ in 0...(rng.nextInt(below: 4)) {
            guard !b.isEmpty else { b = tokens[rng.nextInt(below: tokens.count)]; continue }
            let at = rng.nextInt(below: b.count)
            switch rng.nextInt(below: 7) {
            case 0: b[at] ^= UInt8(1 << rng.nextInt(below: 8))
            case 1: b[at] = UInt8(truncatingIfNeeded: rng.next())
            case 2: b.insert(contentsOf: tokens[rng.nextInt(below: tokens.count)], at: at)
            case 3: b.removeSubrange(at..<min(b.count, at + 1 + rng.nextInt(below: 16)))
            case 4: b = Array(b.prefix(at))
            case 5: let end = min(b.count, at + 1 + rng.nextInt(below: 64)); b.insert(contentsOf: b[at..<end], at: at)
            default:
                let t = tokens[rng.nextInt(below: tokens.count)]
                b.replaceSubrange(at..<min(b.count, at + t.count), with: t)
            }
        }
        return b
    }
}
