import XCTest
final class MTLTrainingTestsSmoke: XCTestCase { func testNothing() {} }
