import CLZ4
import CSnappy
import CZstd
import Foundation
import Testing

@testable import LogStore

/// Batches compressed by Kafka producers with each codec (gzip, snappy in
/// both framings, lz4 frames, zstd frames with and without a content size)
/// go into a log with `appendRecordBatch` and read back record for record;
/// damaged compressed data and decompression bombs are errors, never
/// crashes or huge allocations.
@Suite struct CodecTests {
    /// How a producer may compress a batch's records section.
    enum Framing: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case gzip
        /// librdkafka: one raw snappy block.
        case snappyRaw
        /// Kafka's Java clients: snappy-java's stream of 32 KiB blocks.
        case snappyJava
        /// snappy-java streams one after another (the header recurs between blocks).
        case snappyJavaConcatenated
        /// As Kafka's Java clients write it: 64 KiB independent blocks, no content size, no checksums.
        case lz4
        /// Content size, block and content checksums.
        case lz4Checked
        /// One-shot compression: the frame header states the content size.
        case zstd
        /// Streaming compression (Kafka's Java clients): no content size in the header; a content checksum.
        case zstdStreaming

        var testDescription: String { rawValue }

        var codec: Int {
            switch self {
            case .gzip: return BatchCodec.gzip
            case .snappyRaw, .snappyJava, .snappyJavaConcatenated: return BatchCodec.snappy
            case .lz4, .lz4Checked: return BatchCodec.lz4
            case .zstd, .zstdStreaming: return BatchCodec.zstd
            }
        }

        /// Whether a checksum over the inflated data catches flipped bits
        /// (for the others only the batch CRC does, which the damage tests recompute).
        var isChecksummed: Bool { self == .gzip || self == .lz4Checked || self == .zstdStreaming }

        func compress(_ input: [UInt8]) throws -> [UInt8] {
            switch self {
            case .gzip: return try Self.gzip(input)
            case .snappyRaw: return try Self.snappyBlock(input)
            case .snappyJava: return try Self.snappyJava(input, headerBeforeEveryBlock: false)
            case .snappyJavaConcatenated: return try Self.snappyJava(input, headerBeforeEveryBlock: true)
            case .lz4: return try Self.lz4Frame(input, checked: false)
            case .lz4Checked: return try Self.lz4Frame(input, checked: true)
            case .zstd: return try Self.zstdFrame(input)
            case .zstdStreaming: return try Self.zstdStream(input)
            }
        }

