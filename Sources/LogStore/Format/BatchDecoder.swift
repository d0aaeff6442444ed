/// Walks the records of a batch whose CRC was verified.
enum BatchDecoder {
    /// Calls `body` for each record; `body` returns false to stop. Throws a
    /// corruption error (naming the record's offset) when the records do not
    /// parse, which after a good CRC means the writer was not us.
    static func forEachRecord(
        in bytes: UnsafeRawBufferPointer, header: BatchHeader, _ body: (RecordView) throws -> Bool
    ) throws {
        let section = UnsafeRawBufferPointer(rebasing: bytes[BatchLayout.headerSize..<header.size])
        guard header.codec != BatchCodec.none else {
            try forEachRecord(inSection: section, header: header, body)
            return
        }
        let inflated = WriteBuffer(capacity: 256)
        try BatchCodec.decompress(section, of: header, into: inflated)
        try forEachRecord(inSection: inflated.bytes, header: header, body)
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
