import Logging
import SystemPackage

/// Where a consumer group starts when it has no committed offset, or when its
/// committed offset is no longer in the log (retention removed it, or the log
/// was truncated below it).
public enum OffsetResetPolicy: String, Sendable, CaseIterable {
    /// The oldest retained offset.
    case earliest
    /// The next offset: only records appended from now on.
    case latest
    /// Throw `.offsetOutOfRange`.
    case fail
}

/// Reads a log on behalf of a named consumer group and remembers, durably,
/// where the group got to.
///
/// Delivery is **at least once**: `commit()` stores the offset after the last
/// record handed out, so a consumer that crashes after processing records but
/// before committing sees them again; one that commits before processing could
/// lose them, so process first, then commit. One `Consumer` per group at a
/// time (across processes too: the group is locked while a consumer has it).
public final class Consumer: @unchecked Sendable {
    // @unchecked: `nextOffset` is guarded by `lock`; the rest is immutable.

    public let log: Log
    public let group: String
    public let resetPolicy: OffsetResetPolicy
    let offsets: GroupOffsetStore
    let logger: Logger
    private let lock = ConditionLock()
    private var nextOffset: Int64

    /// Where the groups of a log keep their offsets.
    static func groupsDirectory(of log: FilePath) -> FilePath { log.appending("groups") }

    /// Joins `group` on `log`, starting at its committed offset (or where
    /// `resetPolicy` says).
    /// - Throws: `.invalidArgument` for a bad group name, `.unavailable` when
    ///   another consumer has the group, `.offsetOutOfRange` under `.fail`.
    public init(
        log: Log, group: String, resetPolicy: OffsetResetPolicy = .earliest, logger: Logger = Logger(label: "logstore.consumer")
    ) throws {
        try LogNames.validate(group, what: "consumer group", maxBytes: LogNames.maxGroupBytes)
        self.log = log
        self.group = group
        self.resetPolicy = resetPolicy
        self.logger = logger
        offsets = try GroupOffsetStore(directory: Self.groupsDirectory(of: log.directory), group: group, exclusive: true)
        nextOffset = 0
        nextOffset = try startingOffset(after: offsets.committedOffset?.offset)
    }

    /// The committed offset if the log still holds it, else the reset policy's choice (logged).
    private func startingOffset(after committed: Int64?) throws -> Int64 {
        let lowest = log.lowestOffset
        let next = log.nextOffset
        let reason: String
        if let committed {
            if committed >= lowest && committed <= next { return committed }
            reason =
                committed < lowest
                ? "committed offset \(committed) is below the oldest retained offset \(lowest)"
                : "committed offset \(committed) is past the next offset \(next)"
        } else {
            reason = "no committed offset"
        }
        let target: Int64
        switch resetPolicy {
        case .earliest: target = lowest
        case .latest: target = next
        case .fail:
            throw LogStoreError(
                .offsetOutOfRange, "consumer group '\(group)': \(reason), and its reset policy is fail",
                path: log.directory.string,
                offset: committed)
        }
        if committed != nil {
            logger.warning(
                "consumer.offset_reset",
                metadata: [
                    "consumer.group": "\(group)", "consumer.reason": "\(reason)", "consumer.policy": "\(resetPolicy.rawValue)",
                    "consumer.offset": "\(target)",
                ])
        }
        return target
    }

    /// The offset of the next record `poll` returns.
    public var position: Int64 { lock.withLock { nextOffset } }

    /// The group's committed offset (the next record it wants); nil before its first commit.
    public var committedOffset: Int64? { offsets.committedOffset?.offset }

    /// Moves the position; the next `poll` reads from `offset`.
    public func seek(to offset: Int64) {
        lock.withLock { nextOffset = offset }
    }

    /// Hands up to `maxRecords` records (about `maxBytes` of batches at most)
    /// to `body` as views, without copying, and advances the position.
    /// - Returns: how many records `body` saw; 0 at the end of the log.
    @discardableResult
    public func poll(maxRecords: Int, maxBytes: Int = 1 << 20, _ body: (RecordView) throws -> Void) throws -> Int {
        guard maxRecords > 0 else { return 0 }
        // The lock is not held while `body` runs, so `body` may use the consumer.
        let start = try lock.withLock {
            if nextOffset < log.lowestOffset || nextOffset > log.nextOffset {
                // Retention (or a truncation) went past us while we were away.
                nextOffset = try startingOffset(after: nextOffset)
            }
            return nextOffset
        }
        var count = 0
        let end = try log.forEachRecord(from: start, maxBytes: maxBytes) { record in
            try body(record)
            count += 1
            return count < maxRecords
        }
        lock.withLock { nextOffset = end }
        return count
    }

    /// Up to `maxRecords` records from the position on; empty at the end of the log.
    public func poll(maxRecords: Int, maxBytes: Int = 1 << 20) throws -> [StoredRecord] {
        var records: [StoredRecord] = []
        try poll(maxRecords: maxRecords, maxBytes: maxBytes) { records.append($0.stored()) }
        return records
    }

    /// Durably commits the current position: the group resumes after the
    /// records handed out so far.
    public func commit() throws {
        try offsets.commit(position)
    }

    /// Commits the current position without waiting for it to be durable:
    /// its fdatasync runs in the background while the consumer goes on
    /// reading, and the next commit waits for it. A crash can lose only this
    /// last commit (the group then re-reads from the one before: at least
    /// once still holds). `waitUntilCommitted()` waits for it.
    public func commitInBackground() throws {
        try offsets.commit(position, durably: false)
    }

    /// Waits until every commit so far is durable.
    public func waitUntilCommitted() throws {
        try offsets.waitUntilDurable()
    }

    /// Durably commits `offset` as the next offset the group reads.
    /// - Throws: `.invalidArgument` when `offset` is negative or past the next offset.
    public func commit(_ offset: Int64) throws {
        guard offset >= 0, offset <= log.nextOffset else {
            throw LogStoreError(
                .invalidArgument,
                "cannot commit offset \(offset) for group '\(group)': the log's next offset is \(log.nextOffset)",
                path: log.directory.string, offset: offset)
        }
        try offsets.commit(offset)
    }

    /// Suspends until a record at the position exists; false when the log
    /// closed or the task was cancelled.
    public func waitForRecords() async -> Bool {
        await log.waitForRecord(at: position)
    }

    /// The records from the position on, following the log; the position
    /// advances as they are handed out. Nothing is committed by iterating.
    public func records(batchSize: Int = 1000) -> ConsumerRecords {
        ConsumerRecords(consumer: self, batchSize: batchSize)
    }
}

/// The records of a consumer, following its log. See `Consumer.records()`.
public struct ConsumerRecords: AsyncSequence, Sendable {
    public typealias Element = StoredRecord
    let consumer: Consumer
    let batchSize: Int

    public func makeAsyncIterator() -> Iterator { Iterator(consumer: consumer, batchSize: batchSize) }

    public struct Iterator: AsyncIteratorProtocol {
        let consumer: Consumer
        let batchSize: Int
        var pending: [StoredRecord] = []
        var pendingIndex = 0

        /// The next record; nil once the log closes or the task is cancelled.
        public mutating func next() async throws -> StoredRecord? {
            while true {
                if pendingIndex < pending.count {
                    defer { pendingIndex += 1 }
                    return pending[pendingIndex]
                }
                if Task.isCancelled { return nil }
                pending = try consumer.poll(maxRecords: batchSize)
                pendingIndex = 0
                if pending.isEmpty, await !consumer.waitForRecords() { return nil }
            }
        }
    }
}
