import Testing

@testable import LogStore

/// Batches encoded elsewhere (a Kafka producer's) go into the log byte for
/// byte, but for the base offset and the partition leader epoch; anything
/// Kafka would refuse is refused with nothing stored.
@Suite struct RecordBatchAppendTests {
    /// A batch as a producer sends it: base offset 0, partition leader epoch -1.
    static func producerBatch(_ records: [Record], gzip: Bool = false) throws -> [UInt8] {
        let now: Int64 = 1_700_000_000_000
        let size = BatchEncoder.encodedSize(records, now: now)
        let plain = WriteBuffer(capacity: size)
        _ = BatchEncoder.encode(records, baseOffset: 0, now: now, size: size, to: plain.pointer)
        plain.count = size
        guard gzip else { return Array(plain.bytes) }
        let output = WriteBuffer(capacity: size)
        let deflater = try GzipDeflater(level: 1)
        let compressed = try #require(BatchCompressor.gzip(plain.bytes, deflater: deflater, into: output.pointer))
        return Array(UnsafeRawBufferPointer(start: output.pointer, count: compressed))
    }

    @Test(arguments: [false, true])
    func batchesAreStoredVerbatimWithTheirOffsets(gzip: Bool) throws {
        let directory = try TemporaryDirectory()
        let log = try Log.open(directory: directory.log(), options: LogOptions(syncPolicy: .never))
        try log.append(Record("own"))
        let values = (0..<50).map { "value \($0) " + String(repeating: "x", count: $0) }
        let batch = try Self.producerBatch(values.map { Record(key: Array("k".utf8), value: Array($0.utf8)) }, gzip: gzip)
        let first = try batch.withUnsafeBytes { try log.appendRecordBatch($0) }
        let second = try batch.withUnsafeBytes { try log.appendRecordBatch($0) }
        #expect(first.offsets == 1..<51)
        #expect(second.offsets == 51..<101)
        let read = try log.read(from: 1, maxRecords: 200)
        #expect(read.map(\.offset) == Array(1..<101))
        #expect(read.map { String(decoding: $0.value ?? [], as: UTF8.self) } == values + values)

        // Read back as whole batches: the producer's bytes but for base offset (0-7) and leader epoch (12-15).
        var batches: [[UInt8]] = []
        let bytes = try log.readRecordBatches(from: 60, maxBytes: 1) { batches.append(Array($0)) }
        #expect(batches.count == 1, "the first batch comes whole even over maxBytes")
        #expect(bytes == batch.count)
        let stored = try #require(batches.first)
        #expect(stored[0..<8] == [0, 0, 0, 0, 0, 0, 0, 51])
        #expect(stored[8..<12] == batch[8..<12])
        #expect(stored[16...] == batch[16...])
        var all = 0
        try log.readRecordBatches(from: 0, maxBytes: 1 << 20) { all += $0.count }
        #expect(all > 2 * batch.count)
        #expect(try log.readRecordBatches(from: 101, maxBytes: 1 << 20) { _ in } == 0)
        try log.close()
        #expect(try Log.verify(directory: directory.log()).isClean)
    }

    @Test func whatKafkaRefusesIsRefusedAndNothingIsStored() throws {
        let directory = try TemporaryDirectory()
        let log = try Log.open(directory: directory.log(), options: LogOptions(syncPolicy: .never))
        let good = try Self.producerBatch([Record("a"), Record("b")])
        func refused(_ bytes: [UInt8]) -> LogStoreError.Code? {
            do {
                _ = try bytes.withUnsafeBytes { try log.appendRecordBatch($0) }
                return nil
            } catch let error as LogStoreError {
                return error.code
            } catch {
                return nil
            }
        }
        func setting(_ bytes: [UInt8], at position: Int, _ value: UInt8) -> [UInt8] {
            var copy = bytes
            copy[position] = value
            return copy
        }
        /// Recomputes the CRC, so that only the field under test is wrong.
        func resealed(_ bytes: [UInt8]) -> [UInt8] {
            var copy = bytes
            copy.withUnsafeMutableBytes { raw in
                let crc = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[BatchLayout.attributes...]))
                raw.baseAddress?.storeBigEndian(crc, at: BatchLayout.crc)
            }
            return copy
        }
        #expect(refused(setting(good, at: good.count - 1, good[good.count - 1] ^ 1)) == .invalidArgument, "CRC")
        #expect(refused(Array(good.dropLast())) == .invalidArgument, "truncated")
        #expect(refused(good + good) == .invalidArgument, "two batches")
        #expect(refused(setting(good, at: BatchLayout.magic, 1)) == .invalidArgument, "magic 1")
        #expect(refused(setting(good, at: BatchLayout.baseOffset + 7, 5)) == .invalidArgument, "base offset 5")
        #expect(refused(resealed(setting(good, at: BatchLayout.lastOffsetDelta + 3, 5))) == .invalidArgument, "last offset delta")
        // A control batch (a transaction marker) is the server's to write; a transactional batch is stored.
        #expect(refused(resealed(setting(good, at: BatchLayout.attributes + 1, 0x30))) == .invalidArgument, "control")
        #expect(refused(resealed(setting(good, at: BatchLayout.attributes + 1, 5))) == .unsupportedCompression, "codec 5")
        #expect(
            refused(resealed(setting(good, at: BatchLayout.attributes + 1, 2))) == .invalidArgument, "snappy, not snappy data")
        #expect(refused([]) == .invalidArgument)
        #expect(log.nextOffset == 0)
        _ = try good.withUnsafeBytes { try log.appendRecordBatch($0) }
        #expect(log.nextOffset == 2)
        try log.close()
        #expect(try Log.verify(directory: directory.log()).isClean)
    }
}
