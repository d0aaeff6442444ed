import SystemPackage

/// A segment as `stat` shows it.
public struct SegmentInfo: Sendable, Hashable {
    public var baseOffset: Int64
    /// One past the last offset in the segment.
    public var nextOffset: Int64
    public var recordCount: Int64 { nextOffset - baseOffset }
    /// Batches (store entries) in the segment.
    public var batchCount: Int
    /// Bytes of the `.store` file.
    public var storeBytes: Int64
    /// Bytes of index entries in use.
    public var indexBytes: Int64
    public var isActive: Bool
}

extension Log {
    /// The segments, oldest first, as of the last flush.
    public func segments() throws -> [SegmentInfo] {
        let snapshot = try snapshot(covering: nextOffset - 1)
        return snapshot.extents.enumerated().map { number, extent in
            SegmentInfo(
                baseOffset: extent.baseOffset, nextOffset: extent.nextOffset, batchCount: extent.indexCount,
                storeBytes: extent.storeSize, indexBytes: Int64(extent.indexCount * SegmentIndex.entrySize),
                isActive: number == snapshot.extents.count - 1)
        }
    }

    /// Deletes whole segments all of whose records are below `offset`
    /// (retention). The active segment is never deleted.
    /// - Returns: the number of segments deleted.
    @discardableResult
    public func deleteSegments(below offset: Int64) throws -> Int {
        writerLock.lock()
        defer { writerLock.unlock() }
        try checkWritableLocked()
        return try deleteOldestLocked(writer.sealed.prefix { $0.nextOffset <= offset }.count, reason: "below offset \(offset)")
    }

    /// Applies `options.retentionBytes` and `options.retentionMilliseconds`:
    /// deletes the oldest segments while the log is larger than the limit,
    /// and those whose newest record is older than `now - retention`. The
    /// active segment is never deleted. Also runs each time a segment rolls.
    /// - Returns: the number of segments deleted.
    @discardableResult
    public func applyRetention(now: Int64? = nil) throws -> Int {
        writerLock.lock()
        defer { writerLock.unlock() }
        try checkWritableLocked()
        return try applyRetentionLocked(now: now ?? currentTimeMillis())
    }

    func applyRetentionLocked(now: Int64) throws -> Int {
        var count = 0
        if let limit = options.retentionBytes {
            var total = writer.sealed.reduce(writer.buffer.endPosition) { $0 + $1.storeSize }
            for extent in writer.sealed where total > limit {
                total -= extent.storeSize
                count += 1
            }
        }
        if let limit = options.retentionMilliseconds {
            let expired = writer.sealed.prefix { extent in
                extent.indexCount > 0 && extent.segment.index.entry(extent.indexCount - 1).maxTimestamp < now - limit
            }.count
            count = max(count, expired)
        }
        return try deleteOldestLocked(count, reason: "retention")
    }

    /// Deletes the `count` oldest sealed segments. Readers first stop seeing
    /// them, then the files go: a reader already holding a segment keeps
    /// reading it through its open descriptors.
    private func deleteOldestLocked(_ count: Int, reason: String) throws -> Int {
        guard count > 0 else { return 0 }
        let doomed = writer.sealed.prefix(count)
        writer.sealed.removeFirst(count)
        publishLocked()
        for extent in doomed {
            // Oldest first, each removal durable before the next: removals
            // a power loss reorders would leave a hole between segments
            // (found by CrashStateTests). An index left alone is removed on open.
            try FileSystem.remove(extent.segment.store.path)
            try FileSystem.syncDirectory(directory)
            try FileSystem.remove(extent.segment.index.file.path)
        }
        try FileSystem.syncDirectory(directory)
        logger.info(
            "log.segments_deleted",
            metadata: [
                "log.directory": "\(directory)", "log.count": "\(count)", "log.reason": "\(reason)",
                "log.lowest_offset": "\(writer.sealed.first?.baseOffset ?? writer.active.baseOffset)",
            ])
        return count
    }

    /// The first offset whose record timestamp is at or after `timestamp`
    /// (ms since the epoch); nil when no record is that recent. Binary search
    /// on the indexes' running maximum timestamps, then one batch is read.
    public func offset(atOrAfter timestamp: Int64) throws -> Int64? {
        let snapshot = try snapshot(covering: nextOffset - 1)
        for extent in snapshot.extents where extent.indexCount > 0 {
            let index = extent.segment.index
            guard index.entry(extent.indexCount - 1).maxTimestamp >= timestamp,
                let entryNumber = index.search(timestamp: timestamp, count: extent.indexCount)
            else { continue }
            let batchBase = extent.baseOffset + Int64(index.entry(entryNumber).relativeOffset)
            var found: Int64?
            try forEachRecord(from: max(batchBase, snapshot.lowestOffset)) { record in
                if record.timestamp >= timestamp { found = record.offset }
                return found == nil
            }
            if let found { return found }
        }
        return nil
    }
}
