import Foundation
import SystemPackage
import Testing

@testable import LogStore

/// `Log.append(_: RecordBatchBuffer)`, `Log.appendBatch` and
/// `Log.appendLines`: records encoded in place from the caller's bytes store
/// exactly what `append(_: [Record])` stores for the same records.
@Suite struct BufferAppendTests {
    /// Adds `record` to `batch` from its arrays' bytes.
    static func add(_ record: Record, to batch: RecordBatchBuffer) throws {
        func withBytes<T>(_ bytes: [UInt8]?, _ body: (UnsafeRawBufferPointer?) throws -> T) rethrows -> T {
            guard let bytes else { return try body(nil) }
            return try bytes.withUnsafeBytes { try body($0) }
        }
        try withBytes(record.key) { key in
            try withBytes(record.value) { value in
                try batch.append(
                    key: key, value: value, headers: EncodedRecordHeaders(record.headers), timestamp: record.timestamp)
            }
        }
    }

    /// Appends `batches` to a new log `name` in `directory`, through the
    /// `[Record]` API or a reused `RecordBatchBuffer`, verifies it and returns its offsets.
    static func appendAll(
        _ batches: [[Record]], to directory: borrowing TemporaryDirectory, name: String, throughBuffer: Bool,
        options: LogOptions = LogOptions(syncPolicy: .never)
    ) throws -> [Range<Int64>] {
        let log = try Log.open(directory: directory.log(name), options: options)
        let batch = RecordBatchBuffer(capacity: 128)
        var offsets: [Range<Int64>] = []
        for records in batches {
            if throughBuffer {
                for record in records { try add(record, to: batch) }
                offsets.append(try log.append(batch))
                #expect(batch.isEmpty && batch.byteCount == BatchLayout.headerSize, "emptied for reuse")
            } else {
                offsets.append(try log.append(records))
            }
        }
        try log.close()
        let report = try Log.verify(directory: directory.log(name))
        #expect(report.isClean, "\(report.problems)")
        return offsets
    }

