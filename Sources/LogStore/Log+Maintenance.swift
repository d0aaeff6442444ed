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
        let doomed = writer.sealed.prefix { $0.nextOffset <= offset }
        guard !doomed.isEmpty else { return 0 }
        // Readers first stop seeing them, then the files go: a reader that
        // already holds a segment keeps reading it through its open descriptor.
        writer.sealed.removeFirst(doomed.count)
        publishLocked()
        for extent in doomed {
            try FileSystem.remove(extent.segment.store.path)
            try FileSystem.remove(extent.segment.index.file.path)
        }
        try FileSystem.syncDirectory(directory)
        logger.info(
            "log.segments_deleted",
            metadata: ["log.directory": "\(directory)", "log.count": "\(doomed.count)", "log.lowest_offset": "\(lowestOffset)"])
        return doomed.count
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
