import XCTest
@testable import MTLTraining
import MTLCore
import MTLDistributed
import MTLData
import MTLModels
import MTLWeighting
import MTLTestSupport

final class MetricsTests: XCTestCase {
    func testROCAUCWithTiesByHand() {
        // Positives score 0.9, 0.5, 0.3; negatives 0.5, 0.1.
        // Pairs: (0.9 > 0.5, 0.9 > 0.1, 0.5 = 0.5 -> 1/2, 0.5 > 0.1, 0.3 < 0.5, 0.3 > 0.1) = 4.5 / 6
        let auc = Metrics.rocAUC(scores: [0.9, 0.5, 0.3, 0.5, 0.1], labels: [true, true, true, false, false])
        XCTAssertEqual(auc, 0.75, accuracy: 1e-12)
        XCTAssert(Metrics.rocAUC(scores: [0.1, 0.2], labels: [true, true]).isNaN)
    }

    func testAveragePrecisionByHand() {
        // Sorted: 0.9 (+), 0.8 (-), 0.7 (+), 0.1 (-): AP = 0.5 * 1 + 0.5 * 2/3
        let ap = Metrics.averagePrecision(scores: [0.1, 0.7, 0.9, 0.8], labels: [false, true, true, false])
        XCTAssertEqual(ap, 0.5 + 1.0 / 3, accuracy: 1e-12)
    }

    func testBinaryMetrics() {
        let m = Metrics.binary(probabilities: [0.9, 0.4, 0.6, 0.2], labels: [true, true, false, false])
        XCTAssertEqual(m[.accuracy]!, 0.5)
        XCTAssertEqual(m[.f1]!, 0.5)  // tp 1, fp 1, fn 1
        XCTAssertEqual(m[.logLoss]!, -(log(0.9) + log(0.4) + log(0.4) + log(0.8)) / 4, accuracy: 1e-12)
    }

    func testMulticlassMacroF1() {
        let probs: [[Double]] = [[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.3, 0.3, 0.4], [0.6, 0.3, 0.1]]
        let m = Metrics.multiclass(probabilities: probs, labels: [0, 1, 1, 2], classes: 3)
        // predicted 0, 1, 2, 0: class 0 f1 = 2/3, class 1 = 2/3, class 2 = 0
        XCTAssertEqual(m[.accuracy]!, 0.5)
        XCTAssertEqual(m[.f1]!, (2.0 / 3 + 2.0 / 3 + 0) / 3, accuracy: 1e-12)
    }

    func testRegressionMetrics() {
        let m = Metrics.regression(predictions: [1, 2, 4], targets: [1, 3, 5])
        XCTAssertEqual(m[.rmse]!, (2.0 / 3).squareRoot(), accuracy: 1e-12)
        XCTAssertEqual(m[.mae]!, 2.0 / 3, accuracy: 1e-12)
        // mean 3, total sum of squares 8, squared error 2
        XCTAssertEqual(m[.r2]!, 0.75, accuracy: 1e-12)
    }

    func testMeanOverTasks() {
        let m: [String: MetricValues] = ["a": MetricValues([.rocAUC: 0.8]), "b": MetricValues([.rocAUC: 0.6, .rmse: 2])]
        XCTAssertEqual(MetricSelector("mean.roc_auc", tasks: ["a", "b"])?.value(in: m) ?? .nan, 0.7, accuracy: 1e-12)
        XCTAssertEqual(MetricSelector("b.rmse", tasks: ["a", "b"])?.value(in: m), 2)
        // Every reported metric but the threshold and the row count can choose the best epoch.
        XCTAssertEqual(MetricSelector("mean.micro_f1", tasks: ["a"]), MetricSelector(scope: .mean, metric: .microF1))
        XCTAssertNil(MetricSelector("mean.labelled", tasks: ["a"]))
        XCTAssertNil(MetricSelector("c.roc_auc", tasks: ["a", "b"]))
    }
}