        static func gzip(_ input: [UInt8]) throws -> [UInt8] {
            var output = [UInt8](repeating: 0, count: input.count + input.count / 100 + 64)
            let deflater = try GzipDeflater(level: 1)
            let size = input.withUnsafeBytes { source in
                output.withUnsafeMutableBytes { deflater.compress(source, into: $0) }
            }
            return Array(output[0..<(try #require(size))])
        }

        static func snappyBlock(_ input: [UInt8]) throws -> [UInt8] {
            var output = [UInt8](repeating: 0, count: snappy_max_compressed_length(input.count))
            var size = output.count
            let status = input.withUnsafeBytes { source in
                output.withUnsafeMutableBytes { destination in
                    snappy_compress(
                        source.baseAddress?.assumingMemoryBound(to: CChar.self), source.count,
                        destination.baseAddress?.assumingMemoryBound(to: CChar.self), &size)
                }
            }
            try #require(status == SNAPPY_OK)
            return Array(output[0..<size])
        }

        /// snappy-java's `SnappyOutputStream`: header (magic, version 1, compatible version 1), then length-prefixed blocks.
        static func snappyJava(_ input: [UInt8], headerBeforeEveryBlock: Bool) throws -> [UInt8] {
            let header = Snappy.javaMagic + bigEndian(1) + bigEndian(1)
            var output = header
            for (number, start) in stride(from: 0, to: input.count, by: 32 << 10).enumerated() {
                if headerBeforeEveryBlock && number > 0 { output += header }
                let block = try snappyBlock(Array(input[start..<min(start + (32 << 10), input.count)]))
                output += bigEndian(UInt32(block.count)) + block
            }
            return output
        }

        static func lz4Frame(_ input: [UInt8], checked: Bool) throws -> [UInt8] {
            var preferences = LZ4F_preferences_t()
            preferences.frameInfo.blockSizeID = LZ4F_max64KB
            preferences.frameInfo.blockMode = LZ4F_blockIndependent
            if checked {
                preferences.frameInfo.contentSize = UInt64(input.count)
                preferences.frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled
                preferences.frameInfo.blockChecksumFlag = LZ4F_blockChecksumEnabled
            }
            var output = [UInt8](repeating: 0, count: LZ4F_compressFrameBound(input.count, &preferences))
            let size = input.withUnsafeBytes { source in
                output.withUnsafeMutableBytes { destination in
                    LZ4F_compressFrame(destination.baseAddress, destination.count, source.baseAddress, source.count, &preferences)
                }
            }
            try #require(LZ4F_isError(size) == 0)
            return Array(output[0..<size])
        }

        static func zstdFrame(_ input: [UInt8]) throws -> [UInt8] {
            var output = [UInt8](repeating: 0, count: ZSTD_compressBound(input.count))
            let size = input.withUnsafeBytes { source in
                output.withUnsafeMutableBytes { ZSTD_compress($0.baseAddress, $0.count, source.baseAddress, source.count, 3) }
            }
            try #require(ZSTD_isError(size) == 0)
            return Array(output[0..<size])
        }

        /// Fed in 10 KiB pieces and finished with an empty `ZSTD_e_end`, as a
        /// stream is: the frame header cannot state the content size.
        static func zstdStream(_ input: [UInt8]) throws -> [UInt8] {
            let context = try #require(ZSTD_createCCtx())
            defer { ZSTD_freeCCtx(context) }
            try #require(ZSTD_isError(ZSTD_CCtx_setParameter(context, ZSTD_c_checksumFlag, 1)) == 0)
            var output = [UInt8](repeating: 0, count: ZSTD_compressBound(input.count) + 1024)
            var written = 0
            try input.withUnsafeBytes { source in
                try output.withUnsafeMutableBytes { destination in
                    var outBuffer = ZSTD_outBuffer(dst: destination.baseAddress, size: destination.count, pos: 0)
                    for start in stride(from: 0, to: source.count, by: 10 << 10) {
                        let piece = UnsafeRawBufferPointer(rebasing: source[start..<min(start + (10 << 10), source.count)])
                        var inBuffer = ZSTD_inBuffer(src: piece.baseAddress, size: piece.count, pos: 0)
                        while inBuffer.pos < inBuffer.size {
                            try #require(ZSTD_isError(ZSTD_compressStream2(context, &outBuffer, &inBuffer, ZSTD_e_continue)) == 0)
                        }
                    }
                    var empty = ZSTD_inBuffer(src: nil, size: 0, pos: 0)
                    while true {
                        let left = ZSTD_compressStream2(context, &outBuffer, &empty, ZSTD_e_end)
                        try #require(ZSTD_isError(left) == 0)
                        if left == 0 { break }
                    }
                    written = outBuffer.pos
                }
            }
            let frame = Array(output[0..<written])
            let unknown = UInt64.max  // ZSTD_CONTENTSIZE_UNKNOWN
            try #require(frame.withUnsafeBytes { ZSTD_getFrameContentSize($0.baseAddress, $0.count) } == unknown)
            return frame
        }

        static func bigEndian(_ value: UInt32) -> [UInt8] { withUnsafeBytes(of: value.bigEndian) { Array($0) } }
    }

    static let now: Int64 = 1_700_000_000_000

    /// Records with every shape a producer sends: keys and null keys, values,
    /// empty and null values, headers (one with a null value), explicit timestamps.
    static func records(_ numbers: Range<Int>) -> [Record] {
        numbers.map { number in
            let value = """
                {"op":"u","table":"public.accounts","key":{"id":\(number % 50)},"after":{"id":\(number % 50),\
                "owner":"user-\(number % 50)","balance":\(number * 7 % 10_000),"currency":"EUR"}}
                """
            return Record(
                key: number % 9 == 4 ? nil : Array("{\"id\":\(number % 50)}".utf8),
                value: number % 13 == 6 ? nil : number % 17 == 8 ? [] : Array(value.utf8),
                headers: number % 3 == 0 ? [RecordHeader("op", "u"), RecordHeader(key: "trace", value: nil)] : [],
                timestamp: now + Int64(number))
        }
    }

    /// `plain` (an uncompressed producer batch) with its records section
    /// compressed as `framing` does it, the codec set in the attributes, and
    /// length and CRC computed anew, as the producer would have sent it.
    static func compressed(_ plain: [UInt8], _ framing: Framing) throws -> [UInt8] {
        var batch = Array(plain[0..<BatchLayout.headerSize])
        batch += try framing.compress(Array(plain[BatchLayout.headerSize...]))
        batch[BatchLayout.attributes + 1] = (batch[BatchLayout.attributes + 1] & ~0x07) | UInt8(framing.codec)
        return resealed(batch)
    }

    /// Appends `batch` with `appendRecordBatch`; returns its offsets.
    static func append(_ batch: [UInt8], to log: Log) throws -> Range<Int64> {
        try batch.withUnsafeBytes { try log.appendRecordBatch($0) }.offsets
    }

    @Test(arguments: Framing.allCases)
    func producedBatchesReadBackRecordForRecord(_ framing: Framing) throws {
        let directory = try TemporaryDirectory()
        let log = try Log.open(directory: directory.log(), options: LogOptions(syncPolicy: .never))
        var model = LogModel()
        try model.append([Record("the log's own, uncompressed")], to: log)
        // A small batch, and one of 150 KiB: several snappy-java, lz4 and zstd blocks.
        var plainBytes = 0
        var storedBytes = 0
        for numbers in [0..<12, 12..<1012] {
            let records = Self.records(numbers)
            let plain = encodeBatch(records, baseOffset: 0, now: Self.now)
            let batch = try Self.compressed(plain, framing)
            #expect(batch.count < plain.count, "\(framing) shrinks the records")
            #expect(try Self.append(batch, to: log) == model.nextOffset..<model.nextOffset + Int64(records.count))
            model.records += records
            model.appendTimes += Array(repeating: 0...0, count: records.count)  // unused: every record has its timestamp
            plainBytes += plain.count
            storedBytes += batch.count
        }
        try model.expectLogMatches(log, "\(framing)")
        do {
            let consumer = try Consumer(log: log, group: "readers")
            let polled = try consumer.poll(maxRecords: 5000, maxBytes: Int.max)
            #expect(
                polled.count == model.records.count && polled.allSatisfy(model.matches), "a consumer reads \(framing) batches")
        }

        // `logd stat`: compressed batches counted as such, raw bytes exactly the uncompressed batches'.
        let stats = try log.storageStats()
        #expect(stats.batches == 3 && stats.compressedBatches == 2 && stats.records == 1013, "\(stats)")
        #expect(stats.compressedBatchesByCodec == [BatchCodec.name(framing.codec): 2], "\(stats)")
        let ownBatchBytes = stats.storedBytes - Int64(storedBytes)
        #expect(stats.rawBytes == ownBatchBytes + Int64(plainBytes), "\(stats)")
        try log.close()

        let reader = try Log.openForReading(directory: directory.log())
        try model.expectLogMatches(reader, "\(framing), read-only opener")
        #expect(try Log.verify(directory: directory.log()).isClean)
    }

    /// Every byte of the compressed section flipped and every cut, with the
    /// CRC recomputed so that only the decompressor can notice: decoding
    /// gives an error naming the batch or (where no checksum covers the
    /// inflated data) records, never a crash; a producer's damaged batch is
    /// refused with nothing stored.
    @Test(arguments: Framing.allCases)
    func damagedCompressedDataIsAnErrorNeverACrash(_ framing: Framing) throws {
        let records = Self.records(100..<130)
        let batch = try Self.compressed(encodeBatch(records, baseOffset: 0, now: Self.now), framing)
        let expected = decodedRecords(batch)
        #expect(expected?.map(\.record) == records)
        let header = BatchLayout.headerSize
        for position in header..<batch.count {
            for flip: UInt8 in [0x01, 0x80] {
                var bytes = batch
                bytes[position] ^= flip
                let decoded = decodedRecords(resealed(bytes))
                if framing.isChecksummed {
                    #expect(decoded == nil || decoded == expected, "\(framing): flip at \(position) read back as data")
                }
            }
        }
        for cut in header..<batch.count {
            #expect(decodedRecords(resealed(Array(batch[0..<cut]))) == nil, "\(framing): cut at \(cut)")
        }
        #expect(decodedRecords(resealed(batch + [0, 1, 2])) == nil, "\(framing): bytes after the compressed data")
        var generator = SeededGenerator(seed: 41)
        for length in [1, 7, 16, 100, 4000] {
            let garbage = Array(batch[0..<header]) + generator.bytes(length)
            #expect(decodedRecords(resealed(garbage)) == nil, "\(framing): \(length) random bytes")
        }

        let directory = try TemporaryDirectory()
        let log = try Log.open(directory: directory.log(), options: LogOptions(syncPolicy: .never))
        for damaged in [Array(batch[0..<(header + batch.count) / 2]), Array(batch[0..<header]) + generator.bytes(300)] {
            let error = expectLogStoreError(.invalidArgument) { try Self.append(resealed(damaged), to: log) }
            #expect(error?.message.contains("does not decompress") == true, "\(String(describing: error))")
        }
        #expect(log.nextOffset == 0)
        #expect(try Self.append(batch, to: log) == 0..<30)
        try log.close()
        #expect(try Log.verify(directory: directory.log()).isClean)
    }

    /// A records section that inflates to one byte more than the largest
    /// batch could hold is refused as a bomb, with any codec; one that
    /// inflates to exactly that much is inflated (and then fails to parse as
    /// records: it is zeros). One test, not one per framing: each case takes
    /// a few hundred MiB.
    @Test func decompressionBombsAreRefused() throws {
        let limit = BatchLayout.maxInflatedRecordsSize
        let header = Array(encodeBatch([Record("x")], baseOffset: 0, now: Self.now)[0..<BatchLayout.headerSize])
        let directory = try TemporaryDirectory()
        let log = try Log.open(directory: directory.log(), options: LogOptions(syncPolicy: .never))
        for framing in Framing.allCases {
            for size in [limit, limit + 1] {
                var zeros = [UInt8](repeating: 0, count: size)
                var batch = try Self.compressed(header + zeros, framing)
                zeros = []
                #expect(batch.count < 4 << 20, "\(framing): \(batch.count) bytes")
                let error = batch.withUnsafeBytes { bytes in
                    expectLogStoreError(.corruption, "\(framing)") {
                        try BatchDecoder.forEachRecord(in: bytes, header: try BatchHeader.decodeAndVerify(bytes).get()) { _ in
                            true
                        }
                    }
                }
                let refusedAsBomb = error?.message.contains("more than \(limit) bytes") == true
                #expect(refusedAsBomb == (size > limit), "\(framing), \(size) bytes: \(String(describing: error))")
                if size > limit {
                    let refused = expectLogStoreError(.invalidArgument) { try Self.append(batch, to: log) }
                    #expect(refused?.message.contains("more than") == true, "\(String(describing: refused))")
                }
                batch = []
            }
        }
        #expect(log.nextOffset == 0)
        try log.close()
        #expect(try Log.verify(directory: directory.log()).isClean)
    }

    /// Compaction inflates batches of every codec to pick the records it
    /// keeps, and writes them with the log's own compression.
    @Test(arguments: [Compression.none, .gzip(level: 1)])
    func compactionKeepsTheLatestRecordOfEachKeyAcrossCodecs(_ compression: Compression) throws {
        let directory = try TemporaryDirectory()
        let log = try Log.open(directory: directory.log(), options: CompactionTests.options(compression: compression))
        var model = CompactionTests.KeyedModel()
        var generator = SeededGenerator(seed: 29)
        var codecs = Set<Int>()
        for round in 0..<120 {
            let records = CompactionTests.randomBatch(&generator, keys: 15, timestamp: Self.now + Int64(round))
            let framing = Framing.allCases[round % Framing.allCases.count]
            if round % 9 == 8 {
                try model.append(records, to: log)
                continue
            }
            let offsets = try Self.append(Self.compressed(encodeBatch(records, baseOffset: 0, now: Self.now), framing), to: log)
            model.recordAppended(records, at: offsets)
            codecs.insert(framing.codec)
        }
        #expect(codecs.count == 4)
        let before = try log.storageStats()
        #expect(before.compressedBatches > 100 && before.compressedBatchesByCodec.count == 4, "\(before)")
        let report = try log.compact(now: Self.now + 1000)
        #expect(report.segmentsRewritten > 0 && report.recordsAfter < report.recordsBefore, "\(report)")
        let activeBase = try #require(log.segments().last).baseOffset
        try model.check(log, uniqueBelow: activeBase, tombstonesGone: false, "\(compression)")
        try log.close()
        #expect(try Log.verify(directory: directory.log()).isClean)
        let reader = try Log.openForReading(directory: directory.log())
        try model.check(reader, uniqueBelow: activeBase, tombstonesGone: false, "\(compression), read-only opener")
    }

    /// Codecs 5-7 are unassigned: refused as Kafka refuses them, nothing stored.
    @Test func unassignedCodecsAreRefused() throws {
        let directory = try TemporaryDirectory()
        let log = try Log.open(directory: directory.log(), options: LogOptions(syncPolicy: .never))
        var batch = encodeBatch(Self.records(0..<3), baseOffset: 0, now: Self.now)
        for codec: UInt8 in [5, 6, 7] {
            batch[BatchLayout.attributes + 1] = codec
            expectLogStoreError(.unsupportedCompression) { try Self.append(resealed(batch), to: log) }
        }
        #expect(log.nextOffset == 0)
        try log.close()
        #expect(try Log.verify(directory: directory.log()).isClean)
    }
}
