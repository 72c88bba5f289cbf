import Foundation
import XCTest

/// launch/run-resilient restarts a job that lost a rank on the ranks left (N to M): a rank of a
/// 3-rank run is killed after epoch 1; the script resumes it on 2 ranks, which must end bit for
/// bit where a resume of the same checkpoints on 2 ranks ends.
final class RestartTests: XCTestCase {
    func testRunResilientResumesOnTheRanksLeft() throws {
        let release = BinaryTests.root + "/.build/release/mtl-worker"
        let bin = FileManager.default.isExecutableFile(atPath: release) ? release : BinaryTests.binary
        let dir = NSTemporaryDirectory() + "mtl-restart-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let config = BinaryTests.root + "/configs/adult.yaml", out = dir + "/out"
        FileManager.default.createFile(atPath: dir + "/err", contents: nil)
        let err = try XCTUnwrap(FileHandle(forWritingAtPath: dir + "/err"))
        let p = Process()
        p.executableURL = URL(fileURLWithPath: BinaryTests.root + "/launch/run-resilient")
        p.arguments = ["-n", "3", "--config", config, "--output", out, "--epochs", "3"]
        var env = ProcessInfo.processInfo.environment
        env["BIN"] = bin
        env["RETRIES"] = "2"
        p.environment = env
        p.standardOutput = FileHandle.nullDevice
        p.standardError = err
        try p.run()
        let killer = DispatchWorkItem { if p.isRunning { p.terminate() } }
        DispatchQueue.global().asyncAfter(deadline: .now() + 600, execute: killer)
        defer { killer.cancel() }
        func log() -> String { (try? String(contentsOfFile: dir + "/err", encoding: .utf8)) ?? "" }
        let deadline = Date().addingTimeInterval(300)
        while !FileManager.default.fileExists(atPath: out + "/checkpoints/epoch-0001.safetensors") && p.isRunning && Date() < deadline { usleep(50_000) }
        let ranks = try FileManager.default.contentsOfDirectory(atPath: "/proc").compactMap(Int32.init).filter { pid in
            let cmd = (try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8)) ?? ""
            return cmd.hasPrefix(bin) && cmd.contains(out)
        }.sorted()
        XCTAssertEqual(ranks.count, 3, "three ranks running: \(log())")
        guard let victim = ranks.last, p.isRunning else { p.terminate(); return }
        kill(victim, SIGKILL)
        while !log().contains("run-resilient: the job lost a rank") && p.isRunning && Date() < deadline { usleep(50_000) }
        // The checkpoints as the loss left them (writes are atomic renames, so any copy is whole).
        let left = dir + "/left"
        try FileManager.default.copyItem(atPath: out, toPath: left)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0, log())
        XCTAssert(log().contains("resuming from the newest intact checkpoint on 2 rank(s)"), log())
        let q = try BinaryTests.execute(BinaryTests.root + "/launch/mpirun", ["-n", "2", bin, "train", "--config", config, "--output", left, "--epochs", "3", "--resume"])
        XCTAssertEqual(q.status, 0, q.stderr)
        let a = try TensorFile(path: out + "/checkpoints/epoch-0003.safetensors")
        let b = try TensorFile(path: left + "/checkpoints/epoch-0003.safetensors")
        XCTAssertFalse(a.order.isEmpty)
        XCTAssertEqual(a.order, b.order)
        XCTAssertEqual(a.bytes[a.dataStart...], b.bytes[b.dataStart...], "the restart on 2 ranks must equal a resume on 2 ranks")
        let summary = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/summary.json"))) as? [String: Any]
        XCTAssertEqual(summary?["world_size"] as? Int, 2)
        XCTAssertEqual(summary?["epochs"] as? Int, 3)
    }
}
