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
            try FileSystem.remove(extent.segment.store.path)
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

    /// Removes every record at and after `offset`, durably, so that the next
    /// append gets `offset`. Cuts inside a batch by rewriting the records
    /// before `offset` as a new batch. Used to drop a partly written unit of
    /// work (exactly-once ingestion).
    /// - Throws: `.offsetOutOfRange` when `offset` is below the oldest
    ///   retained offset or past the next one.
    public func truncate(from offset: Int64) throws {
        writerLock.lock()
        defer { writerLock.unlock() }
        try checkWritableLocked()
        while writer.syncInProgress { writerLock.wait() }
        let lowest = writer.sealed.first?.baseOffset ?? writer.active.baseOffset
        guard offset >= lowest, offset <= writer.nextOffset else {
            throw outOfRange(offset, snapshot())
        }
        guard offset < writer.nextOffset else { return }
        do {
            try flushLocked()
            // Drop whole segments after the one holding `offset`.
            var extents = writer.sealed
            extents.append(
                SegmentExtent(
                    segment: writer.active, storeSize: writer.flushedSize, indexCount: writer.active.index.count,
                    nextOffset: writer.nextOffset))
            let keep = Self.segmentNumber(containing: offset, in: extents)
            let target = extents[keep]
            var kept: [Record] = []
            var cutPosition: Int64 = 0
            var cutEntry = 0
            if let entryNumber = target.segment.index.search(
                relativeOffset: UInt32(offset - target.baseOffset), count: target.indexCount)
            {
                let entry = target.segment.index.entry(entryNumber)
                cutPosition = entry.position
                cutEntry = entryNumber
                let batchBase = target.baseOffset + Int64(entry.relativeOffset)
                if batchBase < offset {
                    // Keep the records of this batch that come before `offset`.
                    writer.flushedNextOffset = writer.nextOffset
                    publishLocked()
                    try forEachRecord(from: batchBase, maxBytes: 1) { record in
                        guard record.offset < offset else { return false }
                        kept.append(record.stored().record)
                        return true
                    }
                }
            }
            let writable =
                keep == extents.count - 1
                ? writer.active : try target.segment.reopenedForWriting(indexCount: target.indexCount, indexBytes: options.maxIndexBytes)
            writable.index.truncate(toCount: cutEntry)
            try writable.store.truncate(to: cutPosition)
            writer.sealed = Array(writer.sealed.prefix(keep))
            writer.active = writable
            writer.buffer.startPosition = cutPosition
            writer.nextOffset = kept.isEmpty ? offset : offset - Int64(kept.count)
            writer.flushedNextOffset = writer.nextOffset
            for extent in extents[(keep + 1)...] {
                try FileSystem.remove(extent.segment.store.path)
                try FileSystem.remove(extent.segment.index.file.path)
            }
            if !kept.isEmpty {
                let now = currentTimeMillis()
                let size = BatchEncoder.encodedSize(kept, now: now)
                writer.buffer.reserve(size)
                let maxTimestamp = BatchEncoder.encode(
                    kept, baseOffset: writer.nextOffset, now: now, size: size, to: writer.buffer.pointer)
                writable.index.append(
                    relativeOffset: UInt32(writer.nextOffset - writable.baseOffset), position: cutPosition,
                    batchMaxTimestamp: maxTimestamp)
                writer.buffer.count = size
                writer.nextOffset = offset
            }
            try flushLocked()
            try writable.store.syncData()
            try FileSystem.syncDirectory(directory)
            writer.durableSequence = writer.writtenSequence
            logger.info("log.truncated", metadata: ["log.directory": "\(directory)", "log.next_offset": "\(offset)"])
        } catch {
            throw fail(error)
        }
    }
}