    /// Records with every kind of key, value and header, fixed timestamps.
    static func mixedRecords(_ count: Int, seed: UInt64, valueBytes: Int = 300) -> [Record] {
        var generator = SeededGenerator(seed: seed)
        return (0..<count).map { index in
            let value: [UInt8]? =
                index % 7 == 3
                ? nil
                : (0..<Int.random(in: 0...valueBytes, using: &generator)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ index) }
            let key: [UInt8]? = index % 5 == 0 ? nil : Array("key-\(index % 13)".utf8)
            let headers: [RecordHeader] =
                index % 4 == 0 ? [] : [RecordHeader("trace", "t-\(index)"), RecordHeader(key: "empty", value: nil)]
            return Record(key: key, value: value, headers: headers, timestamp: 1_700_000_000_000 + Int64(index % 9) * 1000)
        }
    }

    static let optionCases: [LogOptions] = {
        var gzip = LogOptions(syncPolicy: .never)
        gzip.compression = .gzip(level: 1)
        return [
            LogOptions(syncPolicy: .never), LogOptions(syncPolicy: .always),
            // Small segments: rolls between batches; a small write buffer: batches written straight from the buffer.
            LogOptions(maxSegmentBytes: 16 << 10, syncPolicy: .never, writeBufferBytes: 4096), gzip,
        ]
    }()

    @Test(arguments: optionCases)
    func storesTheSameBytesAsTheRecordAPI(options: LogOptions) throws {
        let directory = try TemporaryDirectory()
        let records = Self.mixedRecords(600, seed: 12)
        let batches = stride(from: 0, to: records.count, by: 37).map { Array(records[$0..<min($0 + 37, records.count)]) }
        let viaRecords = try Self.appendAll(batches, to: directory, name: "records", throughBuffer: false, options: options)
        let viaBuffer = try Self.appendAll(batches, to: directory, name: "buffer", throughBuffer: true, options: options)
        #expect(viaBuffer == viaRecords)
        let expected = try DirectoryImage(of: directory.log("records"))
        let actual = try DirectoryImage(of: directory.log("buffer"))
        #expect(actual.storeNames == expected.storeNames)
        for name in expected.storeNames + expected.indexNames {
            #expect(actual.files[name] == expected.files[name], "\(name) differs")
        }
        let log = try Log.openForReading(directory: directory.log("buffer"))
        defer { try? log.close() }
        #expect(try log.read(from: 0, maxRecords: records.count, maxBytes: 64 << 20).map(\.record) == records)
    }

    @Test func keysNullValuesAndHeadersReadBack() throws {
        let directory = try TemporaryDirectory()
        let log = try Log.open(directory: directory.log())
        let headers = [RecordHeader("source", "test"), RecordHeader(key: "none", value: nil), RecordHeader("empty", "")]
        let offsets = try log.appendBatch { batch in
            try Array("k".utf8).withUnsafeBytes { key in
                try Array("v".utf8).withUnsafeBytes { value in
                    try batch.append(key: key, value: value, headers: EncodedRecordHeaders(headers))
                    try batch.append(key: nil, value: value)
                    try batch.append(key: key, value: nil)
                    try batch.append(
                        key: UnsafeRawBufferPointer(start: nil, count: 0), value: UnsafeRawBufferPointer(start: nil, count: 0))
                }
            }
        }
        #expect(offsets == 0..<4)
        let read = try log.read(from: 0, maxRecords: 10)
        #expect(read.map(\.key) == [Array("k".utf8), nil, Array("k".utf8), []])
        #expect(read.map(\.value) == [Array("v".utf8), Array("v".utf8), nil, []])
        #expect(read.map(\.headers) == [headers, [], [], []])
        #expect(Set(read.map(\.timestamp)).count == 1, "records without a timestamp share the batch's time")
        try log.close()
        #expect(try Log.verify(directory: directory.log()).isClean)
    }

    @Test func anEmptyBatchIsRefused() throws {
        let directory = try TemporaryDirectory()
        let log = try Log.open(directory: directory.log())
        #expect(throws: LogStoreError.self) { try log.append(RecordBatchBuffer()) }
        #expect(throws: LogStoreError.self) { try log.appendBatch { _ in } }
        #expect(log.nextOffset == 0)
        try log.close()
        #expect(try Log.verify(directory: directory.log()).isClean)
    }

    @Test func aRecordPastTheBatchLimitIsRefusedAndLeavesTheBatchAsItWas() throws {
        let directory = try TemporaryDirectory()
        let log = try Log.open(directory: directory.log(), options: LogOptions(syncPolicy: .never))
        let half = [UInt8](repeating: 7, count: Log.maxBatchBytes / 2)
        let batch = RecordBatchBuffer()
        try half.withUnsafeBytes { value in
            try batch.append(key: nil, value: value)
            let before = batch.byteCount
            let error = #expect(throws: LogStoreError.self) { try batch.append(key: nil, value: value) }
            #expect(error?.code == .invalidArgument)
            #expect(batch.count == 1 && batch.byteCount == before)
            // What fits still fits: the batch reaches the limit exactly.
            let room = Log.maxBatchBytes - batch.byteCount
            let rest = UnsafeRawBufferPointer(rebasing: value[0..<(room - 1 - 1 - 1 - 1 - 4 - 1 - 4)])
            try batch.append(key: nil, value: rest)
            #expect(batch.byteCount == Log.maxBatchBytes)
        }
        #expect(try log.append(batch) == 0..<2)
        try log.close()
        let report = try Log.verify(directory: directory.log())
        #expect(report.isClean && report.records == 2)
    }

    @Test func timestampsTooFarApartAreRefused() throws {
        let batch = RecordBatchBuffer()
        try batch.append(key: nil, value: nil, timestamp: Int64.min + 5)
        #expect(throws: LogStoreError.self) { try batch.append(key: nil, value: nil, timestamp: Int64.max) }
        #expect(batch.count == 1)
    }

    // MARK: Lines

    /// Where `appendLines` reads from: a pipe (a thread of its own reads) or a regular file (read inline).
    enum LineSource: CaseIterable, Sendable { case pipe, file }

    /// Appends `input` with `appendLines` from `source`.
    static func appendLines(
        _ input: [UInt8], format: LineRecordFormat, to log: Log, from source: LineSource = .pipe
    ) throws -> [Range<Int64>] {
        if source == .file {
            var template = Array("\(NSTemporaryDirectory())/logd-lines-XXXXXX".utf8CString)
            let descriptor = mkstemp(&template)
            #expect(descriptor >= 0)
            unlink(template)
            defer { close(descriptor) }
            let file = FileDescriptor(rawValue: descriptor)
            _ = try file.writeAll(toAbsoluteOffset: 0, input)
            var offsets: [Range<Int64>] = []
            try log.appendLines(from: file, format: format) { offsets.append($0) }
            return offsets
        }
        // Closed on exec: a child process another test starts meanwhile must not keep the write end open.
        let pipe = try FileSystem.makePipe()
        let writeEnd = pipe.write
        let writer = try startThread {
            input.withUnsafeBytes { bytes in
                guard let base = bytes.baseAddress else { return }
                var done = 0
                while done < bytes.count {
                    let count = write(writeEnd, base + done, min(bytes.count - done, 100_000))
                    if count <= 0 { break }
                    done += count
                }
            }
            close(writeEnd)
        }
        defer {
            pthread_join(writer, nil)
            close(pipe.read)
        }
        var offsets: [Range<Int64>] = []
        try log.appendLines(from: FileDescriptor(rawValue: pipe.read), format: format) { offsets.append($0) }
        return offsets
    }

    @Test(arguments: LineSource.allCases)
    func linesBecomeRecordsSplitAtTheFirstSeparator(source: LineSource) throws {
        let directory = try TemporaryDirectory()
        let log = try Log.open(directory: directory.log())
        let input = "a=>1\nb=>2\na=>\n=>keyless\nc=>3=>4\nno separator\n\n=\nlast=>x"
        let format = LineRecordFormat(
            keySeparator: Array("=>".utf8), emptyAsNull: true, headers: [RecordHeader("source", "lines")])
        let offsets = try Self.appendLines(Array(input.utf8), format: format, to: log, from: source)
        #expect(offsets.first?.lowerBound == 0 && offsets.last?.upperBound == 9)
        let read = try log.read(from: 0, maxRecords: 20)
        let text = { (bytes: [UInt8]?) in bytes.map { String(decoding: $0, as: UTF8.self) } }
        #expect(read.map { text($0.key) } == ["a", "b", "a", nil, "c", nil, nil, nil, "last"])
        #expect(read.map { text($0.value) } == ["1", "2", nil, "keyless", "3=>4", "no separator", nil, "=", "x"])
        #expect(read.allSatisfy { $0.headers == [RecordHeader("source", "lines")] })
        try log.close()
        #expect(try Log.verify(directory: directory.log()).isClean)
    }

    @Test(arguments: LineSource.allCases)
    func manyLinesAcrossReadsAreSplitExactly(source: LineSource) throws {
        let directory = try TemporaryDirectory()
        let log = try Log.open(
            directory: directory.log(), options: LogOptions(maxSegmentBytes: 1 << 20, syncPolicy: .never))
        // Lines of every length up to 3 MiB (longer than a read's buffer), some empty.
        var generator = SeededGenerator(seed: 7)
        var lines: [String] = (0..<20_000).map { index in
            String(repeating: Character(UnicodeScalar(UInt8(97 + index % 26))), count: Int.random(in: 0...600, using: &generator))
        }
        lines.insert(String(repeating: "L", count: 3 << 20), at: 5000)
        let input = Array(lines.joined(separator: "\n").utf8) + [10]
        let offsets = try Self.appendLines(input, format: LineRecordFormat(key: Array("k".utf8)), to: log, from: source)
        #expect(offsets.map(\.count).reduce(0, +) == lines.count)
        #expect(zip(offsets, offsets.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound })
        let read = try log.read(from: 0, maxRecords: lines.count + 1, maxBytes: 1 << 30)
        #expect(read.map { String(decoding: $0.value ?? [], as: UTF8.self) } == lines)
        #expect(read.allSatisfy { $0.key == Array("k".utf8) })
        try log.close()
        #expect(try Log.verify(directory: directory.log()).isClean)
    }

    /// Lines without keys take the batch's one-loop path (`RecordBatchBuffer.appendLines`): the
    /// records read back as the per-line path gives them, empty lines null or empty as asked,
    /// headers on each, across reads and batches, a long line among them, a last line without "\n".
    @Test(arguments: LineSource.allCases, [false, true])
    func valueOnlyLinesReadBackAsThePerLinePathGivesThem(source: LineSource, emptyAsNull: Bool) throws {
        let directory = try TemporaryDirectory()
        let log = try Log.open(directory: directory.log(), options: LogOptions(syncPolicy: .never))
        var generator = SeededGenerator(seed: emptyAsNull ? 11 : 12)
        var lines: [[UInt8]] = (0..<30_000).map { _ in
            generator.bytes(Int.random(in: 0...400, using: &generator)).map { $0 == 10 ? 32 : $0 }
        }
        lines.insert([UInt8](repeating: UInt8(ascii: "L"), count: 2 << 20), at: 7000)
        let input = Array(lines.joined(separator: [10]))
        let headers = [RecordHeader("source", "lines"), RecordHeader(key: "empty", value: nil)]
        let format = LineRecordFormat(emptyAsNull: emptyAsNull, headers: headers)
        let offsets = try Self.appendLines(input, format: format, to: log, from: source)
        #expect(offsets.map { $0.count }.reduce(0, +) == lines.count)
        #expect(offsets.count > 2, "several batches")
        let read = try log.read(from: 0, maxRecords: lines.count + 1, maxBytes: 1 << 30)
        #expect(read.count == lines.count)
        // The per-line path, for the same lines, as the reference.
        let reference = RecordBatchBuffer()
        for (index, line) in lines.enumerated() where index < 50 {
            try line.withUnsafeBytes { try format.append(line: $0, to: reference) }
        }
        let referenceLog = try Log.open(directory: directory.path.appending("reference"))
        try referenceLog.append(reference)
        let expected = try referenceLog.read(from: 0, maxRecords: 50)
        #expect(read.prefix(50).map { [$0.key, $0.value] } == expected.map { [$0.key, $0.value] })
        #expect(read.prefix(50).map(\.headers) == expected.map(\.headers))
        for (index, (record, line)) in zip(read, lines).enumerated() {
            let value = emptyAsNull && line.isEmpty ? nil : line
            guard record.value == value, record.key == nil, record.headers == headers, record.offset == Int64(index) else {
                Issue.record("record \(index) differs: \(record.value?.count ?? -1) bytes, line \(line.count)")
                break
            }
        }
        try log.close()
        try referenceLog.close()
        #expect(try Log.verify(directory: directory.log()).isClean)
        #expect(try Log.verify(directory: referenceLog.directory).isClean)
    }

    @Test(arguments: LineSource.allCases)
    func emptyInputAppendsNothing(source: LineSource) throws {
        let directory = try TemporaryDirectory()
        let log = try Log.open(directory: directory.log())
        #expect(try Self.appendLines([], format: LineRecordFormat(), to: log, from: source).isEmpty)
        #expect(log.nextOffset == 0)
        try log.close()
        #expect(try Log.verify(directory: directory.log()).isClean)
    }

    @Test func aReadFailureIsAnIOErrorAfterTheLinesBeforeIt() throws {
        let directory = try TemporaryDirectory()
        let log = try Log.open(directory: directory.log())
        // A directory: poll says readable, read fails with EISDIR.
        let descriptor = try FileDescriptor.open(directory.path, .readOnly)
        defer { try? descriptor.close() }
        let error = #expect(throws: LogStoreError.self) {
            try log.appendLines(from: descriptor, format: LineRecordFormat()) { _ in }
        }
        #expect(error?.code == .io)
        try log.close()
        #expect(try Log.verify(directory: directory.log()).isClean)
    }
}
