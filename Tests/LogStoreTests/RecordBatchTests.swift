import Testing

@testable import LogStore

/// Decodes a whole batch the way readers do: header and CRC, then records.
private func decodeBatch(_ bytes: [UInt8]) throws -> (header: BatchHeader, records: [StoredRecord]) {
    try bytes.withUnsafeBytes { buffer in
        let header = try BatchHeader.decodeAndVerify(buffer).get()
        var records: [StoredRecord] = []
        try BatchDecoder.forEachRecord(in: buffer, header: header) { record in
            records.append(record.stored())
            return true
        }
        return (header, records)
    }
}

private func bigEndian<T: FixedWidthInteger>(_ bytes: [UInt8], at offset: Int, as type: T.Type) -> T {
    bytes[offset..<offset + MemoryLayout<T>.size].reduce(T.zero) { ($0 << 8) | T(truncatingIfNeeded: $1) }
}

/// Recomputes the CRC of a batch image, so that mutations get past the
/// checksum and reach the record parser.
private func fixCRC(_ bytes: inout [UInt8]) {
    guard bytes.count >= BatchLayout.headerSize else { return }
    let crc = referenceCRC32C(bytes[BatchLayout.attributes...])
    for i in 0..<4 { bytes[BatchLayout.crc + i] = UInt8(truncatingIfNeeded: crc >> (24 - 8 * UInt32(i))) }
}

/// Runs the whole read path over `bytes`: it may fail, it must not crash,
/// and whatever it yields must lie inside the buffer.
private func decodeWithoutCrashing(_ bytes: [UInt8]) {
    bytes.withUnsafeBytes { buffer in
        guard case .success(let header) = BatchHeader.decodeAndVerify(buffer) else { return }
        _ = header.nextOffset
        _ = try? BatchDecoder.forEachRecord(in: buffer, header: header) { record in
            _ = record.headers()
            _ = record.stored()
            return true
        }
    }
}

@Suite struct RecordBatchTests {
    static let tableCases: [(String, [Record])] = [
        ("one plain record", [Record("hello", key: "k")]),
        ("nil key and value (tombstone)", [Record(key: nil, value: nil)]),
        ("empty key and value", [Record(key: [], value: [])]),
        (
            "headers with nil and empty values",
            [
                Record(
                    key: nil, value: [1, 2, 3],
                    headers: [RecordHeader(key: "a", value: nil), RecordHeader(key: "", value: []), RecordHeader("ü", "ß")])
            ]
        ),
        (
            "timestamps going backwards",
            [
                Record(key: nil, value: [1], timestamp: 5_000), Record(key: nil, value: [2], timestamp: 1_000),
                Record(key: nil, value: [3], timestamp: 9_000),
            ]
        ),
        (
            "negative and zero timestamps",
            [Record(key: nil, value: [1], timestamp: 0), Record(key: nil, value: [2], timestamp: -1)]
        ),
        ("a value of 70 000 bytes", [Record(key: [9], value: [UInt8](repeating: 7, count: 70_000))]),
        ("many small records", (0..<500).map { Record("v\($0)") }),
    ]

    @Test(arguments: tableCases)
    func roundTripsTableCases(name: String, records: [Record]) throws {
        let now: Int64 = 1_700_000_000_000
        let bytes = encodeBatch(records, baseOffset: 42, now: now)
        #expect(bytes.count == BatchEncoder.encodedSize(records, now: now))
        let (header, decoded) = try decodeBatch(bytes)
        #expect(header.baseOffset == 42)
        #expect(header.size == bytes.count)
        #expect(header.recordCount == Int32(records.count))
        #expect(header.nextOffset == 42 + Int64(records.count))
        #expect(header.maxTimestamp == records.map { $0.timestamp ?? now }.max())
        #expect(decoded.count == records.count)
        for (number, (stored, record)) in zip(decoded, records).enumerated() {
            #expect(matches(stored, record, offset: 42 + Int64(number), appendTime: now...now), "\(name): record \(number)")
        }
    }

