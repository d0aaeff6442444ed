/// Byte offsets of the Kafka record batch v2 header (docs/FORMAT.md). All
/// fixed-width fields are big-endian.
enum BatchLayout {
    static let baseOffset = 0  // Int64
    static let batchLength = 8  // Int32: bytes after this field
    static let partitionLeaderEpoch = 12  // Int32, written as -1
    static let magic = 16  // Int8, always 2
    static let crc = 17  // UInt32: CRC-32C of bytes 21..<end
    static let attributes = 21  // Int16: bits 0-2 codec, 3 timestamp type, 4 transactional, 5 control
    static let lastOffsetDelta = 23  // Int32
    static let baseTimestamp = 27  // Int64
    static let maxTimestamp = 35  // Int64
    static let producerId = 43  // Int64, -1
    static let producerEpoch = 51  // Int16, -1
    static let baseSequence = 53  // Int32, -1
    static let recordCount = 57  // Int32
    static let headerSize = 61
    /// `baseOffset` and `batchLength`: the bytes not counted by `batchLength`.
    static let logOverhead = 12
    static let magicValue: UInt8 = 2
    /// Attribute bit 4: a batch of a Kafka transaction (its records count once the
    /// transaction's commit marker follows them).
    static let transactional: Int16 = 0x10
    /// Attribute bit 5: a control batch, holding one transaction marker (only the server writes them).
    static let control: Int16 = 0x20
    /// The largest batch accepted (Kafka's default message.max.bytes is 1 MiB;
    /// we allow larger batches but bound them so a damaged length cannot make
    /// a reader allocate gigabytes).
    static let maxBatchSize = 64 << 20
    /// The most a compressed records section may inflate to: what an
    /// uncompressed batch of the largest size could hold.
    static let maxInflatedRecordsSize = maxBatchSize - headerSize
}
