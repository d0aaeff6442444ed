/// The idempotent-producer fields of a record batch v2: Kafka's producer id,
/// epoch and base sequence (docs/FORMAT.md), with which a broker recognises a
/// retried batch. Batches that logd encodes carry none (producer id -1).
public struct BatchProducer: Sendable, Hashable {
    public var producerID: Int64
    public var epoch: Int16
    public var baseSequence: Int32
    public var recordCount: Int32

    /// The sequence of the batch's last record (sequences wrap from Int32.max to 0).
    public var lastSequence: Int32 { BatchProducer.sequence(baseSequence, plus: max(0, recordCount - 1)) }

    /// `sequence` advanced by `count`, wrapping as Kafka's do.
    public static func sequence(_ sequence: Int32, plus count: Int32) -> Int32 {
        Int32(truncatingIfNeeded: (Int64(sequence) + Int64(count)) % (Int64(Int32.max) + 1))
    }

    /// The fields of the batch at the start of `batch`; nil when it has no
    /// producer id (-1) or is too short for a batch header.
    public init?(batch: UnsafeRawBufferPointer) {
        guard batch.count >= BatchLayout.headerSize else { return nil }
        producerID = batch.loadBigEndian(at: BatchLayout.producerId, as: Int64.self)
        guard producerID >= 0 else { return nil }
        epoch = batch.loadBigEndian(at: BatchLayout.producerEpoch, as: Int16.self)
        baseSequence = batch.loadBigEndian(at: BatchLayout.baseSequence, as: Int32.self)
        recordCount = batch.loadBigEndian(at: BatchLayout.recordCount, as: Int32.self)
    }
}

/// What a reader of stored batches needs without decoding records: the
/// offsets a batch covers and its producer fields.
public struct RecordBatchSummary: Sendable, Hashable {
    public var offsets: Range<Int64>
    public var producer: BatchProducer?
    /// A batch of a Kafka transaction: its records, or (with `marker`) its end.
    public var isTransactional: Bool
    /// The transaction marker of a control batch; nil for a batch of records.
    public var marker: TransactionMarker?
    /// A control batch: `marker`, or a control record logd does not know.
    public var isControl: Bool

    /// The summary of the batch at the start of `batch`; nil when it is too short for a batch header.
    public init?(batch: UnsafeRawBufferPointer) {
        guard batch.count >= BatchLayout.headerSize else { return nil }
        let base = batch.loadBigEndian(at: BatchLayout.baseOffset, as: Int64.self)
        let lastDelta = batch.loadBigEndian(at: BatchLayout.lastOffsetDelta, as: Int32.self)
        offsets = base..<base + Int64(lastDelta) + 1
        producer = BatchProducer(batch: batch)
        let attributes = batch.loadBigEndian(at: BatchLayout.attributes, as: Int16.self)
        isTransactional = attributes & BatchLayout.transactional != 0
        isControl = attributes & BatchLayout.control != 0
        marker = isControl ? TransactionMarker(controlBatch: batch) : nil
    }
}
