// swift-tools-version:6.0
import PackageDescription

// Modules by concern; each depends only on those above it:
//   MTLCore            tensors, BLAS/LAPACK, layers, losses, optimizers (no I/O, no MPI)
//   MTLDistributed     Communicator, single process, collective checks, GradientSynchronizer
//   MTLMPI             the only module importing MPI
//   MTLData            tables, text and sparse features, preprocessing, loaded data, sampling
//   MTLModels          the MultiTaskModel protocol and one file per architecture
//   MTLWeighting       the TaskWeighting protocols and one file per method
//   MTLTraining        config, trainer, run, checkpoints, evaluation and metrics
//   MTLInference       the inference engine (float, int8), model files, ONNX export
//   MTLServing         serve: the HTTP model server (Hummingbird, Prometheus metrics)
//   MTLCompare         compare, the relationship probe, advice, the HTML report
//   mtl-worker         the command line: composes the rest
let package = Package(
    name: "mtl-worker",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "mtl-worker", targets: ["mtl-worker"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.0.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.28.0"),
    ],
    targets: [
        // System libraries. MPI and BLAS come from the machine (Debian: libopenmpi-dev, libopenblas-dev).
        .systemLibrary(name: "CMPI", path: "Sources/CMPI", pkgConfig: "ompi-c",
                       providers: [.apt(["libopenmpi-dev", "openmpi-bin"])]),
        .systemLibrary(name: "CBLAS", path: "Sources/CBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CZlib", path: "Sources/CZlib", providers: [.apt(["zlib1g-dev"])]),
        // libdeflate: whole-buffer gzip inflation about twice zlib's speed (Debian: libdeflate-dev).
        .systemLibrary(name: "CDeflate", path: "Sources/CDeflate", pkgConfig: "libdeflate", providers: [.apt(["libdeflate-dev"])]),

        .target(name: "MTLCore", dependencies: ["CBLAS"]),
        .target(name: "MTLDistributed", dependencies: ["MTLCore"]),
        .target(name: "MTLMPI", dependencies: ["CMPI", "MTLDistributed"]),
        .target(name: "MTLData", dependencies: ["MTLCore", "MTLDistributed", "CZlib", "CDeflate"]),
        .target(name: "MTLModels", dependencies: ["MTLCore"]),
        .target(name: "MTLWeighting", dependencies: ["MTLCore"]),
        .target(name: "MTLTraining", dependencies: [
            "MTLCore", "MTLDistributed", "MTLData", "MTLModels", "MTLWeighting", "CZlib",
            .product(name: "Yams", package: "Yams"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // int8 SIMD kernels for inference (C: the instruction sets are chosen at run time).
        .target(name: "CKernels", path: "Sources/CKernels"),
        .target(name: "MTLInference", dependencies: [
            "MTLCore", "MTLData", "MTLModels", "MTLTraining", "CKernels",
            .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        ]),
        .target(name: "MTLServing", dependencies: [
            "MTLCore", "MTLData", "MTLTraining", "MTLInference",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "MTLCompare", dependencies: [
            "MTLCore", "MTLDistributed", "MTLData", "MTLModels", "MTLWeighting", "MTLTraining",
            .product(name: "Yams", package: "Yams"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .executableTarget(name: "mtl-worker", dependencies: [
            "MTLCore", "MTLDistributed", "MTLMPI", "MTLData", "MTLModels", "MTLWeighting", "MTLTraining", "MTLCompare", "MTLInference", "MTLServing",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),

        // Test helpers shared by the test targets: fixtures, temporary folders, gradient checks.
        .target(name: "MTLTestSupport", dependencies: ["MTLCore", "MTLDistributed", "MTLModels", "MTLTraining",
                                                        .product(name: "Logging", package: "swift-log")],
                path: "Tests/Support"),
        // A test target per module; EndToEndTests run the built binary.
        .testTarget(name: "MTLCoreTests", dependencies: ["MTLCore", "MTLTestSupport"]),
        .testTarget(name: "MTLDistributedTests", dependencies: ["MTLCore", "MTLDistributed"]),
        .testTarget(name: "MTLDataTests", dependencies: ["MTLCore", "MTLDistributed", "MTLData", "MTLTraining", "MTLTestSupport"]),
        .testTarget(name: "MTLModelsTests", dependencies: ["MTLCore", "MTLData", "MTLModels", "MTLTraining", "MTLTestSupport"]),
        .testTarget(name: "MTLWeightingTests", dependencies: ["MTLCore", "MTLWeighting"]),
        .testTarget(name: "MTLTrainingTests", dependencies: [
            "MTLCore", "MTLDistributed", "MTLData", "MTLModels", "MTLWeighting", "MTLTraining", "MTLTestSupport",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "MTLCompareTests", dependencies: [
            "MTLCore", "MTLDistributed", "MTLData", "MTLModels", "MTLWeighting", "MTLTraining", "MTLCompare", "MTLTestSupport",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "MTLInferenceTests", dependencies: [
            "MTLCore", "MTLData", "MTLModels", "MTLTraining", "MTLInference", "CKernels", "MTLTestSupport",
        ]),
        .testTarget(name: "MTLServingTests", dependencies: [
            "MTLCore", "MTLData", "MTLDistributed", "MTLTraining", "MTLInference", "MTLServing", "MTLTestSupport",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "EndToEndTests", dependencies: []),
    ],
    swiftLanguageModes: [.v6]
)
