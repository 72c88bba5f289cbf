import Foundation
import MTLCore

/// The encoded splits of a run and the preprocessing fitted on its training split.
public struct LoadedData {
    public var preprocessor: Preprocessor
    public var train: EncodedSplit
    public var validation: EncodedSplit?
    public var test: EncodedSplit?
    /// Rows dropped under `bad_rows: skip`, per file.
    public var skipped: [(file: String, count: Int, firstLine: Int, reason: String)]

    /// Reads the config's files, splits them, fits the preprocessing on the training split (or
    /// uses `preprocessor`, from a checkpoint) and encodes every split. Every rank does the same
    /// work in the same order, so all ranks end with identical data.
    public static func load(config: RunConfig, preprocessor given: Preprocessor? = nil) throws -> LoadedData {
        let d = config.data
        let format = TextTable.Format(separator: config.separatorByte, header: d.header, columns: d.columns,
                                      comment: d.comment, trim: d.trim, skipBadRows: d.badRows == "skip")
        var skipped: [(String, Int, Int, String)] = []
        func read(_ path: String) throws -> TextTable {
            let t = try TextTable.read(path: config.resolve(path), format: format)
            if let first = t.skippedRows.first { skipped.append((t.file, t.skippedRows.count, first.line, first.reason)) }
            return t
        }
        var train = try read(d.train)
        guard train.rowCount > 0 else { throw UserError("\(train.file): the training file has no rows") }
        var validation = try d.validation.map(read)
        var test = try d.test.map(read)
        for t in [validation, test].compactMap({ $0 }) where t.columnNames != train.columnNames {
            throw UserError("\(t.file): columns \(t.columnNames) differ from the training file's \(train.columnNames)",
                            hint: "every split must have the same columns in the same order")
        }
        if d.testHeadAsValidation > 0, let t = test {
            // The first part of the test file, in file order, validates; the rest tests.
            let n = Int((Double(t.rowCount) * d.testHeadAsValidation).rounded())
            validation = t.subset(Array(0..<n))
            test = t.subset(Array(n..<t.rowCount))
        }
        if d.validationFraction > 0 || d.testFraction > 0 {
            let n = train.rowCount
            let order = seededPermutation(n, seed: SplitMix64.mix(d.splitSeed ^ 0x5EED_5A17))
            let nTest = Int((Double(n) * d.testFraction).rounded())
            let nValidation = Int((Double(n) * d.validationFraction).rounded())
            guard n - nTest - nValidation > 0 else { throw UserError("\(train.file): no training rows are left after the split fractions") }
            if nTest > 0 { test = train.subset(Array(order[0..<nTest]).sorted()) }
            if nValidation > 0 { validation = train.subset(Array(order[nTest..<(nTest + nValidation)]).sorted()) }
            train = train.subset(Array(order[(nTest + nValidation)...]).sorted())
        }
        let preprocessor = try given ?? Preprocessor.fit(config: config, train: train)
        return LoadedData(preprocessor: preprocessor,
                          train: try preprocessor.encode(train, split: "train"),
                          validation: try validation.map { try preprocessor.encode($0, split: "validation") },
                          test: try test.map { try preprocessor.encode($0, split: "test") },
                          skipped: skipped)
    }
}
