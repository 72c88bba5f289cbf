import Dispatch

/// Data work (reading files, fitting and encoding features) split over a process's threads.
/// Each call splits its work into `parts` pieces decided by the caller's own arithmetic, runs them
/// on Dispatch's worker threads and returns their results in order, so the result never depends on
/// how many threads ran it.
public enum Parallel {
    /// The threads this process gives to data work; set once at start from `--threads` (or the
    /// host's cores divided by its ranks), before any other thread runs.
    nonisolated(unsafe) public static var threads: Int = 1

    /// `body(i)` for every `i` in `0..<count`, on up to `threads` threads; results in index
    /// order. The first error in index order is rethrown after every piece has finished.
    public static func map<T>(_ count: Int, threads: Int = Parallel.threads, _ body: (Int) throws -> T) throws -> [T] {
        guard count > 1 && threads > 1 else { return try (0..<max(count, 0)).map(body) }
        let workers = min(count, threads)
        var results = [Result<T, Error>?](repeating: nil, count: count)
        try withoutActuallyEscaping(body) { body in
            let box = Unchecked(body)
            results.withUnsafeMutableBufferPointer { out in
                let slots = Unchecked(out)
                DispatchQueue.concurrentPerform(iterations: workers) { w in
                    // Worker w takes pieces w, w + workers, ...: each slot is written by one worker.
                    for i in Swift.stride(from: w, to: count, by: workers) {
                        slots.value[i] = Result { try box.value(i) }
                    }
                }
            }
        }
        return try results.map { r in
            guard let r else { throw UserError("a piece of parallel work did not run", hint: "report this as a bug") }
            return try r.get()
        }
    }

    /// `0..<n` cut into at most `parts` contiguous ranges of nearly equal length (none empty).
    public static func ranges(_ n: Int, parts: Int) -> [Range<Int>] {
        let k = max(1, min(parts, n))
        guard n > 0 else { return [] }
        return (0..<k).map { i in (i * n / k)..<((i + 1) * n / k) }
    }

    /// `0..<costs.count` cut into at most `parts` contiguous ranges of nearly equal total cost
    /// (none empty): rows of very different sizes (long articles beside short sentences) then
    /// keep every thread busy.
    public static func ranges(costs: [Int], parts: Int) -> [Range<Int>] {
        let n = costs.count
        let k = max(1, min(parts, n))
        guard n > 0 else { return [] }
        guard k > 1 else { return [0..<n] }
        let total = costs.reduce(0) { $0 &+ max($1, 0) }
        var out: [Range<Int>] = []
        var start = 0, sum = 0
        for (i, c) in costs.enumerated() {
            let before = sum
            sum &+= max(c, 0)
            // Once row i reaches this piece's share, cut before or after it, whichever lands
            // nearer the share, leaving a row for every later piece.
            let piece = out.count + 1
            let share = Double(total) * Double(piece) / Double(k)
            guard piece < k && Double(sum) >= share else { continue }
            if i > start && share - Double(before) < Double(sum) - share && n - i >= k - piece {
                out.append(start..<i); start = i
            } else if i + 1 < n && n - (i + 1) >= k - piece {
                out.append(start..<(i + 1)); start = i + 1
            }
        }
        out.append(start..<n)
        return out
    }

    /// The pieces worth making for `work` units when one piece should hold at least `minimum`.
    public static func parts(_ work: Int, minimum: Int, threads: Int = Parallel.threads) -> Int {
        max(1, min(threads, work / max(minimum, 1)))
    }
}

/// Hands a value to Dispatch's workers where the caller guarantees they touch disjoint parts.
public struct Unchecked<T>: @unchecked Sendable {
    public var value: T
    public init(_ value: T) { self.value = value }
}
