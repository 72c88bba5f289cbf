import Foundation
import XCTest
@testable import MTLTraining

enum Support {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures").path
    static let root = URL(fileURLWithPath: fixtures).deletingLastPathComponent().deletingLastPathComponent().path

    static func temporaryDirectory() -> String {
        let dir = NSTemporaryDirectory() + "mtl-tests-" + UUID().uuidString
        try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    static func write(_ text: String, to path: String) {
        try! text.write(toFile: path, atomically: true, encoding: .utf8)
    }

    static func fixtureConfig() throws -> RunConfig { try RunConfig.load(path: fixtures + "/mixed.yaml") }

    /// Asserts that `body` throws a UserError whose text contains every fragment.
    static func assertUserError(_ fragments: [String], file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> Void) {
        do {
            try body()
            XCTFail("expected an error mentioning \(fragments)", file: file, line: line)
        } catch let e as UserError {
            for f in fragments { XCTAssert(e.description.contains(f), "'\(e.description)' lacks '\(f)'", file: file, line: line) }
        } catch {
            XCTFail("unexpected error \(error)", file: file, line: line)
        }
    }
}
