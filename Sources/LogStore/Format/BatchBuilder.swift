/// Re-batches records read from other batches, keeping each record's offset
/// (compaction, and the batch a truncation keeps).
///
/// The batches it makes **tile** the offsets: each starts where the one
/// before ended (`baseOffset` = previous `lastOffset` + 1) and may cover
/// offsets whose records were removed, so a segment keeps its base and next
/// offset and every reader's and recovery's offset-continuity check still
/// holds. A record's offset delta is its offset minus the batch's base
/// offset: deltas may skip values (Kafka allows this in compacted batches).
/// A range with no record left is one empty batch (record count 0).
final class BatchBuilder {
    /// Finished batches, back to back; the caller drains it to the store.
    let output = WriteBuffer(capacity: 1 << 20)
    /// Store position of `output`'s first byte.
    var outputPosition: Int64
    /// Index entries of the finished batches (the batch's own maximum timestamp).
    private(set) var entries: [IndexEntry] = []

    private let segmentBase: Int64
    /// A batch is closed once its records section reaches this size.
    private let targetRecordsBytes: Int
    private let compress: ((UnsafeRawBufferPointer, UnsafeMutableRawPointer) -> Int?)?
    /// The open batch: header room, then its records.
    private let batch = WriteBuffer(capacity: 64 << 10)
    private var baseOffset: Int64
    private var recordCount: Int32 = 0
    private var baseTimestamp: Int64 = 0
    private var maxTimestamp: Int64 = 0

    /// - Parameters:
    ///   - baseOffset: where the first batch starts.
    ///   - segmentBase: the base offset of the segment the batches go to.
    ///   - position: the store position the first batch is written at.
    ///   - targetRecordsBytes: close a batch once its records take this many bytes.
    ///   - compress: writes the given uncompressed batch compressed at the
    ///     pointer (which has room for the batch's size) and returns the size,
    ///     nil to keep it uncompressed.
    init(
        baseOffset: Int64, segmentBase: Int64, position: Int64, targetRecordsBytes: Int,
        compress: ((UnsafeRawBufferPointer, UnsafeMutableRawPointer) -> Int?)? = nil
    ) {
        self.baseOffset = baseOffset
        self.segmentBase = segmentBase
        outputPosition = position
        self.targetRecordsBytes = targetRecordsBytes
        self.compress = compress
        batch.count = BatchLayout.headerSize
    }

    /// Adds `record` (offsets must increase from call to call).
    func add(_ record: RecordView) {
        if recordCount > 0 {
            let tooFar = record.timestamp.subtractingReportingOverflow(baseTimestamp).overflow
            if batch.count - BatchLayout.headerSize >= targetRecordsBytes || tooFar || recordCount == Int32.max - 1 {
                close(lastOffset: record.offset - 1, emptyTimestamp: maxTimestamp)
            }
        }
        if recordCount == 0 {
            baseTimestamp = record.timestamp
            maxTimestamp = record.timestamp
        }
        maxTimestamp = max(maxTimestamp, record.timestamp)
        BatchEncoder.appendRecord(
            to: batch, timestampDelta: record.timestamp - baseTimestamp, offsetDelta: record.offset - baseOffset,
            key: record.key, value: record.value, encodedHeaders: record.encodedHeaders)
        recordCount += 1
    }

    /// Finishes the open batch as covering offsets up to `lastOffset`
    /// (possibly with no records: then its timestamps are `emptyTimestamp`);
    /// the next batch starts after it.
    func close(lastOffset: Int64, emptyTimestamp: Int64) {
        precondition(lastOffset >= baseOffset, "a batch covers at least one offset")
        if recordCount == 0 {
            baseTimestamp = emptyTimestamp
            maxTimestamp = emptyTimestamp
        }
        let size = batch.count
        BatchEncoder.writeHeader(
            to: batch.pointer, baseOffset: baseOffset, size: size, lastOffsetDelta: Int32(lastOffset - baseOffset),
            baseTimestamp: baseTimestamp, maxTimestamp: maxTimestamp, recordCount: recordCount)
        if output.count + size > output.capacity { output.reserve(max(output.count + size, output.capacity * 2)) }
        let destination = output.pointer + output.count
        let written: Int
        if recordCount > 0, let compress, let compressed = compress(batch.bytes, destination) {
            written = compressed
        } else {
            destination.copyMemory(from: batch.pointer, byteCount: size)
            written = size
        }
        entries.append(
            IndexEntry(
                relativeOffset: UInt32(baseOffset - segmentBase), position: outputPosition + Int64(output.count),
                maxTimestamp: maxTimestamp))
        output.count += written
        baseOffset = lastOffset + 1
        recordCount = 0
        batch.count = BatchLayout.headerSize
    }

    /// Hands the finished bytes to `write` (with their store position) and empties `output`.
    func drain(_ write: (UnsafeRawBufferPointer, Int64) throws -> Void) rethrows {
        guard output.count > 0 else { return }
        try write(output.bytes, outputPosition)
        outputPosition += Int64(output.count)
        output.count = 0
    }
}
