import SystemPackage

/// Sizes and counts for the workloads. The defaults keep `logd bench` at
/// about a minute on a 2-core machine.
public struct BenchConfiguration: Sendable {
    /// Where the workloads make their temporary directories (nil: `$TMPDIR` or /tmp).
    public var directory: FilePath?
    /// Payload bytes appended (and read back) by the throughput workloads.
    public var bytes: Int = 256 << 20
    /// Overrides every workload's record size (value bytes), when set.
    public var recordBytes: Int?
    /// Overrides the batch size of the batched workloads, when set.
    public var batch: Int?
    /// Records appended by `append-100b-batch100-always` (one fdatasync a batch).
    public var syncedRecords: Int = 1_000_000
    /// Appending threads of `append-concurrent-always`.
    public var threads: Int = 64
    /// How long each side of `append-concurrent-always` runs.
    public var concurrentSeconds: Double = 2
    /// Reads of `read-random-1k`, and the size of its log.
    public var randomReads: Int = 200_000
    public var randomReadLogBytes: Int = 64 << 20
    /// Size of the log `reopen` and `peak-rss` write (their -10g variants use 10 GiB).
    public var largeBytes: Int = 1 << 30
    /// Rounds of the throughput workloads and their references, alternated;
    /// the best round of each is reported (the least disturbed by neighbours).
    public var rounds: Int = 2

    public init() {}

    func recordBytes(default value: Int) -> Int { recordBytes ?? value }
    func batch(default value: Int) -> Int { batch ?? value }
}

/// The workloads `logd bench` knows, by name.
public enum Workload: String, CaseIterable, Sendable {
    case append1kBatch100Never = "append-1k-batch100-never"
    case append100bSingleNever = "append-100b-single-never"
    case append100bBatch100Always = "append-100b-batch100-always"
    case readSequential1k = "read-sequential-1k"
    case readRandom1k = "read-random-1k"
    case appendConcurrentAlways = "append-concurrent-always"
    case appendConcurrentAlwaysTasks = "append-concurrent-always-tasks"
    case reopen = "reopen"
    case peakRSS = "peak-rss"
    case reopen10GiB = "reopen-10g"
    case peakRSS10GiB = "peak-rss-10g"
    case followLatency = "follow-latency"
    case followLatencyReader = "follow-latency-reader"
    case consumeCommit1k = "consume-commit-1k"
    case gzipAppendCDCJSON = "gzip-append-cdc-json"
    case compact1mKeys = "compact-1m-keys"

    /// Everything but the 10 GiB workloads.
    public static var defaults: [Workload] { allCases.filter { !$0.isLarge } }

    public var isLarge: Bool { self == .reopen10GiB || self == .peakRSS10GiB }
}
