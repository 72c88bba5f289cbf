// swift-tools-version:6.0
import PackageDescription

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
    ],
    targets: [
        // System libraries. MPI and BLAS come from the machine (Debian: libopenmpi-dev, libopenblas-dev).
        .systemLibrary(name: "CMPI", path: "Sources/CMPI", pkgConfig: "ompi-c",
                       providers: [.apt(["libopenmpi-dev", "openmpi-bin"])]),
        .systemLibrary(name: "CBLAS", path: "Sources/CBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CZlib", path: "Sources/CZlib", providers: [.apt(["zlib1g-dev"])]),

        // Tensors, BLAS, layers, losses, optimizers. No MPI, no I/O.
        .target(name: "MTLCore", dependencies: ["CBLAS"]),
        // The communicator protocol and its single-process implementation.
        .target(name: "MTLDistributed", dependencies: []),
        // The only module that imports MPI.
        .target(name: "MTLMPI", dependencies: ["CMPI", "MTLDistributed"]),
        // Config, data, models, trainer, metrics, checkpoints.
        .target(name: "MTLTraining", dependencies: [
            "MTLCore", "MTLDistributed", "CZlib",
            .product(name: "Yams", package: "Yams"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .executableTarget(name: "mtl-worker", dependencies: [
            "MTLTraining", "MTLMPI", "MTLDistributed", "MTLCore",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),

        .testTarget(name: "MTLCoreTests", dependencies: ["MTLCore"]),
        .testTarget(name: "MTLTrainingTests", dependencies: ["MTLTraining", "MTLCore", "MTLDistributed"]),
        .testTarget(name: "EndToEndTests", dependencies: ["MTLTraining"]),
    ],
    swiftLanguageModes: [.v5]
)
