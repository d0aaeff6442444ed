import SystemPackage

extension Log {
    /// Appends a record batch v2 that someone else encoded (a Kafka
    /// producer's), storing its bytes verbatim but for the base offset and
    /// the partition leader epoch, which lie outside the CRC (docs/FORMAT.md):
    /// the batch is never re-encoded, and its CRC stays the producer's.
    ///
    /// The batch is checked as Kafka checks a produced batch before anything
    /// is stored (`RecordBatchCheck`): one whole batch, magic 2, its CRC-32C,
    /// base offset 0, `lastOffsetDelta` = record count - 1, a codec this build
    /// reads, and records that parse with offset deltas 0, 1, 2, ...
    ///
    /// Returns at once, whatever the sync policy; `waitUntilDurable(_:)` waits
    /// for the batch to be durable (acks=all), sharing each `fdatasync` with
    /// every other waiter.
    /// - Throws: `LogStoreError`: `.invalidArgument` for a batch that fails a
    ///   check (the message says which), `.unsupportedCompression` for a codec
    ///   this build cannot read, `.tooLarge` for a batch over the log's
    ///   `max.message.bytes`, `.io` or `.unavailable` as `append(_:)`.
    public func appendRecordBatch(_ batch: UnsafeRawBufferPointer) throws -> AppendReceipt {
        let header = try RecordBatchCheck.check(batch)
        if let limit = options.maxMessageBytes, header.size > limit {
            throw LogStoreError(
                .tooLarge, "record batch refused: \(header.size) bytes, over the log's max.message.bytes \(limit)",
                path: directory.string)
        }
        let (offsets, sequence) = try appendEncoded(
            size: header.size, recordCount: Int(header.recordCount), waitForDurability: false
        ) { pointer, baseOffset in
            UnsafeMutableRawBufferPointer(start: pointer, count: header.size).copyMemory(from: batch)
            pointer.storeBigEndian(baseOffset, at: BatchLayout.baseOffset)
            pointer.storeBigEndian(Int32(-1), at: BatchLayout.partitionLeaderEpoch)
            return header.maxTimestamp
        }
        return AppendReceipt(offsets: offsets, sequence: sequence)
    }

    /// Appends the control batch that ends the transaction of `producerID`
    /// at `epoch` in this log with `marker` (commit or abort), as a Kafka
    /// transaction coordinator does (docs/FORMAT.md). It takes one offset;
    /// `forEachRecord` and every reader of records skip it. Returns at once,
    /// as `appendRecordBatch(_:)` does.
    public func appendTransactionMarker(
        _ marker: TransactionMarker, producerID: Int64, epoch: Int16, coordinatorEpoch: Int32 = 0
    ) throws -> AppendReceipt {
        let now = currentTimeMillis()
        let batch = marker.controlBatch(producerID: producerID, epoch: epoch, coordinatorEpoch: coordinatorEpoch, timestamp: now)
        let (offsets, sequence) = try appendEncoded(size: batch.count, recordCount: 1, waitForDurability: false) {
            pointer, baseOffset in
            batch.withUnsafeBytes { UnsafeMutableRawBufferPointer(start: pointer, count: batch.count).copyMemory(from: $0) }
            pointer.storeBigEndian(baseOffset, at: BatchLayout.baseOffset)
            return now
        }
        return AppendReceipt(offsets: offsets, sequence: sequence)
    }

    /// Calls `body` with the stored bytes of whole batches from the one that
    /// holds `offset` on, as a Kafka fetch answers: the first batch always
    /// (even over `maxBytes`, so that a consumer never stalls on a large
    /// batch), then further batches while the total stays within `maxBytes`.
    /// With `firstAlways` false, no batch goes over `maxBytes`, the first
    /// either (a fetch's later partitions, once the response holds data).
    /// Every batch is verified before `body` sees it. A batch may start before
    /// `offset`; the reader skips the records below it. With `end`, no batch
    /// that starts at or after it is read (a read_committed fetch stops at the
    /// last stable offset).
    /// - Returns: the bytes passed to `body` (0 when `offset` is the next offset).
    /// - Throws: `.offsetOutOfRange` below the oldest retained offset or past
    ///   the next one; `.corruption` for damaged data.
    @discardableResult
    public func readRecordBatches(
        from offset: Int64, maxBytes: Int, firstAlways: Bool = true, end: Int64? = nil,
        _ body: (UnsafeRawBufferPointer) throws -> Void
    ) throws -> Int {
        var total = 0
        try forEachBatch(from: offset, maxBytes: maxBytes) { bytes, header in
            if let end, header.baseOffset >= end { return false }
            guard (total == 0 && firstAlways) || total + header.size <= maxBytes else { return false }
            try body(UnsafeRawBufferPointer(rebasing: bytes[0..<header.size]))
            total += header.size
            return total < maxBytes
        }
        return total
    }
}

