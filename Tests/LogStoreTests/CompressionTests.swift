import Foundation
import SystemPackage
import Testing

@testable import LogStore

/// gzip batches (Kafka codec 1): written when the log's compression is gzip,
/// read transparently, mixed freely with uncompressed batches, and damaged
/// compressed data is an error naming the offset, never a crash or a huge
/// allocation.
@Suite struct CompressionTests {
    /// A change record like those `logd ingest postgres` writes.
    static func cdcRecord(_ number: Int) -> Record {
        let json = """
            {"op":"u","lsn":"0/\(String(number * 40, radix: 16))","table":"public.accounts","key":{"id":\(number % 500)},\
            "after":{"id":\(number % 500),"owner":"user-\(number % 500)","balance":\(number * 7 % 10_000),"currency":"EUR",\
            "updated_at":"2024-05-0\(number % 9 + 1)T10:\(number % 60):00Z"}}
            """
        return Record(key: Array("{\"id\":\(number % 500)}".utf8), value: Array(json.utf8), headers: [RecordHeader("op", "u")])
    }

    /// `records` as one gzip batch at `baseOffset`.
    static func gzipBatch(_ records: [Record], baseOffset: Int64, level: Int = 1) throws -> [UInt8] {
        let plain = encodeBatch(records, baseOffset: baseOffset, now: 1_700_000_000_000)
        var output = [UInt8](repeating: 0, count: plain.count)
        let deflater = try GzipDeflater(level: level)
        let size = try #require(
            plain.withUnsafeBytes { bytes in
                output.withUnsafeMutableBytes { BatchCompressor.gzip(bytes, deflater: deflater, into: $0.baseAddress!) }
            })
        return Array(output[0..<size])
    }

    @Test func gzipBatchesReadBackAsWritten() throws {
        let directory = try TemporaryDirectory()
        var options = LogOptions(maxSegmentBytes: 16 << 10, syncPolicy: .never)
        options.compression = .gzip(level: 1)
        let log = try Log.open(directory: directory.log(), options: options)
        var model = LogModel()
        for start in stride(from: 0, to: 2000, by: 50) {
            try model.append((start..<start + 50).map(Self.cdcRecord), to: log)
        }
        try model.append([Self.cdcRecord(9999)], to: log)
        try model.expectLogMatches(log)
        let stats = try log.storageStats()
        #expect(stats.compressedBatches == stats.batches, "every batch shrinks: \(stats)")
        #expect(stats.records == 2001)
        #expect(Double(stats.rawBytes) / Double(stats.storedBytes) >= 3, "CDC JSON compresses at least 3x: \(stats)")
        try log.close()
        // A reader in another process (no lock, its own scan) decompresses too.
        let reader = try Log.openForReading(directory: directory.log())
        try model.expectLogMatches(reader)
        #expect(try Log.verify(directory: directory.log()).isClean)
    }

    @Test func compressedAndUncompressedBatchesMixInOneLog() throws {
        let directory = try TemporaryDirectory()
        var model = LogModel()
        var generator = SeededGenerator(seed: 77)
        let codecs: [Compression] = [.none, .gzip(level: 1), .none, .gzip(level: 9), .gzip(level: 6), .none]
        for (round, compression) in codecs.enumerated() {
            var options = LogOptions(maxSegmentBytes: 8 << 10, syncPolicy: .never)
            options.compression = compression
            let log = try Log.open(directory: directory.log(), options: options)
            for number in 0..<30 {
                let count = Int.random(in: 1...12, using: &generator)
                let batch =
                    number % 4 == 0
                    ? (0..<count).map { _ in randomRecord(using: &generator) }  // random bytes: stored uncompressed
                    : (0..<count).map { Self.cdcRecord(round * 1000 + number * 12 + $0) }
                try model.append(batch, to: log)
            }
            try model.expectLogMatches(log, "round \(round) (\(compression))")
            try log.close()
        }
        let log = try Log.open(directory: directory.log(), options: LogOptions(syncPolicy: .never))
        defer { try? log.close() }
        try model.expectLogMatches(log, "all rounds")
        let stats = try log.storageStats()
        #expect(stats.compressedBatches > 0 && stats.compressedBatches < stats.batches, "\(stats)")
        #expect(try log.segments().count > 3)
        // Reads that start inside compressed batches, in every segment.
        for offset in stride(from: Int64(0), to: model.nextOffset, by: 7) {
            let records = try log.read(from: offset, maxRecords: 5, maxBytes: 1)
            #expect(records.first?.offset == offset && records.allSatisfy(model.matches))
        }
    }

    @Test func incompressibleBatchesStayUncompressed() throws {
        let directory = try TemporaryDirectory()
        var options = LogOptions(syncPolicy: .never)
        options.compression = .gzip(level: 1)
        let log = try Log.open(directory: directory.log(), options: options)
        defer { try? log.close() }
        var generator = SeededGenerator(seed: 3)
        var model = LogModel()
        try model.append((0..<20).map { _ in Record(value: generator.bytes(500)) }, to: log)
        try model.expectLogMatches(log)
        let stats = try log.storageStats()
        #expect(stats.compressedBatches == 0, "\(stats)")
    }

    /// Every byte of a gzip batch's records section flipped (CRC recomputed,
    /// so only gzip can notice), and every cut: each read gives the original
    /// records or a corruption error naming the batch's offset.
    @Test func damagedGzipDataIsAnErrorNamingTheOffset() throws {
        let records = (0..<20).map(Self.cdcRecord)
        let batch = try Self.gzipBatch(records, baseOffset: 500)
        let header = BatchLayout.headerSize
        var damaged = 0
        for position in header..<batch.count {
            for flip: UInt8 in [0x01, 0x80] {
                var bytes = batch
                bytes[position] ^= flip
                if decode(resealed(bytes), expecting: records) { damaged += 1 }
            }
        }
        #expect(
            damaged > (batch.count - header) * 3 / 2, "nearly every flip is caught (gzip header time/OS bytes are not checked)")
        for cut in (header + 1)..<batch.count {
            #expect(decode(resealed(Array(batch[0..<cut])), expecting: records), "cut at \(cut) must be an error")
        }
        #expect(decode(resealed(batch + [0, 1, 2]), expecting: records), "bytes after the gzip member are damage")
    }

    /// A small batch that inflates past the largest possible batch is
    /// refused without allocating that much.
    @Test func decompressionIsBounded() throws {
        let records = [Record(value: [UInt8](repeating: 0, count: 70 << 20))]
        let size = BatchEncoder.encodedSize(records, now: 0)
        let plain = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 16)
        defer { plain.deallocate() }
        BatchEncoder.encode(records, baseOffset: 0, now: 0, size: size, to: plain)
        var output = [UInt8](repeating: 0, count: size)
        let deflater = try GzipDeflater(level: 9)
        let compressedSize = try #require(
            output.withUnsafeMutableBytes {
                BatchCompressor.gzip(UnsafeRawBufferPointer(start: plain, count: size), deflater: deflater, into: $0.baseAddress!)
            })
        let bomb = Array(output[0..<compressedSize])
        #expect(bomb.count < 1 << 20)
        #expect(decode(bomb, expecting: records))

        // The same through a log: recovery accepts the batch (its CRC is good), reading refuses it.
        let directory = try TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: directory.log().string, withIntermediateDirectories: true)
        try writeBytes(bomb, to: directory.log().appending("00000000000000000000.store"))
        let log = try Log.open(directory: directory.log(), options: LogOptions(syncPolicy: .never))
        defer { try? log.close() }
        let error = expectLogStoreError(.corruption) { try log.read(at: 0) }
        #expect(error?.offset == 0)
        #expect(error?.message.contains("more than") == true, "\(String(describing: error))")
    }

    @Test func damagedGzipBatchInALogNamesItsOffset() throws {
        let directory = try TemporaryDirectory()
        var options = LogOptions(syncPolicy: .never)
        options.compression = .gzip(level: 1)
        let log = try Log.open(directory: directory.log(), options: options)
        try log.append((0..<10).map(Self.cdcRecord))
        try log.append((10..<30).map(Self.cdcRecord))
        try log.close()
        let storePath = directory.log().appending("00000000000000000000.store")
        var store = try readBytes(storePath)
        let second = try #require(batchLayout(of: store).last)
        #expect(second.header.codec == BatchCodec.gzip && second.header.baseOffset == 10)
        // Damage the deflate data in the middle of the second batch and reseal its CRC.
        let middle = second.position + (BatchLayout.headerSize + second.header.size) / 2
        store[middle] ^= 0x55
        let resealedBatch = resealed(Array(store[second.position..<second.position + second.header.size]))
        store.replaceSubrange(second.position..<second.position + second.header.size, with: resealedBatch)
        try writeBytes(store, to: storePath)

        let reopened = try Log.open(directory: directory.log(), options: LogOptions(syncPolicy: .never))
        defer { try? reopened.close() }
        #expect(try reopened.read(at: 9).value == Self.cdcRecord(9).value)
        let error = expectLogStoreError(.corruption) { try reopened.read(at: 15) }
        #expect(error?.offset == 10, "the error names the damaged batch: \(String(describing: error))")
        #expect(error?.description.contains("decompress") == true)
    }

    /// Decodes `batch`: true when that is a corruption error naming its base
    /// offset; records that do decode must be exactly `expected`.
    func decode(_ batch: [UInt8], expecting expected: [Record]) -> Bool {
        guard let decoded = decodedRecords(batch) else { return true }
        #expect(
            decoded.map(\.value) == expected.map(\.value) && decoded.map(\.key) == expected.map(\.key),
            "damage read back as data")
        return false
    }
}
