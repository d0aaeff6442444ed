extension Log {
    /// Appends the records of `batch` as one batch (one store entry) and
    /// returns their offsets; on success `batch` is emptied for reuse.
    ///
    /// The same bytes go to the store as `append(_: [Record])` writes for the
    /// same records. A batch of at least 1/8 of the write buffer
    /// (`LogOptions.writeBufferBytes`) goes to the store file straight from
    /// `batch`'s memory; under the log's compression it is compressed first.
    /// Under `SyncPolicy.always` it returns only once the batch is durable.
    /// - Throws: `LogStoreError` (`.invalidArgument` for an empty batch, `.io`
    ///   when the write or sync fails, `.unavailable` when the log is closed
    ///   or failed earlier); `batch` is then left as it was.
    @discardableResult
    public func append(_ batch: RecordBatchBuffer) throws -> Range<Int64> {
        try append(batch, waitForDurability: true).offsets
    }

    /// `append(_: RecordBatchBuffer)` returning at once, whatever the sync
    /// policy, as `appendDeferringDurability(_: [Record])` does: wait with
    /// `waitUntilDurable(_:)`.
    public func appendDeferringDurability(_ batch: RecordBatchBuffer) throws -> AppendReceipt {
        let (offsets, sequence) = try append(batch, waitForDurability: false)
        return AppendReceipt(offsets: offsets, sequence: sequence)
    }

    private func append(_ batch: RecordBatchBuffer, waitForDurability: Bool) throws -> (
        offsets: Range<Int64>, sequence: UInt64
    ) {
        guard !batch.isEmpty else { throw LogStoreError(.invalidArgument, "cannot append an empty batch") }
        let bytes = batch.finish()
        let appended: (offsets: Range<Int64>, sequence: UInt64)
        if case .gzip(let level) = options.compression,
            let compressed = try gzipFinishedBatch(UnsafeRawBufferPointer(bytes), level: level)
        {
            appended = try appendEncoded(size: compressed.size, recordCount: batch.count, waitForDurability: waitForDurability) {
                pointer, baseOffset in
                pointer.copyMemory(from: compressed.buffer.pointer, byteCount: compressed.size)
                pointer.storeBigEndian(baseOffset, at: BatchLayout.baseOffset)  // outside the CRC's range
                return batch.maxTimestamp
            }
        } else {
            appended = try appendFinished(
                bytes, recordCount: batch.count, maxTimestamp: batch.maxTimestamp, waitForDurability: waitForDurability)
        }
        batch.removeAll()
        return appended
    }

    /// Appends the records `body` adds to a batch as one batch, and returns their offsets:
    ///
    /// ```swift
    /// let offsets = try log.appendBatch { batch in
    ///     for (key, value) in pairs { try batch.append(key: key, value: value) }
    /// }
    /// ```
    /// - Throws: what `body` throws (nothing is appended then), and what `append(_: RecordBatchBuffer)` throws.
    @discardableResult
    public func appendBatch(_ body: (RecordBatchBuffer) throws -> Void) throws -> Range<Int64> {
        let batch = RecordBatchBuffer()
        try body(batch)
        return try append(batch)
    }
}
