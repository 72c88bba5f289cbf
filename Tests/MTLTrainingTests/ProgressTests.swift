import XCTest
@testable import MTLTraining

final class ProgressTests: XCTestCase {
    final class Clock: @unchecked Sendable { var t = 0.0 }

    /// The bar fits the terminal: at 80 columns (the usual, where the old 96-character bar wrapped
    /// on every redraw) and at 40; with room, every task's loss, a 30-character bar; always the
    /// epoch, samples/s, elapsed time and the time left for the epoch and the run.
    func testBarFitsTheWidthAndSaysWhatIsLeft() {
        let clock = Clock()
        let p = ProgressReporter(epochs: 3, tasks: ["income", "never_married", "male"], style: .bar(columns: 80), now: { clock.t }) { _ in }
        p.begin(epoch: 1)
        clock.t = 10
        // 50 of 100 samples in 10 s: 5/s, 10 s left in the epoch, and 2 more epochs of 20 s each.
        let losses = [0.3812, 0.4215, 0.5113]
        for columns in [40, 60, 80, 120, 200] {
            let line = p.line(done: 50, total: 100, losses: losses, at: clock.t, columns: columns)
            XCTAssertLessThanOrEqual(line.count, columns - 1, "\(columns): \(line)")
            XCTAssert(line.hasPrefix("epoch 1/3"), line)
            if columns >= 80 {
                XCTAssert(line.contains("5 samples/s") && line.contains("0:10, ETA 0:10 (run 0:50)"), line)
                XCTAssert(line.contains("loss income 0.3812") || line.contains("loss 0.381 0.421 0.511"), line)
            }
        }
        let wide = p.line(done: 50, total: 100, losses: losses, at: clock.t, columns: 200)
        XCTAssert(wide.contains("[" + String(repeating: "#", count: 15) + String(repeating: "-", count: 15) + "]"), wide)
        XCTAssert(wide.contains("male 0.5113"), wide)
        let narrow = p.line(done: 50, total: 100, losses: losses, at: clock.t, columns: 80)
        XCTAssertEqual(narrow, "epoch 1/3  50% 5 samples/s loss 0.381 0.421 0.511 0:10, ETA 0:10 (run 0:50)")
        // A task without labelled rows yet shows "-"; an unknown pace shows "?".
        XCTAssert(p.line(done: 0, total: 100, losses: [.nan, 1, 1], at: clock.t, columns: 200).contains("income - "))
        XCTAssert(p.line(done: 0, total: 100, losses: [1, 1, 1], at: clock.t, columns: 200).contains("ETA ? (run ?)"))
        // The second epoch's run estimate takes the first epoch's whole time (here 30 s).
        clock.t = 30
        p.begin(epoch: 2)
        clock.t = 40
        XCTAssert(p.line(done: 50, total: 100, losses: losses, at: clock.t, columns: 200).contains("ETA 0:10 (run 0:40)"))
    }

    /// Without a terminal: a plain line every `every` seconds inside an epoch, none at its end
    /// (the epoch's own summary line follows), resumed epochs counted from where they resumed.
    func testLogLinesComeEveryInterval() {
        let clock = Clock()
        var lines: [String] = []
        let p = ProgressReporter(epochs: 2, tasks: ["y"], style: .log(every: 30), now: { clock.t }) { lines.append($0) }
        p.begin(epoch: 1)
        p.starting(at: 40)
        for (t, done) in [(1.0, 50), (10, 60), (31, 70), (40, 80), (62, 90), (70, 100)] {
            clock.t = t
            p.update(done: done, total: 100, losses: [0.5])
        }
        XCTAssertEqual(lines.count, 2, "\(lines)")
        // `due` says when an update would write, so the trainer builds the losses only then.
        clock.t = 80
        XCTAssertFalse(p.due(done: 95, total: 100))
        clock.t = 93
        XCTAssertTrue(p.due(done: 95, total: 100))
        XCTAssertFalse(p.due(done: 100, total: 100), "the epoch's own line follows its end")
        XCTAssertFalse(ProgressReporter(epochs: 1, tasks: [], style: .none) { _ in }.due(done: 1, total: 2))
        XCTAssertEqual(lines.first, "epoch 1/2: 70% (70/100 samples), 1 samples/s, loss y 0.5, 0:31 elapsed, left: epoch 0:31, run 2:14")
    }
}
