import XCTest
final class MTLTrainingTestsPlaceholder: XCTestCase {}
