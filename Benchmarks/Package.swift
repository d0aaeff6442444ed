// swift-tools-version: 6.1
// The ordo-one/benchmark suites, in a package of their own (as swift-nio
// does), so that an app adding LogStore never resolves a benchmark framework.
// Run from this folder: swift package benchmark --target LogStoreBenchmarks
import PackageDescription

let package = Package(
    name: "logd-benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "logd", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark.git", from: "1.29.0", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "LogStoreBenchmarks",
            dependencies: [
                .product(name: "LogStore", package: "logd"),
                .product(name: "LogBench", package: "logd"),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "LogStoreBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        )
    ],
    swiftLanguageModes: [.v6]
)
