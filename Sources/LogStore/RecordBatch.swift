import CCRC32C

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
    /// The largest batch accepted (Kafka's default message.max.bytes is 1 MiB;
    /// we allow larger batches but bound them so a damaged length cannot make
    /// a reader allocate gigabytes).
    static let maxBatchSize = 64 << 20
    /// The most a compressed records section may inflate to: what an
    /// uncompressed batch of the largest size could hold.
    static let maxInflatedRecordsSize = maxBatchSize - headerSize
}

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

    /// The index entry of this batch at `position` of a segment based at `segmentBase`
    /// (the batch's own maximum timestamp: appending it makes it a running maximum).
    func indexEntry(segmentBase: Int64, position: Int64) -> IndexEntry {
        IndexEntry(relativeOffset: UInt32(truncatingIfNeeded: baseOffset - segmentBase), position: position, maxTimestamp: maxTimestamp)
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

/// Encodes records as one Kafka record batch v2.
enum BatchEncoder {
    /// The encoded size of one record's body (everything after its length varint).
    @inline(__always)
    static func bodySize(_ record: Record, timestampDelta: Int64, offsetDelta: Int64) -> Int {
        var size = 1 + Varint.size(timestampDelta) + Varint.size(offsetDelta)
        if let key = record.key { size += Varint.size(Int64(key.count)) + key.count } else { size += 1 }
        if let value = record.value { size += Varint.size(Int64(value.count)) + value.count } else { size += 1 }
        size += Varint.size(Int64(record.headers.count))
        for header in record.headers {
            let keyLength = header.key.utf8.count
            size += Varint.size(Int64(keyLength)) + keyLength
            if let value = header.value { size += Varint.size(Int64(value.count)) + value.count } else { size += 1 }
        }
        return size
    }

    /// Throws `.invalidArgument` when two timestamps of the batch are too far
    /// apart for the batch's 64-bit timestamp deltas.
    static func checkTimestamps<C: Collection<Record>>(_ records: C, now: Int64) throws {
        guard let first = records.first else { return }
        let base = first.timestamp ?? now
        for record in records {
            let timestamp = record.timestamp ?? now
            if timestamp.subtractingReportingOverflow(base).overflow {
                throw LogStoreError(.invalidArgument, "record timestamps \(base) and \(timestamp) are too far apart for one batch")
            }
        }
    }

    /// The size the batch of `records` will take.
    static func encodedSize<C: Collection<Record>>(_ records: C, now: Int64) -> Int {
        var size = BatchLayout.headerSize
        guard let first = records.first else { return size }
        let baseTimestamp = first.timestamp ?? now
        var offsetDelta: Int64 = 0
        for record in records {
            let body = bodySize(record, timestampDelta: (record.timestamp ?? now) - baseTimestamp, offsetDelta: offsetDelta)
            size += Varint.size(Int64(body)) + body
            offsetDelta += 1
        }
        return size
    }

    /// Writes the batch at `pointer`, which must have `size` bytes (from
    /// `encodedSize`), and returns its largest record timestamp.
    @discardableResult
    static func encode<C: Collection<Record>>(
        _ records: C, baseOffset: Int64, now: Int64, size: Int, to pointer: UnsafeMutableRawPointer
    ) -> Int64 {
        let baseTimestamp = records.first.map { $0.timestamp ?? now } ?? now
        var maxTimestamp = baseTimestamp
        var index = BatchLayout.headerSize
        var offsetDelta: Int64 = 0
        for record in records {
            let timestamp = record.timestamp ?? now
            if timestamp > maxTimestamp { maxTimestamp = timestamp }
            let timestampDelta = timestamp - baseTimestamp
            Varint.write(Int64(bodySize(record, timestampDelta: timestampDelta, offsetDelta: offsetDelta)), to: pointer, at: &index)
            pointer.storeBytes(of: 0, toByteOffset: index, as: UInt8.self)
            index += 1
            Varint.write(timestampDelta, to: pointer, at: &index)
            Varint.write(offsetDelta, to: pointer, at: &index)
            writeBytes(record.key, to: pointer, at: &index)
            writeBytes(record.value, to: pointer, at: &index)
            Varint.write(Int64(record.headers.count), to: pointer, at: &index)
            for header in record.headers {
                var key = header.key
                key.withUTF8 { utf8 in
                    Varint.write(Int64(utf8.count), to: pointer, at: &index)
                    if let base = utf8.baseAddress { (pointer + index).copyMemory(from: base, byteCount: utf8.count) }
                    index += utf8.count
                }
                writeBytes(header.value, to: pointer, at: &index)
            }
            offsetDelta += 1
        }
        precondition(index == size, "batch size computed \(size), written \(index)")
        writeHeader(
            to: pointer, baseOffset: baseOffset, size: size, lastOffsetDelta: Int32(offsetDelta - 1), baseTimestamp: baseTimestamp,
            maxTimestamp: maxTimestamp, recordCount: Int32(offsetDelta))
        return maxTimestamp
    }

    /// Fills in the header of the uncompressed batch of `size` bytes at
    /// `pointer`, whose records section is in place, and its CRC-32C.
    static func writeHeader(
        to pointer: UnsafeMutableRawPointer, baseOffset: Int64, size: Int, lastOffsetDelta: Int32, baseTimestamp: Int64,
        maxTimestamp: Int64, recordCount: Int32
    ) {
        pointer.storeBigEndian(baseOffset, at: BatchLayout.baseOffset)
        pointer.storeBigEndian(Int32(size - BatchLayout.logOverhead), at: BatchLayout.batchLength)
        pointer.storeBigEndian(Int32(-1), at: BatchLayout.partitionLeaderEpoch)
        pointer.storeBytes(of: BatchLayout.magicValue, toByteOffset: BatchLayout.magic, as: UInt8.self)
        pointer.storeBigEndian(Int16(0), at: BatchLayout.attributes)
        pointer.storeBigEndian(lastOffsetDelta, at: BatchLayout.lastOffsetDelta)
        pointer.storeBigEndian(baseTimestamp, at: BatchLayout.baseTimestamp)
        pointer.storeBigEndian(maxTimestamp, at: BatchLayout.maxTimestamp)
        pointer.storeBigEndian(Int64(-1), at: BatchLayout.producerId)
        pointer.storeBigEndian(Int16(-1), at: BatchLayout.producerEpoch)
        pointer.storeBigEndian(Int32(-1), at: BatchLayout.baseSequence)
        pointer.storeBigEndian(recordCount, at: BatchLayout.recordCount)
        let crc = CRC32C.checksum(
            UnsafeRawBufferPointer(start: pointer + BatchLayout.attributes, count: size - BatchLayout.attributes))
        pointer.storeBigEndian(crc, at: BatchLayout.crc)
    }

    @inline(__always)
    private static func writeBytes(_ bytes: [UInt8]?, to pointer: UnsafeMutableRawPointer, at index: inout Int) {
        guard let bytes else {
            Varint.write(-1, to: pointer, at: &index)
            return
        }
        Varint.write(Int64(bytes.count), to: pointer, at: &index)
        bytes.withUnsafeBytes { source in
            if let base = source.baseAddress { (pointer + index).copyMemory(from: base, byteCount: source.count) }
        }
        index += bytes.count
    }
}

/// A record inside a batch, as views into the batch's bytes: valid only for
/// the duration of the closure that receives it.
public struct RecordView {
    public var offset: Int64
    public var timestamp: Int64
    public var key: UnsafeRawBufferPointer?
    public var value: UnsafeRawBufferPointer?
    /// The encoded headers (count varint, then key/value pairs).
    var encodedHeaders: UnsafeRawBufferPointer

    /// The headers, decoded (allocates).
    public func headers() -> [RecordHeader] {
        var index = 0
        guard let count = Varint.read(encodedHeaders, at: &index), count > 0 else { return [] }
        var headers: [RecordHeader] = []
        // Each header takes at least two bytes: a damaged count cannot make us allocate more.
        headers.reserveCapacity(Int(min(count, Int64(encodedHeaders.count / 2))))
        for _ in 0..<count {
            // Lengths are compared with what is left, never added to: a damaged one may be near Int64.max.
            guard let keyLength = Varint.read(encodedHeaders, at: &index), keyLength >= 0,
                keyLength <= encodedHeaders.count - index
            else { break }
            let key = String(decoding: UnsafeRawBufferPointer(rebasing: encodedHeaders[index..<index + Int(keyLength)]), as: UTF8.self)
            index += Int(keyLength)
            guard let valueLength = Varint.read(encodedHeaders, at: &index) else { break }
            var value: [UInt8]?
            if valueLength >= 0 {
                guard valueLength <= encodedHeaders.count - index else { break }
                value = Array(UnsafeRawBufferPointer(rebasing: encodedHeaders[index..<index + Int(valueLength)]))
                index += Int(valueLength)
            }
            headers.append(RecordHeader(key: key, value: value))
        }
        return headers
    }

    /// A copy that outlives the batch's bytes.
    public func stored() -> StoredRecord {
        StoredRecord(offset: offset, timestamp: timestamp, key: key.map { Array($0) }, value: value.map { Array($0) }, headers: headers())
    }
}

/// Walks the records of a batch whose CRC was verified.
enum BatchDecoder {
    /// Calls `body` for each record; `body` returns false to stop. Throws a
    /// corruption error (naming the record's offset) when the records do not
    /// parse, which after a good CRC means the writer was not us.
    static func forEachRecord(
        in bytes: UnsafeRawBufferPointer, header: BatchHeader, _ body: (RecordView) throws -> Bool
    ) throws {
        let section = UnsafeRawBufferPointer(rebasing: bytes[BatchLayout.headerSize..<header.size])
        switch header.codec {
        case BatchCodec.none:
            try forEachRecord(inSection: section, header: header, body)
        case BatchCodec.gzip:
            let inflated = WriteBuffer(capacity: 256)
            do {
                try Gzip.inflate(section, into: inflated, limit: BatchLayout.maxInflatedRecordsSize)
            } catch {
                throw LogStoreError(.corruption, "compressed batch does not decompress: \(error)", offset: header.baseOffset)
            }
            try forEachRecord(inSection: inflated.bytes, header: header, body)
        default:
            throw LogStoreError(
                .corruption, "batch uses compression codec \(header.codec) (\(BatchCodec.name(header.codec))), which this build cannot read",
                offset: header.baseOffset)
        }
    }

    /// Walks the (uncompressed) records section of a batch.
    private static func forEachRecord(
        inSection records: UnsafeRawBufferPointer, header: BatchHeader, _ body: (RecordView) throws -> Bool
    ) throws {
        var index = 0
        let end = records.count
        func bad(_ what: String, _ delta: Int64) -> LogStoreError {
            LogStoreError(.corruption, "malformed record in batch: \(what)", offset: header.baseOffset + delta)
        }
        var expectedDelta: Int64 = 0
        for _ in 0..<header.recordCount {
            // Lengths are compared with what is left, never added to: a damaged one may be near Int64.max.
            guard let length = Varint.read(records, at: &index), length > 0, length <= end - index else {
                throw bad("record length", expectedDelta)
            }
            let recordEnd = index + Int(length)
            let record = UnsafeRawBufferPointer(rebasing: records[0..<recordEnd])
            index += 1  // attributes
            guard let timestampDelta = Varint.read(record, at: &index), let offsetDelta = Varint.read(record, at: &index),
                offsetDelta >= expectedDelta, offsetDelta <= Int64(header.lastOffsetDelta),
                case (let timestamp, false) = header.baseTimestamp.addingReportingOverflow(timestampDelta)
            else { throw bad("timestamp or offset delta", expectedDelta) }
            expectedDelta = offsetDelta + 1
            guard let keyLength = Varint.read(record, at: &index), keyLength >= -1, keyLength <= recordEnd - index else {
                throw bad("key length", offsetDelta)
            }
            let key = keyLength < 0 ? nil : UnsafeRawBufferPointer(rebasing: record[index..<index + Int(keyLength)])
            index += Int(max(keyLength, 0))
            guard let valueLength = Varint.read(record, at: &index), valueLength >= -1, valueLength <= recordEnd - index else {
                throw bad("value length", offsetDelta)
            }
            let value = valueLength < 0 ? nil : UnsafeRawBufferPointer(rebasing: record[index..<index + Int(valueLength)])
            index += Int(max(valueLength, 0))
            let view = RecordView(
                offset: header.baseOffset + offsetDelta, timestamp: timestamp, key: key, value: value,
                encodedHeaders: UnsafeRawBufferPointer(rebasing: record[index..<recordEnd]))
            index = recordEnd
            if try !body(view) { return }
        }
    }
}