    @Test(arguments: testSeeds([11, 12, 13, 14]))
    func roundTripsRandomBatches(seed: UInt64) throws {
        var generator = SeededGenerator(seed: seed)
        for round in 0..<100 {
            let records = (0..<Int.random(in: 1...20, using: &generator)).map { _ in randomRecord(using: &generator) }
            let baseOffset = Int64.random(in: 0...(1 << 40), using: &generator)
            let now = Int64.random(in: 0...4_000_000_000_000, using: &generator)
            let (header, decoded) = try decodeBatch(encodeBatch(records, baseOffset: baseOffset, now: now))
            #expect(header.baseOffset == baseOffset)
            #expect(decoded.count == records.count)
            for (number, (stored, record)) in zip(decoded, records).enumerated() {
                #expect(
                    matches(stored, record, offset: baseOffset + Int64(number), appendTime: now...now),
                    "seed \(seed), round \(round), record \(number)")
            }
        }
    }

    /// The v2 layout byte by byte, for one record with key "k", value "v", as
    /// a Kafka client would parse it.
    @Test func goldenBytesOfTheV2Layout() throws {
        let bytes = encodeBatch(
            [
                Record(key: Array("k".utf8), value: Array("v".utf8), timestamp: 0x0102_0304_0506),
                Record(key: nil, value: nil, headers: [RecordHeader("h", "x")], timestamp: 0x0102_0304_0508),
            ],
            baseOffset: 0x0A0B, now: 0)
        let expected: [UInt8] =
            [0, 0, 0, 0, 0, 0, 0x0A, 0x0B]  // baseOffset
            + [0, 0, 0, 69]  // batchLength: 81 - 12
            + [0xFF, 0xFF, 0xFF, 0xFF]  // partitionLeaderEpoch -1
            + [2]  // magic
            + [0, 0, 0, 0]  // CRC, checked below
            + [0, 0]  // attributes
            + [0, 0, 0, 1]  // lastOffsetDelta
            + [0, 0, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06]  // baseTimestamp
            + [0, 0, 0x01, 0x02, 0x03, 0x04, 0x05, 0x08]  // maxTimestamp
            + [UInt8](repeating: 0xFF, count: 8)  // producerId -1
            + [0xFF, 0xFF]  // producerEpoch -1
            + [0xFF, 0xFF, 0xFF, 0xFF]  // baseSequence -1
            + [0, 0, 0, 2]  // recordCount
            // record 0: length 8, attributes, timestampDelta 0, offsetDelta 0, key "k", value "v", 0 headers
            + [0x10, 0x00, 0x00, 0x00, 0x02, UInt8(ascii: "k"), 0x02, UInt8(ascii: "v"), 0x00]
            // record 1: length 10, timestampDelta 2, offsetDelta 1, null key, null value, 1 header h=x
            + [0x14, 0x00, 0x04, 0x02, 0x01, 0x01, 0x02, 0x02, UInt8(ascii: "h"), 0x02, UInt8(ascii: "x")]
        try #require(bytes.count == expected.count)
        #expect(Array(bytes[0..<17]) == Array(expected[0..<17]))
        #expect(Array(bytes[21...]) == Array(expected[21...]))
        #expect(bytes[16] == 2)
        #expect(bigEndian(bytes, at: 8, as: Int32.self) == Int32(bytes.count - 12))
        #expect(bigEndian(bytes, at: 17, as: UInt32.self) == referenceCRC32C(bytes[21...]))
        #expect(bigEndian(bytes, at: 43, as: Int64.self) == -1)
        #expect(bigEndian(bytes, at: 57, as: Int32.self) == 2)
    }

    @Test func everyByteChangeCoveredByTheCRCIsDetected() throws {
        let records = [Record("value", key: "key", headers: [RecordHeader("h", "v")]), Record(key: nil, value: nil)]
        let bytes = encodeBatch(records, baseOffset: 7, now: 1000)
        for position in BatchLayout.attributes..<bytes.count {
            for flip: UInt8 in [0x01, 0x80, 0xFF] {
                var damaged = bytes
                damaged[position] ^= flip
                let result = damaged.withUnsafeBytes { BatchHeader.decodeAndVerify($0) }
                guard case .failure(let problem) = result else {
                    Issue.record("byte \(position) ^ \(flip) was not detected")
                    continue
                }
                if position >= BatchLayout.headerSize, case .crcMismatch = problem {
                } else if position >= BatchLayout.headerSize {
                    Issue.record("byte \(position): expected a CRC mismatch, got \(problem)")
                }
            }
        }
    }

    @Test func headerProblemsAreNamed() {
        let bytes = encodeBatch([Record("x")], baseOffset: 0, now: 0)
        func problem(_ mutate: (inout [UInt8]) -> Void) -> BatchHeader.Problem? {
            var copy = bytes
            mutate(&copy)
            if case .failure(let problem) = copy.withUnsafeBytes({ BatchHeader.decodeAndVerify($0) }) { return problem }
            return nil
        }
        #expect(problem { $0.removeLast() } == .truncated)
        #expect(problem { $0 = Array($0[0..<60]) } == .truncated)
        #expect(problem { $0[16] = 1 } == .invalid("magic 1"))
        #expect(problem { $0[0] = 0x80 } == .invalid("base offset \(Int64(bitPattern: 0x8000_0000_0000_0000))"))
        #expect(problem { $0[8] = 0x7F } == .invalid("batch length \(0x7F00_0000 + Int32(bytes.count - 12))"))
        #expect(problem { $0[11] = 10 } == .invalid("batch length 10"))
        if case .crcMismatch = problem({ $0[bytes.count - 1] ^= 1 }) {} else { Issue.record("expected a CRC mismatch") }
    }

    @Test(arguments: testSeeds([21, 22]))
    func randomBytesNeverCrashTheDecoder(seed: UInt64) {
        var generator = SeededGenerator(seed: seed)
        for _ in 0..<3000 {
            var bytes = generator.bytes(Int.random(in: 0...200, using: &generator))
            if bytes.count > BatchLayout.headerSize, Bool.random(using: &generator) {
                // Plausible header fields, so the parser gets further.
                bytes[8..<12] = [0, 0, 0, UInt8(bytes.count - 12)]
                bytes[16] = 2
                bytes[21] = 0
                bytes[22] = 0
                fixCRC(&bytes)
            }
            decodeWithoutCrashing(bytes)
        }
    }

    /// Valid batches with random bytes changed, with and without a repaired
    /// CRC: the decoder may fail, never crash; and an unrepaired change past
    /// the uncovered prefix is always caught by the CRC.
    @Test(arguments: testSeeds([31, 32, 33]))
    func mutatedBatchesNeverCrashTheDecoder(seed: UInt64) {
        var generator = SeededGenerator(seed: seed)
        for round in 0..<2000 {
            let records = (0..<Int.random(in: 1...5, using: &generator)).map { _ in
                randomRecord(using: &generator, maxValueBytes: 40)
            }
            let original = encodeBatch(records, baseOffset: Int64.random(in: 0...1000, using: &generator), now: 1_000_000)
            var bytes = original
            var touchedCoveredBytes = false
            for _ in 0..<Int.random(in: 1...4, using: &generator) {
                let position = Int.random(in: 0..<bytes.count, using: &generator)
                let new = UInt8.random(in: 0...255, using: &generator)
                if position >= BatchLayout.attributes && new != bytes[position] { touchedCoveredBytes = true }
                bytes[position] = new
            }
            if touchedCoveredBytes && bytes[8..<12] == original[8..<12] {
                let result = bytes.withUnsafeBytes { BatchHeader.decodeAndVerify($0) }
                if case .success = result { Issue.record("seed \(seed), round \(round): changed bytes passed the CRC") }
            }
            decodeWithoutCrashing(bytes)
            fixCRC(&bytes)
            decodeWithoutCrashing(bytes)
        }
    }

    /// Hand-made records that pass the CRC but hold lengths, counts and
    /// deltas at the edges of Int64: the parser must reject them, not trap.
    @Test(
        arguments: [
            ("record length Int64.max", [Int64.max]),
            ("key length Int64.max", [30, 0, 0, Int64.max]),
            ("value length Int64.max", [30, 0, 0, -1, Int64.max]),
            ("value length -2", [30, 0, 0, -1, -2]),
            ("timestamp delta Int64.max", [30, Int64.max, 0, -1, -1, 0]),
            ("timestamp delta Int64.min", [30, Int64.min, 0, -1, -1, 0]),
            ("header count Int64.max", [30, 0, 0, -1, -1, Int64.max]),
            ("header key length Int64.max", [30, 0, 0, -1, -1, 1, Int64.max]),
            ("header value length Int64.max", [30, 0, 0, -1, -1, 1, 0, Int64.max]),
            ("header count -5", [30, 0, 0, -1, -1, -5]),
        ] as [(String, [Int64])])
    func extremeFieldsAreRejectedWithoutTrapping(name: String, fields: [Int64]) {
        var bytes = encodeBatch([Record(key: nil, value: nil)], baseOffset: 0, now: 0)
        bytes.removeSubrange(BatchLayout.headerSize...)
        var varints: [UInt8] = []
        for (number, field) in fields.enumerated() {
            // The second field is the record's attributes byte, not a varint.
            if number == 1 { varints.append(0) }
            var buffer = [UInt8](repeating: 0, count: 10)
            var index = 0
            buffer.withUnsafeMutableBytes { raw in
                if let base = raw.baseAddress { Varint.write(field, to: base, at: &index) }
            }
            varints += buffer[0..<index]
        }
        bytes += varints + [UInt8](repeating: 0, count: 32)
        bytes[BatchLayout.baseTimestamp..<BatchLayout.baseTimestamp + 8] = [0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xF0]
        let length = Int32(bytes.count - BatchLayout.logOverhead)
        for i in 0..<4 { bytes[8 + i] = UInt8(truncatingIfNeeded: length >> (24 - 8 * Int32(i))) }
        fixCRC(&bytes)
        decodeWithoutCrashing(bytes)
        // With a base timestamp of Int64.min instead.
        bytes[BatchLayout.baseTimestamp..<BatchLayout.baseTimestamp + 8] = [0x80, 0, 0, 0, 0, 0, 0, 0]
        fixCRC(&bytes)
        decodeWithoutCrashing(bytes)
    }

    @Test func aBaseOffsetWhoseLastOffsetOverflowsIsInvalid() {
        var bytes = encodeBatch([Record("a"), Record("b")], baseOffset: 0, now: 0)
        bytes[0..<8] = [0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]
        let result = bytes.withUnsafeBytes { BatchHeader.decodeAndVerify($0) }
        guard case .failure(.invalid) = result else {
            Issue.record("expected an invalid base offset, got \(result)")
            return
        }
    }

    @Test func compressedBatchesAreRefusedNotMisread() throws {
        var bytes = encodeBatch([Record("a")], baseOffset: 3, now: 0)
        bytes[BatchLayout.attributes + 1] = 1  // gzip
        fixCRC(&bytes)
        let error = expectLogStoreError(.corruption) { try decodeBatch(bytes) }
        #expect(error?.offset == 3)
    }
}
