/// When appended data is made durable with `fdatasync`.
public enum SyncPolicy: Sendable, Hashable, CustomStringConvertible {
    /// An append returns only once its records are on stable storage.
    /// Concurrent appenders share one `fdatasync` (group commit).
    case always
    /// A background thread syncs every `milliseconds`; a crash can lose the
    /// appends of the last interval.
    case interval(milliseconds: Int)
    /// Only `sync()`, segment rolls and `close()` sync; a crash can lose every
    /// append since.
    case never

    public var description: String {
        switch self {
        case .always: return "always"
        case .interval(let milliseconds): return "interval(\(milliseconds) ms)"
        case .never: return "never"
        }
    }
}

/// What happens to old records (`cleanup.policy`, as in Kafka).
public enum CleanupPolicy: String, Sendable, Hashable, CaseIterable {
    /// Old segments are deleted by retention (size, time).
    case delete
    /// Sealed segments are compacted: the latest record of each key is kept
    /// (`Log.compact`); retention limits, when set, still apply.
    case compact
}

/// How a log is laid out and written.
public struct LogOptions: Sendable {
    /// A segment rolls when its store would grow past this many bytes.
    public var maxSegmentBytes: Int64
    /// The preallocated size of an active segment's index (12 bytes a batch);
    /// a segment also rolls when its index is full.
    public var maxIndexBytes: Int
    public var syncPolicy: SyncPolicy
    /// Appends are gathered in a buffer of this size and written with one
    /// `pwrite` (readers and syncs flush it first).
    public var writeBufferBytes: Int
    /// Retention by size: when a segment rolls, the oldest segments are
    /// deleted while the log is larger than this. nil: no limit.
    public var retentionBytes: Int64?
    /// Retention by time: when a segment rolls, the oldest segments whose
    /// newest record is older than this are deleted. nil: no limit.
    public var retentionMilliseconds: Int64?
    /// How appended batches are compressed (default: not).
    public var compression: Compression = .none
    /// `.compact`: compaction also runs in the background after a segment rolls.
    public var cleanupPolicy: CleanupPolicy = .delete
    /// How long compaction keeps a tombstone (a record with a null value),
    /// counted from its timestamp, so that consumers catch up with the delete.
    /// Default one day, as Kafka's `delete.retention.ms`.
    public var deleteRetentionMilliseconds: Int64 = 86_400_000
    /// The largest record batch `appendRecordBatch` takes (a Kafka producer's;
    /// Kafka's `max.message.bytes`). nil: up to `Log.maxBatchBytes`.
    public var maxMessageBytes: Int?

    /// - Parameters:
    ///   - maxSegmentBytes: default 256 MiB.
    ///   - maxIndexBytes: default 10 MiB (524,288 batches a segment at 20 bytes an entry).
    ///   - syncPolicy: default `.always`: nothing acknowledged is lost.
    ///   - writeBufferBytes: default 1 MiB.
    public init(
        maxSegmentBytes: Int64 = 256 << 20, maxIndexBytes: Int = 10 << 20, syncPolicy: SyncPolicy = .always,
        writeBufferBytes: Int = 1 << 20, retentionBytes: Int64? = nil, retentionMilliseconds: Int64? = nil
    ) {
        self.retentionBytes = retentionBytes
        self.retentionMilliseconds = retentionMilliseconds
        self.maxSegmentBytes = maxSegmentBytes
        self.maxIndexBytes = maxIndexBytes
        self.syncPolicy = syncPolicy
        self.writeBufferBytes = writeBufferBytes
    }

    func validate() throws {
        guard maxSegmentBytes >= Int64(BatchLayout.headerSize) else {
            throw LogStoreError(
                .invalidArgument, "maxSegmentBytes must be at least \(BatchLayout.headerSize), got \(maxSegmentBytes)")
        }
        guard maxIndexBytes >= SegmentIndex.entrySize else {
            throw LogStoreError(
                .invalidArgument, "maxIndexBytes must be at least \(SegmentIndex.entrySize), got \(maxIndexBytes)")
        }
        guard writeBufferBytes >= 4096 else {
            throw LogStoreError(.invalidArgument, "writeBufferBytes must be at least 4096, got \(writeBufferBytes)")
        }
        if case .gzip(let level) = compression, !(1...9).contains(level) {
            throw LogStoreError(.invalidArgument, "gzip level must be 1...9, got \(level)")
        }
        guard deleteRetentionMilliseconds >= 0 else {
            throw LogStoreError(
                .invalidArgument, "deleteRetentionMilliseconds must be at least 0, got \(deleteRetentionMilliseconds)")
        }
        if case .interval(let milliseconds) = syncPolicy, milliseconds <= 0 {
            throw LogStoreError(.invalidArgument, "sync interval must be positive, got \(milliseconds) ms")
        }
    }
}
