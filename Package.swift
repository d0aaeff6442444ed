// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "logd",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "LogStore", targets: ["LogStore"]),
        // Postgres change capture into a log (`PostgresIngester`), the library behind `logd ingest postgres`.
        .library(name: "PostgresCDC", targets: ["PostgresCDC"]),
        // Workloads of `logd bench`, shared with the benchmark suites in Benchmarks/ (their own package).
        .library(name: "LogBench", targets: ["LogBench"]),
        // The Kafka wire protocol: requests, responses and their versions (no sockets, no LogStore).
        .library(name: "KafkaProtocol", targets: ["KafkaProtocol"]),
        .executable(name: "logd", targets: ["logd"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-system.git", from: "1.4.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.81.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.29.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.0.0"..<"5.0.0"),
    ],
    targets: [
        // CRC-32C (Castagnoli) with the SSE4.2 / ARMv8 CRC instruction when the CPU has it.
        .target(name: "CCRC32C"),
        // The system zlib, for gzip-compressed record batches (codec 1).
        .systemLibrary(name: "CZlib", path: "Sources/CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        // The system snappy (codec 2), lz4 frame API (codec 3) and zstd (codec 4), for reading batches Kafka producers compressed.
        // No pkgConfig for snappy: Debian's libsnappy-dev ships a .pc file only from 1.1.9 on.
        .systemLibrary(name: "CSnappy", path: "Sources/CSnappy", providers: [.apt(["libsnappy-dev"])]),
        .systemLibrary(name: "CLZ4", path: "Sources/CLZ4", pkgConfig: "liblz4", providers: [.apt(["liblz4-dev"])]),
        .systemLibrary(name: "CZstd", path: "Sources/CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        .target(
            name: "LogStore",
            dependencies: [
                "CCRC32C",
                "CZlib",
                "CSnappy",
                "CLZ4",
                "CZstd",
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "LogBench",
            dependencies: [
                "LogStore",
                .product(name: "SystemPackage", package: "swift-system"),
            ]
        ),
        .executableTarget(
            name: "logd",
            dependencies: [
                "LogStore",
                "LogBench",
                "PostgresCDC",
                "KafkaServer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // `offPool`: blocking test bodies on threads of their own, for every test target (they share one process).
        .target(name: "AsyncTestSupport", path: "Tests/AsyncTestSupport"),
        // The codec libraries too: CodecTests compresses batches as producers do.
        // The crash-state explorer: records a workload's file operations and builds what a power loss could leave.
        .target(
            name: "CrashStateSupport",
            dependencies: ["LogStore", .product(name: "SystemPackage", package: "swift-system")],
            path: "Tests/CrashStateSupport"
        ),
        .testTarget(
            name: "LogStoreTests",
            dependencies: ["LogStore", "AsyncTestSupport", "CrashStateSupport", "CSnappy", "CLZ4", "CZstd"]),
        .testTarget(name: "logdTests", dependencies: ["LogStore", "logd", "PostgresTestSupport", "AsyncTestSupport"]),
        // pgoutput decoding and the change-record format of `logd ingest postgres` (network-free part).
        // The replication connection (SwiftNIO) lives here too; LogStore stays NIO-free.
        .target(
            name: "PostgresCDC",
            dependencies: [
                "LogStore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Kafka requests and responses on ByteBuffer: the codec of `logd serve`, fuzzable on bytes.
        .target(name: "KafkaProtocol", dependencies: [.product(name: "NIOCore", package: "swift-nio")]),
        // LogStore only for the seeded generator of the fuzz tests.
        // `logd serve`: the Kafka protocol over the logs of a data directory, on SwiftNIO.
        .target(
            name: "KafkaServer",
            dependencies: [
                "KafkaProtocol",
                "LogStore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "SystemPackage", package: "swift-system"),
            ]
        ),
        .testTarget(name: "KafkaProtocolTests", dependencies: ["KafkaProtocol", "LogStore"]),
        .testTarget(name: "KafkaServerTests", dependencies: ["KafkaServer", "KafkaProtocol", "LogStore"]),
        // A throwaway Postgres 15 for the tests of both PostgresCDC and the logd binary.
        .target(name: "PostgresTestSupport", dependencies: ["PostgresCDC", "LogStore"], path: "Tests/PostgresTestSupport"),
        .testTarget(
            name: "PostgresCDCTests",
            dependencies: ["PostgresCDC", "LogStore", "PostgresTestSupport", "AsyncTestSupport", "CrashStateSupport"]),
    ],
    swiftLanguageModes: [.v6]
)
