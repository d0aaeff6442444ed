extension Log {
    /// What a reader sees: the segments and how far each was written when it looked.
    struct ReadSnapshot {
        var extents: [SegmentExtent]
        /// Including records still in the writer's buffer.
        var nextOffset: Int64

        var lowestOffset: Int64 { extents.first?.baseOffset ?? nextOffset }
        var readableEnd: Int64 { extents.last?.nextOffset ?? nextOffset }
    }

    func snapshot() -> ReadSnapshot {
        view.withLock { view in
            var extents = view.sealed
            extents.append(view.active)
            return ReadSnapshot(extents: extents, nextOffset: view.nextOffset)
        }
    }

    /// A snapshot in which `offset` is readable if it was appended: records
    /// still in the write buffer are flushed first.
    func snapshot(covering offset: Int64) throws -> ReadSnapshot {
        let first = snapshot()
        // Up to and including the next offset: reading at the end must not
        // fail because earlier records are still buffered.
        guard first.readableEnd < first.nextOffset, offset >= first.readableEnd, offset <= first.nextOffset else { return first }
        try writerLock.withLock {
            if writer.closed || isReadOnly { return }
            try flushLocked()
        }
        return snapshot()
    }

    func outOfRange(_ offset: Int64, _ snapshot: ReadSnapshot) -> LogStoreError {
        if offset < snapshot.lowestOffset {
            return LogStoreError(
                .offsetOutOfRange,
                "offset \(offset) is below the oldest retained offset \(snapshot.lowestOffset) (next offset \(snapshot.nextOffset))",
                path: directory.string, offset: offset)
        }
        return LogStoreError(
            .offsetOutOfRange,
            "offset \(offset) is not in the log yet (oldest offset \(snapshot.lowestOffset), next offset \(snapshot.nextOffset))",
            path: directory.string, offset: offset)
    }

    /// Calls `body` with each batch (its verified bytes and header), starting
    /// with the batch that holds `offset`, until `body` returns false, about
    /// `maxBytes` were read (at least one batch), or the readable end.
    /// Returns false when `offset` is at the readable end (nothing to read).
    ///
    /// Every batch is checked (CRC-32C, and that its base offset is the one the
    /// index or the previous batch promised) before `body` sees it, so damage
    /// is an error naming file, offset and position, never data.
    @discardableResult
    func forEachBatch(
        from offset: Int64, maxBytes: Int, _ body: (UnsafeRawBufferPointer, BatchHeader) throws -> Bool
    ) throws -> Bool {
        let snapshot = try snapshot(covering: offset)
        guard offset >= snapshot.lowestOffset, offset <= snapshot.readableEnd else { throw outOfRange(offset, snapshot) }
        guard offset < snapshot.readableEnd else { return false }
        var segmentNumber = Self.segmentNumber(containing: offset, in: snapshot.extents)
        var cursor = try BatchCursor(locating: offset, in: snapshot.extents[segmentNumber], maxBytes: maxBytes)
        while try cursor.readSegment(snapshot.extents[segmentNumber], body) {
            segmentNumber += 1
            guard segmentNumber < snapshot.extents.count else { break }
            try cursor.enter(snapshot.extents[segmentNumber])
        }
        return true
    }

    /// The number of the last segment whose base offset is at most `offset`.
    static func segmentNumber(containing offset: Int64, in extents: [SegmentExtent]) -> Int {
        var low = 0
        var high = extents.count - 1
        while low < high {
            let middle = (low + high + 1) / 2
            if extents[middle].baseOffset <= offset { low = middle } else { high = middle - 1 }
        }
        return low
    }

    /// Calls `body` with each record from `offset` on, as views into the read
    /// buffer (no copy, no allocation per record), until `body` returns false
    /// or about `maxBytes` of batches were read.
    /// - Returns: the offset after the last record passed to `body`, or
    ///   `offset` when there was nothing to read.
    /// - Throws: `.offsetOutOfRange` when `offset` is below the oldest retained
    ///   offset or past the next one; `.corruption` for damaged data.
    @discardableResult
    public func forEachRecord(from offset: Int64, maxBytes: Int = 1 << 20, _ body: (RecordView) throws -> Bool) throws -> Int64 {
        var next = offset
        try forEachBatch(from: offset, maxBytes: maxBytes) { bytes, header in
            // A transaction marker takes an offset but is no record of the log.
            if header.isControl {
                next = max(next, header.nextOffset)
                return true
            }
            var more = true
            try BatchDecoder.forEachRecord(in: bytes, header: header) { record in
                guard record.offset >= offset else { return true }
                more = try body(record)
                next = record.offset + 1
                return more
            }
            if more { next = header.nextOffset }
            return more
        }
        return next
    }

    /// Reads up to `maxRecords` records from `offset` on (fewer at the end of
    /// the log; none when `offset` is the next offset).
    /// - Throws: `.offsetOutOfRange` when `offset` is below the oldest retained
    ///   offset or past the next one; `.corruption` for damaged data.
    public func read(from offset: Int64, maxRecords: Int, maxBytes: Int = 1 << 20) throws -> [StoredRecord] {
        var records: [StoredRecord] = []
        guard maxRecords > 0 else { return records }
        try forEachRecord(from: offset, maxBytes: maxBytes) { record in
            records.append(record.stored())
            return records.count < maxRecords
        }
        return records
    }

    /// Reads the record at `offset`, or, when compaction removed it, the
    /// first record after it.
    /// - Throws: `.offsetOutOfRange` when the log does not hold `offset` (or
    ///   no record at or after it); `.corruption` for damaged data.
    public func read(at offset: Int64) throws -> StoredRecord {
        var found: StoredRecord?
        var next = offset
        while found == nil {
            let start = next
            // One batch a call; a batch compaction emptied up to its end moves `next` on.
            next = try forEachRecord(from: start, maxBytes: 1) { record in
                found = record.stored()
                return false
            }
            if next == start { break }
        }
        guard let found else { throw outOfRange(offset, snapshot()) }
        return found
    }
}
