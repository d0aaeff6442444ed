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
        var extent = snapshot.extents[segmentNumber]
        let relative = UInt32(offset - extent.baseOffset)
        guard let entryNumber = extent.segment.index.search(relativeOffset: relative, count: extent.indexCount) else {
            throw LogStoreError(
                .corruption, "index has no entry at or below offset \(offset)", path: extent.segment.index.file.path.string, offset: offset)
        }
        let entry = extent.segment.index.entry(entryNumber)
        // A damaged index must neither trap the reader nor send it past the
        // end of the store, where it would find nothing and report no error.
        guard entry.position >= 0, entry.position < extent.storeSize else {
            throw LogStoreError(
                .corruption, "index entry points to position \(entry.position), outside the store of \(extent.storeSize) bytes",
                path: extent.segment.index.file.path.string, offset: offset)
        }
        var position = entry.position
        var expected = extent.baseOffset + Int64(entry.relativeOffset)
        // The first read is sized from the index: exactly the batch holding `offset`.
        var firstEnd = entryNumber + 1 < extent.indexCount ? extent.segment.index.entry(entryNumber + 1).position : extent.storeSize
        if firstEnd <= position || firstEnd > extent.storeSize { firstEnd = extent.storeSize }
        var want = max(Int(firstEnd - position), maxBytes)
        var buffer: [UInt8] = []
        var bytesRead = 0
        var first = true
        while true {
            while position < extent.storeSize {
                let chunk = Int(min(Int64(want), extent.storeSize - position))
                if buffer.count < chunk {
                    buffer = [UInt8](unsafeUninitializedCapacity: chunk) { _, initialized in initialized = chunk }
                }
                let read = try buffer.withUnsafeMutableBytes {
                    try extent.segment.store.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[0..<chunk]), at: position)
                }
                guard read == chunk else {
                    throw LogStoreError(
                        .offsetOutOfRange, "the store shrank while being read (the log was truncated)",
                        path: extent.segment.store.path.string, offset: expected, position: position)
                }
                var local = 0
                var keepGoing = true
                try buffer.withUnsafeBytes { bytes in
                    while local < read {
                        let rest = UnsafeRawBufferPointer(rebasing: bytes[local..<read])
                        let header: BatchHeader
                        switch BatchHeader.decodeAndVerify(rest) {
                        case .success(let decoded): header = decoded
                        case .failure(.truncated) where position + Int64(read) < extent.storeSize:
                            return  // the batch goes on past this chunk: read it next round
                        case .failure(let problem):
                            throw LogStoreError(
                                .corruption, "batch failed its check: \(problem)", path: extent.segment.store.path.string,
                                offset: expected, position: position + Int64(local))
                        }
                        guard header.baseOffset == expected, !first || (header.baseOffset...header.lastOffset).contains(offset) else {
                            throw LogStoreError(
                                .corruption,
                                "batch at this position starts at offset \(header.baseOffset), but the index or the batch before promised \(expected)",
                                path: extent.segment.store.path.string, offset: expected, position: position + Int64(local))
                        }
                        first = false
                        local += header.size
                        bytesRead += header.size
                        expected = header.nextOffset
                        if try !body(UnsafeRawBufferPointer(rebasing: rest[0..<header.size]), header) || bytesRead >= maxBytes {
                            keepGoing = false
                            return
                        }
                    }
                }
                position += Int64(local)
                if !keepGoing { return true }
                if local == 0 {
                    // The batch here is larger than the chunk: size the next read to hold it.
                    want = buffer.withUnsafeBytes { bytes in
                        if case .success(let header) = BatchHeader.decode(UnsafeRawBufferPointer(rebasing: bytes[0..<read])) {
                            return header.size
                        }
                        return BatchLayout.headerSize
                    }
                } else {
                    want = max(maxBytes - bytesRead, BatchLayout.headerSize)
                }
            }
            segmentNumber += 1
            guard segmentNumber < snapshot.extents.count else { return true }
            extent = snapshot.extents[segmentNumber]
            position = 0
            guard extent.baseOffset == expected else {
                throw LogStoreError(
                    .corruption, "segment starts at offset \(extent.baseOffset) but the one before ends at \(expected)",
                    path: extent.segment.store.path.string, offset: expected)
            }
        }
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
