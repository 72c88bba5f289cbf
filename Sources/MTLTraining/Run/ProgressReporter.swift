import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// How rank 0 shows progress inside an epoch (`train --progress`).
public enum ProgressMode: String, CaseIterable, Sendable {
    /// `bar` when standard error is a terminal (also under mpirun: see `Terminal`), else `log`.
    case auto
    /// A bar redrawn in place, fitted to the terminal's width.
    case bar
    /// A plain line every `--progress-every` seconds (for files, pipes and batch logs).
    case log
    /// Nothing inside an epoch (the epoch's summary line still comes).
    case none
}

/// The terminal standard error ends up on, if any. Under mpirun rank 0's standard error is a pipe
/// to mpirun, which copies it to its own; when mpirun (the parent process) writes to a terminal,
/// so does rank 0, in effect.
public enum Terminal {
    /// The device path of the terminal on standard error, this process's or its parent's (the
    /// launcher's), or nil.
    public static func standardErrorDevice() -> String? {
        if isatty(STDERR_FILENO) != 0 { return "/dev/stderr" }
        guard let stat = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 1, let parent = Int(fields[1]), parent > 1 else { return nil }
        let target = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(parent)/fd/2")) ?? ""
        return target.hasPrefix("/dev/pts/") || target.hasPrefix("/dev/tty") ? target : nil
    }

    /// The width in columns of that terminal (COLUMNS, else 80, when it cannot be asked).
    public static func columns(of device: String?) -> Int {
        var size = winsize()
        if let d = device {
            let fd = d == "/dev/stderr" ? STDERR_FILENO : open(d, O_RDONLY | O_NOCTTY)
            if fd >= 0 {
                let ok = ioctl(fd, UInt(TIOCGWINSZ), &size) == 0
                if fd != STDERR_FILENO { _ = Glibc.close(fd) }
                if ok && size.ws_col >= 20 { return Int(size.ws_col) }
            }
        }
        if let c = ProcessInfo.processInfo.environment["COLUMNS"].flatMap(Int.init), c >= 20 { return c }
        return 80
    }
}

/// Rank 0's view of the run inside an epoch: per-task running loss (of rank 0's shard), samples/s,
/// elapsed time and the time left for the epoch and for the run, as a bar redrawn in place on a
/// terminal or as a plain line every few seconds elsewhere.
public final class ProgressReporter {
    public enum Style { case bar(columns: Int), log(every: Double), none }
    public let style: Style
    let epochs: Int
    let tasks: [String]
    let emit: (String) -> Void
    var epoch = 0
    var lastDraw = -Double.infinity
    /// This invocation's start, and the seconds of the last whole epoch (training and evaluation).
    let started: Double
    var epochStarted: Double
    var lastEpochSeconds: Double?
    var drawn = false
    /// Samples of the epoch done before this invocation (a resumed epoch).
    var baseDone = 0

    /// `emit` writes a log line (the `log` style); `now` is the clock, in seconds.
    public init(epochs: Int, tasks: [String], style: Style, now: @escaping () -> Double = ProgressReporter.monotonic,
                emit: @escaping (String) -> Void) {
        self.epochs = epochs
        self.tasks = tasks
        self.style = style
        self.now = now
        self.emit = emit
        started = now()
        epochStarted = started
    }

    let now: () -> Double

