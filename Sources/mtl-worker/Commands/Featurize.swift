import ArgumentParser
import Foundation
import MTLCore
import MTLData
import MTLTraining

struct Featurize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Read a config's data, fit the preprocessing (vocabularies, TF-IDF, statistics) and encode every split; prints sizes and times as JSON.")
    @Option(help: "The run's YAML config.") var config: String
    @Option(help: "Times to repeat (the median time is printed too).") var repeats: Int = 1
    @OptionGroup var common: CommonOptions

    /// What `featurize` prints.
    struct Output: Encodable {
        struct Field: Encodable { var name: String; var kind: SparseFieldKind; var width: Int }
        var config: String
        var worldSize: Int
        var seconds: [Double]
        var medianSeconds: Double
        /// Median seconds of each stage: reading and parsing, fitting, encoding (rank 0's).
        var stageSeconds: LoadedData.Seconds
        /// The threads each rank read and featurized with.
        var threads: Int
        var rows: [String: Int]
        var sparseNonzeros: [String: Int]
        var sparseFields: [Field]
        var denseWidth: Int
        /// Per split, the CRC-32 of its encoded arrays (`EncodedSplit.checksum`), and of the fitted
        /// preprocessing's JSON: equal at any number of threads or ranks.
        var checksums: [String: UInt32]
        var columns: Preprocessor.ColumnRoles
        /// Per split, the bytes its stored arrays take (`EncodedSplit.storedBytes`).
        var storedBytes: [String: Int]
        /// The pieces the training file was read in (`data.chunk_mb`); 0: whole.
        var pieces: Int
        /// What `data.cache` did on the last repeat: none, read, written.
        var cache: LoadedData.CacheUse
        enum CodingKeys: String, CodingKey {
            case config, seconds, rows, columns
            case worldSize = "world_size", medianSeconds = "median_seconds", sparseNonzeros = "sparse_nonzeros"
            case sparseFields = "sparse_fields", denseWidth = "dense_width", stageSeconds = "stage_seconds", threads, checksums
            case storedBytes = "stored_bytes", pieces, cache
        }
    }

    private func stableHash32(_ s: String) -> UInt32 { UInt32(truncatingIfNeeded: stableHash(s) >> 32) }
    private func median(_ v: [Double]) -> Double { v.isEmpty ? 0 : v.sorted()[v.count / 2] }

    func validate() throws {
        if repeats < 1 || repeats > 1000 { throw ValidationError("--repeats must be between 1 and 1000") }
    }

    func run() throws {
        let cfg = try loadConfig(config)
        try withRuntime(common) { comm, _ in
            var seconds: [Double] = []
            var data: LoadedData?
            var stages: [LoadedData.Seconds] = []
            for _ in 0..<max(1, repeats) {
                try comm.barrier()
                let start = Date()
                data = try LoadedData.load(source: cfg.dataSource, comm: comm)
                try comm.barrier()
                seconds.append(Date().timeIntervalSince(start))
                if let d = data { stages.append(d.seconds) }
            }
            guard comm.isRoot, let d = data else { return }
            let splits = [d.train, d.validation, d.test].compactMap { $0 }
            print(try JSON.text(Output(
                config: config, worldSize: comm.size, seconds: seconds, medianSeconds: median(seconds),
                stageSeconds: LoadedData.Seconds(read: median(stages.map(\.read)), fit: median(stages.map(\.fit)), encode: median(stages.map(\.encode))),
                threads: Parallel.threads,
                rows: Dictionary(splits.map { ($0.name, $0.rows) }, uniquingKeysWith: { a, _ in a }),
                sparseNonzeros: Dictionary(splits.map { ($0.name, $0.sparse?.index.count ?? 0) }, uniquingKeysWith: { a, _ in a }),
                sparseFields: d.preprocessor.sparseFields.map { Output.Field(name: $0.name, kind: $0.kind, width: $0.width) },
                denseWidth: d.preprocessor.inputWidth,
                checksums: Dictionary(splits.map { ($0.name, $0.checksum) }, uniquingKeysWith: { a, _ in a })
                    .merging(["preprocessor": stableHash32(try d.preprocessor.json())]) { a, _ in a },
                columns: d.preprocessor.columnRoles,
                storedBytes: Dictionary(splits.map { ($0.name, $0.storedBytes) }, uniquingKeysWith: { a, _ in a }),
                pieces: d.pieces, cache: d.cache), pretty: true))
        }
    }
}
