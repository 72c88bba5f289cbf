import Foundation

/// Rank 0's view of an epoch: a redrawn progress bar (samples/s, loss, time left) when standard
/// error is a terminal, otherwise nothing until the epoch's plain summary line.
public final class ProgressReporter {
    public let interactive: Bool
    let epochs: Int
    var epoch = 0
    var lastDraw = Date.distantPast
    var smoothedLoss: Double?

    public init(epochs: Int, interactive: Bool = isatty(STDERR_FILENO) != 0) {
        self.epochs = epochs
        self.interactive = interactive
    }

    public func begin(epoch: Int) {
        self.epoch = epoch
        smoothedLoss = nil
        lastDraw = .distantPast
    }

    public func update(done: Int, total: Int, elapsed: Double, loss: Double) {
        smoothedLoss = smoothedLoss.map { 0.95 * $0 + 0.05 * loss } ?? loss
        guard interactive else { return }
        let now = Date()
        guard done == total || now.timeIntervalSince(lastDraw) > 0.2 else { return }
        lastDraw = now
        let width = 30
        let filled = total > 0 ? width * done / total : width
        let rate = elapsed > 0 ? Double(done) / elapsed : 0
        let left = rate > 0 ? Double(total - done) / rate : 0
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        let line = String(format: "\rEpoch %d/%d [%@] %d/%d  %.0f samples/s  loss %.4f  %@ left ",
                          epoch, epochs, bar, done, total, rate, smoothedLoss ?? 0, Self.clock(left))
        FileHandle.standardError.write(Data(line.utf8))
    }

    /// Ends the bar's line so the next output starts on a fresh one.
    public func end() {
        if interactive { FileHandle.standardError.write(Data("\n".utf8)) }
    }

    static func clock(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return String(format: "%d:%02d", s / 60, s % 60)
    }
}