    public static func monotonic() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
    }

    /// The style `mode` gives here: `auto` decides by whether standard error reaches a terminal.
    public static func style(_ mode: ProgressMode, every: Double) -> Style {
        switch mode {
        case .none: return .none
        case .log: return .log(every: every)
        case .bar: return .bar(columns: Terminal.columns(of: Terminal.standardErrorDevice()))
        case .auto:
            guard let device = Terminal.standardErrorDevice() else { return .log(every: every) }
            return .bar(columns: Terminal.columns(of: device))
        }
    }

    public func begin(epoch: Int) {
        let t = now()
        if self.epoch > 0 { lastEpochSeconds = t - epochStarted }
        self.epoch = epoch
        epochStarted = t
        lastDraw = -Double.infinity
        baseDone = 0
    }

    /// The epoch starts with `done` samples already trained (resumed from a mid-epoch checkpoint).
    public func starting(at done: Int) { baseDone = done }

    /// Whether an `update` now would draw or write (so the caller builds the losses only then).
    public func due(done: Int, total: Int) -> Bool {
        switch style {
        case .none: return false
        case .bar: return done == total || now() - lastDraw >= 0.2
        case .log(let every): return lastDraw == -Double.infinity || (done < total && now() - lastDraw >= every)
        }
    }

    /// After a step: `done` of `total` samples of the epoch, `losses` the running mean loss per
    /// task (NaN: no labelled row yet).
    public func update(done: Int, total: Int, losses: [Double]) {
        let t = now()
        switch style {
        case .none: return
        case .bar(let columns):
            guard done == total || t - lastDraw >= 0.2 else { return }
            lastDraw = t
            FileHandle.standardError.write(Data(("\r" + line(done: done, total: total, losses: losses, at: t, columns: columns) + "\u{1B}[K").utf8))
            drawn = true
        case .log(let every):
            if lastDraw == -Double.infinity { lastDraw = t; return }   // the first line after `every` seconds
            guard t - lastDraw >= every, done < total else { return }
            lastDraw = t
            emit(line(done: done, total: total, losses: losses, at: t, columns: nil))
        }
    }

    /// Ends the bar's line so the next output starts on a fresh one.
    public func end() {
        if case .bar = style, drawn { FileHandle.standardError.write(Data("\n".utf8)); drawn = false }
    }

    /// The progress line; with `columns`, fitted to them (the per-task losses go first, then the
    /// bar narrows, down to none).
    func line(done: Int, total: Int, losses: [Double], at t: Double, columns: Int?) -> String {
        let elapsedEpoch = t - epochStarted, elapsedRun = t - started
        let fraction = total > 0 ? Double(done) / Double(total) : 1
        let rate = elapsedEpoch > 0 ? Double(done - baseDone) / elapsedEpoch : 0
        let epochLeft = rate > 0 ? Double(total - done) / rate : .nan
        // The epochs after this one take what the last whole one took (or this one's pace).
        let perEpoch = lastEpochSeconds ?? (rate > 0 ? Double(total) / rate : .nan)
        let runLeft = epochLeft + Double(max(0, epochs - epoch)) * perEpoch
        let head = "epoch \(epoch)/\(epochs)"
        let pct = String(format: "%3d%%", Int((fraction * 100).rounded(.down)))
        let speed = "\(Self.count(rate)) samples/s"
        let times = "\(Self.clock(elapsedRun)), ETA \(Self.clock(epochLeft)) (run \(Self.clock(runLeft)))"
        func named(_ cut: Int) -> [String] {
            zip(tasks, losses).map { (name: String, loss: Double) -> String in
                let label: String = name.count > cut ? String(name.prefix(cut - 1)) + "…" : name
                let value: String = loss.isFinite ? String(format: "%.4g", loss) : "-"
                return label + " " + value
            }
        }
        guard let columns else {
            let share = pct.trimmingCharacters(in: .whitespaces)
            let loss = named(Int.max).joined(separator: " ")
            let left = "\(Self.clock(elapsedRun)) elapsed, left: epoch \(Self.clock(epochLeft)), run \(Self.clock(runLeft))"
            return "\(head): \(share) (\(done)/\(total) samples), \(speed), loss \(loss), \(left)"
        }
        let room = columns - 1
        func compose(_ barWidth: Int, _ loss: String) -> String {
            var parts = [head]
            if barWidth > 0 {
                let filled = min(barWidth, Int((fraction * Double(barWidth)).rounded(.down)))
                parts.append("[" + String(repeating: "#", count: filled) + String(repeating: "-", count: barWidth - filled) + "]")
            }
            parts += [pct, speed]
            if !loss.isEmpty { parts.append(loss) }
            parts.append(times)
            return parts.joined(separator: " ")
        }
        // Every task's loss under its full name, then under names cut to 8 characters, then
        // the values alone (in the config's order of tasks), then fewer tasks; a bar of up to 30
        // in what is left (none under 10); last, the line cut short.
        var choices: [String] = [named(Int.max), named(8)].map { "loss " + $0.joined(separator: " ") }
        choices.append("loss " + losses.map { $0.isFinite ? String(format: "%.3g", $0) : "-" }.joined(separator: " "))
        for keep in stride(from: tasks.count - 1, through: 1, by: -1) {
            choices.append("loss " + named(8).prefix(keep).joined(separator: " ") + " …")
        }
        for loss in choices {
            let bare = compose(0, loss)
            guard bare.count <= room else { continue }
            let spare = room - bare.count - 3
            return spare >= 10 ? compose(min(30, spare), loss) : bare
        }
        let bare = compose(0, "")
        return bare.count <= room ? bare : String(bare.prefix(room))
    }

    static func clock(_ seconds: Double) -> String {
        guard seconds.isFinite, seconds >= 0 else { return "?" }
        let s = Int(seconds.rounded())
        return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String(format: "%d:%02d", s / 60, s % 60)
    }

    static func count(_ x: Double) -> String {
        x >= 1e6 ? String(format: "%.1fM", x / 1e6) : x >= 1e3 ? String(format: "%.1fk", x / 1e3) : String(format: "%.0f", x)
    }
}
