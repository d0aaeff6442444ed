/// The fixed-width header of a batch, decoded.
struct BatchHeader: Sendable {
    var baseOffset: Int64
    /// Total size of the batch in bytes, including `baseOffset` and `batchLength`.
    var size: Int
    var attributes: Int16
    var lastOffsetDelta: Int32
    var baseTimestamp: Int64
    var maxTimestamp: Int64
    var recordCount: Int32

    var lastOffset: Int64 { baseOffset + Int64(lastOffsetDelta) }
    /// A batch of a Kafka transaction (a data batch or its marker).
    var isTransactional: Bool { attributes & BatchLayout.transactional != 0 }
    /// A control batch: a transaction marker, not records of the log.
    var isControl: Bool { attributes & BatchLayout.control != 0 }

    /// The index entry of this batch at `position` of a segment based at `segmentBase`
    /// (the batch's own maximum timestamp: appending it makes it a running maximum).
    func indexEntry(segmentBase: Int64, position: Int64) -> IndexEntry {
        IndexEntry(
            relativeOffset: UInt32(truncatingIfNeeded: baseOffset - segmentBase), position: position, maxTimestamp: maxTimestamp)
    }
    var nextOffset: Int64 { lastOffset + 1 }

    /// Why the bytes at hand are not a batch; `nil` when they might be.
    enum Problem: Error, Sendable, Equatable {
        /// Fewer bytes than the header or the declared length.
        case truncated
        /// A field holds an impossible value (the string says which).
        case invalid(String)
        case crcMismatch(stored: UInt32, computed: UInt32)
    }

    /// Decodes the header from the first bytes of `bytes` (at least `logOverhead`
    /// bytes must be readable for the length; the full header for the rest).
    static func decode(_ bytes: UnsafeRawBufferPointer) -> Result<BatchHeader, Problem> {
        guard bytes.count >= BatchLayout.headerSize else { return .failure(.truncated) }
        let length = bytes.loadBigEndian(at: BatchLayout.batchLength, as: Int32.self)
        let size = Int(length) + BatchLayout.logOverhead
        guard size >= BatchLayout.headerSize, size <= BatchLayout.maxBatchSize else {
            return .failure(.invalid("batch length \(length)"))
        }
        guard bytes[BatchLayout.magic] == BatchLayout.magicValue else {
            return .failure(.invalid("magic \(bytes[BatchLayout.magic])"))
        }
        let lastOffsetDelta = bytes.loadBigEndian(at: BatchLayout.lastOffsetDelta, as: Int32.self)
        let recordCount = bytes.loadBigEndian(at: BatchLayout.recordCount, as: Int32.self)
        // An empty batch (no records) is what compaction leaves of a segment it emptied: it still covers its offsets.
        guard recordCount >= 0, lastOffsetDelta >= 0, lastOffsetDelta >= recordCount - 1 else {
            return .failure(.invalid("record count \(recordCount), last offset delta \(lastOffsetDelta)"))
        }
        let baseOffset = bytes.loadBigEndian(at: BatchLayout.baseOffset, as: Int64.self)
        // The next offset (last offset + 1) must be representable too.
        guard baseOffset >= 0, baseOffset < Int64.max - Int64(lastOffsetDelta) else {
            return .failure(.invalid("base offset \(baseOffset)"))
        }
        return .success(
            BatchHeader(
                baseOffset: baseOffset,
                size: size,
                attributes: bytes.loadBigEndian(at: BatchLayout.attributes, as: Int16.self),
                lastOffsetDelta: lastOffsetDelta,
                baseTimestamp: bytes.loadBigEndian(at: BatchLayout.baseTimestamp, as: Int64.self),
                maxTimestamp: bytes.loadBigEndian(at: BatchLayout.maxTimestamp, as: Int64.self),
                recordCount: recordCount))
    }

    /// Decodes the header and checks the CRC over the whole batch, which must
    /// be in `bytes` (`bytes.count >= size`).
    static func decodeAndVerify(_ bytes: UnsafeRawBufferPointer) -> Result<BatchHeader, Problem> {
        let header: BatchHeader
        switch decode(bytes) {
        case .success(let decoded): header = decoded
        case .failure(let problem): return .failure(problem)
        }
        guard bytes.count >= header.size else { return .failure(.truncated) }
        let stored = bytes.loadBigEndian(at: BatchLayout.crc, as: UInt32.self)
        let computed = CRC32C.checksum(
            UnsafeRawBufferPointer(rebasing: bytes[BatchLayout.attributes..<header.size]))
        guard stored == computed else { return .failure(.crcMismatch(stored: stored, computed: computed)) }
        return .success(header)
    }
}

extension BatchHeader.Problem: CustomStringConvertible {
    var description: String {
        switch self {
        case .truncated: return "torn batch (the file ends inside it)"
        case .invalid(let what): return "invalid batch: \(what)"
        case .crcMismatch(let stored, let computed):
            return "CRC-32C mismatch (stored \(hex(stored)), computed \(hex(computed)))"
        }
    }

    private func hex(_ value: UInt32) -> String { "0x" + String(value, radix: 16, uppercase: true) }
}