/// Whole stored batches in one store file, for a caller that sends them
/// without reading them (sendfile): `byteCount` bytes from `position`.
public struct StoredBatchRun: Sendable {
    /// The store file, a descriptor of its own that the caller must close.
    /// It stays valid after the segment is deleted (retention, compaction).
    public let descriptor: FileDescriptor
    public let position: Int64
    public let byteCount: Int
}

extension Log {
    /// Where the batches `readRecordBatches` would pass lie in the store
    /// files, for a caller that sends them from the page cache without
    /// copying them (a Kafka fetch with sendfile); the selection is the same
    /// (`offset`, `maxBytes`, `firstAlways`, `end`).
    ///
    /// Only bytes this `Log` has checked are handed out: batches whose CRC-32C
    /// and index entries a read verified (`readRecordBatches` and every other
    /// read) or that this process appended. Anything else returns nil, and the
    /// caller reads the batches with `readRecordBatches`, which checks them
    /// (damage is an error, never data) and so lets the next call locate them.
    /// A read-only log returns nil too: its writer, another process, may cut
    /// its store (`truncate(from:)`) under a send that already began. So do
    /// bytes not all in the page cache (`mincore`): a send from an event loop
    /// must not wait for the disk; the caller's read brings them in.
    /// - Returns: the runs in order (one per segment), empty when `offset` is
    ///   the next offset; nil as above. The caller owns their descriptors.
    /// - Throws: `.offsetOutOfRange` below the oldest retained offset or past
    ///   the next one; `.corruption` when the index has no entry for `offset`;
    ///   `.io` when a descriptor cannot be duplicated.
    public func locateRecordBatches(
        from offset: Int64, maxBytes: Int, firstAlways: Bool = true, end: Int64? = nil
    ) throws -> [StoredBatchRun]? {
        guard !isReadOnly else { return nil }
        let snapshot = try snapshot(covering: offset)
        guard offset >= snapshot.lowestOffset, offset <= snapshot.readableEnd else { throw outOfRange(offset, snapshot) }
        guard offset < snapshot.readableEnd else { return [] }
        var spans: [(segment: Segment, range: Range<Int64>)] = []
        var total = 0
        var segmentNumber = Self.segmentNumber(containing: offset, in: snapshot.extents)
        var extent = snapshot.extents[segmentNumber]
        var entryNumber = try extent.entryNumber(holding: offset)
        var done = false
        while !done {
            let index = extent.segment.index
            // Each entry is read once: the batch it starts, and where the one before ends.
            var entry = entryNumber < extent.indexCount ? index.entry(entryNumber) : nil
            let start = entry?.position ?? extent.storeSize
            var position = start
            while let current = entry {
                if let end, extent.baseOffset + Int64(current.relativeOffset) >= end {
                    done = true
                    break
                }
                entry = entryNumber + 1 < extent.indexCount ? index.entry(entryNumber + 1) : nil
                let next = entry?.position ?? extent.storeSize
                // An index that does not run forward is damage: the checked read reports it.
                guard current.position == position, next > position, next <= extent.storeSize else { return nil }
                let size = Int(next - position)
                guard (total == 0 && firstAlways) || total + size <= maxBytes else {
                    done = true
                    break
                }
                total += size
                position = next
                entryNumber += 1
                if total >= maxBytes {
                    done = true
                    break
                }
            }
            if position > start { spans.append((extent.segment, start..<position)) }
            segmentNumber += 1
            if segmentNumber == snapshot.extents.count { break }
            extent = snapshot.extents[segmentNumber]
            entryNumber = 0
        }
        for span in spans where !span.segment.verified.withLock({ $0.contains(span.range) }) { return nil }
        // Bytes the disk would have to give first are read by the caller, on a thread that may wait.
        for span in spans where !PageCache.isResident(span.segment.store.descriptor, span.range) { return nil }
        var runs: [StoredBatchRun] = []
        do {
            for span in spans {
                runs.append(
                    StoredBatchRun(
                        descriptor: try span.segment.store.duplicateDescriptor(), position: span.range.lowerBound,
                        byteCount: Int(span.range.count)))
            }
        } catch {
            for run in runs { try? run.descriptor.close() }
            throw error
        }
        return runs
    }
}
