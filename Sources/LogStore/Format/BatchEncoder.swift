/// Encodes records as one Kafka record batch v2.
enum BatchEncoder {
    /// The encoded size of one record's body (everything after its length varint).
    @inline(__always)
    static func bodySize(_ record: Record, timestampDelta: Int64, offsetDelta: Int64) -> Int {
        var size = 1 + Varint.size(timestampDelta) + Varint.size(offsetDelta)
        if let key = record.key { size += Varint.size(Int64(key.count)) + key.count } else { size += 1 }
        if let value = record.value { size += Varint.size(Int64(value.count)) + value.count } else { size += 1 }
        return size + headersSize(record.headers)
    }

    /// The encoded size of a record's headers: their count, then each key and value.
    static func headersSize(_ headers: [RecordHeader]) -> Int {
        var size = Varint.size(Int64(headers.count))
        for header in headers {
            let keyLength = header.key.utf8.count
            size += Varint.size(Int64(keyLength)) + keyLength
            if let value = header.value { size += Varint.size(Int64(value.count)) + value.count } else { size += 1 }
        }
        return size
    }

    /// Writes a record's headers (count, then each key and value) at `pointer + index`, advancing `index`.
    static func writeHeaders(_ headers: [RecordHeader], to pointer: UnsafeMutableRawPointer, at index: inout Int) {
        Varint.write(Int64(headers.count), to: pointer, at: &index)
        for header in headers {
            var key = header.key
            key.withUTF8 { utf8 in
                Varint.write(Int64(utf8.count), to: pointer, at: &index)
                if let base = utf8.baseAddress { (pointer + index).copyMemory(from: base, byteCount: utf8.count) }
                index += utf8.count
            }
            writeBytes(header.value, to: pointer, at: &index)
        }
    }

    /// Appends one record to the batch being built in `batch` (its header
    /// room already counted): length, attributes, deltas, key and value (nil:
    /// length -1) and the already encoded headers. Grows `batch` as needed.
    @inline(__always)
    static func appendRecord(
        to batch: WriteBuffer, timestampDelta: Int64, offsetDelta: Int64, key: UnsafeRawBufferPointer?,
        value: UnsafeRawBufferPointer?, encodedHeaders: UnsafeRawBufferPointer
    ) {
        let body = recordBodySize(
            timestampDelta: timestampDelta, offsetDelta: offsetDelta, keyCount: key?.count, valueCount: value?.count,
            encodedHeadersCount: encodedHeaders.count)
        let needed = batch.count + Varint.size(Int64(body)) + body
        if needed > batch.capacity { batch.reserve(max(needed, batch.capacity * 2)) }
        let pointer = batch.pointer
        var index = batch.count
        Varint.write(Int64(body), to: pointer, at: &index)
        pointer.storeBytes(of: 0, toByteOffset: index, as: UInt8.self)
        index += 1
        Varint.write(timestampDelta, to: pointer, at: &index)
        Varint.write(offsetDelta, to: pointer, at: &index)
        @inline(__always)
        func copy(_ bytes: UnsafeRawBufferPointer?) {
            guard let bytes, let base = bytes.baseAddress else { return }
            (pointer + index).copyMemory(from: base, byteCount: bytes.count)
            index += bytes.count
        }
        Varint.write(key.map { Int64($0.count) } ?? -1, to: pointer, at: &index)
        copy(key)
        Varint.write(value.map { Int64($0.count) } ?? -1, to: pointer, at: &index)
        copy(value)
        copy(encodedHeaders)
        batch.count = index
    }

    /// The size of a record's body (everything after its length varint);
    /// nil counts stand for a null key or value.
    @inline(__always)
    static func recordBodySize(
        timestampDelta: Int64, offsetDelta: Int64, keyCount: Int?, valueCount: Int?, encodedHeadersCount: Int
    ) -> Int {
        let keyLength = keyCount.map { Int64($0) } ?? -1
        let valueLength = valueCount.map { Int64($0) } ?? -1
        return 1 + Varint.size(timestampDelta) + Varint.size(offsetDelta) + Varint.size(keyLength) + (keyCount ?? 0)
            + Varint.size(valueLength) + (valueCount ?? 0) + encodedHeadersCount
    }

    /// Throws `.invalidArgument` when two timestamps of the batch are too far
    /// apart for the batch's 64-bit timestamp deltas.
    static func checkTimestamps<C: Collection<Record>>(_ records: C, now: Int64) throws {
        guard let first = records.first else { return }
        let base = first.timestamp ?? now
        for record in records {
            let timestamp = record.timestamp ?? now
            if timestamp.subtractingReportingOverflow(base).overflow {
                throw LogStoreError(
                    .invalidArgument, "record timestamps \(base) and \(timestamp) are too far apart for one batch")
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
            Varint.write(
                Int64(bodySize(record, timestampDelta: timestampDelta, offsetDelta: offsetDelta)), to: pointer, at: &index)
            pointer.storeBytes(of: 0, toByteOffset: index, as: UInt8.self)
            index += 1
            Varint.write(timestampDelta, to: pointer, at: &index)
            Varint.write(offsetDelta, to: pointer, at: &index)
            writeBytes(record.key, to: pointer, at: &index)
            writeBytes(record.value, to: pointer, at: &index)
            writeHeaders(record.headers, to: pointer, at: &index)
            offsetDelta += 1
        }
        precondition(index == size, "batch size computed \(size), written \(index)")
        writeHeader(
            to: pointer, baseOffset: baseOffset, size: size, lastOffsetDelta: Int32(offsetDelta - 1),
            baseTimestamp: baseTimestamp,
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
    static func writeBytes(_ bytes: [UInt8]?, to pointer: UnsafeMutableRawPointer, at index: inout Int) {
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
