import XCTest
final class MTLCoreTestsSmoke: XCTestCase { func testNothing() {} }
